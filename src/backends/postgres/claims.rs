//! Which Terraform state manages each database: a claim kept where no tenant can write it.
//!
//! A database's comment is written by whoever owns it, and its `owner` credentials act as
//! its owner group: a claim there could be erased by the tenant it separates. So the claim
//! is the comment on a NOLOGIN role of its own, [`claim_role`], which only a role holding
//! ADMIN on it may comment on (PostgreSQL 16+: only the admin that made it; 15: only
//! `CREATEROLE` logins, which no tenant or management login holds there). A claim role is
//! trusted only when every role holding any membership in it is an admin (a superuser or a
//! login with `CREATEDB`, which no management login has), so one a management login
//! planted counts for nothing. The database's comment keeps `<mark>; claim …` as well, for
//! releases before this one, and is read only for a database with no claim role yet.

use super::roles::PROVIDER_ROLE;
use super::*;

/// The prefix of every claim role's name; its `:` keeps it apart from any name a stack
/// derives.
pub const CLAIM_ROLE_PREFIX: &str = "dbaas-claim:";

/// The role whose comment holds `database`'s claim.
pub fn claim_role(database: &str) -> String {
    format!("{CLAIM_ROLE_PREFIX}{database}")
}

/// Whether the claim role `c` (a `pg_roles` row alias) can be trusted: no login, no role
/// attribute, and every member (ADMIN included) an admin. SQL, spliced into queries.
/// From 16 on it must also carry a membership row an admin granted (see `HOLDERS` in
/// roles.rs): a claim role a management login made, and that login dropped since, has none.
pub(super) const TRUSTED_CLAIM_ROLE: &str = "(NOT c.rolcanlogin AND NOT c.rolsuper AND NOT c.rolcreaterole \
     AND NOT c.rolcreatedb AND NOT c.rolreplication AND NOT c.rolbypassrls \
     AND NOT EXISTS (SELECT FROM pg_auth_members a JOIN pg_roles h ON h.oid = a.member \
                     WHERE a.roleid = c.oid AND NOT (h.rolsuper OR h.rolcreatedb)) \
     AND (current_setting('server_version_num')::int < 160000 OR EXISTS ( \
          SELECT FROM pg_auth_members e JOIN pg_roles g ON g.oid = e.grantor \
           WHERE (e.roleid = c.oid OR e.member = c.oid) AND (g.rolsuper OR g.rolcreatedb))))";

/// A database's claim as read: where it was found, and its text there. Serialized, it is
/// the version a compare-and-swap expects.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ClaimRecord {
    /// The trusted claim role's comment (`None`: no comment).
    Role(Option<String>),
    /// No claim role: the database's comment (`None`: no database, or no comment).
    Comment(Option<String>),
}

impl Postgres {
    /// `database`'s claim record.
    ///
    /// # Errors
    /// [`PostgresError::ClaimRoleTaken`] when a claim role exists that is not trusted;
    /// [`PostgresError`] when the catalogs cannot be read.
    pub async fn claim_record(&self, database: &str) -> Result<ClaimRecord, PostgresError> {
        let maintenance = self.maintenance().await?;
        let db = database.to_owned();
        self.with(&maintenance, move |c| {
            let db = db.clone();
            Box::pin(async move { read_claim(c, &db).await })
        })
        .await?
    }

