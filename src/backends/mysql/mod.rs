//! The shared MySQL cluster: databases and the management login Vault uses. Every
//! statement here means the same on MySQL 8 and MariaDB 10.11, so the server's flavour
//! needs no detecting.
//!
//! MySQL has no server-side identifier quoting function, so identifiers are quoted here
//! (backticks, inner backticks doubled) after the resource has validated them to
//! `[a-z0-9_]`; string literals (passwords) are quoted by the server's own `QUOTE()`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};
use sqlx::{Executor, Row};
use tokio::sync::Mutex;

use std::future::Future;

use super::deadline::{Deadline, Interrupted};
use super::retry;
use super::snapshot::Snapshot;
use crate::secret::Secret;

mod accounts;
mod databases;
mod issuer;

pub use issuer::{DROP_USER, ISSUE_USER, LoginKind, SET_OWN_PASSWORD, SET_PASSWORD};

const CATALOG_TTL: Duration = Duration::from_secs(10);
/// The provider's own database: its name holds a `-`, which no database a stack names can.
pub const REGISTRY_DATABASE: &str = "dbaas-provider";
/// [`REGISTRY_DATABASE`], quoted.
const REGISTRY_SCHEMA: &str = "`dbaas-provider`";
/// Which state claims each database (MySQL databases carry no comment to hold it).
const REGISTRY: &str = "`dbaas-provider`.`claims`";

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MysqlError {
    /// The server could not be reached or refused the login.
    #[error("cannot connect to MySQL at {endpoint}: {source}")]
    Connect {
        /// host:port
        endpoint: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// The database exists already.
    #[error("database {0:?} already exists")]
    AlreadyExists(String),
    /// Clients are connected and the operation needs them gone.
    #[error("database {database:?} has {sessions} connected client(s)")]
    InUse {
        /// The database.
        database: String,
        /// How many.
        sessions: i64,
    },
    /// The database holds objects archiving cannot move.
    #[error("database {database:?} has {what}, which cannot be moved to another database")]
    CannotArchive {
        /// The database.
        database: String,
        /// What.
        what: String,
    },
    /// A login the database needs exists already, made by someone else.
    #[error("login {0:?} already exists")]
    LoginTaken(String),
    /// No answer within the deadline.
    #[error("MySQL at {endpoint} timed out: no answer within {}s", .waited.as_secs())]
    TimedOut {
        /// host:port
        endpoint: String,
        /// How long it waited.
        waited: Duration,
    },
    /// Terraform asked the provider to stop.
    #[error("stopped: Terraform asked the provider to stop")]
    Stopped,
    /// The server rejected a statement.
    #[error("MySQL: {0}")]
    Sql(#[source] sqlx::Error),
}

impl MysqlError {
    /// Whether the statement may have been carried out although no answer came.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            MysqlError::TimedOut { .. } | MysqlError::Stopped => true,
            MysqlError::Sql(e) => matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)),
            _ => false,
        }
    }

    /// The server's error number (`1146`: no such table, …), when the server refused.
    fn server_error(&self) -> Option<u16> {
        match self {
            MysqlError::Sql(sqlx::Error::Database(db)) => {
                db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|e| e.number())
            }
            _ => None,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            MysqlError::Connect { source, .. } | MysqlError::Sql(source) => match source {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
                // 1290: --read-only / super_read_only during a failover; 1213 deadlock;
                // 1205 lock wait timeout.
                sqlx::Error::Database(db) => {
                    matches!(db.code().as_deref(), Some("HY000" | "40001")) && {
                        let m = db.message();
                        m.contains("read-only") || m.contains("read_only") || m.contains("Deadlock")
                    }
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// Where and how the admin connects.
#[derive(Clone, Debug)]
pub struct MysqlEndpoint {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Admin login.
    pub username: String,
    /// Its password.
    pub password: Option<Secret>,
    /// TLS mode (`disabled`, `preferred`, ...).
    pub tls: String,
    /// Pool bound.
    pub max_connections: u32,
    /// The bound on one operation, connect and retries included, and the stop signal.
    pub deadline: Deadline,
}

/// One database as information_schema describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaInfo {
    /// Default character set.
    pub character_set: String,
    /// Default collation.
    pub collation: String,
}

/// Databases by name, as last read.
type SchemaCatalog = Arc<BTreeMap<String, SchemaInfo>>;

/// The admin's view of the server.
pub struct Mysql {
    endpoint: MysqlEndpoint,
    pool: MySqlPool,
    catalog: Mutex<Snapshot<SchemaCatalog>>,
    registry_ready: std::sync::atomic::AtomicBool,
}

/// Quotes an identifier with backticks.
///
/// ```
/// assert_eq!(dbaas::backends::mysql::quote_identifier("a`b"), "`a``b`");
/// ```
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `database` as a database-level grant must spell it to name that database alone: MySQL
/// and MariaDB read `_` and `%` there as wildcards (a grant on `x_a` also gives `xxa`), so
/// both are escaped, and the escape character itself. This is also how the server stores
/// the grant (`mysql.db.Db`, `SCHEMA_PRIVILEGES.TABLE_SCHEMA`). MySQL 8 with
/// `partial_revokes` reads every `_` literally, and the escaped form there too.
///
/// ```
/// assert_eq!(dbaas::backends::mysql::grant_pattern("x_a%"), "x\\_a\\%");
/// ```
pub fn grant_pattern(database: &str) -> String {
    database.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%")
}

/// The scope of a grant on every table of `database` and nothing else: `` `x\_a`.* ``.
///
/// ```
/// assert_eq!(dbaas::backends::mysql::database_grant_scope("x_a"), "`x\\_a`.*");
/// ```
pub fn database_grant_scope(database: &str) -> String {
    format!("{}.*", quote_identifier(&grant_pattern(database)))
}

impl Mysql {
    /// A client; the pool connects on first use.
    pub fn new(endpoint: MysqlEndpoint) -> Mysql {
        let mut options = MySqlConnectOptions::new()
            .host(&endpoint.host)
            .port(endpoint.port)
            .username(&endpoint.username)
            .ssl_mode(match endpoint.tls.as_str() {
                "disabled" => MySqlSslMode::Disabled,
                "required" => MySqlSslMode::Required,
                "verify_ca" => MySqlSslMode::VerifyCa,
                "verify_identity" => MySqlSslMode::VerifyIdentity,
                _ => MySqlSslMode::Preferred,
            })
            .statement_cache_capacity(0);
        if let Some(p) = &endpoint.password {
            options = options.password(p.expose());
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(endpoint.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(endpoint.deadline.timeout)
            .idle_timeout(Duration::from_secs(60))
            .connect_lazy_with(options);
        Mysql { endpoint, pool, catalog: Mutex::new(Snapshot::default()), registry_ready: Default::default() }
    }

    /// `host:port`.
    pub fn endpoint(&self) -> String {
        super::authority(&self.endpoint.host, self.endpoint.port)
    }

    fn error(&self, e: sqlx::Error) -> MysqlError {
        match e {
            // The pool waits for a connection as long as the deadline allows.
            sqlx::Error::PoolTimedOut => {
                MysqlError::TimedOut { endpoint: self.endpoint(), waited: self.endpoint.deadline.timeout }
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => MysqlError::Connect { endpoint: self.endpoint(), source: e },
            sqlx::Error::Database(ref db) if matches!(db.code().as_deref(), Some("28000")) => {
                MysqlError::Connect { endpoint: self.endpoint(), source: e }
            }
            other => MysqlError::Sql(other),
        }
    }

    async fn execute(&self, statement: &str) -> Result<(), MysqlError> {
        self.bounded(retry::transient(
            || async { self.pool.execute(statement).await.map(drop).map_err(|e| self.error(e)) },
            MysqlError::is_transient,
        ))
        .await
    }

    /// Runs `operation` under the deadline.
    async fn bounded<T>(&self, operation: impl Future<Output = Result<T, MysqlError>>) -> Result<T, MysqlError> {
        match self.endpoint.deadline.run(operation).await {
            Ok(result) => result,
            Err(Interrupted::TimedOut(waited)) => Err(MysqlError::TimedOut { endpoint: self.endpoint(), waited }),
            Err(Interrupted::Stopped) => Err(MysqlError::Stopped),
        }
    }

    /// Runs one query under the deadline.
    async fn limit<T>(&self, query: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, MysqlError> {
        self.bounded(async { query.await.map_err(|e| self.error(e)) }).await
    }

    async fn quote_literal(&self, value: &str) -> Result<String, MysqlError> {
        self.limit(sqlx::query_scalar::<_, String>("SELECT QUOTE(?)").bind(value).fetch_one(&self.pool)).await
    }

    /// Every database, from one query, served from a snapshot for a few seconds.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be read.
    pub async fn catalog(&self) -> Result<SchemaCatalog, MysqlError> {
        let mut snapshot = self.catalog.lock().await;
        if let Some(catalog) = snapshot.fresh(CATALOG_TTL) {
            return Ok(catalog);
        }
        let catalog = self.read_catalog(None).await?;
        snapshot.replace(catalog.clone());
        Ok(catalog)
    }

    /// What the catalog says of database `name` alone: from the snapshot while it is
    /// fresh, else read for just this name once this process has changed the catalog (so
    /// reading back each of many new databases does not reload every schema each time).
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be read.
    pub async fn catalog_of(&self, name: &str) -> Result<SchemaCatalog, MysqlError> {
        let changed = {
            let snapshot = self.catalog.lock().await;
            if let Some(catalog) = snapshot.fresh(CATALOG_TTL) {
                return Ok(catalog);
            }
            snapshot.changed()
        };
        if changed { self.read_catalog(Some(name)).await } else { self.catalog().await }
    }

    /// Reads every schema, or only `only`.
    async fn read_catalog(&self, only: Option<&str>) -> Result<SchemaCatalog, MysqlError> {
        let rows = retry::transient(
            || async {
                self.limit(
                    sqlx::query(
                        "SELECT CAST(SCHEMA_NAME AS CHAR) AS name, CAST(DEFAULT_CHARACTER_SET_NAME AS CHAR) AS cs, \
                     CAST(DEFAULT_COLLATION_NAME AS CHAR) AS co FROM information_schema.SCHEMATA \
                     WHERE ? IS NULL OR SCHEMA_NAME = ?",
                    )
                    .bind(only)
                    .bind(only)
                    .fetch_all(&self.pool),
                )
                .await
            },
            MysqlError::is_transient,
        )
        .await?;
        let catalog: BTreeMap<_, _> = rows
            .iter()
            .map(|r| (r.get::<String, _>("name"), SchemaInfo { character_set: r.get("cs"), collation: r.get("co") }))
            .collect();
        Ok(Arc::new(catalog))
    }

    /// Marks the snapshot as out of date: this process changed the catalog.
    async fn invalidate(&self) {
        self.catalog.lock().await.mark_changed();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// How MySQL and MariaDB match a database name against a grant's pattern
    /// (`wild_case_compare`, case-sensitive as on Linux): `\` escapes the next character,
    /// `_` is any one, `%` any run.
    fn grant_matches(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('\\', rest)) if !rest.is_empty() => {
                name.first() == Some(&rest[0]) && grant_matches(&rest[1..], &name[1..])
            }
            Some(('_', rest)) => !name.is_empty() && grant_matches(rest, &name[1..]),
            Some(('%', rest)) => (0..=name.len()).any(|skip| grant_matches(rest, &name[skip..])),
            Some((c, rest)) => name.first() == Some(c) && grant_matches(rest, &name[1..]),
        }
    }

    fn matches(pattern: &str, name: &str) -> bool {
        grant_matches(&pattern.chars().collect::<Vec<_>>(), &name.chars().collect::<Vec<_>>())
    }

    #[test]
    fn the_model_reads_bare_names_as_mysql_does() {
        assert!(matches("x_a", "xxa") && matches("x%", "xyz") && matches("x\\_a", "x_a") && !matches("x\\_a", "xxa"));
    }

    proptest! {
        /// Whatever two names (wildcards and escapes included), the escaped grant on one
        /// names the other only when they are the same name.
        #[test]
        fn an_escaped_grant_names_its_database_alone(
            database in "[a-z_%\\\\]{1,12}",
            other in "[a-z_%\\\\]{1,12}",
        ) {
            prop_assert!(matches(&grant_pattern(&database), &database));
            prop_assert_eq!(matches(&grant_pattern(&database), &other), database == other);
        }

        /// A name that differs from the database only where the bare name holds `_` is
        /// what the bare grant would have given away.
        #[test]
        fn a_neighbour_the_bare_name_reaches_is_refused(database in "[a-z]{1,5}(_[a-z0-9]{1,5}){1,3}", c in "[a-z0-9]") {
            let neighbour = database.replacen('_', &c, 1);
            prop_assert!(matches(&database, &neighbour));
            prop_assert!(!matches(&grant_pattern(&database), &neighbour));
            prop_assert!(database_grant_scope(&database).ends_with("`.*"));
        }
    }
}
