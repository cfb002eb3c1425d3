//! The shared PostgreSQL cluster, as its admin sees it: databases with their group roles,
//! extensions, and the management login Vault uses.
//!
//! Every statement goes to the primary (DDL never goes through PgBouncer). Identifiers and
//! literals are quoted by PostgreSQL itself (`format('%I')`, `format('%L')`), never by
//! string pasting. Statements that touch a database's catalog rows run under an advisory
//! lock keyed by that database's name, so two stacks applying to it at once never fail
//! with "tuple concurrently updated", and a stack that hangs holding the lock blocks only
//! that database, never every other stack's.
//!
//! Here: the client, its errors and the shapes it returns. The pool is in `pool`; what it
//! reads in `catalog`; what it changes in `databases` and `roles`; the functions
//! PostgreSQL 15 needs in `issuer`.

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

mod catalog;
mod claims;
mod databases;
mod issuer;
mod maintenance;
mod pool;
mod roles;

pub use claims::{CLAIM_ROLE_PREFIX, ClaimRecord, claim_role};
use issuer::install_issuer;
pub use issuer::{ISSUER_ROLE, ISSUER_SCHEMA, SCOPED_CREATEROLE_SINCE, STATIC_LOGIN_MARK};
pub use maintenance::{PROVIDER_DATABASE, ProviderDatabaseProblem};

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

