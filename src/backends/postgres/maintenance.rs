//! The maintenance database: where the provider's cluster-wide work runs and, above all,
//! where its locks are taken.
//!
//! Advisory locks belong to the database they are taken in, and any session connected
//! there may take any key: a tenant connected to a database the provider locks in could
//! hold the key of another stack's database and stop its every apply. So the provider
//! takes its locks only in a database PUBLIC may not connect to: the configured one
//! (`postgres.database`) when the platform has closed it, otherwise a database of its own,
//! [`PROVIDER_DATABASE`], which it makes (PUBLIC's privileges revoked) the first time it
//! needs it. No tenant login, management login or app credential may connect to it; the
//! admin logins may (a superuser always; a platform with one non-superuser admin per team
//! grants each `CONNECT` on it).

use super::*;

/// The database the provider makes for its own work when PUBLIC may connect to the
/// configured maintenance database. Its `-` keeps it apart from every name a
/// `dbaas_shared_database` may take.
pub const PROVIDER_DATABASE: &str = "dbaas-provider";

/// What the configured maintenance database says about where the provider may work.
struct Survey {
    /// Whether PUBLIC may connect to the configured maintenance database.
    configured_is_public: bool,
    /// `PROVIDER_DATABASE` exists.
    exists: bool,
    /// The admin may connect to it.
    may_connect: bool,
    /// PUBLIC may connect to it.
    is_public: bool,
    /// The admin owns it or is a superuser: it may revoke PUBLIC's privileges.
    may_revoke: bool,
}

impl Postgres {
    /// The database the provider's cluster-wide work and its locks run in, decided once
    /// per process: the configured one if PUBLIC may not connect to it, else
    /// [`PROVIDER_DATABASE`] (made, and PUBLIC's privileges on it revoked, if it is not
    /// there or still open to PUBLIC).
    ///
    /// # Errors
    /// [`PostgresError::ProviderDatabaseClosed`] when the provider's database exists and
    /// the admin may not connect to it, or PUBLIC may and the admin may not change that;
    /// [`PostgresError`] for any other refusal.
    pub(super) async fn maintenance(&self) -> Result<String, PostgresError> {
        self.maintenance
            .get_or_try_init(|| async {
                // Made once, then looked at again: the create may race another process's,
                // and a process killed between the create and the revoke left it open.
                for _ in 0..3 {
                    let survey = self.survey().await?;
                    if !survey.configured_is_public {
                        return Ok(self.endpoint.database.clone());
                    }
                    if !survey.exists {
                        self.create_provider_database().await?;
                        continue;
                    }
                    if !survey.may_connect || (survey.is_public && !survey.may_revoke) {
                        return Err(PostgresError::ProviderDatabaseClosed {
                            database: PROVIDER_DATABASE,
                            admin: self.endpoint.username.clone(),
                            open_to_public: survey.is_public,
                        });
                    }
                    if !survey.is_public {
                        return Ok(PROVIDER_DATABASE.to_owned());
                    }
                    self.close_provider_database().await?;
                }
                Err(PostgresError::ProviderDatabaseClosed {
                    database: PROVIDER_DATABASE,
                    admin: self.endpoint.username.clone(),
                    open_to_public: true,
                })
            })
            .await
            .cloned()
    }

    async fn survey(&self) -> Result<Survey, PostgresError> {
        let configured = self.endpoint.database.clone();
        let row: (bool, bool, bool, bool, bool) = self
            .with(&configured, |c| {
                Box::pin(async move {
                    sqlx::query_as(
                        "SELECT has_database_privilege('public', current_database(), 'CONNECT'), \
                                d.oid IS NOT NULL, \
                                coalesce(has_database_privilege(d.oid, 'CONNECT'), false), \
                                coalesce(has_database_privilege('public', d.oid, 'CONNECT') \
                                         OR has_database_privilege('public', d.oid, 'TEMPORARY') \
                                         OR has_database_privilege('public', d.oid, 'CREATE'), false), \
                                coalesce(pg_has_role(d.datdba, 'USAGE'), false) \
                                  OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                           FROM (SELECT) one LEFT JOIN pg_database d ON d.datname = $1",
                    )
                    .bind(PROVIDER_DATABASE)
                    .fetch_one(c)
                    .await
                })
            })
            .await?;
        let (configured_is_public, exists, may_connect, is_public, may_revoke) = row;
        Ok(Survey { configured_is_public, exists, may_connect, is_public, may_revoke })
    }

    /// Makes [`PROVIDER_DATABASE`] from `template0` (whose sessions cannot hold a create
    /// up: nobody may connect to it), then closes it. Another process making it at the
    /// same moment is no error.
    async fn create_provider_database(&self) -> Result<(), PostgresError> {
        let configured = self.endpoint.database.clone();
        self.with(&configured, |c| {
            Box::pin(async move {
                let statement: String =
                    sqlx::query_scalar("SELECT format('CREATE DATABASE %I TEMPLATE template0', $1::text)")
                        .bind(PROVIDER_DATABASE)
                        .fetch_one(&mut *c)
                        .await?;
                match c.execute(statement.as_str()).await {
                    // 42P04 duplicate_database, 23505 the same found by the catalog's index.
                    Err(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("42P04" | "23505")) => Ok(()),
                    other => other.map(drop),
                }
            })
        })
        .await?;
        self.close_provider_database().await
    }

    /// Revokes PUBLIC's privileges on [`PROVIDER_DATABASE`].
    async fn close_provider_database(&self) -> Result<(), PostgresError> {
        let configured = self.endpoint.database.clone();
        self.with(&configured, |c| {
            Box::pin(async move {
                let statement: String =
                    sqlx::query_scalar("SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', $1::text)")
                        .bind(PROVIDER_DATABASE)
                        .fetch_one(&mut *c)
                        .await?;
                c.execute(statement.as_str()).await.map(drop)
            })
        })
        .await
    }
}
