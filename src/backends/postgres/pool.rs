//! The bounded connection pool: connections open on first use, at most `max_connections`
//! across every database, each checked to reach the primary; [`Postgres::with`] runs work
//! on one, retrying transient faults within the operation's deadline.

use super::*;

impl Postgres {
    /// A connection to `database`, reusing an idle one, within the connection cap.
    ///
    /// The cap holds as the server counts too: an idle connection evicted to make room is
    /// closed, and another idle connection watches pg_stat_activity until its server
    /// process has gone, before its permit opens a new one. (A close returns before the
    /// server is done, so without the wait the server would briefly list one too many.)
    ///
    /// # Errors
    /// [`PostgresError::Connect`] when the server cannot be reached or refuses the login.
    pub async fn connect(&self, database: &str) -> Result<Leased, PostgresError> {
        self.bounded(self.connect_unbounded(database)).await
    }

    /// Runs `operation` under the deadline.
    pub(super) async fn bounded<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, PostgresError>>,
    ) -> Result<T, PostgresError> {
        match self.endpoint.deadline.run(operation).await {
            Ok(result) => result,
            Err(Interrupted::TimedOut(waited)) => Err(PostgresError::TimedOut { endpoint: self.endpoint(), waited }),
            Err(Interrupted::Stopped) => Err(PostgresError::Stopped),
        }
    }

    pub(super) async fn connect_unbounded(&self, database: &str) -> Result<Leased, PostgresError> {
        enum Step {
            Reuse(Idle),
            Open(OwnedSemaphorePermit),
            Evict(Idle, Idle),
            Wait,
        }
        let permit = loop {
            // Registered before looking, so a release between the look and the wait is
            // not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let step = {
                let mut idle = self.idle.lock().await;
                if let Some(i) = idle.iter().position(|c| c.database == database) {
                    Step::Reuse(idle.swap_remove(i))
                } else if let Ok(p) = self.permits.clone().try_acquire_owned() {
                    Step::Open(p)
                } else if idle.len() >= 2 {
                    let victim = idle.remove(0);
                    let helper = idle.remove(0);
                    Step::Evict(victim, helper)
                } else if idle.len() == 1 && self.endpoint.max_connections <= 1 {
                    // No second connection to wait with: a plain close is all there is.
                    let only = idle.remove(0);
                    let _ = only.connection.close().await;
                    Step::Open(only.permit)
                } else {
                    // Every permit is in use, or one connection is idle with no peer to end
                    // it from: wait for a release or a free permit.
                    Step::Wait
                }
            };
            match step {
                Step::Reuse(mut reused) => {
                    // A connection idle for a while may have died with a restart or a
                    // failover: one round trip says so, and a dead one is replaced.
                    if reused.released_at.elapsed() < IDLE_CHECK_AFTER || reused.connection.ping().await.is_ok() {
                        return Ok(reused);
                    }
                    self.forget_server_roles();
                    break reused.permit;
                }
                Step::Open(p) => break p,
                Step::Evict(victim, mut helper) => {
                    let pid = victim.backend_pid;
                    let _ = victim.connection.close().await;
                    if wait_for_exit(&mut helper.connection, &[pid]).await.is_ok() {
                        self.release(helper).await;
                    }
                    break victim.permit;
                }
                Step::Wait => {
                    tokio::select! {
                        p = self.permits.clone().acquire_owned() => break p.expect("the semaphore is never closed"),
                        () = released => {}
                        // A caller holding a connection while asking for another would wait
                        // for itself: after a while, close the lone idle one plainly.
                        () = tokio::time::sleep(LONE_IDLE_GRACE) => {
                            let lone = self.idle.lock().await.pop();
                            if let Some(c) = lone {
                                let _ = c.connection.close().await;
                                break c.permit;
                            }
                        }
                    }
                }
            }
        };
        let options = self.options(database);
        let mut connection = retry::transient(
            || async {
                match PgConnection::connect_with(&options).await {
                    Ok(c) => Ok(c),
                    Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("3D000") => {
                        Err(self.missing_database(database).await)
                    }
                    Err(source) => Err(PostgresError::Connect { endpoint: self.endpoint(), source }),
                }
            },
            PostgresError::is_transient,
        )
        .await?;
        // Every change goes to the primary: during a failover the read-write address may
        // reach a replica for a while, where DDL would fail half way (SQLSTATE 25006). In
        // the same round trip, the one setting a database's owner could attach that no
        // startup option can reset on every version (see `options`): 17's `transaction_timeout`.
        let (backend_pid, in_recovery, reset): (i32, bool, Option<String>) = sqlx::query_as(
            "SELECT pg_backend_pid(), pg_is_in_recovery(), \
             CASE WHEN current_setting('transaction_timeout', true) IS NOT NULL \
             THEN set_config('transaction_timeout', '0', false) END",
        )
        .fetch_one(&mut connection)
        .await
        .map_err(sql)?;
        if reset.is_some() {
            self.has_transaction_timeout.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if in_recovery {
            let _ = connection.close().await;
            return Err(PostgresError::NotPrimary { endpoint: self.endpoint() });
        }
        Ok(Leased { database: database.to_owned(), connection, backend_pid, permit, released_at: Instant::now() })
    }

    /// Why `database` is missing: a replica in recovery lacks what the primary has not
    /// yet sent it ([`PostgresError::NotPrimary`], retried), a primary lacks what is gone.
    /// Asking takes one short connection beside the pool's count, only on this error.
    pub(super) async fn missing_database(&self, database: &str) -> PostgresError {
        let gone = PostgresError::NoDatabase { database: database.to_owned(), endpoint: self.endpoint() };
        let Ok(mut c) = PgConnection::connect_with(&self.options(&self.endpoint.database)).await else { return gone };
        let in_recovery: Result<bool, _> = sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&mut c).await;
        let _ = c.close().await;
        match in_recovery {
            Ok(true) => PostgresError::NotPrimary { endpoint: self.endpoint() },
            _ => gone,
        }
    }

    /// Forgets that the server-wide roles the provider makes once exist, and where it
    /// installed the issuer: the server may have changed (a failover can lose their creation).
    fn forget_server_roles(&self) {
        self.issuer_role.store(false, std::sync::atomic::Ordering::SeqCst);
        self.provider_role.store(false, std::sync::atomic::Ordering::SeqCst);
        self.pooler_user_checked.store(false, std::sync::atomic::Ordering::SeqCst);
        self.has_transaction_timeout.store(false, std::sync::atomic::Ordering::SeqCst);
        self.issuer_installed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }

    /// Closes every idle connection without waiting: after a connection broke or its
    /// server stopped being the primary, the others went to the same server.
    pub(super) async fn forget_idle(&self) {
        self.forget_server_roles();
        let idle = std::mem::take(&mut *self.idle.lock().await);
        let closing = idle.into_iter().map(|c| tokio::time::timeout(Duration::from_millis(200), c.connection.close()));
        futures::future::join_all(closing).await;
    }

    /// Ends our idle connections to `database` (they would block dropping or renaming it)
    /// and waits until the server has let them go.
    pub(super) async fn close_idle_to(&self, database: &str) -> Result<(), PostgresError> {
        self.bounded(self.close_idle_to_unbounded(database)).await
    }

    pub(super) async fn close_idle_to_unbounded(&self, database: &str) -> Result<(), PostgresError> {
        let mut helper = self.connect_unbounded(&self.endpoint.database).await?;
        let closing: Vec<Idle> = {
            let mut idle = self.idle.lock().await;
            let (to_db, others) = std::mem::take(&mut *idle).into_iter().partition(|c| c.database == database);
            *idle = others;
            to_db
        };
        let pids: Vec<i32> = closing.iter().map(|c| c.backend_pid).collect();
        for c in closing {
            let _ = c.connection.close().await;
        }
        match wait_for_exit(&mut helper.connection, &pids).await {
            Ok(_) => {
                self.release(helper).await;
                Ok(())
            }
            Err(e) => Err(sql(e)),
        }
    }

    /// Returns a healthy connection to the idle list.
    pub async fn release(&self, mut leased: Leased) {
        leased.released_at = Instant::now();
        self.idle.lock().await.push(leased);
        // Every waiter looks again: the one this connection suits may not be the first.
        self.released.notify_waiters();
    }

    /// Runs `work` on a connection to `database`, retrying transient faults, and returns
    /// the connection for reuse.
    pub(super) async fn with<T, F>(&self, database: &str, work: F) -> Result<T, PostgresError>
    where
        F: for<'c> Fn(&'c mut PgConnection) -> futures::future::BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        self.bounded(retry::transient(
            || async {
                let mut c = self.connect_unbounded(database).await?;
                match work(&mut c).await {
                    Ok(v) => {
                        self.release(c).await;
                        Ok(v)
                    }
                    // A statement the server refused leaves the connection usable; one that
                    // broke it (I/O, protocol) is dropped, and the server has let it go.
                    Err(e) => {
                        // The server ending the session (a restart, a failover, a
                        // terminate) also arrives as a database error: not reusable.
                        // So does a session on a server that is no longer the primary
                        // (read_only_sql_transaction): and then every idle connection is
                        // to that same server, so none is kept.
                        let session_ended = matches!(&e, sqlx::Error::Database(db)
                            if db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "25006"));
                        let reusable = matches!(
                            e,
                            sqlx::Error::Database(_) | sqlx::Error::RowNotFound | sqlx::Error::ColumnDecode { .. }
                        );
                        if reusable && !session_ended {
                            self.release(c).await;
                        } else {
                            self.forget_idle().await;
                        }
                        Err(sql(e))
                    }
                }
            },
            PostgresError::is_transient,
        ))
        .await
    }

    /// Marks the snapshot as out of date: this process changed the catalog.
    pub(super) async fn invalidate(&self) {
        self.catalog.lock().await.mark_changed();
    }
}
