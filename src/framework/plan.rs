//! Planning a managed resource's change, in terraform-plugin-framework's order: defaults,
//! then "known after apply" for computed values that may change, then each attribute's
//! plan modifiers. The resource's own `modify_plan` runs after this.

use std::collections::BTreeMap;

use super::diagnostics::{AttributePath, Diagnostics};
use super::plan_modifier::{PlanModifierRequest, PlanModifierResponse};
use super::schema::Schema;
use super::value::Value;

/// The outcome of planning.
pub struct PlannedChange {
    /// The planned new state.
    pub planned: Value,
    /// Attributes whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
    /// Problems found by plan modifiers.
    pub diagnostics: Diagnostics,
}

/// Plans top-level attributes. `proposed` is Terraform's proposal (config merged with
/// prior state for computed attributes); `prior` is null when creating.
pub fn plan_resource_change(schema: &Schema, prior: &Value, proposed: &Value, config: &Value) -> PlannedChange {
    let mut out =
        PlannedChange { planned: proposed.clone(), requires_replace: Vec::new(), diagnostics: Diagnostics::default() };
    if proposed.is_null() {
        return out;
    }
    let creating = prior.is_null();
    let Value::Object(mut planned) = proposed.clone() else {
        out.diagnostics.error("Provider bug: proposed state is not an object", "Please report this issue.");
        return out;
    };
    let null = Value::Null;
    let config_of = |name: &str| config.attr(name).unwrap_or(&null).clone();
    let state_of = |name: &str| prior.attr(name).unwrap_or(&null).clone();

    for attr in &schema.attributes {
        if let Some(default) = &attr.default
            && config_of(attr.name).is_null()
        {
            planned.insert(attr.name.to_owned(), default.clone());
        }
    }
    // A computed value the user leaves unset may change whenever anything else does.
    let changing = creating || !Value::Object(planned.clone()).semantically_equal(prior);
    if changing {
        for attr in &schema.attributes {
            if attr.computed && attr.default.is_none() && config_of(attr.name).is_null() {
                planned.insert(attr.name.to_owned(), Value::unknown());
            }
        }
    }
    for attr in &schema.attributes {
        let path = AttributePath::root(attr.name);
        let config_value = config_of(attr.name);
        let state_value = state_of(attr.name);
        let mut response = PlanModifierResponse {
            plan: planned.get(attr.name).cloned().unwrap_or(Value::Null),
            requires_replace: false,
            diagnostics: Diagnostics::default(),
        };
        for modifier in &attr.plan_modifiers {
            let request = PlanModifierRequest { path: &path, config: &config_value, state: &state_value, creating };
            modifier.modify(&request, &mut response);
            if response.diagnostics.has_error() {
                break;
            }
        }
        if response.requires_replace {
            out.requires_replace.push(path);
        }
        out.diagnostics.extend(response.diagnostics);
        planned.insert(attr.name.to_owned(), response.plan);
    }
    // Write-only values are never planned or stored.
    for attr in schema.attributes.iter().filter(|a| a.write_only) {
        planned.insert(attr.name.to_owned(), Value::Null);
    }
    out.planned = Value::Object(planned);
    out
}

/// Nulls every write-only attribute, as state and plans must hold them.
pub fn strip_write_only(schema: &Schema, value: &mut Value) {
    if let Value::Object(attrs) = value {
        for attr in schema.attributes.iter().filter(|a| a.write_only) {
            attrs.insert(attr.name.to_owned(), Value::Null);
        }
    }
}

/// The configuration that manages the object `state` describes, for
/// `terraform query -generate-config-out`: the required attributes and the optional ones
/// the object has, except values the schema defaults to. Optional+computed attributes
/// without a default are left out: a null one plans as what the object has, so the
/// import changes nothing,
/// and the user does not start managing what they never chose to (a database's
/// `extensions = []` would drop any extension installed later). Computed-only and
/// write-only attributes are null, as a configuration must have them.
pub fn generated_config(schema: &Schema, state: &Value) -> Value {
    let mut config = empty_object(schema);
    for attr in &schema.attributes {
        let value = state.attr(attr.name).cloned().unwrap_or(Value::Null);
        let settable = attr.required || (attr.optional && (!attr.computed || attr.default.is_some()));
        let defaulted = attr.default.as_ref() == Some(&value);
        if settable && !attr.write_only && !defaulted {
            config.insert(attr.name.to_owned(), value);
        }
    }
    Value::Object(config)
}

