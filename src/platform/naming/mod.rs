//! The only place names are made and parsed: database and role names on the servers,
//! Vault connection and role names, Redis users, KV paths, Terraform ids, and the owner
//! mark a namespace's password secret carries.
//!
//! Names that two objects could both claim are told apart here or refused here: a
//! PostgreSQL static login `<db>_<role>` never ends like a group role, a Redis static
//! login never looks like a namespace user, and no name the provider makes starts with a
//! prefix the server reserves (`pg_`).

use crate::backends::postgres::GroupRoles;

mod checks;

pub use checks::check_vault_role_name;
use checks::{check_database_name, check_role_name};

/// The database engine of a `dbaas_shared_database`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// PostgreSQL (CloudNativePG).
    Postgresql,
    /// MySQL InnoDB Cluster (or MariaDB).
    Mysql,
}

impl Engine {
    /// Parses `postgresql` or `mysql`.
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "postgresql" => Some(Engine::Postgresql),
            "mysql" => Some(Engine::Mysql),
            _ => None,
        }
    }

    /// `postgresql` or `mysql`, as in ids and the `engine` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgresql",
            Engine::Mysql => "mysql",
        }
    }

    /// `PostgreSQL` or `MySQL`, for messages.
    pub fn display(self) -> &'static str {
        match self {
            Engine::Postgresql => "PostgreSQL",
            Engine::Mysql => "MySQL",
        }
    }

    /// Prefix of the Vault connection and role names.
    fn vault_prefix(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgres",
            Engine::Mysql => "mysql",
        }
    }

    /// The longest database name, leaving room for the suffixes the provider adds.
    pub fn max_name_len(self) -> usize {
        match self {
            Engine::Postgresql => POSTGRES_MAX_NAME,
            Engine::Mysql => MYSQL_MAX_NAME,
        }
    }
}

/// Names no stack may take: the servers' own databases.
const RESERVED_DATABASES: &[&str] =
    &["postgres", "template0", "template1", "mysql", "information_schema", "performance_schema", "sys"];
/// What marks the name of a database `deletion_policy = "archive"` put away.
const ARCHIVE_MARK: &str = "__archived_";

/// Whether `database` is the name of an archive ([`DatabaseName::archived`]).
pub fn is_archive(database: &str) -> bool {
    database.contains(ARCHIVE_MARK)
}

/// The longest suffix PostgreSQL names get: `__archived_YYYYMMDDTHHMMSSZ`.
const ARCHIVE_SUFFIX_LEN: usize = "__archived_20261122T103512Z".len();
/// PostgreSQL identifiers are at most 63 bytes.
const POSTGRES_MAX_NAME: usize = 63 - ARCHIVE_SUFFIX_LEN;
/// MySQL user names are at most 32 characters, and the management login adds `_vault`.
const MYSQL_MAX_NAME: usize = 32 - "_vault".len();
/// The suffixes of a PostgreSQL database's group roles and management login.
pub const ROLE_SUFFIXES: &[&str] = &["owner", "readwrite", "readonly", "vault"];
/// Every ACL user a namespace makes starts with this.
const REDIS_USER_PREFIX: &str = "dbaas-";
/// Redis static logins put this between namespace and role: namespace names cannot hold it.
const REDIS_STATIC_SEPARATOR: &str = "--";
/// Ends the name of a namespace's Vault management user.
const MANAGEMENT_SUFFIX: &str = "-vault";
/// Key prefix reserved for the provider's own keys (its namespace lock); no namespace may
/// overlap it, so no tenant can reach them.
pub const REDIS_RESERVED_PREFIX: &str = "__dbaas_provider:";
/// Where claims on namespaces and roles are kept in the KV mount.
const CLAIMS_KV_PREFIX: &str = "dbaas/claims";
/// Owner marks start with this.
const MARK_PREFIX: &str = "managed by terraform-provider-dbaas: ";

