//! The one place backend errors become diagnostics: a title, then the why and the fix.
//! Never a connection string or a secret: the backend errors hold neither.

use crate::backends::mysql::MysqlError;
use crate::backends::postgres::PostgresError;
use crate::backends::redis::RedisBackendError;
use crate::backends::vault::VaultError;
use crate::framework::diagnostics::{AttributePath, Diagnostics};
use crate::platform::claims::Claim;
use crate::platform::credentials::{CredentialError, LeaseError};
use crate::platform::databases::DatabaseError;
use crate::platform::namespaces::{NamespaceError, NamespaceSpec};
use crate::platform::naming::{DatabaseName, RoleName, Target};
use crate::platform::rotation::RotationError;

/// Adds a diagnostic for a PostgreSQL failure while doing `action`.
pub fn postgres(d: &mut Diagnostics, action: &str, e: &PostgresError) {
    match e {
        PostgresError::Connect { endpoint, source } => d.error(
            "Cannot connect to PostgreSQL",
            format!("While {action}: could not connect to the primary at {endpoint}: {source}. Check the provider's postgres block (host, port, credentials) and that the server is up."),
        ),
        PostgresError::AlreadyExists(name) => d.attribute_error(
            AttributePath::root("name"),
            "Database already exists",
            format!("A database named {name:?} already exists on the PostgreSQL cluster and is not in this state. To manage it, import it: `terraform import <address> postgresql/{name}` (or an `import` block)."),
        ),
        PostgresError::InUse { database, sessions, idle_from_pooler } => {
            database_in_use(d, database, *sessions, *idle_from_pooler);
        }
        PostgresError::NoDatabase { database, endpoint } => d.error(
            "Database is gone",
            format!("While {action}: database {database:?} does not exist on PostgreSQL at {endpoint}, though this apply or an earlier one made it. A failover that lost the primary's newest transactions does this, and so does a DROP by hand. It is kept in state; apply again to make it afresh."),
        ),
        PostgresError::NotPrimary { endpoint } => d.error(
            "PostgreSQL is failing over",
            format!("While {action}: the server at {endpoint} is a replica in recovery, not the primary, and still was after a few seconds of retrying: the platform is failing over and its read-write address does not reach the new primary yet. Nothing was changed by this step; what earlier steps made is in state. Apply again once the new primary answers."),
        ),
        PostgresError::TimedOut { .. } => timed_out(d, action, e, "postgres", "DBAAS_POSTGRES_TIMEOUT"),
        PostgresError::Stopped => stopped(d, action),
        PostgresError::NotOurs { role, comment, held_by } => d.attribute_error(
            AttributePath::root("name"),
            "Role already exists",
            format!(
                "While {action}: the PostgreSQL role {role:?} already exists and was not made by this provider for this database (its comment is {}{}), so nothing was changed: a database of this name would hand its privileges to whoever holds that role. Choose another name, or have the platform's admin (a superuser{}) drop or rename it.",
                comment.as_deref().map_or("empty".to_owned(), |c| format!("{c:?}")),
                held_by.as_deref().map(|h| format!("; {h}")).unwrap_or_default(),
                held_by.as_deref().and_then(|h| h.strip_prefix("held with ADMIN by ")).map(|h| format!(", or {}", h.split("; ").next().unwrap_or(h))).unwrap_or_default(),
            ),
        ),
        PostgresError::ProviderDatabase { .. } => {
            d.error("No database for the provider's locks", format!("While {action}: {e}. Nothing was changed."));
        }
        other => d.error("PostgreSQL refused the change", format!("While {action}: {other}")),
    }
}

/// A service that did not answer in time: which, where, how long, and the setting to raise.
fn timed_out(d: &mut Diagnostics, action: &str, e: &dyn std::fmt::Display, block: &str, variable: &str) {
    d.error(
        format!("{} timed out", e.to_string().split(" at ").next().unwrap_or(block)),
        format!("While {action}: {e}. If the server is up but slow, raise `{block}.timeout` in the provider block (or {variable}); otherwise check that it is reachable."),
    );
}

