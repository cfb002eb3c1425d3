//! The issuer: stored procedures, run as the provider's admin, through which a database's
//! management login issues, drops and rotates only its own database's logins. MySQL cannot
//! narrow `CREATE USER` to one database (it reaches every account, the admin's too), so the
//! management login holds none: it may only call these, and each finds the database it may
//! touch from who calls (the registry's `issuers`, which the admin alone writes), never from
//! its arguments.
//!
//! Hand-written rather than a crate's: this is server-side SQL that must mean the same on
//! MySQL 8 and MariaDB 10.11.

use super::*;

/// The management logins and the database each issues for: (login, db, grant scope).
const ISSUERS: &str = "`dbaas-provider`.`issuers`";
/// The logins an issuer may touch: users issued through it (`issued`) and the database's
/// static logins (`static`), which it may only set the password of.
const LOGINS: &str = "`dbaas-provider`.`logins`";

/// Called by Vault's creation statements: `CALL issue_user(name, password, level)`.
pub const ISSUE_USER: &str = "`dbaas-provider`.`issue_user`";
/// Called by Vault's revocation statements: `CALL drop_user(name)`.
pub const DROP_USER: &str = "`dbaas-provider`.`drop_user`";
/// Called by a static role's rotation statements: `CALL set_password(name, password)`.
pub const SET_PASSWORD: &str = "`dbaas-provider`.`set_password`";
/// Called by the connection's root rotation: `CALL set_own_password(password)`.
pub const SET_OWN_PASSWORD: &str = "`dbaas-provider`.`set_own_password`";

/// The caller's login (`USER()` less its `@host`): what the client logged in as. EXECUTE on
/// the procedures is granted to management logins alone, so no other account (anonymous
/// ones included) can call them under a borrowed name.
const DECLARE_CALLER: &str = "DECLARE caller VARCHAR(255) DEFAULT LEFT(USER(), CHAR_LENGTH(USER()) - CHAR_LENGTH(SUBSTRING_INDEX(USER(), '@', -1)) - 1);\n  \
     DECLARE target VARCHAR(64);\n  \
     DECLARE grant_scope VARCHAR(200);";
/// Finds the database the caller issues for, or refuses: after every DECLARE.
const CHECK_CALLER: &str = "SELECT db, scope INTO target, grant_scope FROM `dbaas-provider`.`issuers` WHERE login = caller;\n  \
     IF target IS NULL THEN SIGNAL SQLSTATE '42000' SET MESSAGE_TEXT = 'this login issues no users'; END IF;";

/// Refuses a password shorter than Vault's: an empty one would leave the login open to all.
const CHECK_SECRET: &str = "IF secret IS NULL OR CHAR_LENGTH(secret) < 16 THEN \
     SIGNAL SQLSTATE '42000' SET MESSAGE_TEXT = 'a password has at least 16 characters'; END IF;";

/// Runs the text in `@dbaas_statement`, then forgets it (it may hold a password).
const RUN: &str = "PREPARE dbaas_run FROM @dbaas_statement; SET @dbaas_statement = NULL; \
     EXECUTE dbaas_run; DEALLOCATE PREPARE dbaas_run;";

