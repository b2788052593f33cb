//! Counters and histograms aggregated in memory, written to the flight recorder as one
//! record per metric per flush instead of one per call (as Glean and OpenTelemetry do).
//!
//! Why: a 100 Hz tracking loop that counts every fix and times it would otherwise write
//! two of its three records per iteration just for metrics, each from cold caches after
//! the loop's sleep (~3 µs apiece), and fill the ring three times faster, leaving the
//! Debug screen a third of the log history. Folding a sample in here touches one entry.
//!
//! The table is fixed (64 metrics, names up to 40 bytes) and never allocates. A call
//! never waits: the entry lock is only ever tried, and a sample that cannot be folded
//! in (entry busy, table full, long name) is written to the ring as a sample record, so
//! nothing is lost. Gauges are not aggregated: a gauge is a value at a point in time.
//!
//! ```
//! use locus_telemetry::recorder::FlightRecorder;
//! use locus_telemetry::record::Body;
//! let rec = FlightRecorder::in_memory(64 * 1024);
//! for ms in [12.0, 20.0, 4.0] {
//!     rec.observe("fix_latency_ms", ms);
//! }
//! rec.count("fixes", 3);
//! rec.flush_metrics();
//! let mut kinds: Vec<&str> = rec.recent(10).iter().map(|r| r.body.kind()).collect();
//! kinds.sort();
//! assert_eq!(kinds, ["histogram", "metric"]); // one record each, not four
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};

/// Distinct metrics the table holds; more are recorded sample by sample.
pub const CAPACITY: usize = 64;
const NAME_WORDS: usize = 5;
/// Longest name aggregated, in bytes; longer names are recorded sample by sample.
pub const MAX_NAME: usize = NAME_WORDS * 8;
/// `key` of an entry being claimed.
const CLAIMING: u64 = 1;
/// Entries looked at for one name: keeps a miss in a crowded table to a few cache lines
/// (a name that finds no room is recorded sample by sample).
const MAX_PROBE: usize = 16;

/// One call's worth of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sample {
    /// An increment of a counter.
    Count(u64),
    /// One observation of a histogram (finite).
    Observe(f64),
}

/// What is aggregated for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    /// A sum of increments.
    Counter,
    /// Count, sum, min and max of observations.
    Histogram,
}

/// A metric's aggregate since the last flush.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    /// Increments (counter total) or observations (histogram).
    pub count: u64,
    /// Sum of observations (histograms).
    pub sum: f64,
    /// Smallest observation.
    pub min: f64,
    /// Largest observation.
    pub max: f64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// One metric: its identity in atomics (lock-free lookup), its window behind a lock that
/// is only ever tried. Two cache lines, so neighbours never share one.
#[repr(align(128))]
struct Entry {
    /// 0 when free, `CLAIMING` while being claimed, else the name's hash (top bit set).
    key: AtomicU64,
    /// Name length, and the kind in bit 32 (set for histograms).
    len: AtomicU64,
    name: [AtomicU64; NAME_WORDS],
    window: Mutex<Window>,
}

/// The fixed table of aggregated metrics.
pub(crate) struct MetricTable {
    entries: Box<[Entry]>,
}

/// The name packed into words, as stored.
fn pack(name: &str) -> [u64; NAME_WORDS] {
    let mut bytes = [0u8; MAX_NAME];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    let mut words = [0u64; NAME_WORDS];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    words
}

/// FNV-1a of kind and name, top bit set so it never equals 0 or `CLAIMING`.
fn key_of(kind: Aggregate, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ kind as u64;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h | 1 << 63
}

impl Entry {
    fn holds(&self, len: u64, words: &[u64; NAME_WORDS]) -> bool {
        self.len.load(Ordering::Relaxed) == len
            && self
                .name
                .iter()
                .zip(words)
                .all(|(a, b)| a.load(Ordering::Relaxed) == *b)
    }

