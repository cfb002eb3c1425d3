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
/// limits, and for MySQL the username template (0.1 set neither).
fn connection_current(name: &DatabaseName, vault: &VaultConfig, connection: &serde_json::Value) -> bool {
    let details = &connection["connection_details"];
    sql_pool(vault).matches(details)
        && (name.engine != Engine::Mysql || details["username_template"].as_str() == Some(MYSQL_USERNAME_TEMPLATE))
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

/// What destroy does with the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
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
    /// Another Terraform state claims the database.
    #[error("the database is claimed by another Terraform state since {} (claim {})", .0.since, .0.id)]
    Claimed(Claim),
    /// The database's Vault connection exists, made by someone else.
    #[error("the Vault connection {mount}/config/{connection} already exists")]
    ConnectionTaken {
        /// The mount.
        mount: String,
        /// The connection.
        connection: String,
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
    /// What [`Databases::provision`] would refuse, checked without changing anything: for
    /// the plan of a new database.
    ///
    /// # Errors
    /// [`DatabaseError`].
    pub async fn preflight(&self, name: &DatabaseName) -> Result<(), DatabaseError> {
        match self.server {
            Server::Postgres(pg, _) => {
                // The snapshot serves every database of the plan; apply checks under the lock.
                if pg.catalog().await?.databases.contains_key(&name.name) {
                    return Err(PostgresError::AlreadyExists(name.name.clone()).into());
                }
            }
            Server::Mysql(my, _) => {
                if my.catalog().await?.contains_key(&name.name) {
                    return Err(MysqlError::AlreadyExists(name.name.clone()).into());
                }
                if self.vault.is_some() && my.login_exists(&name.mysql_management_login()).await? {
                    return Err(MysqlError::LoginTaken(name.mysql_management_login()).into());
                }
            }
        }
        self.check_connection_free(name).await
    }

    /// The configured PgBouncer `auth_user`, when it names no role on the server: apps
    /// logging in through PgBouncer would then wait and time out with no clear error.
    ///
    /// # Errors
    /// [`DatabaseError`] when the catalog cannot be read.
    pub async fn missing_pooler_auth_user(&self) -> Result<Option<String>, DatabaseError> {
        let Server::Postgres(pg, config) = self.server else { return Ok(None) };
        let Some(user) = &config.pooler_auth_user else { return Ok(None) };
        Ok((!pg.catalog_of(&[], &[user]).await?.roles.contains(user)).then(|| user.clone()))
    }

    /// PostgreSQL: refuses extensions `adding` that neither the server marks `trusted` nor
    /// the platform allows (see [`PostgresConfig::check_extensions`]); `Ok(None)` when all
    /// are allowed or on MySQL, `Ok(Some(reason))` when not.
    ///
    /// # Errors
    /// [`DatabaseError`] when the server cannot be asked.
    pub async fn refused_extensions(&self, adding: &BTreeSet<String>) -> Result<Option<String>, DatabaseError> {
        let Server::Postgres(pg, config) = self.server else { return Ok(None) };
        if adding.is_empty() {
            return Ok(None);
        }
        let trusted = pg.trusted_extensions().await?;
        Ok(config.check_extensions(adding, &trusted, DEFAULT_EXTENSIONS).err())
    }

    /// PostgreSQL: what an update of a database made elsewhere (imported by hand, or from
    /// `terraform query`) changes in its schema `public` beyond the attributes a plan shows,
    /// one sentence each; and, last, what it leaves alone that owner-level credentials will
    /// meet. Empty for a database in the provider's shape, and on MySQL.
    ///
    /// # Errors
    /// [`DatabaseError`] when the database cannot be read.
    pub async fn adoption_changes(&self, name: &DatabaseName) -> Result<Vec<String>, DatabaseError> {
        let Server::Postgres(pg, _) = self.server else { return Ok(Vec::new()) };
        let roles = name.group_roles();
        let gaps = pg.privilege_gaps(&name.name, &roles).await?;
        let (owner, rw, ro) = (&roles.owner, &roles.readwrite, &roles.readonly);
        let mut changes = Vec::new();
        if gaps.database_owner != *owner {
            changes.push(format!(
                "the database changes owner from {:?} to {owner:?}, so grants on it name {owner:?} and Vault can revoke the users issued before the provider{}",
                gaps.database_owner,
                if gaps.database_owner_is_superuser {
                    String::new()
                } else {
                    format!("; {:?} becomes a member of {owner:?}, keeping what it could do", gaps.database_owner)
                }
            ));
        }
        if !gaps.connecting_through_public.is_empty() {
            changes.push(format!(
                "logins that work in it and connect only because PUBLIC may ({}) get CONNECT of their own before PUBLIC loses it, so their apps keep connecting",
                gaps.connecting_through_public.join(", ")
            ));
        }
        if gaps.public_owner != *owner {
            changes.push(format!("schema public changes owner from {:?} to {owner:?}", gaps.public_owner));
        }
        if gaps.public_create {
            changes.push("PUBLIC loses CREATE on schema public".to_owned());
        }
        if gaps.ungranted_tables > 0 {
            changes.push(format!(
                "{} existing table(s) and view(s) in public are granted SELECT, INSERT, UPDATE, DELETE to {rw:?} and SELECT to {ro:?}",
                gaps.ungranted_tables
            ));
        }
        if !gaps.default_privileges {
            changes
                .push(format!("default privileges: what {owner:?} creates in public is granted to {rw:?} and {ro:?}"));
        }
        if gaps.foreign_tables > 0 {
            changes.push(format!(
                "not changed: {} table(s) and view(s) owned by {} keep their owner, so `owner`-level credentials can read and write them but not alter them; moving them to {owner:?} (`ALTER TABLE … OWNER TO`) is left to you",
                gaps.foreign_tables,
                gaps.other_owners.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(changes)
    }

    /// PostgreSQL: what the server says of the admin login (see
    /// [`ServerFacts::separates_teams`]); `None` on MySQL.
    ///
    /// # Errors
    /// [`DatabaseError`] when the server cannot be asked.
    pub async fn server_facts(&self) -> Result<Option<ServerFacts>, DatabaseError> {
        let Server::Postgres(pg, _) = self.server else { return Ok(None) };
        Ok(Some(pg.server_facts().await?))
    }

    /// Creates the database: group roles (PostgreSQL), database, owner mark, privileges,
    /// extensions, then the management login and Vault connection. Anything that exists
    /// and is not marked as this database's is refused before anything is made. After a
    /// failure, exactly what this call made is removed again.
    ///
    /// # Errors
    /// [`DatabaseError`]; [`DatabaseError::Incomplete`] when removing failed too.
    pub async fn provision(
        &self,
        name: &DatabaseName,
        spec: &DatabaseSpec,
        claim: &Claim,
    ) -> Result<Provisioned, DatabaseError> {
        let mut made = Made::default();
        let cause = match self.provision_steps(name, spec, claim, &mut made).await {
            Ok(provisioned) => return Ok(provisioned),
            Err(cause) => cause,
        };
        match self.undo(name, &mut made).await {
            Ok(()) => Err(cause),
            Err(_) => {
                let named = made.describe(name, self.vault.map(|(_, vc)| vc.database_mount.as_str()));
                Err(DatabaseError::Incomplete { cause: Box::new(cause), left: made, named })
            }
        }
    }

    async fn provision_steps(
        &self,
        name: &DatabaseName,
        spec: &DatabaseSpec,
        claim: &Claim,
        made: &mut Made,
    ) -> Result<Provisioned, DatabaseError> {
        let mut provisioned = Provisioned::default();
        self.check_connection_free(name).await?;
        match self.server {
            Server::Postgres(pg, _) => {
                let roles = name.group_roles();
                // A step that got no answer may have been carried out: what it asked for
                // counts as made, and undoing it drops only what exists.
                made.roles = match pg.ensure_group_roles(&name.name, &roles, &name.mark(), Existing::MustBeMarked).await
                {
                    Ok(created) => created,
                    Err(e) => {
                        if e.outcome_unknown() {
                            made.roles = vec![roles.owner.clone(), roles.readwrite.clone(), roles.readonly.clone()];
                        }
                        return Err(e.into());
                    }
                };
                let new = NewDatabase {
                    name: name.name.clone(),
                    encoding: spec.encoding.clone(),
                    lc_collate: spec.lc_collate.clone(),
                    lc_ctype: spec.lc_ctype.clone(),
                    template: spec.template.clone(),
                    connection_limit: spec.connection_limit.unwrap_or(-1),
                    roles: roles.clone(),
                };
                if let Err(e) = pg.create_database(&new).await {
                    made.database = e.outcome_unknown();
                    return Err(e.into());
                }
                made.database = true;
                pg.mark_database(&name.name, &PostgresDatabaseClaim { pg, name }.comment(Some(claim))).await?;
                pg.ensure_privileges(&name.name, &roles).await?;
                if let Some(extensions) = &spec.extensions {
                    let add: Vec<String> = extensions.iter().cloned().collect();
                    pg.change_extensions(&name.name, &add, &[]).await?;
                }
                // Read now, on the connection to the new database that is still open:
                // read back later, it would mostly take a connection of its own.
                provisioned.extensions = pg.extensions(&name.name).await.ok();
            }
            Server::Mysql(my, _) => {
                if self.vault.is_some() && my.login_exists(&name.mysql_management_login()).await? {
                    return Err(MysqlError::LoginTaken(name.mysql_management_login()).into());
                }
                if let Err(e) =
                    my.create_database(&name.name, spec.character_set.as_deref(), spec.collation.as_deref()).await
                {
                    made.database = e.outcome_unknown();
                    return Err(e.into());
                }
                made.database = true;
                claims::stamp_new(&MysqlDatabaseClaim { my, name }, claim).await?;
            }
        }
        self.connect_vault(name, true, made).await?;
        Ok(provisioned)
    }

    /// Removes what `made` records, most recent first; what could not be removed stays in
    /// `made`.
    ///
    /// # Errors
    /// The first failure, when anything is left.
    pub async fn undo(&self, name: &DatabaseName, made: &mut Made) -> Result<(), DatabaseError> {
        let mut first: Option<DatabaseError> = None;
        if made.connection
            && let Some((vault, vc)) = self.vault
        {
            match vault.remove_connection(&vc.database_mount, &name.vault_connection()).await {
                Ok(()) => made.connection = false,
                Err(e) => first = first.or(Some(e.into())),
            }
        }
        match self.server {
            Server::Postgres(pg, _) => {
                let roles = name.group_roles();
                let mut drop_roles = Vec::new();
                if made.login {
                    drop_roles.push(roles.management.clone());
                }
                drop_roles.extend(made.roles.iter().cloned());
                if made.database || !drop_roles.is_empty() {
                    // The database is seconds old and was never handed out: nobody else's
                    // sessions can be on it, so force ends only ours and Vault's.
                    let dropped = if made.database {
                        pg.drop_database(&name.name, &roles, &drop_roles, true).await
                    } else {
                        pg.drop_roles(&name.name, &drop_roles).await
                    };
                    match dropped {
                        Ok(()) => {
                            made.database = false;
                            made.login = false;
                            made.roles.clear();
                        }
                        Err(e) => first = first.or(Some(e.into())),
                    }
                }
            }
            Server::Mysql(my, _) => {
                let login = name.mysql_management_login();
                let dropped = if made.database {
                    my.drop_database(&name.name, &login, true).await
                } else if made.login {
                    my.drop_login(&login).await
                } else {
                    Ok(())
                };
                match dropped {
                    Ok(()) => {
                        made.database = false;
                        made.login = false;
                    }
                    Err(e) => first = first.or(Some(e.into())),
                }
            }
        }
        match first {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Puts back what an update finds missing (group roles, privileges, owner marks, the
    /// Vault connection) and applies changed settings. The caller has taken the claim
    /// ([`Databases::take_claim`]) first.
    ///
    /// # Errors
    /// [`DatabaseError`].
    pub async fn reconcile(
        &self,
        name: &DatabaseName,
        plan: &DatabaseSpec,
        prior: &DatabaseSpec,
    ) -> Result<(), DatabaseError> {
        match self.server {
            Server::Postgres(pg, _) => {
                let roles = name.group_roles();
                pg.create_group_roles_and_privileges(&name.name, &roles, &name.mark()).await?;
                if plan.connection_limit != prior.connection_limit
                    && let Some(limit) = plan.connection_limit
                {
                    pg.set_connection_limit(&name.name, limit).await?;
                }
                if let Some(wanted) = &plan.extensions {
                    let installed = pg.extensions(&name.name).await?;
                    let add: Vec<String> = wanted.difference(&installed).cloned().collect();
                    // Only extensions this resource managed are ever dropped.
                    let managed = prior.extensions.clone().unwrap_or_default();
                    let remove: Vec<String> = managed
                        .difference(wanted)
                        .filter(|e| installed.contains(*e) && !DEFAULT_EXTENSIONS.contains(&e.as_str()))
                        .cloned()
                        .collect();
                    pg.change_extensions(&name.name, &add, &remove).await?;
                }
            }
            Server::Mysql(my, _) => {
                if plan.character_set != prior.character_set || plan.collation != prior.collation {
                    my.alter_database(&name.name, plan.character_set.as_deref(), plan.collation.as_deref()).await?;
                }
            }
        }
        if let Some((vault, vc)) = self.vault
            && !self.vault_connection_current(name, vault, vc).await?
        {
            if let Server::Postgres(pg, _) = self.server
                && pg.needs_issuer().await?
            {
                // The login may be about to lose CREATEROLE: its roles move first.
                credentials::move_to_issuer(vault, &vc.database_mount, pg, name).await.map_err(Box::new)?;
            }
            let mut made = Made::default();
            self.connect_vault(name, false, &mut made).await?;
        }
        Ok(())
    }

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
            Server::Mysql(..) => true,
        })
    }

    /// Reads the database; `None` when it does not exist. Extensions are read only when
    /// `with_extensions`.
    ///
    /// # Errors
    /// [`DatabaseError`].
    pub async fn inspect(&self, name: &DatabaseName, with_extensions: bool) -> Result<Option<Observed>, DatabaseError> {
        let mut observed = Observed::default();
        match self.server {
            Server::Postgres(pg, _) => {
                let roles = name.group_roles();
                let catalog = pg.catalog_of(&[&name.name], &[&roles.owner, &roles.readwrite, &roles.readonly]).await?;
                let Some(info) = catalog.databases.get(&name.name) else { return Ok(None) };
                observed.claim =
                    info.comment.as_deref().filter(|c| c.starts_with(&name.mark())).and_then(Claim::from_text);
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
                if with_extensions {
                    observed.extensions = Some(pg.extensions(&name.name).await?);
                }
            }
            Server::Mysql(my, _) => {
                let catalog = my.catalog_of(&name.name).await?;
                let Some(info) = catalog.get(&name.name) else { return Ok(None) };
                observed.character_set = Some(info.character_set.clone());
                observed.collation = Some(info.collation.clone());
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

    /// Archives or drops the database: the Vault connection goes first (its leases revoked,
    /// so no issued user is left), then the database. Archiving keeps the data (and, on
    /// PostgreSQL, the group roles) under `archived_name`. A database another state claims
    /// is refused before anything changes.
    ///
    /// # Errors
    /// [`DatabaseError::Claimed`]; [`DatabaseError`]; connected clients are `InUse` unless
    /// `force`.
    pub async fn decommission(
        &self,
        name: &DatabaseName,
        held: Option<&str>,
        removal: Removal,
        archived_name: &str,
        force: bool,
    ) -> Result<(), DatabaseError> {
        self.refuse_theirs(name, held).await?;
        if let Some((vault, vc)) = self.vault {
            vault.remove_connection(&vc.database_mount, &name.vault_connection()).await?;
        }
        match (self.server, removal) {
            (Server::Postgres(pg, _), Removal::Archive) => {
                pg.archive_database(&name.name, archived_name, &name.group_roles(), force).await?;
            }
            (Server::Postgres(pg, _), Removal::Drop) => {
                let roles = name.group_roles();
                let all = [&roles.management, &roles.readwrite, &roles.readonly, &roles.owner].map(|r| r.clone());
                pg.drop_database(&name.name, &roles, &all, force).await?;
            }
            (Server::Mysql(my, _), Removal::Archive) => {
                my.archive_database(&name.name, archived_name, &name.mysql_management_login(), force).await?;
            }
            (Server::Mysql(my, _), Removal::Drop) => {
                my.drop_database(&name.name, &name.mysql_management_login(), force).await?;
            }
        }
        // MySQL keeps privileges on a dropped database's name, and a new database of that
        // name would get them: accounts this database's connection made go, others lose them.
        if let Server::Mysql(my, _) = self.server {
            for (user, host) in my.accounts_granted_on(&name.name).await? {
                if name.made_mysql_account(&user) {
                    my.drop_account(&user, &host).await?;
                } else {
                    my.revoke_database(&user, &host, &name.name).await?;
                }
            }
        }
        // The registry row is keyed by name: gone with the database (or its old name).
        if let (Server::Mysql(my, _), Some(held)) = (self.server, held) {
            claims::release(&MysqlDatabaseClaim { my, name }, held).await?;
        }
        Ok(())
    }

    /// Refuses a database another state claims.
    ///
    /// # Errors
    /// [`DatabaseError::Claimed`]; [`DatabaseError`] when the claim cannot be read.
    pub async fn refuse_theirs(&self, name: &DatabaseName, held: Option<&str>) -> Result<(), DatabaseError> {
        match self.claim_standing(name, held, None).await? {
            Standing::Theirs(claim) => Err(DatabaseError::Claimed(claim)),
            _ => Ok(()),
        }
    }

    /// Refuses a Vault connection of this name unless it is the provider's for this same
    /// database: one whose login is the database's management login. That is a stale one
    /// (its database was dropped outside Terraform); anything else is someone else's.
    async fn check_connection_free(&self, name: &DatabaseName) -> Result<(), DatabaseError> {
        let Some((vault, vc)) = self.vault else { return Ok(()) };
        let Some(existing) = vault.read_connection(&vc.database_mount, &name.vault_connection()).await? else {
            return Ok(());
        };
        let login = match name.engine {
            Engine::Postgresql => name.group_roles().management,
            Engine::Mysql => name.mysql_management_login(),
        };
        if existing["connection_details"]["username"].as_str() == Some(login.as_str()) {
            return Ok(());
        }
        Err(DatabaseError::ConnectionTaken { mount: vc.database_mount.clone(), connection: name.vault_connection() })
    }

    /// Creates (`new`: refusing one that exists unmarked) or resets the management login
    /// with a fresh password, then the Vault connection using it. Only Vault keeps the
    /// password: PostgreSQL is sent its SCRAM verifier alone, and on MySQL Vault rotates it
    /// at once (the server was sent it in plain).
    async fn connect_vault(&self, name: &DatabaseName, new: bool, made: &mut Made) -> Result<(), DatabaseError> {
        let Some((vault, vc)) = self.vault else { return Ok(()) };
        let password = password::generate();
        let (plugin, login, rotation) = match self.server {
            Server::Postgres(pg, config) => {
                let roles = name.group_roles();
                let existing = if new { Existing::MustBeMarked } else { Existing::Ours };
                made.login =
                    match pg.ensure_management_login(&name.name, &roles, &password, &name.mark(), existing).await {
                        Ok(created) => created,
                        Err(e) => {
                            made.login |= new && e.outcome_unknown();
                            return Err(e.into());
                        }
                    };

                let connection_url = format!(
                    "postgresql://{{{{username}}}}:{{{{password}}}}@{}/{}?sslmode={}",
                    authority(&config.host, config.port),
                    name.name,
                    config.sslmode
                );
                (
                    Plugin::Postgresql { connection_url, password_authentication: "scram-sha-256", pool: sql_pool(vc) },
                    roles.management,
                    RootRotation::NotNeeded,
                )
            }
            Server::Mysql(my, config) => {
                let login = name.mysql_management_login();
                if let Err(e) = my.ensure_management_login(&name.name, &login, &password, new).await {
                    made.login |= new && e.outcome_unknown();
                    return Err(e.into());
                }
                made.login = new;
                let connection_url =
                    format!("{{{{username}}}}:{{{{password}}}}@tcp({})/", authority(&config.host, config.port));
                (
                    Plugin::Mysql { connection_url, username_template: MYSQL_USERNAME_TEMPLATE, pool: sql_pool(vc) },
                    login,
                    RootRotation::Now,
                )
            }
        };
        // Roles adopted with the names they had before the provider are allowed by name
        // (`Vault::allow_role`): a rewritten connection keeps them, or their apps would stop
        // getting credentials.
        let connection = name.vault_connection();
        let mut allowed_roles = vec![format!("{connection}-*")];
        if !new && let Some(existing) = vault.read_connection(&vc.database_mount, &connection).await? {
            let kept = crate::backends::vault::allowed_roles(&existing);
            allowed_roles.extend(kept.into_iter().filter(|r| !r.ends_with('*')));
        }
        let body = ConnectionConfig { plugin, username: login, password, allowed_roles, verify_connection: true };
        made.connection = true;
        vault.create_connection(&vc.database_mount, &name.vault_connection(), &body, rotation).await?;
        Ok(())
    }
}
