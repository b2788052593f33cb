//! Choosing the next batch: the records after a destination's last shipped sequence
//! number, oldest first, bounded in count and bytes, and the persisted cursor that makes
//! a restart neither re-send nor skip.
//!
//! A gap in sequence numbers is normally loss (overwritten before it could be read), but
//! a gap followed by very fresh records may be a write still in flight on another
//! thread: such a batch stops before the gap and the rest waits for the next round.

use crate::data_dir::{DataDir, StateFile};
use crate::record::Record;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use crate::state::{CursorState};

/// Bounds of one batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most records.
    pub max_records: usize,
    /// Most bytes of JSON (estimated).
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_records: 5_000,
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// How long a gap next to fresh records is given to fill.
pub const FRESH_GAP: Duration = Duration::from_millis(250);

fn estimate(r: &Record) -> usize {
    use crate::record::Body;
    96 + match &r.body {
        Body::Log(l) => {
            l.target.len()
                + l.message.len()
                + l.fields
                    .iter()
                    .map(|(k, v)| {
                        k.len()
                            + 24
                            + if let crate::record::Value::Str(s) = v {
                                s.len()
                            } else {
                                0
                            }
                    })
                    .sum::<usize>()
        }
        Body::Crash(c) => c.message.len() + c.backtrace.len() + c.location.len() + 128,
        Body::Metric(m) => m.name.len() + 32,
        Body::Histogram(h) => h.name.len() + 96,
        Body::Session(_) => 64,
        Body::Hang(h) => h.loop_name.len() + h.stack.as_ref().map_or(0, String::len) + 96,
    }
}

/// The next batch from `records` (sorted by seq) after `after`. With `hold_fresh_gaps`,
/// stops before a gap whose following record is younger than [`FRESH_GAP`] at `now`.
pub fn next_batch(
    records: &[Record],
    after: u64,
    limits: BatchLimits,
    now: chrono::DateTime<chrono::Utc>,
    hold_fresh_gaps: bool,
) -> Vec<Record> {
    let start = records.partition_point(|r| r.seq <= after);
    // A gap can only be a write in flight when the record before it is still here; a
    // gap right after a cursor whose record was overwritten is loss, shipped past at once
    // (otherwise an app logging faster than a ring per FRESH_GAP would starve uploads).
    let mut prev_present = start > 0 && records[start - 1].seq == after;
    let mut out: Vec<Record> = Vec::new();
    let mut bytes = 0;
    let mut prev = after;
    for r in &records[start..] {
        let gap = prev != 0 && r.seq != prev + 1;
        if gap && prev_present && hold_fresh_gaps {
            let age = now
                .signed_duration_since(r.ts)
                .to_std()
                .unwrap_or(Duration::ZERO);
            if age < FRESH_GAP {
                break;
            }
        }
        let size = estimate(r);
        if !out.is_empty() && (out.len() >= limits.max_records || bytes + size > limits.max_bytes) {
            break;
        }
        bytes += size;
        prev = r.seq;
        prev_present = true;
        out.push(r.clone());
    }
    out
}

/// The persisted "last shipped" sequence number of one destination.
#[derive(Debug)]
pub struct Cursor {
    path: PathBuf,
    last: u64,
}


impl Cursor {
    /// Loads the cursor of `name` from `data_dir` (0 when missing, damaged or not a
    /// regular file; never blocks).
    pub fn load(data_dir: &Path, name: &str) -> Cursor {
        let data = DataDir::new(data_dir);
        let last = data
            .cursor(name)
            .ok()
            .flatten()
            .map_or(0, |c| c.last_shipped_seq);
        Cursor {
            path: data.path(StateFile::Cursor(name)),
            last,
        }
    }

    /// The last shipped sequence number.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Moves the cursor and persists it (best effort: a read-only dir keeps it in memory).
    pub fn advance(&mut self, to: u64) {
        self.last = to;
        if let Ok(json) = serde_json::to_vec(&CursorState {
            last_shipped_seq: to,
        }) {
            let _ = crate::state_file::replace(&self.path, &json);
        }
    }

    /// A ring that restarted its numbering (replaced file) makes the cursor start over.
    pub fn reconcile(&mut self, newest_in_ring: Option<u64>) {
        if let Some(newest) = newest_in_ring {
            if newest < self.last {
                self.advance(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, Level, LogRecord};

    fn rec(seq: u64, age_ms: i64) -> Record {
        let ts = chrono::Utc::now() - chrono::Duration::milliseconds(age_ms);
        Record {
            seq,
            ts,
            body: Body::Log(LogRecord {
                level: Level::Info,
                target: "t".into(),
                message: "m".into(),
                fields: vec![],
            }),
        }
    }

    #[test]
    fn takes_what_follows_the_cursor_in_order_and_bounded() {
        let records: Vec<Record> = (1..=10).map(|s| rec(s, 10_000)).collect();
        let now = chrono::Utc::now();
        let b = next_batch(&records, 3, BatchLimits::default(), now, true);
        assert_eq!(
            b.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (4..=10).collect::<Vec<_>>()
        );
        let limits = BatchLimits {
            max_records: 4,
            max_bytes: usize::MAX,
        };
        assert_eq!(next_batch(&records, 0, limits, now, true).len(), 4);
    }

    #[test]
    fn an_old_gap_is_loss_but_a_fresh_gap_waits() {
        let now = chrono::Utc::now();
        let old = vec![rec(1, 10_000), rec(3, 10_000)];
        assert_eq!(
            next_batch(&old, 0, BatchLimits::default(), now, true).len(),
            2
        );
        let fresh = vec![rec(1, 10_000), rec(3, 0)];
        assert_eq!(
            next_batch(&fresh, 0, BatchLimits::default(), now, true).len(),
            1
        );
        assert_eq!(
            next_batch(&fresh, 0, BatchLimits::default(), now, false).len(),
            2
        );
    }

    #[test]
    fn cursor_persists_and_resets_for_a_new_ring() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cursor::load(dir.path(), "s3");
        assert_eq!(c.last(), 0);
        c.advance(42);
        let mut c = Cursor::load(dir.path(), "s3");
        assert_eq!(c.last(), 42);
        c.reconcile(Some(7));
        assert_eq!(Cursor::load(dir.path(), "s3").last(), 0);
    }
}
