//! The maintenance database: where the provider's cluster-wide work runs and, above all,
//! where its locks are taken.
//!
//! Advisory locks belong to the database they are taken in, and any session connected
//! there may take any key: a tenant connected to a database the provider locks in could
//! hold the key of another stack's database and stop its every apply. So the provider
//! takes its locks only in a database PUBLIC may not connect to: the configured one
//! (`postgres.database`) when the platform has closed it, otherwise a database of its own,
//! [`PROVIDER_DATABASE`], which it makes (PUBLIC's privileges revoked) the first time it
//! needs it. No login but an admin may connect to either (through PUBLIC, a grant or a
//! membership), and a superuser owns it: a team's admin that owned it could let a tenant
//! in, or close it to every other stack. A platform with one non-superuser admin per team
//! makes it once as a superuser and grants each admin `CONNECT` on it.

use super::*;

/// The database the provider makes for its own work when PUBLIC may connect to the
/// configured maintenance database. Its `-` keeps it apart from every name a
/// `dbaas_shared_database` may take.
pub const PROVIDER_DATABASE: &str = "dbaas-provider";

/// Logins that are admins: a superuser, or a `CREATEDB CREATEROLE` login (a team's admin on
/// PostgreSQL 16+). No tenant credential, static login or management login is one. SQL over
/// a `pg_roles` row `r`.
const ADMIN: &str = "(r.rolsuper OR (r.rolcreatedb AND r.rolcreaterole))";

/// What the configured maintenance database and the provider's own say about where the
/// provider may work.
struct Survey {
    /// The configured maintenance database is owned by a superuser and no login but an admin
    /// may connect to it (through PUBLIC, a grant or a membership).
    configured_closed: bool,
    /// The admin is a superuser.
    superuser: bool,
    /// `PROVIDER_DATABASE`'s owner, if it exists.
    owner: Option<String>,
    /// Its owner is a superuser.
    owner_superuser: bool,
    /// The admin may connect to it.
    may_connect: bool,
    /// Logins other than admins that may connect to it (`PUBLIC` first when PUBLIC may).
    open_to: Vec<String>,
}

/// Why the provider's own database cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderDatabaseProblem {
    /// It does not exist, and the admin is no superuser: a team's admin that made it would
    /// own it, and could let anyone in.
    Missing,
    /// A role other than a superuser owns it (made by a team's admin, or a squatter).
    OwnedBy(String),
    /// The admin may not connect to it.
    NoConnect,
    /// Logins other than admins may connect to it.
    OpenTo(Vec<String>),
}

impl Postgres {
    /// The database the provider's cluster-wide work and its locks run in, decided once
    /// per process: the configured one if it is closed (owned by a superuser, and no login
    /// but an admin may connect), else [`PROVIDER_DATABASE`] under the same rule (a
    /// superuser admin makes it, from `template0`, and revokes PUBLIC's privileges).
    ///
    /// # Errors
    /// [`PostgresError::ProviderDatabase`] when the provider's database cannot be used;
    /// [`PostgresError`] for any other refusal.
    pub(super) async fn maintenance(&self) -> Result<String, PostgresError> {
        self.maintenance
            .get_or_try_init(|| async {
                let refuse = |problem| PostgresError::ProviderDatabase {
                    database: PROVIDER_DATABASE,
                    admin: self.endpoint.username.clone(),
                    problem,
                };
                // Made, or closed, once, then looked at again: the create may race another
                // process's, and a process killed between the create and the revoke left it
                // open.
                let mut last = ProviderDatabaseProblem::Missing;
                for _ in 0..4 {
                    let survey = self.survey().await?;
                    if survey.configured_closed {
                        return Ok(self.endpoint.database.clone());
                    }
                    let Some(owner) = survey.owner else {
                        if !survey.superuser {
                            return Err(refuse(ProviderDatabaseProblem::Missing));
                        }
                        self.create_provider_database().await?;
                        continue;
                    };
                    if !survey.owner_superuser {
                        return Err(refuse(ProviderDatabaseProblem::OwnedBy(owner)));
                    }
                    if !survey.may_connect {
                        return Err(refuse(ProviderDatabaseProblem::NoConnect));
                    }
                    match survey.open_to.as_slice() {
                        [] => return Ok(PROVIDER_DATABASE.to_owned()),
                        [public] if public == "PUBLIC" && survey.superuser => {
                            last = ProviderDatabaseProblem::OpenTo(survey.open_to.clone());
                            self.close_provider_database().await?;
                        }
                        _ => return Err(refuse(ProviderDatabaseProblem::OpenTo(survey.open_to))),
                    }
                }
                Err(refuse(last))
            })
            .await
            .cloned()
    }

