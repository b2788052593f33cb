//! What a reader gets back from a ring: the records of a gap-free window, oldest first,
//! and honest counts of what is not there (torn, truncated, lapped). One rule for every
//! reader — the app's `snapshot()`, the Debug screen, recovery and `locus-diag`.

use super::{decode, layout};
use crate::record::Record;

/// Records read back, oldest first: a window of consecutive sequence numbers.
///
/// A ring that has lapped holds, at its old end, a few records whose neighbours in
/// sequence were already overwritten (threads fill chunks of their own, so records of
/// one moment sit in several chunks that are overwritten one after the other). Those
/// are left out, so the window starts after the last record lost to the lap and
/// `missing` counts only records inside it that were never completed: torn by a kill,
/// still being written, or — rare, with more writers than cores — written by a thread
/// preempted mid-record for as long as the whole ring took to lap under it (its record
/// and the one it landed on are torn; the checksum tells).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Valid records sorted by sequence number.
    pub records: Vec<Record>,
    /// Sequence numbers missing between the first and last record (torn, or in flight).
    pub missing: u64,
    /// Records whose content was truncated when written.
    pub truncated: usize,
    /// Valid records left out at the old end, among records the ring had overwritten.
    pub lapped: usize,
}

impl Snapshot {
    /// `ring_bytes`: the size of the slot area the records were found in.
    pub(crate) fn from_found(mut found: Vec<decode::Found>, ring_bytes: usize) -> Snapshot {
        found.sort_by_key(|f| f.record.seq);
        found.dedup_by_key(|f| f.record.seq);
        let start = window_start(&found, ring_bytes);
        let lapped = found.partition_point(|f| f.record.seq < start);
        found.drain(..lapped);
        let truncated = found.iter().filter(|f| f.truncated).count();
        let missing = match (found.first(), found.last()) {
            (Some(a), Some(b)) => (b.record.seq - a.record.seq + 1) - found.len() as u64,
            _ => 0,
        };
        Snapshot {
            records: found.into_iter().map(|f| f.record).collect(),
            missing,
            truncated,
            lapped,
        }
    }

    /// How many sequence numbers in `range` have no record in the window: records of
    /// that span that were overwritten, torn or are still being written.
    ///
    /// ```
    /// let rec = locus_telemetry::recorder::FlightRecorder::in_memory(64 * 1024);
    /// let first = rec.next_seq();
    /// rec.log(locus_telemetry::record::Level::Info, "app", "one", &[]);
    /// assert_eq!(rec.snapshot().absent_in(first..rec.next_seq()), 0);
    /// assert_eq!(rec.snapshot().absent_in(first..first + 3), 2);
    /// ```
    pub fn absent_in(&self, range: std::ops::Range<u64>) -> u64 {
        let lo = self.records.partition_point(|r| r.seq < range.start);
        let hi = self.records.partition_point(|r| r.seq < range.end);
        (range.end.saturating_sub(range.start)).saturating_sub((hi - lo) as u64)
    }
}

/// The first sequence number of the gap-free window over `found` (sorted, deduplicated)
/// in a slot area of `ring_bytes`.
///
/// Chunks are leased in sequence order, and every chunk's records lie within
/// [`layout::lease_span`] records of the one that leased it (its first record). So once
/// the ring has lapped — the chunk just before the oldest lease holds records — what it
/// overwrote lay in chunks leased before the oldest surviving one, below `oldest lease +
/// span`: a sequence number missing below that bound may have been lapped, one above it
/// was torn. The window starts after the last possibly-lapped gap. In a ring that has
/// not lapped, every gap is a torn record.
fn window_start(found: &[decode::Found], ring_bytes: usize) -> u64 {
    let Some(first) = found.first() else {
        return 0;
    };
    let n_chunks = (ring_bytes / layout::CHUNK).max(1);
    let chunk_of = |f: &decode::Found| f.slot / layout::CHUNK_SLOTS;
    let Some(oldest) = found
        .iter()
        .filter(|f| f.slot % layout::CHUNK_SLOTS == 0)
        .min_by_key(|f| f.record.seq)
    else {
        return first.record.seq;
    };
    let before = (chunk_of(oldest) + n_chunks - 1) % n_chunks;
    if !found.iter().any(|f| chunk_of(f) == before) {
        return first.record.seq;
    }
    let bound = oldest
        .record
        .seq
        .saturating_add(layout::lease_span(ring_bytes));
    let mut start = first.record.seq;
    for pair in found.windows(2) {
        let (a, b) = (pair[0].record.seq, pair[1].record.seq);
        if a >= bound {
            break;
        }
        if b > a + 1 {
            start = b;
        }
    }
    start
}
