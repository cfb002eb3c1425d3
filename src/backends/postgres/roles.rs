//! Roles and logins: the group roles, the management login, the issuer role, static
//! logins, users Vault issued, and dropping them.

use super::*;

/// Each role's name, comment, and who holds it besides the provider: the roles other than
/// the provider's admin with ADMIN on it (a CREATEROLE login that made it keeps that, from
/// PostgreSQL 16 on, and the server alone writes it), or a login or role attribute where
/// `$2` (a login is expected) does not allow one. `None` for a role only the provider holds.
/// The database's own management login `$3`, when it is marked `$4` and itself held by
/// nobody else, may hold its group roles: what a database dropped outside Terraform leaves.
/// From 16 on, a role some login made and that login was then dropped leaves no ADMIN row:
/// so a role counts only with a membership row an admin (a superuser or `CREATEDB` login)
/// granted, on it or to it ([`PROVIDER_ROLE`] gives the roles a superuser makes one).
/// A NOLOGIN role with no privileges that the roles a superuser admin makes (group roles,
/// claim roles) are made members of: the membership row, granted by an admin, is what
/// tells them from a role some other login made (see [`HOLDERS`]).
pub(super) const PROVIDER_ROLE: &str = "dbaas-provider";

/// The CTE `local_groups` (it needs `db`, the current database): roles a platform made by
/// hand to group a database's users (`orders_rw`) whose reach is that database alone:
/// NOLOGIN, no role attributes, not predefined, members of nothing, administered by no one
/// but a superuser or this admin, holding privileges or objects in the database or on it
/// and nowhere else, and in the database only on what an allow-list names: tables, views
/// and sequences, schemas (not the system's), default privileges and row policies. A grant
/// on a function (`pg_read_binary_file`, `pg_ls_dir`), a foreign server or a large object
/// reaches past the database, and such a role is not carried over.
pub(super) const LOCAL_GROUPS: &str = "local_groups AS (SELECT g.oid, g.rolname FROM pg_roles g \
    WHERE NOT g.rolcanlogin AND NOT g.rolsuper AND NOT g.rolcreaterole AND NOT g.rolcreatedb \
      AND NOT g.rolreplication AND NOT g.rolbypassrls AND left(g.rolname, 3) <> 'pg_' \
      AND NOT EXISTS (SELECT FROM pg_auth_members gm WHERE gm.member = g.oid) \
      AND NOT EXISTS (SELECT FROM pg_auth_members ga JOIN pg_roles h ON h.oid = ga.member \
                      WHERE ga.roleid = g.oid AND ga.admin_option AND NOT h.rolsuper AND h.rolname <> current_user) \
      AND NOT EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = g.oid \
                      AND s.dbid = (SELECT oid FROM db) \
                      AND NOT (s.classid IN ('pg_default_acl'::regclass, 'pg_policy'::regclass) \
                               OR (s.classid = 'pg_namespace'::regclass AND EXISTS (SELECT FROM pg_namespace n \
                                   WHERE n.oid = s.objid AND n.nspname <> 'information_schema' AND left(n.nspname, 3) <> 'pg_')) \
                               OR (s.classid = 'pg_class'::regclass AND EXISTS (SELECT FROM pg_class k \
                                   JOIN pg_namespace n ON n.oid = k.relnamespace \
                                   WHERE k.oid = s.objid AND n.nspname <> 'information_schema' AND left(n.nspname, 3) <> 'pg_')))) \
      AND EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = g.oid \
                  AND (s.dbid = (SELECT oid FROM db) \
                       OR (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db)))) \
      AND NOT EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = g.oid \
                      AND s.dbid <> (SELECT oid FROM db) \
                      AND NOT (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db))))";

const HOLDERS: &str = "SELECT r.rolname::text, shobj_description(r.oid, 'pg_authid'), \
       NULLIF(concat_ws('; ', \
         (SELECT 'held with ADMIN by ' || string_agg(quote_ident(h.rolname), ', ' ORDER BY h.rolname) \
            FROM pg_auth_members a JOIN pg_roles h ON h.oid = a.member \
           WHERE a.roleid = r.oid AND a.admin_option AND h.rolname <> current_user \
             AND NOT (h.rolname = $3 AND shobj_description(h.oid, 'pg_authid') IS NOT DISTINCT FROM $4 \
                      AND NOT EXISTS (SELECT FROM pg_auth_members a2 JOIN pg_roles h2 ON h2.oid = a2.member \
                                      WHERE a2.roleid = h.oid AND a2.admin_option AND h2.rolname <> current_user))), \
         CASE WHEN r.rolcanlogin AND NOT $2 THEN 'it can log in' END, \
         CASE WHEN r.rolsuper OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls \
                   OR (r.rolcreaterole AND NOT $2) THEN 'it holds role attributes' END, \
         CASE WHEN NOT (current_setting('server_version_num')::int < 160000 OR EXISTS ( \
                  SELECT FROM pg_auth_members e JOIN pg_roles g ON g.oid = e.grantor \
                   WHERE (e.roleid = r.oid OR e.member = r.oid) AND (g.rolsuper OR g.rolcreatedb))) \
              THEN 'no admin ever granted it anything or anything to it (it may be what a dropped login made)' END), '') \
  FROM pg_roles r";

