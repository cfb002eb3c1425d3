//! The shared PostgreSQL cluster, as its admin sees it: databases with their group roles,
//! extensions, and the management login Vault uses.
//!
//! Every statement goes to the primary (DDL never goes through PgBouncer). Identifiers and
//! literals are quoted by PostgreSQL itself (`format('%I')`, `format('%L')`), never by
//! string pasting. Statements that touch a database's catalog rows run under an advisory
//! lock keyed by that database's name, so two stacks applying to it at once never fail
//! with "tuple concurrently updated", and a stack that hangs holding the lock blocks only
//! that database, never every other stack's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Connection, Executor, Row};
use tokio::sync::{Mutex, Notify, OwnedSemaphorePermit, Semaphore};

use super::deadline::{Deadline, Interrupted};
use super::retry;
use super::snapshot::Snapshot;
use crate::secret::Secret;

/// The first advisory lock key of the DDL lock; the second is `hashtext(<database>)`.
const DDL_LOCK_CLASS: i32 = 0x6462_6464; // "dbdd"
/// Takes the DDL lock of `database`'s objects until the transaction ends.
async fn lock_ddl(tx: &mut PgConnection, database: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(DDL_LOCK_CLASS)
        .bind(database)
        .execute(&mut *tx)
        .await
        .map(drop)
}

/// Runs `statements` in one round trip (one simple-protocol query; inside the caller's
/// transaction, if any). Each statement was built by the server's `format()` with `%I` and
/// `%L`, so PostgreSQL itself quoted every identifier and literal in it.
async fn execute_all(c: &mut PgConnection, statements: &[String]) -> Result<(), sqlx::Error> {
    if statements.is_empty() {
        return Ok(());
    }
    // A query without arguments goes out as one simple-protocol Query message, which may
    // hold several statements.
    c.execute(statements.join(";\n").as_str()).await.map(drop)
}

/// PostgreSQL 15 and older: the schema [`ISSUER_SCHEMA`] in the connection's database,
/// owned by the admin, with the issuer's functions owned by [`ISSUER_ROLE`]. Anyone may call
/// them (each refuses every caller but the database's management login), so they need no
/// grant to a login that may not exist yet. `Some(owner)` when the schema is someone else's,
/// and nothing was done.
async fn install_issuer(tx: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    let create: String = sqlx::query_scalar("SELECT format('CREATE SCHEMA IF NOT EXISTS %I', $1::text)")
        .bind(ISSUER_SCHEMA)
        .fetch_one(&mut *tx)
        .await?;
    tx.execute(create.as_str()).await?;
    let (owner, admin): (String, String) = sqlx::query_as(
        "SELECT pg_get_userbyid(nspowner)::text, current_user::text FROM pg_namespace WHERE nspname = $1",
    )
    .bind(ISSUER_SCHEMA)
    .fetch_one(&mut *tx)
    .await?;
    if owner != admin {
        return Ok(Some(owner));
    }
    tx.execute(ISSUER_FUNCTIONS).await?;
    let statements: Vec<String> = sqlx::query_scalar(
        "SELECT format('GRANT USAGE ON SCHEMA %I TO PUBLIC', $1::text) \
         UNION ALL SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, $2::text) \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1",
    )
    .bind(ISSUER_SCHEMA)
    .bind(ISSUER_ROLE)
    .fetch_all(&mut *tx)
    .await?;
    execute_all(tx, &statements).await?;
    Ok(None)
}

/// `DROP ROLE IF EXISTS` for each of `roles`, quoted by the server.
async fn drop_role_statements(c: &mut PgConnection, roles: &[String]) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT format('DROP ROLE IF EXISTS %I', r) FROM unnest($1::text[]) WITH ORDINALITY AS t(r, i) ORDER BY i",
    )
    .bind(roles)
    .fetch_all(c)
    .await
}

/// The first server version whose `CREATEROLE` reaches only roles the login holds ADMIN on:
/// from it on, the server itself keeps a management login to its own database's roles.
pub const SCOPED_CREATEROLE_SINCE: u32 = 160_000;
/// PostgreSQL 15 and older: the NOLOGIN role that owns the functions through which a
/// management login (which has no `CREATEROLE` there) issues, drops and rotates logins. Its
/// `-` keeps it apart from every name the provider derives (`<database>_<suffix>`).
pub const ISSUER_ROLE: &str = "dbaas-issuer";
/// The schema, in each database, holding those functions; owned by the provider's admin.
pub const ISSUER_SCHEMA: &str = "dbaas_vault";
/// The comment on a static role's login, after which comes the database: only logins
/// carrying it may have their password set through [`ISSUER_SCHEMA`].
pub const STATIC_LOGIN_MARK: &str = "static login of database ";

/// The issuer's functions. Each checks that its caller is this database's management login
/// (`<database>_vault`) and touches only this database's group roles and the logins marked
/// as issued or static for it, whatever arguments it is given. Constant text: the database
/// comes from `current_database()`, never from the provider.
const ISSUER_FUNCTIONS: &str = r#"
CREATE OR REPLACE FUNCTION dbaas_vault.check_caller() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF session_user::text <> current_database()::text || '_vault' THEN
    RAISE EXCEPTION 'only % may call this', current_database()::text || '_vault' USING ERRCODE = 'insufficient_privilege';
  END IF;
END $fn$;

CREATE OR REPLACE FUNCTION dbaas_vault.create_user(username text, password text, valid_until text, level text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE grp text := current_database()::text || '_' || level;
BEGIN
  PERFORM dbaas_vault.check_caller();
  IF level NOT IN ('owner', 'readwrite', 'readonly') THEN
    RAISE EXCEPTION 'level % is not owner, readwrite or readonly', level USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('CREATE ROLE %I WITH LOGIN PASSWORD %L VALID UNTIL %L IN ROLE %I', username, password, valid_until, grp);
  EXECUTE format('COMMENT ON ROLE %I IS %L', username, 'issued by Vault for database ' || current_database()::text);
  -- A security-definer function may not set `role`, even as a default: an owner-level
  -- user sets it on itself next, through its management login (see create_user's callers).
  IF level = 'owner' THEN
    EXECUTE format('GRANT %I TO %I', username, session_user);
  END IF;
END $fn$;

CREATE OR REPLACE FUNCTION dbaas_vault.drop_user(username text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  heir text := current_database()::text || '_owner';
  groups text[] := ARRAY[current_database()::text || '_owner', current_database()::text || '_readwrite', current_database()::text || '_readonly'];
  target pg_roles%ROWTYPE;
BEGIN
  PERFORM dbaas_vault.check_caller();
  SELECT * INTO target FROM pg_roles WHERE rolname = username;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- Issued through here; or issued before, by Vault's own CREATE ROLE: a v- login whose
  -- every membership is one of this database's group roles.
  IF shobj_description(target.oid, 'pg_authid') IS DISTINCT FROM 'issued by Vault for database ' || current_database()::text
     AND NOT (username LIKE 'v-%' AND target.rolcanlogin AND NOT target.rolcreaterole AND NOT target.rolcreatedb
              AND EXISTS (SELECT FROM pg_auth_members WHERE member = target.oid)
              AND NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                              WHERE m.member = target.oid AND g.rolname <> ALL (groups))) THEN
    RAISE EXCEPTION 'role % was not issued for database %', username, current_database() USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- REASSIGN and DROP OWNED need the privileges of both roles, for this call only.
  EXECUTE format('GRANT %I, %I TO %I', username, heir, current_user);
  EXECUTE format('REASSIGN OWNED BY %I TO %I', username, heir);
  EXECUTE format('DROP OWNED BY %I', username);
  EXECUTE format('REVOKE %I FROM %I', heir, current_user);
  EXECUTE format('DROP ROLE %I', username);
END $fn$;

CREATE OR REPLACE FUNCTION dbaas_vault.set_password(username text, password text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  PERFORM dbaas_vault.check_caller();
  IF shobj_description((SELECT oid FROM pg_roles WHERE rolname = username), 'pg_authid')
     IS DISTINCT FROM 'static login of database ' || current_database()::text THEN
    RAISE EXCEPTION 'role % is not a static login of database %', username, current_database() USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('ALTER ROLE %I WITH PASSWORD %L', username, password);
END $fn$;
"#;

/// How long a catalog snapshot serves reads in one provider process.
const CATALOG_TTL: Duration = Duration::from_secs(10);
/// A connection idle longer than this is pinged before it is reused.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(5);
/// How long a request waits for a peer before closing the one idle connection plainly.
const LONE_IDLE_GRACE: Duration = Duration::from_millis(500);
/// Reported as `application_name` (with `/<pid>` after it), so an operator can see which
/// provider process holds which connection.
pub const APPLICATION_NAME: &str = "terraform-provider-dbaas";

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The server could not be reached or refused the login.
    #[error("cannot connect to PostgreSQL at {endpoint}: {source}")]
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
        /// How many of them are idle sessions from PgBouncer's address: its own server
        /// connections, kept after the apps that used them left.
        idle_from_pooler: i64,
    },
    /// A role exists that this provider did not make for this database: its comment is
    /// not the owner mark.
    #[error("role {role:?} already exists and is not marked as this database's (its comment is {comment:?})")]
    NotOurs {
        /// The role.
        role: String,
        /// Its comment, if any.
        comment: Option<String>,
    },
    /// The issuer's schema exists in the database, owned by someone else (a tenant who
    /// made it first): the functions that must be out of the tenant's reach cannot go there.
    #[error(
        "schema {schema:?} in database {database:?} belongs to {owner:?}, not to the provider's admin; drop or rename it, then apply again"
    )]
    ForeignSchema {
        /// The schema.
        schema: &'static str,
        /// The database.
        database: String,
        /// Its owner.
        owner: String,
    },
    /// A database that was just there is gone: a failover that lost the newest
    /// transactions, or someone dropped it.
    #[error("database {database:?} does not exist on PostgreSQL at {endpoint}")]
    NoDatabase {
        /// The database.
        database: String,
        /// host:port
        endpoint: String,
    },
    /// The server at the configured address is a replica in recovery: the platform is
    /// failing over, and its read-write service does not yet point at the new primary.
    #[error("PostgreSQL at {endpoint} is a replica in recovery, not the primary (a failover under way?)")]
    NotPrimary {
        /// host:port
        endpoint: String,
    },
    /// No answer within the deadline.
    #[error("PostgreSQL at {endpoint} timed out: no answer within {}s", .waited.as_secs())]
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
    #[error("PostgreSQL: {0}")]
    Sql(#[source] sqlx::Error),
}

