//! Rotated credentials: the Vault role that issues users for a database or namespace at one
//! privilege level, and for a static role the one login whose password Vault rotates.
//!
//! Who owns what: a role belongs to a connection by its `db_name`, never by its name.
//! Creating refuses a Vault role, static role or static login that exists already (import
//! is the only way to adopt one), and a static login made before a failed static-role
//! write is dropped again.

use serde_json::Value as Json;

use crate::backends::mysql::{self, Mysql, MysqlError};
use crate::backends::password;
use crate::backends::postgres::{ISSUER_SCHEMA, Postgres, PostgresError};
use crate::backends::redis::{Redis, RedisBackendError};
use crate::backends::vault::{DynamicRole, StaticRole, Vault, VaultError};
use crate::platform::claims::{self, Claim, ClaimError, ClaimStore, Standing, VaultClaim};
use crate::platform::namespaces::{NamespaceError, Namespaces};
use crate::platform::naming::{self, DatabaseName, Engine, NamespaceName, RoleName, Target};
use crate::platform::redis_acl;
use crate::secret::Secret;

/// Dynamic users per request, or one static login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Vault creates a user per request, dropped when its lease ends.
    Dynamic {
        /// Seconds an issued user lasts unless renewed.
        default_ttl: u64,
        /// Seconds it can be renewed to.
        max_ttl: u64,
    },
    /// One login, its password rotated by Vault.
    Static {
        /// Seconds between rotations.
        rotation_period: u64,
    },
}

/// A role as configured.
#[derive(Clone, Debug)]
pub struct CredentialSpec {
    /// Target and name.
    pub role: RoleName,
    /// `readonly`, `readwrite` or `owner`.
    pub privileges: String,
    /// Dynamic or static.
    pub mode: Mode,
    /// The static login a role already has, from state: 0.1 named Redis ones
    /// `dbaas-<namespace>-<role>`, and a login keeps its name. `None`: the name
    /// [`RoleName::static_login`] makes.
    pub existing_login: Option<String>,
}

impl CredentialSpec {
    fn is_static(&self) -> bool {
        matches!(self.mode, Mode::Static { .. })
    }

    /// The static login.
    pub fn login(&self) -> String {
        self.existing_login.clone().unwrap_or_else(|| self.role.static_login())
    }
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Vault refused or could not be reached.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// PostgreSQL refused or could not be reached.
    #[error(transparent)]
    Postgres(#[from] PostgresError),
    /// MySQL refused or could not be reached.
    #[error(transparent)]
    Mysql(#[from] MysqlError),
    /// Redis refused or could not be reached.
    #[error(transparent)]
    Redis(#[from] RedisBackendError),
    /// The namespace could not be read.
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// Something the role would create exists already.
    #[error("{object} already exists and is not in this state")]
    Taken {
        /// What exists.
        object: String,
    },
    /// The database or namespace has no Vault connection.
    #[error("Vault has no connection {connection:?} on mount {mount:?}")]
    NoConnection {
        /// The connection.
        connection: String,
        /// The mount.
        mount: String,
    },
    /// The namespace has neither a KV secret nor an ACL user.
    #[error("namespace {0:?} has neither a password secret in Vault KV nor an ACL user")]
    NamespaceMissing(String),
    /// The Vault role of this name issues through another connection.
    #[error("Vault role {role:?} issues through connection {db_name:?}, not {expected:?}")]
    ForeignRole {
        /// The role.
        role: String,
        /// Its connection.
        db_name: String,
        /// The one it should have.
        expected: String,
    },
    /// A step failed, and undoing what came before it failed too.
    #[error("{cause}")]
    Incomplete {
        /// The first failure.
        cause: Box<CredentialError>,
        /// What is left on the servers.
        left: Vec<String>,
    },
    /// Another Terraform state claims the role.
    #[error("the role is claimed by another Terraform state since {} (claim {})", .0.since, .0.id)]
    Claimed(Claim),
    /// A static role made before the provider rotates a login that reaches beyond its
    /// database: the database's management login may not be given it.
    #[error(
        "static login {login:?} has {why}; only a login confined to the database can be rotated through its own connection"
    )]
    LoginOutside {
        /// The login.
        login: String,
        /// What reaches beyond the database.
        why: String,
    },
    /// Moving a role made before the provider would leave users Vault could not revoke.
    #[error("{}", .blocked.iter().map(|(user, why)| format!("{user:?} holds {why}")).collect::<Vec<_>>().join("; "))]
    Unrevocable {
        /// Each user, and the privilege in the way.
        blocked: Vec<(String, String)>,
    },
}

impl From<ClaimError<VaultError>> for CredentialError {
    fn from(e: ClaimError<VaultError>) -> CredentialError {
        match e {
            ClaimError::Store(e) => e.into(),
            ClaimError::Theirs(claim) => CredentialError::Claimed(claim),
        }
    }
}

/// Where the users live.
pub enum Store<'a> {
    /// A PostgreSQL database.
    Postgres(&'a Postgres),
    /// A MySQL database.
    Mysql(&'a Mysql),
    /// A Redis namespace.
    Redis(Namespaces<'a>),
}

/// A role as Vault describes it.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Dynamic: seconds.
    pub default_ttl: Option<u64>,
    /// Dynamic: seconds.
    pub max_ttl: Option<u64>,
    /// Static: seconds.
    pub rotation_period: Option<u64>,
    /// Whether its statements are the ones the provider writes for the privilege level.
    pub statements_match: bool,
    /// The claim on the role; `None` when unclaimed.
    pub claim: Option<Claim>,
    /// The connection a role made before the provider still issues through (a shared one,
    /// logging in as the server's admin); the next write moves it onto the target's own.
    pub adopted_from: Option<String>,
}

/// What writing an adopted role changes: it leaves `from_connection` for the target's own
/// connection, and the users it issued before are handed to that connection, so Vault can
/// still revoke them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Adoption {
    /// The connection it issues through now.
    pub from_connection: String,
    /// Users issued before the provider, handed over at the move (PostgreSQL; MySQL's
    /// management login drops them as they are).
    pub users: Vec<String>,
    /// PostgreSQL: users the management login could not drop, each with why (a privilege
    /// granted by someone it cannot act for). The move is refused while there are any.
    pub blocked: Vec<(String, String)>,
}

/// The credential operations for one target.
pub struct Credentials<'a> {
    /// Where the users live.
    pub store: Store<'a>,
    /// Vault.
    pub vault: &'a Vault,
    /// The database secrets engine mount.
    pub mount: &'a str,
    /// The KV v2 mount, where the roles' claims are kept.
    pub kv_mount: &'a str,
}

