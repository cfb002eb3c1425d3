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
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline { timeout: Duration::from_secs(60), stop: CancellationToken::new() }
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
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(Interrupted::Stopped),
            result = tokio::time::timeout(self.timeout, operation) => result.map_err(|_| Interrupted::TimedOut(self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_operation_that_never_answers_times_out() {
        let deadline = Deadline { timeout: Duration::from_secs(5), stop: CancellationToken::new() };
        let result = deadline.run(std::future::pending::<()>()).await;
        assert_eq!(result, Err(Interrupted::TimedOut(Duration::from_secs(5))));
    }

    #[tokio::test]
    async fn stop_ends_an_operation_at_once() {
        let deadline = Deadline { timeout: Duration::from_secs(3600), stop: CancellationToken::new() };
        let stop = deadline.stop.clone();
        tokio::spawn(async move { stop.cancel() });
        assert_eq!(deadline.run(std::future::pending::<()>()).await, Err(Interrupted::Stopped));
    }

    #[tokio::test]
    async fn an_operation_that_finishes_returns_its_result() {
        assert_eq!(Deadline::default().run(async { 7 }).await, Ok(7));
    }
}