/// A `dbaas_shared_database`: engine and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatabaseName {
    /// The engine.
    pub engine: Engine,
    /// The database name on the server.
    pub name: String,
}

impl DatabaseName {
    /// Checks `name` for `engine`: characters, length and reserved names.
    ///
    /// # Errors
    /// The reason, in a sentence, when the name is not allowed.
    pub fn new(engine: Engine, name: &str) -> Result<DatabaseName, String> {
        check_database_name(name, engine)?;
        Ok(DatabaseName { engine, name: name.to_owned() })
    }

    /// Parses an id `<engine>/<name>`.
    pub fn parse_id(id: &str) -> Option<DatabaseName> {
        let (engine, name) = id.split_once('/')?;
        DatabaseName::new(Engine::parse(engine)?, name).ok()
    }

    /// `<engine>/<name>`: the resource id and import id.
    pub fn id(&self) -> String {
        format!("{}/{}", self.engine.as_str(), self.name)
    }

    /// The URI apps connect with through `host`:`port` (an IPv6 host in brackets):
    /// `postgresql://<host>:<port>/<name>?sslmode=<sslmode>` or `mysql://<host>:<port>/<name>`.
    pub fn connection_uri(&self, host: &str, port: u16, sslmode: &str) -> String {
        let authority = crate::backends::authority(host, port);
        match self.engine {
            Engine::Postgresql => format!("postgresql://{authority}/{}?sslmode={sslmode}", self.name),
            Engine::Mysql => format!("mysql://{authority}/{}", self.name),
        }
    }

    /// The database's Vault connection: `postgres-<name>` or `mysql-<name>`.
    pub fn vault_connection(&self) -> String {
        format!("{}-{}", self.engine.vault_prefix(), self.name)
    }

    /// The PostgreSQL group roles and management login.
    pub fn group_roles(&self) -> GroupRoles {
        let role = |suffix: &str| format!("{}_{suffix}", self.name);
        GroupRoles {
            owner: role("owner"),
            readwrite: role("readwrite"),
            readonly: role("readonly"),
            management: role("vault"),
        }
    }

    /// The MySQL management login Vault uses.
    pub fn mysql_management_login(&self) -> String {
        format!("{}_vault", self.name)
    }

    /// Whether the MySQL account `user` is one the provider or this database's Vault
    /// connection made: its management login or a static login (`<name>_...`), or a user
    /// Vault issued ([`MYSQL_USERNAME_TEMPLATE`]'s shape). Asked only of accounts holding
    /// privileges on this database.
    pub fn made_mysql_account(&self, user: &str) -> bool {
        let issued = user.len() == 29 && {
            let parts: Vec<&str> = user.splitn(3, '_').collect();
            matches!(parts.as_slice(), [hash, time, random]
                if hash.len() == 9 && hash.starts_with('v') && hash[1..].bytes().all(|b| b.is_ascii_hexdigit())
                    && time.len() == 10 && time.bytes().all(|b| b.is_ascii_digit())
                    && random.len() == 8 && random.bytes().all(|b| b.is_ascii_alphanumeric()))
        };
        issued || user.strip_prefix(&format!("{}_", self.name)).is_some_and(|rest| !rest.is_empty())
    }

    /// `<name>__archived_<stamp>`.
    pub fn archived(&self, stamp: &str) -> String {
        format!("{}{ARCHIVE_MARK}{stamp}", self.name)
    }

    /// The owner mark on the database and its PostgreSQL roles (their comment).
    pub fn mark(&self) -> String {
        format!("{MARK_PREFIX}{}", self.id())
    }
}

/// A `dbaas_redis_namespace`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespaceName(String);

