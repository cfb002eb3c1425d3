//! Reading the cluster: its catalog of databases and roles (served from a snapshot),
//! privileges, extensions, logins and sessions. Nothing here changes anything.

use super::*;

impl Postgres {
    /// Every database and role, from one query; served from a snapshot for a few
    /// seconds so a refresh of many databases costs one round trip.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be read.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, PostgresError> {
        let mut snapshot = self.catalog.lock().await;
        if let Some(catalog) = snapshot.fresh(CATALOG_TTL) {
            return Ok(catalog);
        }
        let catalog = Arc::new(self.read_catalog(None, None).await?);
        snapshot.replace(catalog.clone());
        Ok(catalog)
    }

    /// What the catalog says of `databases` and `roles` (the rest is left out): from the
    /// snapshot while it is fresh, else read for just these names once this process has
    /// changed the catalog. An apply that creates many databases reads each one back after
    /// its DDL; reloading every database and role on the server each time made each create
    /// cost grow with the size of the server.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be read.
    pub async fn catalog_of(&self, databases: &[&str], roles: &[&str]) -> Result<Arc<Catalog>, PostgresError> {
        let changed = {
            let snapshot = self.catalog.lock().await;
            if let Some(catalog) = snapshot.fresh(CATALOG_TTL) {
                return Ok(catalog);
            }
            snapshot.changed()
        };
        if !changed {
            return self.catalog().await;
        }
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        Ok(Arc::new(self.read_catalog(Some(names(databases)), Some(names(roles))).await?))
    }

    /// Reads the catalog: every database and role, or (`Some`) only those named.
    pub(super) async fn read_catalog(
        &self,
        databases: Option<Vec<String>>,
        roles: Option<Vec<String>>,
    ) -> Result<Catalog, PostgresError> {
        let maintenance = self.maintenance().await?;
        let rows = self
            .with(&maintenance, move |c| {
                let (databases, roles) = (databases.clone(), roles.clone());
                Box::pin(async move {
                    sqlx::query(&format!(
                        "SELECT 'd' AS kind, d.datname::text AS name, pg_get_userbyid(d.datdba)::text AS owner, d.datconnlimit AS connlimit, \
                                pg_encoding_to_char(d.encoding)::text AS encoding, d.datcollate::text AS collate, d.datctype::text AS ctype, \
                                shobj_description(d.oid, 'pg_database') AS comment, \
                                ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END \
                                      FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
                                      WHERE a.privilege_type = 'CONNECT') AS connect, \
                                CASE WHEN c.oid IS NULL THEN NULL WHEN {TRUSTED_CLAIM_ROLE} THEN 't' ELSE 'f' END AS claim_role, \
                                shobj_description(c.oid, 'pg_authid') AS claim_role_comment \
                         FROM pg_database d LEFT JOIN pg_roles c ON c.rolname = '{CLAIM_ROLE_PREFIX}' || d.datname \
                         WHERE $1::text[] IS NULL OR d.datname = ANY($1) \
                         UNION ALL \
                         SELECT 'r', r.rolname::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM pg_roles r \
                         WHERE $2::text[] IS NULL OR r.rolname = ANY($2)",
                        TRUSTED_CLAIM_ROLE = super::claims::TRUSTED_CLAIM_ROLE,
                    ))
                    .bind(databases)
                    .bind(roles)
                    .fetch_all(c)
                    .await
                })
            })
            .await?;
        let mut catalog = Catalog::default();
        for row in rows {
            let kind: String = row.get("kind");
            let name: String = row.get("name");
            if kind == "r" {
                catalog.roles.insert(name);
            } else {
                catalog.databases.insert(
                    name,
                    DatabaseInfo {
                        owner: row.get("owner"),
                        connection_limit: row.get("connlimit"),
                        encoding: row.get("encoding"),
                        lc_collate: row.get("collate"),
                        lc_ctype: row.get("ctype"),
                        comment: row.get("comment"),
                        connect: row.get::<Option<Vec<String>>, _>("connect").unwrap_or_default(),
                        claim: match row.get::<Option<String>, _>("claim_role").as_deref() {
                            None => ClaimRecord::Comment(row.get("comment")),
                            Some("t") => ClaimRecord::Role(row.get("claim_role_comment")),
                            Some(_) => ClaimRecord::Role(None),
                        },
                    },
                );
            }
        }
        Ok(catalog)
    }

    /// How far `database`'s schema `public` is from what [`Postgres::ensure_privileges`]
    /// makes it: what an apply would change in a database made by hand, for its plan.
    ///
    /// # Errors
    /// [`PostgresError`] when the database cannot be read.
    pub async fn privilege_gaps(&self, database: &str, roles: &GroupRoles) -> Result<PrivilegeGaps, PostgresError> {
        let r = roles.clone();
        let row = self
            .with(database, move |c| {
                let r = r.clone();
                Box::pin(async move {
                    sqlx::query(&format!(
                        "WITH rw AS (SELECT oid FROM pg_roles WHERE rolname = $2), ro AS (SELECT oid FROM pg_roles WHERE rolname = $3), \
                              t AS (SELECT c.oid, pg_get_userbyid(c.relowner)::text AS owner FROM pg_class c \
                                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) \
                         SELECT (SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()) AS database_owner, \
                                (SELECT r.rolsuper FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = current_database()) AS database_owner_is_superuser, \
                                (SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'public') AS public_owner, \
                                EXISTS (SELECT FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a \
                                        WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE') AS public_create, \
                                (SELECT count(*) FROM t WHERE NOT EXISTS (SELECT FROM rw) \
                                    OR NOT has_table_privilege((SELECT oid FROM rw), t.oid, 'SELECT, INSERT, UPDATE, DELETE') \
                                    OR NOT EXISTS (SELECT FROM ro) OR NOT has_table_privilege((SELECT oid FROM ro), t.oid, 'SELECT')) AS ungranted, \
                                ARRAY(SELECT owner FROM t WHERE owner <> $1 GROUP BY owner ORDER BY owner) AS other_owners, \
                                (SELECT count(*) FROM t WHERE owner <> $1) AS foreign_tables, \
                                EXISTS (SELECT FROM pg_default_acl d JOIN pg_roles o ON o.oid = d.defaclrole \
                                        WHERE o.rolname = $1 AND d.defaclnamespace = 'public'::regnamespace AND d.defaclobjtype = 'r') AS defaults, \
                                ARRAY({}) AS through_public",
                        connecting_through_public(1)
                    ))
                    .bind(&r.owner)
                    .bind(&r.readwrite)
                    .bind(&r.readonly)
                    .fetch_one(c)
                    .await
                })
            })
            .await?;
        Ok(PrivilegeGaps {
            database_owner: row.get::<Option<String>, _>("database_owner").unwrap_or_default(),
            database_owner_is_superuser: row.get::<Option<bool>, _>("database_owner_is_superuser").unwrap_or(false),
            public_owner: row.get::<Option<String>, _>("public_owner").unwrap_or_default(),
            public_create: row.get("public_create"),
            ungranted_tables: row.get("ungranted"),
            other_owners: row.get::<Option<Vec<String>>, _>("other_owners").unwrap_or_default(),
            foreign_tables: row.get("foreign_tables"),
            default_privileges: row.get("defaults"),
            // The pooler's auth user keeps CONNECT anyway.
            connecting_through_public: row
                .get::<Option<Vec<String>>, _>("through_public")
                .unwrap_or_default()
                .into_iter()
                .filter(|login| Some(login) != self.endpoint.pooler_auth_user.as_ref())
                .collect(),
        })
    }

    /// Every extension installed in `database`, `plpgsql` (there from the start) included.
    ///
    /// # Errors
    /// [`PostgresError`] when the database cannot be read.
    pub async fn extensions(&self, database: &str) -> Result<BTreeSet<String>, PostgresError> {
        let names: Vec<String> = self
            .with(database, |c| {
                Box::pin(async move { sqlx::query_scalar("SELECT extname::text FROM pg_extension").fetch_all(c).await })
            })
            .await?;
        Ok(names.into_iter().collect())
    }

    /// Whether a role named `name` exists (read now, not from the snapshot).
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn role_exists(&self, name: &str) -> Result<bool, PostgresError> {
        let maintenance = self.maintenance().await?;
        let name = name.to_owned();
        self.with(&maintenance, move |c| {
            let name = name.clone();
            Box::pin(async move {
                sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
                    .bind(name)
                    .fetch_one(c)
                    .await
            })
        })
        .await
    }

    /// The roles `login` is a direct member of.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn memberships(&self, login: &str) -> Result<Vec<String>, PostgresError> {
        let maintenance = self.maintenance().await?;
        let login = login.to_owned();
        self.with(&maintenance, move |c| {
            let login = login.clone();
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                     JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1",
                )
                .bind(login)
                .fetch_all(c)
                .await
            })
        })
        .await
    }

    /// The databases where `login` holds privileges or owns objects (on the database
    /// itself, or on anything in it): where a login made by hand does its work.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn databases_of_login(&self, login: &str) -> Result<Vec<String>, PostgresError> {
        let maintenance = self.maintenance().await?;
        let login = login.to_owned();
        self.with(&maintenance, move |c| {
            let login = login.clone();
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT DISTINCT d.datname::text FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid \
                       JOIN pg_database d ON d.oid = s.dbid \
                        OR (s.classid = 'pg_database'::regclass AND d.oid = s.objid) \
                     WHERE s.refclassid = 'pg_authid'::regclass AND r.rolname = $1 ORDER BY 1",
                )
                .bind(login)
                .fetch_all(c)
                .await
            })
        })
        .await
    }

    /// Why `database`'s management login may not be given `login` to rotate, or `None`
    /// when it may: a login with no role attributes, a member of nothing but the database's
    /// group roles, no role's group but the management login's ADMIN, holding privileges or
    /// objects in or on `database` and nowhere else. Rotating its password then reaches
    /// nothing beyond the database.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn login_outside(
        &self,
        database: &str,
        login: &str,
        roles: &GroupRoles,
    ) -> Result<Option<String>, PostgresError> {
        let maintenance = self.maintenance().await?;
        let (database, login, r) = (database.to_owned(), login.to_owned(), roles.clone());
        self.with(&maintenance, move |c| {
            let (database, login, r) = (database.clone(), login.clone(), r.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "WITH l AS (SELECT * FROM pg_roles WHERE rolname = $1), \
                          db AS (SELECT oid FROM pg_database WHERE datname = $2) \
                     SELECT CASE \
                       WHEN NOT EXISTS (SELECT FROM l) THEN 'no such login' \
                       WHEN (SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls FROM l) \
                         THEN 'role attributes (superuser, createrole, createdb, replication or bypassrls)' \
                       WHEN EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                                    WHERE m.member = (SELECT oid FROM l) AND g.rolname NOT IN ($3, $4, $5)) \
                         THEN (SELECT format('membership of %s', string_agg(quote_ident(g.rolname), ', ')) \
                               FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                               WHERE m.member = (SELECT oid FROM l) AND g.rolname NOT IN ($3, $4, $5)) \
                       WHEN EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles x ON x.oid = m.member \
                                    WHERE m.roleid = (SELECT oid FROM l) AND x.rolname <> $6) \
                         THEN 'members of its own' \
                       WHEN EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass \
                                    AND s.refobjid = (SELECT oid FROM l) AND s.deptype IN ('a', 'o') \
                                    AND s.dbid <> (SELECT oid FROM db) \
                                    AND NOT (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db))) \
                         THEN 'privileges or objects in another database' \
                     END",
                )
                .bind(&login)
                .bind(&database)
                .bind(&r.owner)
                .bind(&r.readwrite)
                .bind(&r.readonly)
                .bind(&r.management)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// Whether `login` exists and is marked as a static login of `database`
    /// ([`STATIC_LOGIN_MARK`]; only an admin can set a role's comment). Read now.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn is_static_login_of(&self, database: &str, login: &str) -> Result<bool, PostgresError> {
        let maintenance = self.maintenance().await?;
        let (login, mark) = (login.to_owned(), format!("{STATIC_LOGIN_MARK}{database}"));
        self.with(&maintenance, move |c| {
            let (login, mark) = (login.clone(), mark.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1 AND shobj_description(oid, 'pg_authid') = $2)",
                )
                .bind(login)
                .bind(mark)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// How the pooler's auth user `user` stands: `None` when no such role exists;
    /// `Some(None)` when it is the platform's; `Some(Some(why))` when someone else could
    /// hold it. PgBouncer looks every login up as that user and each database grants it
    /// CONNECT, so a squatter would list the tables, functions and views of every new
    /// database. The platform's is a login nobody but the provider's admin holds with ADMIN
    /// (a management login keeps ADMIN on the roles it makes from 16 on, and the server
    /// alone writes that), that is no user Vault issued, and that holds no role attributes.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn pooler_auth_user_standing(&self, user: &str) -> Result<Option<Option<String>>, PostgresError> {
        use std::sync::atomic::Ordering;
        // Asked by every create of an apply: once found the platform's, it is for the run.
        if self.pooler_user_checked.load(Ordering::SeqCst) {
            return Ok(Some(None));
        }
        let maintenance = self.maintenance().await?;
        let user = user.to_owned();
        let standing = self
            .with(&maintenance, move |c| {
                let user = user.clone();
                Box::pin(async move {
                    sqlx::query_scalar(
                        "SELECT NULLIF(concat_ws('; ', \
                       (SELECT 'held with ADMIN by ' || string_agg(quote_ident(h.rolname), ', ' ORDER BY h.rolname) \
                          FROM pg_auth_members a JOIN pg_roles h ON h.oid = a.member \
                         WHERE a.roleid = r.oid AND a.admin_option AND h.rolname <> current_user), \
                       CASE WHEN left(r.rolname, 2) = 'v-' \
                              OR shobj_description(r.oid, 'pg_authid') LIKE 'issued by Vault for database %' \
                              OR shobj_description(r.oid, 'pg_authid') LIKE 'static login of database %' \
                            THEN 'it is a login Vault issues or rotates' END, \
                       CASE WHEN NOT r.rolcanlogin THEN 'it cannot log in' END, \
                       CASE WHEN r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls \
                            THEN 'it holds role attributes' END), '') \
                     FROM pg_roles r WHERE r.rolname = $1",
                    )
                    .bind(user)
                    .fetch_optional(c)
                    .await
                })
            })
            .await?;
        if standing == Some(None) {
            self.pooler_user_checked.store(true, Ordering::SeqCst);
        }
        Ok(standing)
    }

    /// Whether the management login is as [`Postgres::ensure_management_login`] makes it on
    /// this server: `CREATEROLE` exactly from PostgreSQL 16 on, and the pinned search path.
    /// One made by an older version of the provider is not, and an update puts it right.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn management_login_current(&self, login: &str) -> Result<bool, PostgresError> {
        let createrole = !self.needs_issuer().await?;
        let maintenance = self.maintenance().await?;
        let login = login.to_owned();
        let current: Option<bool> = self
            .with(&maintenance, move |c| {
                let login = login.clone();
                Box::pin(async move {
                    sqlx::query_scalar(
                        "SELECT r.rolcanlogin AND r.rolcreaterole = $2 AND EXISTS (SELECT FROM pg_db_role_setting s \
                           WHERE s.setrole = r.oid AND s.setdatabase = 0 \
                             AND 'search_path=pg_catalog, pg_temp' = ANY (s.setconfig)) \
                         FROM pg_roles r WHERE r.rolname = $1",
                    )
                    .bind(login)
                    .bind(createrole)
                    .fetch_optional(c)
                    .await
                })
            })
            .await?;
        Ok(current.unwrap_or(false))
    }

    /// How many clients are connected to `database`, not counting the provider's own
    /// connections, Vault's (through the management login) and PgBouncer's `auth_query`
    /// connection, which destroy ends itself.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn sessions(&self, database: &str, roles: &GroupRoles) -> Result<i64, PostgresError> {
        self.count_sessions(database, roles, None).await
    }

    /// Sessions on `database` other than the provider's, Vault's and PgBouncer's
    /// `auth_query` one; with `idle_from`, only idle ones from those addresses.
    pub(super) async fn count_sessions(
        &self,
        database: &str,
        roles: &GroupRoles,
        idle_from: Option<Vec<String>>,
    ) -> Result<i64, PostgresError> {
        let maintenance = self.maintenance().await?;
        let (db, management) = (database.to_owned(), roles.management.clone());
        let pooler = self.endpoint.pooler_auth_user.clone();
        self.with(&maintenance, move |c| {
            let (db, management, pooler, idle_from) =
                (db.clone(), management.clone(), pooler.clone(), idle_from.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
                     AND usename IS DISTINCT FROM $2 AND usename IS DISTINCT FROM $4 \
                     AND coalesce(application_name, '') NOT LIKE $3 || '/%' \
                     AND ($5::text[] IS NULL OR (state = 'idle' AND host(client_addr) = ANY($5)))",
                )
                .bind(db)
                .bind(management)
                .bind(APPLICATION_NAME)
                .bind(pooler)
                .bind(idle_from)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    /// [`PostgresError::InUse`] for `sessions` clients on `database`, with how many of them
    /// are idle and come from PgBouncer's addresses (its server connections, which it keeps
    /// after the apps leave). The count is a hint for the message: when it cannot be had,
    /// it is 0.
    pub(super) async fn in_use(&self, database: &str, roles: &GroupRoles, sessions: i64) -> PostgresError {
        let idle_from_pooler = self.idle_from_pooler(database, roles).await.unwrap_or(0);
        PostgresError::InUse { database: database.to_owned(), sessions, idle_from_pooler }
    }

    /// Idle sessions on `database` from PgBouncer's addresses (its host resolved now),
    /// other than the provider's, Vault's and PgBouncer's `auth_query` one: PgBouncer's own
    /// server connections, as far as the server can tell.
    ///
    /// # Errors
    /// [`PostgresError`] when the server cannot be asked.
    pub async fn idle_from_pooler(&self, database: &str, roles: &GroupRoles) -> Result<i64, PostgresError> {
        let Some(host) = self.endpoint.pooler_host.clone() else { return Ok(0) };
        // A hint for a message: a name that does not resolve in time gives none.
        let lookup = tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((host.as_str(), 0)));
        let addresses: Vec<String> = match lookup.await {
            Ok(Ok(found)) => found.map(|a| a.ip().to_string()).collect(),
            _ => return Ok(0),
        };
        self.count_sessions(database, roles, Some(addresses)).await
    }
}
