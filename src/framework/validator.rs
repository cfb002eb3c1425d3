//! Validators: checks on one attribute's value, run at validate and plan time.
//!
//! Every validator of every attribute runs and all errors are reported together, so a
//! user fixes a configuration in one round.

use super::diagnostics::{AttributePath, Diagnostics};
use super::value::Value;

/// A check on a known, non-null attribute value.
pub trait Validator: Send + Sync {
    /// Adds an error at `path` when `value` is not acceptable.
    fn validate(&self, path: &AttributePath, value: &Value, diagnostics: &mut Diagnostics);
}

/// Accepts only these strings.
///
/// ```
/// use dbaas::framework::{diagnostics::{AttributePath, Diagnostics}, validator::{one_of, Validator}, value::Value};
/// let mut diags = Diagnostics::default();
/// one_of(&["readonly", "readwrite"]).validate(&AttributePath::root("privileges"), &Value::string("admin"), &mut diags);
/// assert!(diags.has_error());
/// ```
pub fn one_of(allowed: &'static [&'static str]) -> OneOf {
    OneOf(allowed)
}

/// See [`one_of`].
pub struct OneOf(&'static [&'static str]);

impl Validator for OneOf {
    fn validate(&self, path: &AttributePath, value: &Value, diagnostics: &mut Diagnostics) {
        if let Some(s) = value.as_str()
            && !self.0.contains(&s)
        {
            diagnostics.attribute_error(
                path.clone(),
                format!("Invalid value for {path}"),
                format!("{s:?} is not one of: {}.", self.0.join(", ")),
            );
        }
    }
}

/// A whole number within `min..=max`.
pub fn int_between(min: i64, max: i64) -> IntBetween {
    IntBetween(min, max)
}

/// See [`int_between`].
pub struct IntBetween(i64, i64);

impl Validator for IntBetween {
    fn validate(&self, path: &AttributePath, value: &Value, diagnostics: &mut Diagnostics) {
        if let Value::Number(n) = value
            && !n.as_i64().is_some_and(|i| (self.0..=self.1).contains(&i))
        {
            diagnostics.attribute_error(
                path.clone(),
                format!("Invalid value for {path}"),
                format!("{n} is not a whole number from {} to {}.", self.0, self.1),
            );
        }
    }
}

/// A check written as a function from a string to the reason it is wrong.
pub fn string_check(check: fn(&str) -> Result<(), String>) -> StringCheck {
    StringCheck(check)
}

/// See [`string_check`].
pub struct StringCheck(fn(&str) -> Result<(), String>);

impl Validator for StringCheck {
    fn validate(&self, path: &AttributePath, value: &Value, diagnostics: &mut Diagnostics) {
        if let Some(s) = value.as_str()
            && let Err(reason) = (self.0)(s)
        {
            diagnostics.attribute_error(path.clone(), format!("Invalid value for {path}"), reason);
        }
    }
}