impl NamespaceName {
    /// Checks a namespace name: 1 to 48 lowercase letters, digits, `_` or single `-`,
    /// starting with a letter, not ending in `-` or in `-vault`.
    ///
    /// # Errors
    /// The reason when the name is not allowed.
    pub fn new(name: &str) -> Result<NamespaceName, String> {
        let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        let chars_ok = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        // `--` separates namespace and role in static logins, so no namespace may hold it.
        if !first_ok || !chars_ok || name.len() > 48 || name.contains(REDIS_STATIC_SEPARATOR) || name.ends_with('-') {
            return Err(format!(
                "{name:?} must be 1 to 48 lowercase letters, digits, `_` or `-`, starting with a letter, with no `--` and not ending in `-`."
            ));
        }
        // Namespace `x`'s management user is `dbaas-x-vault`: namespace `x-vault`'s user
        // would be the same ACL user, and after a Redis restart each repair would overwrite
        // the other's.
        if name.ends_with(MANAGEMENT_SUFFIX) {
            return Err(format!(
                "{name:?} ends in `{MANAGEMENT_SUFFIX}`: the provider names each namespace's Vault management user `dbaas-<namespace>{MANAGEMENT_SUFFIX}`, so such a namespace's user would be another namespace's. Choose another name."
            ));
        }
        Ok(NamespaceName(name.to_owned()))
    }

