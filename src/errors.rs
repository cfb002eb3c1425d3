//! The one place backend errors become diagnostics: a title, then the why and the fix.
//! Never a connection string or a secret: the backend errors hold neither.

use crate::backends::mysql::MysqlError;
use crate::backends::postgres::PostgresError;
use crate::backends::redis::RedisBackendError;
use crate::backends::vault::VaultError;
use crate::framework::diagnostics::{AttributePath, Diagnostics};

/// Adds a diagnostic for a PostgreSQL failure while doing `action`.
pub fn postgres(d: &mut Diagnostics, action: &str, e: &PostgresError) {
    match e {
        PostgresError::Connect { endpoint, source } => d.error(
            "Cannot connect to PostgreSQL",
            format!("While {action}: could not connect to the primary at {endpoint}: {source}. Check the provider's postgres block (host, port, credentials) and that the server is up."),
        ),
        PostgresError::AlreadyExists(name) => d.attribute_error(
            AttributePath::root("name"),
            "Database already exists",
            format!("A database named {name:?} already exists on the PostgreSQL cluster and is not in this state. To manage it, import it: `terraform import <address> postgresql/{name}` (or an `import` block)."),
        ),
        PostgresError::InUse { database, sessions } => d.error(
            "Database in use",
            format!("While {action}: {sessions} client(s) are connected to {database:?}. Stop them, or set `force_drop = true` to disconnect them first."),
        ),
        other => d.error("PostgreSQL refused the change", format!("While {action}: {other}")),
    }
}

/// Adds a diagnostic for a MySQL failure while doing `action`.
pub fn mysql(d: &mut Diagnostics, action: &str, e: &MysqlError) {
    match e {
        MysqlError::Connect { endpoint, source } => d.error(
            "Cannot connect to MySQL",
            format!("While {action}: could not connect to {endpoint}: {source}. Check the provider's mysql block (host, port, credentials) and that the server is up."),
        ),
        MysqlError::AlreadyExists(name) => d.attribute_error(
            AttributePath::root("name"),
            "Database already exists",
            format!("A database named {name:?} already exists on the MySQL cluster and is not in this state. To manage it, import it: `terraform import <address> mysql/{name}` (or an `import` block)."),
        ),
        MysqlError::InUse { database, sessions } => d.error(
            "Database in use",
            format!("While {action}: {sessions} client(s) are connected to {database:?}. Stop them, or set `force_drop = true` to disconnect them first."),
        ),
        MysqlError::CannotArchive { .. } => d.attribute_error(
            AttributePath::root("deletion_policy"),
            "Cannot archive this database",
            format!("{e}. Use `deletion_policy = \"retain\"`, or drop those objects first."),
        ),
        other => d.error("MySQL refused the change", format!("While {action}: {other}")),
    }
}

/// Adds a diagnostic for a Vault failure while doing `action`.
pub fn vault(d: &mut Diagnostics, action: &str, e: &VaultError) {
    match e {
        VaultError::Unreachable { .. } => d.error(
            "Cannot reach Vault",
            format!("While {action}: {e}. Check the provider's vault block (address) and that Vault is up."),
        ),
        VaultError::PermissionDenied { .. } => d.error("Vault permission denied", format!("While {action}: {e}.")),
        other => d.error("Vault refused the change", format!("While {action}: {other}")),
    }
}

/// Adds a diagnostic for a Redis failure while doing `action`.
pub fn redis(d: &mut Diagnostics, action: &str, e: &RedisBackendError) {
    match e {
        RedisBackendError::Connect { .. } => d.error(
            "Cannot connect to Redis",
            format!("While {action}: {e}. Check the provider's redis block (addresses, credentials) and that the server is up."),
        ),
        RedisBackendError::Command { .. } => d.error("Redis refused the change", format!("While {action}: {e}")),
    }
}
