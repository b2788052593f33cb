//! The hang watchdog. Android calls a stalled main thread "Application Not Responding";
//! for Locus the loop that matters is the tracking loop, where a stall means missed GPS
//! fixes, and nothing else would record it: a stalled thread logs nothing.
//!
//! The app names the loops it wants watched ([`crate::Telemetry::watch`]) and beats for
//! them from the loop itself ([`Watch::beat`]: one relaxed store of `true` to the loop's
//! flag — no clock read, no lock, no allocation; a clock read alone costs 9–15 ns on a
//! VM, and `clock_gettime` more on a phone). Telemetry's own thread — the recorder's
//! keeper, four looks a second — takes each flag back (`swap(false)`): a loop whose flag
//! was set beat since the last look, and is alive at this look's stamp. When a loop's
//! last look alive is more than `max_gap` ago, a `hang` record with phase `start` (the
//! loop, its `max_gap`, the gap so far); at the first look that finds it beating again,
//! one with phase `end` and the whole gap, from the last look alive to this one. So a gap
//! is measured to within one look either way (a 1.5 s stall reads 1.25–1.75 s), and a
//! hang starts only once the gap surely passed `max_gap` (no false hang from a loop
//! slower than the looks). The watched thread is never touched. A binding that can take the stalled thread's stack (Kotlin:
//! `Thread.getStackTrace`) polls [`Watch::hang_in_progress`] and hands the text to
//! [`Watch::record_hang_stack`], a `stack` record between the two.
//!
//! While the app says it is in the background, or the device dozes (device
//! [`crate::Conditions`]), gaps are not hangs: no hang starts then, and after the return
//! to the foreground a loop's gap counts from that moment. A hang already in progress
//! still gets its end.
//!
//! Bounded: at most [`MAX_WATCHES`] loops at once, names are short identifiers (they
//! reach the community report's counts, so no free text), `max_gap` in
//! [`MIN_MAX_GAP`]`..=`[`MAX_MAX_GAP`]. A hang is seen within one look (250 ms) after its
//! gap passes `max_gap`; a gap that ends within that look may go unseen. The keeper's
//! look takes one uncontended lock and allocates nothing.

use crate::clock::fast::monotonic_stamp;
use crate::record::HangPhase;
use crate::recorder::WeakRecorder;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How many loops can be watched at once.
pub const MAX_WATCHES: usize = 16;
/// The shortest `max_gap` a loop may have: one look of the keeper (250 ms).
pub const MIN_MAX_GAP: Duration = Duration::from_millis(250);
/// The longest `max_gap` a loop may have: ten minutes.
pub const MAX_MAX_GAP: Duration = Duration::from_secs(600);
/// The longest loop name, in bytes.
pub const MAX_WATCH_NAME: usize = 32;

/// Why [`crate::Telemetry::watch`] refused a loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The name is not a short constant-like identifier.
    #[error("watch name {name:?} is not a short identifier ([a-z][a-z0-9_.-]{{0,31}})")]
    InvalidName {
        /// The name given (its first 64 characters).
        name: String,
    },
    /// `max_gap` is outside [`MIN_MAX_GAP`]`..=`[`MAX_MAX_GAP`].
    #[error("max_gap {ms} ms is outside 250..=600000 ms")]
    MaxGapOutOfRange {
        /// The `max_gap` given, in milliseconds.
        ms: u128,
    },
    /// Another live watch has the same name (clone that [`Watch`] instead).
    #[error("the loop {name:?} is already watched")]
    NameInUse {
        /// The name.
        name: String,
    },
    /// [`MAX_WATCHES`] loops are watched already.
    #[error("at most {max} loops can be watched at once")]
    TooMany {
        /// [`MAX_WATCHES`].
        max: usize,
    },
    /// Telemetry was shut down.
    #[error("telemetry was shut down")]
    ShutDown,
    /// Telemetry failed internally (see `status().problems`); the app goes on.
    #[error("telemetry failed internally; see status().problems")]
    Internal,
}

/// Whether `name` is a watch name: `[a-z][a-z0-9_.-]{0,31}`.
pub(crate) fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_WATCH_NAME
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_.-".contains(c))
}

/// A name of at most [`MAX_WATCH_NAME`] ASCII bytes, kept without allocating per look.
#[derive(Clone, Copy)]
struct Name {
    bytes: [u8; MAX_WATCH_NAME],
    len: u8,
}

