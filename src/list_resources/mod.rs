//! List resources (`terraform query`, Terraform 1.14+): one file per managed resource type
//! they list.

pub mod redis_namespace;
pub mod rotated_role;
pub mod shared_database;
