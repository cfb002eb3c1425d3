//! Managed resources: one file per type.

pub mod shared_database;
