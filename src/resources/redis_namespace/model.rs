//! A namespace's configuration, plan or state, decoded: the one model every step checks.

use super::*;

/// A namespace's configuration, plan or state, decoded.
#[derive(Clone, Debug)]
pub(super) struct Model {
    pub(super) spec: NamespaceSpec,
    pub(super) purge_keys_on_destroy: bool,
    /// The claim this state holds; `None` before the first apply after import or upgrade.
    pub(super) claim: Option<String>,
    /// The claim the configuration names to take over.
    pub(super) take_over: Option<String>,
}

impl Model {
    /// The model, once name, prefix and rules are known; `None` before (the check runs
    /// again at apply) or when the name is invalid (its validator says why).
    pub(super) fn from_value(v: &Value) -> Option<Model> {
        let name = NamespaceName::new(v.attr("name")?.as_str()?).ok()?;
        let key_prefix = match v.attr("key_prefix") {
            Some(Value::String(p)) => p.clone(),
            Some(Value::Null) | None => name.default_prefix(),
            Some(_) => return None,
        };
        let extra_rules = match v.attr("extra_rules") {
            Some(Value::List(items)) => items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<_>>()?,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => return None,
        };
        let user = match v.attr("acl_user") {
            Some(Value::String(u)) => u.clone(),
            Some(Value::Null) | None => name.user(),
            Some(_) => return None,
        };
        Some(Model {
            spec: NamespaceSpec {
                user,
                key_prefix,
                permissions: v.attr("permissions").and_then(Value::as_str).unwrap_or("readwrite").to_owned(),
                extra_rules,
                name,
            },
            purge_keys_on_destroy: matches!(v.attr("purge_keys_on_destroy"), Some(Value::Bool(true))),
            claim: claim::held(v),
            take_over: claim::take_over(v),
        })
    }

    /// How the namespace is named in messages.
    pub(super) fn what(&self) -> String {
        format!("namespace {:?}", self.spec.name.as_str())
    }

    /// The one check of the model, at validate, plan and apply.
    pub(super) fn check(&self, d: &mut Diagnostics) {
        for problem in self.spec.check() {
            let mut path = AttributePath::root(problem.attribute);
            if let Some(i) = problem.index {
                path = path.index(i);
            }
            let summary = match problem.attribute {
                "extra_rules" => "Rule not allowed",
                "acl_user" => "Invalid ACL user",
                _ => "Invalid key prefix",
            };
            d.attribute_error(path, summary, problem.message);
        }
    }

    pub(super) fn identity(&self) -> Value {
        Value::object([("name", Value::string(self.spec.name.as_str()))])
    }
}