/// How a call treats objects that already exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Creating: an existing object must already carry the owner mark, or it is someone
    /// else's and the call changes nothing.
    MustBeMarked,
    /// The object is in state: it is ours, and gets the mark if it lacks it.
    Ours,
}

impl PostgresError {
    /// Whether the statement may have been carried out although no answer came: the
    /// caller must treat what it asked for as possibly made.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            PostgresError::TimedOut { .. } | PostgresError::Stopped => true,
            PostgresError::Sql(e) => matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)),
            _ => false,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            // A server shutting down, starting up or not accepting connections yet says so
            // at login (57P03, 08xxx): a failover or a restart, over in moments.
            PostgresError::Connect { source, .. } => is_transient_sql(source),
            PostgresError::Sql(e) => is_transient_sql(e),
            PostgresError::NotPrimary { .. } => true,
            _ => false,
        }
    }
}

fn is_transient_sql(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // read_only_sql_transaction (a failover in progress), admin shutdown, cannot
            // connect now, connection exceptions, serialization failures and deadlocks.
            matches!(code.as_ref(), "25006" | "57P01" | "57P02" | "57P03" | "40001" | "40P01")
                || code.starts_with("08")
                || db.message().contains("tuple concurrently updated")
        }
        _ => false,
    }
}

/// Waits until the server processes `pids` have exited (at most five seconds), polling
/// every millisecond: `pg_terminate_backend(pid, timeout)` would wait in 100 ms steps.
async fn wait_for_exit(helper: &mut PgConnection, pids: &[i32]) -> Result<(), sqlx::Error> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
            .bind(pids)
            .fetch_one(&mut *helper)
            .await?;
        if alive == 0 || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn sql(e: sqlx::Error) -> PostgresError {
    PostgresError::Sql(e)
}

/// Where and how the admin connects.
#[derive(Clone, Debug)]
pub struct PostgresEndpoint {
    /// The primary.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Admin login.
    pub username: String,
    /// Its password.
    pub password: Option<Secret>,
    /// libpq sslmode.
    pub sslmode: String,
    /// Maintenance database.
    pub database: String,
    /// Most connections open at once, across all databases.
    pub max_connections: u32,
    /// PgBouncer's `auth_user`: it must be able to connect to every database to look up
    /// logins, and databases here revoke CONNECT from PUBLIC.
    pub pooler_auth_user: Option<String>,
    /// PgBouncer's host: idle sessions from its addresses are named as its own server
    /// connections when they keep a database from being dropped.
    pub pooler_host: Option<String>,
    /// The bound on one operation (also each statement's `statement_timeout`), and the
    /// stop signal.
    pub deadline: Deadline,
    /// `lock_timeout` of every session: how long a statement waits for a lock another
    /// session holds (a migration, say).
    pub lock_timeout: Duration,
}

/// One database as the catalogs describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// Owning role.
    pub owner: String,
    /// `-1` for no limit.
    pub connection_limit: i32,
    /// Server encoding name, e.g. `UTF8`.
    pub encoding: String,
    /// LC_COLLATE.
    pub lc_collate: String,
    /// LC_CTYPE.
    pub lc_ctype: String,
    /// `COMMENT ON DATABASE`: the owner mark, for databases this provider made.
    pub comment: Option<String>,
    /// Who may CONNECT (`PUBLIC` for everyone), from its ACL.
    pub connect: Vec<String>,
}

/// A snapshot of the shared catalogs: every database and role, read in one round trip.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Databases by name.
    pub databases: BTreeMap<String, DatabaseInfo>,
    /// Role names.
    pub roles: BTreeSet<String>,
}

/// What to create.
#[derive(Clone, Debug)]
pub struct NewDatabase {
    /// Database name (validated by the caller).
    pub name: String,
    /// Encoding, or the template's.
    pub encoding: Option<String>,
    /// LC_COLLATE, or the template's.
    pub lc_collate: Option<String>,
    /// LC_CTYPE, or the template's.
    pub lc_ctype: Option<String>,
    /// Template database.
    pub template: Option<String>,
    /// Connection limit.
    pub connection_limit: i32,
    /// Its group roles.
    pub roles: GroupRoles,
}

/// The group roles and management login of a database; `crate::platform::naming` names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRoles {
    /// Owns the database and everything in it; NOLOGIN.
    pub owner: String,
    /// Reads and writes tables; NOLOGIN.
    pub readwrite: String,
    /// Reads tables; NOLOGIN.
    pub readonly: String,
    /// The management login Vault uses.
    pub management: String,
}

impl GroupRoles {
    /// The group role a user at privilege level `level` (`readonly`, `readwrite`,
    /// `owner`) joins; anything else is `readwrite`.
    pub fn for_level(&self, level: &str) -> &str {
        match level {
            "readonly" => &self.readonly,
            "owner" => &self.owner,
            _ => &self.readwrite,
        }
    }
}

/// What the provider needs to know of the server it manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// `server_version_num`.
    pub version: u32,
    /// Whether the admin login is a superuser.
    pub superuser: bool,
}

impl ServerFacts {
    /// Whether the server itself keeps one team's admin login from another's roles and
    /// databases: PostgreSQL 16 or later, and an admin that is not a superuser.
    pub fn separates_teams(&self) -> bool {
        self.version >= SCOPED_CREATEROLE_SINCE && !self.superuser
    }
}

/// What [`Postgres::privilege_gaps`] found in a database's schema `public`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivilegeGaps {
    /// Who owns the database.
    pub database_owner: String,
    /// Whether that owner is a superuser (it loses nothing by handing the database over).
    pub database_owner_is_superuser: bool,
    /// Who owns schema `public`.
    pub public_owner: String,
    /// Whether PUBLIC may create in it.
    pub public_create: bool,
    /// Tables and views the readwrite and readonly roles lack their privileges on.
    pub ungranted_tables: i64,
    /// Who, other than the owner group role, owns tables and views there.
    pub other_owners: Vec<String>,
    /// How many tables and views they own.
    pub foreign_tables: i64,
    /// Whether default privileges for what the owner group creates are set.
    pub default_privileges: bool,
    /// Logins working in the database that connect through PUBLIC's CONNECT alone, and
    /// get CONNECT of their own before PUBLIC loses it.
    pub connecting_through_public: Vec<String>,
}

/// Logins that hold privileges or own objects in the current database and may connect to
/// it only because PUBLIC may (not superusers, not members of the group roles named by
/// parameters `$first`, `$first + 1` and `$first + 2`): a database made by hand, whose apps'
/// logins would be locked out when PUBLIC loses CONNECT.
fn connecting_through_public(first: usize) -> String {
    let (owner, rw, ro) = (first, first + 1, first + 2);
    format!(
        "SELECT r.rolname::text FROM pg_roles r, pg_database d \
         WHERE d.datname = current_database() \
           AND (d.datacl IS NULL OR EXISTS (SELECT FROM aclexplode(d.datacl) a WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')) \
           AND r.rolcanlogin AND NOT r.rolsuper \
           AND NOT EXISTS (SELECT FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
                           WHERE a.grantee = r.oid AND a.privilege_type = 'CONNECT') \
           AND NOT EXISTS (SELECT FROM pg_roles g WHERE g.rolname IN (${owner}, ${rw}, ${ro}) AND pg_has_role(r.oid, g.oid, 'MEMBER')) \
           AND EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = r.oid AND s.dbid = d.oid) \
         ORDER BY 1"
    )
}

/// The admin's view of the cluster. Connections open on first use and are capped at
/// `max_connections` across every database of the server.
pub struct Postgres {
    endpoint: PostgresEndpoint,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
    released: Notify,
    catalog: Mutex<Snapshot<Arc<Catalog>>>,
    facts: tokio::sync::OnceCell<ServerFacts>,
    trusted: tokio::sync::OnceCell<BTreeSet<String>>,
    /// Whether the issuer role is known to exist on the server this process talks to;
    /// forgotten when that server may have changed (a failover can lose its creation).
    issuer_role: std::sync::atomic::AtomicBool,
}

/// A connection kept open for reuse, still holding its permit.
type Idle = Leased;

/// A connection to one database, returned to the idle list when dropped through
/// [`Postgres::release`].
pub struct Leased {
    database: String,
    connection: PgConnection,
    /// The server process behind it, so it can be ended and its exit waited for.
    backend_pid: i32,
    permit: OwnedSemaphorePermit,
    /// When it was last given back: one idle for long is checked before it is reused.
    released_at: Instant,
}

impl std::ops::Deref for Leased {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl std::ops::DerefMut for Leased {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

impl Postgres {
    /// A client for `endpoint`; nothing connects yet.
    pub fn new(endpoint: PostgresEndpoint) -> Postgres {
        let permits = Arc::new(Semaphore::new(endpoint.max_connections.max(1) as usize));
        Postgres {
            endpoint,
            permits,
            idle: Mutex::new(Vec::new()),
            released: Notify::new(),
            catalog: Mutex::new(Snapshot::default()),
            facts: tokio::sync::OnceCell::new(),
            trusted: tokio::sync::OnceCell::new(),
            issuer_role: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The server's version and whether the admin login is a superuser, asked once per
    /// process.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn server_facts(&self) -> Result<ServerFacts, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let facts = self
            .facts
            .get_or_try_init(|| async {
                let (version, superuser): (i32, bool) = self
                    .with(&maintenance, |c| {
                        Box::pin(async move {
                            sqlx::query_as(
                                "SELECT current_setting('server_version_num')::int, \
                                        (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
                            )
                            .fetch_one(c)
                            .await
                        })
                    })
                    .await?;
                Ok::<ServerFacts, PostgresError>(ServerFacts {
                    version: u32::try_from(version).unwrap_or(0),
                    superuser,
                })
            })
            .await?;
        Ok(*facts)
    }

    /// The extensions the server marks `trusted` (any database owner may create them, and
    /// they reach nothing beyond the database), asked once per process.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn trusted_extensions(&self) -> Result<BTreeSet<String>, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let trusted = self
            .trusted
            .get_or_try_init(|| async {
                let names: Vec<String> = self
                    .with(&maintenance, |c| {
                        Box::pin(async move {
                            sqlx::query_scalar(
                                "SELECT DISTINCT name::text FROM pg_catalog.pg_available_extension_versions WHERE trusted",
                            )
                            .fetch_all(c)
                            .await
                        })
                    })
                    .await?;
                Ok::<_, PostgresError>(names.into_iter().collect())
            })
            .await?;
        Ok(trusted.clone())
    }

