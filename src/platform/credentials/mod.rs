//! Rotated credentials: the Vault role that issues users for a database or namespace at one
//! privilege level, and for a static role the one login whose password Vault rotates.
//!
//! Who owns what: a role belongs to a connection by its `db_name`, never by its name.
//! Creating refuses a Vault role, static role or static login that exists already (import
//! is the only way to adopt one), and a static login made before a failed static-role
//! write is dropped again.
//!
//! Here: the operations on a role (create, write, read, claim, remove). Roles made before
//! the provider are in `adoption`, stale users in `stale`, static logins in `logins`, and
//! the SQL Vault runs in `statements`.

use serde_json::Value as Json;

use crate::backends::mysql::{self, Mysql, MysqlError};
use crate::backends::password;
use crate::backends::postgres::{ISSUER_SCHEMA, Postgres, PostgresError};
use crate::backends::redis::{Redis, RedisBackendError};
use crate::backends::vault::{DynamicRole, StaticRole, Vault, VaultError};
use crate::platform::claims::{self, Claim, ClaimError, ClaimStore, Standing, VaultClaim};
use crate::platform::namespaces::{NamespaceError, Namespaces};
use crate::platform::naming::{self, DatabaseName, Engine, NamespaceName, RoleName, Target};
use crate::platform::privileges::Privileges;
use crate::platform::redis_acl;
use crate::secret::Secret;

mod adoption;
mod leases;
mod logins;
mod stale;
mod statements;

