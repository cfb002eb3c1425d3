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

const CATALOG_TTL: Duration = Duration::from_secs(10);
/// The provider's own schema: its name holds a `-`, which no database a stack names can.
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

    /// Creates the database.
    ///
    /// # Errors
    /// [`MysqlError::AlreadyExists`] when it exists; [`MysqlError`] for any refusal.
    pub async fn create_database(
        &self,
        name: &str,
        character_set: Option<&str>,
        collation: Option<&str>,
    ) -> Result<(), MysqlError> {
        let mut statement = format!("CREATE DATABASE {}", quote_identifier(name));
        if let Some(cs) = character_set {
            statement.push_str(&format!(" CHARACTER SET {}", quote_identifier(cs)));
        }
        if let Some(co) = collation {
            statement.push_str(&format!(" COLLATE {}", quote_identifier(co)));
        }
        let result = self.execute(&statement).await;
        self.invalidate().await;
        match result {
            Err(MysqlError::Sql(sqlx::Error::Database(db))) if db.message().contains("database exists") => {
                Err(MysqlError::AlreadyExists(name.to_owned()))
            }
            other => other,
        }
    }

    /// Changes the database's defaults for new tables.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn alter_database(
        &self,
        name: &str,
        character_set: Option<&str>,
        collation: Option<&str>,
    ) -> Result<(), MysqlError> {
        let mut statement = format!("ALTER DATABASE {}", quote_identifier(name));
        if let Some(cs) = character_set {
            statement.push_str(&format!(" CHARACTER SET {}", quote_identifier(cs)));
        }
        if let Some(co) = collation {
            statement.push_str(&format!(" COLLATE {}", quote_identifier(co)));
        }
        self.execute(&statement).await?;
        self.invalidate().await;
        Ok(())
    }

    /// Creates (`new`) or resets the password of the management login, `@'%'` because the
    /// Vault plugin's rotation statement targets that host: CREATE USER with grant
    /// option, SELECT on mysql.user (the plugin's revocation reads it), and everything on
    /// the database with grant option. When `new`, an existing account of that name is
    /// [`MysqlError::LoginTaken`] and is left as it is: MySQL accounts carry no comment
    /// to mark them with (MariaDB has no user attributes), so a database's management
    /// login is ours only if this call created it.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn ensure_management_login(
        &self,
        database: &str,
        user: &str,
        password: &Secret,
        new: bool,
    ) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(user).await?);
        let password = self.quote_literal(password.expose()).await?;
        if new {
            match self.execute(&format!("CREATE USER {account} IDENTIFIED BY {password}")).await {
                // 1396: "Operation CREATE USER failed": the account exists.
                Err(MysqlError::Sql(sqlx::Error::Database(db)))
                    if db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|e| e.number()) == Some(1396) =>
                {
                    return Err(MysqlError::LoginTaken(user.to_owned()));
                }
                other => other?,
            }
        } else {
            self.execute(&format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}")).await?;
            self.execute(&format!("ALTER USER {account} IDENTIFIED BY {password}")).await?;
        }
        self.execute(&format!("GRANT CREATE USER ON *.* TO {account} WITH GRANT OPTION")).await?;
        self.execute(&format!("GRANT SELECT ON mysql.user TO {account}")).await?;
        self.execute(&format!(
            "GRANT ALL PRIVILEGES ON {}.* TO {account} WITH GRANT OPTION",
            quote_identifier(database)
        ))
        .await
    }

    /// Creates or puts right a login `@'%'` for a static role: exactly `grants` on the
    /// database. The password is set only with `password`: an existing login keeps the one
    /// Vault rotated.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn ensure_login(
        &self,
        database: &str,
        login: &str,
        password: Option<&Secret>,
        grants: &str,
    ) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(login).await?);
        let db = quote_identifier(database);
        if let Some(p) = password {
            let password = self.quote_literal(p.expose()).await?;
            self.execute(&format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}")).await?;
            self.execute(&format!("ALTER USER {account} IDENTIFIED BY {password}")).await?;
        }
        if !self.privileges_on(login, database).await?.is_empty() {
            self.execute(&format!("REVOKE ALL PRIVILEGES ON {db}.* FROM {account}")).await?;
        }
        self.execute(&format!("GRANT {grants} ON {db}.* TO {account}")).await
    }

    /// Accounts Vault's default username templates make (`v-…`, host `%`) that hold
    /// privileges on `database`.* and nothing else (no global privilege, role or grant on
    /// another database), each with when its password was set (Unix seconds): the users a
    /// hand-written Vault role issued for the database. The one query that differs by
    /// flavour: MariaDB keeps that time in `mysql.global_priv`, MySQL 8 in `mysql.user`.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn vault_users_of(&self, database: &str) -> Result<Vec<(String, i64)>, MysqlError> {
        let only_this_database = "EXISTS (SELECT 1 FROM mysql.db d WHERE d.User = a.User AND d.Host = a.Host AND d.Db = ?) \
             AND NOT EXISTS (SELECT 1 FROM mysql.db d WHERE d.User = a.User AND d.Host = a.Host AND d.Db <> ?) \
             AND NOT EXISTS (SELECT 1 FROM mysql.tables_priv t WHERE t.User = a.User AND t.Host = a.Host AND t.Db <> ?)";
        let version: String = self.limit(sqlx::query_scalar("SELECT VERSION()").fetch_one(&self.pool)).await?;
        let query = if version.contains("MariaDB") {
            format!(
                "SELECT CAST(a.User AS CHAR), CAST(JSON_VALUE(a.Priv, '$.password_last_changed') AS SIGNED) \
                 FROM mysql.global_priv a \
                 WHERE a.User LIKE 'v-%' AND a.Host = '%' AND CAST(JSON_VALUE(a.Priv, '$.access') AS UNSIGNED) = 0 \
                   AND NOT EXISTS (SELECT 1 FROM mysql.roles_mapping r WHERE r.User = a.User AND r.Host = a.Host) \
                   AND {only_this_database} ORDER BY 1"
            )
        } else {
            format!(
                "SELECT CAST(a.User AS CHAR), CAST(UNIX_TIMESTAMP(a.password_last_changed) AS SIGNED) \
                 FROM mysql.user a \
                 WHERE a.User LIKE 'v-%' AND a.Host = '%' \
                   AND 'N' = ALL (SELECT 'N' UNION ALL SELECT a.Select_priv UNION ALL SELECT a.Insert_priv \
                                  UNION ALL SELECT a.Update_priv UNION ALL SELECT a.Delete_priv \
                                  UNION ALL SELECT a.Create_priv UNION ALL SELECT a.Drop_priv \
                                  UNION ALL SELECT a.Super_priv UNION ALL SELECT a.Create_user_priv \
                                  UNION ALL SELECT a.Grant_priv UNION ALL SELECT a.File_priv) \
                   AND NOT EXISTS (SELECT 1 FROM mysql.role_edges r WHERE r.TO_USER = a.User AND r.TO_HOST = a.Host) \
                   AND {only_this_database} ORDER BY 1"
            )
        };
        let rows: Vec<(String, Option<i64>)> = self
            .limit(sqlx::query_as(&query).bind(database).bind(database).bind(database).fetch_all(&self.pool))
            .await?;
        Ok(rows.into_iter().filter_map(|(user, at)| Some((user, at?))).collect())
    }

    /// Accounts whose names start with `prefix` (taken literally, `_` and `%` included).
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn logins_starting(&self, prefix: &str) -> Result<Vec<String>, MysqlError> {
        let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%"));
        self.limit(
            sqlx::query_scalar("SELECT DISTINCT CAST(User AS CHAR) FROM mysql.user WHERE User LIKE ? ORDER BY 1")
                .bind(pattern)
                .fetch_all(&self.pool),
        )
        .await
    }

    /// The provider's record of `database` in its registry table (the claim of the state
    /// managing it); `None` when there is none.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn registry_record(&self, database: &str) -> Result<Option<String>, MysqlError> {
        self.ensure_registry().await?;
        self.limit(
            sqlx::query_scalar(&format!("SELECT CAST(record AS CHAR) FROM {REGISTRY} WHERE db = ?"))
                .bind(database)
                .fetch_optional(&self.pool),
        )
        .await
    }

    /// Sets (`Some`) or removes (`None`) the registry record of `database` if it still is
    /// `expected`; false when it changed in between. Each case is one statement the server
    /// runs atomically: an insert that the primary key refuses for a second writer, or an
    /// update or delete that matches only the expected record.
    ///
    /// # Errors
    /// [`MysqlError`] when the server refuses.
    pub async fn swap_registry_record(
        &self,
        database: &str,
        expected: Option<&str>,
        record: Option<&str>,
    ) -> Result<bool, MysqlError> {
        self.ensure_registry().await?;
        let (sql, binds) = match (expected, record) {
            (None, None) => return Ok(true),
            (None, Some(new)) => {
                (format!("INSERT IGNORE INTO {REGISTRY} (db, record) VALUES (?, ?)"), [database, new, ""])
            }
            (Some(old), Some(new)) => {
                (format!("UPDATE {REGISTRY} SET record = ? WHERE db = ? AND record = ?"), [new, database, old])
            }
            (Some(old), None) => (format!("DELETE FROM {REGISTRY} WHERE db = ? AND record = ?"), [database, old, ""]),
        };
        let arguments = sql.matches('?').count();
        let query = binds.iter().take(arguments).fold(sqlx::query(&sql), |q, b| q.bind(*b));
        let done = self.limit(query.execute(&self.pool)).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates the registry's schema and table if missing: once per process.
    async fn ensure_registry(&self) -> Result<(), MysqlError> {
        if self.registry_ready.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        self.execute(&format!("CREATE DATABASE IF NOT EXISTS {REGISTRY_SCHEMA}")).await?;
        self.execute(&format!(
            "CREATE TABLE IF NOT EXISTS {REGISTRY} (db VARCHAR(64) NOT NULL PRIMARY KEY, record VARCHAR(255) NOT NULL)"
        ))
        .await?;
        self.registry_ready.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Every account (user, host) holding database-level privileges on `database`. MySQL
    /// keeps them after `DROP DATABASE`, and they apply again to a new database of the name.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn accounts_granted_on(&self, database: &str) -> Result<Vec<(String, String)>, MysqlError> {
        // A grant may have been written with `_` escaped, as `GRANT` patterns allow.
        let escaped = database.replace('_', "\\_");
        self.limit(
            sqlx::query_as(
                "SELECT DISTINCT CAST(User AS CHAR), CAST(Host AS CHAR) FROM mysql.db WHERE Db = ? OR Db = ? ORDER BY 1, 2",
            )
            .bind(database)
            .bind(escaped)
            .fetch_all(&self.pool),
        )
        .await
    }

    /// Drops the account `user@host`.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn drop_account(&self, user: &str, host: &str) -> Result<(), MysqlError> {
        let account = format!("{}@{}", self.quote_literal(user).await?, self.quote_literal(host).await?);
        self.execute(&format!("DROP USER IF EXISTS {account}")).await
    }

    /// Takes every privilege on `database` from `user@host` (the account stays).
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn revoke_database(&self, user: &str, host: &str, database: &str) -> Result<(), MysqlError> {
        let account = format!("{}@{}", self.quote_literal(user).await?, self.quote_literal(host).await?);
        let on = format!("{}.*", quote_identifier(database));
        self.execute(&format!("REVOKE ALL PRIVILEGES ON {on} FROM {account}")).await?;
        // GRANT OPTION is revoked on its own, and only where it was given (else MySQL refuses).
        if self.accounts_granted_on(database).await?.iter().any(|(u, h)| u == user && h == host) {
            self.execute(&format!("REVOKE GRANT OPTION ON {on} FROM {account}")).await?;
        }
        Ok(())
    }

    /// Whether an account named `login` exists, on any host.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn login_exists(&self, login: &str) -> Result<bool, MysqlError> {
        self.limit(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mysql.user WHERE User = ?")
                .bind(login)
                .fetch_one(&self.pool),
        )
        .await
        .map(|n| n > 0)
    }

    /// The privileges (`SELECT`, `INSERT`, ...) the account `login@'%'` holds on `database`.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn privileges_on(&self, login: &str, database: &str) -> Result<Vec<String>, MysqlError> {
        let grantee = format!("'{}'@'%'", login.replace('\'', "''"));
        self.limit(sqlx::query_scalar(
            "SELECT CAST(PRIVILEGE_TYPE AS CHAR) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ?",
        )
        .bind(grantee)
        .bind(database)
        .fetch_all(&self.pool)).await
    }

    /// Drops a login `@'%'`.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn drop_login(&self, login: &str) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(login).await?);
        self.execute(&format!("DROP USER IF EXISTS {account}")).await
    }

    async fn drop_management_login(&self, management: &str) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(management).await?);
        self.execute(&format!("DROP USER IF EXISTS {account}")).await
    }

    /// Sessions on `database`, other than ours and Vault's management login's.
    async fn sessions(&self, database: &str, management: &str) -> Result<Vec<u64>, MysqlError> {
        let ids: Vec<u64> = self.limit(sqlx::query_scalar(
            "SELECT CAST(ID AS UNSIGNED) FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND USER <> ?",
        )
        .bind(database)
        .bind(management)
        .fetch_all(&self.pool)).await?;
        Ok(ids)
    }

    /// How many clients are connected to `database` (other than this pool).
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn session_count(&self, database: &str, management: &str) -> Result<i64, MysqlError> {
        Ok(self.sessions(database, management).await?.len() as i64)
    }

    async fn clear_sessions(&self, database: &str, management: &str, force: bool) -> Result<(), MysqlError> {
        let vault_sessions: Vec<u64> = self
            .limit(
                sqlx::query_scalar("SELECT CAST(ID AS UNSIGNED) FROM information_schema.PROCESSLIST WHERE USER = ?")
                    .bind(management)
                    .fetch_all(&self.pool),
            )
            .await?;
        for id in vault_sessions {
            let _ = self.execute(&format!("KILL CONNECTION {id}")).await;
        }
        let sessions = self.sessions(database, management).await?;
        if sessions.is_empty() {
            return Ok(());
        }
        if !force {
            return Err(MysqlError::InUse { database: database.to_owned(), sessions: sessions.len() as i64 });
        }
        for id in sessions {
            // The session may have ended meanwhile.
            let _ = self.execute(&format!("KILL CONNECTION {id}")).await;
        }
        Ok(())
    }

    /// Drops the database and its management login. Connected clients are
    /// [`MysqlError::InUse`] unless `force`, which disconnects them first.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn drop_database(&self, name: &str, management: &str, force: bool) -> Result<(), MysqlError> {
        self.clear_sessions(name, management, force).await?;
        self.execute(&format!("DROP DATABASE IF EXISTS {}", quote_identifier(name))).await?;
        self.drop_management_login(management).await?;
        self.invalidate().await;
        Ok(())
    }

    /// Archives the database: MySQL cannot rename one, so its tables move, in one atomic
    /// RENAME TABLE, into `archived_name`, and the emptied database and the management
    /// login are dropped. Views, routines, triggers and events cannot move and are refused.
    ///
    /// # Errors
    /// [`MysqlError::CannotArchive`], [`MysqlError::InUse`] (unless `force`), or a refusal.
    pub async fn archive_database(
        &self,
        name: &str,
        archived_name: &str,
        management: &str,
        force: bool,
    ) -> Result<(), MysqlError> {
        let blockers: Vec<(String, i64)> = self
            .limit(
                sqlx::query_as(
                    "SELECT 'views', COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? \
             UNION ALL SELECT 'routines', COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? \
             UNION ALL SELECT 'triggers', COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? \
             UNION ALL SELECT 'events', COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?",
                )
                .bind(name)
                .bind(name)
                .bind(name)
                .bind(name)
                .fetch_all(&self.pool),
            )
            .await?;
        let what: Vec<String> = blockers.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{n} {k}")).collect();
        if !what.is_empty() {
            return Err(MysqlError::CannotArchive { database: name.to_owned(), what: what.join(", ") });
        }
        self.clear_sessions(name, management, force).await?;
        let info = self.catalog_of(name).await?.get(name).cloned();
        let mut create = format!("CREATE DATABASE {}", quote_identifier(archived_name));
        if let Some(i) = info {
            create.push_str(&format!(
                " CHARACTER SET {} COLLATE {}",
                quote_identifier(&i.character_set),
                quote_identifier(&i.collation)
            ));
        }
        self.execute(&create).await?;
        let tables: Vec<String> = self.limit(sqlx::query_scalar(
            "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
        )
        .bind(name)
        .fetch_all(&self.pool)).await?;
        if !tables.is_empty() {
            let moves: Vec<String> = tables
                .iter()
                .map(|t| {
                    format!(
                        "{}.{} TO {}.{}",
                        quote_identifier(name),
                        quote_identifier(t),
                        quote_identifier(archived_name),
                        quote_identifier(t)
                    )
                })
                .collect();
            self.execute(&format!("RENAME TABLE {}", moves.join(", "))).await?;
        }
        self.execute(&format!("DROP DATABASE {}", quote_identifier(name))).await?;
        self.drop_management_login(management).await?;
        self.invalidate().await;
        Ok(())
    }
}
