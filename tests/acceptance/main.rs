//! Acceptance tests: stories told with `.tf` fixtures, a real Terraform and the real
//! services, one module per Terraform type.

mod actions;
mod adoption;
mod chaos;
mod claims;
mod drift;
mod endpoints;
mod escapes;
mod examples;
mod harness;
mod holding;
mod isolation;
mod provider;
mod query;
mod redis_namespace;
mod renewal;
mod replicas;
mod rotated_role;
mod server_isolation;
mod shared_database;
mod util;
mod vault_login;
