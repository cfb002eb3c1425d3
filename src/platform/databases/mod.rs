//! Databases on the shared PostgreSQL and MySQL clusters: the database, its group roles
//! (PostgreSQL), the management login Vault uses, and its Vault connection.
//!
//! Who owns what: a PostgreSQL database and its roles carry an owner mark, their comment
//! ([`DatabaseName::mark`]). Creating refuses a database that exists, a role without the
//! mark, a MySQL management login that exists, and a Vault connection that exists: import
//! is the only way to adopt. Roles with the mark are reused: `archive` keeps them with the
//! archived data, and a database of the same name may come back.
//!
//! Ordering and compensation live here. [`Databases::provision`] records what each step
//! made; after a failure it removes exactly that, and what it could not remove comes back
//! in [`DatabaseError::Incomplete`] as a [`Made`], for the resource to keep in state.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::backends::mysql::{Mysql, MysqlError};
use crate::backends::pgbouncer::{PgBouncer, PgBouncerError};
use crate::backends::postgres::{Existing, NewDatabase, Postgres, PostgresError, ServerFacts};
use crate::backends::vault::{ConnectionConfig, Plugin, RootRotation, SqlPool, Vault, VaultError};
use crate::backends::{authority, password};
use crate::platform::claims::{self, Claim, ClaimError, MysqlDatabaseClaim, PostgresDatabaseClaim, Standing};
use crate::platform::credentials::{self, CredentialError};
use crate::platform::naming::{DatabaseName, Engine, MYSQL_USERNAME_TEMPLATE};
use crate::platform::settings::{MysqlConfig, PostgresConfig, VaultConfig};

mod lifecycle;
mod observe;
mod plan;
mod removal;

pub(crate) use lifecycle::connection_server;
pub use observe::{DatabaseDrift, Extensions};
pub use removal::{Clients, DeletionPolicy, Removed};

/// A database as configured. Engine-specific settings of the other engine are `None`.
#[derive(Clone, Debug, Default)]
pub struct DatabaseSpec {
    /// PostgreSQL extensions to install; `None`: not managed.
    pub extensions: Option<BTreeSet<String>>,
    /// PostgreSQL connection limit; `None`: none.
    pub connection_limit: Option<i32>,
    /// PostgreSQL encoding.
    pub encoding: Option<String>,
    /// PostgreSQL LC_COLLATE.
    pub lc_collate: Option<String>,
    /// PostgreSQL LC_CTYPE.
    pub lc_ctype: Option<String>,
    /// PostgreSQL template.
    pub template: Option<String>,
    /// MySQL default character set.
    pub character_set: Option<String>,
    /// MySQL default collation.
    pub collation: Option<String>,
}

/// Whether a connection as Vault reports it is as the provider writes it now: the pool
/// limits, and for MySQL the username template (0.1 set neither) and the root rotation
/// through the issuer (0.2).
fn connection_current(name: &DatabaseName, vault: &VaultConfig, connection: &serde_json::Value) -> bool {
    let details = &connection["connection_details"];
    sql_pool(vault).matches(details)
        && (name.engine != Engine::Mysql
            || (details["username_template"].as_str() == Some(MYSQL_USERNAME_TEMPLATE)
                && connection["root_credentials_rotate_statements"] == serde_json::json!(mysql_root_rotation())))
}

/// What Vault runs to rotate a MySQL management login's own password: through the issuer,
/// since the login holds no `CREATE USER` (MariaDB asks for it even to alter oneself).
fn mysql_root_rotation() -> Vec<String> {
    vec![format!("CALL {}('{{{{password}}}}');", crate::backends::mysql::SET_OWN_PASSWORD)]
}

/// The pool limits every SQL connection given to Vault gets.
fn sql_pool(vault: &VaultConfig) -> SqlPool {
    SqlPool {
        max_open_connections: vault.pool.max_open_connections,
        max_idle_connections: match vault.pool.max_idle_connections.min(vault.pool.max_open_connections) {
            // Vault reads 0 as max_open_connections; -1 reaches database/sql as "none".
            0 => -1,
            n => i64::from(n),
        },
        max_connection_lifetime: format!("{}s", vault.pool.max_connection_lifetime.as_secs()),
    }
}

/// Extensions every new PostgreSQL database has from its template: listed or not in
/// `extensions`, they are neither shown as unmanaged drift nor ever dropped.
pub const DEFAULT_EXTENSIONS: &[&str] = &["plpgsql"];

/// How long PostgreSQL may list the pooler's closed connections.
const POOLER_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How [`DeletionPolicy::Archive`] and [`DeletionPolicy::Drop`] reach [`Databases::decommission`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removal {
    /// Rename it out of the way and lock it.
    Archive,
    /// Drop it.
    Drop,
}

/// What a create made so far, in the order it made it: what compensation removes, and
/// what stays in state (private data) when compensation fails too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    /// PostgreSQL group roles created.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The database.
    #[serde(default)]
    pub database: bool,
    /// The management login.
    #[serde(default)]
    pub login: bool,
    /// The Vault connection.
    #[serde(default)]
    pub connection: bool,
}