    /// `server_version_num` (150004 for 15.4), asked once per process.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn server_version(&self) -> Result<u32, PostgresError> {
        Ok(self.server_facts().await?.version)
    }

    /// Whether management logins need the issuer's functions ([`ISSUER_SCHEMA`]) here: the
    /// server is older than [`SCOPED_CREATEROLE_SINCE`], where `CREATEROLE` reaches every role.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn needs_issuer(&self) -> Result<bool, PostgresError> {
        Ok(self.server_version().await? < SCOPED_CREATEROLE_SINCE)
    }

    /// `host:port` of the primary.
    pub fn endpoint(&self) -> String {
        super::authority(&self.endpoint.host, self.endpoint.port)
    }

    fn options(&self, database: &str) -> PgConnectOptions {
        let mut o = PgConnectOptions::new()
            .host(&self.endpoint.host)
            .port(self.endpoint.port)
            .username(&self.endpoint.username)
            .database(database)
            .application_name(&format!("{APPLICATION_NAME}/{}", std::process::id()))
            .ssl_mode(self.endpoint.sslmode.parse().unwrap_or(PgSslMode::Prefer))
            // Admin statements are one-off DDL: no prepared-statement cache to go stale.
            .statement_cache_capacity(0)
            .options([
                // Tenants own schemas in their databases (`public`): a function or operator
                // they define there must never resolve in the provider's sessions, which
                // run as the platform's admin. Only the system catalog is searched, and
                // temporary objects last. (No spaces: the options string is not escaped.)
                ("search_path", "pg_catalog,pg_temp".to_owned()),
                ("statement_timeout", format!("{}ms", self.endpoint.deadline.timeout.as_millis())),
                ("lock_timeout", format!("{}ms", self.endpoint.lock_timeout.as_millis())),
                // A provider cut off mid-transaction (a partition, a killed process) must
                // not hold the DDL lock for every other stack: the server ends it.
                ("idle_in_transaction_session_timeout", format!("{}ms", self.endpoint.deadline.timeout.as_millis())),
            ]);
        if let Some(p) = &self.endpoint.password {
            o = o.password(p.expose());
        }
        o
    }

    /// A connection to `database`, reusing an idle one, within the connection cap.
    ///
    /// The cap holds as the server counts too: an idle connection evicted to make room is
    /// closed, and another idle connection watches pg_stat_activity until its server
    /// process has gone, before its permit opens a new one. (A close returns before the
    /// server is done, so without the wait the server would briefly list one too many.)
    ///
    /// # Errors
    /// [`PostgresError::Connect`] when the server cannot be reached or refuses the login.
    pub async fn connect(&self, database: &str) -> Result<Leased, PostgresError> {
        self.bounded(self.connect_unbounded(database)).await
    }