impl Credentials<'_> {
    /// Creates the role: refuses a Vault role, static role or static login that exists,
    /// checks that the connection exists, then writes. A static login made before a
    /// failed static-role write is dropped again.
    ///
    /// # Errors
    /// [`CredentialError`]; [`CredentialError::Incomplete`] when the login stays behind.
    pub async fn provision(&self, spec: &CredentialSpec, claim: &Claim) -> Result<(), CredentialError> {
        let readopting = self.check_new(spec).await?;
        // The claim before the role: a role Vault holds is never without its claim, and a
        // claim whose role was not written is given up again.
        let store = self.claim_store(&spec.role);
        claims::stamp_new(&store, claim).await?;
        let Err(cause) = self.write(spec).await else { return Ok(()) };
        let _ = claims::release(&store, &claim.id).await;
        if !spec.is_static() || readopting {
            return Err(cause);
        }
        match self.drop_static_login(spec).await {
            Ok(()) => Err(cause),
            Err(_) => Err(CredentialError::Incomplete {
                cause: Box::new(cause),
                left: vec![format!("static login {:?}", spec.login())],
            }),
        }
    }

    /// Writes the role as `spec` says (an update), after checking that the connection exists.
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn write(&self, spec: &CredentialSpec) -> Result<(), CredentialError> {
        let connection = spec.role.target.vault_connection();
        if !self.vault.connection_exists(self.mount, &connection).await? {
            return Err(CredentialError::NoConnection { connection, mount: self.mount.to_owned() });
        }
        if spec.role.keeps_vault_role() {
            self.vault.allow_role(self.mount, &connection, &spec.role.vault_role()).await?;
        }
        // A role made before the provider: the users it issued go to the new connection
        // before the role does (so a revocation in between finds them revocable), and those
        // it issued while moving, after.
        let adoption = self.adoption(spec).await?;
        if let Some(adoption) = &adoption {
            if !adoption.blocked.is_empty() {
                return Err(CredentialError::Unrevocable { blocked: adoption.blocked.clone() });
            }
            self.hand_over(spec, &adoption.users).await?;
        }
        self.write_role(spec, &connection).await?;
        if adoption.is_some()
            && !spec.is_static()
            && let Some(after) = self.issued_before(spec).await?
        {
            let movable: Vec<String> = after.into_iter().filter(|(_, why)| why.is_none()).map(|(u, _)| u).collect();
            self.hand_over(spec, &movable).await?;
        }
        Ok(())
    }

    /// Whether the role issues through a connection other than its target's, and if so
    /// what moving it changes; `None` for a role already on its connection or not there.
    ///
    /// # Errors
    /// [`CredentialError::ForeignRole`] when the role is another database's (its statements
    /// do not name this database alone); [`CredentialError`].
    pub async fn adoption(&self, spec: &CredentialSpec) -> Result<Option<Adoption>, CredentialError> {
        if spec.is_static() {
            let Some(role) = self.vault.read_static_role(self.mount, &spec.role.vault_role()).await? else {
                return Ok(None);
            };
            let from_connection = self.static_adopted_from(spec, &role).await?;
            return Ok(from_connection.map(|from_connection| Adoption { from_connection, ..Adoption::default() }));
        }
        let name = spec.role.vault_role();
        let Some(role) = self.vault.read_role(self.mount, &name).await? else { return Ok(None) };
        let Some(from_connection) = self.adopted_from(spec, &role)? else { return Ok(None) };
        let (mut users, mut blocked) = (Vec::new(), Vec::new());
        for (user, why) in self.issued_before(spec).await?.unwrap_or_default() {
            match why {
                None => users.push(user),
                Some(why) => blocked.push((user, why)),
            }
        }
        Ok(Some(Adoption { from_connection, users, blocked }))
    }

    /// `Some(connection)` when `role` (as Vault returns it) issues through another
    /// connection than the target's and was made for this database before the provider:
    /// its statements name this database and no other. Another database's role is
    /// [`CredentialError::ForeignRole`].
    fn adopted_from(&self, spec: &CredentialSpec, role: &Json) -> Result<Option<String>, CredentialError> {
        let Some((db_name, foreign)) = other_connection(spec, role) else { return Ok(None) };
        let Target::Database(db) = &spec.role.target else { return Err(foreign) };
        let named = databases_named(db.engine, &role["creation_statements"]);
        if named.len() == 1 && named.contains(&db.name) { Ok(Some(db_name)) } else { Err(foreign) }
    }

    /// `Some(connection)` when static `role` (as Vault returns it) rotates through another
    /// connection than the target's, made before the provider for a login of this database
    /// alone (PostgreSQL; see [`Postgres::login_outside`]), which moving it hands to the
    /// database's management login.
    ///
    /// # Errors
    /// [`CredentialError::LoginOutside`] for a login that reaches further;
    /// [`CredentialError::ForeignRole`] on MySQL and Redis, or for a provider connection's role.
    async fn static_adopted_from(&self, spec: &CredentialSpec, role: &Json) -> Result<Option<String>, CredentialError> {
        let Some((db_name, foreign)) = other_connection(spec, role) else { return Ok(None) };
        let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &spec.role.target) else { return Err(foreign) };
        if naming::is_provider_connection(&db_name) {
            return Err(foreign);
        }
        let login = role["username"].as_str().unwrap_or_default();
        match pg.login_outside(&db.name, login, &db.group_roles()).await? {
            None => Ok(Some(db_name)),
            Some(why) => Err(CredentialError::LoginOutside { login: login.to_owned(), why }),
        }
    }

    /// The role a static Vault role made before the provider stands for: one on a shared
    /// PostgreSQL connection (not of the provider's form), whose login holds privileges in
    /// exactly one database. `None` for any other.
    ///
    /// # Errors
    /// [`CredentialError`] when Vault or the server cannot be asked.
    pub async fn static_role_of(&self, vault_role: &str) -> Result<Option<RoleName>, CredentialError> {
        let Store::Postgres(pg) = &self.store else { return Ok(None) };
        let Some(found) = self.vault.read_static_role(self.mount, vault_role).await? else { return Ok(None) };
        let (Some(connection), Some(login)) = (found["db_name"].as_str(), found["username"].as_str()) else {
            return Ok(None);
        };
        if naming::is_provider_connection(connection) {
            return Ok(None);
        }
        let databases = pg.databases_of_login(login).await?;
        let [database] = databases.as_slice() else { return Ok(None) };
        let Some(target) = Target::parse(&format!("postgresql/{database}")) else { return Ok(None) };
        let name = role_name_from(vault_role.strip_prefix(&format!("{connection}-")).unwrap_or(vault_role));
        Ok(RoleName::new(target, &name).and_then(|r| r.keeping_vault_role(vault_role)).ok())
    }

    /// Users issued for the database before the provider, each with what keeps the
    /// management login from dropping it: on PostgreSQL see
    /// [`Postgres::users_issued_before`]; on MySQL nothing does (its management login may
    /// drop any user of its database), see [`Mysql::vault_users_of`]. `None` on Redis.
    async fn issued_before(
        &self,
        spec: &CredentialSpec,
    ) -> Result<Option<Vec<(String, Option<String>)>>, CredentialError> {
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                Ok(Some(pg.users_issued_before(&db.name, &db.group_roles()).await?))
            }
            (Store::Mysql(my), Target::Database(db)) => {
                Ok(Some(my.vault_users_of(&db.name).await?.into_iter().map(|(user, _)| (user, None)).collect()))
            }
            _ => Ok(None),
        }
    }

    async fn hand_over(&self, spec: &CredentialSpec, users: &[String]) -> Result<(), CredentialError> {
        if let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &spec.role.target) {
            pg.hand_over_users(&db.name, &db.group_roles(), users).await?;
        }
        Ok(())
    }

    async fn write_role(&self, spec: &CredentialSpec, connection: &str) -> Result<(), CredentialError> {
        let connection = connection.to_owned();
        match spec.mode {
            Mode::Dynamic { default_ttl, max_ttl } => {
                let statements = self.statements(&spec.role, &spec.privileges).await?;
                let body = DynamicRole {
                    db_name: connection,
                    creation_statements: statements.creation,
                    revocation_statements: statements.revocation,
                    default_ttl,
                    max_ttl,
                };
                self.vault.write_role(self.mount, &spec.role.vault_role(), &body).await?;
            }
            Mode::Static { rotation_period } => {
                // A login that is gone (a Redis restart, a DROP by hand) comes back with a
                // throwaway password, which Vault then replaces; one that exists keeps the
                // password Vault rotated, so apps keep working through an update.
                let missing = !self.static_login_exists(spec).await?;
                let throwaway = missing.then(password::generate);
                self.ensure_static_login(spec, throwaway.as_ref()).await?;
                let name = spec.role.vault_role();
                let existed = self.vault.read_static_role(self.mount, &name).await?.is_some();
                let rotation_statements = self.rotation_statements().await?;
                let body =
                    StaticRole { db_name: connection, username: spec.login(), rotation_period, rotation_statements };
                self.vault.write_static_role(self.mount, &name, &body).await?;
                // Creating a static role rotates at once; an existing one must be told.
                if missing && existed {
                    self.vault.rotate_static_role(self.mount, &name).await?;
                }
            }
        }
        Ok(())
    }

    /// Reads the role; `None` when Vault no longer has it. A role of this name that
    /// issues through another connection is [`CredentialError::ForeignRole`].
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn inspect(&self, spec: &CredentialSpec) -> Result<Option<Observed>, CredentialError> {
        let name = spec.role.vault_role();
        let found = if spec.is_static() {
            self.vault.read_static_role(self.mount, &name).await?
        } else {
            self.vault.read_role(self.mount, &name).await?
        };
        let Some(role) = found else { return Ok(None) };
        let adopted_from = if spec.is_static() {
            self.static_adopted_from(spec, &role).await?
        } else {
            self.adopted_from(spec, &role)?
        };
        let statements_match = if spec.is_static() {
            let login = role["username"].as_str().map_or_else(|| spec.login(), str::to_owned);
            let rotation = self.rotation_statements().await?;
            let written = role["rotation_statements"].as_array().cloned().unwrap_or_default();
            written == rotation.into_iter().map(Json::from).collect::<Vec<_>>()
                && self.static_login_matches(spec, &login).await?
        } else {
            let statements = self.statements(&spec.role, &spec.privileges).await?;
            role["creation_statements"] == Json::from(statements.creation)
        };
        Ok(Some(Observed {
            default_ttl: role["default_ttl"].as_u64(),
            max_ttl: role["max_ttl"].as_u64(),
            rotation_period: role["rotation_period"].as_u64(),
            statements_match: statements_match && adopted_from.is_none(),
            claim: self.claim_store(&spec.role).read().await?.claim,
            adopted_from,
        }))
    }

    /// Where the role's claim is kept: Vault KV, `dbaas/claims/<mount>/<vault role>`.
    fn claim_store(&self, role: &RoleName) -> VaultClaim<'_> {
        VaultClaim { vault: self.vault, kv_mount: self.kv_mount, path: role.claim_path(self.mount) }
    }

    /// Takes the role's claim for the state holding `held` (see [`claims::take`]): before
    /// an update changes anything.
    ///
    /// # Errors
    /// [`CredentialError::Claimed`] when another state holds it; [`CredentialError`].
    pub async fn take_claim(
        &self,
        role: &RoleName,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Claim, CredentialError> {
        Ok(claims::take(&self.claim_store(role), held, take_over).await?)
    }

    /// How the role's claim stands for the state holding `held`, whose configuration says
    /// `take_over`.
    ///
    /// # Errors
    /// [`CredentialError`] when the claim cannot be read.
    pub async fn claim_standing(
        &self,
        role: &RoleName,
        held: Option<&str>,
        take_over: Option<&str>,
    ) -> Result<Standing, CredentialError> {
        let found = self.claim_store(role).read().await?;
        Ok(claims::standing(found.claim.as_ref(), held, take_over))
    }

    /// Removes the role: every user issued for a dynamic role first, synchronously; a
    /// static role's login after its Vault role.
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn decommission(&self, spec: &CredentialSpec, held: Option<&str>) -> Result<(), CredentialError> {
        let store = self.claim_store(&spec.role);
        claims::check(&store, held).await?;
        let name = spec.role.vault_role();
        if spec.is_static() {
            self.vault.delete_static_role(self.mount, &name).await?;
            self.drop_static_login(spec).await?;
        } else {
            self.vault.revoke_role_leases(self.mount, &name).await?;
            self.vault.delete_role(self.mount, &name).await?;
        }
        if spec.role.keeps_vault_role() {
            self.vault.disallow_role(self.mount, &spec.role.target.vault_connection(), &name).await?;
        }
        if let Some(held) = held {
            claims::release(&store, held).await?;
        }
        Ok(())
    }

    /// Users Vault issued for a dynamic role whose lease is gone (PostgreSQL: by their
    /// expiry; MySQL and Redis: by their names and issue times); none for a static role.
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn stale_users(&self, spec: &CredentialSpec) -> Result<Vec<String>, CredentialError> {
        if spec.is_static() {
            return Ok(Vec::new());
        }
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                Ok(pg.expired_vault_users(db.group_roles().for_level(&spec.privileges), &db.name).await?)
            }
            (Store::Mysql(my), Target::Database(_)) => self.mysql_stale_users(my, &spec.role).await,
            (Store::Redis(ns), Target::Namespace(_)) => self.redis_stale_users(ns.redis, &spec.role).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Redis users Vault issued for this role that no live lease holds, matched on issue
    /// time as on MySQL (see [`RoleName::redis_issued_at`] for which names are recognised).
    async fn redis_stale_users(&self, redis: &Redis, role: &RoleName) -> Result<Vec<String>, CredentialError> {
        let users: Vec<(String, i64)> = redis
            .user_names()
            .await?
            .into_iter()
            .filter_map(|user| {
                let at = role.redis_issued_at(&user)?;
                Some((user, at))
            })
            .collect();
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let leases = self.vault.lease_issue_times(self.mount, &role.vault_role()).await?;
        Ok(users
            .into_iter()
            .filter(|(_, at)| leases.iter().all(|t| (t - at).abs() > 2))
            .map(|(user, _)| user)
            .collect())
    }

    /// MySQL users Vault issued for this role (their names say so) that no live lease
    /// holds: no live lease of the role was issued within two seconds of the user. Vault
    /// does not say which user a lease is for, so a user issued in the same moment as a
    /// live one is never called stale: a stale user may go unlisted, a live one is never
    /// listed.
    async fn mysql_stale_users(&self, my: &Mysql, role: &RoleName) -> Result<Vec<String>, CredentialError> {
        let prefix = role.mysql_issued_prefix();
        let users = my.logins_starting(&prefix).await?;
        let mut stale = if users.is_empty() {
            users
        } else {
            let leases = self.vault.lease_issue_times(self.mount, &role.vault_role()).await?;
            let issued_at = |user: &str| user.strip_prefix(&prefix)?.split('_').next()?.parse::<i64>().ok();
            users
                .into_iter()
                .filter(|user| issued_at(user).is_some_and(|at| leases.iter().all(|t| (t - at).abs() > 2)))
                .collect()
        };
        stale.extend(self.mysql_users_from_before(my, role).await?);
        Ok(stale)
    }

    /// MySQL users a hand-written Vault role issued for the database before the provider
    /// (see [`Mysql::vault_users_of`]) that no live lease holds: no lease of any role that
    /// may have issued for the database (one on its connection, one whose statements name
    /// it, this one) was issued within two seconds of the user's password. Their names
    /// carry no time Vault's default templates would keep, so the password's is used.
    async fn mysql_users_from_before(&self, my: &Mysql, role: &RoleName) -> Result<Vec<String>, CredentialError> {
        let Target::Database(db) = &role.target else { return Ok(Vec::new()) };
        let users = my.vault_users_of(&db.name).await?;
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut leases = Vec::new();
        for name in self.vault.list_roles(self.mount).await? {
            let Some(found) = self.vault.read_role(self.mount, &name).await? else { continue };
            let issues_for_database = name == role.vault_role()
                || found["db_name"].as_str() == Some(db.vault_connection().as_str())
                || databases_named(Engine::Mysql, &found["creation_statements"]).contains(&db.name);
            if issues_for_database {
                leases.extend(self.vault.lease_issue_times(self.mount, &name).await?);
            }
        }
        Ok(users.into_iter().filter(|(_, at)| leases.iter().all(|t| (t - at).abs() > 2)).map(|(u, _)| u).collect())
    }

    /// Drops the users stale now (not those a plan saw); what they own goes to the owner
    /// group role. Returns who was dropped.
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn drop_stale_users(&self, spec: &CredentialSpec) -> Result<Vec<String>, CredentialError> {
        let stale = self.stale_users(spec).await?;
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                let roles = db.group_roles();
                for user in &stale {
                    pg.drop_login(&db.name, user, &roles).await?;
                }
            }
            (Store::Mysql(my), _) => {
                for user in &stale {
                    my.drop_login(user).await?;
                }
            }
            (Store::Redis(ns), _) => {
                for user in &stale {
                    ns.redis.delete_user(user).await?;
                }
            }
            (Store::Postgres(_), Target::Namespace(_)) => {}
        }
        Ok(stale)
    }

    /// For import: whether the role is static, and the privilege level its statements
    /// give (`readwrite` when none matches).
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn imported(&self, role: &RoleName) -> Result<(bool, String), CredentialError> {
        let name = role.vault_role();
        if let Some(found) = self.vault.read_static_role(self.mount, &name).await? {
            let login = found["username"].as_str().map_or_else(|| role.static_login(), str::to_owned);
            return Ok((true, self.static_privileges(role, &login).await?));
        }
        if let Some(found) = self.vault.read_role(self.mount, &name).await? {
            for level in ["readonly", "readwrite", "owner"] {
                if found["creation_statements"] == Json::from(self.statements(role, level).await?.creation) {
                    return Ok((false, level.to_owned()));
                }
            }
        }
        Ok((false, "readwrite".to_owned()))
    }

    /// The role a Vault role name stands for, for import by identity or by the Vault
    /// role's name: a name alone is ambiguous (`redis-a-b-c`), so the role itself says
    /// which database it is for: the one its statements name, when they name exactly one
    /// (a role made before the provider, on a shared connection), or else its connection's.
    /// A name other than `<connection>-<name>` is kept ([`RoleName::keeping_vault_role`]).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn role_of(vault: &Vault, mount: &str, vault_role: &str) -> Result<Option<RoleName>, VaultError> {
        let found = match vault.read_role(mount, vault_role).await? {
            Some(r) => Some(r),
            None => vault.read_static_role(mount, vault_role).await?,
        };
        let Some(found) = found else { return Ok(None) };
        let Some(connection) = found["db_name"].as_str() else { return Ok(None) };
        let engine = match vault.read_connection(mount, connection).await? {
            Some(c) => c["plugin_name"].as_str().and_then(engine_of_plugin),
            None => None,
        };
        let named = engine.map(|e| databases_named(e, &found["creation_statements"])).unwrap_or_default();
        let target = match (engine, named.len()) {
            (Some(engine), 1) => named.first().and_then(|db| Target::parse(&format!("{}/{db}", engine.as_str()))),
            _ => connection.split_once('-').and_then(|(kind, database)| {
                let engine = if kind == "postgres" { "postgresql" } else { kind };
                Target::parse(&format!("{engine}/{database}"))
            }),
        };
        let Some(target) = target else { return Ok(None) };
        let own = format!("{}-", target.vault_connection());
        let name = match vault_role.strip_prefix(&own) {
            Some(rest) => role_name_from(rest),
            None => role_name_from(vault_role.strip_prefix(&format!("{connection}-")).unwrap_or(vault_role)),
        };
        Ok(RoleName::new(target, &name).and_then(|r| r.keeping_vault_role(vault_role)).ok())
    }

    /// Refuses a new role whose Vault role (dynamic or static) exists already: a role made
    /// by hand or by another stack is imported, never overwritten.
    ///
    /// # Errors
    /// [`CredentialError::Taken`]; [`CredentialError`] when Vault refuses.
    pub async fn check_vault_role_free(&self, role: &RoleName) -> Result<(), CredentialError> {
        let (mount, name) = (self.mount, role.vault_role());
        if self.vault.read_role(mount, &name).await?.is_some() {
            return Err(CredentialError::Taken { object: format!("Vault role {mount}/roles/{name}") });
        }
        if self.vault.read_static_role(mount, &name).await?.is_some() {
            return Err(CredentialError::Taken { object: format!("Vault static role {mount}/static-roles/{name}") });
        }
        Ok(())
    }

    /// Refuses what a new role would take from someone else. `Ok(true)`: the static login
    /// exists and is marked as this database's static login, with no Vault static role left
    /// for it (Vault lost its data, say): the role takes it back, and keeps it if writing
    /// fails.
    async fn check_new(&self, spec: &CredentialSpec) -> Result<bool, CredentialError> {
        self.check_vault_role_free(&spec.role).await?;
        if spec.is_static() {
            let login = spec.login();
            let exists = match &self.store {
                Store::Postgres(pg) => pg.catalog_of(&[], &[&login]).await?.roles.contains(&login),
                Store::Mysql(my) => my.login_exists(&login).await?,
                Store::Redis(ns) => ns.redis.user_exists_anywhere(&login).await?,
            };
            if exists {
                if let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &spec.role.target)
                    && pg.is_static_login_of(&db.name, &login).await?
                {
                    return Ok(true);
                }
                return Err(CredentialError::Taken { object: format!("login {login:?}") });
            }
        }
        Ok(false)
    }

    /// Whether the static login exists (read now: after a Redis restart it may not).
    async fn static_login_exists(&self, spec: &CredentialSpec) -> Result<bool, CredentialError> {
        let login = spec.login();
        Ok(match &self.store {
            Store::Postgres(pg) => pg.role_exists(&login).await?,
            Store::Mysql(my) => my.login_exists(&login).await?,
            Store::Redis(ns) => ns.redis.get_user(0, &login).await?.is_some(),
        })
    }

    /// Creates or puts right the static login at the role's level: exactly the level's
    /// group role or grants or rules. With `password` (a throwaway: Vault rotates it at
    /// once) it is set; without, the login keeps the password Vault gave it.
    async fn ensure_static_login(
        &self,
        spec: &CredentialSpec,
        password: Option<&Secret>,
    ) -> Result<(), CredentialError> {
        let login = spec.login();
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                pg.ensure_login(&db.name, &login, password, &db.group_roles(), &spec.privileges).await?;
            }
            (Store::Mysql(my), Target::Database(db)) => {
                my.ensure_login(&db.name, &login, password, mysql_grants(&spec.privileges)).await?;
            }
            (Store::Redis(ns), Target::Namespace(name)) => {
                let rules = self.redis_rules(ns, name, &spec.privileges).await?;
                ns.redis.set_user(&login, password, &[], &rules).await?;
            }
            _ => unreachable!("the store is chosen by the target"),
        }
        Ok(())
    }

    async fn drop_static_login(&self, spec: &CredentialSpec) -> Result<(), CredentialError> {
        let login = spec.login();
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => pg.drop_login(&db.name, &login, &db.group_roles()).await?,
            (Store::Mysql(my), _) => my.drop_login(&login).await?,
            (Store::Redis(ns), _) => ns.redis.delete_user(&login).await?,
            _ => unreachable!("the store is chosen by the target"),
        }
        Ok(())
    }

    /// Whether the static login exists with exactly its level: member of its group role
    /// and no other of the database's (PostgreSQL), exactly the level's privileges on the
    /// database (MySQL), present on the primary (Redis: a restart loses it).
    async fn static_login_matches(&self, spec: &CredentialSpec, login: &str) -> Result<bool, CredentialError> {
        Ok(match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                let roles = db.group_roles();
                let groups = [&roles.owner, &roles.readwrite, &roles.readonly];
                let member_of: Vec<String> =
                    pg.memberships(login).await?.into_iter().filter(|g| groups.contains(&g)).collect();
                pg.role_exists(login).await? && member_of == [roles.for_level(&spec.privileges).to_owned()]
            }
            (Store::Mysql(my), Target::Database(db)) => {
                let mut granted = my.privileges_on(login, &db.name).await?;
                granted.sort();
                match spec.privileges.as_str() {
                    "owner" => granted.iter().any(|p| p == "CREATE"),
                    level => {
                        let mut expected: Vec<String> = mysql_grants(level).split(", ").map(str::to_owned).collect();
                        expected.sort();
                        granted == expected
                    }
                }
            }
            (Store::Redis(ns), _) => ns.redis.get_user(0, login).await?.is_some(),
            _ => unreachable!("the store is chosen by the target"),
        })
    }

    /// The level a static login's memberships or grants give, for import.
    async fn static_privileges(&self, role: &RoleName, login: &str) -> Result<String, CredentialError> {
        if let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &role.target) {
            let roles = db.group_roles();
            let member_of = pg.memberships(login).await?;
            for (level, group) in
                [("owner", &roles.owner), ("readwrite", &roles.readwrite), ("readonly", &roles.readonly)]
            {
                if member_of.contains(group) {
                    return Ok(level.to_owned());
                }
            }
        }
        if let (Store::Mysql(my), Target::Database(db)) = (&self.store, &role.target) {
            let granted = my.privileges_on(login, &db.name).await?;
            let has = |p: &str| granted.iter().any(|g| g == p);
            if has("CREATE") {
                return Ok("owner".to_owned());
            }
            if has("SELECT") && !has("INSERT") {
                return Ok("readonly".to_owned());
            }
        }
        if let (Store::Redis(ns), Target::Namespace(_)) = (&self.store, &role.target)
            && let Some(user) = ns.redis.get_user(0, login).await?
            && !user.commands.split_whitespace().any(|c| c == "+@write")
        {
            return Ok("readonly".to_owned());
        }
        Ok("readwrite".to_owned())
    }

    /// The ACL rules of a Redis role: the namespace's patterns and the level's commands.
    /// The prefix comes from the namespace's KV secret, which outlives a Redis restart,
    /// or else from its ACL user.
    async fn redis_rules(
        &self,
        namespaces: &Namespaces<'_>,
        name: &NamespaceName,
        privileges: &str,
    ) -> Result<Vec<String>, CredentialError> {
        let prefix = namespaces
            .recorded_prefix(name)
            .await?
            .ok_or_else(|| CredentialError::NamespaceMissing(name.as_str().to_owned()))?;
        let mut rules = redis_acl::pattern_rules(&prefix);
        rules.extend(redis_acl::command_rules(privileges));
        Ok(rules)
    }

    /// Creation and revocation statements for the role's engine and privilege level.
    async fn statements(&self, role: &RoleName, privileges: &str) -> Result<Statements, CredentialError> {
        Ok(match (&self.store, &role.target) {
            (Store::Redis(ns), Target::Namespace(name)) => {
                let rules = self.redis_rules(ns, name, privileges).await?;
                // The redis plugin reads creation_statements[0] as a JSON array of rules.
                Statements { creation: vec![Json::from(rules).to_string()], revocation: Vec::new() }
            }
            (Store::Postgres(pg), Target::Database(db)) => sql_statements(db, privileges, pg.needs_issuer().await?),
            (_, Target::Database(db)) => sql_statements(db, privileges, false),
            _ => unreachable!("the store is chosen by the target"),
        })
    }

    /// What Vault runs to rotate a static login's password: through the issuer before
    /// PostgreSQL 16 (the management login may not alter roles there), else the plugin's
    /// own statement.
    async fn rotation_statements(&self) -> Result<Vec<String>, CredentialError> {
        if let Store::Postgres(pg) = &self.store
            && pg.needs_issuer().await?
        {
            return Ok(vec![issuer_rotation_statement()]);
        }
        Ok(Vec::new())
    }
}