/// `DROP ROLE IF EXISTS` for each of `roles`, quoted by the server.
async fn drop_role_statements(c: &mut PgConnection, roles: &[String]) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT format('DROP ROLE IF EXISTS %I', r) FROM unnest($1::text[]) WITH ORDINALITY AS t(r, i) ORDER BY i",
    )
    .bind(roles)
    .fetch_all(c)
    .await
}

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
    /// not the owner mark, or (a mark anyone who may comment on it could have written)
    /// someone other than the provider's admin may administer it, or it is not the kind of
    /// role the provider makes.
    #[error("role {role:?} already exists and is not this database's (its comment is {comment:?}{})", held_by.as_deref().map(|h| format!("; {h}")).unwrap_or_default())]
    NotOurs {
        /// The role.
        role: String,
        /// Its comment, if any.
        comment: Option<String>,
        /// Who holds it besides the provider: the roles with ADMIN on it, or that it can
        /// log in where the provider's would not.
        held_by: Option<String>,
    },
    /// The role that holds a database's claim exists but is not trusted: someone other
    /// than an admin holds it, or it can log in.
    #[error("the role {role:?} that holds the database's claim was made or is held by {held_by}, not by an admin")]
    ClaimRoleTaken {
        /// The claim role.
        role: String,
        /// Who holds it.
        held_by: String,
    },
    /// Roles of a database being dropped own objects in other databases: dropping the
    /// roles would need those objects dropped, and data is never dropped unasked.
    #[error(
        "roles of database {database:?} own objects in {elsewhere}; give them to their databases' owners (`REASSIGN OWNED BY … TO …` there), then apply again"
    )]
    OwnsElsewhere {
        /// The database being dropped.
        database: String,
        /// The other databases.
        elsewhere: String,
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
    /// The maintenance database is not closed (owned by a superuser, no login but an admin
    /// may connect), and the provider's own database, where it would take its locks
    /// instead, cannot be used.
    #[error("{}", provider_database_problem(database, admin, problem))]
    ProviderDatabase {
        /// The provider's database.
        database: &'static str,
        /// The admin login.
        admin: String,
        /// What is wrong with it.
        problem: maintenance::ProviderDatabaseProblem,
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

/// The message of [`PostgresError::ProviderDatabase`]: what is wrong, and the statement a
/// superuser runs to put it right.
fn provider_database_problem(database: &str, admin: &str, problem: &ProviderDatabaseProblem) -> String {
    let why = "the maintenance database (postgres.database) is not closed (owned by a superuser, with no login but an admin allowed to connect), so the provider takes its locks in its own database";
    let (what, fix) = match problem {
        ProviderDatabaseProblem::Missing => (
            format!(
                "{database:?}, which does not exist, and {admin:?} is no superuser (a database it made would be its own, and it could let anyone in)"
            ),
            format!(
                "CREATE DATABASE \"{database}\" TEMPLATE template0; REVOKE ALL ON DATABASE \"{database}\" FROM PUBLIC; GRANT CONNECT ON DATABASE \"{database}\" TO \"{admin}\""
            ),
        ),
        ProviderDatabaseProblem::OwnedBy(owner) => (
            format!(
                "{database:?}, which {owner:?} owns, not a superuser: its owner could let a tenant in, or close it to every stack"
            ),
            format!("ALTER DATABASE \"{database}\" OWNER TO postgres (or drop it, if it is not the platform's)"),
        ),
        ProviderDatabaseProblem::NoConnect => (
            format!("{database:?}, which {admin:?} may not connect to"),
            format!("GRANT CONNECT ON DATABASE \"{database}\" TO \"{admin}\""),
        ),
        ProviderDatabaseProblem::OpenTo(logins) => (
            format!(
                "{database:?}, which logins other than admins may connect to ({}), and could hold the provider's locks",
                logins.join(", ")
            ),
            format!(
                "REVOKE ALL ON DATABASE \"{database}\" FROM {}",
                logins
                    .iter()
                    .map(|l| if l == "PUBLIC" { l.clone() } else { format!("\"{l}\"") })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    format!("{why} {what}; as a superuser: {fix}; or set postgres.database to a closed database")
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
    /// Its claim record (a claim role nobody trusts reads as one with no claim).
    pub claim: ClaimRecord,
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

/// What moving a Vault role made before the provider carries over to the users it issues
/// after ([`Postgres::carry_over`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CarryOver {
    /// Roles of the database alone its users were members of: the level's group joins them.
    pub groups: Vec<String>,
    /// What they held that no such role gives, and the level does not: each `<privilege> on
    /// <object>` or `membership in <role>`.
    pub beyond: Vec<String>,
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

/// Logins that hold privileges or own objects in the current database (themselves, or
/// through a role they are a member of: a platform's `orders_rw`) and may connect to it
/// only because PUBLIC may (not superusers, not members of the group roles named by
/// parameters `$first`, `$first + 1` and `$first + 2`): a database made by hand, whose apps'
/// logins would be locked out when PUBLIC loses CONNECT. Default privileges do not count:
/// any login may set its own in `template1` (no privilege needed), and every new database
/// copies them, so counting them would hand CONNECT on each new database to whoever did.
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
           AND (EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = r.oid AND s.dbid = d.oid \
                          AND s.classid <> 'pg_default_acl'::regclass) \
                OR EXISTS (SELECT FROM pg_auth_members m JOIN pg_shdepend s ON s.refobjid = m.roleid \
                           WHERE m.member = r.oid AND s.refclassid = 'pg_authid'::regclass AND s.dbid = d.oid \
                             AND s.classid <> 'pg_default_acl'::regclass)) \
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
    /// Where the provider's cluster-wide work runs (see `maintenance`).
    maintenance: tokio::sync::OnceCell<String>,
    trusted: tokio::sync::OnceCell<BTreeSet<String>>,
    /// Whether the issuer role is known to exist on the server this process talks to;
    /// forgotten when that server may have changed (a failover can lose its creation).
    issuer_role: std::sync::atomic::AtomicBool,
    /// The same for the provider role (`roles::PROVIDER_ROLE`).
    provider_role: std::sync::atomic::AtomicBool,
    /// Held while making sure of either, so concurrent creates ask once.
    server_role_check: Mutex<()>,
    /// Whether the pooler's auth user was found as the platform's: a check every create
    /// repeats, asked once per process (forgotten with the server roles).
    pooler_user_checked: std::sync::atomic::AtomicBool,
    /// Whether the server has `transaction_timeout` (17+), as the first connection found:
    /// later connections then reset it at startup, before a tenant's database setting can
    /// end their first statement (forgotten with the server roles).
    has_transaction_timeout: std::sync::atomic::AtomicBool,
    /// Databases in which this process installed the issuer's functions as this release
    /// writes them (before 16): a role written next needs not install them again.
    issuer_installed: std::sync::Mutex<BTreeSet<String>>,
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
            maintenance: tokio::sync::OnceCell::new(),
            trusted: tokio::sync::OnceCell::new(),
            issuer_role: std::sync::atomic::AtomicBool::new(false),
            provider_role: std::sync::atomic::AtomicBool::new(false),
            server_role_check: Mutex::new(()),
            issuer_installed: std::sync::Mutex::new(BTreeSet::new()),
            pooler_user_checked: std::sync::atomic::AtomicBool::new(false),
            has_transaction_timeout: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The server's version and whether the admin login is a superuser, asked once per
    /// process.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn server_facts(&self) -> Result<ServerFacts, PostgresError> {
        let maintenance = self.maintenance().await?;
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
        let maintenance = self.maintenance().await?;
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
                // A database's owner may attach settings to it (`ALTER DATABASE … SET`), and
                // every session there starts with them: the provider's must not run as the
                // owner's role, read-only, cut off when idle, refused at login, or read literals otherwise,
                // whatever a tenant set (its database may be one another stack's destroy
                // visits). A client's own options take precedence over a database's.
                // `transaction_timeout` (17+) is reset when the connection is first used.
                ("role", "none".to_owned()),
                ("default_transaction_read_only", "off".to_owned()),
                ("idle_session_timeout", "0".to_owned()),
                ("standard_conforming_strings", "on".to_owned()),
                ("exit_on_error", "off".to_owned()),
                // A library named there that does not exist ends every new session at login.
                ("local_preload_libraries", String::new()),
            ]);
        // A tenant's `ALTER DATABASE … SET transaction_timeout = '1ms'` would end the
        // session before the first statement reset it (CI saw it once under load); as a
        // startup option it never applies. Only where the server is known to have it: an
        // older one refuses an unknown option at login.
        if self.has_transaction_timeout.load(std::sync::atomic::Ordering::SeqCst) {
            o = o.options([("transaction_timeout", "0")]);
        }
        if let Some(p) = &self.endpoint.password {
            o = o.password(p.expose());
        }
        o
    }
}