/// Terraform asked the provider to stop while it was waiting.
fn stopped(d: &mut Diagnostics, action: &str) {
    d.error(
        "Stopped",
        format!("While {action}: Terraform asked the provider to stop, so it stopped waiting. What was made before is in state or named in another message here."),
    );
}

/// Adds a diagnostic for a MySQL failure while doing `action`.
pub fn mysql(d: &mut Diagnostics, action: &str, e: &MysqlError) {
    match e {
        MysqlError::Connect { endpoint, source } => d.error(
            "Cannot connect to MySQL",
            format!("While {action}: could not connect to {endpoint}: {source}. Check the provider's mysql block (host, port, credentials) and that the server is up."),
        ),
        MysqlError::AlreadyExists(name) => d.attribute_error(
            AttributePath::root("name"),
            "Database already exists",
            format!("A database named {name:?} already exists on the MySQL cluster and is not in this state. To manage it, import it: `terraform import <address> mysql/{name}` (or an `import` block)."),
        ),
        MysqlError::InUse { database, sessions } => database_in_use(d, database, *sessions, 0),
        MysqlError::CannotArchive { .. } => d.attribute_error(
            AttributePath::root("deletion_policy"),
            "Cannot archive this database",
            format!("{e}. Use `deletion_policy = \"retain\"`, or drop those objects first."),
        ),
        MysqlError::TimedOut { .. } => timed_out(d, action, e, "mysql", "DBAAS_MYSQL_TIMEOUT"),
        MysqlError::Stopped => stopped(d, action),
        MysqlError::LoginTaken(login) => d.attribute_error(
            AttributePath::root("name"),
            "Login already exists",
            format!("While {action}: the MySQL account {login:?}, which this database's Vault connection would use, already exists and is not in this state, so nothing was changed. Choose another name, or have the account's owner drop it."),
        ),
        other => d.error("MySQL refused the change", format!("While {action}: {other}")),
    }
}

/// A destroy stopped because clients are connected: what they are, and the commands that
/// finish it. `idle_from_pooler` of them are idle sessions from PgBouncer's address.
pub fn database_in_use(d: &mut Diagnostics, database: &str, sessions: i64, idle_from_pooler: i64) {
    let pooler = if idle_from_pooler > 0 {
        format!(
            " {idle_from_pooler} of them are idle and come from PgBouncer's address: its own server connections, which it keeps open after the apps that used them have gone. Set the provider's `postgres.pooler_admin_user` (and `pooler_admin_password`; a login in PgBouncer's `admin_users`) and the provider closes them itself before dropping, or wait for PgBouncer's `server_idle_timeout`."
        )
    } else {
        String::new()
    };
    d.attribute_error(
        AttributePath::root("force_drop"),
        "Database in use",
        format!("{sessions} client(s) are connected to {database:?}, so it was left as it is.{pooler} To disconnect every client instead, set `force_drop = true` and run `terraform apply -target=<this resource's address>` (which only records the setting; a plain `terraform apply` would recreate what this destroy already removed), then destroy again."),
    );
}

