//! PgBouncer's admin console (the database `pgbouncer` on the pooler's port): who is
//! connected through the pooler to a database, and closing the pooler's idle server
//! connections to it, so that dropping a database counts only real sessions.
//!
//! The console speaks only the simple query protocol and takes no parameters or quoted
//! identifiers: a database name is sent only if it is `[a-z0-9_]+` (what the provider's
//! names allow), and refused otherwise.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{Connection, Executor, Row};

use super::deadline::{Deadline, Interrupted};
use crate::secret::Secret;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgBouncerError {
    /// The console could not be reached or refused the login.
    #[error("cannot reach PgBouncer's admin console at {endpoint}: {source}")]
    Connect {
        /// host:port
        endpoint: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// A console command failed.
    #[error("PgBouncer's admin console: {0}")]
    Command(#[source] sqlx::Error),
    /// No answer within the deadline.
    #[error("PgBouncer at {endpoint} timed out: no answer within {}s", .waited.as_secs())]
    TimedOut {
        /// host:port
        endpoint: String,
        /// How long it waited.
        waited: Duration,
    },
    /// Terraform asked the provider to stop.
    #[error("stopped: Terraform asked the provider to stop")]
    Stopped,
    /// A database name the console could not be given safely.
    #[error("{0:?} cannot be sent to PgBouncer's admin console: only [a-z0-9_] can")]
    UnsafeName(String),
}

/// Where and how to log in to the console.
#[derive(Clone, Debug)]
pub struct PgBouncerEndpoint {
    /// The pooler.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// A login listed in its `admin_users`.
    pub username: String,
    /// Its password.
    pub password: Option<Secret>,
    /// libpq sslmode, as for PostgreSQL.
    pub sslmode: String,
    /// The bound on one call, and the stop signal.
    pub deadline: Deadline,
}

/// The admin console; each call opens and closes one connection (calls are rare: one per
/// database dropped or archived).
pub struct PgBouncer {
    endpoint: PgBouncerEndpoint,
}

impl PgBouncer {
    /// A client; nothing connects yet.
    pub fn new(endpoint: PgBouncerEndpoint) -> PgBouncer {
        PgBouncer { endpoint }
    }

    fn address(&self) -> String {
        super::authority(&self.endpoint.host, self.endpoint.port)
    }

    async fn console(&self) -> Result<PgConnection, PgBouncerError> {
        let mut options = PgConnectOptions::new()
            .host(&self.endpoint.host)
            .port(self.endpoint.port)
            .username(&self.endpoint.username)
            .database("pgbouncer")
            .ssl_mode(self.endpoint.sslmode.parse().unwrap_or(PgSslMode::Prefer))
            .statement_cache_capacity(0);
        if let Some(p) = &self.endpoint.password {
            options = options.password(p.expose());
        }
        PgConnection::connect_with(&options)
            .await
            .map_err(|source| PgBouncerError::Connect { endpoint: self.address(), source })
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, PgBouncerError>>,
    ) -> Result<T, PgBouncerError> {
        match self.endpoint.deadline.run(call).await {
            Ok(result) => result,
            Err(Interrupted::TimedOut(waited)) => Err(PgBouncerError::TimedOut { endpoint: self.address(), waited }),
            Err(Interrupted::Stopped) => Err(PgBouncerError::Stopped),
        }
    }

    /// How many clients are connected through the pooler to `database`.
    ///
    /// # Errors
    /// [`PgBouncerError`].
    pub async fn clients(&self, database: &str) -> Result<i64, PgBouncerError> {
        self.bounded(async {
            let mut console = self.console().await?;
            // A query without arguments goes out as a simple query, which is all the
            // console understands.
            let rows = console.fetch_all("SHOW CLIENTS").await.map_err(PgBouncerError::Command)?;
            let _ = console.close().await;
            Ok(rows.iter().filter(|r| r.try_get::<String, _>("database").ok().as_deref() == Some(database)).count()
                as i64)
        })
        .await
    }

    /// Closes the pooler's server connections to `database`: idle ones at once, busy
    /// ones when their transaction ends.
    ///
    /// # Errors
    /// [`PgBouncerError`].
    pub async fn reconnect(&self, database: &str) -> Result<(), PgBouncerError> {
        let plain =
            !database.is_empty() && database.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !plain {
            return Err(PgBouncerError::UnsafeName(database.to_owned()));
        }
        self.bounded(async {
            let mut console = self.console().await?;
            // The console takes no quoted identifiers: the name was checked above.
            let command = format!("RECONNECT {database}");
            console.execute(command.as_str()).await.map_err(PgBouncerError::Command)?;
            let _ = console.close().await;
            Ok(())
        })
        .await
    }
}
