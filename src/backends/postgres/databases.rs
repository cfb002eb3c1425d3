//! Databases: create, mark, privileges, extensions, connection limit, drop and archive.

use super::roles::LOCAL_GROUPS;
use super::*;

impl Postgres {
    /// Creates the database, owned by `spec.roles.owner` (which must exist), and nothing
    /// else. A database that exists already is [`PostgresError::AlreadyExists`].
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn create_database(&self, spec: &NewDatabase) -> Result<(), PostgresError> {
        let maintenance = self.maintenance().await?;
        let spec2 = spec.clone();
        let result = self
            .with(&maintenance, move |c| {
                let spec = spec2.clone();
                Box::pin(async move {
                    let statement: String = sqlx::query_scalar(
                        // format('%I', NULL) is an error, not NULL: optional clauses need CASE.
                        "SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text) \
                           || CASE WHEN $3::text IS NULL THEN '' ELSE format(' TEMPLATE %I', $3::text) END \
                           || CASE WHEN $4::text IS NULL THEN '' ELSE format(' ENCODING %L', $4::text) END \
                           || CASE WHEN $5::text IS NULL THEN '' ELSE format(' LC_COLLATE %L', $5::text) END \
                           || CASE WHEN $6::text IS NULL THEN '' ELSE format(' LC_CTYPE %L', $6::text) END \
                           || format(' CONNECTION LIMIT %s', $7::int)",
                    )
                    .bind(&spec.name)
                    .bind(&spec.roles.owner)
                    .bind(&spec.template)
                    .bind(&spec.encoding)
                    .bind(&spec.lc_collate)
                    .bind(&spec.lc_ctype)
                    .bind(spec.connection_limit)
                    .fetch_one(&mut *c)
                    .await?;
                    match c.execute(statement.as_str()).await {
                        // 55006: someone is connected to the template, which CREATE DATABASE
                        // copies only when no one else is. Any login may connect to
                        // `template1` (PUBLIC's CONNECT): one idle session there would
                        // stop every create on the server. Such sessions are ended (a
                        // superuser's excepted: the platform's own work) and the create
                        // tried again; it waits a few seconds for them to go.
                        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55006") => {
                            sqlx::query(
                                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a \
                                 WHERE a.datname = coalesce($1, 'template1') AND a.pid <> pg_backend_pid() \
                                   AND NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.usesysid AND r.rolsuper) \
                                   AND (pg_has_role(a.usesysid, 'MEMBER') OR pg_has_role('pg_signal_backend', 'MEMBER'))",
                            )
                            .bind(&spec.template)
                            .execute(&mut *c)
                            .await?;
                            c.execute(statement.as_str()).await.map(drop)
                        }
                        other => other.map(drop),
                    }
                })
            })
            .await;
        self.invalidate().await;
        match result {
            Err(PostgresError::Sql(sqlx::Error::Database(db))) if db.code().as_deref() == Some("42P04") => {
                // A retry after an attempt whose answer was lost (a failover cut the
                // connection after the commit) finds the database that attempt made: owned
                // by the owner group this create has just made or taken as marked, and not
                // yet marked itself. Any other is someone else's.
                if self.made_unmarked(&spec.name, &spec.roles.owner).await? {
                    return Ok(());
                }
                Err(PostgresError::AlreadyExists(spec.name.clone()))
            }
            other => other,
        }
    }

    /// Whether `database` exists, owned by `owner`, with no comment (so no owner mark).
    pub(super) async fn made_unmarked(&self, database: &str, owner: &str) -> Result<bool, PostgresError> {
        let maintenance = self.maintenance().await?;
        let (database, owner) = (database.to_owned(), owner.to_owned());
        self.with(&maintenance, move |c| {
            let (database, owner) = (database.clone(), owner.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1 \
                       AND pg_get_userbyid(datdba) = $2 AND shobj_description(oid, 'pg_database') IS NULL)",
                )
                .bind(database)
                .bind(owner)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// Makes the owner group role the database's owner, and grants the group roles what
    /// they need, in the database and on it: CONNECT, schema
    /// USAGE, privileges on existing tables and sequences, and default privileges for
    /// objects the owner role creates later. PUBLIC loses CONNECT and CREATE; the pooler's
    /// auth user, when it exists, keeps CONNECT. Before PostgreSQL 16, also the issuer's
    /// functions ([`ISSUER_SCHEMA`]) through which the management login works there.
    /// Idempotent.
    ///
    /// # Errors
    /// [`PostgresError::ForeignSchema`] when someone else made the issuer's schema first;
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_privileges(&self, database: &str, roles: &GroupRoles) -> Result<(), PostgresError> {
        let issuer = self.needs_issuer().await?;
        if issuer {
            self.ensure_issuer_role().await?;
        }
        let roles = roles.clone();
        let db = database.to_owned();
        // '' names no role: format('%I', NULL) is an error even in a CASE branch not taken
        // (the planner folds it).
        let pooler = self.endpoint.pooler_auth_user.clone().unwrap_or_default();
        let foreign = self
            .with(database, move |c| {
            let (roles, db, pooler) = (roles.clone(), db.clone(), pooler.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &db).await?;
                if issuer && let Some(owner) = install_issuer(&mut tx).await? {
                    return Ok(Some(owner));
                }
                // A database made by hand changes hands to the owner group role, as one the
                // provider creates is owned: grants on it then name that role as grantor, so the
                // management login can revoke them when Vault drops a user issued before the
                // provider. A previous owner that is no superuser joins the group, keeping
                // what it could do.
                // The groups made by hand that those logins are members of, confined to this
                // database, get CONNECT too: a hand-written Vault role that makes each user a
                // member of one (`IN ROLE orders_rw`) keeps issuing until its move, and a user
                // it issues in between connected through PUBLIC as well.
                // Only the groups those logins are members of are judged (LOCAL_GROUPS over
                // every role on the server cost each create ~30 ms on a busy one).
                let local_groups = LOCAL_GROUPS.replacen(
                    "FROM pg_roles g WHERE ",
                    "FROM pg_roles g WHERE g.oid IN (SELECT m.roleid FROM pg_auth_members m \
                       JOIN pg_roles u ON u.oid = m.member WHERE u.rolname IN (SELECT rolname FROM through)) AND ",
                    1,
                );
                debug_assert!(local_groups != LOCAL_GROUPS, "LOCAL_GROUPS scans pg_roles g");
                let sql = format!(
                    "WITH d AS (SELECT r.rolname, r.rolsuper FROM pg_database db JOIN pg_roles r ON r.oid = db.datdba \
                                WHERE db.datname = $1::text), \
                          through AS MATERIALIZED ({through_public}), \
                          db AS (SELECT oid FROM pg_database WHERE datname = current_database()), {local_groups} \
                     SELECT unnest(ARRAY[ \
                        (SELECT CASE WHEN d.rolname <> $2::text AND NOT d.rolsuper \
                                     THEN format('GRANT %I TO %I', $2::text, d.rolname) END FROM d), \
                        (SELECT CASE WHEN d.rolname <> $2::text \
                                     THEN format('ALTER DATABASE %I OWNER TO %I', $1::text, $2::text) END FROM d), \
                        (SELECT format('GRANT CONNECT ON DATABASE %I TO %s', $1::text, string_agg(quote_ident(x.rolname), ', ')) \
                         FROM through x HAVING count(*) > 0), \
                        (SELECT format('GRANT CONNECT ON DATABASE %I TO %s', $1::text, string_agg(quote_ident(g.rolname), ', ')) \
                         FROM local_groups g HAVING count(*) > 0), \
                        format('REVOKE CONNECT, CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', $1::text), \
                        format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I, %I', $1::text, $3::text, $4::text), \
                        format('ALTER SCHEMA public OWNER TO %I', $2::text), \
                        'REVOKE CREATE ON SCHEMA public FROM PUBLIC', \
                        format('GRANT USAGE ON SCHEMA public TO %I, %I', $3::text, $4::text), \
                        format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', $3::text), \
                        format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', $3::text), \
                        format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', $4::text), \
                        format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', $4::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', $2::text, $3::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', $2::text, $3::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I', $2::text, $4::text), \
                        format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON SEQUENCES TO %I', $2::text, $4::text), \
                        CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = $5::text) \
                             THEN format('GRANT CONNECT ON DATABASE %I TO %I', $1::text, $5::text) END \
                    ]) AS s",
                    through_public = connecting_through_public(2),
                );
                let statements: Vec<Option<String>> = sqlx::query_scalar(&sql)
                .bind(&db)
                .bind(&roles.owner)
                .bind(&roles.readwrite)
                .bind(&roles.readonly)
                .bind(&pooler)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                tx.commit().await?;
                Ok(None)
            })
        })
        .await?;
        if issuer && foreign.is_none() {
            self.issuer_installed_in(database);
        }
        match foreign {
            None => Ok(()),
            Some(owner) => {
                Err(PostgresError::ForeignSchema { schema: ISSUER_SCHEMA, database: database.to_owned(), owner })
            }
        }
    }

    /// Before PostgreSQL 16: puts the issuer's functions ([`ISSUER_SCHEMA`]) in `database`
    /// as this release writes them (a database made by an earlier one may lack some, say
    /// `renew_user`), so a Vault role may call them; nothing on 16 and later. Idempotent.
    ///
    /// # Errors
    /// [`PostgresError::ForeignSchema`] when someone else made the issuer's schema first;
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_issuer(&self, database: &str) -> Result<(), PostgresError> {
        if !self.needs_issuer().await? || self.issuer_known_in(database) {
            return Ok(());
        }
        self.ensure_issuer_role().await?;
        let db = database.to_owned();
        let foreign = self
            .with(database, move |c| {
                let db = db.clone();
                Box::pin(async move {
                    let mut tx = c.begin().await?;
                    lock_ddl(&mut tx, &db).await?;
                    let foreign = install_issuer(&mut tx).await?;
                    tx.commit().await?;
                    Ok(foreign)
                })
            })
            .await?;
        match foreign {
            None => {
                self.issuer_installed_in(database);
                Ok(())
            }
            Some(owner) => {
                Err(PostgresError::ForeignSchema { schema: ISSUER_SCHEMA, database: database.to_owned(), owner })
            }
        }
    }

    fn issuer_installed_in(&self, database: &str) {
        self.issuer_installed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(database.to_owned());
    }

    fn issuer_known_in(&self, database: &str) -> bool {
        self.issuer_installed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(database)
    }

    /// Sets the connection limit (`-1`: none).
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn set_connection_limit(&self, database: &str, limit: i32) -> Result<(), PostgresError> {
        let maintenance = self.maintenance().await?;
        let db = database.to_owned();
        self.with(&maintenance, move |c| {
            let db = db.clone();
            Box::pin(async move {
                let s: String =
                    sqlx::query_scalar("SELECT format('ALTER DATABASE %I CONNECTION LIMIT %s', $1::text, $2::int)")
                        .bind(&db)
                        .bind(limit)
                        .fetch_one(&mut *c)
                        .await?;
                c.execute(s.as_str()).await.map(drop)
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Creates and drops extensions. Dropping never cascades: an extension something
    /// depends on stays, and the error says what.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn change_extensions(
        &self,
        database: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), PostgresError> {
        let (add, remove) = (add.to_vec(), remove.to_vec());
        self.with(database, move |c| {
            let (add, remove) = (add.clone(), remove.clone());
            Box::pin(async move {
                for e in &add {
                    // The session's search path is the system catalog alone, where no
                    // extension belongs: it goes to `public`, as with the server's default
                    // path, unless its control file names its own schema.
                    let s: String = sqlx::query_scalar(
                        "SELECT format('CREATE EXTENSION IF NOT EXISTS %I', $1::text) \
                           || CASE WHEN EXISTS (SELECT FROM pg_available_extension_versions \
                                                 WHERE name = $1 AND schema IS NOT NULL) \
                                   THEN '' ELSE ' SCHEMA public' END",
                    )
                    .bind(e)
                    .fetch_one(&mut *c)
                    .await?;
                    c.execute(s.as_str()).await?;
                }
                for e in &remove {
                    let s: String =
                        sqlx::query_scalar("SELECT format('DROP EXTENSION IF EXISTS %I RESTRICT', $1::text)")
                            .bind(e)
                            .fetch_one(&mut *c)
                            .await?;
                    c.execute(s.as_str()).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Ends sessions on `database`: all of them, or (`all == false`) only the management
    /// login's, which Vault may keep open a moment after its connection is deleted, and
    /// PgBouncer's `auth_query` connection, which it opens again when needed.
    pub(super) async fn terminate_sessions(
        &self,
        database: &str,
        roles: &GroupRoles,
        all: bool,
    ) -> Result<(), PostgresError> {
        self.close_idle_to(database).await?;
        let maintenance = self.maintenance().await?;
        let (db, management) = (database.to_owned(), roles.management.clone());
        let pooler = self.endpoint.pooler_auth_user.clone();
        self.with(&maintenance, move |c| {
            let (db, management, pooler) = (db.clone(), management.clone(), pooler.clone());
            Box::pin(async move {
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
                     AND ($2 OR usename = $3 OR usename = $4)",
                )
                .bind(db)
                .bind(all)
                .bind(management)
                .bind(pooler)
                .execute(c)
                .await
                .map(drop)
            })
        })
        .await
    }

    /// Drops the database (`WITH (FORCE)` when `force`, terminating its clients), then the
    /// roles in `drop_roles` (the group roles and management login a destroy removes, or
    /// only those a failed create made). Without `force`, connected clients are
    /// [`PostgresError::InUse`] and nothing is dropped.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn drop_database(
        &self,
        database: &str,
        roles: &GroupRoles,
        drop_roles: &[String],
        force: bool,
    ) -> Result<(), PostgresError> {
        self.issuer_installed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(database);
        if !force {
            let sessions = self.sessions(database, roles).await?;
            if sessions > 0 {
                return Err(self.in_use(database, roles, sessions).await);
            }
        }
        // Our own idle connections and Vault's would block the drop.
        self.terminate_sessions(database, roles, false).await?;
        // The claim goes with the database: a new one of the name starts unclaimed.
        let roles: Vec<String> = drop_roles.iter().cloned().chain([claim_role(database)]).collect();
        let maintenance = self.maintenance().await?;
        let db = database.to_owned();
        self.with(&maintenance, move |c| {
            let (db, roles) = (db.clone(), roles.clone());
            Box::pin(async move {
                let drop_db: String = sqlx::query_scalar(
                    "SELECT format('DROP DATABASE IF EXISTS %I', $1::text) || CASE WHEN $2 THEN ' WITH (FORCE)' ELSE '' END",
                )
                .bind(&db)
                .bind(force)
                .fetch_one(&mut *c)
                .await?;
                c.execute(drop_db.as_str()).await?;
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &db).await?;
                let statements = drop_role_statements(&mut tx, &roles).await?;
                execute_all(&mut tx, &statements).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Archives the database: no one may connect any more, it is renamed to `archived_name`,
    /// and the management login is dropped (only Vault knew its password). Data and group
    /// roles stay. Connected clients are [`PostgresError::InUse`] unless `force`.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn archive_database(
        &self,
        database: &str,
        archived_name: &str,
        roles: &GroupRoles,
        force: bool,
    ) -> Result<(), PostgresError> {
        self.issuer_installed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(database);
        let roles = roles.clone();
        let maintenance = self.maintenance().await?;
        let (db, archived) = (database.to_owned(), archived_name.to_owned());
        let (revoke_db, r) = (db.clone(), roles.clone());
        self.with(&maintenance, move |c| {
            let (db, r) = (revoke_db.clone(), r.clone());
            Box::pin(async move {
                let s: String = sqlx::query_scalar(
                    "SELECT format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC, %I, %I', $1::text, $2::text, $3::text)",
                )
                .bind(&db)
                .bind(&r.readwrite)
                .bind(&r.readonly)
                .fetch_one(&mut *c)
                .await?;
                c.execute(s.as_str()).await.map(drop)
            })
        })
        .await?;
        let sessions = self.sessions(database, &roles).await?;
        if sessions > 0 && !force {
            return Err(self.in_use(database, &roles, sessions).await);
        }
        // Renaming needs every session gone, ours and Vault's included.
        self.terminate_sessions(database, &roles, true).await?;
        self.with(&maintenance, move |c| {
            let (db, archived, r) = (db.clone(), archived.clone(), roles.clone());
            Box::pin(async move {
                let rename: String =
                    sqlx::query_scalar("SELECT format('ALTER DATABASE %I RENAME TO %I', $1::text, $2::text)")
                        .bind(&db)
                        .bind(&archived)
                        .fetch_one(&mut *c)
                        .await?;
                c.execute(rename.as_str()).await?;
                // The management login, and the claim role: an archive is nobody's.
                let drop_login: String = sqlx::query_scalar(
                    "SELECT format('DROP ROLE IF EXISTS %I; DROP ROLE IF EXISTS %I', $1::text, $2::text)",
                )
                .bind(&r.management)
                .bind(claim_role(&db))
                .fetch_one(&mut *c)
                .await?;
                c.execute(drop_login.as_str()).await.map(drop)
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }
}
