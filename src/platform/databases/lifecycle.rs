//! Creating a database with everything it needs (undoing exactly what was made when a step fails), putting it right, and removing it.

use super::*;

impl Databases<'_> {
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

    pub(super) async fn provision_steps(
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
                claims::stamp_new(&PostgresDatabaseClaim { pg, name }, claim).await?;
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
                my.escape_wildcard_grants(&name.name).await?;
            }
        }
        if let Some((vault, vc)) = self.vault
            && !self.vault_connection_current(name, vault, vc).await?
        {
            // The login may be about to lose CREATEROLE or CREATE USER: its roles move first.
            let store = match self.server {
                Server::Postgres(pg, _) if pg.needs_issuer().await? => Some(credentials::Store::Postgres(pg)),
                Server::Mysql(my, _) => Some(credentials::Store::Mysql(my)),
                Server::Postgres(..) => None,
            };
            if let Some(store) = store {
                credentials::move_to_issuer(vault, &vc.database_mount, store, name).await.map_err(Box::new)?;
            }
            let mut made = Made::default();
            self.connect_vault(name, false, &mut made).await?;
        }
        Ok(())
    }

    /// Archives or drops the database: the Vault connection goes first (its leases revoked,
    /// so no issued user is left), then the database. Archiving keeps the data (and, on
    /// PostgreSQL, the group roles) under `archived_name`. The caller has refused a
    /// database another state claims ([`Databases::refuse_theirs`]).
    ///
    /// # Errors
    /// [`DatabaseError`]; connected clients are `InUse` unless `force`.
    pub(super) async fn decommission(
        &self,
        name: &DatabaseName,
        held: Option<&str>,
        removal: Removal,
        archived_name: &str,
        force: bool,
    ) -> Result<(), DatabaseError> {
        if let Server::Postgres(pg, _) = self.server {
            // Before Vault revokes its users and the roles go: what another tenant granted
            // them in its own database would refuse both.
            pg.revoke_granted_elsewhere(&name.name, &name.group_roles(), None).await?;
        }
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
    /// database on this same server: one whose login is the database's management login
    /// and whose address is this server's. That is a stale one (its database was dropped
    /// outside Terraform); anything else is someone else's, a database of the same name on
    /// another server (another provider configuration on the same mount) included.
    pub(super) async fn check_connection_free(&self, name: &DatabaseName) -> Result<(), DatabaseError> {
        let Some((vault, vc)) = self.vault else { return Ok(()) };
        let Some(existing) = vault.read_connection(&vc.database_mount, &name.vault_connection()).await? else {
            return Ok(());
        };
        let (login, here) = match self.server {
            Server::Postgres(_, config) => (name.group_roles().management, authority(&config.host, config.port)),
            Server::Mysql(_, config) => (name.mysql_management_login(), authority(&config.host, config.port)),
        };
        let details = &existing["connection_details"];
        let there = details["connection_url"].as_str().and_then(|url| connection_server(name.engine, url));
        let taken = |server| DatabaseError::ConnectionTaken {
            mount: vc.database_mount.clone(),
            connection: name.vault_connection(),
            server,
            here: here.clone(),
        };
        if details["username"].as_str() != Some(login.as_str()) {
            return Err(taken(None));
        }
        match there {
            Some(there) if there != here => Err(taken(Some(there))),
            _ => Ok(()),
        }
    }

    /// Creates (`new`: refusing one that exists unmarked) or resets the management login
    /// with a fresh password, then the Vault connection using it. Only Vault keeps the
    /// password: PostgreSQL is sent its SCRAM verifier alone, and on MySQL Vault rotates it
    /// at once (the server was sent it in plain).
    pub(super) async fn connect_vault(
        &self,
        name: &DatabaseName,
        new: bool,
        made: &mut Made,
    ) -> Result<(), DatabaseError> {
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
                    Plugin::Mysql {
                        connection_url,
                        username_template: MYSQL_USERNAME_TEMPLATE,
                        root_rotation_statements: mysql_root_rotation(),
                        pool: sql_pool(vc),
                    },
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

/// The server (`host:port`) a Vault connection's URL names, as [`Databases::connect_vault`]
/// writes it: `postgresql://…@host:port/db?…`, or MySQL's `…@tcp(host:port)/`.
pub(crate) fn connection_server(engine: Engine, url: &str) -> Option<String> {
    let (_, rest) = url.rsplit_once('@')?;
    match engine {
        Engine::Postgresql => rest.split(['/', '?']).next().map(str::to_owned),
        Engine::Mysql => rest.strip_prefix("tcp(")?.split_once(')').map(|(server, _)| server.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_names_the_server_it_reaches() {
        let pg = "postgresql://{{username}}:{{password}}@pg-cluster-rw.db:5432/orders?sslmode=require";
        assert_eq!(connection_server(Engine::Postgresql, pg).as_deref(), Some("pg-cluster-rw.db:5432"));
        let v6 = "postgresql://{{username}}:{{password}}@[::1]:5417/orders?sslmode=disable";
        assert_eq!(connection_server(Engine::Postgresql, v6).as_deref(), Some("[::1]:5417"));
        let my = "{{username}}:{{password}}@tcp(mysql.db:3306)/";
        assert_eq!(connection_server(Engine::Mysql, my).as_deref(), Some("mysql.db:3306"));
        assert_eq!(connection_server(Engine::Mysql, "nonsense"), None);
    }
}
