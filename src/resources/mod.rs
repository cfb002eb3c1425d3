//! Managed resources: one module per type. A type that outgrew one file is a directory whose
//! `mod.rs` reads like its documentation, beside its decoded `model`, its `state` helpers
//! and its `checks`.

pub mod claim;
pub mod redis_namespace;
pub mod rotated_role;
pub mod shared_database;

use crate::framework::value::Value;

/// An endpoint as the `host` and `port` attributes hold it: both null when there is none.
pub(crate) fn endpoint_values(endpoint: Option<(String, u16)>) -> (Value, Value) {
    endpoint.map_or((Value::Null, Value::Null), |(host, port)| (Value::string(host), Value::int(i64::from(port))))
}
