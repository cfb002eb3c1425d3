//! A catalog snapshot that one provider process serves reads from for a few seconds, and
//! whether the process changed the catalog since it was read. The PostgreSQL and MySQL
//! clients both keep one: a refresh of many databases costs one round trip, and after a
//! change, reads ask the server for the objects they name instead of reloading it all.

use std::time::{Duration, Instant};

/// The last full read of a server's catalog.
pub(crate) struct Snapshot<T> {
    taken: Option<(Instant, T)>,
    changed: bool,
}

impl<T> Default for Snapshot<T> {
    fn default() -> Snapshot<T> {
        Snapshot { taken: None, changed: false }
    }
}

impl<T: Clone> Snapshot<T> {
    /// The snapshot, while it is younger than `ttl` and this process changed nothing since.
    pub(crate) fn fresh(&self, ttl: Duration) -> Option<T> {
        match &self.taken {
            Some((at, value)) if at.elapsed() < ttl && !self.changed => Some(value.clone()),
            _ => None,
        }
    }

    /// Keeps `value`, read just now.
    pub(crate) fn replace(&mut self, value: T) {
        *self = Snapshot { taken: Some((Instant::now(), value)), changed: false };
    }

    /// Marks the snapshot out of date: this process changed the catalog.
    pub(crate) fn mark_changed(&mut self) {
        self.changed = true;
    }

    /// Whether this process changed the catalog since the snapshot was read.
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_or_age_ends_a_snapshot() {
        let mut s = Snapshot::default();
        assert_eq!(s.fresh(Duration::from_secs(10)), None);
        s.replace(7);
        assert_eq!(s.fresh(Duration::from_secs(10)), Some(7));
        assert_eq!(s.fresh(Duration::ZERO), None);
        s.mark_changed();
        assert!(s.changed());
        assert_eq!(s.fresh(Duration::from_secs(10)), None);
        s.replace(8);
        assert!(!s.changed());
        assert_eq!(s.fresh(Duration::from_secs(10)), Some(8));
    }
}
