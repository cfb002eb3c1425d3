//! From what the servers say to Terraform state and plan warnings: derived attributes, rules as Redis reports them, drift in key patterns, and what adopting a hand-made user changes.

use super::*;

/// Whether `state` is of a user made before the provider, imported and not yet applied.
pub(super) fn adoption(state: &Value) -> Adoption {
    match state.attr("acl_commands").and_then(Value::as_str) {
        Some(RULES_BEFORE) => Adoption::Adopting,
        _ => Adoption::Managed,
    }
}

/// What the first apply after adopting a user made before the provider changes, rule by rule.
pub(super) fn adoption_warning(model: &Model, changes: &AdoptionChanges, config: &ProviderConfig) -> String {
    let n = changes.passwords_kept;
    let passwords = match &config.vault {
        Some(v) => format!(
            "It keeps its {n} password(s), so its apps keep logging in; a new one is kept in Vault KV at {} beside them, and a Redis restart brings all of them back.",
            model.spec.name.password_path(&v.kv_mount)
        ),
        None => format!("It keeps its {n} password(s), so its apps keep logging in."),
    };
    format!(
        "ACL user {:?} keeps its name. Its rules change from\n  {}\nto\n  {}\nCommands, keys and channels the first allowed and the second does not are refused from then on: add what its apps need to `extra_rules` first. {passwords}",
        model.spec.user, changes.rules_before, changes.rules_after,
    )
}

/// `password_wo` from the configuration, warned about when Vault makes the password.
pub(super) fn write_only_password(
    config_value: &Value,
    config: &ProviderConfig,
    d: &mut Diagnostics,
) -> Option<Secret> {
    let given = config_value.attr("password_wo").and_then(Value::as_str).map(Secret::new);
    if given.is_some() && config.vault.is_some() {
        d.attribute_warning(
            AttributePath::root("password_wo"),
            "password_wo ignored",
            "With Vault configured, the provider generates the password and keeps it in Vault KV.",
        );
    }
    given
}

/// `state` with `claim` set.
pub(super) fn with_claim(mut state: Value, claim: &Claim) -> Value {
    if let Value::Object(s) = &mut state {
        s.insert("claim".into(), Value::string(&claim.id));
    }
    state
}

pub(super) fn derived_attributes(model: &Model, config: &ProviderConfig) -> Vec<(&'static str, Value)> {
    let name = &model.spec.name;
    let (host, port) = config.redis.as_ref().map_or(("", 6379), |r| r.primary());
    let vault = config.vault.as_ref();
    vec![
        ("id", Value::string(name.id())),
        ("username", Value::string(&model.spec.user)),
        ("host", Value::string(host)),
        ("port", Value::int(i64::from(port))),
        ("password_path", Value::opt_string(vault.map(|v| name.password_path(&v.kv_mount)))),
        ("vault_connection", Value::opt_string(vault.map(|_| name.vault_connection()))),
    ]
}

/// `state` with `acl_commands` as the primary reports them after a change.
pub(super) async fn with_reported_commands(
    mut state: Value,
    namespaces: &Namespaces<'_>,
    model: &Model,
    d: &mut Diagnostics,
) -> Value {
    let commands = match namespaces.reported_commands(&model.spec).await {
        Ok(commands) => Value::opt_string(commands),
        Err(e) => {
            errors::namespace(d, "reading the ACL user back", &model.spec, &e);
            Value::Null
        }
    };
    if let Value::Object(s) = &mut state {
        s.insert("acl_commands".into(), commands);
    }
    state
}

/// Saves ACLs where the server has an ACL file; warns once where it has none.
pub(super) async fn persist(namespaces: &Namespaces<'_>, model: &Model, d: &mut Diagnostics) {
    match namespaces.persist().await {
        Ok(without_file) if !without_file.is_empty() && !WARNED_NO_ACL_FILE.swap(true, Ordering::Relaxed) => d.warning(
            "Redis keeps ACL users in memory only",
            format!(
                "{} has no ACL file, so its users vanish when it restarts. The provider notices on the next refresh and creates them again with the same password.",
                without_file.join(", ")
            ),
        ),
        Ok(_) => {}
        Err(e) => errors::namespace(d, "saving the ACL file", &model.spec, &e),
    }
}
