//! From what the servers say to Terraform state and plan warnings: derived attributes, rules as Redis reports them, drift in key patterns, and what adopting a hand-made user changes.

use super::*;

/// Whether `state` is of a user made before the provider, imported and not yet applied.
pub(super) fn adopting(state: &Value) -> bool {
    state.attr("acl_commands").and_then(Value::as_str) == Some(RULES_BEFORE)
}

/// What the first apply after adopting `before` changes, rule by rule.
pub(super) fn adoption_warning(
    model: &Model,
    before: &crate::backends::redis::AclUser,
    config: &ProviderConfig,
) -> String {
    let rules = |parts: [&str; 3]| parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
    let passwords = match (&config.vault, before.password_hashes.len()) {
        (Some(v), n) => format!(
            "It keeps its {n} password(s), so its apps keep logging in; a new one is kept in Vault KV at {} beside them, and a Redis restart brings all of them back.",
            model.spec.name.password_path(&v.kv_mount)
        ),
        (None, n) => format!("It keeps its {n} password(s), so its apps keep logging in."),
    };
    format!(
        "ACL user {:?} keeps its name. Its rules change from\n  {}\nto\n  {}\nCommands, keys and channels the first allowed and the second does not are refused from then on: add what its apps need to `extra_rules` first. {passwords}",
        model.spec.user,
        rules([&before.commands, &before.keys, &before.channels]),
        model.spec.rules().join(" "),
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
    redis: &Redis,
    model: &Model,
    d: &mut Diagnostics,
) -> Value {
    let commands = match redis.get_user(0, &model.spec.user).await {
        Ok(Some(u)) => Value::string(u.commands),
        Ok(None) => Value::Null,
        Err(e) => {
            errors::redis(d, "reading the ACL user back", &e);
            Value::Null
        }
    };
    if let Value::Object(s) = &mut state {
        s.insert("acl_commands".into(), commands);
    }
    state
}

/// Whether the user's key and channel patterns are exactly the ones the provider sets.
pub(super) fn patterns_match(user: &crate::backends::redis::AclUser, model: &Model) -> bool {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<std::collections::BTreeSet<_>>();
    let rules = model.spec.rules();
    let wanted = |first: &[char]| {
        rules.iter().filter(|r| r.starts_with(first)).cloned().collect::<std::collections::BTreeSet<_>>()
    };
    words(&user.keys) == wanted(&['~', '%']) && words(&user.channels) == wanted(&['&'])
}

/// Saves ACLs where the server has an ACL file; warns once where it has none.
pub(super) async fn persist(redis: &Redis, d: &mut Diagnostics) {
    match redis.save_acls().await {
        Ok(without_file) if !without_file.is_empty() && !WARNED_NO_ACL_FILE.swap(true, Ordering::Relaxed) => d.warning(
            "Redis keeps ACL users in memory only",
            format!(
                "{} has no ACL file, so its users vanish when it restarts. The provider notices on the next refresh and creates them again with the same password.",
                without_file.join(", ")
            ),
        ),
        Ok(_) => {}
        Err(e) => errors::redis(d, "saving the ACL file", &e),
    }
}
