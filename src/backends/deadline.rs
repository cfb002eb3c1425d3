//! How long one operation with a service may take, and the stop signal that ends it
//! early. Every public call of a backend runs under its service's [`Deadline`]: connect,
//! retries and statements included.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The bound on one operation, and the signal Terraform's StopProvider raises.
#[derive(Clone, Debug)]
pub struct Deadline {
    /// The longest one operation may take.
    pub timeout: Duration,
    /// Cancelled when Terraform asks the provider to stop (Ctrl-C).
    pub stop: CancellationToken,
    /// The service it bounds (`postgres`, `vault`, ...): once a call to it has timed out
    /// in a Terraform request, its other calls in that request fail at once
    /// ([`crate::operation`]).
    pub service: &'static str,
    /// When the service was last waited for in vain in this process, shared by every
    /// clone: see [`Trips`].
    pub trips: Trips,
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline {
            timeout: Duration::from_secs(60),
            stop: CancellationToken::new(),
            service: "service",
            trips: Trips::default(),
        }
    }
}

/// A provider process's memory of services that did not answer. When a call to one times
/// out and no call to it has finished since that call began, the service is silent: every
/// other call waiting on it ends at once with the same error, and calls made within one
/// `timeout` after fail at once too. Requests of one Terraform command run side by side,
/// and each waited its own `timeout` (one after the other where they queue for a lock or a
/// connection): 6 databases on a black-holed server took 6 times the timeout. A call that
/// times out while others finish (queued behind a busy pool in a 150-database destroy, a
/// `DROP DATABASE` waiting on a checkpoint) fails alone, as before. A later call (past the
/// window) tries the service again: a failover ends.
#[derive(Clone, Debug, Default)]
pub struct Trips(Arc<Mutex<HashMap<String, Trip>>>);

#[derive(Debug, Default)]
struct Trip {
    /// When a call to it last timed out with the service silent.
    at: Option<Instant>,
    /// When a call to it last finished (with an answer or an error, but not a time-out).
    answered: Option<Instant>,
    /// Cancelled when a call times out: the calls waiting then end with it.
    waiting: CancellationToken,
}

impl Trips {
    /// The signal a new call to `service` waits on beside its own deadline, or `None`
    /// when a call to it timed out less than `window` ago.
    fn enter(&self, service: &str, window: Duration) -> Option<CancellationToken> {
        let mut trips = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let trip = trips.entry(service.to_owned()).or_default();
        if trip.at.is_some_and(|at| at.elapsed() < window) {
            return None;
        }
        if trip.waiting.is_cancelled() {
            trip.waiting = CancellationToken::new();
        }
        Some(trip.waiting.clone())
    }

    /// Records that a call to `service` finished: the service is not silent.
    fn answered(&self, service: &str) {
        let mut trips = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(trip) = trips.get_mut(service) {
            trip.answered = Some(Instant::now());
        }
    }

    /// Records that a call to `service` begun at `started` timed out; when no call to it
    /// has finished since, ends the calls waiting on it.
    fn timed_out(&self, service: &str, started: Instant) {
        let mut trips = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(trip) = trips.get_mut(service)
            && trip.answered.is_none_or(|answered| answered < started)
        {
            trip.at = Some(Instant::now());
            trip.waiting.cancel();
        }
    }
}

/// Why an operation ended before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// It ran out of time; the duration waited.
    TimedOut(Duration),
    /// Terraform asked the provider to stop.
    Stopped,
}

impl Deadline {
    /// Runs `operation` until it finishes, runs out of time, or the provider is stopped;
    /// in the last two cases it is dropped where it stands (a connection it held is
    /// closed, not reused).
    ///
    /// # Errors
    /// [`Interrupted`] when it did not finish.
    pub async fn run<T>(&self, operation: impl Future<Output = T>) -> Result<T, Interrupted> {
        self.run_on(self.service, operation).await
    }

    /// [`Deadline::run`] for one node of a service with several (Redis): a node that timed
    /// out does not make its healthy peers fail in the same operation.
    ///
    /// # Errors
    /// [`Interrupted`] when it did not finish.
    pub async fn run_for_node<T>(&self, node: &str, operation: impl Future<Output = T>) -> Result<T, Interrupted> {
        self.run_on(&format!("{}:{node}", self.service), operation).await
    }

