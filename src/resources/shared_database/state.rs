//! From what the servers say to Terraform state: the attributes derived from the name, a half-made create's state, and the warning destroy gives when it keeps the database.

use super::*;

/// `value` with `claim` set.
pub(super) fn with_claim(value: &Value, claim: &Claim) -> Value {
    let mut value = value.clone();
    if let Value::Object(object) = &mut value {
        object.insert("claim".into(), Value::string(&claim.id));
    }
    value
}

/// The state of a create that failed half-way: what the plan knew, every unknown null.
pub(super) fn incomplete_state(plan: &Value, model: &Model, config: &ProviderConfig) -> Value {
    let Value::Object(mut state) = plan.clone() else { return Value::Null };
    for (k, v) in derived_attributes(&model.database, config) {
        state.insert(k.to_owned(), v);
    }
    for v in state.values_mut() {
        if !v.is_wholly_known() {
            *v = Value::Null;
        }
    }
    Value::Object(state)
}

/// `deletion_policy = "retain"`: nothing changes; the warning names what stays.
pub(super) fn retained(model: &Model, config: &ProviderConfig, d: &mut Diagnostics) {
    let name = &model.database;
    let mut kept = vec![format!("database {:?}", name.name)];
    if name.engine == Engine::Postgresql {
        let r = name.group_roles();
        kept.push(format!("roles {:?}, {:?}, {:?} and {:?}", r.owner, r.readwrite, r.readonly, r.management));
    }
    if config.vault.is_some() {
        kept.push(format!("Vault connection {:?}", name.vault_connection()));
    }
    d.warning(
        "Database retained",
        format!(
            "deletion_policy is \"retain\": {} stay on the server and were only removed from Terraform state. Import it to manage it again, or set deletion_policy to \"archive\" or \"drop\" before destroying.",
            kept.join(", ")
        ),
    );
}

/// Attributes that follow from the name and the provider configuration alone.
pub(super) fn derived_attributes(database: &DatabaseName, config: &ProviderConfig) -> Vec<(&'static str, Value)> {
    let port = |p: u16| Value::Number(Number::Int(i64::from(p)));
    let vault_connection =
        if config.vault.is_some() { Value::string(database.vault_connection()) } else { Value::Null };
    match (database.engine, config.postgres.as_ref(), config.mysql.as_ref()) {
        (Engine::Postgresql, Some(pg), _) => {
            let roles = database.group_roles();
            vec![
                ("host", Value::string(&pg.pooled_host)),
                ("port", port(pg.pooled_port)),
                ("admin_host", Value::string(&pg.host)),
                ("admin_port", port(pg.port)),
                ("read_host", pg.app_read_endpoint().map_or(Value::Null, |(h, _)| Value::string(h))),
                ("read_port", pg.app_read_endpoint().map_or(Value::Null, |(_, p)| port(*p))),
                (
                    "connection_uri",
                    Value::string(database.connection_uri(&pg.pooled_host, pg.pooled_port, &pg.sslmode)),
                ),
                ("owner_role", Value::string(roles.owner)),
                ("readwrite_role", Value::string(roles.readwrite)),
                ("readonly_role", Value::string(roles.readonly)),
                ("vault_connection", vault_connection),
            ]
        }
        (Engine::Mysql, _, Some(my)) => vec![
            ("host", Value::string(&my.host)),
            ("port", port(my.port)),
            ("admin_host", Value::string(&my.host)),
            ("admin_port", port(my.port)),
            ("read_host", my.read.as_ref().map_or(Value::Null, |(h, _)| Value::string(h))),
            ("read_port", my.read.as_ref().map_or(Value::Null, |(_, p)| port(*p))),
            ("connection_uri", Value::string(database.connection_uri(&my.host, my.port, ""))),
            ("owner_role", Value::Null),
            ("readwrite_role", Value::Null),
            ("readonly_role", Value::Null),
            ("vault_connection", vault_connection),
        ],
        _ => Vec::new(),
    }
}