    /// Parses an id `redis/<name>`.
    pub fn parse_id(id: &str) -> Option<NamespaceName> {
        NamespaceName::new(id.strip_prefix("redis/")?).ok()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `redis/<name>`.
    pub fn id(&self) -> String {
        format!("redis/{}", self.0)
    }

    /// The namespace's ACL user: `dbaas-<name>`.
    pub fn user(&self) -> String {
        format!("{REDIS_USER_PREFIX}{}", self.0)
    }

    /// The ACL user Vault manages the namespace with: `dbaas-<name>-vault`.
    pub fn management_user(&self) -> String {
        format!("{REDIS_USER_PREFIX}{}{MANAGEMENT_SUFFIX}", self.0)
    }

    /// The namespace whose own ACL user `user` is: `dbaas-<name>`, and neither a
    /// management user nor a static login.
    pub fn of_user(user: &str) -> Option<NamespaceName> {
        NamespaceName::new(user.strip_prefix(REDIS_USER_PREFIX)?).ok()
    }

    /// `<name>:`, the key prefix unless one is configured.
    pub fn default_prefix(&self) -> String {
        format!("{}:", self.0)
    }

    /// The Vault connection: `redis-<name>`.
    pub fn vault_connection(&self) -> String {
        format!("redis-{}", self.0)
    }

    /// The KV v2 path of the namespace's password: `redis/<name>`.
    pub fn kv_path(&self) -> String {
        format!("redis/{}", self.0)
    }

    /// Where the password is read over Vault's API: `<kv mount>/data/redis/<name>`.
    pub fn password_path(&self, kv_mount: &str) -> String {
        format!("{kv_mount}/data/{}", self.kv_path())
    }

    /// Whether Vault's Redis plugin issued `user` for one of this namespace's roles: its
    /// names are `V_<DISPLAY>_<ROLE>_…`, the role upper-cased, and every role of the
    /// namespace is `redis-<namespace>-<name>` (see [`RoleName::redis_issued_at`]).
    pub fn issued_for(&self, user: &str) -> bool {
        user.starts_with("V_") && user.contains(&format!("_{}-", self.vault_connection().to_ascii_uppercase()))
    }

    /// Whether `user` is a static login of one of this namespace's roles.
    pub fn owns_login(&self, user: &str) -> bool {
        user.strip_prefix(&format!("{REDIS_USER_PREFIX}{}{REDIS_STATIC_SEPARATOR}", self.0))
            .is_some_and(|r| !r.is_empty())
    }

    /// The owner mark, kept in the KV secret's `custom_metadata`.
    pub fn mark(&self) -> String {
        format!("{MARK_PREFIX}{}", self.id())
    }

    /// The key of the namespace's claim on the primary when there is no Vault:
    /// `__dbaas_provider:claim:<name>`, under the prefix no namespace may overlap.
    pub fn claim_key(&self) -> String {
        format!("{REDIS_RESERVED_PREFIX}claim:{}", self.0)
    }

    /// The KV path of the namespace's claim: `dbaas/claims/redis/<name>`.
    pub fn claim_path(&self) -> String {
        format!("{CLAIMS_KV_PREFIX}/{}", self.id())
    }
}

/// Where the claim on ACL user `user` is kept in Vault KV when a namespace uses a user made
/// before the provider (`acl_user`): `dbaas/claims/redis-user/<user, hex>`. A namespace's
/// claim is keyed by its name, and any name may name that user, so the user is claimed
/// too. Hex, since a user's name may be `..`.
pub fn acl_user_claim_path(user: &str) -> String {
    format!("{CLAIMS_KV_PREFIX}/redis-user/{}", hex(user))
}

/// [`acl_user_claim_path`] without Vault: a key on the primary, under the prefix no
/// namespace may overlap.
pub fn acl_user_claim_key(user: &str) -> String {
    format!("{REDIS_RESERVED_PREFIX}claim-user:{}", hex(user))
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Checks the ACL user a namespace named `name` uses: its own `dbaas-<name>`, or a user
/// made before the provider whose apps know it by name: 1 to 128 letters, digits, `.`,
/// `_`, `-`, `:` or `@`; never `default` (every connection's user before `AUTH`), nor a
/// name of the provider's form other than `dbaas-<name>` (another namespace's users).
///
/// # Errors
/// Why the name is refused, in a sentence.
pub fn check_acl_user(user: &str, name: &NamespaceName) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@');
    if user.is_empty() || user.len() > 128 || !user.chars().all(allowed) {
        return Err(format!("acl_user must be 1 to 128 letters, digits, '.', '_', '-', ':' or '@'; {user:?} is not."));
    }
    if user == "default" {
        return Err(
            "acl_user cannot be \"default\": it is the user of every connection that has not authenticated.".into()
        );
    }
    if is_provider_redis_user(user) && user != name.user() {
        return Err(format!(
            "{user:?} is of the provider's form: only {:?} is this namespace's. Another namespace's users are its own.",
            name.user()
        ));
    }
    Ok(())
}

/// Whether a Vault connection's name is of the form the provider gives a database's or
/// namespace's own connection (`postgres-<db>`, `mysql-<db>`, `redis-<namespace>`), as
/// opposed to a shared one made by hand (`postgres`, say).
pub fn is_provider_connection(name: &str) -> bool {
    ["postgres-", "mysql-", "redis-"].iter().any(|p| name.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// How Vault hands out a role's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuing {
    /// A new user per request (`<mount>/creds/<role>`).
    Dynamic,
    /// One login whose password Vault rotates (`<mount>/static-creds/<role>`).
    Static,
}

/// Where apps read a role's credentials: `<mount>/creds/<role>`, `<mount>/static-creds/<role>`
/// for a static one (`role` may be a placeholder, for a catalog's pattern).
pub fn creds_path(mount: &str, issuing: Issuing, role: &str) -> String {
    let kind = match issuing {
        Issuing::Dynamic => "creds",
        Issuing::Static => "static-creds",
    };
    format!("{mount}/{kind}/{role}")
}

/// Whether an ACL user name is one the provider makes for some namespace (its user, its
/// management user or a static login).
pub fn is_provider_redis_user(user: &str) -> bool {
    user.starts_with(REDIS_USER_PREFIX)
}

/// What a `dbaas_rotated_role` issues credentials for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A PostgreSQL or MySQL database.
    Database(DatabaseName),
    /// A Redis namespace.
    Namespace(NamespaceName),
}

impl Target {
    /// Checks a `dbaas_shared_database` or `dbaas_redis_namespace` id, for validators.
    ///
    /// # Errors
    /// The reason, in a sentence, when `id` is neither.
    pub fn check_id(id: &str) -> Result<(), String> {
        Target::parse(id).map(drop).ok_or_else(|| {
            format!("{id:?} is not a `dbaas_shared_database` or `dbaas_redis_namespace` id (`postgresql/<name>`, `mysql/<name>` or `redis/<name>`).")
        })
    }

