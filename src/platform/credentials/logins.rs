//! Static roles' fixed logins: refusing one that is not ours, making it at its level, checking it, dropping it.

use super::*;

impl Credentials<'_> {
    /// Refuses what a new role would take from someone else. `Ok(true)`: the static login
    /// exists and is marked as this database's static login, with no Vault static role left
    /// for it (Vault lost its data, say): the role takes it back, and keeps it if writing
    /// fails.
    pub(super) async fn check_new(&self, spec: &CredentialSpec) -> Result<bool, CredentialError> {
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
    pub(super) async fn static_login_exists(&self, spec: &CredentialSpec) -> Result<bool, CredentialError> {
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
    pub(super) async fn ensure_static_login(
        &self,
        spec: &CredentialSpec,
        password: Option<&Secret>,
    ) -> Result<(), CredentialError> {
        let login = spec.login();
        match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                pg.ensure_login(&db.name, &login, password, &db.group_roles(), spec.privileges.as_str()).await?;
            }
            (Store::Mysql(my), Target::Database(db)) => {
                my.ensure_login(&db.name, &login, password, mysql_grants(spec.privileges)).await?;
            }
            (Store::Redis(ns), Target::Namespace(name)) => {
                let rules = self.redis_rules(ns, name, spec.privileges).await?;
                ns.redis.set_user(&login, password, &[], &rules).await?;
            }
            _ => unreachable!("the store is chosen by the target"),
        }
        Ok(())
    }

    pub(super) async fn drop_static_login(&self, spec: &CredentialSpec) -> Result<(), CredentialError> {
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
    pub(super) async fn static_login_matches(
        &self,
        spec: &CredentialSpec,
        login: &str,
    ) -> Result<bool, CredentialError> {
        Ok(match (&self.store, &spec.role.target) {
            (Store::Postgres(pg), Target::Database(db)) => {
                let roles = db.group_roles();
                let groups = [&roles.owner, &roles.readwrite, &roles.readonly];
                let member_of: Vec<String> =
                    pg.memberships(login).await?.into_iter().filter(|g| groups.contains(&g)).collect();
                pg.role_exists(login).await? && member_of == [roles.for_level(spec.privileges.as_str()).to_owned()]
            }
            (Store::Mysql(my), Target::Database(db)) => {
                let mut granted = my.privileges_on(login, &db.name).await?;
                granted.sort();
                match spec.privileges {
                    Privileges::Owner => granted.iter().any(|p| p == "CREATE"),
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
    pub(super) async fn static_privileges(&self, role: &RoleName, login: &str) -> Result<Privileges, CredentialError> {
        if let (Store::Postgres(pg), Target::Database(db)) = (&self.store, &role.target) {
            let roles = db.group_roles();
            let member_of = pg.memberships(login).await?;
            for (level, group) in [
                (Privileges::Owner, &roles.owner),
                (Privileges::Readwrite, &roles.readwrite),
                (Privileges::Readonly, &roles.readonly),
            ] {
                if member_of.contains(group) {
                    return Ok(level);
                }
            }
        }
        if let (Store::Mysql(my), Target::Database(db)) = (&self.store, &role.target) {
            let granted = my.privileges_on(login, &db.name).await?;
            let has = |p: &str| granted.iter().any(|g| g == p);
            if has("CREATE") {
                return Ok(Privileges::Owner);
            }
            if has("SELECT") && !has("INSERT") {
                return Ok(Privileges::Readonly);
            }
        }
        if let (Store::Redis(ns), Target::Namespace(_)) = (&self.store, &role.target)
            && let Some(user) = ns.redis.get_user(0, login).await?
            && !user.commands.split_whitespace().any(|c| c == "+@write")
        {
            return Ok(Privileges::Readonly);
        }
        Ok(Privileges::Readwrite)
    }

    /// The ACL rules of a Redis role: the namespace's patterns and the level's commands.
    /// The prefix comes from the namespace's KV secret, which outlives a Redis restart,
    /// or else from its ACL user.
    pub(super) async fn redis_rules(
        &self,
        namespaces: &Namespaces<'_>,
        name: &NamespaceName,
        privileges: Privileges,
    ) -> Result<Vec<String>, CredentialError> {
        let prefix = namespaces
            .recorded_prefix(name)
            .await?
            .ok_or_else(|| CredentialError::NamespaceMissing(name.as_str().to_owned()))?;
        let mut rules = redis_acl::pattern_rules(&prefix);
        rules.extend(redis_acl::command_rules(privileges.as_str()));
        Ok(rules)
    }
}