/// PostgreSQL before 16, before the management login of `db` loses `CREATEROLE`: moves the
/// provider's roles on its connection that still carry the previous release's statements
/// (`CREATE ROLE` run by the login itself) onto the issuer's functions, and marks their static
/// logins, so each keeps issuing and rotating the moment the login is narrowed, not only once
/// Terraform reaches the role later in the same apply. Roles written by hand are left as they
/// are. A token that may not list static roles (the policy of earlier releases) moves only
/// the dynamic ones.
///
/// # Errors
/// [`CredentialError`] when Vault or PostgreSQL refuses.
pub async fn move_to_issuer(
    vault: &Vault,
    mount: &str,
    pg: &Postgres,
    db: &DatabaseName,
) -> Result<(), CredentialError> {
    let connection = db.vault_connection();
    let ours = |name: &String| name.starts_with(&format!("{connection}-"));
    for name in vault.list_roles(mount).await?.into_iter().filter(ours) {
        let Some(role) = vault.read_role(mount, &name).await? else { continue };
        let written = &role["creation_statements"];
        let Some(level) = ["readonly", "readwrite", "owner"]
            .into_iter()
            .find(|level| *written == Json::from(sql_statements(db, level, false).creation))
        else {
            continue;
        };
        if role["db_name"].as_str() != Some(connection.as_str()) {
            continue;
        }
        let statements = sql_statements(db, level, true);
        let body = DynamicRole {
            db_name: connection.clone(),
            creation_statements: statements.creation,
            revocation_statements: statements.revocation,
            default_ttl: role["default_ttl"].as_u64().unwrap_or_default(),
            max_ttl: role["max_ttl"].as_u64().unwrap_or_default(),
        };
        vault.write_role(mount, &name, &body).await?;
    }
    let static_roles = match vault.list_static_roles(mount).await {
        Ok(names) => names,
        Err(VaultError::PermissionDenied { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    for name in static_roles.into_iter().filter(ours) {
        let Some(role) = vault.read_static_role(mount, &name).await? else { continue };
        let (Some(login), Some(period)) = (role["username"].as_str(), role["rotation_period"].as_u64()) else {
            continue;
        };
        let unset = role["rotation_statements"].as_array().is_none_or(Vec::is_empty);
        if role["db_name"].as_str() != Some(connection.as_str()) || !unset {
            continue;
        }
        pg.mark_static_login(&db.name, login).await?;
        let body = StaticRole {
            db_name: connection.clone(),
            username: login.to_owned(),
            rotation_period: period,
            rotation_statements: vec![issuer_rotation_statement()],
        };
        vault.write_static_role(mount, &name, &body).await?;
    }
    Ok(())
}

/// What Vault runs, through the issuer, to set a static login's password.
fn issuer_rotation_statement() -> String {
    format!("SELECT {ISSUER_SCHEMA}.set_password('{{{{name}}}}', '{{{{password}}}}');")
}

/// What Vault runs to create and to drop a user of a role.
struct Statements {
    creation: Vec<String>,
    revocation: Vec<String>,
}

/// `issuer`: PostgreSQL before 16, where the management login has no `CREATEROLE` and
/// issues and drops users through the functions in [`ISSUER_SCHEMA`].
fn sql_statements(db: &DatabaseName, privileges: &str, issuer: bool) -> Statements {
    match db.engine {
        Engine::Postgresql if issuer => {
            let level = match privileges {
                "readonly" => "readonly",
                "owner" => "owner",
                _ => "readwrite",
            };
            let mut creation = vec![format!(
                "SELECT {ISSUER_SCHEMA}.create_user('{{{{name}}}}', '{{{{password}}}}', '{{{{expiration}}}}', '{level}');"
            )];
            if level == "owner" {
                // A role may set its own defaults; the issuer made the management login a
                // member of this user for that, since it may not set `role` itself.
                creation.push("SET LOCAL ROLE \"{{name}}\";".to_owned());
                creation
                    .push(format!("ALTER ROLE \"{{{{name}}}}\" SET role = {};", pg_literal(&db.group_roles().owner)));
                creation.push("RESET ROLE;".to_owned());
            }
            Statements { creation, revocation: vec![format!("SELECT {ISSUER_SCHEMA}.drop_user('{{{{name}}}}');")] }
        }
        Engine::Postgresql => {
            let roles = db.group_roles();
            let group = roles.for_level(privileges);
            let mut creation = vec![format!(
                "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' IN ROLE {};",
                pg_ident(group)
            )];
            if privileges == "owner" {
                // Objects it creates belong to the owner group, so they outlive it.
                creation.push(format!("ALTER ROLE \"{{{{name}}}}\" SET role = {};", pg_literal(&roles.owner)));
            }
            Statements {
                creation,
                // One block, so a user already gone (dropped as stale, say) does not make
                // the revocation fail. The management login created the user but is no
                // member of it; REASSIGN and DROP OWNED need that membership. It runs in
                // the tenant's database, whose `public` the tenant owns: the search path
                // is pinned to the system catalog first, so no tenant function or
                // operator can stand in for the ones called here.
                revocation: vec![format!(
                    "DO $$ BEGIN PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true); \
                     IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) '{{{{name}}}}') THEN \
                     EXECUTE pg_catalog.format('GRANT %I TO CURRENT_USER', '{{{{name}}}}'); \
                     EXECUTE pg_catalog.format('REASSIGN OWNED BY %I TO %I', '{{{{name}}}}', {owner}); \
                     EXECUTE pg_catalog.format('DROP OWNED BY %I', '{{{{name}}}}'); \
                     EXECUTE pg_catalog.format('DROP ROLE %I', '{{{{name}}}}'); \
                     END IF; END $$;",
                    owner = pg_literal(&roles.owner)
                )],
            }
        }
        Engine::Mysql => Statements {
            creation: vec![
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';".to_owned(),
                format!(
                    "GRANT {} ON {}.* TO '{{{{name}}}}'@'%';",
                    mysql_grants(privileges),
                    mysql::quote_identifier(&db.name)
                ),
            ],
            revocation: vec!["DROP USER IF EXISTS '{{name}}'@'%';".to_owned()],
        },
    }
}

fn mysql_grants(privileges: &str) -> &'static str {
    match privileges {
        "readonly" => "SELECT",
        "owner" => "ALL PRIVILEGES",
        _ => "SELECT, INSERT, UPDATE, DELETE",
    }
}

/// A PostgreSQL identifier, quoted (names here are validated, but quoting is not optional).
fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal.
fn pg_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The engine of a Vault database plugin (`postgresql-database-plugin`, say).
fn engine_of_plugin(plugin: &str) -> Option<Engine> {
    if plugin.starts_with("postgresql") {
        Some(Engine::Postgresql)
    } else if plugin.starts_with("mysql") {
        Some(Engine::Mysql)
    } else {
        None
    }
}

/// A role name made from the tail of a Vault role's name: lowercased, anything outside the
/// allowed characters made `-`, at most 24 characters.
/// The connection `role` (as Vault returns it) issues through when it is not the target's
/// own, with the error that calls the role another database's.
fn other_connection(spec: &CredentialSpec, role: &Json) -> Option<(String, CredentialError)> {
    let expected = spec.role.target.vault_connection();
    let db_name = role["db_name"].as_str().unwrap_or_default().to_owned();
    (db_name != expected).then(|| {
        let foreign = CredentialError::ForeignRole { role: spec.role.vault_role(), db_name: db_name.clone(), expected };
        (db_name, foreign)
    })
}

fn role_name_from(tail: &str) -> String {
    let name: String = tail
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' { c } else { '-' })
        .take(24)
        .collect();
    if name.is_empty() { "role".to_owned() } else { name }
}

/// The databases hand-written creation statements grant on: PostgreSQL's
/// `ON DATABASE <name>`, MySQL's `ON <name>.*`. Identifiers as the server reads them:
/// quoted ones as written, bare ones lowercased (PostgreSQL) or as written (MySQL).
/// Statements the provider writes name none on PostgreSQL (they name group roles).
pub fn databases_named(engine: Engine, statements: &Json) -> std::collections::BTreeSet<String> {
    let texts: Vec<&str> = match statements {
        Json::Array(items) => items.iter().filter_map(Json::as_str).collect(),
        Json::String(text) => vec![text.as_str()],
        _ => Vec::new(),
    };
    let mut found = std::collections::BTreeSet::new();
    for text in texts {
        let lower = text.to_ascii_lowercase();
        let mut at = 0;
        while let Some(i) = lower[at..].find(" on ") {
            let start = at + i + 4;
            at = start;
            let rest = &text[start..];
            let rest = rest.trim_start();
            let (rest, postgres_database) = match engine {
                Engine::Postgresql => match rest.get(..9) {
                    Some(word) if word.eq_ignore_ascii_case("database ") => (rest[9..].trim_start(), true),
                    _ => continue,
                },
                Engine::Mysql => (rest, false),
            };
            let Some((ident, after)) = identifier(rest, engine) else { continue };
            if postgres_database || after.starts_with(".*") {
                found.insert(ident);
            }
        }
    }
    found
}

/// The identifier `text` starts with, and what follows it.
fn identifier(text: &str, engine: Engine) -> Option<(String, &str)> {
    let quote = if engine == Engine::Mysql { '`' } else { '"' };
    if let Some(rest) = text.strip_prefix(quote) {
        let mut ident = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                if rest[i + 1..].starts_with(quote) {
                    ident.push(quote);
                    chars.next();
                    continue;
                }
                return Some((ident, &rest[i + 1..]));
            }
            ident.push(c);
        }
        return None;
    }
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$')).unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let ident = &text[..end];
    let ident = if engine == Engine::Postgresql { ident.to_ascii_lowercase() } else { ident.to_owned() };
    Some((ident, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_statements_say_which_database_they_are_for() {
        let pg = Json::from(vec![
            "CREATE USER \"{{name}}\" WITH PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "GRANT ALL PRIVILEGES ON DATABASE myapp TO \"{{name}}\";",
        ]);
        assert_eq!(databases_named(Engine::Postgresql, &pg).into_iter().collect::<Vec<_>>(), ["myapp"]);
        let quoted = Json::from(vec!["GRANT CONNECT ON database \"My\"\"App\" TO x; GRANT SELECT ON t TO x"]);
        assert_eq!(databases_named(Engine::Postgresql, &quoted).into_iter().collect::<Vec<_>>(), ["My\"App"]);
        let upper = Json::from(vec!["GRANT ALL ON DATABASE MyApp TO x"]);
        assert_eq!(databases_named(Engine::Postgresql, &upper).into_iter().collect::<Vec<_>>(), ["myapp"]);
        let mysql = Json::from(vec![
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
            "GRANT SELECT, INSERT ON `shop`.* TO '{{name}}'@'%'; GRANT SELECT ON other.t TO '{{name}}'@'%';",
        ]);
        assert_eq!(databases_named(Engine::Mysql, &mysql).into_iter().collect::<Vec<_>>(), ["shop"]);
        // The provider's own statements name group roles, not databases.
        let ours = Json::from(
            sql_statements(&DatabaseName::new(Engine::Postgresql, "shop").unwrap(), "owner", false).creation,
        );
        assert!(databases_named(Engine::Postgresql, &ours).is_empty());
        let two = Json::from(vec!["GRANT ALL ON DATABASE a TO x", "GRANT ALL ON DATABASE b TO x"]);
        assert_eq!(databases_named(Engine::Postgresql, &two).len(), 2);
    }

    #[test]
    fn a_vault_role_name_gives_a_role_name_the_provider_takes() {
        assert_eq!(role_name_from("role"), "role");
        assert_eq!(role_name_from("Billing.App"), "billing-app");
        assert_eq!(role_name_from(""), "role");
        assert_eq!(role_name_from("a-very-long-legacy-role-name-indeed").len(), 24);
    }
}