    /// Parses a `dbaas_shared_database` or `dbaas_redis_namespace` id.
    pub fn parse(id: &str) -> Option<Target> {
        if id.starts_with("redis/") {
            NamespaceName::parse_id(id).map(Target::Namespace)
        } else {
            DatabaseName::parse_id(id).map(Target::Database)
        }
    }

    /// The database or namespace id.
    pub fn id(&self) -> String {
        match self {
            Target::Database(d) => d.id(),
            Target::Namespace(n) => n.id(),
        }
    }

    /// The Vault connection of the database or namespace: what a role's `db_name` must be.
    pub fn vault_connection(&self) -> String {
        match self {
            Target::Database(d) => d.vault_connection(),
            Target::Namespace(n) => n.vault_connection(),
        }
    }
}

/// The username template of the MySQL connections the provider gives Vault: `v`, 8 hex
/// digits naming the role, the Unix time of issue, 8 random characters (29 of MySQL's 32).
/// A user is then traceable to its role, and to its lease by issue time.
pub const MYSQL_USERNAME_TEMPLATE: &str =
    "{{ printf \"v%s_%s_%s\" (.RoleName | sha256 | truncate 8) (unix_time) (random 8) }}";

/// A `dbaas_rotated_role`: its target and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleName {
    /// What it issues credentials for.
    pub target: Target,
    /// Its name.
    pub name: String,
    /// The Vault role's name when it is not the provider's `<connection>-<name>`: a role
    /// made before the provider keeps the name its apps read credentials under.
    kept_vault_role: Option<String>,
}

impl RoleName {
    /// Checks a role name: 1 to 24 lowercase letters, digits, `_` or `-`.
    ///
    /// # Errors
    /// The reason when the name is not allowed.
    pub fn new(target: Target, name: &str) -> Result<RoleName, String> {
        check_role_name(name)?;
        Ok(RoleName { target, name: name.to_owned(), kept_vault_role: None })
    }

    /// The role, its Vault role named `vault_role` (one made before the provider keeps its
    /// name, and with it the path apps read). The provider's own name is not kept apart.
    ///
    /// # Errors
    /// The reason when Vault would not take the name.
    pub fn keeping_vault_role(mut self, vault_role: &str) -> Result<RoleName, String> {
        check_vault_role_name(vault_role)?;
        let own = format!("{}-", self.target.vault_connection());
        let schemes = ["postgres-", "mysql-", "redis-"];
        if schemes.iter().any(|s| vault_role.starts_with(s)) && !vault_role.starts_with(&own) {
            return Err(format!(
                "{vault_role:?} is how the provider names another database's or namespace's roles; this role's Vault role may keep a name of its own, or one starting with {own:?}."
            ));
        }
        self.kept_vault_role = None;
        if vault_role != self.vault_role() {
            self.kept_vault_role = Some(vault_role.to_owned());
        }
        Ok(self)
    }

    /// Whether the Vault role keeps a name other than the provider's.
    pub fn keeps_vault_role(&self) -> bool {
        self.kept_vault_role.is_some()
    }

    /// How static logins are named, for the docs: `(PostgreSQL and MySQL, Redis)`.
    pub fn static_login_patterns() -> (String, String) {
        ("<database>_<name>".to_owned(), format!("{REDIS_USER_PREFIX}<namespace>{REDIS_STATIC_SEPARATOR}<name>"))
    }

