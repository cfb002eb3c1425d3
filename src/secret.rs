//! A string that must never be shown: passwords and tokens.

use std::fmt;

/// A secret value. `Debug` and `Display` print `***`, so a secret that reaches a log or
/// an error message by mistake shows nothing.
///
/// ```
/// use dbaas::secret::Secret;
/// let token = Secret::new("s.abc");
/// assert_eq!(format!("{token:?}"), "***");
/// assert_eq!(token.expose(), "s.abc");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
