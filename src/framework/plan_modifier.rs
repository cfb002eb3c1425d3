//! Plan modifiers: small values that adjust one attribute's planned value, or ask for
//! replacement, as terraform-plugin-framework's do.

use super::diagnostics::{AttributePath, Diagnostics};
use super::value::Value;

/// What a plan modifier sees of one attribute.
pub struct PlanModifierRequest<'a> {
    /// The attribute's path.
    pub path: &'a AttributePath,
    /// Its value in the configuration.
    pub config: &'a Value,
    /// Its value in prior state (null when creating).
    pub state: &'a Value,
    /// Whether the whole resource is being created.
    pub creating: bool,
}

/// What a plan modifier may change.
pub struct PlanModifierResponse {
    /// The planned value so far; a modifier may replace it.
    pub plan: Value,
    /// Set to ask Terraform to replace the resource.
    pub requires_replace: bool,
    /// Problems found.
    pub diagnostics: Diagnostics,
}

/// Adjusts one attribute's plan.
pub trait PlanModifier: Send + Sync {
    /// Looks at the request and changes the response.
    fn modify(&self, request: &PlanModifierRequest<'_>, response: &mut PlanModifierResponse);
}

/// Keeps the prior state's value instead of "known after apply" for a computed value
/// that never changes once set (ids, generated names).
pub fn use_state_for_unknown() -> UseStateForUnknown {
    UseStateForUnknown
}

/// See [`use_state_for_unknown`].
pub struct UseStateForUnknown;

impl PlanModifier for UseStateForUnknown {
    fn modify(&self, request: &PlanModifierRequest<'_>, response: &mut PlanModifierResponse) {
        if !request.creating && response.plan.is_unknown() && request.config.is_null() && !request.state.is_null() {
            response.plan = request.state.clone();
        }
    }
}

/// Keeps the prior state's value once it is set; while the prior value is null (a new,
/// imported or upgraded resource) plans "known after apply", so the next apply sets it.
pub fn use_state_once_set() -> UseStateOnceSet {
    UseStateOnceSet
}

/// See [`use_state_once_set`].
pub struct UseStateOnceSet;

impl PlanModifier for UseStateOnceSet {
    fn modify(&self, request: &PlanModifierRequest<'_>, response: &mut PlanModifierResponse) {
        if request.config.is_null() {
            response.plan = if request.state.is_null() { Value::unknown() } else { request.state.clone() };
        }
    }
}

/// Asks for replacement when the planned value differs from the prior state's.
pub fn requires_replace() -> RequiresReplace {
    RequiresReplace
}

/// See [`requires_replace`].
pub struct RequiresReplace;

impl PlanModifier for RequiresReplace {
    fn modify(&self, request: &PlanModifierRequest<'_>, response: &mut PlanModifierResponse) {
        if !request.creating && !response.plan.semantically_equal(request.state) {
            response.requires_replace = true;
        }
    }
}

/// Asks for replacement when the value changes and `condition` holds, like the Go
/// framework's `RequiresReplaceIf`.
pub fn requires_replace_if(condition: fn(&PlanModifierRequest<'_>) -> bool) -> RequiresReplaceIf {
    RequiresReplaceIf(condition)
}

/// See [`requires_replace_if`].
pub struct RequiresReplaceIf(fn(&PlanModifierRequest<'_>) -> bool);

impl PlanModifier for RequiresReplaceIf {
    fn modify(&self, request: &PlanModifierRequest<'_>, response: &mut PlanModifierResponse) {
        if !request.creating && !response.plan.semantically_equal(request.state) && (self.0)(request) {
            response.requires_replace = true;
        }
    }
}