    /// Checks that the role may have a static login: on a PostgreSQL or MySQL database its
    /// name may not end like a group role (`_owner`, `_readwrite`, `_readonly`, `_vault`),
    /// since the login `<db>_<name>` would then be another database's group role.
    ///
    /// # Errors
    /// The reason when it may not.
    pub fn check_static(&self) -> Result<(), String> {
        let Target::Database(database) = &self.target else { return Ok(()) };
        let name = &self.name;
        if let Some(suffix) = ROLE_SUFFIXES.iter().find(|s| name == *s || name.ends_with(&format!("_{s}"))) {
            return Err(format!(
                "{name:?} ends in `{suffix}`: the static login {:?} could be another database's `_{suffix}` role. Choose another name.",
                self.static_login()
            ));
        }
        if database.engine == Engine::Mysql && self.static_login().len() > 32 {
            return Err(format!(
                "MySQL user names have at most 32 characters; the static login {:?} has {}. Choose a shorter role name.",
                self.static_login(),
                self.static_login().len()
            ));
        }
        Ok(())
    }

    /// Parses an id `<engine>/<database>/<name>`.
    pub fn parse_id(id: &str) -> Option<RoleName> {
        let (target, name) = id.rsplit_once('/')?;
        RoleName::new(Target::parse(target)?, name).ok()
    }

    /// `<database id>/<name>`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.target.id(), self.name)
    }

    /// The Vault role: `<connection>-<name>`, or the name it kept.
    pub fn vault_role(&self) -> String {
        match &self.kept_vault_role {
            Some(kept) => kept.clone(),
            None => format!("{}-{}", self.target.vault_connection(), self.name),
        }
    }

    /// What apps read for credentials: `<mount>/creds/<vault role>`, or
    /// `<mount>/static-creds/<vault role>` for a static role.
    pub fn creds_path(&self, mount: &str, issuing: Issuing) -> String {
        creds_path(mount, issuing, &self.vault_role())
    }

    /// The KV path of the role's claim: `dbaas/claims/<mount>/<vault role>`.
    pub fn claim_path(&self, mount: &str) -> String {
        format!("{CLAIMS_KV_PREFIX}/{mount}/{}", self.vault_role())
    }

    /// How the names of MySQL users Vault issues for this role start: `v`, then the first
    /// 8 hex digits of the SHA-256 of the Vault role's name, then `_`. The connection's
    /// [`MYSQL_USERNAME_TEMPLATE`] makes them so; the issue time and a random part follow.
    pub fn mysql_issued_prefix(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.vault_role().as_bytes());
        let hex: String = digest.as_ref().iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("v{hex}_")
    }

    /// When Vault's Redis plugin issued `user` for this role (Unix seconds), if it did.
    /// That plugin ignores `username_template` and names users
    /// `V_<DISPLAY>_<ROLE>_<20 random>_<unix time>`, upper-cased and cut at 100 characters;
    /// the name is read from its end, so only a name whose role and time survived the cut
    /// whole is recognised (a cut one may be stale, but is never taken for another role's).
    pub fn redis_issued_at(&self, user: &str) -> Option<i64> {
        let (rest, time) = user.rsplit_once('_')?;
        let (rest, random) = rest.rsplit_once('_')?;
        let role = format!("_{}", self.vault_role().to_ascii_uppercase());
        let whole_time = time.len() == 10 && time.bytes().all(|b| b.is_ascii_digit());
        let whole_random = random.len() == 20 && random.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        let ours = user.starts_with("V_") && rest.len() > role.len() && rest.ends_with(&role);
        (whole_time && whole_random && ours).then(|| time.parse().ok()).flatten()
    }

    /// The fixed login of a static role: `<db>_<name>` on PostgreSQL and MySQL,
    /// `dbaas-<namespace>--<name>` on Redis (no namespace name holds `--`).
    pub fn static_login(&self) -> String {
        match &self.target {
            Target::Database(d) => format!("{}_{}", d.name, self.name),
            Target::Namespace(n) => format!("{REDIS_USER_PREFIX}{}{REDIS_STATIC_SEPARATOR}{}", n.as_str(), self.name),
        }
    }
}

#[cfg(test)]
mod tests;
