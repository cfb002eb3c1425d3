//! Bounded retries for transient faults: a dropped connection, a primary failing over,
//! a Vault 5xx. A persistent fault still ends in one clear error, within seconds.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Runs `operation` until it succeeds, fails with an error `is_transient` rejects, or has
/// been tried five times over about three seconds.
pub async fn transient<T, E, F, Fut>(operation: F, is_transient: fn(&E) -> bool) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
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
        .await
}
