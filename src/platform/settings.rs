//! The provider configuration as the platform uses it: resolved from the provider block
//! and the environment (by `crate::provider::config`), checked, with no unknowns left.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::platform::naming::{Engine, Target};
use crate::secret::Secret;

/// The provider configuration, resolved and checked.
#[derive(Clone, Debug, Default)]
pub struct ProviderConfig {
    /// The PostgreSQL cluster, if configured.
    pub postgres: Option<PostgresConfig>,
    /// The MySQL cluster, if configured.
    pub mysql: Option<MysqlConfig>,
    /// Redis, if configured.
    pub redis: Option<RedisConfig>,
    /// Vault, if configured.
    pub vault: Option<VaultConfig>,
}

/// Admin credentials: given directly, or to be read from Vault KV when first needed.
#[derive(Clone, Debug)]
pub enum AdminCredentials {
    /// From configuration or the environment.
    Given {
        /// Login name.
        username: String,
        /// Password, if any.
        password: Option<Secret>,
    },
    /// From this KV v2 path under the Vault block's KV mount.
    VaultKv(String),
}

/// `postgres { ... }`, resolved.
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// The primary.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// PgBouncer.
    pub pooled_host: String,
    /// PgBouncer's port.
    pub pooled_port: u16,
    /// The replicas (`-ro`), for reads: host and port; `None` when not configured.
    pub read: Option<(String, u16)>,
    /// A read-only PgBouncer in front of them: host and port; `None` when not configured.
    pub pooled_read: Option<(String, u16)>,
    /// How to log in for DDL.
    pub admin: AdminCredentials,
    /// libpq sslmode.
    pub sslmode: String,
    /// Maintenance database.
    pub database: String,
    /// Pool bound.
    pub max_connections: u32,
    /// PgBouncer's auth user, granted CONNECT on each database.
    pub pooler_auth_user: Option<String>,
    /// A PgBouncer admin login and its password, for its console.
    pub pooler_admin: Option<(String, Option<Secret>)>,
    /// Templates databases may be made from, beside `template0` and `template1`.
    pub templates: Vec<String>,
    /// Extensions databases may install beyond those the server marks `trusted`.
    pub extensions: Vec<String>,
    /// The bound on one operation, connect and retries included.
    pub timeout: Duration,
    /// Session `lock_timeout`.
    pub lock_timeout: Duration,
}

/// The templates every PostgreSQL server has, which any database may be made from.
pub const BUILT_IN_TEMPLATES: &[&str] = &["template0", "template1"];

impl PostgresConfig {
    /// Where apps read from replicas: the read-only PgBouncer when there is one, else the
    /// replicas themselves; `None` when neither is configured.
    pub fn app_read_endpoint(&self) -> Option<&(String, u16)> {
        self.pooled_read.as_ref().or(self.read.as_ref())
    }

    /// Checks a database's `template` against the allow-list: [`BUILT_IN_TEMPLATES`] and
    /// the platform's [`PostgresConfig::templates`].
    ///
    /// # Errors
    /// Why the template is refused, in a sentence.
    pub fn check_template(&self, template: &str) -> Result<(), String> {
        if BUILT_IN_TEMPLATES.contains(&template) || self.templates.iter().any(|t| t == template) {
            return Ok(());
        }
        let allowed: Vec<String> =
            BUILT_IN_TEMPLATES.iter().map(|t| (*t).to_owned()).chain(self.templates.iter().cloned()).collect();
        Err(format!(
            "{template:?} is not a template the platform offers. A template is copied whole into the new database, so naming another stack's database would copy its data. Allowed: {}. A platform adds its own templates with the provider's `postgres.templates` (or DBAAS_POSTGRES_TEMPLATES).",
            allowed.join(", ")
        ))
    }

    /// Checks the extensions a database would add against the allow-list: those the server
    /// marks `trusted`, the platform's [`PostgresConfig::extensions`], and those every
    /// database has from its template.
    ///
    /// # Errors
    /// Why they are refused, naming each, in a sentence.
    pub fn check_extensions<'a>(
        &self,
        adding: impl IntoIterator<Item = &'a String>,
        trusted: &BTreeSet<String>,
        built_in: &[&str],
    ) -> Result<(), String> {
        let refused: Vec<&String> = adding
            .into_iter()
            .filter(|e| !trusted.contains(*e) && !self.extensions.contains(e) && !built_in.contains(&e.as_str()))
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} not an extension the platform offers: PostgreSQL does not mark {} trusted, and an untrusted extension runs with the server's own rights (reading its files, reaching other databases), so the provider installs it only where the platform allows it in the provider's `postgres.extensions` (or DBAAS_POSTGRES_EXTENSIONS). Trusted here: {}.",
            refused.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(", ")
                + if refused.len() == 1 { " is" } else { " are" },
            if refused.len() == 1 { "it" } else { "them" },
            trusted.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// `mysql { ... }`, resolved.
