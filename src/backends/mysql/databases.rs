//! Databases: create, alter, the registry of claims, sessions, drop and archive.

use super::*;

impl Mysql {
    /// Creates the database.
    ///
    /// # Errors
    /// [`MysqlError::AlreadyExists`] when it exists; [`MysqlError`] for any refusal.
    pub async fn create_database(
        &self,
        name: &str,
        character_set: Option<&str>,
        collation: Option<&str>,
    ) -> Result<(), MysqlError> {
        let mut statement = format!("CREATE DATABASE {}", quote_identifier(name));
        if let Some(cs) = character_set {
            statement.push_str(&format!(" CHARACTER SET {}", quote_identifier(cs)));
        }
        if let Some(co) = collation {
            statement.push_str(&format!(" COLLATE {}", quote_identifier(co)));
        }
        let result = self.execute(&statement).await;
        self.invalidate().await;
        match result {
            Err(MysqlError::Sql(sqlx::Error::Database(db))) if db.message().contains("database exists") => {
                Err(MysqlError::AlreadyExists(name.to_owned()))
            }
            other => other,
        }
    }

    /// Changes the database's defaults for new tables.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn alter_database(
        &self,
        name: &str,
        character_set: Option<&str>,
        collation: Option<&str>,
    ) -> Result<(), MysqlError> {
        let mut statement = format!("ALTER DATABASE {}", quote_identifier(name));
        if let Some(cs) = character_set {
            statement.push_str(&format!(" CHARACTER SET {}", quote_identifier(cs)));
        }
        if let Some(co) = collation {
            statement.push_str(&format!(" COLLATE {}", quote_identifier(co)));
        }
        self.execute(&statement).await?;
        self.invalidate().await;
        Ok(())
    }

    /// The provider's record of `database` in its registry table (the claim of the state
    /// managing it); `None` when there is none.
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn registry_record(&self, database: &str) -> Result<Option<String>, MysqlError> {
        self.ensure_registry().await?;
        self.limit(
            sqlx::query_scalar(&format!("SELECT CAST(record AS CHAR) FROM {REGISTRY} WHERE db = ?"))
                .bind(database)
                .fetch_optional(&self.pool),
        )
        .await
    }

    /// Sets (`Some`) or removes (`None`) the registry record of `database` if it still is
    /// `expected`; false when it changed in between. Each case is one statement the server
    /// runs atomically: an insert that the primary key refuses for a second writer, or an
    /// update or delete that matches only the expected record.
    ///
    /// # Errors
    /// [`MysqlError`] when the server refuses.
    pub async fn swap_registry_record(
        &self,
        database: &str,
        expected: Option<&str>,
        record: Option<&str>,
    ) -> Result<bool, MysqlError> {
        self.ensure_registry().await?;
        let (sql, binds) = match (expected, record) {
            (None, None) => return Ok(true),
            (None, Some(new)) => {
                (format!("INSERT IGNORE INTO {REGISTRY} (db, record) VALUES (?, ?)"), [database, new, ""])
            }
            (Some(old), Some(new)) => {
                (format!("UPDATE {REGISTRY} SET record = ? WHERE db = ? AND record = ?"), [new, database, old])
            }
            (Some(old), None) => (format!("DELETE FROM {REGISTRY} WHERE db = ? AND record = ?"), [database, old, ""]),
        };
        let arguments = sql.matches('?').count();
        let query = binds.iter().take(arguments).fold(sqlx::query(&sql), |q, b| q.bind(*b));
        let done = self.limit(query.execute(&self.pool)).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates the registry's schema, its claims table and the issuer if missing: once per
    /// process.
    pub(super) async fn ensure_registry(&self) -> Result<(), MysqlError> {
        if self.registry_ready.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        self.execute(&format!("CREATE DATABASE IF NOT EXISTS {REGISTRY_SCHEMA}")).await?;
        self.execute(&format!(
            "CREATE TABLE IF NOT EXISTS {REGISTRY} (db VARCHAR(64) NOT NULL PRIMARY KEY, record VARCHAR(255) NOT NULL)"
        ))
        .await?;
        self.ensure_issuer().await?;
        self.registry_ready.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Sessions on `database`, other than ours and Vault's management login's.
    pub(super) async fn sessions(&self, database: &str, management: &str) -> Result<Vec<u64>, MysqlError> {
        let ids: Vec<u64> = self.limit(sqlx::query_scalar(
            "SELECT CAST(ID AS UNSIGNED) FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND USER <> ?",
        )
        .bind(database)
        .bind(management)
        .fetch_all(&self.pool)).await?;
        Ok(ids)
    }

    /// How many clients are connected to `database` (other than this pool).
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn session_count(&self, database: &str, management: &str) -> Result<i64, MysqlError> {
        Ok(self.sessions(database, management).await?.len() as i64)
    }

    pub(super) async fn clear_sessions(&self, database: &str, management: &str, force: bool) -> Result<(), MysqlError> {
        let vault_sessions: Vec<u64> = self
            .limit(
                sqlx::query_scalar("SELECT CAST(ID AS UNSIGNED) FROM information_schema.PROCESSLIST WHERE USER = ?")
                    .bind(management)
                    .fetch_all(&self.pool),
            )
            .await?;
        for id in vault_sessions {
            let _ = self.execute(&format!("KILL CONNECTION {id}")).await;
        }
        let sessions = self.sessions(database, management).await?;
        if sessions.is_empty() {
            return Ok(());
        }
        if !force {
            return Err(MysqlError::InUse { database: database.to_owned(), sessions: sessions.len() as i64 });
        }
        for id in sessions {
            // The session may have ended meanwhile.
            let _ = self.execute(&format!("KILL CONNECTION {id}")).await;
        }
        Ok(())
    }

    /// Drops the database and its management login. Connected clients are
    /// [`MysqlError::InUse`] unless `force`, which disconnects them first.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn drop_database(&self, name: &str, management: &str, force: bool) -> Result<(), MysqlError> {
        self.clear_sessions(name, management, force).await?;
        self.execute(&format!("DROP DATABASE IF EXISTS {}", quote_identifier(name))).await?;
        self.drop_management_login(name, management).await?;
        self.invalidate().await;
        Ok(())
    }

    /// Archives the database: MySQL cannot rename one, so its tables move, in one atomic
    /// RENAME TABLE, into `archived_name`, and the emptied database and the management
    /// login are dropped. Views, routines, triggers and events cannot move and are refused.
    ///
    /// # Errors
    /// [`MysqlError::CannotArchive`], [`MysqlError::InUse`] (unless `force`), or a refusal.
    pub async fn archive_database(
        &self,
        name: &str,
        archived_name: &str,
        management: &str,
        force: bool,
    ) -> Result<(), MysqlError> {
        let blockers: Vec<(String, i64)> = self
            .limit(
                sqlx::query_as(
                    "SELECT 'views', COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? \
             UNION ALL SELECT 'routines', COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? \
             UNION ALL SELECT 'triggers', COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? \
             UNION ALL SELECT 'events', COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?",
                )
                .bind(name)
                .bind(name)
                .bind(name)
                .bind(name)
                .fetch_all(&self.pool),
            )
            .await?;
        let what: Vec<String> = blockers.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{n} {k}")).collect();
        if !what.is_empty() {
            return Err(MysqlError::CannotArchive { database: name.to_owned(), what: what.join(", ") });
        }
        self.clear_sessions(name, management, force).await?;
        let info = self.catalog_of(name).await?.get(name).cloned();
        let mut create = format!("CREATE DATABASE {}", quote_identifier(archived_name));
        if let Some(i) = info {
            create.push_str(&format!(
                " CHARACTER SET {} COLLATE {}",
                quote_identifier(&i.character_set),
                quote_identifier(&i.collation)
            ));
        }
        self.execute(&create).await?;
        let tables: Vec<String> = self.limit(sqlx::query_scalar(
            "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
        )
        .bind(name)
        .fetch_all(&self.pool)).await?;
        if !tables.is_empty() {
            let moves: Vec<String> = tables
                .iter()
                .map(|t| {
                    format!(
                        "{}.{} TO {}.{}",
                        quote_identifier(name),
                        quote_identifier(t),
                        quote_identifier(archived_name),
                        quote_identifier(t)
                    )
                })
                .collect();
            self.execute(&format!("RENAME TABLE {}", moves.join(", "))).await?;
        }
        self.execute(&format!("DROP DATABASE {}", quote_identifier(name))).await?;
        self.drop_management_login(name, management).await?;
        self.invalidate().await;
        Ok(())
    }
}