/// Adds a diagnostic for a failed database operation on `name` while doing `action`.
pub fn database(d: &mut Diagnostics, action: &str, name: &DatabaseName, e: &DatabaseError) {
    match e {
        DatabaseError::Postgres(e) => postgres(d, action, e),
        DatabaseError::Mysql(e) => mysql(d, action, e),
        DatabaseError::Vault(e) => vault(d, action, e),
        DatabaseError::InUse { sessions, idle_from_pooler } => {
            database_in_use(d, &name.name, *sessions, *idle_from_pooler);
        }
        DatabaseError::Pooler(e) => d.error(
            "PgBouncer's admin console failed",
            format!("While {action}: {e}. Check `postgres.pooler_admin_user` and its password (a login in PgBouncer's `admin_users`), or remove them to count PgBouncer's idle connections as clients."),
        ),
        DatabaseError::Credentials(e) => d.error(
            "Could not move the database's roles onto the issuer",
            format!("While {action}: {e}. Nothing was narrowed: the management login keeps what it had until the next apply succeeds."),
        ),
        DatabaseError::Claimed(claim) => claimed(d, action, &format!("database {:?}", name.name), claim),
        DatabaseError::PoolerAuthUser { user, why: None } => d.error(
            "PgBouncer's auth_user does not exist",
            format!("While {action}: the provider's `postgres.pooler_auth_user` is {user:?}, but PostgreSQL has no such role, so nothing was changed. PgBouncer looks logins up as that role: apps connecting through PgBouncer would wait and time out, and whoever made a role of that name first would be granted CONNECT on every new database. Have the platform create it, or set `pooler_auth_user` (or DBAAS_POSTGRES_POOLER_AUTH_USER) to PgBouncer's `auth_user` (CloudNativePG's pooler uses `cnpg_pooler_pgbouncer`)."),
        ),
        DatabaseError::PoolerAuthUser { user, why: Some(why) } => d.error(
            "PgBouncer's auth_user is not the platform's",
            format!("While {action}: the provider's `postgres.pooler_auth_user` is {user:?}, but {why}, so nothing was changed: every database grants that role CONNECT, and whoever holds it would list every database's tables, functions and views. The platform's auth user is a plain login that nobody but the platform's admin holds with ADMIN. Have a superuser drop it and create it again, or point `pooler_auth_user` at PgBouncer's real `auth_user`."),
        ),
        DatabaseError::ConnectionTaken { server: Some(_), .. } => d.attribute_error(
            AttributePath::root("name"),
            "Vault connection already exists for another server",
            format!("While {action}: {e}, so nothing was changed: two servers on one Vault mount would share the connection, and this database's would overwrite the other's. Choose another name, or give this provider configuration a Vault mount of its own (`vault.database_mount`)."),
        ),
        DatabaseError::ConnectionTaken { .. } => d.attribute_error(
            AttributePath::root("name"),
            "Vault connection already exists",
            format!("While {action}: {e} and is not in this state, so nothing was changed. If database {:?} is this stack's, import it: `terraform import <address> {}`; otherwise choose another name.", name.name, name.id()),
        ),
        DatabaseError::Incomplete { cause, named, .. } => {
            database(d, action, name, cause);
            d.error(
                "Database left half made",
                format!("After that failure these could not be removed again: {}. They are kept in state (the resource is tainted), so the next apply removes them and creates the database afresh; `terraform destroy` removes them too.", named.join(", ")),
            );
        }
    }
}

/// An object another Terraform state claims: this one may not change or destroy it.
pub fn claimed(d: &mut Diagnostics, action: &str, what: &str, claim: &Claim) {
    d.attribute_error(
        AttributePath::root("take_over_claim"),
        "Claimed by another Terraform state",
        format!(
            "While {action}: {what} is claimed by another Terraform state since {} (claim {}), so nothing was changed. If it was imported here by mistake, remove it from this state with `terraform state rm <address>` (nothing on the servers changes). If this state should manage it from now on, set `take_over_claim = \"{}\"` on this resource and apply: the other state then gets an error at plan until it removes it.",
            claim.since, claim.id, claim.id
        ),
    );
}

/// At refresh: the object's claim is no longer this state's (another state took it over).
pub fn claim_lost(d: &mut Diagnostics, what: &str, held: &str, claim: &Claim) {
    d.attribute_error(
        AttributePath::root("claim"),
        "Claimed by another Terraform state",
        format!(
            "{what} is claimed by another Terraform state since {} (claim {}); this state's claim {held} was taken over, so this state may no longer change or destroy it. Remove it from this state with `terraform state rm <address>` (nothing on the servers changes). To take it back later, import it again with `take_over_claim = \"{}\"` set.",
            claim.since, claim.id, claim.id
        ),
    );
}

/// For the plan's early look at the servers: a name that apply would refuse is a warning
/// here (see [`namespace_at_plan`] for why); anything else that fails is a warning that
/// apply checks again.
pub fn database_at_plan(d: &mut Diagnostics, name: &DatabaseName, e: &DatabaseError) {
    let refused = matches!(
        e,
        DatabaseError::ConnectionTaken { .. }
            | DatabaseError::Postgres(PostgresError::AlreadyExists(_) | PostgresError::NotOurs { .. })
            | DatabaseError::Mysql(MysqlError::AlreadyExists(_) | MysqlError::LoginTaken(_))
    );
    if !refused {
        d.warning(
            "Could not check the database name",
            format!("Checking that database {:?} is free failed: {e}. Apply checks again.", name.name),
        );
        return;
    }
    let mut found = Diagnostics::default();
    database(&mut found, "planning the database", name, e);
    refused_at_apply(found, d);
}

