//! Users Vault issued whose lease is gone (stale), found per engine, and dropped on request.

use super::*;

impl Credentials<'_> {
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
                Ok(pg.expired_vault_users(db.group_roles().for_level(spec.privileges.as_str()), &db.name).await?)
            }
            (Store::Mysql(my), Target::Database(_)) => self.mysql_stale_users(my, &spec.role).await,
            (Store::Redis(ns), Target::Namespace(_)) => self.redis_stale_users(ns.redis, &spec.role).await,
            _ => Ok(Vec::new()),
        }
    }

    /// Redis users Vault issued for this role that no live lease holds, matched on issue
    /// time as on MySQL (see [`RoleName::redis_issued_at`] for which names are recognised).
    pub(super) async fn redis_stale_users(
        &self,
        redis: &Redis,
        role: &RoleName,
    ) -> Result<Vec<String>, CredentialError> {
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
    pub(super) async fn mysql_stale_users(&self, my: &Mysql, role: &RoleName) -> Result<Vec<String>, CredentialError> {
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
    pub(super) async fn mysql_users_from_before(
        &self,
        my: &Mysql,
        role: &RoleName,
    ) -> Result<Vec<String>, CredentialError> {
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
}
