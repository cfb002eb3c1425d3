//! Accounts: the management login, static logins, users Vault issued, and dropping or revoking them.

use super::*;

impl Mysql {
    /// Creates (`new`) or resets the password of the management login, `@'%'` because the
    /// Vault plugin's rotation statement targets that host, and makes it the issuer of the
    /// database: everything on the database, no grant option, and nothing beyond it but
    /// EXECUTE on the issuer's procedures (`issuer.rs`), through which alone it makes and
    /// drops users. What releases before 0.2 gave it beyond that is taken back. When `new`,
    /// an existing account of that name is [`MysqlError::LoginTaken`] and is left as it
    /// is: MySQL accounts carry no comment to mark them with (MariaDB has no user
    /// attributes), so a database's management login is ours only if this call created it.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn ensure_management_login(
        &self,
        database: &str,
        user: &str,
        password: &Secret,
        new: bool,
    ) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(user).await?);
        let password = self.quote_literal(password.expose()).await?;
        if new {
            match self.execute(&format!("CREATE USER {account} IDENTIFIED BY {password}")).await {
                // 1396: "Operation CREATE USER failed": the account exists.
                Err(e) if e.server_error() == Some(1396) => {
                    return Err(MysqlError::LoginTaken(user.to_owned()));
                }
                other => other?,
            }
        } else {
            self.execute(&format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}")).await?;
            self.execute(&format!("ALTER USER {account} IDENTIFIED BY {password}")).await?;
            self.narrow_management_login(user, &account).await?;
        }
        self.execute(&format!("GRANT ALL PRIVILEGES ON {} TO {account}", database_grant_scope(database))).await?;
        self.register_issuer(user, database).await
    }

    /// Creates or puts right a login `@'%'` for a static role: exactly `grants` on the
    /// database. The password is set only with `password`: an existing login keeps the one
    /// Vault rotated.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn ensure_login(
        &self,
        database: &str,
        login: &str,
        password: Option<&Secret>,
        grants: &str,
    ) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(login).await?);
        let scope = database_grant_scope(database);
        if let Some(p) = password {
            let password = self.quote_literal(p.expose()).await?;
            self.execute(&format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}")).await?;
            self.execute(&format!("ALTER USER {account} IDENTIFIED BY {password}")).await?;
        }
        if !self.privileges_on(login, database).await?.is_empty() {
            self.execute(&format!("REVOKE ALL PRIVILEGES ON {scope} FROM {account}")).await?;
        }
        self.execute(&format!("GRANT {grants} ON {scope} TO {account}")).await?;
        // Vault rotates its password through the issuer, which needs this record.
        self.record_logins(database, &[login.to_owned()], LoginKind::Static).await
    }

    /// Accounts Vault's default username templates make (`v-…`, host `%`) that hold
    /// privileges on `database`.* and nothing else (no global privilege, role or grant on
    /// another database), each with when its password was set (Unix seconds): the users a
    /// hand-written Vault role issued for the database. The one query that differs by
    /// flavour: MariaDB keeps that time in `mysql.global_priv`, MySQL 8 in `mysql.user`.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn vault_users_of(&self, database: &str) -> Result<Vec<(String, i64)>, MysqlError> {
        self.users_only_on(database, "a.User LIKE 'v-%'").await
    }

    /// Every user Vault issued for `database` that is still there, as
    /// [`Mysql::vault_users_of`] finds them, and those of the provider's username template
    /// (`v<8 hex>_<10 digits>_<8>`): what an issuer takes on its record when the
    /// management login of an earlier release is narrowed to it.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn users_issued_for(&self, database: &str) -> Result<Vec<String>, MysqlError> {
        let either = "(a.User LIKE 'v-%' OR CAST(a.User AS CHAR) REGEXP '^v[0-9a-f]{8}_[0-9]{10}_[A-Za-z0-9]{8}$')";
        Ok(self.users_only_on(database, either).await?.into_iter().map(|(user, _)| user).collect())
    }

    /// Accounts `@'%'` whose name meets `named` (SQL over `a.User`) holding privileges on
    /// `database`.* alone, with when their password was set.
    async fn users_only_on(&self, database: &str, named: &str) -> Result<Vec<(String, i64)>, MysqlError> {
        // A grant on the database is spelt escaped, or bare as releases before 0.2 and hand-made
        // roles write it.
        let only_this_database = "EXISTS (SELECT 1 FROM mysql.db d WHERE d.User = a.User AND d.Host = a.Host AND d.Db IN (?, ?)) \
             AND NOT EXISTS (SELECT 1 FROM mysql.db d WHERE d.User = a.User AND d.Host = a.Host AND d.Db NOT IN (?, ?)) \
             AND NOT EXISTS (SELECT 1 FROM mysql.tables_priv t WHERE t.User = a.User AND t.Host = a.Host AND t.Db <> ?)";
        let version: String = self.limit(sqlx::query_scalar("SELECT VERSION()").fetch_one(&self.pool)).await?;
        let query = if version.contains("MariaDB") {
            format!(
                "SELECT CAST(a.User AS CHAR), CAST(JSON_VALUE(a.Priv, '$.password_last_changed') AS SIGNED) \
                 FROM mysql.global_priv a \
                 WHERE {named} AND a.Host = '%' AND CAST(JSON_VALUE(a.Priv, '$.access') AS UNSIGNED) = 0 \
                   AND NOT EXISTS (SELECT 1 FROM mysql.roles_mapping r WHERE r.User = a.User AND r.Host = a.Host) \
                   AND {only_this_database} ORDER BY 1"
            )
        } else {
            format!(
                "SELECT CAST(a.User AS CHAR), CAST(UNIX_TIMESTAMP(a.password_last_changed) AS SIGNED) \
                 FROM mysql.user a \
                 WHERE {named} AND a.Host = '%' \
                   AND 'N' = ALL (SELECT 'N' UNION ALL SELECT a.Select_priv UNION ALL SELECT a.Insert_priv \
                                  UNION ALL SELECT a.Update_priv UNION ALL SELECT a.Delete_priv \
                                  UNION ALL SELECT a.Create_priv UNION ALL SELECT a.Drop_priv \
                                  UNION ALL SELECT a.Super_priv UNION ALL SELECT a.Create_user_priv \
                                  UNION ALL SELECT a.Grant_priv UNION ALL SELECT a.File_priv) \
                   AND NOT EXISTS (SELECT 1 FROM mysql.role_edges r WHERE r.TO_USER = a.User AND r.TO_HOST = a.Host) \
                   AND {only_this_database} ORDER BY 1"
            )
        };
        let rows: Vec<(String, Option<i64>)> = self
            .limit(
                sqlx::query_as(&query)
                    .bind(database)
                    .bind(grant_pattern(database))
                    .bind(database)
                    .bind(grant_pattern(database))
                    .bind(database)
                    .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows.into_iter().filter_map(|(user, at)| Some((user, at?))).collect())
    }

    /// Accounts whose names start with `prefix` (taken literally, `_` and `%` included).
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn logins_starting(&self, prefix: &str) -> Result<Vec<String>, MysqlError> {
        let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%"));
        self.limit(
            sqlx::query_scalar("SELECT DISTINCT CAST(User AS CHAR) FROM mysql.user WHERE User LIKE ? ORDER BY 1")
                .bind(pattern)
                .fetch_all(&self.pool),
        )
        .await
    }

    /// Every account (user, host) holding database-level privileges on `database`, written
    /// either way: escaped ([`grant_pattern`]) or as a bare name, as releases before 0.2
    /// wrote them. MySQL keeps them after `DROP DATABASE`, and they apply again to a new
    /// database of the name.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn accounts_granted_on(&self, database: &str) -> Result<Vec<(String, String)>, MysqlError> {
        self.limit(
            sqlx::query_as(
                "SELECT DISTINCT CAST(User AS CHAR), CAST(Host AS CHAR) FROM mysql.db WHERE Db = ? OR Db = ? ORDER BY 1, 2",
            )
            .bind(database)
            .bind(grant_pattern(database))
            .fetch_all(&self.pool),
        )
        .await
    }

    /// Accounts (user, host) whose grant on `database` is written as its bare name, which
    /// MySQL reads as a pattern reaching other databases (`x_a` gives `xxa` too): what
    /// releases before 0.2 wrote. Empty for a name with no `_` or `%`, where the two
    /// spellings are one.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn wildcard_grants_on(&self, database: &str) -> Result<Vec<(String, String)>, MysqlError> {
        if grant_pattern(database) == database {
            return Ok(Vec::new());
        }
        self.limit(
            sqlx::query_as("SELECT CAST(User AS CHAR), CAST(Host AS CHAR) FROM mysql.db WHERE Db = ? ORDER BY 1, 2")
                .bind(database)
                .fetch_all(&self.pool),
        )
        .await
    }

    /// Gives each account of [`Mysql::wildcard_grants_on`] the same privileges on
    /// `database` alone, then takes the pattern's away: in that order, so an app using the
    /// account never loses access to its own database in between.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn escape_wildcard_grants(&self, database: &str) -> Result<(), MysqlError> {
        for (user, host) in self.wildcard_grants_on(database).await? {
            let grantee = format!("'{}'@'{}'", user.replace('\'', "''"), host.replace('\'', "''"));
            let held: Vec<(String, String)> = self
                .limit(
                    sqlx::query_as(
                        "SELECT CAST(PRIVILEGE_TYPE AS CHAR), CAST(IS_GRANTABLE AS CHAR) FROM information_schema.SCHEMA_PRIVILEGES \
                         WHERE GRANTEE = ? AND TABLE_SCHEMA = ?",
                    )
                    .bind(&grantee)
                    .bind(database)
                    .fetch_all(&self.pool),
                )
                .await?;
            let account = format!("{}@{}", self.quote_literal(&user).await?, self.quote_literal(&host).await?);
            let privileges: Vec<&str> = held.iter().map(|(p, _)| p.as_str()).collect();
            if !privileges.is_empty() {
                let option = if held.iter().any(|(_, g)| g == "YES") { " WITH GRANT OPTION" } else { "" };
                self.execute(&format!(
                    "GRANT {} ON {} TO {account}{option}",
                    privileges.join(", "),
                    database_grant_scope(database)
                ))
                .await?;
            }
            self.revoke_pattern(&account, database, held.iter().any(|(_, g)| g == "YES")).await?;
        }
        Ok(())
    }

    /// Drops the account `user@host`.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn drop_account(&self, user: &str, host: &str) -> Result<(), MysqlError> {
        let account = format!("{}@{}", self.quote_literal(user).await?, self.quote_literal(host).await?);
        self.execute(&format!("DROP USER IF EXISTS {account}")).await?;
        self.forget_login(user).await
    }

    /// Takes every privilege on `database` from `user@host` (the account stays), however
    /// the grant spells the database.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn revoke_database(&self, user: &str, host: &str, database: &str) -> Result<(), MysqlError> {
        let account = format!("{}@{}", self.quote_literal(user).await?, self.quote_literal(host).await?);
        let held: Vec<(String, String)> = self
            .limit(
                sqlx::query_as(
                    "SELECT CAST(Db AS CHAR), CAST(Grant_priv AS CHAR) FROM mysql.db \
                     WHERE User = ? AND Host = ? AND (Db = ? OR Db = ?)",
                )
                .bind(user)
                .bind(host)
                .bind(database)
                .bind(grant_pattern(database))
                .fetch_all(&self.pool),
            )
            .await?;
        for (pattern, grant_option) in held {
            self.revoke_pattern(&account, &pattern, grant_option == "Y").await?;
        }
        Ok(())
    }

    /// Revokes a grant on `pattern` exactly as it is stored (REVOKE matches it as written).
    async fn revoke_pattern(&self, account: &str, pattern: &str, grant_option: bool) -> Result<(), MysqlError> {
        let on = format!("{}.*", quote_identifier(pattern));
        self.execute(&format!("REVOKE ALL PRIVILEGES ON {on} FROM {account}")).await?;
        // GRANT OPTION is revoked on its own, and only where it was given (else MySQL refuses).
        if grant_option {
            self.execute(&format!("REVOKE GRANT OPTION ON {on} FROM {account}")).await?;
        }
        Ok(())
    }

    /// Whether an account named `login` exists, on any host.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn login_exists(&self, login: &str) -> Result<bool, MysqlError> {
        self.limit(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mysql.user WHERE User = ?")
                .bind(login)
                .fetch_one(&self.pool),
        )
        .await
        .map(|n| n > 0)
    }

    /// The privileges (`SELECT`, `INSERT`, ...) the account `login@'%'` holds on `database`.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn privileges_on(&self, login: &str, database: &str) -> Result<Vec<String>, MysqlError> {
        let grantee = format!("'{}'@'%'", login.replace('\'', "''"));
        self.limit(sqlx::query_scalar(
            "SELECT CAST(PRIVILEGE_TYPE AS CHAR) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = ?",
        )
        .bind(grantee)
        .bind(grant_pattern(database))
        .fetch_all(&self.pool)).await
    }

    /// Drops a login `@'%'`.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn drop_login(&self, login: &str) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(login).await?);
        self.execute(&format!("DROP USER IF EXISTS {account}")).await?;
        self.forget_login(login).await
    }

    pub(super) async fn drop_management_login(&self, database: &str, management: &str) -> Result<(), MysqlError> {
        let account = format!("{}@'%'", self.quote_literal(management).await?);
        self.execute(&format!("DROP USER IF EXISTS {account}")).await?;
        self.forget_issuer(management, database).await
    }
}
