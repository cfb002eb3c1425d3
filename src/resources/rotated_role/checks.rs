//! What a rotated role's configuration may be, checked at validate, plan and apply: its name,
//! and its durations against each other.

use super::*;

/// A `rotation_period` written in the configuration of a dynamic role: Vault has no rotation
/// for one, so it would be ignored. Read from the configuration (the plan fills in the
/// default), at validate, plan and apply.
pub(super) fn check_rotation_period_set(config: &Value, d: &mut Diagnostics) {
    // Vault has no rotation for a dynamic role: a period set there would be ignored.
    let is_static = config.attr("mode").and_then(Value::as_str) == Some("static");
    let mode_known = config.attr("mode").is_none_or(|m| m.is_null() || m.as_str().is_some());
    if mode_known && !is_static && config.attr("rotation_period").is_some_and(|v| !v.is_null()) {
        d.attribute_error(
        AttributePath::root("rotation_period"),
        "rotation_period needs a static role",
        "`rotation_period` applies to `mode = \"static\"` only: a dynamic role's users are dropped when their lease ends (`default_ttl`, `max_ttl`), and Vault never rotates them. Remove it, or set `mode = \"static\"`.",
        );
    }
}

/// [`check_lifetimes`] from a configuration whose database is not known yet (at validate):
/// the durations alone, once each is known.
pub(super) fn check_durations(v: &Value, d: &mut Diagnostics) {
    let text = |n: &str, default: &str| match v.attr(n) {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => Some(default.to_owned()),
        Some(_) => None,
    };
    if let (Some(mode), Some(rotation_period), Some(default_ttl), Some(max_ttl)) =
        (text("mode", "dynamic"), text("rotation_period", "24h"), text("default_ttl", "24h"), text("max_ttl", "24h"))
    {
        check_lifetimes(mode == "static", &rotation_period, &default_ttl, &max_ttl, d);
    }
}

/// The durations against what Vault accepts: a static rotation period of at least
/// [`SHORTEST_ROTATION_PERIOD`], and a dynamic role's `default_ttl` no longer than its
/// `max_ttl` (Vault would quietly cut it). Malformed ones are the validators' to report.
pub(super) fn check_lifetimes(
    static_mode: bool,
    rotation_period: &str,
    default_ttl: &str,
    max_ttl: &str,
    d: &mut Diagnostics,
) {
    let seconds = |t: &str| parse_duration(t).ok();
    if static_mode
        && let Some(period) = seconds(rotation_period)
        && period < SHORTEST_ROTATION_PERIOD
    {
        d.attribute_error(
            AttributePath::root("rotation_period"),
            "Rotation period too short",
            format!("{rotation_period:?} is shorter than Vault allows: a static role's password is rotated at most every {SHORTEST_ROTATION_PERIOD} seconds (`5s`)."),
        );
    }
    if !static_mode
        && let (Some(default), Some(max)) = (seconds(default_ttl), seconds(max_ttl))
        && default > max
    {
        d.attribute_error(
            AttributePath::root("default_ttl"),
            "default_ttl longer than max_ttl",
            format!("`default_ttl` ({default_ttl}) is longer than `max_ttl` ({max_ttl}): Vault would silently cut every credential to `max_ttl`. Shorten `default_ttl` or lengthen `max_ttl`."),
        );
    }
}

/// Vault's shortest static-role rotation period, in seconds.
pub(super) const SHORTEST_ROTATION_PERIOD: u64 = 5;

pub(super) fn check_role_name(name: &str) -> Result<(), String> {
    // The target does not matter for the characters of the name.
    let any = naming::Target::parse("redis/x").expect("a valid id");
    RoleName::new(any, name).map(drop)
}

pub(super) fn check_duration(text: &str) -> Result<(), String> {
    parse_duration(text).map(drop)
}