    async fn survey(&self) -> Result<Survey, PostgresError> {
        let configured = self.endpoint.database.clone();
        let row: (bool, bool, Option<String>, bool, bool, Vec<String>) = self
            .with(&configured, |c| {
                Box::pin(async move {
                    sqlx::query_as(&format!(
                        "WITH here AS (SELECT oid, datdba FROM pg_database WHERE datname = current_database()), \
                              own AS (SELECT oid, datdba FROM pg_database WHERE datname = $1) \
                         SELECT (SELECT rolsuper FROM pg_roles WHERE oid = (SELECT datdba FROM here)) \
                                AND NOT has_database_privilege('public', current_database(), 'CONNECT') \
                                AND NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolcanlogin AND NOT {ADMIN} \
                                                AND has_database_privilege(r.oid, (SELECT oid FROM here), 'CONNECT')), \
                                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), \
                                (SELECT pg_get_userbyid(datdba)::text FROM own), \
                                coalesce((SELECT rolsuper FROM pg_roles WHERE oid = (SELECT datdba FROM own)), false), \
                                coalesce((SELECT has_database_privilege(oid, 'CONNECT') FROM own), false), \
                                coalesce((SELECT array_agg(who ORDER BY first, who) FROM ( \
                                   SELECT 'PUBLIC' AS who, 0 AS first FROM own \
                                    WHERE has_database_privilege('public', own.oid, 'CONNECT') \
                                       OR has_database_privilege('public', own.oid, 'TEMPORARY') \
                                       OR has_database_privilege('public', own.oid, 'CREATE') \
                                   UNION ALL \
                                   SELECT r.rolname::text, 1 FROM own, pg_roles r \
                                    WHERE r.rolcanlogin AND NOT {ADMIN} AND has_database_privilege(r.oid, own.oid, 'CONNECT') \
                                      AND NOT has_database_privilege('public', own.oid, 'CONNECT')) open), '{{}}')"
                    ))
                    .bind(PROVIDER_DATABASE)
                    .fetch_one(c)
                    .await
                })
            })
            .await?;
        let (configured_closed, superuser, owner, owner_superuser, may_connect, open_to) = row;
        Ok(Survey { configured_closed, superuser, owner, owner_superuser, may_connect, open_to })
    }

    /// Makes [`PROVIDER_DATABASE`] from `template0` (whose sessions cannot hold a create
    /// up: nobody may connect to it); the survey after it sees PUBLIC's privileges, which
    /// [`Postgres::maintenance`] then revokes. Another process making it at the same moment
    /// is no error (42P04 duplicate_database; 23505, the same found by the catalog's index).
    async fn create_provider_database(&self) -> Result<(), PostgresError> {
        self.on_provider_database("CREATE DATABASE %I TEMPLATE template0", &["42P04", "23505"]).await
    }

    /// Revokes PUBLIC's privileges on [`PROVIDER_DATABASE`].
    async fn close_provider_database(&self) -> Result<(), PostgresError> {
        self.on_provider_database("REVOKE ALL ON DATABASE %I FROM PUBLIC", &[]).await
    }

    /// Runs `template`, whose one `%I` the server fills with [`PROVIDER_DATABASE`], in the
    /// configured maintenance database; an error with a `tolerated` SQLSTATE is none.
    async fn on_provider_database(
        &self,
        template: &'static str,
        tolerated: &'static [&'static str],
    ) -> Result<(), PostgresError> {
        let configured = self.endpoint.database.clone();
        self.with(&configured, |c| {
            Box::pin(async move {
                let statement: String = sqlx::query_scalar("SELECT format($1, $2::text)")
                    .bind(template)
                    .bind(PROVIDER_DATABASE)
                    .fetch_one(&mut *c)
                    .await?;
                match c.execute(statement.as_str()).await {
                    Err(sqlx::Error::Database(db))
                        if db.code().is_some_and(|code| tolerated.contains(&code.as_ref())) =>
                    {
                        Ok(())
                    }
                    other => other.map(drop),
                }
            })
        })
        .await
    }
}