impl Postgres {
    /// Creates the missing group roles (owner, readwrite, readonly) of `database`, each
    /// NOLOGIN and marked with `mark`, under the DDL lock; returns those it created. With
    /// [`Existing::MustBeMarked`], an existing database is [`PostgresError::AlreadyExists`] and a role
    /// that exists without the mark is [`PostgresError::NotOurs`], and nothing is created:
    /// checked and created under one lock, so two stacks cannot both claim a name.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_group_roles(
        &self,
        database: &str,
        roles: &GroupRoles,
        mark: &str,
        if_exists: Existing,
    ) -> Result<Vec<String>, PostgresError> {
        self.ensure_provider_role().await?;
        let maintenance = self.maintenance().await?;
        let names = vec![roles.owner.clone(), roles.readwrite.clone(), roles.readonly.clone()];
        let (mark, db, management) = (mark.to_owned(), database.to_owned(), roles.management.clone());
        let outcome = self
            .with(&maintenance, move |c| {
                let (names, mark, db, management) = (names.clone(), mark.clone(), db.clone(), management.clone());
                Box::pin(async move {
                    let mut tx = c.begin().await?;
                    lock_ddl(&mut tx, &db).await?;
                    if if_exists == Existing::MustBeMarked
                        && sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
                            .bind(&db)
                            .fetch_one(&mut *tx)
                            .await?
                    {
                        return Ok(Err(None));
                    }
                    let found: Vec<(String, Option<String>, Option<String>)> =
                        sqlx::query_as(&format!("{HOLDERS} WHERE r.rolname = ANY($1)"))
                            .bind(&names)
                            .bind(false)
                            .bind(&management)
                            .bind(&mark)
                            .fetch_all(&mut *tx)
                            .await?;
                    // The mark is a comment, which whoever may administer a role can write
                    // (a management login holds CREATEROLE from 16 on): a role is the
                    // provider's only when it is marked and nobody else holds it.
                    if if_exists == Existing::MustBeMarked
                        && let Some((role, comment, held_by)) = found.iter().find(|(_, comment, held_by)| {
                            comment.as_deref() != Some(mark.as_str()) || held_by.is_some()
                        })
                    {
                        return Ok(Err(Some((role.clone(), comment.clone(), held_by.clone()))));
                    }
                    let existing: BTreeMap<String, Option<String>> =
                        found.into_iter().map(|(role, comment, _)| (role, comment)).collect();
                    let created: Vec<String> = names.iter().filter(|n| !existing.contains_key(*n)).cloned().collect();
                    let unmarked: Vec<String> = names
                        .iter()
                        .filter(|n| existing.get(*n).is_none_or(|c| c.as_deref() != Some(mark.as_str())))
                        .cloned()
                        .collect();
                    // A team's own admin login (16+, no superuser) must be able to act as
                    // the owner group: to create the database owned by it and to grant in it.
                    let statements: Vec<String> = sqlx::query_scalar(
                        "SELECT s FROM ( \
                            SELECT 1 AS step, format('CREATE ROLE %I NOLOGIN', n) AS s FROM unnest($1::text[]) n \
                            UNION ALL \
                            SELECT 4, format('GRANT %I TO %I', $5::text, n) FROM unnest($6::text[]) n \
                             WHERE (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                               AND NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles w ON w.oid = m.roleid \
                                               JOIN pg_roles g ON g.oid = m.member WHERE w.rolname = $5 AND g.rolname = n) \
                            UNION ALL \
                            SELECT 2, format('COMMENT ON ROLE %I IS %L', n, $3::text) FROM unnest($2::text[]) n \
                            UNION ALL \
                            SELECT 3, format('GRANT %I TO CURRENT_USER WITH INHERIT TRUE, SET TRUE', $4::text) \
                             WHERE current_setting('server_version_num')::int >= 160000 \
                               AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                         ) q ORDER BY step",
                    )
                    .bind(&created)
                    .bind(&unmarked)
                    .bind(&mark)
                    .bind(&names[0])
                    .bind(PROVIDER_ROLE)
                    .bind(&names)
                    .fetch_all(&mut *tx)
                    .await?;
                    execute_all(&mut tx, &statements).await?;
                    tx.commit().await?;
                    Ok(Ok(created))
                })
            })
            .await?;
        self.invalidate().await;
        outcome.map_err(|taken| match taken {
            None => PostgresError::AlreadyExists(database.to_owned()),
            Some((role, comment, held_by)) => PostgresError::NotOurs { role, comment, held_by },
        })
    }

    /// Takes back what other databases granted the roles of `database` (its group roles,
    /// its management login, and the logins in the groups that are the database's own:
    /// users Vault issued for it, marked so or administered by its management login, and its
    /// static logins; never another login a management login added to a group, such as the
    /// pooler's auth user or another team's admin, whose grants elsewhere are not this
    /// database's to take): an
    /// owner anywhere may `GRANT … TO` any role, and a role still granted something in
    /// another database cannot be dropped, so one tenant could otherwise break another's
    /// destroy and Vault's revocations. `DROP OWNED BY` in each such database, as the admin,
    /// revokes them (and the role's default privileges and policy entries there); what
    /// other databases' owners granted on the databases themselves (`GRANT CONNECT ON
    /// DATABASE … TO`, kept in the shared catalog) goes by `DROP OWNED BY` in the
    /// maintenance database, which revokes privileges on shared objects too. With
    /// `only`, just those of them (users whose revocation Vault was refused).
    ///
    /// # Errors
    /// [`PostgresError::OwnsElsewhere`] when a role owns objects elsewhere (nothing is
    /// dropped then); [`PostgresError`] for any refusal.
    pub async fn revoke_granted_elsewhere(
        &self,
        database: &str,
        roles: &GroupRoles,
        only: Option<&[String]>,
    ) -> Result<(), PostgresError> {
        let maintenance = self.maintenance().await?;
        let (db, r, only) = (database.to_owned(), roles.clone(), only.map(<[String]>::to_vec));
        let found: Vec<(String, Vec<String>, bool)> = self
            .with(&maintenance, move |c| {
                let (db, r, only) = (db.clone(), r.clone(), only.clone());
                Box::pin(async move {
                    sqlx::query_as(
                        "WITH every AS ( \
                            SELECT oid FROM pg_roles WHERE rolname = ANY($1) \
                            UNION SELECT m.member FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                             WHERE g.rolname = ANY($2) AND m.member <> (SELECT oid FROM pg_roles WHERE rolname = current_user) \
                               AND (shobj_description(m.member, 'pg_authid') IN ('issued by Vault for database ' || $3, $5 || $3) \
                                    OR EXISTS (SELECT FROM pg_auth_members a JOIN pg_roles v ON v.oid = a.member \
                                               WHERE a.roleid = m.member AND a.admin_option AND v.rolname = $6))), \
                         ours AS (SELECT oid FROM every WHERE $4::text[] IS NULL OR pg_get_userbyid(oid) = ANY($4)) \
                         SELECT d.datname::text, array_agg(DISTINCT pg_get_userbyid(s.refobjid)::text), bool_or(s.deptype = 'o') \
                           FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid \
                          WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid IN (SELECT oid FROM ours) \
                            AND d.datname <> $3 \
                          GROUP BY d.datname \
                         UNION ALL \
                         SELECT current_database()::text, array_agg(DISTINCT pg_get_userbyid(s.refobjid)::text), bool_or(s.deptype = 'o') \
                           FROM pg_shdepend s \
                          WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid IN (SELECT oid FROM ours) \
                            AND s.dbid = 0 AND s.classid = 'pg_database'::regclass \
                            AND s.objid <> (SELECT oid FROM pg_database WHERE datname = $3) \
                         HAVING count(*) > 0 \
                         ORDER BY 1",
                    )
                    .bind(vec![r.owner.clone(), r.readwrite.clone(), r.readonly.clone(), r.management.clone()])
                    .bind(vec![r.owner.clone(), r.readwrite.clone(), r.readonly.clone()])
                    .bind(&db)
                    .bind(only)
                    .bind(STATIC_LOGIN_MARK)
                    .bind(&r.management)
                    .fetch_all(c)
                    .await
                })
            })
            .await?;
        let owning: Vec<&str> = found.iter().filter(|(_, _, owns)| *owns).map(|(d, _, _)| d.as_str()).collect();
        if !owning.is_empty() {
            return Err(PostgresError::OwnsElsewhere { database: database.to_owned(), elsewhere: owning.join(", ") });
        }
        for (elsewhere, held, _) in found {
            self.with(&elsewhere, move |c| {
                let held = held.clone();
                Box::pin(async move {
                    let statement: String = sqlx::query_scalar(
                        "SELECT 'DROP OWNED BY ' || string_agg(quote_ident(r), ', ') FROM unnest($1::text[]) r",
                    )
                    .bind(&held)
                    .fetch_one(&mut *c)
                    .await?;
                    c.execute(statement.as_str()).await.map(drop)
                })
            })
            .await?;
        }
        Ok(())
    }

    /// Creates (or resets the password of) the management login Vault uses: LOGIN, marked
    /// with `mark`, with ADMIN OPTION on the database's group roles, and the system catalog
    /// as its only search path (Vault's sessions run in the tenant's database, where the
    /// tenant owns `public`). `CREATEROLE` from PostgreSQL 16 on, where it reaches only the
    /// roles the login holds ADMIN on; before 16 it would reach every role on the server,
    /// so the login gets none and goes through the functions in [`ISSUER_SCHEMA`].
    /// Returns whether it created the login. With [`Existing::MustBeMarked`], an existing login
    /// without the mark is [`PostgresError::NotOurs`] and is left as it is.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_management_login(
        &self,
        database: &str,
        roles: &GroupRoles,
        password: &Secret,
        mark: &str,
        if_exists: Existing,
    ) -> Result<bool, PostgresError> {
        let maintenance = self.maintenance().await?;
        // Only the verifier reaches the server: no statement log can hold the password.
        let password = crate::backends::password::scram_sha_256_verifier(password);
        let createrole = if self.needs_issuer().await? { "NOCREATEROLE" } else { "CREATEROLE" };
        let (r, mark, db) = (roles.clone(), mark.to_owned(), database.to_owned());
        let outcome = self
            .with(&maintenance, move |c| {
                let (r, password, mark, db) = (r.clone(), password.clone(), mark.clone(), db.clone());
                Box::pin(async move {
                    let mut tx = c.begin().await?;
                    lock_ddl(&mut tx, &db).await?;
                    let found: Option<(String, Option<String>, Option<String>)> =
                        sqlx::query_as(&format!("{HOLDERS} WHERE r.rolname = $1"))
                            .bind(&r.management)
                            .bind(true)
                            .bind("")
                            .bind(&mark)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if if_exists == Existing::MustBeMarked
                        && let Some((_, comment, held_by)) = &found
                        && (comment.as_deref() != Some(mark.as_str()) || held_by.is_some())
                    {
                        return Ok(Err((comment.clone(), held_by.clone())));
                    }
                    let existing = found.map(|(_, comment, _)| comment);
                    let statements: Vec<Option<String>> = sqlx::query_scalar(
                        "SELECT unnest(ARRAY[ \
                            CASE WHEN $6 \
                                 THEN format('ALTER ROLE %I WITH LOGIN %s PASSWORD %L', $1::text, $8::text, $5::text) \
                                 ELSE format('CREATE ROLE %I WITH LOGIN %s PASSWORD %L', $1::text, $8::text, $5::text) END, \
                            format('COMMENT ON ROLE %I IS %L', $1::text, $7::text), \
                            format('ALTER ROLE %I SET search_path TO pg_catalog, pg_temp', $1::text), \
                            format('GRANT %I, %I, %I TO %I WITH ADMIN OPTION', $2::text, $3::text, $4::text, $1::text), \
                            CASE WHEN current_setting('server_version_num')::int >= 160000 \
                                  AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                                 THEN format('GRANT %I TO CURRENT_USER WITH INHERIT TRUE, SET TRUE', $1::text) END \
                        ])",
                    )
                    .bind(&r.management)
                    .bind(&r.owner)
                    .bind(&r.readwrite)
                    .bind(&r.readonly)
                    .bind(password.expose())
                    .bind(existing.is_some())
                    .bind(&mark)
                    .bind(createrole)
                    .fetch_all(&mut *tx)
                    .await?;
                    execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                    tx.commit().await?;
                    Ok(Ok(existing.is_none()))
                })
            })
            .await?;
        self.invalidate().await;
        outcome.map_err(|(comment, held_by)| PostgresError::NotOurs {
            role: roles.management.clone(),
            comment,
            held_by,
        })
    }

    /// With a superuser admin: makes sure [`PROVIDER_ROLE`] exists (NOLOGIN), asked once
    /// per process, so the transactions that make a database's roles need no lock beyond
    /// that database's.
    pub(super) async fn ensure_provider_role(&self) -> Result<(), PostgresError> {
        self.ensure_server_role(&self.provider_role, PROVIDER_ROLE, "NOLOGIN", true).await
    }

    /// PostgreSQL 15 and older: makes sure [`ISSUER_ROLE`] exists (NOLOGIN CREATEROLE),
    /// asked once per process.
    pub(super) async fn ensure_issuer_role(&self) -> Result<(), PostgresError> {
        self.ensure_server_role(&self.issuer_role, ISSUER_ROLE, "NOLOGIN CREATEROLE", false).await
    }

    /// Creates `role` with `attributes` where it is missing (only with a superuser admin
    /// when `superuser_only`), under a server-wide lock; once it is known to exist, `known`
    /// says so for the rest of the process (until a failover forgets it). Concurrent
    /// callers in the process ask once.
    async fn ensure_server_role(
        &self,
        known: &std::sync::atomic::AtomicBool,
        role: &'static str,
        attributes: &'static str,
        superuser_only: bool,
    ) -> Result<(), PostgresError> {
        use std::sync::atomic::Ordering;
        if known.load(Ordering::SeqCst) {
            return Ok(());
        }
        let _one_at_a_time = self.server_role_check.lock().await;
        if known.load(Ordering::SeqCst) {
            return Ok(());
        }
        let maintenance = self.maintenance().await?;
        self.with(&maintenance, move |c| {
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, role).await?;
                let statement: Option<String> = sqlx::query_scalar(&format!(
                    "SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) \
                                   AND ($2 OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)) \
                                 THEN format('CREATE ROLE %I {attributes}', $1::text) END"
                ))
                .bind(role)
                .bind(!superuser_only)
                .fetch_one(&mut *tx)
                .await?;
                execute_all(&mut tx, &statement.into_iter().collect::<Vec<_>>()).await?;
                tx.commit().await
            })
        })
        .await?;
        known.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Creates missing group roles and (re)grants their privileges: what an update does to
    /// put back anything removed outside Terraform. The roles are in state, so they are
    /// marked as this database's if they are not yet.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn create_group_roles_and_privileges(
        &self,
        database: &str,
        roles: &GroupRoles,
        mark: &str,
    ) -> Result<(), PostgresError> {
        self.ensure_group_roles(database, roles, mark, Existing::Ours).await?;
        self.ensure_privileges(database, roles).await
    }

    /// Creates or puts right a login for a static role at privilege level `level`: LOGIN,
    /// member of the level's group role and of no other of `roles`' groups, and for `owner`
    /// `SET role` to the owner group (so what it creates belongs to the group), else no such
    /// setting. The password is set only with `password`: an existing login keeps the one
    /// Vault rotated.
    ///
    /// The login is marked [`STATIC_LOGIN_MARK`] with its database: before PostgreSQL 16
    /// that mark is what lets the management login's issuer set its password.
    ///
    /// From PostgreSQL 16 on, changing another role's password needs the ADMIN option on
    /// it, which the server grants no one else: the database's management login (when it
    /// exists) gets ADMIN on the login, without its privileges (no INHERIT, no SET), so
    /// Vault can rotate it and the management login still reaches only its own database's
    /// logins.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn ensure_login(
        &self,
        database: &str,
        login: &str,
        password: Option<&Secret>,
        roles: &GroupRoles,
        level: &str,
    ) -> Result<(), PostgresError> {
        let group = roles.for_level(level);
        let groups = [&roles.owner, &roles.readwrite, &roles.readonly];
        let act_as = (level == "owner").then_some(roles.owner.as_str());
        let rotator = roles.management.as_str();
        let maintenance = self.maintenance().await?;
        let others: Vec<String> = groups.iter().filter(|g| **g != group).map(|g| (*g).clone()).collect();
        let password = password.map(crate::backends::password::scram_sha_256_verifier);
        let (login, group, act_as, login_database, rotator) =
            (login.to_owned(), group.to_owned(), act_as.map(str::to_owned), database.to_owned(), rotator.to_owned());
        self.with(&maintenance, move |c| {
            let (login, group, act_as, password, others, login_database, rotator) = (
                login.clone(),
                group.clone(),
                act_as.clone(),
                password.clone(),
                others.clone(),
                login_database.clone(),
                rotator.clone(),
            );
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &login_database).await?;
                let statements: Vec<Option<String>> = sqlx::query_scalar(
                    "SELECT unnest(ARRAY[ \
                        CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) \
                             THEN format('CREATE ROLE %I WITH LOGIN PASSWORD %L', $1::text, $4::text) \
                             WHEN $4::text IS NOT NULL \
                             THEN format('ALTER ROLE %I WITH LOGIN PASSWORD %L', $1::text, $4::text) \
                             ELSE format('ALTER ROLE %I WITH LOGIN', $1::text) END, \
                        format('GRANT %I TO %I', $2::text, $1::text), \
                        format('COMMENT ON ROLE %I IS %L', $1::text, $7::text || $8::text), \
                        CASE WHEN $3::text IS NOT NULL THEN format('ALTER ROLE %I SET role = %L', $1::text, $3::text) \
                             ELSE format('ALTER ROLE %I RESET role', $1::text) END, \
                        CASE WHEN current_setting('server_version_num')::int >= 160000 \
                              AND EXISTS (SELECT FROM pg_roles WHERE rolname = $6) \
                             THEN format('GRANT %I TO %I WITH ADMIN TRUE, INHERIT FALSE, SET FALSE', $1::text, $6::text) END \
                    ]) UNION ALL \
                    SELECT format('REVOKE %I FROM %I', g.rolname, $1::text) FROM pg_auth_members m \
                      JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member \
                     WHERE r.rolname = $1 AND g.rolname = ANY($5)",
                )
                .bind(&login)
                .bind(&group)
                .bind(&act_as)
                .bind(password.as_ref().map(Secret::expose))
                .bind(&others)
                .bind(&rotator)
                .bind(STATIC_LOGIN_MARK)
                .bind(&login_database)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Marks `login` as a static login of `database` ([`STATIC_LOGIN_MARK`]), as
    /// [`Postgres::ensure_login`] does, changing nothing else.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn mark_static_login(&self, database: &str, login: &str) -> Result<(), PostgresError> {
        let maintenance = self.maintenance().await?;
        let (login, database) = (login.to_owned(), database.to_owned());
        self.with(&maintenance, move |c| {
            let (login, database) = (login.clone(), database.clone());
            Box::pin(async move {
                let statement: Option<String> = sqlx::query_scalar(
                    "SELECT format('COMMENT ON ROLE %I IS %L', rolname, $2::text || $3::text) FROM pg_roles WHERE rolname = $1",
                )
                .bind(&login)
                .bind(STATIC_LOGIN_MARK)
                .bind(&database)
                .fetch_optional(&mut *c)
                .await?;
                execute_all(c, &statement.into_iter().collect::<Vec<_>>()).await
            })
        })
        .await
    }

    /// Logins that look Vault-issued (`v-...`) and whose `VALID UNTIL` (which Vault sets
    /// to the lease's expiry, and moves on renewal) has passed, so no lease holds them: users
    /// never dropped. Those of `group`, and those granted privileges on `database` itself,
    /// as hand-written Vault roles from before the provider do (`GRANT ALL PRIVILEGES ON
    /// DATABASE ...`).
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn expired_vault_users(&self, group: &str, database: &str) -> Result<Vec<String>, PostgresError> {
        let maintenance = self.maintenance().await?;
        let (group, database) = (group.to_owned(), database.to_owned());
        self.with(&maintenance, move |c| {
            let (group, database) = (group.clone(), database.clone());
            Box::pin(async move {
                sqlx::query_scalar(
                    "SELECT r.rolname::text FROM pg_roles r \
                     WHERE r.rolname LIKE 'v-%' AND r.rolcanlogin \
                       AND r.rolvaliduntil IS NOT NULL AND r.rolvaliduntil < now() \
                       AND (EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                                    WHERE m.member = r.oid AND g.rolname = $1) \
                            OR EXISTS (SELECT FROM pg_database d, aclexplode(d.datacl) a \
                                       WHERE d.datname = $2 AND a.grantee = r.oid)) \
                     ORDER BY 1",
                )
                .bind(group)
                .bind(database)
                .fetch_all(c)
                .await
            })
        })
        .await
    }

    /// Logins a Vault role made before the provider issued for `database` (its own SQL, run
    /// by a shared connection): logins named as its connection names them (`name_prefix`,
    /// `v-` by Vault's default) with no role attributes, holding privileges
    /// or objects in or on `database`, or members of its group roles or of roles whose reach
    /// is that database alone ([`LOCAL_GROUPS`]: a hand-made platform's `orders_rw`). None is
    /// left out for what it holds elsewhere (a tenant elsewhere could otherwise hide a live
    /// user from the plan by granting it something): each comes with what keeps the
    /// management login from taking it over: privileges or objects in another database,
    /// membership in any other role (handing the user over would let the management login
    /// act as it, and reach where that role reaches), or a privilege whose grantor is neither the owner group
    /// nor the user itself (REVOKE by the management login would leave it), on an object
    /// named in the reason. Grants by the database's or schema `public`'s present owner do
    /// not block: adopting the database gives both to the owner group, and their grants with
    /// them. [`Postgres::hand_over_users`] takes those with none.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn users_issued_before(
        &self,
        database: &str,
        roles: &GroupRoles,
        name_prefix: &str,
    ) -> Result<Vec<(String, Option<String>)>, PostgresError> {
        let (r, name_prefix) = (roles.clone(), name_prefix.to_owned());
        self.with(database, move |c| {
            let (r, name_prefix) = (r.clone(), name_prefix.clone());
            Box::pin(async move {
                let rows = sqlx::query(
                    &format!("WITH db AS (SELECT oid FROM pg_database WHERE datname = current_database()), \
                          grp AS (SELECT oid FROM pg_roles WHERE rolname IN ($1, $2, $3)), \
                          {LOCAL_GROUPS}, \
                          users AS ( \
                            SELECT r.oid, r.rolname FROM pg_roles r \
                            WHERE left(r.rolname, length($5)) = $5 AND r.rolcanlogin AND NOT r.rolsuper AND NOT r.rolcreaterole \
                              AND NOT r.rolcreatedb AND NOT r.rolreplication AND NOT r.rolbypassrls \
                              AND NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles x ON x.oid = m.member \
                                              WHERE m.roleid = r.oid AND x.rolname <> $4) \
                              AND (EXISTS (SELECT FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass \
                                           AND s.refobjid = r.oid \
                                           AND (s.dbid = (SELECT oid FROM db) \
                                                OR (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db)))) \
                                   OR EXISTS (SELECT FROM pg_auth_members m WHERE m.member = r.oid \
                                              AND (m.roleid IN (SELECT oid FROM grp) OR m.roleid IN (SELECT oid FROM local_groups))))), \
                          acl AS ( \
                            SELECT u.oid AS member, format('table %s', c.oid::regclass) AS what, a.grantor FROM users u, pg_class c, aclexplode(c.relacl) a WHERE a.grantee = u.oid \
                            UNION ALL SELECT u.oid, format('schema %I', n.nspname), a.grantor FROM users u, pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = u.oid \
                            UNION ALL SELECT u.oid, format('function %s', p.oid::regprocedure), a.grantor FROM users u, pg_proc p, aclexplode(p.proacl) a WHERE a.grantee = u.oid \
                            UNION ALL SELECT u.oid, format('database %I', d.datname), a.grantor FROM users u, pg_database d, aclexplode(d.datacl) a \
                                      WHERE a.grantee = u.oid AND d.oid = (SELECT oid FROM db)) \
                     SELECT u.rolname::text AS name, \
                            coalesce( \
                            (SELECT format('privileges or objects in database %I, which the management login cannot take back', \
                                           coalesce(d.datname, (SELECT datname FROM pg_database WHERE oid = s.objid))) \
                               FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid \
                              WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = u.oid AND s.deptype IN ('a', 'o') \
                                AND s.dbid <> (SELECT oid FROM db) \
                                AND NOT (s.classid = 'pg_database'::regclass AND s.objid = (SELECT oid FROM db)) \
                              ORDER BY 1 LIMIT 1), \
                            (SELECT format('membership in %I, whose privileges or objects reach beyond the database', g.rolname) \
                               FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                              WHERE m.member = u.oid AND m.roleid NOT IN (SELECT oid FROM grp) \
                                AND m.roleid NOT IN (SELECT oid FROM local_groups) ORDER BY 1 LIMIT 1), \
                            (SELECT format('%s, granted by %I', acl.what, pg_get_userbyid(acl.grantor)) FROM acl \
                             WHERE acl.member = u.oid AND acl.grantor <> u.oid \
                               AND acl.grantor IS DISTINCT FROM (SELECT oid FROM pg_roles WHERE rolname = $1) \
                               AND NOT (acl.what LIKE 'database %' \
                                        AND acl.grantor = (SELECT datdba FROM pg_database WHERE oid = (SELECT oid FROM db))) \
                               AND NOT (acl.what = 'schema public' \
                                        AND acl.grantor = (SELECT nspowner FROM pg_namespace WHERE nspname = 'public')) \
                             ORDER BY 1 LIMIT 1)) AS blocked \
                     FROM users u ORDER BY 1"),
                )
                .bind(&r.owner)
                .bind(&r.readwrite)
                .bind(&r.readonly)
                .bind(&r.management)
                .bind(&name_prefix)
                .fetch_all(c)
                .await?;
                Ok(rows.into_iter().map(|row| (row.get("name"), row.get("blocked"))).collect())
            })
        })
        .await
    }

    /// What the users a Vault role made before the provider issued (`users`, from
    /// [`Postgres::users_issued_before`]) hold in `database` beyond what a user of `level`
    /// gets once the database is the provider's: read from the server, whatever statements
    /// gave it (group roles, schema, table or sequence grants), so the users issued after
    /// the move get exactly what those before had. Roles of [`LOCAL_GROUPS`] they are
    /// members of are [`CarryOver::groups`]: the level's group joins them at the move. What
    /// no such role gives them is [`CarryOver::beyond`], and the move is refused while
    /// there is any.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn carry_over(
        &self,
        database: &str,
        roles: &GroupRoles,
        level: &str,
        users: &[String],
    ) -> Result<CarryOver, PostgresError> {
        if users.is_empty() {
            return Ok(CarryOver::default());
        }
        let (r, group, users) = (roles.clone(), roles.for_level(level).to_owned(), users.to_vec());
        // What the provider grants the level in schema `public` when it adopts the
        // database (`ensure_privileges`); the owner group owns the schema.
        let (public_privileges, owner): (Vec<&str>, bool) = match level {
            "owner" => (vec![], true),
            "readonly" => (vec!["SELECT"], false),
            _ => (vec!["SELECT", "INSERT", "UPDATE", "DELETE", "USAGE"], false),
        };
        let public_privileges: Vec<String> = public_privileges.into_iter().map(str::to_owned).collect();
        let (groups, beyond): (Vec<String>, Vec<String>) = self
            .with(database, move |c| {
                let (r, group, users, public_privileges) = (r.clone(), group.clone(), users.clone(), public_privileges.clone());
                Box::pin(async move {
                    sqlx::query_as(&format!(
                        "WITH db AS (SELECT oid FROM pg_database WHERE datname = current_database()), \
                              grp AS (SELECT oid FROM pg_roles WHERE rolname IN ($2, $3, $4)), \
                              {LOCAL_GROUPS}, \
                              u AS (SELECT oid, rolname FROM pg_roles WHERE rolname = ANY($1)), \
                              carried AS (SELECT DISTINCT g.oid, g.rolname FROM u \
                                          JOIN pg_auth_members m ON m.member = u.oid JOIN local_groups g ON g.oid = m.roleid), \
                              covering AS (SELECT oid FROM carried UNION SELECT oid FROM pg_roles WHERE rolname = $5), \
                              rel AS (SELECT c.oid, n.nspname, c.relkind, c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                                      WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') \
                                        AND n.nspname <> 'information_schema' AND left(n.nspname, 3) <> 'pg_'), \
                              beyond AS ( \
                                SELECT format('%s on %s', p, r.oid::regclass) AS what \
                                  FROM u, rel r, unnest(CASE WHEN r.relkind = 'S' THEN ARRAY['USAGE', 'SELECT', 'UPDATE'] \
                                       ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) p \
                                 WHERE r.relowner <> u.oid \
                                   AND CASE WHEN r.relkind = 'S' THEN has_sequence_privilege(u.oid, r.oid, p) \
                                            ELSE has_table_privilege(u.oid, r.oid, p) END \
                                   AND NOT (r.nspname = 'public' AND (p = ANY($6) OR $7)) \
                                   AND NOT CASE WHEN r.relkind = 'S' THEN has_sequence_privilege('public', r.oid, p) \
                                                ELSE has_table_privilege('public', r.oid, p) END \
                                   AND NOT EXISTS (SELECT FROM covering c WHERE CASE WHEN r.relkind = 'S' \
                                                   THEN has_sequence_privilege(c.oid, r.oid, p) ELSE has_table_privilege(c.oid, r.oid, p) END) \
                                UNION \
                                SELECT format('%s on schema %I', p, n.nspname) FROM u, pg_namespace n, unnest(ARRAY['USAGE', 'CREATE']) p \
                                 WHERE n.nspname <> 'information_schema' AND left(n.nspname, 3) <> 'pg_' AND n.nspowner <> u.oid \
                                   AND has_schema_privilege(u.oid, n.oid, p) AND NOT has_schema_privilege('public', n.oid, p) \
                                   AND NOT (n.nspname = 'public' AND (p = 'USAGE' OR $7)) \
                                   AND NOT EXISTS (SELECT FROM covering c WHERE has_schema_privilege(c.oid, n.oid, p)) \
                                UNION \
                                SELECT format('membership in %I', g.rolname) FROM u \
                                  JOIN pg_auth_members m ON m.member = u.oid JOIN pg_roles g ON g.oid = m.roleid \
                                 WHERE g.oid NOT IN (SELECT oid FROM carried) AND g.rolname <> $5) \
                         SELECT (SELECT coalesce(array_agg(rolname::text ORDER BY rolname), '{{}}') FROM carried), \
                                (SELECT coalesce(array_agg(what ORDER BY what), '{{}}') FROM beyond)"
                    ))
                    .bind(&users)
                    .bind(&r.owner)
                    .bind(&r.readwrite)
                    .bind(&r.readonly)
                    .bind(&group)
                    .bind(&public_privileges)
                    .bind(owner)
                    .fetch_one(c)
                    .await
                })
            })
            .await?;
        Ok(CarryOver { groups, beyond })
    }

    /// The roles of `names` that are neither one of `database`'s group roles nor reach that
    /// database alone ([`LOCAL_GROUPS`]): none, and a Vault role made by hand whose users
    /// join them is that database's.
    ///
    /// # Errors
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn not_confined_to(
        &self,
        database: &str,
        roles: &GroupRoles,
        names: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>, PostgresError> {
        let (r, names) = (roles.clone(), names.iter().cloned().collect::<Vec<_>>());
        self.with(database, move |c| {
            let (r, names) = (r.clone(), names.clone());
            Box::pin(async move {
                sqlx::query_scalar(&format!(
                    "WITH db AS (SELECT oid FROM pg_database WHERE datname = current_database()), {LOCAL_GROUPS} \
                     SELECT n FROM unnest($1::text[]) AS n \
                      WHERE n NOT IN ($2, $3, $4) AND n NOT IN (SELECT rolname::text FROM local_groups) ORDER BY 1"
                ))
                .bind(&names)
                .bind(&r.owner)
                .bind(&r.readwrite)
                .bind(&r.readonly)
                .fetch_all(c)
                .await
            })
        })
        .await
    }

    /// Makes the group of `level` a member of `groups` (from [`Postgres::carry_over`]), so
    /// the users issued after a move get what those before had.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn carry_groups_over(
        &self,
        roles: &GroupRoles,
        level: &str,
        groups: &[String],
    ) -> Result<(), PostgresError> {
        if groups.is_empty() {
            return Ok(());
        }
        let (group, groups) = (roles.for_level(level).to_owned(), groups.to_vec());
        let maintenance = self.maintenance().await?;
        self.with(&maintenance, move |c| {
            let (group, groups) = (group.clone(), groups.clone());
            Box::pin(async move {
                let statements: Vec<String> = sqlx::query_scalar(
                    "SELECT format('GRANT %I TO %I', g, $2::text) FROM unnest($1::text[]) AS g \
                     WHERE NOT pg_has_role($2, g, 'MEMBER')",
                )
                .bind(&groups)
                .bind(&group)
                .fetch_all(&mut *c)
                .await?;
                execute_all(c, &statements).await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Hands `users` (from [`Postgres::users_issued_before`], with nothing blocking them)
    /// to `database`'s management login, so Vault's revocation through it drops them: each
    /// is marked as issued for the database (what the issuer's `drop_user` checks before
    /// PostgreSQL 16), and from 16 on the login gets ADMIN on it, without its privileges.
    /// What each user may do does not change, nor do its sessions.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn hand_over_users(
        &self,
        database: &str,
        roles: &GroupRoles,
        users: &[String],
    ) -> Result<(), PostgresError> {
        if users.is_empty() {
            return Ok(());
        }
        let (db, management, users) = (database.to_owned(), roles.management.clone(), users.to_vec());
        let maintenance = self.maintenance().await?;
        self.with(&maintenance, move |c| {
            let (db, management, users) = (db.clone(), management.clone(), users.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                let statements: Vec<Option<String>> = sqlx::query_scalar(
                    "SELECT s FROM unnest($1::text[]) AS u(name), LATERAL unnest(ARRAY[ \
                        format('COMMENT ON ROLE %I IS %L', u.name, 'issued by Vault for database ' || $2::text), \
                        CASE WHEN current_setting('server_version_num')::int >= 160000 \
                             THEN format('GRANT %I TO %I WITH ADMIN OPTION, INHERIT FALSE, SET FALSE', u.name, $3::text) END \
                     ]) AS s",
                )
                .bind(&users)
                .bind(&db)
                .bind(&management)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                tx.commit().await
            })
        })
        .await
    }

    /// Drops a login after handing whatever it owns in `database` to the owner group.
    ///
    /// `REASSIGN OWNED` and `DROP OWNED` need the privileges of the login. A superuser has
    /// them; a team's own admin login (PostgreSQL 16+, `CREATEROLE` without superuser) has
    /// them for the logins it made, but not for users Vault issued through the management
    /// login, which alone holds ADMIN on those: for them the admin acts as the management
    /// login (`SET LOCAL ROLE`, which the admin may for a role it created with
    /// `createrole_self_grant = 'set, inherit'`), as Vault's own revocation does.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal.
    pub async fn drop_login(&self, database: &str, login: &str, roles: &GroupRoles) -> Result<(), PostgresError> {
        let (login, heir, management) = (login.to_owned(), roles.owner.clone(), roles.management.clone());
        self.with(database, move |c| {
            let (login, heir, management) = (login.clone(), heir.clone(), management.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                let statements: Vec<String> = sqlx::query_scalar(
                    "WITH target AS (SELECT rolname FROM pg_roles WHERE rolname = $1), \
                          act AS (SELECT NOT pg_has_role($1, 'USAGE') \
                                         AND EXISTS (SELECT FROM pg_roles WHERE rolname = $3) \
                                         AND CASE WHEN current_setting('server_version_num')::int >= 160000 \
                                                  THEN pg_has_role($3, 'SET') ELSE false END AS via_management) \
                     SELECT s FROM target, act, LATERAL unnest(ARRAY[ \
                         CASE WHEN via_management THEN format('SET LOCAL ROLE %I', $3::text) END, \
                         CASE WHEN via_management THEN format('GRANT %I TO %I', $1::text, $3::text) END, \
                         format('REASSIGN OWNED BY %I TO %I', $1::text, $2::text), \
                         format('DROP OWNED BY %I', $1::text), \
                         format('DROP ROLE %I', $1::text) \
                     ]) WITH ORDINALITY AS t(s, i) WHERE s IS NOT NULL ORDER BY i",
                )
                .bind(&login)
                .bind(&heir)
                .bind(&management)
                .fetch_all(&mut *tx)
                .await?;
                execute_all(&mut tx, &statements).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }

    /// Drops roles (that exist) of `database` under its DDL lock.
    ///
    /// # Errors
    /// [`PostgresError`] for any refusal, e.g. a role that still owns something.
    pub async fn drop_roles(&self, database: &str, names: &[String]) -> Result<(), PostgresError> {
        let maintenance = self.maintenance().await?;
        let (names, scope) = (names.to_vec(), database.to_owned());
        self.with(&maintenance, move |c| {
            let (names, scope) = (names.clone(), scope.clone());
            Box::pin(async move {
                let mut tx = c.begin().await?;
                lock_ddl(&mut tx, &scope).await?;
                let statements = drop_role_statements(&mut tx, &names).await?;
                execute_all(&mut tx, &statements).await?;
                tx.commit().await
            })
        })
        .await?;
        self.invalidate().await;
        Ok(())
    }
}