/// An object value of `schema` with every attribute null, to fill in.
pub fn empty_object(schema: &Schema) -> BTreeMap<String, Value> {
    schema
        .attributes
        .iter()
        .map(|a| a.name)
        .chain(schema.blocks.iter().map(|b| b.name))
        .map(|n| (n.to_owned(), Value::Null))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_keeps_what_the_user_would_write() {
        let schema = Schema::new(
            "test",
            vec![
                Attribute::string("id").computed(),
                Attribute::string("name").required(),
                Attribute::string("policy").default(Value::string("retain")),
                Attribute::string("mode").default(Value::string("dynamic")),
                Attribute::string("encoding").optional_computed(),
                Attribute::string("template"),
                Attribute::string("secret").write_only(),
            ],
        );
        let state = Value::object([
            ("id", Value::string("x")),
            ("name", Value::string("n")),
            ("policy", Value::string("retain")),
            ("mode", Value::string("static")),
            ("encoding", Value::string("UTF8")),
            ("template", Value::Null),
            ("secret", Value::Null),
        ]);
        let config = generated_config(&schema, &state);
        assert_eq!(config.attr("name"), Some(&Value::string("n")));
        assert_eq!(config.attr("mode"), Some(&Value::string("static")), "a non-default value is kept");
        for null in ["id", "policy", "encoding", "template", "secret"] {
            assert_eq!(config.attr(null), Some(&Value::Null), "{null}");
        }
    }
    use crate::framework::plan_modifier::{requires_replace, use_state_for_unknown};
    use crate::framework::schema::Attribute;

    fn schema() -> Schema {
        Schema::new(
            "test",
            vec![
                Attribute::string("id").computed().plan_modifier(use_state_for_unknown()),
                Attribute::string("name").required().plan_modifier(requires_replace()),
                Attribute::number("limit").default(Value::int(-1)),
                Attribute::string("stamp").computed(),
                Attribute::string("secret").write_only(),
            ],
        )
    }

    fn obj(id: Value, name: &str, limit: Value, stamp: Value) -> Value {
        Value::object([
            ("id", id),
            ("name", Value::string(name)),
            ("limit", limit),
            ("stamp", stamp),
            ("secret", Value::Null),
        ])
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let config = obj(Value::Null, "a", Value::Null, Value::Null);
        let mut config_with_secret = config.clone();
        if let Value::Object(m) = &mut config_with_secret {
            m.insert("secret".into(), Value::string("pw"));
        }
        let p = plan_resource_change(&schema(), &Value::Null, &config_with_secret, &config_with_secret);
        assert_eq!(p.planned, obj(Value::unknown(), "a", Value::int(-1), Value::unknown()));
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn unchanged_resource_plans_no_unknowns() {
        let state = obj(Value::string("x"), "a", Value::int(-1), Value::string("t"));
        let config = obj(Value::Null, "a", Value::Null, Value::Null);
        let p = plan_resource_change(&schema(), &state, &state, &config);
        assert_eq!(p.planned, state);
    }

    #[test]
    fn rename_requires_replace_and_keeps_id() {
        let state = obj(Value::string("x"), "a", Value::int(-1), Value::string("t"));
        let proposed = obj(Value::string("x"), "b", Value::int(-1), Value::string("t"));
        let config = obj(Value::Null, "b", Value::Null, Value::Null);
        let p = plan_resource_change(&schema(), &state, &proposed, &config);
        assert_eq!(p.requires_replace, vec![AttributePath::root("name")]);
        assert_eq!(p.planned.attr("id"), Some(&Value::string("x")));
        assert_eq!(p.planned.attr("stamp"), Some(&Value::unknown()));
    }
}