/// The errors apply would give, as plan warnings that say so.
fn refused_at_apply(found: Diagnostics, d: &mut Diagnostics) {
    for diagnostic in found.0 {
        let detail = format!("{} Apply will refuse it.", diagnostic.detail);
        match diagnostic.attribute {
            Some(path) => d.attribute_warning(path, diagnostic.summary, detail),
            None => d.warning(diagnostic.summary, detail),
        }
    }
}

/// Adds a diagnostic for a Vault failure while doing `action`.
pub fn vault(d: &mut Diagnostics, action: &str, e: &VaultError) {
    match e {
        VaultError::Unreachable { .. } => d.error(
            "Cannot reach Vault",
            format!("While {action}: {e}. Check the provider's vault block (address) and that Vault is up."),
        ),
        VaultError::PermissionDenied { .. } => d.error("Vault permission denied", format!("While {action}: {e}.")),
        VaultError::TokenRejected { .. } => d.error(
            "Vault token expired or revoked",
            format!("While {action}: {e}. Check `vault.token` (or VAULT_TOKEN), or the login block the token comes from."),
        ),
        VaultError::TimedOut { .. } => timed_out(d, action, e, "vault", "VAULT_CLIENT_TIMEOUT"),
        VaultError::Login { .. } => d.error(
            "Vault login failed",
            format!("While {action}: {e}. Check the `vault` block's login settings (or their environment variables) and the auth role."),
        ),
        VaultError::Stopped => stopped(d, action),
        other => d.error("Vault refused the change", format!("While {action}: {other}")),
    }
}

/// Adds a diagnostic for a Redis failure while doing `action`.
pub fn redis(d: &mut Diagnostics, action: &str, e: &RedisBackendError) {
    match e {
        RedisBackendError::Connect { .. } => d.error(
            "Cannot connect to Redis",
            format!("While {action}: {e}. Check the provider's redis block (addresses, credentials) and that the server is up."),
        ),
        RedisBackendError::Command { .. } => d.error("Redis refused the change", format!("While {action}: {e}")),
        RedisBackendError::TimedOut { .. } => timed_out(d, action, e, "redis", "DBAAS_REDIS_TIMEOUT"),
        RedisBackendError::Stopped => stopped(d, action),
    }
}

/// Adds a diagnostic for credentials that could not be issued, renewed or revoked while
/// doing `action`; a missing role is put on the `role` attribute.
pub fn lease(d: &mut Diagnostics, action: &str, e: &LeaseError) {
    match e {
        LeaseError::Vault(e) => vault(d, action, e),
        LeaseError::NoRole { .. } => d.attribute_error(
            AttributePath::root("role"),
            "Role not found",
            format!(
                "{e}. Set `role` to a `dbaas_rotated_role`'s `id` (not a literal), so Terraform creates the role first."
            ),
        ),
    }
}

