//! Managed resources: one module per type. A type that outgrew one file is a directory whose
//! `mod.rs` reads like its documentation, beside its decoded `model`, its `state` helpers
//! and its `checks`.

pub mod claim;
pub mod redis_namespace;
pub mod rotated_role;
pub mod shared_database;

use crate::framework::value::Value;
use crate::platform::naming::{RoleName, Target};
use crate::platform::settings::ProviderConfig;

/// An endpoint as the `host` and `port` attributes hold it: both null when there is none.
pub(crate) fn endpoint_values(endpoint: Option<(String, u16)>) -> (Value, Value) {
    endpoint.map_or((Value::Null, Value::Null), |(host, port)| (Value::string(host), Value::int(i64::from(port))))
}

/// `host`, `port` and database name apps use to reach what `role` issues credentials for:
/// Redis's port is 6379 and the database null when they are not configured.
pub(crate) fn app_endpoint_values(role: &RoleName, config: &ProviderConfig) -> (Value, Value, Value) {
    let (host, port) = match config.app_endpoint(&role.target) {
        None if matches!(role.target, Target::Namespace(_)) => (Value::string(""), Value::int(6379)),
        found => endpoint_values(found),
    };
    let database = match &role.target {
        Target::Database(d) if !host.is_null() => Value::string(&d.name),
        _ => Value::Null,
    };
    (host, port, database)
}
