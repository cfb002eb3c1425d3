//! What exists on the shared services, whether or not any state knows it: the databases,
//! namespaces and Vault roles `terraform query` lists. Only names the provider could
//! manage are listed (a name its grammar refuses could not be imported); archives and the
//! servers' own databases are left out.

use crate::backends::mysql::{Mysql, MysqlError};
use crate::backends::postgres::{Postgres, PostgresError};
use crate::backends::redis::{Redis, RedisBackendError};
use crate::backends::vault::{Vault, VaultError};

use super::credentials::Credentials;
use super::naming::{self, DatabaseName, Engine, NamespaceName, RoleName, Target};

/// PostgreSQL databases whose names start with `prefix`, by name.
///
/// # Errors
/// [`PostgresError`] when the catalog cannot be read.
pub async fn postgres_databases(pg: &Postgres, prefix: &str) -> Result<Vec<DatabaseName>, PostgresError> {
    let catalog = pg.catalog().await?;
    Ok(manageable(Engine::Postgresql, catalog.databases.keys(), prefix))
}

/// MySQL databases whose names start with `prefix`, by name.
///
/// # Errors
/// [`MysqlError`] when the catalog cannot be read.
pub async fn mysql_databases(my: &Mysql, prefix: &str) -> Result<Vec<DatabaseName>, MysqlError> {
    let catalog = my.catalog().await?;
    Ok(manageable(Engine::Mysql, catalog.keys(), prefix))
}

fn manageable<'a>(engine: Engine, names: impl Iterator<Item = &'a String>, prefix: &str) -> Vec<DatabaseName> {
    names
        .filter(|n| n.starts_with(prefix) && !naming::is_archive(n))
        .filter_map(|n| DatabaseName::new(engine, n).ok())
        .collect()
}

/// Namespaces whose ACL user exists on the primary and whose names start with `prefix`,
/// by name. (A namespace whose user a restart took is found again once it is repaired.)
///
/// # Errors
/// [`RedisBackendError`] when the primary cannot be asked.
pub async fn namespaces(redis: &Redis, prefix: &str) -> Result<Vec<NamespaceName>, RedisBackendError> {
    let mut found: Vec<NamespaceName> = redis
        .user_names()
        .await?
        .iter()
        .filter_map(|user| NamespaceName::of_user(user))
        .filter(|n| n.as_str().starts_with(prefix))
        .collect();
    found.sort();
    Ok(found)
}

/// The Vault roles, dynamic and static, that issue credentials for `target`, by name:
/// those on its connection, and those made before the provider (on a shared connection)
/// whose statements name it alone ([`Credentials::role_of`]). A name of the provider's form
/// is read only when it is `target`'s; one of another form is read to see whom it is for.
/// With `server` (`host:port`, a PostgreSQL or MySQL database's), a role whose connection
/// reaches another server is left out: two provider configurations may share one mount,
/// and a database of the same name on the other server is not this one.
///
/// # Errors
/// [`VaultError`] when Vault refuses.
pub async fn roles(
    vault: &Vault,
    mount: &str,
    target: &Target,
    server: Option<&str>,
) -> Result<Vec<RoleName>, VaultError> {
    let prefix = format!("{}-", target.vault_connection());
    let scheme = ["postgres-", "mysql-", "redis-"];
    let mut names = vault.list_roles(mount).await?;
    names.extend(vault.list_static_roles(mount).await?);
    names.retain(|n| n.starts_with(&prefix) || !scheme.iter().any(|s| n.starts_with(s)));
    names.sort();
    names.dedup();
    let mut found = Vec::new();
    for name in names {
        if let Some((role, connection)) = Credentials::role_and_connection_of(vault, mount, &name).await?
            && role.target == *target
            && on_server(&connection, target, server)
        {
            found.push(role);
        }
    }
    Ok(found)
}

/// Whether `connection` (a Vault connection as read) reaches `server` (always, without
/// one, or for a namespace).
fn on_server(connection: &serde_json::Value, target: &Target, server: Option<&str>) -> bool {
    let (Some(server), Target::Database(database)) = (server, target) else { return true };
    connection["connection_details"]["connection_url"]
        .as_str()
        .and_then(|url| super::databases::connection_server(database.engine, url))
        .is_none_or(|there| there == server)
}