    /// Sets `database`'s claim to `record` (`None` gives it up) if it still is
    /// `expected` (`None`: whatever it is), under the database's DDL lock; false when it
    /// changed in between. The
    /// database's comment gets `mark` (and the record after it, for earlier releases).
    /// Databases whose claim only their comment holds (made by an earlier release) get
    /// their claim role too, in the same transaction: from the first claim this release
    /// writes on a server, no comment decides anything there.
    ///
    /// # Errors
    /// [`PostgresError::ClaimRoleTaken`]; [`PostgresError`] for any refusal.
    pub async fn swap_claim(
        &self,
        database: &str,
        expected: Option<&ClaimRecord>,
        record: Option<&str>,
        mark: &str,
    ) -> Result<bool, PostgresError> {
        self.ensure_provider_role().await?;
        let maintenance = self.maintenance().await?;
        let (db, expected, record, mark) =
            (database.to_owned(), expected.cloned(), record.map(str::to_owned), mark.to_owned());
        let swapped = self
            .with(&maintenance, move |c| {
                let (db, expected, record, mark) = (db.clone(), expected.clone(), record.clone(), mark.clone());
                Box::pin(async move {
                    let mut tx = c.begin().await?;
                    // The database's DDL lock, then, in the same round trip: claim roles
                    // of other databases (those whose claim only their comment holds) are
                    // made one transaction at a time on a server; while there are none,
                    // claims of different databases are written side by side.
                    let legacy: bool = sqlx::query_scalar(&format!(
                        "SELECT EXISTS (SELECT FROM pg_database d \
                          WHERE left(shobj_description(d.oid, 'pg_database'), length($1 || d.datname || '; claim ')) \
                                = $1 || d.datname || '; claim ' \
                            AND pg_has_role(d.datdba, 'MEMBER') \
                            AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{CLAIM_ROLE_PREFIX}' || d.datname)) \
                         FROM (SELECT pg_advisory_xact_lock($2, hashtext($3))) locked"
                    ))
                    .bind(mark.strip_suffix(&db).unwrap_or(&mark))
                    .bind(DDL_LOCK_CLASS)
                    .bind(&db)
                    .fetch_one(&mut *tx)
                    .await?;
                    if legacy {
                        lock_ddl(&mut tx, CLAIM_ROLE_PREFIX).await?;
                    }
                    // A claim role that is not trusted is refused even when nothing is
                    // compared: the statements below would comment on it.
                    let now = match read_claim(&mut tx, &db).await? {
                        Ok(now) => now,
                        Err(e) => return Ok(Err(e)),
                    };
                    if expected.as_ref().is_some_and(|expected| now != *expected) {
                        return Ok(Ok(false));
                    }
                    let statements: Vec<Option<String>> = sqlx::query_scalar(&format!(
                        // legacy: the databases whose claim only their comment holds.
                        "WITH admin AS (SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user), \
                              legacy AS ( \
                                SELECT '{CLAIM_ROLE_PREFIX}' || d.datname AS role, d.datname, \
                                       substr(shobj_description(d.oid, 'pg_database'), length($4 || d.datname || '; ') + 1) AS record \
                                  FROM pg_database d \
                                 WHERE left(shobj_description(d.oid, 'pg_database'), length($4 || d.datname || '; claim ')) \
                                       = $4 || d.datname || '; claim ' \
                                   AND pg_has_role(d.datdba, 'MEMBER') AND d.datname <> $1 \
                                   AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{CLAIM_ROLE_PREFIX}' || d.datname)) \
                         SELECT s FROM ( \
                           SELECT 1 AS step, format('CREATE ROLE %I NOLOGIN', role) AS s, datname FROM legacy \
                           UNION ALL SELECT 2, format('COMMENT ON ROLE %I IS %L', role, record), datname FROM legacy \
                           UNION ALL SELECT 3, format('GRANT %I TO %I', $6::text, role), datname FROM legacy, admin WHERE superuser \
                           UNION ALL \
                           SELECT 3, CASE WHEN $2::text IS NOT NULL AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $3) \
                                          THEN format('CREATE ROLE %I NOLOGIN', $3) END, $1 \
                           UNION ALL \
                           SELECT 4, CASE WHEN $2::text IS NOT NULL AND superuser \
                                               AND NOT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles w ON w.oid = m.roleid \
                                                               JOIN pg_roles g ON g.oid = m.member WHERE w.rolname = $6 AND g.rolname = $3) \
                                          THEN format('GRANT %I TO %I', $6::text, $3) END, $1 FROM admin \
                           UNION ALL \
                           SELECT 5, CASE WHEN $2::text IS NOT NULL THEN format('COMMENT ON ROLE %I IS %L', $3, $2::text) \
                                          ELSE format('DROP ROLE IF EXISTS %I', $3) END, $1 \
                           UNION ALL \
                           SELECT 6, CASE WHEN EXISTS (SELECT FROM pg_database WHERE datname = $1) \
                                          THEN format('COMMENT ON DATABASE %I IS %L', $1, \
                                                      $5 || coalesce('; ' || $2::text, '')) END, $1 \
                         ) q ORDER BY step, datname"
                    ))
                    .bind(&db)
                    .bind(&record)
                    .bind(claim_role(&db))
                    .bind(mark.strip_suffix(&db).unwrap_or(&mark).to_owned())
                    .bind(&mark)
                    .bind(PROVIDER_ROLE)
                    .fetch_all(&mut *tx)
                    .await?;
                    execute_all(&mut tx, &statements.into_iter().flatten().collect::<Vec<_>>()).await?;
                    tx.commit().await?;
                    Ok(Ok(true))
                })
            })
            .await?;
        self.invalidate().await;
        swapped
    }
}

/// Reads `database`'s claim record on `c`; a claim role that is not trusted is an error
/// naming who holds it.
async fn read_claim(c: &mut PgConnection, database: &str) -> Result<Result<ClaimRecord, PostgresError>, sqlx::Error> {
    let (exists, trusted, role_comment, database_comment, held_by): (
        bool,
        bool,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(&format!(
        "SELECT c.oid IS NOT NULL, coalesce({TRUSTED_CLAIM_ROLE}, false), shobj_description(c.oid, 'pg_authid'), \
                    (SELECT shobj_description(d.oid, 'pg_database') FROM pg_database d WHERE d.datname = $1), \
                    (SELECT string_agg(quote_ident(h.rolname), ', ' ORDER BY h.rolname) \
                       FROM pg_auth_members a JOIN pg_roles h ON h.oid = a.member WHERE a.roleid = c.oid) \
               FROM (SELECT) one LEFT JOIN pg_roles c ON c.rolname = $2"
    ))
    .bind(database)
    .bind(claim_role(database))
    .fetch_one(&mut *c)
    .await?;
    Ok(match (exists, trusted) {
        (false, _) => Ok(ClaimRecord::Comment(database_comment)),
        (true, true) => Ok(ClaimRecord::Role(role_comment)),
        (true, false) => Err(PostgresError::ClaimRoleTaken {
            role: claim_role(database),
            held_by: held_by.unwrap_or_else(|| "a role that can log in or holds role attributes".to_owned()),
        }),
    })
}