    async fn run_on<T>(&self, service: &str, operation: impl Future<Output = T>) -> Result<T, Interrupted> {
        let timed_out = Err(Interrupted::TimedOut(self.timeout));
        if crate::operation::timed_out(service) {
            return timed_out;
        }
        let Some(others_timed_out) = self.trips.enter(service, self.timeout) else { return timed_out };
        let started = Instant::now();
        // A finished operation wins over the others' time-out: what it did is reported.
        let result = tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(Interrupted::Stopped),
            result = tokio::time::timeout(self.timeout, operation) => match result {
                Ok(done) => {
                    self.trips.answered(service);
                    Ok(done)
                }
                Err(_) => {
                    self.trips.timed_out(service, started);
                    timed_out
                }
            },
            () = others_timed_out.cancelled() => timed_out,
        };
        if let Err(Interrupted::TimedOut(_)) = result {
            crate::operation::record_time_out(service);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_operation_that_never_answers_times_out() {
        let deadline = Deadline { timeout: Duration::from_secs(5), ..Deadline::default() };
        let result = deadline.run(std::future::pending::<()>()).await;
        assert_eq!(result, Err(Interrupted::TimedOut(Duration::from_secs(5))));
    }

    #[tokio::test]
    async fn stop_ends_an_operation_at_once() {
        let deadline = Deadline { timeout: Duration::from_secs(3600), ..Deadline::default() };
        let stop = deadline.stop.clone();
        tokio::spawn(async move { stop.cancel() });
        assert_eq!(deadline.run(std::future::pending::<()>()).await, Err(Interrupted::Stopped));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_time_out_the_same_service_fails_at_once_in_that_operation() {
        let deadline = Deadline { timeout: Duration::from_secs(5), service: "postgres", ..Deadline::default() };
        let other = Deadline { timeout: Duration::from_secs(5), service: "vault", ..Deadline::default() };
        crate::operation::scope(async {
            assert!(deadline.run(std::future::pending::<()>()).await.is_err());
            let started = tokio::time::Instant::now();
            assert_eq!(deadline.run(async { 7 }).await, Err(Interrupted::TimedOut(Duration::from_secs(5))));
            assert_eq!(started.elapsed(), Duration::ZERO, "it waited again");
            assert_eq!(other.run(async { 7 }).await, Ok(7), "another service is not affected");
        })
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(deadline.run(async { 7 }).await, Ok(7), "the next operation, past the window, starts afresh");
    }

    #[tokio::test(start_paused = true)]
    async fn a_time_out_ends_the_calls_waiting_with_it_and_fails_new_ones_for_one_timeout() {
        let deadline = Deadline { timeout: Duration::from_secs(5), service: "postgres", ..Deadline::default() };
        let started = tokio::time::Instant::now();
        // Six calls of six requests on a server that never answers, the later ones queued
        // behind the first: all end when the first times out.
        let waiting = (0..6).map(|i| {
            let deadline = deadline.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 500)).await;
                deadline.run(std::future::pending::<()>()).await
            })
        });
        for result in futures::future::join_all(waiting).await {
            assert_eq!(result.unwrap(), Err(Interrupted::TimedOut(Duration::from_secs(5))));
        }
        assert_eq!(started.elapsed(), Duration::from_secs(5), "each waited its own timeout");
        // A call within one timeout after fails at once; one after that tries again.
        assert!(deadline.run(async { 7 }).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(deadline.run(async { 7 }).await, Ok(7), "the service is tried again");
        let other = Deadline { service: "vault", trips: deadline.trips.clone(), ..deadline.clone() };
        assert_eq!(other.run(async { 7 }).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_time_out_while_other_calls_finish_fails_alone() {
        let deadline = Deadline { timeout: Duration::from_secs(5), service: "postgres", ..Deadline::default() };
        let (slow, busy) = (deadline.clone(), deadline.clone());
        let slow = tokio::spawn(async move { slow.run(std::future::pending::<()>()).await });
        // A busy server: other calls keep finishing while the slow one waits.
        let busy = tokio::spawn(async move {
            for _ in 0..10 {
                assert_eq!(busy.run(tokio::time::sleep(Duration::from_secs(1))).await, Ok(()));
            }
        });
        assert!(slow.await.unwrap().is_err());
        busy.await.unwrap();
        assert_eq!(deadline.run(async { 7 }).await, Ok(7), "the service was never taken for silent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_timed_out_does_not_fail_its_peers() {
        let deadline = Deadline { timeout: Duration::from_secs(5), service: "redis", ..Deadline::default() };
        crate::operation::scope(async {
            assert!(deadline.run_for_node("replica:6379", std::future::pending::<()>()).await.is_err());
            assert!(deadline.run_for_node("replica:6379", async { 7 }).await.is_err());
            assert_eq!(deadline.run_for_node("primary:6379", async { 7 }).await, Ok(7));
        })
        .await;
    }

    #[tokio::test]
    async fn an_operation_that_finishes_returns_its_result() {
        assert_eq!(Deadline::default().run(async { 7 }).await, Ok(7));
    }
}