/// The procedures, by name, with their bodies. Constant text; names and passwords become
/// SQL only through `QUOTE()`, under the `sql_mode` fixed at creation
/// ([`Mysql::ensure_issuer`]), so its escapes are the ones the parser reads.
fn procedures() -> [(&'static str, String); 4] {
    [
        (
            "issue_user",
            format!(
                "CREATE PROCEDURE {ISSUE_USER}(IN username VARCHAR(128), IN secret TEXT, IN level VARCHAR(16)) SQL SECURITY DEFINER\n\
                 BEGIN\n  {DECLARE_CALLER}\n  \
                 DECLARE granted VARCHAR(64) DEFAULT CASE level WHEN 'owner' THEN 'ALL PRIVILEGES' \
                 WHEN 'readwrite' THEN 'SELECT, INSERT, UPDATE, DELETE' WHEN 'readonly' THEN 'SELECT' END;\n  \
                 {CHECK_CALLER}\n  \
                 {CHECK_SECRET}\n  \
                 IF granted IS NULL THEN SIGNAL SQLSTATE '42000' SET MESSAGE_TEXT = 'level is not owner, readwrite or readonly'; END IF;\n  \
                 -- Only names Vault's templates make (the provider's, or Vault's default `v-...`):\n  \
                 -- never a login the provider names, which a squatter could otherwise take first.\n  \
                 -- Case-sensitive, and to the very end (`$` would let a final newline by).\n  \
                 IF username NOT REGEXP '(?-i)^v(-[A-Za-z0-9_.-]+|[0-9a-f]{{8}}_[0-9]{{10}}_[A-Za-z0-9]{{8}})\\\\z' THEN \
                 SIGNAL SQLSTATE '42000' SET MESSAGE_TEXT = 'not a name Vault issues'; END IF;\n  \
                 -- CREATE USER fails on an account that exists: no one else's is ever recorded.\n  \
                 SET @dbaas_statement = CONCAT('CREATE USER ', QUOTE(username), '@''%'' IDENTIFIED BY ', QUOTE(secret));\n  \
                 {RUN}\n  \
                 INSERT INTO {LOGINS} (login, db, kind) VALUES (username, target, 'issued');\n  \
                 SET @dbaas_statement = CONCAT('GRANT ', granted, ' ON ', grant_scope, ' TO ', QUOTE(username), '@''%''');\n  \
                 {RUN}\n\
                 END"
            ),
        ),
        (
            "drop_user",
            format!(
                "CREATE PROCEDURE {DROP_USER}(IN username VARCHAR(128)) SQL SECURITY DEFINER\n\
                 BEGIN\n  {DECLARE_CALLER}\n  {CHECK_CALLER}\n  \
                 -- A user not issued here (or gone already) is left alone.\n  \
                 IF EXISTS (SELECT 1 FROM {LOGINS} WHERE login = username AND db = target AND kind = 'issued') THEN\n    \
                 SET @dbaas_statement = CONCAT('DROP USER IF EXISTS ', QUOTE(username), '@''%''');\n    \
                 {RUN}\n    \
                 DELETE FROM {LOGINS} WHERE login = username;\n  \
                 END IF;\n\
                 END"
            ),
        ),
        (
            "set_password",
            format!(
                "CREATE PROCEDURE {SET_PASSWORD}(IN username VARCHAR(128), IN secret TEXT) SQL SECURITY DEFINER\n\
                 BEGIN\n  {DECLARE_CALLER}\n  {CHECK_CALLER}\n  \
                 {CHECK_SECRET}\n  \
                 IF NOT EXISTS (SELECT 1 FROM {LOGINS} WHERE login = username AND db = target AND kind = 'static') THEN\n    \
                 SIGNAL SQLSTATE '42000' SET MESSAGE_TEXT = 'not a static login of this database';\n  \
                 END IF;\n  \
                 SET @dbaas_statement = CONCAT('ALTER USER ', QUOTE(username), '@''%'' IDENTIFIED BY ', QUOTE(secret));\n  \
                 {RUN}\n\
                 END"
            ),
        ),
        (
            "set_own_password",
            format!(
                "CREATE PROCEDURE {SET_OWN_PASSWORD}(IN secret TEXT) SQL SECURITY DEFINER\n\
                 BEGIN\n  {DECLARE_CALLER}\n  {CHECK_CALLER}\n  \
                 {CHECK_SECRET}\n  \
                 SET @dbaas_statement = CONCAT('ALTER USER ', QUOTE(caller), '@''%'' IDENTIFIED BY ', QUOTE(secret));\n  \
                 {RUN}\n\
                 END"
            ),
        ),
    ]
}

impl Mysql {
    /// Creates the issuer's tables and procedures where missing (the registry's schema is
    /// made first by [`Mysql::ensure_registry`]). A procedure is never replaced: a later
    /// body would take a new name, so Vault's calls never meet one half made.
    pub(super) async fn ensure_issuer(&self) -> Result<(), MysqlError> {
        self.execute(&format!(
            "CREATE TABLE IF NOT EXISTS {ISSUERS} (login VARBINARY(512) NOT NULL PRIMARY KEY, \
             db VARBINARY(256) NOT NULL, scope VARBINARY(800) NOT NULL)"
        ))
        .await?;
        self.execute(&format!(
            "CREATE TABLE IF NOT EXISTS {LOGINS} (login VARBINARY(512) NOT NULL PRIMARY KEY, \
             db VARBINARY(256) NOT NULL, kind VARCHAR(8) NOT NULL, KEY (db))"
        ))
        .await?;
        let present: Vec<String> = self
            .limit(
                sqlx::query_scalar(
                    "SELECT CAST(ROUTINE_NAME AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
                )
                .bind(REGISTRY_DATABASE)
                .fetch_all(&self.pool),
            )
            .await?;
        let missing: Vec<String> =
            procedures().into_iter().filter(|(name, _)| !present.iter().any(|p| p == name)).map(|(_, b)| b).collect();
        if missing.is_empty() {
            return Ok(());
        }
        // A connection of its own: the procedures keep the sql_mode they are created under,
        // and one without NO_BACKSLASH_ESCAPES is what makes QUOTE()'s escapes hold.
        let mut connection = self.limit(self.pool.acquire()).await?.detach();
        self.limit(connection.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'")).await?;
        for body in missing {
            match self.limit(connection.execute(body.as_str())).await {
                // 1304: made meanwhile by another provider process.
                Err(e) if e.server_error() == Some(1304) => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Makes `login` the issuer of `database`: it may call the procedures, which then
    /// issue and drop users on `database` alone.
    pub(super) async fn register_issuer(&self, login: &str, database: &str) -> Result<(), MysqlError> {
        self.ensure_registry().await?;
        self.limit(
            sqlx::query(&format!("REPLACE INTO {ISSUERS} (login, db, scope) VALUES (?, ?, ?)"))
                .bind(login)
                .bind(database)
                .bind(database_grant_scope(database))
                .execute(&self.pool),
        )
        .await?;
        let account = format!("{}@'%'", self.quote_literal(login).await?);
        for procedure in [ISSUE_USER, DROP_USER, SET_PASSWORD, SET_OWN_PASSWORD] {
            self.execute(&format!("GRANT EXECUTE ON PROCEDURE {procedure} TO {account}")).await?;
        }
        Ok(())
    }

    /// Records logins of `database` its issuer may touch: `Kind::Issued` ones it may drop,
    /// `Kind::Static` ones it may set the password of. A login recorded for another
    /// database keeps that record.
    ///
    /// # Errors
    /// [`MysqlError`] for any refusal.
    pub async fn record_logins(&self, database: &str, logins: &[String], kind: LoginKind) -> Result<(), MysqlError> {
        if logins.is_empty() {
            return Ok(());
        }
        self.ensure_registry().await?;
        for login in logins {
            self.limit(
                sqlx::query(&format!("INSERT IGNORE INTO {LOGINS} (login, db, kind) VALUES (?, ?, ?)"))
                    .bind(login)
                    .bind(database)
                    .bind(kind.as_str())
                    .execute(&self.pool),
            )
            .await?;
        }
        Ok(())
    }

    /// Whether `login` is the issuer of `database` as [`Mysql::register_issuer`] makes it,
    /// holding none of what releases before 0.2 gave it (`CREATE USER` and the grant option
    /// on `*.*`, `SELECT` on `mysql.user`).
    ///
    /// # Errors
    /// [`MysqlError`] when the server cannot be asked.
    pub async fn issuer_current(&self, login: &str, database: &str) -> Result<bool, MysqlError> {
        let narrow: i64 = self
            .limit(
                sqlx::query_scalar(
                    "SELECT (SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%' AND CAST(Create_user_priv AS CHAR) = 'N' AND CAST(Grant_priv AS CHAR) = 'N') \
                     - (SELECT COUNT(*) FROM mysql.tables_priv WHERE User = ? AND Host = '%' AND Db = 'mysql') \
                     - (SELECT COUNT(*) FROM mysql.db WHERE User = ? AND Host = '%' AND Grant_priv = 'Y')",
                )
                .bind(login)
                .bind(login)
                .bind(login)
                .fetch_one(&self.pool),
            )
            .await?;
        if narrow != 1 {
            return Ok(false);
        }
        let registered = self
            .limit(
                sqlx::query_scalar::<_, i64>(&format!(
                    "SELECT (SELECT COUNT(*) FROM {ISSUERS} WHERE login = ? AND db = ? AND scope = ?) \
                     + (SELECT COUNT(*) FROM mysql.procs_priv WHERE User = ? AND Host = '%' AND Db = ? AND FIND_IN_SET('Execute', Proc_priv))"
                ))
                .bind(login)
                .bind(database)
                .bind(database_grant_scope(database))
                .bind(login)
                .bind(REGISTRY_DATABASE)
                .fetch_one(&self.pool),
            )
            .await;
        match registered {
            Ok(n) => Ok(n == 5),
            // 1146: no such table: a server no release with the issuer has touched.
            Err(e) if e.server_error() == Some(1146) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Takes from `account` what releases before 0.2 gave a management login beyond its
    /// database: `CREATE USER` and the grant option on `*.*`, `SELECT` on `mysql.user`, and
    /// the grant option on the database. Each only where held (MySQL refuses to revoke a
    /// table grant that is not there).
    pub(super) async fn narrow_management_login(&self, login: &str, account: &str) -> Result<(), MysqlError> {
        self.execute(&format!("REVOKE CREATE USER, GRANT OPTION ON *.* FROM {account}")).await?;
        let held: Vec<(String, String)> = self
            .limit(
                sqlx::query_as(
                    "SELECT CAST(Db AS CHAR), CAST(Table_name AS CHAR) FROM mysql.tables_priv \
                     WHERE User = ? AND Host = '%' AND Db = 'mysql'",
                )
                .bind(login)
                .fetch_all(&self.pool),
            )
            .await?;
        for (db, table) in held {
            self.execute(&format!(
                "REVOKE ALL PRIVILEGES ON {}.{} FROM {account}",
                quote_identifier(&db),
                quote_identifier(&table)
            ))
            .await?;
        }
        let grantable: Vec<String> = self
            .limit(
                sqlx::query_scalar(
                    "SELECT CAST(Db AS CHAR) FROM mysql.db WHERE User = ? AND Host = '%' AND Grant_priv = 'Y'",
                )
                .bind(login)
                .fetch_all(&self.pool),
            )
            .await?;
        for pattern in grantable {
            self.execute(&format!("REVOKE GRANT OPTION ON {}.* FROM {account}", quote_identifier(&pattern))).await?;
        }
        Ok(())
    }

    /// Drops every login on `database`'s record that is still there (a user whose
    /// revocation failed, a static login whose role's destroy was cut short), then forgets
    /// the database's issuer and its records.
    pub(super) async fn forget_issuer(&self, login: &str, database: &str) -> Result<(), MysqlError> {
        let left = self
            .limit(
                sqlx::query_scalar::<_, String>(&format!(
                    "SELECT CAST(l.login AS CHAR) FROM {LOGINS} l JOIN mysql.user u ON u.User = l.login AND u.Host = '%' WHERE l.db = ?"
                ))
                .bind(database)
                .fetch_all(&self.pool),
            )
            .await;
        let left = match left {
            Err(e) if e.server_error() == Some(1146) => Vec::new(),
            other => other?,
        };
        for user in left {
            self.execute(&format!("DROP USER IF EXISTS {}@'%'", self.quote_literal(&user).await?)).await?;
        }
        self.forget(&[
            (format!("DELETE FROM {ISSUERS} WHERE login = ?"), login),
            (format!("DELETE FROM {LOGINS} WHERE db = ?"), database),
        ])
        .await
    }

    /// Forgets a login that was dropped: a later account of its name is no one's.
    pub(super) async fn forget_login(&self, login: &str) -> Result<(), MysqlError> {
        self.forget(&[(format!("DELETE FROM {LOGINS} WHERE login = ?"), login)]).await
    }

    /// Runs each (statement, its one argument); a registry that was never made holds nothing.
    async fn forget(&self, deletes: &[(String, &str)]) -> Result<(), MysqlError> {
        for (statement, bind) in deletes {
            match self.limit(sqlx::query(statement).bind(*bind).execute(&self.pool)).await {
                Err(e) if e.server_error() == Some(1146) => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }
}

/// What an issuer may do to a login it has on record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKind {
    /// A user Vault issued through it: it may drop it.
    Issued,
    /// A static role's login: it may set its password.
    Static,
}

impl LoginKind {
    fn as_str(self) -> &'static str {
        match self {
            LoginKind::Issued => "issued",
            LoginKind::Static => "static",
        }
    }
}