impl Name {
    fn new(valid: &str) -> Name {
        let mut bytes = [0; MAX_WATCH_NAME];
        let len = valid.len().min(MAX_WATCH_NAME);
        bytes[..len].copy_from_slice(&valid.as_bytes()[..len]);
        Name {
            bytes,
            len: len as u8,
        }
    }

    fn as_str(&self) -> &str {
        // Validated ASCII: always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// What the loop's thread writes and the binding reads, apart from the table's lock.
struct Beat {
    /// Set by every beat, taken back by each look of the keeper.
    beaten: AtomicBool,
    /// The sequence number of the `start` record of the hang in progress (0: none).
    hang: AtomicU64,
    /// The stamp the hang in progress counts from.
    hang_from: AtomicI64,
    /// The hang whose stack was recorded (one stack per hang).
    stacked: AtomicU64,
}

/// One watched loop, as the keeper sees it.
struct Entry {
    name: Name,
    max_gap_ns: i64,
    beat: Arc<Beat>,
    /// The stamp of the last look that found the loop alive (beaten since the look
    /// before), or of its registration.
    alive_at: i64,
    /// The stamp the hang in progress counts from, and its `start` record.
    hanging: Option<(i64, u64)>,
}

/// The watched loops of one recorder (see the module docs).
pub(crate) struct Watchdog {
    table: Mutex<[Option<Entry>; MAX_WATCHES]>,
    /// In the background or dozing: no hang starts.
    paused: AtomicBool,
    /// When the app last came back to the foreground (a gap counts from then at most).
    resumed_at: AtomicI64,
}

/// What one look of the keeper records: phase, loop, max gap ms, measured ms, the
/// start record's sequence number (0 for a start). Returns the record's number.
pub(crate) type RecordHang<'a> = &'a mut dyn FnMut(HangPhase, &str, u64, u64, u64) -> u64;

impl Watchdog {
    pub fn new() -> Watchdog {
        Watchdog {
            table: Mutex::new(Default::default()),
            paused: AtomicBool::new(false),
            resumed_at: AtomicI64::new(i64::MIN),
        }
    }

    fn lock(&self) -> MutexGuard<'_, [Option<Entry>; MAX_WATCHES]> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a loop (validated here); the recorder writes its hangs.
    pub fn register(
        &self,
        name: &str,
        max_gap: Duration,
        recorder: WeakRecorder,
    ) -> Result<Watch, WatchError> {
        if !valid_name(name) {
            return Err(WatchError::InvalidName {
                name: name.chars().take(64).collect(),
            });
        }
        if !(MIN_MAX_GAP..=MAX_MAX_GAP).contains(&max_gap) {
            return Err(WatchError::MaxGapOutOfRange {
                ms: max_gap.as_millis(),
            });
        }
        let mut table = self.lock();
        if table.iter().flatten().any(|e| e.name.as_str() == name) {
            return Err(WatchError::NameInUse { name: name.into() });
        }
        let Some(free) = table.iter_mut().find(|e| e.is_none()) else {
            return Err(WatchError::TooMany { max: MAX_WATCHES });
        };
        let beat = Arc::new(Beat {
            beaten: AtomicBool::new(false),
            hang: AtomicU64::new(0),
            hang_from: AtomicI64::new(0),
            stacked: AtomicU64::new(0),
        });
        let name = Name::new(name);
        *free = Some(Entry {
            name,
            // In range: at most ten minutes.
            max_gap_ns: max_gap.as_nanos() as i64,
            beat: beat.clone(),
            // A loop that has not beaten yet counts from its registration.
            alive_at: monotonic_stamp(),
            hanging: None,
        });
        Ok(Watch {
            beat: beat.clone(),
            reg: Arc::new(Registration {
                beat,
                name,
                max_gap,
                recorder,
            }),
        })
    }

    fn unregister(&self, beat: &Arc<Beat>) {
        for slot in self.lock().iter_mut() {
            if slot.as_ref().is_some_and(|e| Arc::ptr_eq(&e.beat, beat)) {
                *slot = None;
            }
        }
    }

    /// The app went to the background or the device dozes (`true`), or neither.
    pub fn set_paused(&self, paused: bool) {
        if paused {
            self.paused.store(true, Ordering::Release);
        } else if self.paused.load(Ordering::Acquire) {
            self.resumed_at.store(monotonic_stamp(), Ordering::Release);
            self.paused.store(false, Ordering::Release);
        }
    }

    /// One look at every watched loop at `now` (a [`monotonic_stamp`]): records the
    /// hangs that started and ended since the last look. Allocation-free.
    pub fn look(&self, now: i64, record: RecordHang<'_>) {
        let paused = self.paused.load(Ordering::Acquire);
        let resumed = self.resumed_at.load(Ordering::Acquire);
        for e in self.lock().iter_mut().flatten() {
            let beaten = e.beat.beaten.swap(false, Ordering::Relaxed);
            let expected_ms = ms(e.max_gap_ns);
            match e.hanging {
                // The loop beat again: the hang is over.
                Some((from, start)) if beaten => {
                    e.alive_at = now;
                    record(
                        HangPhase::End,
                        e.name.as_str(),
                        expected_ms,
                        ms(now.saturating_sub(from)),
                        start,
                    );
                    e.beat.hang.store(0, Ordering::Release);
                    e.hanging = None;
                }
                Some(_) => {}
                None if beaten => e.alive_at = now,
                None if !paused => {
                    let from = e.alive_at.max(resumed);
                    if now.saturating_sub(from) > e.max_gap_ns {
                        let start = record(
                            HangPhase::Start,
                            e.name.as_str(),
                            expected_ms,
                            ms(now - from),
                            0,
                        );
                        e.beat.hang_from.store(from, Ordering::Relaxed);
                        e.beat.hang.store(start, Ordering::Release);
                        e.hanging = Some((from, start));
                    }
                }
                None => {}
            }
        }
    }
}

fn ms(ns: i64) -> u64 {
    u64::try_from(ns / 1_000_000).unwrap_or(0)
}

/// A watched loop (see [`crate::Telemetry::watch`]). Cheap to clone (two reference
/// counts) and to beat; `Send + Sync`, so any thread of the loop may beat. Dropping the
/// last clone stops watching the loop (and frees its name and slot).
///
/// ```
/// use locus_telemetry::{Settings, Telemetry};
/// use std::time::Duration;
/// # let dir = tempfile::tempdir().unwrap();
/// let telemetry = Telemetry::start(Settings { data_dir: dir.path().into(), ..Settings::default() });
/// let watch = telemetry.watch("tracking", Duration::from_millis(500)).unwrap();
/// for _fix in 0..3 {
///     watch.beat(); // one relaxed atomic store, a few nanoseconds
///     // ... wait for the next GPS fix, record it ...
/// }
/// assert_eq!(watch.name(), "tracking");
/// assert!(telemetry.watch("Tracking loop!", Duration::from_millis(500)).is_err());
/// # telemetry.shutdown(Duration::from_millis(500));
/// ```
#[derive(Clone)]
pub struct Watch {
    beat: Arc<Beat>,
    reg: Arc<Registration>,
}

/// Unregisters the loop when the last [`Watch`] clone goes.
struct Registration {
    beat: Arc<Beat>,
    name: Name,
    max_gap: Duration,
    recorder: WeakRecorder,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(r) = self.recorder.upgrade() {
            r.watchdog().unregister(&self.beat);
        }
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("name", &self.name())
            .field("max_gap", &self.reg.max_gap)
            .finish()
    }
}

impl Watch {
    /// The loop is alive: one relaxed atomic store (a flag the keeper takes back at each
    /// look; no clock read). Never locks, allocates, blocks or panics; call it once per
    /// iteration of the loop.
    #[inline]
    pub fn beat(&self) {
        self.beat.beaten.store(true, Ordering::Relaxed);
    }

