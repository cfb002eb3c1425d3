//! Bounded retries for transient faults: a dropped connection, a primary failing over,
//! a Vault 5xx. A persistent fault still ends in one clear error, within seconds.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Runs `operation` until it succeeds, fails with an error `is_transient` rejects, or has
/// been tried five times over about three seconds. Each retry is logged at WARN with its
/// attempt number and cause.
pub async fn transient<T, E, F, Fut>(operation: F, is_transient: fn(&E) -> bool) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut failed = 0;
    operation
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(1))
                .with_max_times(4)
                .with_jitter(),
        )
        .sleep(tokio::time::sleep)
        .when(is_transient)
        .notify(|e: &E, pause: Duration| {
            failed += 1;
            tracing::warn!(
                attempt = failed,
                retry_in_ms = pause.as_millis() as u64,
                "attempt {failed} failed, retrying: {e}"
            );
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::transient;

    #[tokio::test(start_paused = true)]
    async fn transient_faults_are_retried_until_success() {
        let attempts = AtomicU32::new(0);
        let result: Result<u32, &str> = transient(
            || async {
                let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                if n < 3 { Err("connection reset") } else { Ok(n) }
            },
            |_| true,
        )
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded() {
        let attempts = AtomicU32::new(0);
        let result: Result<(), &str> = transient(
            || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err("still failing over")
            },
            |_| true,
        )
        .await;
        assert_eq!(result, Err("still failing over"));
        assert_eq!(attempts.load(Ordering::SeqCst), 5, "one try and four retries");
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let attempts = AtomicU32::new(0);
        let _: Result<(), &str> = transient(
            || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err("syntax error")
            },
            |_| false,
        )
        .await;
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
