//! Managed resources: one file per type.

pub mod claim;
pub mod redis_namespace;
pub mod rotated_role;
pub mod shared_database;