    /// The loop's name.
    pub fn name(&self) -> &str {
        self.reg.name.as_str()
    }

    /// The loop's `max_gap`.
    pub fn max_gap(&self) -> Duration {
        self.reg.max_gap
    }

    /// The sequence number of the `start` record of this loop's hang in progress, if it
    /// is in one (what a binding polls to know when to take the thread's stack).
    pub fn hang_in_progress(&self) -> Option<u64> {
        match self.beat.hang.load(Ordering::Acquire) {
            0 => None,
            seq => Some(seq),
        }
    }

    /// Records `stack`, the stalled thread's stack taken by a binding, for the hang whose
    /// `start` record is `hang` (from [`Watch::hang_in_progress`]): a `hang` record of
    /// phase `stack`, cut to about 4 KiB. Only while that hang is in progress, once per
    /// hang; returns the record's sequence number, or `None` when it was not recorded.
    pub fn record_hang_stack(&self, hang: u64, stack: &str) -> Option<u64> {
        let b = &self.beat;
        if hang == 0 || b.hang.load(Ordering::Acquire) != hang {
            return None;
        }
        if b.stacked.swap(hang, Ordering::AcqRel) == hang {
            return None;
        }
        let so_far = monotonic_stamp().saturating_sub(b.hang_from.load(Ordering::Relaxed));
        let recorder = self.reg.recorder.upgrade()?;
        let seq = recorder.hang_stack(
            self.name(),
            self.reg.max_gap.as_millis() as u64,
            ms(so_far),
            hang,
            stack,
        );
        (seq != 0).then_some(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::FlightRecorder;

    /// The registration stamp of the only watched loop.
    fn registered_at(dog: &Watchdog) -> i64 {
        dog.lock()
            .iter()
            .flatten()
            .map(|e| e.alive_at)
            .next()
            .unwrap()
    }

    #[test]
    fn names_are_short_identifiers() {
        for ok in ["tracking", "a", "gps.loop-2_b", &"x".repeat(32)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Tracking",
            "2loop",
            "my loop",
            "trä",
            &"x".repeat(33),
            "a/b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn registration_is_validated_and_bounded() {
        let rec = FlightRecorder::in_memory(64 * 1024);
        let ms500 = Duration::from_millis(500);
        assert!(matches!(
            rec.watch("Bad Name", ms500),
            Err(WatchError::InvalidName { .. })
        ));
        assert_eq!(
            rec.watch("t", Duration::from_millis(249)).err(),
            Some(WatchError::MaxGapOutOfRange { ms: 249 })
        );
        assert!(rec.watch("t", Duration::from_secs(601)).is_err());
        let first = rec.watch("t", ms500).unwrap();
        assert_eq!(
            rec.watch("t", ms500).err(),
            Some(WatchError::NameInUse { name: "t".into() })
        );
        let more: Vec<Watch> = (1..MAX_WATCHES)
            .map(|i| rec.watch(&format!("t{i}"), ms500).unwrap())
            .collect();
        assert_eq!(
            rec.watch("one_more", ms500).err(),
            Some(WatchError::TooMany { max: MAX_WATCHES })
        );
        // Dropping the last clone frees the slot and the name.
        let clone = first.clone();
        drop(first);
        assert!(rec.watch("one_more", ms500).is_err());
        drop(clone);
        assert!(rec.watch("t", ms500).is_ok());
        drop(more);
    }

    /// The looks, driven with chosen stamps: one start, one end measured between looks.
    #[test]
    fn a_gap_past_max_gap_is_one_hang_measured_between_looks() {
        let rec = FlightRecorder::in_memory(64 * 1024);
        let w = rec.watch("tracking", Duration::from_millis(500)).unwrap();
        let dog = rec.watchdog();
        let mut seen = Vec::new();
        let mut next = 10u64;
        let mut record = |p: HangPhase, n: &str, e: u64, m: u64, s: u64| {
            seen.push((p, n.to_owned(), e, m, s));
            next += 1;
            next
        };
        let t0 = registered_at(dog);
        let ms = 1_000_000i64;
        // Alive at 250 ms, then stalled: seen past max_gap at 1000 ms, beating again at
        // the look of 2000 ms.
        w.beat();
        dog.look(t0 + 250 * ms, &mut record);
        dog.look(t0 + 500 * ms, &mut record);
        dog.look(t0 + 750 * ms, &mut record);
        dog.look(t0 + 1000 * ms, &mut record);
        assert_eq!(w.hang_in_progress(), Some(11));
        w.beat();
        dog.look(t0 + 2000 * ms, &mut record);
        w.beat();
        dog.look(t0 + 2250 * ms, &mut record);
        assert_eq!(
            seen,
            vec![
                (HangPhase::Start, "tracking".into(), 500, 750, 0),
                (HangPhase::End, "tracking".into(), 500, 1750, 11),
            ]
        );
        assert_eq!(w.hang_in_progress(), None);
    }

    #[test]
    fn no_hang_starts_in_the_background_and_the_gap_counts_from_the_return() {
        let rec = FlightRecorder::in_memory(64 * 1024);
        let _w = rec.watch("tracking", Duration::from_millis(500)).unwrap();
        let dog = rec.watchdog();
        let starts = std::cell::Cell::new(0);
        let mut record = |p: HangPhase, _: &str, _: u64, _: u64, _: u64| {
            starts.set(starts.get() + usize::from(p == HangPhase::Start));
            1
        };
        let t0 = registered_at(dog);
        dog.set_paused(true);
        dog.look(t0 + 5_000_000_000, &mut record);
        dog.set_paused(false);
        let back = dog.resumed_at.load(Ordering::Relaxed);
        dog.look(back + 100_000_000, &mut record);
        assert_eq!(starts.get(), 0);
        dog.look(back + 600_000_000, &mut record);
        assert_eq!(starts.get(), 1);
    }
}
