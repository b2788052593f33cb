//! Counters of what the collector accepted and refused, per process, shown by
//! `/healthz`. They count events only: no address, pseudonym or content is kept.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Ingest counters since this process started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Reports stored.
    pub accepted: AtomicU64,
    /// Reports already stored (or forgotten): answered, not stored again.
    pub duplicates: AtomicU64,
    /// Reports refused because a string looked like location or personal data.
    pub rejected_pii: AtomicU64,
    /// Requests refused as malformed, unknown-schema or invalid.
    pub rejected_invalid: AtomicU64,
    /// Requests refused for size (body or decompressed body too large).
    pub rejected_too_large: AtomicU64,
    /// Requests refused by a rate limit.
    pub rate_limited: AtomicU64,
    /// Deletion requests served.
    pub deletions: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// See [`Counters::accepted`].
    pub accepted: u64,
    /// See [`Counters::duplicates`].
    pub duplicates: u64,
    /// See [`Counters::rejected_pii`].
    pub rejected_pii: u64,
    /// See [`Counters::rejected_invalid`].
    pub rejected_invalid: u64,
    /// See [`Counters::rejected_too_large`].
    pub rejected_too_large: u64,
    /// See [`Counters::rate_limited`].
    pub rate_limited: u64,
    /// See [`Counters::deletions`].
    pub deletions: u64,
}

impl Counters {
    /// Adds one to `c`.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            accepted: get(&self.accepted),
            duplicates: get(&self.duplicates),
            rejected_pii: get(&self.rejected_pii),
            rejected_invalid: get(&self.rejected_invalid),
            rejected_too_large: get(&self.rejected_too_large),
            rate_limited: get(&self.rate_limited),
            deletions: get(&self.deletions),
        }
    }
}
