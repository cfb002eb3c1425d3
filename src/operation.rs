//! One Terraform request is one operation. Once a call to a service has timed out in it,
//! further calls to that service in the same operation fail at once, instead of each
//! waiting its own `timeout`: a black-holed PostgreSQL made one apply wait once per step
//! and once more per step of undoing (30 s with `timeout = "5s"`). What the failed
//! operation could not undo is then named in its diagnostic and kept in state, as for any
//! other failure.
//!
//! The plugin layer opens the scope around each request; the backends' deadlines consult
//! it. Work outside a scope (unit tests, tasks spawned inside a request) remembers nothing.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Mutex;

tokio::task_local! {
    static TIMED_OUT: Mutex<BTreeSet<String>>;
}

/// Runs `work` as one operation.
pub async fn scope<F: Future>(work: F) -> F::Output {
    TIMED_OUT.scope(Mutex::new(BTreeSet::new()), work).await
}

/// Whether a call to `service` (a service, or one node of it) has already timed out in
/// this operation.
pub fn timed_out(service: &str) -> bool {
    TIMED_OUT.try_with(|seen| seen.lock().is_ok_and(|seen| seen.contains(service))).unwrap_or(false)
}

/// Records that a call to `service` timed out in this operation.
pub fn record_time_out(service: &str) {
    let _ = TIMED_OUT.try_with(|seen| {
        if let Ok(mut seen) = seen.lock() {
            seen.insert(service.to_owned());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_time_out_is_remembered_for_its_service_within_its_operation_only() {
        scope(async {
            assert!(!timed_out("postgres"));
            record_time_out("postgres");
            assert!(timed_out("postgres"));
            assert!(!timed_out("vault"));
        })
        .await;
        scope(async { assert!(!timed_out("postgres")) }).await;
        record_time_out("postgres");
        assert!(!timed_out("postgres"), "outside a scope nothing is remembered");
    }
}