    /// Kind and name, the name copied into `buf`.
    fn identity<'b>(&self, buf: &'b mut [u8; MAX_NAME]) -> Option<(Aggregate, &'b str)> {
        let len = self.len.load(Ordering::Relaxed);
        let kind = if len >> 32 == 0 {
            Aggregate::Counter
        } else {
            Aggregate::Histogram
        };
        for (chunk, w) in buf.chunks_exact_mut(8).zip(&self.name) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let n = ((len as u32) as usize).min(MAX_NAME);
        std::str::from_utf8(&buf[..n]).ok().map(|name| (kind, name))
    }
}

impl MetricTable {
    /// An empty table.
    pub fn new() -> MetricTable {
        MetricTable {
            entries: (0..CAPACITY)
                .map(|_| Entry {
                    key: AtomicU64::new(0),
                    len: AtomicU64::new(0),
                    name: Default::default(),
                    window: Mutex::new(Window::default()),
                })
                .collect(),
        }
    }

    /// The entry for `(kind, name)`, claimed if new; `None` if it cannot be aggregated.
    fn entry(&self, kind: Aggregate, name: &str) -> Option<&Entry> {
        if name.len() > MAX_NAME {
            return None;
        }
        let key = key_of(kind, name);
        let words = pack(name);
        let len = name.len() as u64 | (kind as u64) << 32;
        let start = key as usize % CAPACITY;
        for i in 0..MAX_PROBE {
            let e = &self.entries[(start + i) % CAPACITY];
            let mut k = e.key.load(Ordering::Acquire);
            if k == 0 {
                match e
                    .key
                    .compare_exchange(0, CLAIMING, Ordering::Acquire, Ordering::Acquire)
                {
                    Ok(_) => {
                        e.len.store(len, Ordering::Relaxed);
                        for (slot, w) in e.name.iter().zip(words) {
                            slot.store(w, Ordering::Relaxed);
                        }
                        e.key.store(key, Ordering::Release);
                        return Some(e);
                    }
                    Err(now) => k = now,
                }
            }
            if k == key && e.holds(len, &words) {
                return Some(e);
            }
            // Another thread is naming this entry (perhaps for this very metric): do
            // not wait, and do not claim a second entry for the same name.
            if k == CLAIMING {
                return None;
            }
        }
        None
    }