#[derive(Clone, Debug)]
pub struct MysqlConfig {
    /// Read-write endpoint.
    pub host: String,
    /// Read-only endpoint (host, port); `None` when not configured.
    pub read: Option<(String, u16)>,
    /// Its port.
    pub port: u16,
    /// How to log in.
    pub admin: AdminCredentials,
    /// TLS mode.
    pub tls: String,
    /// Pool bound.
    pub max_connections: u32,
    /// The bound on one operation, connect and retries included.
    pub timeout: Duration,
}

/// `redis { ... }`, resolved.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `host:port` of every node, primary first.
    pub addresses: Vec<String>,
    /// Admin ACL user.
    pub username: String,
    /// Its password.
    pub password: Option<Secret>,
    /// Connect with TLS.
    pub tls: bool,
    /// PEM file of the CA to verify the server with, under TLS.
    pub ca_cert_file: Option<String>,
    /// Pool bound per node.
    pub max_connections: u32,
    /// The bound on one operation, connect and retries included.
    pub timeout: Duration,
}

impl RedisConfig {
    /// Host and port of the primary (the first address).
    pub fn primary(&self) -> (&str, u16) {
        crate::backends::redis::split_host_port(self.addresses.first().map(String::as_str).unwrap_or_default())
    }
}

/// `vault { ... }`, resolved.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// Address.
    pub address: String,
    /// Token.
    pub token: Option<Secret>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Database secrets engine mount.
    pub database_mount: String,
    /// KV v2 mount.
    pub kv_mount: String,
    /// The bound on one request, connect and retries included.
    pub timeout: Duration,
    /// The pool limits set on every SQL connection given to Vault.
    pub pool: VaultPool,
    /// A login to get a token with, instead of `token`.
    pub login: Option<VaultLogin>,
}

/// How the provider logs in to Vault when it is given no token.
pub use crate::backends::vault::Login as VaultLogin;

/// How many connections Vault keeps to one database, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaultPool {
    /// At once.
    pub max_open_connections: u32,
    /// Idle.
    pub max_idle_connections: u32,
    /// The oldest a connection may get.
    pub max_connection_lifetime: Duration,
}

/// Where clients reach what a role issues credentials for, from the configuration: each
/// `None` when the platform configures no such endpoint.
impl ProviderConfig {
    /// Where apps connect (host, port): PgBouncer on PostgreSQL, the read-write endpoint on
    /// MySQL, the primary on Redis.
    pub fn app_endpoint(&self, target: &Target) -> Option<(String, u16)> {
        match target {
            Target::Database(d) if d.engine == Engine::Postgresql => {
                self.postgres.as_ref().map(|p| (p.pooled_host.clone(), p.pooled_port))
            }
            Target::Database(_) => self.mysql.as_ref().map(|m| (m.host.clone(), m.port)),
            Target::Namespace(_) => self.redis.as_ref().map(|r| {
                let (host, port) = r.primary();
                (host.to_owned(), port)
            }),
        }
    }

    /// The server (`host:port`) a database's Vault connection reaches, as the provider
    /// writes it: PostgreSQL's primary, MySQL's endpoint; `None` for a namespace.
    pub fn connection_server(&self, target: &Target) -> Option<String> {
        match target {
            Target::Database(_) => {
                self.admin_endpoint(target).map(|(host, port)| crate::backends::authority(&host, port))
            }
            Target::Namespace(_) => None,
        }
    }

    /// Where DDL and migrations go: PostgreSQL's primary; MySQL and Redis have no pooler,
    /// so the endpoint apps use.
    pub fn admin_endpoint(&self, target: &Target) -> Option<(String, u16)> {
        match target {
            Target::Database(d) if d.engine == Engine::Postgresql => {
                self.postgres.as_ref().map(|p| (p.host.clone(), p.port))
            }
            _ => self.app_endpoint(target),
        }
    }

    /// Where apps read from replicas: PostgreSQL's read-only PgBouncer or replicas, MySQL's
    /// read-only endpoint; Redis has none.
    pub fn read_endpoint(&self, target: &Target) -> Option<(String, u16)> {
        match target {
            Target::Database(d) if d.engine == Engine::Postgresql => {
                self.postgres.as_ref().and_then(|p| p.app_read_endpoint().cloned())
            }
            Target::Database(_) => self.mysql.as_ref().and_then(|m| m.read.clone()),
            Target::Namespace(_) => None,
        }
    }
}
