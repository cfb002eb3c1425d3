//! Narrow async clients for the platform's services. They know nothing of Terraform:
//! each takes plain values, returns plain values, and fails with its own error enum.

pub mod deadline;
pub mod mysql;
pub mod password;
pub mod pgbouncer;
pub mod postgres;
pub mod redis;
pub mod retry;
mod snapshot;
pub mod vault;