    /// Folds `sample` into the metric's window. `false` means it was not (the caller
    /// records the sample itself): the entry was busy, no entry was free, the name was
    /// long, or the histogram's sum would overflow to infinity (which no reader could
    /// parse back).
    #[inline]
    pub fn add(&self, name: &str, sample: Sample) -> bool {
        let kind = match sample {
            Sample::Count(_) => Aggregate::Counter,
            Sample::Observe(_) => Aggregate::Histogram,
        };
        let Some(e) = self.entry(kind, name) else {
            return false;
        };
        let mut w = match e.window.try_lock() {
            Ok(w) => w,
            // The window holds plain numbers: a panic elsewhere cannot leave it torn.
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        match sample {
            Sample::Count(n) => w.count = w.count.wrapping_add(n),
            Sample::Observe(v) => {
                let sum = w.sum + v;
                if !sum.is_finite() {
                    return false;
                }
                w.count += 1;
                w.sum = sum;
                w.min = w.min.min(v);
                w.max = w.max.max(v);
            }
        }
        true
    }

    /// Takes every non-empty window, leaving it empty, and hands it to `emit`. Never
    /// waits and never allocates: an entry busy this instant is left for the next flush.
    pub fn drain(&self, mut emit: impl FnMut(Aggregate, &str, Window)) {
        for e in self.entries.iter() {
            let key = e.key.load(Ordering::Acquire);
            if key == 0 || key == CLAIMING {
                continue;
            }
            let window = match e.window.try_lock() {
                Ok(mut w) => std::mem::take(&mut *w),
                Err(TryLockError::Poisoned(p)) => std::mem::take(&mut *p.into_inner()),
                Err(TryLockError::WouldBlock) => continue,
            };
            if window.count == 0 {
                continue;
            }
            let mut buf = [0u8; MAX_NAME];
            if let Some((kind, name)) = e.identity(&mut buf) {
                emit(kind, name, window);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn drained(t: &MetricTable) -> Vec<(Aggregate, String, Window)> {
        let mut out = Vec::new();
        t.drain(|k, n, w| out.push((k, n.to_owned(), w)));
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    #[test]
    fn counters_sum_and_histograms_summarise_until_drained() {
        let t = MetricTable::new();
        for v in [12.0, 4.0, 20.0] {
            assert!(t.add("fix_latency_ms", Sample::Observe(v)));
        }
        assert!(t.add("fixes", Sample::Count(2)));
        assert!(t.add("fixes", Sample::Count(1)));
        let d = drained(&t);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].0, Aggregate::Histogram);
        assert_eq!(
            d[0].2,
            Window {
                count: 3,
                sum: 36.0,
                min: 4.0,
                max: 20.0
            }
        );
        assert_eq!(
            (d[1].0, d[1].1.as_str(), d[1].2.count),
            (Aggregate::Counter, "fixes", 3)
        );
        assert!(drained(&t).is_empty(), "a drained window starts empty");
        assert!(t.add("fixes", Sample::Count(5)));
        assert_eq!(drained(&t)[0].2.count, 5);
    }

    #[test]
    fn same_name_as_counter_and_histogram_are_two_metrics() {
        let t = MetricTable::new();
        assert!(t.add("x", Sample::Count(1)));
        assert!(t.add("x", Sample::Observe(7.0)));
        let d = drained(&t);
        assert_eq!(d.len(), 2);
        assert!(d
            .iter()
            .any(|(k, _, w)| *k == Aggregate::Counter && w.count == 1));
        assert!(d
            .iter()
            .any(|(k, _, w)| *k == Aggregate::Histogram && w.sum == 7.0));
    }

    #[test]
    fn long_names_and_a_crowded_table_are_refused_not_lost() {
        let t = MetricTable::new();
        assert!(!t.add(&"n".repeat(MAX_NAME + 1), Sample::Count(1)));
        assert!(t.add(&"n".repeat(MAX_NAME), Sample::Count(1)));
        let accepted: Vec<String> = (0..200)
            .map(|i| format!("m{i}"))
            .filter(|n| t.add(n, Sample::Count(1)))
            .collect();
        // Probing is bounded, so the table may refuse a name before every entry is used.
        assert!(
            accepted.len() >= CAPACITY / 2 && accepted.len() < CAPACITY,
            "{}",
            accepted.len()
        );
        assert!(
            t.add(&accepted[0], Sample::Count(1)),
            "known names still fold in"
        );
        assert_eq!(drained(&t).len(), accepted.len() + 1);
    }

    #[test]
    fn a_sum_that_would_overflow_is_refused_so_every_window_stays_finite() {
        let t = MetricTable::new();
        assert!(t.add("huge", Sample::Observe(1e308)));
        assert!(!t.add("huge", Sample::Observe(1e308)), "inf sum");
        assert!(t.add("huge", Sample::Observe(-1.0)));
        let d = drained(&t);
        assert_eq!((d[0].2.count, d[0].2.sum), (2, 1e308 - 1.0));
        assert!(t.add("c", Sample::Count(u64::MAX)));
        assert!(t.add("c", Sample::Count(2)));
        assert_eq!(
            drained(&t)[0].2.count,
            1,
            "counters wrap, they do not panic"
        );
    }

    #[test]
    fn concurrent_adds_and_drains_lose_nothing() {
        let t = Arc::new(MetricTable::new());
        let refused = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (t, refused) = (t.clone(), refused.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if !t.add("hits", Sample::Count(1)) {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        let mut total = 0;
        while threads.iter().any(|h| !h.is_finished()) {
            t.drain(|_, _, w| total += w.count);
        }
        for h in threads {
            h.join().expect("adder thread");
        }
        t.drain(|_, _, w| total += w.count);
        assert_eq!(total + refused.load(Ordering::Relaxed), 80_000);
    }
}
