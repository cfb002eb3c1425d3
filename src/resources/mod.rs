//! Managed resources: one file per type.

pub mod redis_namespace;
pub mod shared_database;