    /// Runs `operation` under the deadline.
    async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, PostgresError>>,
    ) -> Result<T, PostgresError> {
        match self.endpoint.deadline.run(operation).await {
            Ok(result) => result,
            Err(Interrupted::TimedOut(waited)) => Err(PostgresError::TimedOut { endpoint: self.endpoint(), waited }),
            Err(Interrupted::Stopped) => Err(PostgresError::Stopped),
        }
    }

    async fn connect_unbounded(&self, database: &str) -> Result<Leased, PostgresError> {
        enum Step {
            Reuse(Idle),
            Open(OwnedSemaphorePermit),
            Evict(Idle, Idle),
            Wait,
        }
        let permit = loop {
            // Registered before looking, so a release between the look and the wait is
            // not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let step = {
                let mut idle = self.idle.lock().await;
                if let Some(i) = idle.iter().position(|c| c.database == database) {
                    Step::Reuse(idle.swap_remove(i))
                } else if let Ok(p) = self.permits.clone().try_acquire_owned() {
                    Step::Open(p)
                } else if idle.len() >= 2 {
                    let victim = idle.remove(0);
                    let helper = idle.remove(0);
                    Step::Evict(victim, helper)
                } else if idle.len() == 1 && self.endpoint.max_connections <= 1 {
                    // No second connection to wait with: a plain close is all there is.
                    let only = idle.remove(0);
                    let _ = only.connection.close().await;
                    Step::Open(only.permit)
                } else {
                    // Every permit is in use, or one connection is idle with no peer to end
                    // it from: wait for a release or a free permit.
                    Step::Wait
                }
            };
            match step {
                Step::Reuse(mut reused) => {
                    // A connection idle for a while may have died with a restart or a
                    // failover: one round trip says so, and a dead one is replaced.
                    if reused.released_at.elapsed() < IDLE_CHECK_AFTER || reused.connection.ping().await.is_ok() {
                        return Ok(reused);
                    }
                    self.issuer_role.store(false, std::sync::atomic::Ordering::SeqCst);
                    break reused.permit;
                }
                Step::Open(p) => break p,
                Step::Evict(victim, mut helper) => {
                    let pid = victim.backend_pid;
                    let _ = victim.connection.close().await;
                    if wait_for_exit(&mut helper.connection, &[pid]).await.is_ok() {
                        self.release(helper).await;
                    }
                    break victim.permit;
                }
                Step::Wait => {
                    tokio::select! {
                        p = self.permits.clone().acquire_owned() => break p.expect("the semaphore is never closed"),
                        () = released => {}
                        // A caller holding a connection while asking for another would wait
                        // for itself: after a while, close the lone idle one plainly.
                        () = tokio::time::sleep(LONE_IDLE_GRACE) => {
                            let lone = self.idle.lock().await.pop();
                            if let Some(c) = lone {
                                let _ = c.connection.close().await;
                                break c.permit;
                            }
                        }
                    }
                }
            }
        };
        let options = self.options(database);
        let mut connection = retry::transient(
            || async {
                match PgConnection::connect_with(&options).await {
                    Ok(c) => Ok(c),
                    Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("3D000") => {
                        Err(self.missing_database(database).await)
                    }
                    Err(source) => Err(PostgresError::Connect { endpoint: self.endpoint(), source }),
                }
            },
            PostgresError::is_transient,
        )
        .await?;
        // Every change goes to the primary: during a failover the read-write address may
        // reach a replica for a while, where DDL would fail half way (SQLSTATE 25006).
        let (backend_pid, in_recovery): (i32, bool) = sqlx::query_as("SELECT pg_backend_pid(), pg_is_in_recovery()")
            .fetch_one(&mut connection)
            .await
            .map_err(sql)?;
        if in_recovery {
            let _ = connection.close().await;
            return Err(PostgresError::NotPrimary { endpoint: self.endpoint() });
        }
        Ok(Leased { database: database.to_owned(), connection, backend_pid, permit, released_at: Instant::now() })
    }

    /// Why `database` is missing: a replica in recovery lacks what the primary has not
    /// yet sent it ([`PostgresError::NotPrimary`], retried), a primary lacks what is gone.
    /// Asking takes one short connection beside the pool's count, only on this error.
    async fn missing_database(&self, database: &str) -> PostgresError {
        let gone = PostgresError::NoDatabase { database: database.to_owned(), endpoint: self.endpoint() };
        let Ok(mut c) = PgConnection::connect_with(&self.options(&self.endpoint.database)).await else { return gone };
        let in_recovery: Result<bool, _> = sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&mut c).await;
        let _ = c.close().await;
        match in_recovery {
            Ok(true) => PostgresError::NotPrimary { endpoint: self.endpoint() },
            _ => gone,
        }
    }

    /// Closes every idle connection without waiting: after a connection broke or its
    /// server stopped being the primary, the others went to the same server.
    async fn forget_idle(&self) {
        self.issuer_role.store(false, std::sync::atomic::Ordering::SeqCst);
        let idle = std::mem::take(&mut *self.idle.lock().await);
        let closing = idle.into_iter().map(|c| tokio::time::timeout(Duration::from_millis(200), c.connection.close()));
        futures::future::join_all(closing).await;
    }

    /// Ends our idle connections to `database` (they would block dropping or renaming it)
    /// and waits until the server has let them go.
    async fn close_idle_to(&self, database: &str) -> Result<(), PostgresError> {
        self.bounded(self.close_idle_to_unbounded(database)).await
    }

    async fn close_idle_to_unbounded(&self, database: &str) -> Result<(), PostgresError> {
        let mut helper = self.connect_unbounded(&self.endpoint.database).await?;
        let closing: Vec<Idle> = {
            let mut idle = self.idle.lock().await;
            let (to_db, others) = std::mem::take(&mut *idle).into_iter().partition(|c| c.database == database);
            *idle = others;
            to_db
        };
        let pids: Vec<i32> = closing.iter().map(|c| c.backend_pid).collect();
        for c in closing {
            let _ = c.connection.close().await;
        }
        match wait_for_exit(&mut helper.connection, &pids).await {
            Ok(_) => {
                self.release(helper).await;
                Ok(())
            }
            Err(e) => Err(sql(e)),
        }
    }

    /// Returns a healthy connection to the idle list.
    pub async fn release(&self, mut leased: Leased) {
        leased.released_at = Instant::now();
        self.idle.lock().await.push(leased);
        // Every waiter looks again: the one this connection suits may not be the first.
        self.released.notify_waiters();
    }

    /// Runs `work` on a connection to `database`, retrying transient faults, and returns
    /// the connection for reuse.
    async fn with<T, F>(&self, database: &str, work: F) -> Result<T, PostgresError>
    where
        F: for<'c> Fn(&'c mut PgConnection) -> futures::future::BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        self.bounded(retry::transient(
            || async {
                let mut c = self.connect_unbounded(database).await?;
                match work(&mut c).await {
                    Ok(v) => {
                        self.release(c).await;
                        Ok(v)
                    }
                    // A statement the server refused leaves the connection usable; one that
                    // broke it (I/O, protocol) is dropped, and the server has let it go.
                    Err(e) => {
                        // The server ending the session (a restart, a failover, a
                        // terminate) also arrives as a database error: not reusable.
                        // So does a session on a server that is no longer the primary
                        // (read_only_sql_transaction): and then every idle connection is
                        // to that same server, so none is kept.
                        let session_ended = matches!(&e, sqlx::Error::Database(db)
                            if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "25006"));
                        let reusable = matches!(
                            e,
                            sqlx::Error::Database(_) | sqlx::Error::RowNotFound | sqlx::Error::ColumnDecode { .. }
                        );
                        if reusable && !session_ended {
                            self.release(c).await;
                        } else {
                            self.forget_idle().await;
                        }
                        Err(sql(e))
                    }
                }
            },
            PostgresError::is_transient,
        ))
        .await
    }

    /// Every database and role, from one query; served from a snapshot for a few
    /// seconds so a refresh of many databases costs one round trip.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be read.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, PostgresError> {
        let mut snapshot = self.catalog.lock().await;
        if let Some(catalog) = snapshot.fresh(CATALOG_TTL) {
            return Ok(catalog);
        }
        let catalog = Arc::new(self.read_catalog(None, None).await?);
        snapshot.replace(catalog.clone());
        Ok(catalog)
    }

    /// What the catalog says of `databases` and `roles` (the rest is left out): from the
    /// snapshot while it is fresh, else read for just these names once this process has
    /// changed the catalog. An apply that creates many databases reads each one back after
    /// its DDL; reloading every database and role on the server each time made each create
    /// cost grow with the size of the server.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be read.
    pub async fn catalog_of(&self, databases: &[&str], roles: &[&str]) -> Result<Arc<Catalog>, PostgresError> {
        let changed = {
            let snapshot = self.catalog.lock().await;
            if let Some(catalog) = snapshot.fresh(CATALOG_TTL) {
                return Ok(catalog);
            }
            snapshot.changed()
        };
        if !changed {
            return self.catalog().await;
        }
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        Ok(Arc::new(self.read_catalog(Some(names(databases)), Some(names(roles))).await?))
    }

    /// Reads the catalog: every database and role, or (`Some`) only those named.
    async fn read_catalog(
        &self,
        databases: Option<Vec<String>>,
        roles: Option<Vec<String>>,
    ) -> Result<Catalog, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let rows = self
            .with(&maintenance, move |c| {
                let (databases, roles) = (databases.clone(), roles.clone());
                Box::pin(async move {
                    sqlx::query(
                        "SELECT 'd' AS kind, d.datname::text AS name, pg_get_userbyid(d.datdba)::text AS owner, d.datconnlimit AS connlimit, \
                                pg_encoding_to_char(d.encoding)::text AS encoding, d.datcollate::text AS collate, d.datctype::text AS ctype, \
                                shobj_description(d.oid, 'pg_database') AS comment, \
                                ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END \
                                      FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
                                      WHERE a.privilege_type = 'CONNECT') AS connect \
                         FROM pg_database d WHERE $1::text[] IS NULL OR d.datname = ANY($1) \
                         UNION ALL \
                         SELECT 'r', r.rolname::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM pg_roles r \
                         WHERE $2::text[] IS NULL OR r.rolname = ANY($2)",
                    )
                    .bind(databases)
                    .bind(roles)
                    .fetch_all(c)
                    .await
                })
            })
            .await?;
        let mut catalog = Catalog::default();
        for row in rows {
            let kind: String = row.get("kind");
            let name: String = row.get("name");
            if kind == "r" {
                catalog.roles.insert(name);
            } else {
                catalog.databases.insert(
                    name,
                    DatabaseInfo {
                        owner: row.get("owner"),
                        connection_limit: row.get("connlimit"),
                        encoding: row.get("encoding"),
                        lc_collate: row.get("collate"),
                        lc_ctype: row.get("ctype"),
                        comment: row.get("comment"),
                        connect: row.get::<Option<Vec<String>>, _>("connect").unwrap_or_default(),
                    },
                );
            }
        }
        Ok(catalog)
    }

    /// Marks the snapshot as out of date: this process changed the catalog.
    async fn invalidate(&self) {
        self.catalog.lock().await.mark_changed();
    }

    /// Creates the database, owned by `spec.roles.owner` (which must exist), and nothing
    /// else. A database that exists already is [`PostgresError::AlreadyExists`].
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn create_database(&self, spec: &NewDatabase) -> Result<(), PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let spec2 = spec.clone();
        let result = self
            .with(&maintenance, move |c| {
                let spec = spec2.clone();
                Box::pin(async move {
                    let statement: String = sqlx::query_scalar(
                        // format('%I', NULL) is an error, not NULL: optional clauses need CASE.
                        "SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text) \
                           || CASE WHEN $3::text IS NULL THEN '' ELSE format(' TEMPLATE %I', $3::text) END \
                           || CASE WHEN $4::text IS NULL THEN '' ELSE format(' ENCODING %L', $4::text) END \
                           || CASE WHEN $5::text IS NULL THEN '' ELSE format(' LC_COLLATE %L', $5::text) END \
                           || CASE WHEN $6::text IS NULL THEN '' ELSE format(' LC_CTYPE %L', $6::text) END \
                           || format(' CONNECTION LIMIT %s', $7::int)",
                    )
                    .bind(&spec.name)
                    .bind(&spec.roles.owner)
                    .bind(&spec.template)
                    .bind(&spec.encoding)
                    .bind(&spec.lc_collate)
                    .bind(&spec.lc_ctype)
                    .bind(spec.connection_limit)
                    .fetch_one(&mut *c)
                    .await?;
                    c.execute(statement.as_str()).await.map(drop)
                })
            })
            .await;
        self.invalidate().await;
        match result {
            Err(PostgresError::Sql(sqlx::Error::Database(db))) if db.code().as_deref() == Some("42P04") => {
                // A retry after an attempt whose answer was lost (a failover cut the
                // connection after the commit) finds the database that attempt made: owned
                // by the owner group this create has just made or taken as marked, and not
                // yet marked itself. Any other is someone else's.
                if self.made_unmarked(&spec.name, &spec.roles.owner).await? {
                    return Ok(());
                }
                Err(PostgresError::AlreadyExists(spec.name.clone()))
            }
            other => other,
        }
    }

    /// Whether `database` exists, owned by `owner`, with no comment (so no owner mark).
    async fn made_unmarked(&self, database: &str, owner: &str) -> Result<bool, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (database, owner) = (database.to_owned(), owner.to_owned());
        self.with(&maintenance, move |c| {
            let (database, owner) = (database.clone(), owner.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1 \
                       AND pg_get_userbyid(datdba) = $2 AND shobj_description(oid, 'pg_database') IS NULL)",
                )
                .bind(database)
                .bind(owner)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// Writes the owner mark on the database (`COMMENT ON DATABASE`).
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn mark_database(&self, database: &str, mark: &str) -> Result<(), PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (db, mark) = (database.to_owned(), mark.to_owned());
        self.with(&maintenance, move |c| {
            let (db, mark) = (db.clone(), mark.clone());
            Box::pin(async move {
                let s: String = sqlx::query_scalar("SELECT format('COMMENT ON DATABASE %I IS %L', $1::text, $2::text)")
                    .bind(&db)
                    .bind(&mark)
                    .fetch_one(&mut *c)
                    .await?;
                c.execute(s.as_str()).await.map(drop)
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// The database's comment; `None` when it has none (or the database does not exist).
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn database_comment(&self, database: &str) -> Result<Option<String>, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let db = database.to_owned();
        self.with(&maintenance, move |c| {
            let db = db.clone();
            Box::pin(async move {
                sqlx::query_scalar("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1")
                    .bind(&db)
                    .fetch_optional(&mut *c)
                    .await
                    .map(Option::flatten)
            })
        })
        .await
    }

    /// Sets the database's comment to `comment` if it still is `expected`, under the DDL
    /// lock of the database (compare-and-swap); false when it changed in between.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn swap_database_comment(
        &self,
        database: &str,
        expected: Option<&str>,
        comment: &str,
    ) -> Result<bool, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (db, expected, comment) = (database.to_owned(), expected.map(str::to_owned), comment.to_owned());
        let swapped = self
            .with(&maintenance, move |c| {
                let (db, expected, comment) = (db.clone(), expected.clone(), comment.clone());
                Box::pin(async move {
                    let mut tx = c.begin().await?;
                    lock_ddl(&mut tx, &db).await?;
                    let now: Option<Option<String>> = sqlx::query_scalar(
                        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                    )
                    .bind(&db)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if now.flatten() != expected {
                        return Ok(false);
                    }
                    let s: String =
                        sqlx::query_scalar("SELECT format('COMMENT ON DATABASE %I IS %L', $1::text, $2::text)")
                            .bind(&db)
                            .bind(&comment)
                            .fetch_one(&mut *tx)
                            .await?;
                    tx.execute(s.as_str()).await?;
                    tx.commit().await?;
                    Ok(true)
                })
            })
            .await?;
        self.invalidate().await;
        Ok(swapped)
    }

    /// Creates the missing group roles (owner, readwrite, readonly) of `database`, each
    /// NOLOGIN and marked with `mark`, under the DDL lock; returns those it created. With
    /// [`Existing::MustBeMarked`], an existing database is [`PostgresError::AlreadyExists`] and a role
    /// that exists without the mark is [`PostgresError::NotOurs`], and nothing is created:
    /// checked and created under one lock, so two stacks cannot both claim a name.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_group_roles(
        &self,
        database: &str,
        roles: &GroupRoles,
        mark: &str,
        if_exists: Existing,
    ) -> Result<Vec<String>, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let names = vec![roles.owner.clone(), roles.readwrite.clone(), roles.readonly.clone()];
        let (mark, db) = (mark.to_owned(), database.to_owned());
        let outcome = self
            .with(&maintenance, move |c| {
                let (names, mark, db) = (names.clone(), mark.clone(), db.clone());
                Box::pin(async move {
                    let mut tx = c.begin().await?;
                    lock_ddl(&mut tx, &db).await?;
                    if if_exists == Existing::MustBeMarked
                        && sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
                            .bind(&db)
                            .fetch_one(&mut *tx)
                            .await?
                    {
                        return Ok(Err(None));
                    }
                    let existing: Vec<(String, Option<String>)> = sqlx::query_as(
                        "SELECT rolname::text, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = ANY($1)",
                    )
                    .bind(&names)
                    .fetch_all(&mut *tx)
                    .await?;
                    let existing: BTreeMap<String, Option<String>> = existing.into_iter().collect();
                    if if_exists == Existing::MustBeMarked
                        && let Some((role, comment)) =
                            existing.iter().find(|(_, comment)| comment.as_deref() != Some(mark.as_str()))
                    {
                        return Ok(Err(Some((role.clone(), comment.clone()))));
                    }
                    let created: Vec<String> = names.iter().filter(|n| !existing.contains_key(*n)).cloned().collect();
                    let unmarked: Vec<String> = names
                        .iter()
                        .filter(|n| existing.get(*n).is_none_or(|c| c.as_deref() != Some(mark.as_str())))
                        .cloned()
                        .collect();
                    // A team's own admin login (16+, no superuser) must be able to act as
                    // the owner group: to create the database owned by it and to grant in it.
                    let statements: Vec<String> = sqlx::query_scalar(
                        "SELECT s FROM ( \
                            SELECT 1 AS step, format('CREATE ROLE %I NOLOGIN', n) AS s FROM unnest($1::text[]) n \
                            UNION ALL \
                            SELECT 2, format('COMMENT ON ROLE %I IS %L', n, $3::text) FROM unnest($2::text[]) n \
                            UNION ALL \
                            SELECT 3, format('GRANT %I TO CURRENT_USER WITH INHERIT TRUE, SET TRUE', $4::text) \
                             WHERE current_setting('server_version_num')::int >= 160000 \
                               AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                         ) q ORDER BY step",
                    )
                    .bind(&created)
                    .bind(&unmarked)
                    .bind(&mark)
                    .bind(&names[0])
                    .fetch_all(&mut *tx)
                    .await?;
                    execute_all(&mut tx, &statements).await?;
                    tx.commit().await?;
                    Ok(Ok(created))
                })
            })
            .await?;
        self.invalidate().await;
        outcome.map_err(|taken| match taken {
            None => PostgresError::AlreadyExists(database.to_owned()),
            Some((role, comment)) => PostgresError::NotOurs { role, comment },
        })
    }

    /// Makes the owner group role the database's owner, and grants the group roles what
    /// they need, in the database and on it: CONNECT, schema
    /// USAGE, privileges on existing tables and sequences, and default privileges for
    /// objects the owner role creates later. PUBLIC loses CONNECT and CREATE; the pooler's
    /// auth user, when it exists, keeps CONNECT. Before PostgreSQL 16, also the issuer's
    /// functions ([`ISSUER_SCHEMA`]) through which the management login works there.
    /// Idempotent.
    ///
    /// # Errors
    /// [`PostgresError::ForeignSchema`] when someone else made the issuer's schema first;
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_privileges(&self, database: &str, roles: &GroupRoles) -> Result<(), PostgresError> {
        let issuer = self.needs_issuer().await?;
        if issuer {
            self.ensure_issuer_role().await?;
        }
        let roles = roles.clone();
        let db = database.to_owned();
        let pooler = self.endpoint.pooler_auth_user.clone();
        let foreign = self
            .with(database, move |c| {
            let (roles, db, pooler) = (roles.clone(), db.clone(), pooler.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &db).await?;
                if issuer && let Some(owner) = install_issuer(&mut tx).await? {
                    return Ok(Some(owner));
                }
                // A database made by hand changes hands to the owner group role, as one the
                // provider creates is owned: grants on it then name that role as grantor, so the
                // management login can revoke them when Vault drops a user issued before the
                // provider. A previous owner that is no superuser joins the group, keeping
                // what it could do.
                let sql = format!(
                    "WITH d AS (SELECT r.rolname, r.rolsuper FROM pg_database db JOIN pg_roles r ON r.oid = db.datdba \
                                WHERE db.datname = $1::text) \
                     SELECT unnest(ARRAY[ \
                        (SELECT CASE WHEN d.rolname <> $2::text AND NOT d.rolsuper \
                                     THEN format('GRANT %I TO %I', $2::text, d.rolname) END FROM d), \
                        (SELECT CASE WHEN d.rolname <> $2::text \
                                     THEN format('ALTER DATABASE %I OWNER TO %I', $1::text, $2::text) END FROM d), \
                        (SELECT format('GRANT CONNECT ON DATABASE %I TO %s', $1::text, string_agg(quote_ident(x.rolname), ', ')) \
                         FROM ({through_public}) x(rolname) HAVING count(*) > 0), \
                        format('REVOKE CONNECT, CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', $1::text), \
                        format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I, %I', $1::text, $3::text, $4::text), \
                        format('ALTER SCHEMA public OWNER TO %I', $2::text), \
                        'REVOKE CREATE ON SCHEMA public FROM PUBLIC', \
                        format('GRANT USAGE ON SCHEMA public TO %I, %I', $3::text, $4::text), \
                        format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', $3::text), \
                        format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', $3::text), \
                        format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', $4::text), \
                        format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', $4::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', $2::text, $3::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', $2::text, $3::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I', $2::text, $4::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON SEQUENCES TO %I', $2::text, $4::text), \
                        CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = $5::text) \
                             THEN format('GRANT CONNECT ON DATABASE %I TO %I', $1::text, $5::text) END \
                    ]) AS s",
                    through_public = connecting_through_public(2),
                );
                let statements: Vec<Option<String>> = sqlx::query_scalar(&sql)
                .bind(&db)
                .bind(&roles.owner)
                .bind(&roles.readwrite)
                .bind(&roles.readonly)
                .bind(&pooler)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                tx.commit().await?;
                Ok(None)
            })
        })
        .await?;
        match foreign {
            None => Ok(()),
            Some(owner) => {
                Err(PostgresError::ForeignSchema { schema: ISSUER_SCHEMA, database: database.to_owned(), owner })
            }
        }
    }

    /// Sets the connection limit (`-1`: none).
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn set_connection_limit(&self, database: &str, limit: i32) -> Result<(), PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let db = database.to_owned();
        self.with(&maintenance, move |c| {
            let db = db.clone();
            Box::pin(async move {
                let s: String =
                    sqlx::query_scalar("SELECT format('ALTER DATABASE %I CONNECTION LIMIT %s', $1::text, $2::int)")
                        .bind(&db)
                        .bind(limit)
                        .fetch_one(&mut *c)
                        .await?;
                c.execute(s.as_str()).await.map(drop)
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// How far `database`'s schema `public` is from what [`Postgres::ensure_privileges`]
    /// makes it: what an apply would change in a database made by hand, for its plan.
    ///
    /// # Errors
    /// [`PostgresError`] when the database cannot be read.
    pub async fn privilege_gaps(&self, database: &str, roles: &GroupRoles) -> Result<PrivilegeGaps, PostgresError> {
        let r = roles.clone();
        let row = self
            .with(database, move |c| {
                let r = r.clone();
                Box::pin(async move {
                    sqlx::query(&format!(
                        "WITH rw AS (SELECT oid FROM pg_roles WHERE rolname = $2), ro AS (SELECT oid FROM pg_roles WHERE rolname = $3), \
                              t AS (SELECT c.oid, pg_get_userbyid(c.relowner)::text AS owner FROM pg_class c \
                                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) \
                         SELECT (SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()) AS database_owner, \
                                (SELECT r.rolsuper FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = current_database()) AS database_owner_is_superuser, \
                                (SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'public') AS public_owner, \
                                EXISTS (SELECT FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a \
                                        WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE') AS public_create, \
                                (SELECT count(*) FROM t WHERE NOT EXISTS (SELECT FROM rw) \
                                    OR NOT has_table_privilege((SELECT oid FROM rw), t.oid, 'SELECT, INSERT, UPDATE, DELETE') \
                                    OR NOT EXISTS (SELECT FROM ro) OR NOT has_table_privilege((SELECT oid FROM ro), t.oid, 'SELECT')) AS ungranted, \
                                ARRAY(SELECT owner FROM t WHERE owner <> $1 GROUP BY owner ORDER BY owner) AS other_owners, \
                                (SELECT count(*) FROM t WHERE owner <> $1) AS foreign_tables, \
                                EXISTS (SELECT FROM pg_default_acl d JOIN pg_roles o ON o.oid = d.defaclrole \
                                        WHERE o.rolname = $1 AND d.defaclnamespace = 'public'::regnamespace AND d.defaclobjtype = 'r') AS defaults, \
                                ARRAY({}) AS through_public",
                        connecting_through_public(1)
                    ))
                    .bind(&r.owner)
                    .bind(&r.readwrite)
                    .bind(&r.readonly)
                    .fetch_one(c)
                    .await
                })
            })
            .await?;
        Ok(PrivilegeGaps {
            database_owner: row.get::<Option<String>, _>("database_owner").unwrap_or_default(),
            database_owner_is_superuser: row.get::<Option<bool>, _>("database_owner_is_superuser").unwrap_or(false),
            public_owner: row.get::<Option<String>, _>("public_owner").unwrap_or_default(),
            public_create: row.get("public_create"),
            ungranted_tables: row.get("ungranted"),
            other_owners: row.get::<Option<Vec<String>>, _>("other_owners").unwrap_or_default(),
            foreign_tables: row.get("foreign_tables"),
            default_privileges: row.get("defaults"),
            // The pooler's auth user keeps CONNECT anyway.
            connecting_through_public: row
                .get::<Option<Vec<String>>, _>("through_public")
                .unwrap_or_default()
                .into_iter()
                .filter(|login| Some(login) != self.endpoint.pooler_auth_user.as_ref())
                .collect(),
        })
    }

    /// Every extension installed in `database`, `plpgsql` (there from the start) included.
    ///
    /// # Errors
    /// [`PostgresError`] when the database cannot be read.
    pub async fn extensions(&self, database: &str) -> Result<BTreeSet<String>, PostgresError> {
        let names: Vec<String> = self
            .with(database, |c| {
                Box::pin(async move { sqlx::query_scalar("SELECT extname::text FROM pg_extension").fetch_all(c).await })
            })
            .await?;
        Ok(names.into_iter().collect())
    }

    /// Creates and drops extensions. Dropping never cascades: an extension something
    /// depends on stays, and the error says what.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn change_extensions(
        &self,
        database: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), PostgresError> {
        let (add, remove) = (add.to_vec(), remove.to_vec());
        self.with(database, move |c| {
            let (add, remove) = (add.clone(), remove.clone());
            Box::pin(async move {
                for e in &add {
                    // The session's search path is the system catalog alone, where no
                    // extension belongs: it goes to `public`, as with the server's default
                    // path, unless its control file names its own schema.
                    let s: String = sqlx::query_scalar(
                        "SELECT format('CREATE EXTENSION IF NOT EXISTS %I', $1::text) \
                           || CASE WHEN EXISTS (SELECT FROM pg_available_extension_versions \
                                                 WHERE name = $1 AND schema IS NOT NULL) \
                                   THEN '' ELSE ' SCHEMA public' END",
                    )
                    .bind(e)
                    .fetch_one(&mut *c)
                    .await?;
                    c.execute(s.as_str()).await?;
                }
                for e in &remove {
                    let s: String =
                        sqlx::query_scalar("SELECT format('DROP EXTENSION IF EXISTS %I RESTRICT', $1::text)")
                            .bind(e)
                            .fetch_one(&mut *c)
                            .await?;
                    c.execute(s.as_str()).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Creates (or resets the password of) the management login Vault uses: LOGIN, marked
    /// with `mark`, with ADMIN OPTION on the database's group roles, and the system catalog
    /// as its only search path (Vault's sessions run in the tenant's database, where the
    /// tenant owns `public`). `CREATEROLE` from PostgreSQL 16 on, where it reaches only the
    /// roles the login holds ADMIN on; before 16 it would reach every role on the server,
    /// so the login gets none and goes through [`Postgres::ensure_issuer`]'s functions.
    /// Returns whether it created the login. With [`Existing::MustBeMarked`], an existing login
    /// without the mark is [`PostgresError::NotOurs`] and is left as it is.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_management_login(
        &self,
        database: &str,
        roles: &GroupRoles,
        password: &Secret,
        mark: &str,
        if_exists: Existing,
    ) -> Result<bool, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        // Only the verifier reaches the server: no statement log can hold the password.
        let password = super::password::scram_sha_256_verifier(password);
        let createrole = if self.needs_issuer().await? { "NOCREATEROLE" } else { "CREATEROLE" };
        let (r, mark, db) = (roles.clone(), mark.to_owned(), database.to_owned());
        let outcome = self
            .with(&maintenance, move |c| {
                let (r, password, mark, db) = (r.clone(), password.clone(), mark.clone(), db.clone());
                Box::pin(async move {
                    let mut tx = c.begin().await?;
                    lock_ddl(&mut tx, &db).await?;
                    let existing: Option<Option<String>> = sqlx::query_scalar(
                        "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
                    )
                    .bind(&r.management)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if if_exists == Existing::MustBeMarked
                        && let Some(comment) = &existing
                        && comment.as_deref() != Some(mark.as_str())
                    {
                        return Ok(Err(comment.clone()));
                    }
                    let statements: Vec<Option<String>> = sqlx::query_scalar(
                        "SELECT unnest(ARRAY[ \
                            CASE WHEN $6 \
                                 THEN format('ALTER ROLE %I WITH LOGIN %s PASSWORD %L', $1::text, $8::text, $5::text) \
                                 ELSE format('CREATE ROLE %I WITH LOGIN %s PASSWORD %L', $1::text, $8::text, $5::text) END, \
                            format('COMMENT ON ROLE %I IS %L', $1::text, $7::text), \
                            format('ALTER ROLE %I SET search_path TO pg_catalog, pg_temp', $1::text), \
                            format('GRANT %I, %I, %I TO %I WITH ADMIN OPTION', $2::text, $3::text, $4::text, $1::text), \
                            CASE WHEN current_setting('server_version_num')::int >= 160000 \
                                  AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                                 THEN format('GRANT %I TO CURRENT_USER WITH INHERIT TRUE, SET TRUE', $1::text) END \
                        ])",
                    )
                    .bind(&r.management)
                    .bind(&r.owner)
                    .bind(&r.readwrite)
                    .bind(&r.readonly)
                    .bind(password.expose())
                    .bind(existing.is_some())
                    .bind(&mark)
                    .bind(createrole)
                    .fetch_all(&mut *tx)
                    .await?;
                    execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                    tx.commit().await?;
                    Ok(Ok(existing.is_none()))
                })
            })
            .await?;
        self.invalidate().await;
        outcome.map_err(|comment| PostgresError::NotOurs { role: roles.management.clone(), comment })
    }

    /// Whether the management login is as [`Postgres::ensure_management_login`] makes it on
    /// this server: `CREATEROLE` exactly from PostgreSQL 16 on, and the pinned search path.
    /// One made by an older version of the provider is not, and an update puts it right.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn management_login_current(&self, login: &str) -> Result<bool, PostgresError> {
        let createrole = !self.needs_issuer().await?;
        let maintenance = self.endpoint.database.clone();
        let login = login.to_owned();
        let current: Option<bool> = self
            .with(&maintenance, move |c| {
                let login = login.clone();
                Box::pin(async move {
                    sqlx::query_scalar(
                        "SELECT r.rolcanlogin AND r.rolcreaterole = $2 AND EXISTS (SELECT FROM pg_db_role_setting s \
                           WHERE s.setrole = r.oid AND s.setdatabase = 0 \
                             AND 'search_path=pg_catalog, pg_temp' = ANY (s.setconfig)) \
                         FROM pg_roles r WHERE r.rolname = $1",
                    )
                    .bind(login)
                    .bind(createrole)
                    .fetch_optional(c)
                    .await
                })
            })
            .await?;
        Ok(current.unwrap_or(false))
    }

    /// PostgreSQL 15 and older: makes sure [`ISSUER_ROLE`] exists (NOLOGIN CREATEROLE, made
    /// once per server), asked once per process.
    async fn ensure_issuer_role(&self) -> Result<(), PostgresError> {
        use std::sync::atomic::Ordering;
        if self.issuer_role.load(Ordering::SeqCst) {
            return Ok(());
        }
        let maintenance = self.endpoint.database.clone();
        self.with(&maintenance, |c| {
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, ISSUER_ROLE).await?;
                let statement: Option<String> = sqlx::query_scalar(
                    "SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) \
                                         THEN format('CREATE ROLE %I NOLOGIN CREATEROLE', $1::text) END",
                )
                .bind(ISSUER_ROLE)
                .fetch_one(&mut *tx)
                .await?;
                execute_all(&mut tx, &statement.into_iter().collect::<Vec<_>>()).await?;
                tx.commit().await
            })
        })
        .await?;
        self.issuer_role.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Creates missing group roles and (re)grants their privileges: what an update does to
    /// put back anything removed outside Terraform. The roles are in state, so they are
    /// marked as this database's if they are not yet.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn create_group_roles_and_privileges(
        &self,
        database: &str,
        roles: &GroupRoles,
        mark: &str,
    ) -> Result<(), PostgresError> {
        self.ensure_group_roles(database, roles, mark, Existing::Ours).await?;
        self.ensure_privileges(database, roles).await
    }

    /// Creates or puts right a login for a static role at privilege level `level`: LOGIN,
    /// member of the level's group role and of no other of `roles`' groups, and for `owner`
    /// `SET role` to the owner group (so what it creates belongs to the group), else no such
    /// setting. The password is set only with `password`: an existing login keeps the one
    /// Vault rotated.
    ///
    /// The login is marked [`STATIC_LOGIN_MARK`] with its database: before PostgreSQL 16
    /// that mark is what lets the management login's issuer set its password.
    ///
    /// From PostgreSQL 16 on, changing another role's password needs the ADMIN option on
    /// it, which the server grants no one else: the database's management login (when it
    /// exists) gets ADMIN on the login, without its privileges (no INHERIT, no SET), so
    /// Vault can rotate it and the management login still reaches only its own database's
    /// logins.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_login(
        &self,
        database: &str,
        login: &str,
        password: Option<&Secret>,
        roles: &GroupRoles,
        level: &str,
    ) -> Result<(), PostgresError> {
        let group = roles.for_level(level);
        let groups = [&roles.owner, &roles.readwrite, &roles.readonly];
        let act_as = (level == "owner").then_some(roles.owner.as_str());
        let rotator = roles.management.as_str();
        let maintenance = self.endpoint.database.clone();
        let others: Vec<String> = groups.iter().filter(|g| **g != group).map(|g| (*g).clone()).collect();
        let password = password.map(super::password::scram_sha_256_verifier);
        let (login, group, act_as, login_database, rotator) =
            (login.to_owned(), group.to_owned(), act_as.map(str::to_owned), database.to_owned(), rotator.to_owned());
        self.with(&maintenance, move |c| {
            let (login, group, act_as, password, others, login_database, rotator) = (
                login.clone(),
                group.clone(),
                act_as.clone(),
                password.clone(),
                others.clone(),
                login_database.clone(),
                rotator.clone(),
            );
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &login_database).await?;
                let statements: Vec<Option<String>> = sqlx::query_scalar(
                    "SELECT unnest(ARRAY[ \
                        CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) \
                             THEN format('CREATE ROLE %I WITH LOGIN PASSWORD %L', $1::text, $4::text) \
                             WHEN $4::text IS NOT NULL \
                             THEN format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $4::text) \
                             ELSE format('ALTER ROLE %I WITH LOGIN', $1::text) END, \
                        format('GRANT %I TO %I', $2::text, $1::text), \
                        format('COMMENT ON ROLE %I IS %L', $1::text, $7::text || $8::text), \
                        CASE WHEN $3::text IS NOT NULL THEN format('ALTER ROLE %I SET role = %L', $1::text, $3::text) \
                             ELSE format('ALTER ROLE %I RESET role', $1::text) END, \
                        CASE WHEN current_setting('server_version_num')::int >= 160000 \
                              AND EXISTS (SELECT FROM pg_roles WHERE rolname = $6) \
                             THEN format('GRANT %I TO %I WITH ADMIN TRUE, INHERIT FALSE, SET FALSE', $1::text, $6::text) END \
                    ]) UNION ALL \
                    SELECT format('REVOKE %I FROM %I', g.rolname, $1::text) FROM pg_auth_members m \
                      JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member \
                     WHERE r.rolname = $1 AND g.rolname = ANY($5)",
                )
                .bind(&login)
                .bind(&group)
                .bind(&act_as)
                .bind(password.as_ref().map(Secret::expose))
                .bind(&others)
                .bind(&rotator)
                .bind(STATIC_LOGIN_MARK)
                .bind(&login_database)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Marks `login` as a static login of `database` ([`STATIC_LOGIN_MARK`]), as
    /// [`Postgres::ensure_login`] does, changing nothing else.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn mark_static_login(&self, database: &str, login: &str) -> Result<(), PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (login, database) = (login.to_owned(), database.to_owned());
        self.with(&maintenance, move |c| {
            let (login, database) = (login.clone(), database.clone());
            Box::pin(async move {
                let statement: Option<String> = sqlx::query_scalar(
                    "SELECT format('COMMENT ON ROLE %I IS %L', rolname, $2::text || $3::text) FROM pg_roles WHERE rolname = $1",
                )
                .bind(&login)
                .bind(STATIC_LOGIN_MARK)
                .bind(&database)
                .fetch_optional(&mut *c)
                .await?;
                execute_all(c, &statement.into_iter().collect::<Vec<_>>()).await
            })
        })
        .await
    }

    /// Whether `login` exists and is marked as a static login of `database`
    /// ([`STATIC_LOGIN_MARK`]; only an admin can set a role's comment). Read now.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn is_static_login_of(&self, database: &str, login: &str) -> Result<bool, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (login, mark) = (login.to_owned(), format!("{STATIC_LOGIN_MARK}{database}"));
        self.with(&maintenance, move |c| {
            let (login, mark) = (login.clone(), mark.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1 AND shobj_description(oid, 'pg_authid') = $2)",
                )
                .bind(login)
                .bind(mark)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// Whether a role named `name` exists (read now, not from the snapshot).
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn role_exists(&self, name: &str) -> Result<bool, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let name = name.to_owned();
        self.with(&maintenance, move |c| {
            let name = name.clone();
            Box::pin(async move {
                sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
                    .bind(name)
                    .fetch_one(c)
                    .await
            })
        })
        .await
    }

    /// The roles `login` is a direct member of.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn memberships(&self, login: &str) -> Result<Vec<String>, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let login = login.to_owned();
        self.with(&maintenance, move |c| {
            let login = login.clone();
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                     JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1",
                )
                .bind(login)
                .fetch_all(c)
                .await
            })
        })
        .await
    }

    /// The databases where `login` holds privileges or owns objects (on the database
    /// itself, or on anything in it): where a login made by hand does its work.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn databases_of_login(&self, login: &str) -> Result<Vec<String>, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let login = login.to_owned();
        self.with(&maintenance, move |c| {
            let login = login.clone();
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT DISTINCT d.datname::text FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid \
                       JOIN pg_database d ON d.oid = s.dbid \
                        OR (s.classid = 'pg_database'::regclass AND d.oid = s.objid) \
                     WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = $1 ORDER BY 1",
                )
                .bind(login)
                .fetch_all(c)
                .await
            })
        })
        .await
    }

    /// Why `database`'s management login may not be given `login` to rotate, or `None`
    /// when it may: a login with no role attributes, a member of nothing but the database's
    /// group roles, no role's group but the management login's ADMIN, holding privileges or
    /// objects in or on `database` and nowhere else. Rotating its password then reaches
    /// nothing beyond the database.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn login_outside(
        &self,
        database: &str,
        login: &str,
        roles: &GroupRoles,
    ) -> Result<Option<String>, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (database, login, r) = (database.to_owned(), login.to_owned(), roles.clone());
        self.with(&maintenance, move |c| {
            let (database, login, r) = (database.clone(), login.clone(), r.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "WITH l AS (SELECT * FROM pg_roles WHERE rolname = $1), \
                          db AS (SELECT oid FROM pg_database WHERE datname = $2) \
                     SELECT CASE \
                       WHEN NOT EXISTS (SELECT FROM l) THEN 'no such login' \
                       WHEN (SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls FROM l) \
                         THEN 'role attributes (superuser, createrole, createdb, replication or bypassrls)' \
                       WHEN EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                                    WHERE m.member = (SELECT oid FROM l) AND g.rolname NOT IN ($3, $4, $5)) \
                         THEN (SELECT format('membership of %s', string_agg(quote_ident(g.rolname), ', ')) \
                               FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                               WHERE m.member = (SELECT oid FROM l) AND g.rolname NOT IN ($3, $4, $5)) \
                       WHEN EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles x ON x.oid = m.member \
                                    WHERE m.roleid = (SELECT oid FROM l) AND x.rolname <> $6) \
                         THEN 'members of its own' \
                       WHEN EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass \
                                    AND s.refobjid = (SELECT oid FROM l) AND s.deptype IN ('a', 'o') \
                                    AND s.dbid <> (SELECT oid FROM db) \
                                    AND NOT (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db))) \
                         THEN 'privileges or objects in another database' \
                     END",
                )
                .bind(&login)
                .bind(&database)
                .bind(&r.owner)
                .bind(&r.readwrite)
                .bind(&r.readonly)
                .bind(&r.management)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// Logins that look Vault-issued (`v-...`) and whose `VALID UNTIL` (which Vault sets
    /// to the lease's expiry, and moves on renewal) has passed, so no lease holds them: users
    /// never dropped. Those of `group`, and those granted privileges on `database` itself,
    /// as hand-written Vault roles from before the provider do (`GRANT ALL PRIVILEGES ON
    /// DATABASE ...`).
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn expired_vault_users(&self, group: &str, database: &str) -> Result<Vec<String>, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (group, database) = (group.to_owned(), database.to_owned());
        self.with(&maintenance, move |c| {
            let (group, database) = (group.clone(), database.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT r.rolname::text FROM pg_roles r \
                     WHERE r.rolname LIKE 'v-%' AND r.rolcanlogin \
                       AND r.rolvaliduntil IS NOT NULL AND r.rolvaliduntil < now() \
                       AND (EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                                    WHERE m.member = r.oid AND g.rolname = $1) \
                            OR EXISTS (SELECT FROM pg_database d, aclexplode(d.datacl) a \
                                       WHERE d.datname = $2 AND a.grantee = r.oid)) \
                     ORDER BY 1",
                )
                .bind(group)
                .bind(database)
                .fetch_all(c)
                .await
            })
        })
        .await
    }

    /// Logins a Vault role made before the provider issued for `database` (its own SQL, run
    /// by a shared connection): `v-...` logins with no role attributes, members of nothing
    /// but the database's group roles, holding privileges or objects in or on `database`
    /// and nowhere else. Each comes with what keeps the management login from dropping it
    /// when Vault revokes its lease: a privilege whose grantor is neither the owner group
    /// nor the user itself (REVOKE by the management login would leave it), on an object
    /// named in the reason. Grants by the database's or schema `public`'s present owner do
    /// not block: adopting the database gives both to the owner group, and their grants with
    /// them. [`Postgres::hand_over_users`] takes those with none.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn users_issued_before(
        &self,
        database: &str,
        roles: &GroupRoles,
    ) -> Result<Vec<(String, Option<String>)>, PostgresError> {
        let r = roles.clone();
        self.with(database, move |c| {
            let r = r.clone();
            Box::pin(async move {
                let rows = sqlx::query(
                    "WITH db AS (SELECT oid FROM pg_database WHERE datname = current_database()), \
                          grp AS (SELECT oid FROM pg_roles WHERE rolname IN ($1, $2, $3)), \
                          users AS ( \
                            SELECT r.oid, r.rolname FROM pg_roles r \
                            WHERE r.rolname LIKE 'v-%' AND r.rolcanlogin AND NOT r.rolsuper AND NOT r.rolcreaterole \
                              AND NOT r.rolcreatedb AND NOT r.rolreplication AND NOT r.rolbypassrls \
                              AND NOT EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid \
                                              AND m.roleid NOT IN (SELECT oid FROM grp)) \
                              AND NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles x ON x.oid = m.member \
                                              WHERE m.roleid = r.oid AND x.rolname <> $4) \
                              AND EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass \
                                          AND s.refobjid = r.oid \
                                          AND (s.dbid = (SELECT oid FROM db) \
                                               OR (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db)))) \
                              AND NOT EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass \
                                              AND s.refobjid = r.oid AND s.deptype IN ('a', 'o') \
                                              AND s.dbid <> (SELECT oid FROM db) \
                                              AND NOT (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db)))), \
                          acl AS ( \
                            SELECT u.oid AS member, format('table %s', c.oid::regclass) AS what, a.grantor FROM users u, pg_class c, aclexplode(c.relacl) a WHERE a.grantee = u.oid \
                            UNION ALL SELECT u.oid, format('schema %I', n.nspname), a.grantor FROM users u, pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = u.oid \
                            UNION ALL SELECT u.oid, format('function %s', p.oid::regprocedure), a.grantor FROM users u, pg_proc p, aclexplode(p.proacl) a WHERE a.grantee = u.oid \
                            UNION ALL SELECT u.oid, format('database %I', d.datname), a.grantor FROM users u, pg_database d, aclexplode(d.datacl) a \
                                      WHERE a.grantee = u.oid AND d.oid = (SELECT oid FROM db)) \
                     SELECT u.rolname::text AS name, \
                            (SELECT format('%s, granted by %I', acl.what, pg_get_userbyid(acl.grantor)) FROM acl \
                             WHERE acl.member = u.oid AND acl.grantor <> u.oid \
                               AND acl.grantor IS DISTINCT FROM (SELECT oid FROM pg_roles WHERE rolname = $1) \
                               AND NOT (acl.what LIKE 'database %' \
                                        AND acl.grantor = (SELECT datdba FROM pg_database WHERE oid = (SELECT oid FROM db))) \
                               AND NOT (acl.what = 'schema public' \
                                        AND acl.grantor = (SELECT nspowner FROM pg_namespace WHERE nspname = 'public')) \
                             ORDER BY 1 LIMIT 1) AS blocked \
                     FROM users u ORDER BY 1",
                )
                .bind(&r.owner)
                .bind(&r.readwrite)
                .bind(&r.readonly)
                .bind(&r.management)
                .fetch_all(c)
                .await?;
                Ok(rows.into_iter().map(|row| (row.get("name"), row.get("blocked"))).collect())
            })
        })
        .await
    }

    /// Hands `users` (from [`Postgres::users_issued_before`], with nothing blocking them)
    /// to `database`'s management login, so Vault's revocation through it drops them: each
    /// is marked as issued for the database (what the issuer's `drop_user` checks before
    /// PostgreSQL 16), and from 16 on the login gets ADMIN on it, without its privileges.
    /// What each user may do does not change, nor do its sessions.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn hand_over_users(
        &self,
        database: &str,
        roles: &GroupRoles,
        users: &[String],
    ) -> Result<(), PostgresError> {
        if users.is_empty() {
            return Ok(());
        }
        let (db, management, users) = (database.to_owned(), roles.management.clone(), users.to_vec());
        let maintenance = self.endpoint.database.clone();
        self.with(&maintenance, move |c| {
            let (db, management, users) = (db.clone(), management.clone(), users.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                let statements: Vec<Option<String>> = sqlx::query_scalar(
                    "SELECT s FROM unnest($1::text[]) AS u(name), LATERAL unnest(ARRAY[ \
                        format('COMMENT ON ROLE %I IS %L', u.name, 'issued by Vault for database ' || $2::text), \
                        CASE WHEN current_setting('server_version_num')::int >= 160000 \
                             THEN format('GRANT %I TO %I WITH ADMIN OPTION, INHERIT FALSE, SET FALSE', u.name, $3::text) END \
                     ]) AS s",
                )
                .bind(&users)
                .bind(&db)
                .bind(&management)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                tx.commit().await
            })
        })
        .await
    }

    /// Drops a login after handing whatever it owns in `database` to the owner group.
    ///
    /// `REASSIGN OWNED` and `DROP OWNED` need the privileges of the login. A superuser has
    /// them; a team's own admin login (PostgreSQL 16+, `CREATEROLE` without superuser) has
    /// them for the logins it made, but not for users Vault issued through the management
    /// login, which alone holds ADMIN on those: for them the admin acts as the management
    /// login (`SET LOCAL ROLE`, which the admin may for a role it created with
    /// `createrole_self_grant = 'set, inherit'`), as Vault's own revocation does.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn drop_login(&self, database: &str, login: &str, roles: &GroupRoles) -> Result<(), PostgresError> {
        let (login, heir, management) = (login.to_owned(), roles.owner.clone(), roles.management.clone());
        self.with(database, move |c| {
            let (login, heir, management) = (login.clone(), heir.clone(), management.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                let statements: Vec<String> = sqlx::query_scalar(
                    "WITH target AS (SELECT rolname FROM pg_roles WHERE rolname = $1), \
                          act AS (SELECT NOT pg_has_role($1, 'USAGE') \
                                         AND EXISTS (SELECT FROM pg_roles WHERE rolname = $3) \
                                         AND CASE WHEN current_setting('server_version_num')::int >= 160000 \
                                                  THEN pg_has_role($3, 'SET') ELSE false END AS via_management) \
                     SELECT s FROM target, act, LATERAL unnest(ARRAY[ \
                         CASE WHEN via_management THEN format('SET LOCAL ROLE %I', $3::text) END, \
                         CASE WHEN via_management THEN format('GRANT %I TO %I', $1::text, $3::text) END, \
                         format('REASSIGN OWNED BY %I TO %I', $1::text, $2::text), \
                         format('DROP OWNED BY %I', $1::text), \
                         format('DROP ROLE %I', $1::text) \
                     ]) WITH ORDINALITY AS t(s, i) WHERE s IS NOT NULL ORDER BY i",
                )
                .bind(&login)
                .bind(&heir)
                .bind(&management)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// How many clients are connected to `database`, not counting the provider's own
    /// connections, Vault's (through the management login) and PgBouncer's `auth_query`
    /// connection, which destroy ends itself.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn sessions(&self, database: &str, roles: &GroupRoles) -> Result<i64, PostgresError> {
        self.count_sessions(database, roles, None).await
    }

    /// Sessions on `database` other than the provider's, Vault's and PgBouncer's
    /// `auth_query` one; with `idle_from`, only idle ones from those addresses.
    async fn count_sessions(
        &self,
        database: &str,
        roles: &GroupRoles,
        idle_from: Option<Vec<String>>,
    ) -> Result<i64, PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (db, management) = (database.to_owned(), roles.management.clone());
        let pooler = self.endpoint.pooler_auth_user.clone();
        self.with(&maintenance, move |c| {
            let (db, management, pooler, idle_from) =
                (db.clone(), management.clone(), pooler.clone(), idle_from.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
                     AND usename IS DISTINCT FROM $2 AND usename IS DISTINCT FROM $4 \
                     AND coalesce(application_name, '') NOT LIKE $3 || '/%' \
                     AND ($5::text[] IS NULL OR (state = 'idle' AND host(client_addr) = ANY($5)))",
                )
                .bind(db)
                .bind(management)
                .bind(APPLICATION_NAME)
                .bind(pooler)
                .bind(idle_from)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// [`PostgresError::InUse`] for `sessions` clients on `database`, with how many of them
    /// are idle and come from PgBouncer's addresses (its server connections, which it keeps
    /// after the apps leave). The count is a hint for the message: when it cannot be had,
    /// it is 0.
    async fn in_use(&self, database: &str, roles: &GroupRoles, sessions: i64) -> PostgresError {
        let idle_from_pooler = self.idle_from_pooler(database, roles).await.unwrap_or(0);
        PostgresError::InUse { database: database.to_owned(), sessions, idle_from_pooler }
    }

    /// Idle sessions on `database` from PgBouncer's addresses (its host resolved now),
    /// other than the provider's, Vault's and PgBouncer's `auth_query` one: PgBouncer's own
    /// server connections, as far as the server can tell.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn idle_from_pooler(&self, database: &str, roles: &GroupRoles) -> Result<i64, PostgresError> {
        let Some(host) = self.endpoint.pooler_host.clone() else { return Ok(0) };
        // A hint for a message: a name that does not resolve in time gives none.
        let lookup = tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((host.as_str(), 0)));
        let addresses: Vec<String> = match lookup.await {
            Ok(Ok(found)) => found.map(|a| a.ip().to_string()).collect(),
            _ => return Ok(0),
        };
        self.count_sessions(database, roles, Some(addresses)).await
    }

    /// Ends sessions on `database`: all of them, or (`all == false`) only the management
    /// login's, which Vault may keep open a moment after its connection is deleted, and
    /// PgBouncer's `auth_query` connection, which it opens again when needed.
    async fn terminate_sessions(&self, database: &str, roles: &GroupRoles, all: bool) -> Result<(), PostgresError> {
        self.close_idle_to(database).await?;
        let maintenance = self.endpoint.database.clone();
        let (db, management) = (database.to_owned(), roles.management.clone());
        let pooler = self.endpoint.pooler_auth_user.clone();
        self.with(&maintenance, move |c| {
            let (db, management, pooler) = (db.clone(), management.clone(), pooler.clone());
            Box::pin(async move {
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
                     AND ($2 OR usename = $3 OR usename = $4)",
                )
                .bind(db)
                .bind(all)
                .bind(management)
                .bind(pooler)
                .execute(c)
                .await
                .map(drop)
            })
        })
        .await
    }

    /// Drops the database (`WITH (FORCE)` when `force`, terminating its clients), then the
    /// roles in `drop_roles` (the group roles and management login a destroy removes, or
    /// only those a failed create made). Without `force`, connected clients are
    /// [`PostgresError::InUse`] and nothing is dropped.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn drop_database(
        &self,
        database: &str,
        roles: &GroupRoles,
        drop_roles: &[String],
        force: bool,
    ) -> Result<(), PostgresError> {
        if !force {
            let sessions = self.sessions(database, roles).await?;
            if sessions > 0 {
                return Err(self.in_use(database, roles, sessions).await);
            }
        }
        // Our own idle connections and Vault's would block the drop.
        self.terminate_sessions(database, roles, false).await?;
        let roles = drop_roles.to_vec();
        let maintenance = self.endpoint.database.clone();
        let db = database.to_owned();
        self.with(&maintenance, move |c| {
            let (db, roles) = (db.clone(), roles.clone());
            Box::pin(async move {
                let drop_db: String = sqlx::query_scalar(
                    "SELECT format('DROP DATABASE IF EXISTS %I', $1::text) || CASE WHEN $2 THEN ' WITH (FORCE)' ELSE '' END",
                )
                .bind(&db)
                .bind(force)
                .fetch_one(&mut *c)
                .await?;
                c.execute(drop_db.as_str()).await?;
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &db).await?;
                let statements = drop_role_statements(&mut tx, &roles).await?;
                execute_all(&mut tx, &statements).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Drops roles (that exist) of `database` under its DDL lock.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal, e.g. a role that still owns something.
    pub async fn drop_roles(&self, database: &str, names: &[String]) -> Result<(), PostgresError> {
        let maintenance = self.endpoint.database.clone();
        let (names, scope) = (names.to_vec(), database.to_owned());
        self.with(&maintenance, move |c| {
            let (names, scope) = (names.clone(), scope.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &scope).await?;
                let statements = drop_role_statements(&mut tx, &names).await?;
                execute_all(&mut tx, &statements).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Archives the database: no one may connect any more, it is renamed to `archived_name`,
    /// and the management login is dropped (only Vault knew its password). Data and group
    /// roles stay. Connected clients are [`PostgresError::InUse`] unless `force`.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn archive_database(
        &self,
        database: &str,
        archived_name: &str,
        roles: &GroupRoles,
        force: bool,
    ) -> Result<(), PostgresError> {
        let roles = roles.clone();
        let maintenance = self.endpoint.database.clone();
        let (db, archived) = (database.to_owned(), archived_name.to_owned());
        let (revoke_db, r) = (db.clone(), roles.clone());
        self.with(&maintenance, move |c| {
            let (db, r) = (revoke_db.clone(), r.clone());
            Box::pin(async move {
                let s: String = sqlx::query_scalar(
                    "SELECT format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC, %I, %I', $1::text, $2::text, $3::text)",
                )
                .bind(&db)
                .bind(&r.readwrite)
                .bind(&r.readonly)
                .fetch_one(&mut *c)
                .await?;
                c.execute(s.as_str()).await.map(drop)
            })
        })
        .await?;
        let sessions = self.sessions(database, &roles).await?;
        if sessions > 0 && !force {
            return Err(self.in_use(database, &roles, sessions).await);
        }
        // Renaming needs every session gone, ours and Vault's included.
        self.terminate_sessions(database, &roles, true).await?;
        self.with(&maintenance, move |c| {
            let (db, archived, r) = (db.clone(), archived.clone(), roles.clone());
            Box::pin(async move {
                let rename: String =
                    sqlx::query_scalar("SELECT format('ALTER DATABASE %I RENAME TO %I', $1::text, $2::text)")
                        .bind(&db)
                        .bind(&archived)
                        .fetch_one(&mut *c)
                        .await?;
                c.execute(rename.as_str()).await?;
                let drop_login: String = sqlx::query_scalar("SELECT format('DROP ROLE IF EXISTS %I', $1::text)")
                    .bind(&r.management)
                    .fetch_one(&mut *c)
                    .await?;
                c.execute(drop_login.as_str()).await.map(drop)
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuers_functions_check_the_mark_static_logins_get() {
        // set_password compares a login's comment with this text in SQL; ensure_login and
        // mark_static_login write it from the constant.
        assert!(ISSUER_FUNCTIONS.contains(&format!("'{STATIC_LOGIN_MARK}' || current_database()")));
        assert!(ISSUER_FUNCTIONS.contains(&format!("CREATE OR REPLACE FUNCTION {ISSUER_SCHEMA}.set_password(")));
    }
}