/// Adds a diagnostic for a failed namespace operation while doing `action`.
pub fn namespace(d: &mut Diagnostics, action: &str, spec: &NamespaceSpec, e: &NamespaceError) {
    let name = spec.name.as_str();
    match e {
        NamespaceError::Redis(e) => redis(d, action, e),
        NamespaceError::Vault(e) => vault(d, action, e),
        NamespaceError::Invalid(problems) => {
            for p in problems {
                let mut path = AttributePath::root(p.attribute);
                if let Some(i) = p.index {
                    path = path.index(i);
                }
                d.attribute_error(path, "Invalid namespace", p.message.clone());
            }
        }
        NamespaceError::Taken { object } => d.attribute_error(
            AttributePath::root("name"),
            "Namespace already exists",
            format!("{object} already exists and is not in this state: another stack (or a person) has namespace {name:?}, and nothing was changed. Choose another name; or, if it is this stack's, import it: `terraform import <address> redis/{name}` (or an `import` block). Import is the only way to adopt an existing namespace."),
        ),
        NamespaceError::Overlap { .. } => d.attribute_error(
            AttributePath::root("key_prefix"),
            "Key prefix overlaps another namespace",
            format!("{e}: each could read the other's keys, so nothing was changed. Choose a prefix that neither starts nor is started by another namespace's."),
        ),
        NamespaceError::NoPassword(user) => d.attribute_error(
            AttributePath::root("password_wo"),
            "No password for the namespace",
            format!("The provider has no `vault` block, so it has nowhere to keep a generated password for {user:?}. Add a `vault` block (or set VAULT_ADDR and VAULT_TOKEN), or set `password_wo` (Terraform 1.11+) and change `password_wo_version`."),
        ),
        NamespaceError::LockTimedOut(_) => d.error("Namespace lock timed out", format!("While {action}: {e}. Try again when the other apply has finished.")),
        NamespaceError::Claimed(claim) => claimed(d, action, &format!("namespace {:?}", spec.name.as_str()), claim),
        NamespaceError::NotOurs { .. } => d.error("Namespace belongs to something else", format!("While {action}: {e}. Nothing was changed.")),
        NamespaceError::Incomplete { .. } => d.error("Namespace left half made", format!("While {action}: {e}. Remove them by hand, or import the namespace.")),
    }
}

/// For the plan's early look at the servers: a namespace that would be refused at apply
/// (its name taken, its prefix overlapping) is a warning here, not an error. Terraform's
/// destroy plans every configured resource first, so an error here would block destroying
/// a stack whose other namespace is the one in the way; apply refuses it, under the lock,
/// before anything changes. Mistakes in the configuration itself stay errors.
pub fn namespace_at_plan(d: &mut Diagnostics, spec: &NamespaceSpec, e: &NamespaceError) {
    match e {
        NamespaceError::Invalid(_) => namespace(d, "planning the namespace", spec, e),
        NamespaceError::Taken { .. } | NamespaceError::Overlap { .. } => {
            let mut found = Diagnostics::default();
            namespace(&mut found, "planning the namespace", spec, e);
            refused_at_apply(found, d);
        }
        _ => d.warning(
            "Could not check the namespace",
            format!(
                "Checking that namespace {:?} and its prefix {:?} are free failed: {e}. Apply checks again.",
                spec.name.as_str(),
                spec.key_prefix
            ),
        ),
    }
}