use adoption::*;
pub use leases::{LeaseError, Leases};
use statements::*;

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
    pub privileges: Privileges,
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
    /// A Vault role made before the provider makes its users members of roles that reach
    /// beyond the database: moving it would hand such users to the management login.
    #[error("Vault role {role:?} makes each user a member of {}", .groups.join(", "))]
    GroupsReachBeyond {
        /// The role.
        role: String,
        /// The roles that hold privileges or objects elsewhere (or log in, or hold role
        /// attributes, or are members of other roles).
        groups: Vec<String>,
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
    /// Moving a role made before the provider would give the users it issues after less
    /// than the users it issued before hold.
    #[error("{}", .beyond.join(", "))]
    LessThanBefore {
        /// What they hold that the level's group would not give.
        beyond: Vec<String>,
        /// The level's group role.
        group: String,
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
    /// PostgreSQL: roles of the database alone that users issued before are members of;
    /// the level's group joins them at the move, so users issued after get the same.
    pub carried: Vec<String>,
    /// PostgreSQL: what users issued before hold that the level would not give users
    /// issued after. The move is refused while there is any.
    pub beyond: Vec<String>,
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
            if let Some(e) = adoption.less_than_before(spec) {
                return Err(e);
            }
            self.hand_over(spec, &adoption.users).await?;
            if let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &spec.role.target) {
                pg.carry_groups_over(&db.group_roles(), spec.privileges.as_str(), &adoption.carried).await?;
            }
        }
        self.write_role(spec, &connection).await?;
        if let Some(adoption) = &adoption
            && !spec.is_static()
            && let Some(after) = self.issued_before(spec, &adoption.from_connection).await?
        {
            let movable: Vec<String> = after.into_iter().filter(|(_, why)| why.is_none()).map(|(u, _)| u).collect();
            self.hand_over(spec, &movable).await?;
        }
        Ok(())
    }

    async fn write_role(&self, spec: &CredentialSpec, connection: &str) -> Result<(), CredentialError> {
        let connection = connection.to_owned();
        match spec.mode {
            Mode::Dynamic { default_ttl, max_ttl } => {
                let statements = self.statements(&spec.role, spec.privileges).await?;
                if let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &spec.role.target)
                    && !statements.renewal.is_empty()
                {
                    // The statements call the issuer's functions: a database an earlier
                    // release made gets the ones it lacks (renew_user) first.
                    pg.ensure_issuer(&db.name).await?;
                }
                let body = DynamicRole {
                    db_name: connection,
                    creation_statements: statements.creation,
                    revocation_statements: statements.revocation,
                    renew_statements: statements.renewal,
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
            self.adopted_from(spec, &role).await?
        };
        let statements_match = if spec.is_static() {
            let login = role["username"].as_str().map_or_else(|| spec.login(), str::to_owned);
            let rotation = self.rotation_statements().await?;
            let written = role["rotation_statements"].as_array().cloned().unwrap_or_default();
            written == rotation.into_iter().map(Json::from).collect::<Vec<_>>()
                && self.static_login_matches(spec, &login).await?
        } else {
            let statements = self.statements(&spec.role, spec.privileges).await?;
            let renewal = role["renew_statements"].as_array().cloned().unwrap_or_default();
            role["creation_statements"] == Json::from(statements.creation)
                && renewal == statements.renewal.into_iter().map(Json::from).collect::<Vec<_>>()
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
    /// static role's login after its Vault role, unless `keep_login` (an imported login the
    /// configuration did not opt in to dropping).
    ///
    /// # Errors
    /// [`CredentialError`].
    pub async fn decommission(
        &self,
        spec: &CredentialSpec,
        held: Option<&str>,
        keep_login: bool,
    ) -> Result<(), CredentialError> {
        let store = self.claim_store(&spec.role);
        claims::check(&store, held).await?;
        let name = spec.role.vault_role();
        if spec.is_static() {
            self.vault.delete_static_role(self.mount, &name).await?;
            if !keep_login {
                self.drop_static_login(spec).await?;
            }
        } else {
            self.revoke_leases(spec, &name).await?;
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

    /// Revokes every lease of the dynamic role `name`. On PostgreSQL, a user another
    /// tenant granted something in its own database cannot be dropped, so Vault refuses its
    /// revocation naming it: what it was granted elsewhere is taken back, and the leases are
    /// revoked again.
    async fn revoke_leases(&self, spec: &CredentialSpec, name: &str) -> Result<(), CredentialError> {
        let refused = match self.vault.revoke_role_leases(self.mount, name).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let blocked = match &refused {
            VaultError::Api { message, .. } => undroppable_roles(message),
            _ => Vec::new(),
        };
        let (Store::Postgres(pg), Target::Database(db), false) = (&self.store, &spec.role.target, blocked.is_empty())
        else {
            return Err(refused.into());
        };
        pg.revoke_granted_elsewhere(&db.name, &db.group_roles(), Some(&blocked)).await?;
        Ok(self.vault.revoke_role_leases(self.mount, name).await?)
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
}

/// Before the management login of `db` is narrowed to the issuer (it loses `CREATEROLE` on
/// PostgreSQL before 16, `CREATE USER` on MySQL): moves the provider's roles on its
/// connection that still carry the previous release's statements (users made by the login
/// itself) onto the issuer, and records what the issuer may touch (static logins; on MySQL,
/// the users already issued, so their leases still revoke), so each role keeps issuing and
/// rotating the moment the login is narrowed, not only once Terraform reaches the role later
/// in the same apply. Roles written by hand are left as they are. A token that may not list
/// static roles (the policy of earlier releases) moves only the dynamic ones.
///
/// # Errors
/// [`CredentialError`] when Vault or the server refuses.
pub async fn move_to_issuer(
    vault: &Vault,
    mount: &str,
    store: Store<'_>,
    db: &DatabaseName,
) -> Result<(), CredentialError> {
    let connection = db.vault_connection();
    let ours = |name: &String| name.starts_with(&format!("{connection}-"));
    if let Store::Mysql(my) = &store {
        let issued = my.users_issued_for(&db.name).await?;
        my.record_logins(&db.name, &issued, mysql::LoginKind::Issued).await?;
    }
    for name in vault.list_roles(mount).await?.into_iter().filter(ours) {
        let Some(role) = vault.read_role(mount, &name).await? else { continue };
        let written = &role["creation_statements"];
        let Some(level) = [Privileges::Readonly, Privileges::Readwrite, Privileges::Owner]
            .into_iter()
            .find(|level| *written == Json::from(sql_statements(db, *level, false).creation))
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
            renew_statements: statements.renewal,
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
        match &store {
            Store::Postgres(pg) => pg.mark_static_login(&db.name, login).await?,
            Store::Mysql(my) => my.record_logins(&db.name, &[login.to_owned()], mysql::LoginKind::Static).await?,
            Store::Redis(_) => unreachable!("a database's store is PostgreSQL or MySQL"),
        }
        let body = StaticRole {
            db_name: connection.clone(),
            username: login.to_owned(),
            rotation_period: period,
            rotation_statements: vec![issuer_rotation_statement(db.engine)],
        };
        vault.write_static_role(mount, &name, &body).await?;
    }
    Ok(())
}

/// What Vault runs to create and to drop a user of a role.
/// The roles PostgreSQL would not drop in a revocation Vault reports (`role "v-…" cannot be
/// dropped because some objects depend on it`).
fn undroppable_roles(message: &str) -> Vec<String> {
    message
        .split("role \"")
        .skip(1)
        .filter_map(|rest| rest.split_once("\" cannot be dropped"))
        .map(|(role, _)| role.to_owned())
        .filter(|role| !role.contains('"'))
        .collect()
}

struct Statements {
    creation: Vec<String>,
    revocation: Vec<String>,
    /// What Vault runs on a lease's renewal; empty for the plugin's own.
    renewal: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_a_revocation_could_not_drop_are_read_from_vaults_answer() {
        let answer = "failed to revoke \"db/creds/r/x\" (1 / 2): failed to revoke entry: resp: (*logical.Response)(nil) err: ERROR: role \"v-token-postgres-7687rW-1796658610\" cannot be dropped because some objects depend on it (SQLSTATE 2BP01); ERROR: role \"v-b\" cannot be dropped because some objects depend on it";
        assert_eq!(undroppable_roles(answer), ["v-token-postgres-7687rW-1796658610", "v-b"]);
        assert!(undroppable_roles("permission denied").is_empty());
    }

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
            sql_statements(&DatabaseName::new(Engine::Postgresql, "shop").unwrap(), Privileges::Owner, false).creation,
        );
        assert!(databases_named(Engine::Postgresql, &ours).is_empty());
        let two = Json::from(vec!["GRANT ALL ON DATABASE a TO x", "GRANT ALL ON DATABASE b TO x"]);
        assert_eq!(databases_named(Engine::Postgresql, &two).len(), 2);
    }

    #[test]
    fn issued_users_are_found_by_what_the_connections_template_starts_with() {
        assert_eq!(issued_name_prefix(None), "v-");
        assert_eq!(issued_name_prefix(Some("app_{{random 10 | lowercase}}")), "app_");
        assert_eq!(issued_name_prefix(Some("{{.RoleName}}-{{random 8}}")), "v-");
        assert_eq!(issued_name_prefix(Some("")), "v-");
    }

    #[test]
    fn hand_written_statements_say_which_roles_their_users_join() {
        let names = |statements: Vec<&str>| roles_granted(&Json::from(statements)).into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(vec![
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE orders_rw, \"Reports\";"
            ]),
            ["Reports", "orders_rw"]
        );
        assert_eq!(
            names(vec![
                "CREATE USER \"{{name}}\"; GRANT \"Orders\", audit TO \"{{name}}\"; GRANT SELECT ON t TO \"{{name}}\""
            ]),
            ["Orders", "audit"]
        );
        assert!(names(vec!["GRANT ALL ON DATABASE shop TO \"{{name}}\""]).is_empty());
        // The provider's own: the level's group role.
        let ours =
            sql_statements(&DatabaseName::new(Engine::Postgresql, "shop").unwrap(), Privileges::Readwrite, false);
        assert_eq!(roles_granted(&Json::from(ours.creation)).into_iter().collect::<Vec<_>>(), ["shop_readwrite"]);
    }

    #[test]
    fn a_vault_role_name_gives_a_role_name_the_provider_takes() {
        assert_eq!(role_name_from("role"), "role");
        assert_eq!(role_name_from("Billing.App"), "billing-app");
        assert_eq!(role_name_from(""), "role");
        assert_eq!(role_name_from("a-very-long-legacy-role-name-indeed").len(), 24);
    }
}