impl Made {
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self == &Made::default()
    }

    /// Every object, named as a person would look for it.
    pub fn describe(&self, name: &DatabaseName, vault_mount: Option<&str>) -> Vec<String> {
        let mut objects = Vec::new();
        if self.connection {
            objects.push(format!(
                "Vault connection {}/config/{}",
                vault_mount.unwrap_or("database"),
                name.vault_connection()
            ));
        }
        if self.login {
            let login = match name.engine {
                Engine::Postgresql => name.group_roles().management,
                Engine::Mysql => name.mysql_management_login(),
            };
            objects.push(format!("{} login {login:?}", name.engine.display()));
        }
        if self.database {
            objects.push(format!("{} database {:?}", name.engine.display(), name.name));
        }
        objects.extend(self.roles.iter().map(|r| format!("PostgreSQL role {r:?}")));
        objects
    }
}

/// What [`Databases::provision`] learnt on the way that a read-back would ask again.
#[derive(Clone, Debug, Default)]
pub struct Provisioned {
    /// PostgreSQL: the extensions installed in the new database; `None` when unknown.
    pub extensions: Option<BTreeSet<String>>,
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatabaseError {
    /// PostgreSQL refused or could not be reached.
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    /// MySQL refused or could not be reached.
    #[error(transparent)]
    Mysql(#[from] MysqlError),
    /// Vault refused or could not be reached.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Moving the connection's roles onto the issuer failed.
    #[error(transparent)]
    Credentials(#[from] Box<CredentialError>),
    /// PgBouncer's admin console refused or could not be reached.
    #[error(transparent)]
    Pooler(#[from] PgBouncerError),
    /// Clients are connected, so it was left as it is.
    #[error("{sessions} client(s) are connected")]
    InUse {
        /// How many.
        sessions: i64,
        /// How many of them are PgBouncer's own idle server connections (0 when unknown).
        idle_from_pooler: i64,
    },
    /// Another Terraform state claims the database.
    #[error("the database is claimed by another Terraform state since {} (claim {})", .0.since, .0.id)]
    Claimed(Claim),
    /// The database's Vault connection exists, made by someone else, or for a database of
    /// the same name on another server (`server`).
    #[error("the Vault connection {mount}/config/{connection} already exists{}", server.as_deref().map_or(String::new(), |s| format!(" for the database of that name on {s}, not on {here}")))]
    ConnectionTaken {
        /// The mount.
        mount: String,
        /// The connection.
        connection: String,
        /// The other server it reaches, when its login is this database's.
        server: Option<String>,
        /// This provider configuration's server.
        here: String,
    },
    /// The configured PgBouncer `auth_user` does not exist (`why` is `None`), or someone
    /// other than the platform could hold it: every database grants it CONNECT.
    #[error("PgBouncer's auth_user {user:?} {}", why.as_deref().map_or("does not exist".to_owned(), |w| format!("is not the platform's: {w}")))]
    PoolerAuthUser {
        /// The configured name.
        user: String,
        /// Why it is not the platform's; `None` when it does not exist.
        why: Option<String>,
    },
    /// A step failed, and undoing what came before it failed too.
    #[error("{cause}")]
    Incomplete {
        /// The first failure.
        cause: Box<DatabaseError>,
        /// What is left on the servers.
        left: Made,
        /// Those objects, by name.
        named: Vec<String>,
    },
}

/// The server a database lives on, with its configuration.
#[derive(Clone, Copy)]
pub enum Server<'a> {
    /// PostgreSQL.
    Postgres(&'a Postgres, &'a PostgresConfig),
    /// MySQL.
    Mysql(&'a Mysql, &'a MysqlConfig),
}

/// A database as the servers describe it.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// PostgreSQL connection limit.
    pub connection_limit: Option<i32>,
    /// PostgreSQL encoding.
    pub encoding: Option<String>,
    /// PostgreSQL LC_COLLATE.
    pub lc_collate: Option<String>,
    /// PostgreSQL LC_CTYPE.
    pub lc_ctype: Option<String>,
    /// PostgreSQL extensions installed (asked only when `inspect` is told to).
    pub extensions: Option<BTreeSet<String>>,
    /// PostgreSQL group roles that exist: owner, readwrite, readonly.
    pub roles_present: [bool; 3],
    /// PostgreSQL: the readwrite and readonly roles may CONNECT and PUBLIC may not.
    pub connect_ok: bool,
    /// PostgreSQL: who may CONNECT.
    pub connect: Vec<String>,
    /// MySQL character set.
    pub character_set: Option<String>,
    /// MySQL collation.
    pub collation: Option<String>,
    /// MySQL: accounts (`user@host`) whose grant names the database as a pattern that
    /// reaches other databases too (see [`Mysql::wildcard_grants_on`]).
    pub wildcard_grants: Vec<String>,
    /// Whether the Vault connection exists (false without Vault).
    pub vault_connection: bool,
    /// The claim on the database; `None` when unclaimed.
    pub claim: Option<Claim>,
}

impl<E: Into<DatabaseError> + std::error::Error> From<ClaimError<E>> for DatabaseError {
    fn from(e: ClaimError<E>) -> DatabaseError {
        match e {
            ClaimError::Store(e) => e.into(),
            ClaimError::Theirs(claim) => DatabaseError::Claimed(claim),
        }
    }
}

/// The database operations over the clients of one provider process.
pub struct Databases<'a> {
    /// Where the database lives.
    pub server: Server<'a>,
    /// Vault and its configuration, when Vault is configured.
    pub vault: Option<(&'a Vault, &'a VaultConfig)>,
    /// PgBouncer's admin console, when configured (PostgreSQL only).
    pub pooler: Option<&'a PgBouncer>,
}

impl Databases<'_> {
    /// Takes the database's claim for the state holding `held` (see [`claims::take`]).
    ///
    /// # Errors
    /// [`DatabaseError::Claimed`] when another state holds it; [`DatabaseError`].
    pub async fn take_claim(
        &self,
        name: &DatabaseName,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Claim, DatabaseError> {
        Ok(match self.server {
            Server::Postgres(pg, _) => claims::take(&PostgresDatabaseClaim { pg, name }, held, take_over).await?,
            Server::Mysql(my, _) => claims::take(&MysqlDatabaseClaim { my, name }, held, take_over).await?,
        })
    }

    /// How the database's claim stands for the state holding `held`, whose configuration
    /// says `take_over`.
    ///
    /// # Errors
    /// [`DatabaseError`] when the claim cannot be read.
    pub async fn claim_standing(
        &self,
        name: &DatabaseName,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Standing, DatabaseError> {
        let found = match self.server {
            Server::Postgres(pg, _) => claims::ClaimStore::read(&PostgresDatabaseClaim { pg, name }).await?,
            Server::Mysql(my, _) => claims::ClaimStore::read(&MysqlDatabaseClaim { my, name }).await?,
        };
        Ok(claims::standing(found.claim.as_ref(), held, take_over))
    }

    /// Gives up the state's claim (`retain`: the database stays for any state to import).
    ///
    /// # Errors
    /// [`DatabaseError`] when the claim cannot be written.
    pub async fn release_claim(&self, name: &DatabaseName, held: &str) -> Result<(), DatabaseError> {
        match self.server {
            Server::Postgres(pg, _) => claims::release(&PostgresDatabaseClaim { pg, name }, held).await?,
            Server::Mysql(my, _) => claims::release(&MysqlDatabaseClaim { my, name }, held).await?,
        }
        Ok(())
    }

    /// Whether the Vault connection and the management login behind it are as the provider
    /// writes them now. One without the configured pool limits (0.1 set none), or a login
    /// an older version made (with `CREATEROLE` on PostgreSQL 15, or without the pinned
    /// search path), counts as missing: apply writes both again.
    async fn vault_connection_current(
        &self,
        name: &DatabaseName,
        vault: &Vault,
        vc: &VaultConfig,
    ) -> Result<bool, DatabaseError> {
        let connection = vault.read_connection(&vc.database_mount, &name.vault_connection()).await?;
        if !connection.is_some_and(|c| connection_current(name, vc, &c)) {
            return Ok(false);
        }
        Ok(match self.server {
            Server::Postgres(pg, _) => pg.management_login_current(&name.group_roles().management).await?,
            Server::Mysql(my, _) => my.issuer_current(&name.mysql_management_login(), &name.name).await?,
        })
    }

    /// Reads the database; `None` when it does not exist. Extensions are read only when
    /// `extensions` says to.
    ///
    /// # Errors
    /// [`DatabaseError`].
    pub async fn inspect(
        &self,
        name: &DatabaseName,
        extensions: Extensions,
    ) -> Result<Option<Observed>, DatabaseError> {
        let mut observed = Observed::default();
        match self.server {
            Server::Postgres(pg, _) => {
                let roles = name.group_roles();
                let catalog = pg.catalog_of(&[&name.name], &[&roles.owner, &roles.readwrite, &roles.readonly]).await?;
                let Some(info) = catalog.databases.get(&name.name) else { return Ok(None) };
                observed.claim = PostgresDatabaseClaim { pg, name }.claim_in(&info.claim);
                observed.connection_limit = Some(info.connection_limit);
                observed.encoding = Some(info.encoding.clone());
                observed.lc_collate = Some(info.lc_collate.clone());
                observed.lc_ctype = Some(info.lc_ctype.clone());
                observed.roles_present =
                    [&roles.owner, &roles.readwrite, &roles.readonly].map(|r| catalog.roles.contains(r));
                let may_connect = |who: &str| info.connect.iter().any(|c| c == who);
                observed.connect_ok =
                    may_connect(&roles.readwrite) && may_connect(&roles.readonly) && !may_connect("PUBLIC");
                observed.connect = info.connect.clone();
                if extensions == Extensions::Read {
                    observed.extensions = Some(pg.extensions(&name.name).await?);
                }
            }
            Server::Mysql(my, _) => {
                let catalog = my.catalog_of(&name.name).await?;
                let Some(info) = catalog.get(&name.name) else { return Ok(None) };
                observed.character_set = Some(info.character_set.clone());
                observed.collation = Some(info.collation.clone());
                observed.wildcard_grants = my
                    .wildcard_grants_on(&name.name)
                    .await?
                    .into_iter()
                    .map(|(user, host)| format!("{user}@{host}"))
                    .collect();
                observed.claim = claims::ClaimStore::read(&MysqlDatabaseClaim { my, name }).await?.claim;
            }
        }
        if let Some((vault, vc)) = self.vault {
            observed.vault_connection = self.vault_connection_current(name, vault, vc).await?;
        }
        Ok(Some(observed))
    }

    /// How many clients are connected, not counting the provider's and Vault's.
    ///
    /// # Errors
    /// [`DatabaseError`].
    ///
    /// With PgBouncer's console: clients connected through the pooler count, and the
    /// pooler's own idle server connections (which PostgreSQL lists like clients) are
    /// closed first, so only direct sessions count on the PostgreSQL side.
    pub async fn sessions(&self, name: &DatabaseName) -> Result<i64, DatabaseError> {
        Ok(match (self.server, self.pooler) {
            (Server::Postgres(pg, _), Some(pooler)) => {
                let through_pooler = pooler.clients(&name.name).await?;
                pooler.reconnect(&name.name).await?;
                let roles = name.group_roles();
                let started = std::time::Instant::now();
                let mut direct = pg.sessions(&name.name, &roles).await?;
                // The pooler closes its idle connections right away; the server lists
                // them until their processes have exited.
                while direct > 0 && started.elapsed() < POOLER_CLOSE_WAIT {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    direct = pg.sessions(&name.name, &roles).await?;
                }
                through_pooler + direct
            }
            (Server::Postgres(pg, _), None) => pg.sessions(&name.name, &name.group_roles()).await?,
            (Server::Mysql(my, _), _) => my.session_count(&name.name, &name.mysql_management_login()).await?,
        })
    }

    /// How many of the clients on a PostgreSQL database are idle sessions from PgBouncer's
    /// address (its own server connections), for the message that names them; 0 when its
    /// console is configured (they were closed already), on MySQL, or when unknown.
    pub async fn idle_from_pooler(&self, name: &DatabaseName) -> i64 {
        match (self.server, self.pooler) {
            (Server::Postgres(pg, _), None) => pg.idle_from_pooler(&name.name, &name.group_roles()).await.unwrap_or(0),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_failed_create_left_is_named_in_the_order_undo_removes_it() {
        let name = DatabaseName::new(Engine::Postgresql, "shop").unwrap();
        let made = Made { roles: vec!["shop_owner".into()], database: true, login: true, connection: true };
        // The reverse of making: the connection (which logs in as the login) first, the
        // group roles (which the database's privileges name) last.
        assert_eq!(
            made.describe(&name, Some("db")),
            vec![
                "Vault connection db/config/postgres-shop".to_owned(),
                "PostgreSQL login \"shop_vault\"".to_owned(),
                "PostgreSQL database \"shop\"".to_owned(),
                "PostgreSQL role \"shop_owner\"".to_owned(),
            ]
        );
        assert!(Made::default().is_empty());
        assert!(!Made { database: true, ..Made::default() }.is_empty());
    }

    #[test]
    fn what_a_failed_create_left_survives_in_private_state_written_by_any_version() {
        let made = Made { roles: vec!["shop_readonly".into()], database: true, login: false, connection: false };
        let kept = serde_json::to_vec(&made).unwrap();
        assert_eq!(serde_json::from_slice::<Made>(&kept).unwrap(), made);
        // A record from before `login` and `connection` were kept still reads.
        let older: Made = serde_json::from_str(r#"{"roles":["shop_owner"],"database":true}"#).unwrap();
        assert_eq!(older, Made { roles: vec!["shop_owner".into()], database: true, ..Made::default() });
    }
}
