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

/// `host:port`, with an IPv6 address in brackets (`[::1]:5432`): the form socket addresses,
/// URLs and Vault's connection strings need.
///
/// ```
/// assert_eq!(dbaas::backends::authority("pg-cluster-rw", 5432), "pg-cluster-rw:5432");
/// assert_eq!(dbaas::backends::authority("::1", 5432), "[::1]:5432");
/// ```
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}
