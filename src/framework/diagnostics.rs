//! Diagnostics: errors and warnings for the user, each optionally pointing at the
//! attribute at fault so Terraform can underline it in the configuration.

use std::fmt;

/// One step into a value: an attribute, a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// An object attribute.
    Attribute(String),
    /// A map element.
    Key(String),
    /// A list or tuple element.
    Index(i64),
}

/// A path from the root of a configuration, plan or state to one value.
///
/// ```
/// use dbaas::framework::diagnostics::AttributePath;
/// let path = AttributePath::root("postgres").attribute("host");
/// assert_eq!(path.to_string(), "postgres.host");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributePath(pub Vec<PathStep>);

impl AttributePath {
    /// The path of a top-level attribute.
    pub fn root(name: &str) -> AttributePath {
        AttributePath(vec![PathStep::Attribute(name.to_owned())])
    }

    /// This path, one attribute further down.
    pub fn attribute(&self, name: &str) -> AttributePath {
        self.with(PathStep::Attribute(name.to_owned()))
    }

    /// This path, one map key further down.
    pub fn key(&self, key: &str) -> AttributePath {
        self.with(PathStep::Key(key.to_owned()))
    }

    /// This path, one list index further down.
    pub fn index(&self, index: usize) -> AttributePath {
        self.with(PathStep::Index(i64::try_from(index).unwrap_or(i64::MAX)))
    }

    fn with(&self, step: PathStep) -> AttributePath {
        let mut steps = self.0.clone();
        steps.push(step);
        AttributePath(steps)
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attribute(a) if i == 0 => f.write_str(a)?,
                PathStep::Attribute(a) => write!(f, ".{a}")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The operation failed.
    Error,
    /// The operation went through, but the user should know something.
    Warning,
}

/// A message for the user: a one-line summary and a detail that says why and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A short title.
    pub summary: String,
    /// The why and the fix.
    pub detail: String,
    /// The attribute at fault, if any.
    pub attribute: Option<AttributePath>,
}

/// The diagnostics of one request, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds an error that concerns no single attribute.
    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary.into(), detail.into(), None);
    }

    /// Adds a warning that concerns no single attribute.
    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary.into(), detail.into(), None);
    }

    /// Adds an error about the attribute at `path`.
    pub fn attribute_error(&mut self, path: AttributePath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary.into(), detail.into(), Some(path));
    }

    /// Adds a warning about the attribute at `path`.
    pub fn attribute_warning(&mut self, path: AttributePath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary.into(), detail.into(), Some(path));
    }

    /// Appends all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any diagnostic is an error.
    pub fn has_error(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// How many diagnostics there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, severity: Severity, summary: String, detail: String, attribute: Option<AttributePath>) {
        self.0.push(Diagnostic { severity, summary, detail, attribute });
    }
}
