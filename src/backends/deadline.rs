//! How long one operation with a service may take, and the stop signal that ends it
//! early. Every public call of a backend runs under its service's [`Deadline`]: connect,
//! retries and statements included.

use std::future::Future;
use std::time::Duration;

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
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline { timeout: Duration::from_secs(60), stop: CancellationToken::new(), service: "service" }
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
        if crate::operation::timed_out(service) {
            return Err(Interrupted::TimedOut(self.timeout));
        }
        let result = tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(Interrupted::Stopped),
            result = tokio::time::timeout(self.timeout, operation) => result.map_err(|_| Interrupted::TimedOut(self.timeout)),
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
        assert_eq!(deadline.run(async { 7 }).await, Ok(7), "the next operation starts afresh");
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