/// Adds a diagnostic for a failed rotated-role operation on `role` while doing `action`.
pub fn credentials(d: &mut Diagnostics, action: &str, role: &RoleName, e: &CredentialError) {
    match e {
        CredentialError::Vault(e) => vault(d, action, e),
        CredentialError::Postgres(e) => postgres(d, action, e),
        CredentialError::Mysql(e) => mysql(d, action, e),
        CredentialError::Redis(e) => redis(d, action, e),
        CredentialError::Namespace(e) => {
            d.error("Cannot read the namespace", format!("While {action}: reading the key prefix of the namespace: {e}"))
        }
        CredentialError::Claimed(claim) => claimed(d, action, &format!("Vault role {:?}", role.vault_role()), claim),
        CredentialError::Taken { object } => d.attribute_error(
            AttributePath::root(if role.keeps_vault_role() { "vault_role" } else { "name" }),
            "Role already exists",
            format!("{object} already exists and is not in this state: another stack (or a person) made it, and nothing was changed. Choose another name; or, if it is this stack's (a role made by hand before the provider, say), import it, which keeps its path and every credential it issued: `terraform import <address> {}`.", role.vault_role()),
        ),
        CredentialError::NoConnection { connection, mount } => d.attribute_error(
            AttributePath::root("database"),
            "The database has no Vault connection",
            format!("Vault has no connection {connection:?} on mount {mount:?}. The database or namespace resource creates it when the provider has a `vault` block; apply it first (reference its `id`, so Terraform orders them)."),
        ),
        CredentialError::NamespaceMissing(ns) => d.attribute_error(
            AttributePath::root("database"),
            "Redis namespace not found",
            format!("Namespace {ns:?} has neither a password secret in Vault KV nor an ACL user; apply the namespace first."),
        ),
        CredentialError::ForeignRole { .. } => d.error(
            "Vault role belongs to another database",
            format!("{e}, and its statements are not for this database alone: it is another database's role, and the provider will not change it. Nothing was changed. If this resource should not manage it, forget it without touching it: `terraform state rm <address>`."),
        ),
        CredentialError::LoginOutside { login, .. } => d.error(
            "The static login reaches beyond its database",
            format!(
                "Vault static role {:?} was made before the provider, and {e}. Moving it would give the database's management login the power to set the password of {login:?}, and with it whatever {login:?} may do elsewhere. Nothing was changed. Take away what reaches beyond the database first (`REVOKE …`, `ALTER ROLE … NOSUPERUSER …`), then plan again; or leave the role out of this stack.",
                role.vault_role()
            ),
        ),
        CredentialError::GroupsReachBeyond { groups, .. } => d.attribute_error(
            AttributePath::root("privileges"),
            "The role's users join roles that reach beyond the database",
            format!(
                "{e}, and {} not the database's own: each holds privileges or objects in another database, or can log in, holds role attributes or is a member of other roles. The provider would hand the users it issued to the database's management login, which could then act as them there; and the users it issues after the move would lose what those roles give. Nothing was changed. Confine {} to this database (revoke what {} elsewhere), then plan again; or leave this role out of the stack.",
                if groups.len() == 1 { "it is" } else { "they are" },
                if groups.len() == 1 { "it" } else { "them" },
                if groups.len() == 1 { "it holds" } else { "they hold" },
            ),
        ),
        CredentialError::LessThanBefore { beyond, group } => d.attribute_error(
            AttributePath::root("privileges"),
            "Users issued after the move would get less than those before",
            format!(
                "Vault role {:?} was made before the provider, and the users it issued hold, in the database, what `{}` would not give the users it issues after the move: {}. Apps starting after the move would lose it. Nothing was changed. Give it to {group:?} (`GRANT <privilege> ON <object> TO {group:?}`; for a role, `GRANT <role> TO {group:?}`), or choose the level that has it, then plan again. A role whose privileges are in this database alone is carried over by itself.",
                role.vault_role(),
                group,
                beyond.join(", "),
            ),
        ),
        CredentialError::Unrevocable { blocked } => {
            let owner = match &role.target {
                Target::Database(db) => db.group_roles().owner,
                Target::Namespace(_) => String::new(),
            };
            let users: Vec<&str> = blocked.iter().map(|(user, _)| user.as_str()).collect();
            d.error(
                "Moving the role would leave users Vault cannot revoke",
                format!(
                    "Vault role {:?} was made before the provider, and some users it issued hold what the database's management login cannot take from them (a privilege granted by a role it cannot act for, or membership in a role that reaches beyond the database), so Vault could not drop them at the end of their lease once the role moves onto the database's own connection: {e}. Nothing was changed. Either give the objects to the owner group role first (`ALTER TABLE … OWNER TO {owner:?}` moves their grants with them), or confine a role they are members of to this database (revoke what it holds elsewhere), or wait until these users' leases end ({} listed: {}).",
                    role.vault_role(),
                    users.len(),
                    users.join(", ")
                ),
            );
        }
        CredentialError::Incomplete { cause, left } => {
            credentials(d, action, role, cause);
            d.error(
                "Role left half made",
                format!("After that failure these could not be removed again: {}. They are kept in state (the resource is tainted), so the next apply removes them and creates the role afresh; `terraform destroy` removes them too.", left.join(", ")),
            );
        }
    }
}

/// Adds a diagnostic for a failed rotation (an action) of what `attribute` names, while
/// doing `action`.
pub fn rotation(d: &mut Diagnostics, attribute: &str, action: &str, e: &RotationError) {
    match e {
        RotationError::Vault(e) => vault(d, action, e),
        RotationError::NotFound(what) => d.attribute_error(
            AttributePath::root(attribute),
            "Nothing to rotate",
            format!("{what}: check the id, and that the resource was applied with Vault configured."),
        ),
    }
}
