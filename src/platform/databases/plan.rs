//! What a plan asks of the servers before anything changes: a name that is free, the pooler's auth user, extensions the platform allows, and what adopting a hand-made database changes.

use super::*;

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

    /// Checks the configured PgBouncer `auth_user` before a database grants it CONNECT (see
    /// [`Postgres::pooler_auth_user_standing`]): at plan, and again at apply.
    ///
    /// # Errors
    /// [`DatabaseError::PoolerAuthUser`] when it is missing or not the platform's;
    /// [`DatabaseError`] when the catalog cannot be read.
    pub async fn check_pooler_auth_user(&self) -> Result<(), DatabaseError> {
        let Server::Postgres(pg, config) = self.server else { return Ok(()) };
        let Some(user) = &config.pooler_auth_user else { return Ok(()) };
        match pg.pooler_auth_user_standing(user).await? {
            Some(None) => Ok(()),
            Some(why) => Err(DatabaseError::PoolerAuthUser { user: user.clone(), why }),
            None => Err(DatabaseError::PoolerAuthUser { user: user.clone(), why: None }),
        }
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
}
