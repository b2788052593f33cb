//! The Local Circular Buffer of the spec: a crash-safe flight recorder.
//!
//! A fixed-size ring file under the app's data dir, mapped into memory. Recording is
//! lock-free, allocation-free and syscall-free: encode on the stack, take a sequence
//! number, reserve slots in the thread's own chunk, copy, commit. Because the pages
//! belong to the kernel, every record that returned survives the process dying by
//! panic, abort or SIGKILL. If the file cannot be used the recorder falls back to a heap
//! ring and says why in [`FlightRecorder::status`]; the app never notices.
//!
//! ```
//! use locus_telemetry::recorder::{FieldValue, FlightRecorder};
//! use locus_telemetry::record::Level;
//! let dir = tempfile::tempdir().unwrap();
//! let rec = FlightRecorder::open(&dir.path().join("recorder.ring"), 64 * 1024);
//! rec.log(Level::Info, "locus::gps", "fix", &[("hdop", FieldValue::F64(0.8))]);
//! let snap = rec.snapshot();
//! assert_eq!(snap.records.len(), 1);
//! assert!(rec.status().file_backed());
//! ```

mod decode;
mod encode;
pub(crate) mod fault;
mod file;
mod keeper;
mod recent;
pub mod layout;
mod ring;
mod snapshot;
pub mod verbosity;

use crate::metrics::{Aggregate, MetricTable, Sample};
use crate::record::{CrashKind, Level, MetricKind, Record, SessionEvent};
use encode::{Encoder, StrSink};
pub use encode::{FieldValue, TRUNCATION_MARKER};
use ring::Ring;
pub use snapshot::Snapshot;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// Stack buffer for ordinary records: messages longer than this are truncated.
const HOT_BUF: usize = 4096;
/// Stack buffer tried first for log records (most are far smaller), and the whole buffer
/// of small fixed-shape records (metrics, histograms, session markers).
const SMALL_BUF: usize = 512;

/// Why the ring file could not be used (the recorder then runs on the heap).
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// A file-system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What we tried.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process owns the ring file.
    #[error("{path} is in use by another process (only one writer may own a ring file)")]
    Locked {
        /// The ring file.
        path: PathBuf,
    },
    /// The process may not create a file that large.
    #[error("{path}: the ring needs more than the file-size limit of {limit} bytes")]
    FileSizeLimit {
        /// The ring file.
        path: PathBuf,
        /// The limit (RLIMIT_FSIZE).
        limit: u64,
    },
    /// The path is a link, a directory, a FIFO, a device or a socket.
    #[error("{path} is {found}, not a regular file: the ring is never opened through a link or as a special file")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What was found there.
        found: &'static str,
    },
    /// Another process holds a lease on the file; opening would wait for it.
    #[error("{path} is held under a lease by another process (not waiting for it)")]
    Leased {
        /// The ring file.
        path: PathBuf,
    },
    /// Too many ring files are mapped in this process to guard one more against SIGBUS.
    #[error("{path}: too many ring files mapped in this process to guard another one")]
    Unguarded {
        /// The ring file.
        path: PathBuf,
    },
    /// The file is too small to be a ring.
    #[error("{path} is not a Locus ring file (too small or damaged header)")]
    Geometry {
        /// The file.
        path: PathBuf,
    },
}

/// Where the recorder keeps its ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The crash-safe mapped file.
    File(PathBuf),
    /// The heap fallback, with the reason the file was not used.
    Memory(Option<String>),
}

/// The flight recorder as `status()` reports it.
#[derive(Debug, Clone)]
pub struct RecorderStatus {
    /// File or heap (and why).
    pub backend: Backend,
    /// Bytes of ring.
    pub capacity_bytes: usize,
    /// The next sequence number.
    pub next_seq: u64,
    /// Records found in the ring at open.
    pub recovered: usize,
    /// Records salvaged from a damaged or unusable file and re-appended (to the heap
    /// ring, when the file could not be used).
    pub salvaged: usize,
    /// Where a damaged file's bytes were kept.
    pub moved_aside: Option<PathBuf>,
    /// The ring file is locked by another running process (another instance of the app
    /// on the same data dir); this recorder is on the heap.
    pub owned_elsewhere: bool,
}

impl RecorderStatus {
    /// Whether records survive the process dying.
    pub fn file_backed(&self) -> bool {
        matches!(self.backend, Backend::File(_))
    }
}

/// Reads the ring file of another (or a dead) process without disturbing it: a regular
/// file only (never through a link), read with bounded `read`s, never mapped.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("recorder.ring");
/// # drop(locus_telemetry::recorder::FlightRecorder::open(&path, 64 * 1024));
/// let snap = locus_telemetry::recorder::read_ring_file(&path).unwrap();
/// assert!(snap.records.is_empty());
/// ```
pub fn read_ring_file(path: &Path) -> Result<Snapshot, RecorderError> {
    file::read_only(path).map(|(found, ring_bytes)| Snapshot::from_found(found, ring_bytes))
}

pub(crate) use crate::clock::now_nanos;

struct Shared {
    ring: Ring,
    metrics: MetricTable,
    status: RecorderStatus,
    /// The session and crash records the ring held when it was opened, until taken.
    history: Mutex<Option<Vec<Record>>>,
    /// Set by the app's `shutdown`: every later record is ignored.
    closed: AtomicBool,
    /// Which log levels are recorded (see [`verbosity`]).
    verbosity: verbosity::Control,
    /// The loops the app watches for hangs; the keeper looks at them (see
    /// [`crate::watchdog`]).
    watchdog: crate::watchdog::Watchdog,
    /// Dropped with the recorder, which wakes the keeper thread to end at once.
    _keeper: mpsc::Sender<()>,
}

impl Shared {
    #[inline]
    fn write<const N: usize>(
        &self,
        kind: u8,
        level: u8,
        dedicated: bool,
        fill: impl FnOnce(&mut Encoder<'_>),
    ) -> u64 {
        let mut buf = [MaybeUninit::<u8>::uninit(); N];
        let mut enc = Encoder::new(&mut buf);
        fill(&mut enc);
        self.commit(enc, kind, level, dedicated)
    }

    /// Numbers, stamps and commits an encoded record.
    #[inline]
    fn commit(&self, enc: Encoder<'_>, kind: u8, level: u8, dedicated: bool) -> u64 {
        // Relaxed: a record racing `close` may land or not; after `shutdown` returned,
        // the caller's later records are ignored.
        // A forked child never writes the parent's ring (see `crate::fork`).
        if self.closed.load(Ordering::Relaxed) || crate::fork::forked_fast() {
            return 0;
        }
        let seq = self.ring.take_seq();
        let bytes = enc.finish(seq, now_nanos(), kind, level);
        self.ring.commit(bytes, dedicated);
        seq
    }

    fn metric(&self, name: &str, kind: MetricKind, value: f64) -> Option<u64> {
        if !value.is_finite() {
            return None;
        }
        Some(
            self.write::<SMALL_BUF>(layout::kind::METRIC, Level::Info as u8, false, |e| {
                e.str(name.as_bytes(), false);
                e.u8(kind as u8);
                e.u64(value.to_bits());
            }),
        )
    }

    /// One look of the watchdog at the watched loops, now (see [`crate::watchdog`]).
    fn look_for_hangs(&self) {
        self.watchdog.look(
            crate::clock::fast::monotonic_stamp(),
            &mut |phase, name, expected, measured, start| {
                self.hang(phase, name, expected, measured, start, "")
            },
        );
    }

    /// Records one moment of a hang (see [`crate::watchdog`]); `stack` is cut to fit the
    /// record buffer. Allocation-free: the keeper calls it from its tick.
    fn hang(
        &self,
        phase: crate::record::HangPhase,
        loop_name: &str,
        expected_gap_ms: u64,
        measured_ms: u64,
        start_seq: u64,
        stack: &str,
    ) -> u64 {
        self.write::<HOT_BUF>(layout::kind::HANG, Level::Warn as u8, false, |e| {
            e.u8(phase as u8);
            e.u64(expected_gap_ms);
            e.u64(measured_ms);
            e.u64(start_seq);
            e.str(loop_name.as_bytes(), false);
            e.str(stack.as_bytes(), true);
        })
    }

    fn flush_metrics(&self) {
        self.metrics.drain(|kind, name, w| match kind {
            Aggregate::Counter => {
                self.metric(name, MetricKind::Counter, w.count as f64);
            }
            Aggregate::Histogram => {
                self.write::<SMALL_BUF>(layout::kind::HISTOGRAM, Level::Info as u8, false, |e| {
                    e.str(name.as_bytes(), false);
                    e.u64(w.count);
                    e.u64(w.sum.to_bits());
                    e.u64(w.min.to_bits());
                    e.u64(w.max.to_bits());
                });
            }
        });
    }
}

/// Whoever lets the ring go last — an app handle or the keeper — writes what the metric
/// table still holds. (A signal handler never drops its handle: see `crash::signal`.)
impl Drop for Shared {
    fn drop(&mut self) {
        self.flush_metrics();
    }
}

/// The flight recorder. Cheap to clone; all clones write to the same ring.
#[derive(Clone)]
pub struct FlightRecorder {
    shared: Arc<Shared>,
}

/// The last handle's drop writes the pending metrics before it returns, even when the
/// keeper holds the ring for a moment (its tick upgrades a weak reference): otherwise
/// `Shared`'s own drop would write them a moment later on the keeper's thread, after the
/// app (or a reader of the file) thought them written.
impl Drop for FlightRecorder {
    fn drop(&mut self) {
        if Arc::strong_count(&self.shared) == 2 {
            self.shared.flush_metrics();
        }
    }
}

impl std::fmt::Debug for FlightRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightRecorder")
            .field("backend", &self.shared.status.backend)
            .finish()
    }
}

impl FlightRecorder {
    /// Opens the ring file at `path` (about `ring_bytes` of records), or falls back to a
    /// heap ring of the same size when the file cannot be used, carrying along whatever
    /// records could still be read from it. Never fails.
    pub fn open(path: &Path, ring_bytes: usize) -> FlightRecorder {
        match Self::open_file(path, ring_bytes) {
            Ok(r) => r,
            Err(failure) => Self::memory(
                ring_bytes,
                Some(failure.error.to_string()),
                &failure.carry,
                matches!(failure.error, RecorderError::Locked { .. }),
            ),
        }
    }

    /// Opens the ring file at `path`, or says why it cannot.
    pub fn try_open(path: &Path, ring_bytes: usize) -> Result<FlightRecorder, RecorderError> {
        Self::open_file(path, ring_bytes).map_err(|f| f.error)
    }

    fn open_file(path: &Path, ring_bytes: usize) -> Result<FlightRecorder, file::OpenFailure> {
        let ring_bytes = layout::ring_bytes_for(ring_bytes);
        let opened = file::open(path, ring_bytes)?;
        let ring = Ring::new(opened.backing, &opened.recovered);
        // Salvaged records go back in byte for byte: same sequence numbers and times.
        ring.append_raw(&opened.salvaged);
        let history = if opened.salvaged.is_empty() {
            opened.recovered.history
        } else {
            history_of(&ring)
        };
        let status = RecorderStatus {
            backend: Backend::File(path.to_path_buf()),
            capacity_bytes: ring.capacity_bytes(),
            next_seq: 0,
            recovered: opened.recovered.count,
            salvaged: opened.salvaged.len(),
            moved_aside: opened.moved_aside,
            owned_elsewhere: false,
        };
        Ok(FlightRecorder::with_keeper(ring, status, history))
    }

    /// A heap-only recorder (records do not survive the process).
    pub fn in_memory(ring_bytes: usize) -> FlightRecorder {
        Self::memory(ring_bytes, None, &[], false)
    }

    /// A heap ring used because no ring file could be (`reason`, shown in its status).
    pub(crate) fn in_memory_because(ring_bytes: usize, reason: String) -> FlightRecorder {
        Self::memory(ring_bytes, Some(reason), &[], false)
    }

    /// A heap ring (with the reason the file was not used, if one was tried), holding
    /// `carry` — the records of a file that could not be used — re-appended byte for byte.
    fn memory(
        ring_bytes: usize,
        reason: Option<String>,
        carry: &[(u64, Vec<u8>)],
        owned_elsewhere: bool,
    ) -> FlightRecorder {
        let ring = Ring::heap(ring_bytes);
        ring.append_raw(carry);
        let history = if carry.is_empty() {
            Vec::new()
        } else {
            history_of(&ring)
        };
        let status = RecorderStatus {
            backend: Backend::Memory(reason),
            capacity_bytes: ring.capacity_bytes(),
            next_seq: 0,
            recovered: 0,
            salvaged: carry.len(),
            moved_aside: None,
            owned_elsewhere,
        };
        FlightRecorder::with_keeper(ring, status, history)
    }

    fn with_keeper(ring: Ring, status: RecorderStatus, history: Vec<Record>) -> FlightRecorder {
        let (keeper, stop) = mpsc::channel();
        let shared = Arc::new(Shared {
            ring,
            metrics: MetricTable::new(),
            status,
            history: Mutex::new(Some(history)),
            closed: AtomicBool::new(false),
            verbosity: verbosity::Control::new(),
            watchdog: crate::watchdog::Watchdog::new(),
            _keeper: keeper,
        });
        keeper::spawn(Arc::downgrade(&shared), stop);
        FlightRecorder { shared }
    }

    /// Records a log line; returns its sequence number. Never blocks or fails; long
    /// text is truncated with [`TRUNCATION_MARKER`].
    #[inline]
    pub fn log(
        &self,
        level: Level,
        target: &str,
        message: &str,
        fields: &[(&str, FieldValue<'_>)],
    ) -> u64 {
        if !self.shared.verbosity.allows(level as u8) {
            return 0;
        }
        // Small: see `log_with` on why a big stack frame costs microseconds when cold.
        let mut buf = [MaybeUninit::<u8>::uninit(); SMALL_BUF];
        match encode::encode_log_fast(&mut buf, level as u8, target, message, fields) {
            Some(record) => {
                if self.shared.closed.load(Ordering::Relaxed) || crate::fork::forked_fast() {
                    return 0;
                }
                let ring = &self.shared.ring;
                let seq = ring.take_seq();
                layout::set_seq_ts(record, seq, now_nanos());
                ring.commit(record, false);
                seq
            }
            None => self.log_truncating(level, target, message, fields),
        }
    }

    /// The careful path for records that do not fit whole: cut and marked.
    #[cold]
    #[inline(never)]
    fn log_truncating(
        &self,
        level: Level,
        target: &str,
        message: &str,
        fields: &[(&str, FieldValue<'_>)],
    ) -> u64 {
        self.shared
            .write::<HOT_BUF>(layout::kind::LOG, level as u8, false, |e| {
                e.str(target.as_bytes(), false);
                e.field("message", FieldValue::Str(message));
                for (k, v) in fields {
                    e.field(k, *v);
                }
            })
    }

    /// Records a log line whose message may not be valid UTF-8 (read back lossily).
    pub fn log_bytes(&self, level: Level, target: &str, message: &[u8]) -> u64 {
        if !self.shared.verbosity.allows(level as u8) {
            return 0;
        }
        self.shared
            .write::<HOT_BUF>(layout::kind::LOG, level as u8, false, |e| {
                e.str(target.as_bytes(), false);
                e.field("message", FieldValue::Bytes(message));
            })
    }

    /// Records a log line whose fields are written by `visit` (the `tracing` layer).
    ///
    /// Encodes into a small stack buffer first: a 4 KiB frame lands on stack pages the
    /// app rarely touches, and after the app sleeps their TLB misses cost microseconds.
    /// Only an event too big for it is visited again into the full-size buffer.
    pub(crate) fn log_with(
        &self,
        level: Level,
        target: &str,
        visit: impl Fn(&mut FieldWriter<'_, '_>),
    ) -> u64 {
        if !self.shared.verbosity.allows(level as u8) {
            return 0;
        }
        let mut buf = [MaybeUninit::<u8>::uninit(); SMALL_BUF];
        let mut enc = Encoder::new(&mut buf);
        enc.str(target.as_bytes(), false);
        visit(&mut FieldWriter { enc: &mut enc });
        if enc.truncated() {
            return self.log_with_big(level, target, &visit);
        }
        self.shared
            .commit(enc, layout::kind::LOG, level as u8, false)
    }

    #[cold]
    #[inline(never)]
    fn log_with_big(
        &self,
        level: Level,
        target: &str,
        visit: &dyn Fn(&mut FieldWriter<'_, '_>),
    ) -> u64 {
        self.shared
            .write::<HOT_BUF>(layout::kind::LOG, level as u8, false, |e| {
                e.str(target.as_bytes(), false);
                visit(&mut FieldWriter { enc: e });
            })
    }

    /// Records a metric sample. Non-finite values are refused (`None`): a NaN would
    /// poison every aggregate downstream.
    pub fn metric(&self, name: &str, kind: MetricKind, value: f64) -> Option<u64> {
        self.shared.metric(name, kind, value)
    }

    /// Adds `increment` to a counter. Aggregated in memory and written as one record
    /// per flush (every second, and before any read of the ring); see [`crate::metrics`].
    #[inline]
    pub fn count(&self, name: &str, increment: u64) {
        if increment != 0 && !self.shared.metrics.add(name, Sample::Count(increment)) {
            self.metric(name, MetricKind::Counter, increment as f64);
        }
    }

    /// Records one observation of a distribution, aggregated in memory like
    /// [`FlightRecorder::count`]. Non-finite values are refused.
    #[inline]
    pub fn observe(&self, name: &str, value: f64) {
        if value.is_finite() && !self.shared.metrics.add(name, Sample::Observe(value)) {
            self.metric(name, MetricKind::Histogram, value);
        }
    }

    /// Whether a log line of `level` would be recorded now (one atomic load): callers
    /// that build a record (the `tracing` layer) check first to skip the work.
    #[inline]
    pub fn records_level(&self, level: Level) -> bool {
        self.shared.verbosity.allows(level as u8)
    }

    /// The verbosity in effect: the lowest log level recorded, and until when.
    pub fn verbosity(&self) -> verbosity::Verbosity {
        self.shared.verbosity.current()
    }

    /// Records log lines from `level` up (`trace`, `debug`; `info` is the default) for
    /// `duration` (1 s to 24 h), then falls back to `info`. Returns what is in effect.
    pub fn set_verbosity(
        &self,
        level: Level,
        duration: std::time::Duration,
    ) -> Result<verbosity::Verbosity, verbosity::VerbosityError> {
        self.shared.verbosity.set(level, duration)
    }

    /// Follows the request file at `path` (`verbosity.json` of the data dir), which the
    /// keeper looks at once a second.
    pub(crate) fn watch_verbosity(&self, path: &Path) {
        self.shared.verbosity.watch(path);
        self.shared.verbosity.tick();
    }

    /// Ignores every record from now on (the app's `shutdown`): clones, the `tracing`
    /// layer and the keeper's metric flushes included.
    pub(crate) fn close(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
    }

    /// Writes the aggregated counters and histograms into the ring now. Never waits.
    pub fn flush_metrics(&self) {
        self.shared.flush_metrics();
    }

    /// Records a session marker.
    pub fn session(&self, event: SessionEvent, session_id: &str, app_version: &str) -> u64 {
        self.shared
            .write::<SMALL_BUF>(layout::kind::SESSION, Level::Info as u8, false, |e| {
                e.u8(event as u8);
                e.str(session_id.as_bytes(), false);
                e.str(app_version.as_bytes(), true);
            })
    }

    /// Records a crash tombstone in chunks of its own (safe while a write of this thread
    /// is interrupted). Uses a buffer of `N` bytes on the stack.
    pub(crate) fn crash<const N: usize>(
        &self,
        kind: CrashKind,
        signal: i32,
        uptime_ms: u64,
        texts: [&[u8]; 6],
    ) -> u64 {
        self.shared
            .write::<N>(layout::kind::CRASH, Level::Fatal as u8, true, |e| {
                e.u8(kind as u8);
                e.i32(signal);
                e.u64(uptime_ms);
                for (i, t) in texts.iter().enumerate() {
                    e.str(t, i == texts.len() - 1);
                }
            })
    }

    /// All valid records, oldest first, with a count of the missing ones. Aggregated
    /// metrics are flushed first, so the snapshot is up to date.
    pub fn snapshot(&self) -> Snapshot {
        self.flush_metrics();
        let ring = &self.shared.ring;
        Snapshot::from_found(ring.scan(), ring.capacity_bytes())
    }

    /// The session and crash records the ring held when it was opened, oldest first —
    /// what the previous session's verdict reads, found at open without decoding the
    /// rest of the ring. The first call takes them; later calls get none.
    pub(crate) fn take_history(&self) -> Vec<Record> {
        self.shared
            .history
            .lock()
            .map(|mut h| h.take())
            .unwrap_or_else(|e| e.into_inner().take())
            .unwrap_or_default()
    }

    /// The newest `n` records, oldest first — the Debug screen.
    ///
    /// Read backwards from the ring's head (see `recent.rs`): the cost grows with `n`,
    /// not with the ring. Aggregated metrics are flushed first.
    pub fn recent(&self, n: usize) -> Vec<Record> {
        self.flush_metrics();
        recent::recent(&self.shared.ring, n)
    }

    /// Backend, capacity and recovery figures.
    pub fn status(&self) -> RecorderStatus {
        let mut s = self.shared.status.clone();
        s.next_seq = self.shared.ring.next_seq();
        if self.shared.ring.file_lost() {
            s.backend = Backend::Memory(Some(format!(
                "{} was cut short by another process while mapped; recording continues in \
                 memory (records no longer survive a crash)",
                match &s.backend {
                    Backend::File(p) => p.display().to_string(),
                    Backend::Memory(_) => "the ring file".into(),
                }
            )));
        }
        s
    }

    /// The next sequence number (records written so far in this ring's life + 1).
    pub fn next_seq(&self) -> u64 {
        self.shared.ring.next_seq()
    }

    pub(crate) fn ring_ptr(&self) -> *const () {
        Arc::as_ptr(&self.shared).cast()
    }

    /// A reference that does not keep the ring alive (crash hooks hold one).
    pub(crate) fn downgrade(&self) -> WeakRecorder {
        WeakRecorder(Arc::downgrade(&self.shared))
    }

    /// Watches a loop for hangs (see [`crate::Telemetry::watch`]): the keeper records
    /// them into this ring.
    pub fn watch(
        &self,
        name: &str,
        max_gap: std::time::Duration,
    ) -> Result<crate::watchdog::Watch, crate::watchdog::WatchError> {
        self.shared
            .watchdog
            .register(name, max_gap, self.downgrade())
    }

    /// Looks at the watched loops now, as the keeper does four times a second:
    /// `shutdown` records the end of a hang whose loop beat again since the last look.
    pub(crate) fn look_for_hangs(&self) {
        self.shared.look_for_hangs();
    }

    /// The watched loops.
    pub(crate) fn watchdog(&self) -> &crate::watchdog::Watchdog {
        &self.shared.watchdog
    }

    /// Records a stalled thread's stack for the hang whose start record is `start_seq`.
    pub(crate) fn hang_stack(
        &self,
        loop_name: &str,
        expected_gap_ms: u64,
        measured_ms: u64,
        start_seq: u64,
        stack: &str,
    ) -> u64 {
        self.shared.hang(
            crate::record::HangPhase::Stack,
            loop_name,
            expected_gap_ms,
            measured_ms,
            start_seq,
            stack,
        )
    }
}

/// The session and crash records in `ring`, oldest first (after a salvage or a carry).
fn history_of(ring: &Ring) -> Vec<Record> {
    decode::Recovery::of(&ring.scan()).history
}

/// A non-owning [`FlightRecorder`] reference; upgrading is lock-free.
pub(crate) struct WeakRecorder(std::sync::Weak<Shared>);

impl WeakRecorder {
    pub fn upgrade(&self) -> Option<FlightRecorder> {
        self.0.upgrade().map(|shared| FlightRecorder { shared })
    }
    pub fn ring_ptr(&self) -> *const () {
        self.0.as_ptr().cast()
    }
}

/// Writes fields into a record being encoded (used by the `tracing` layer).
pub(crate) struct FieldWriter<'e, 'b> {
    enc: &'e mut Encoder<'b>,
}

impl FieldWriter<'_, '_> {
    /// A scalar or string field.
    pub fn field(&mut self, key: &str, value: FieldValue<'_>) {
        self.enc.field(key, value);
    }

    /// A field formatted with `Debug` straight into the record.
    pub fn debug_field(&mut self, key: &str, value: &dyn std::fmt::Debug) {
        if self.enc.begin_str_field(key) {
            let _ = std::fmt::write(
                &mut StrSink {
                    enc: self.enc,
                    reserve: 96,
                },
                format_args!("{value:?}"),
            );
            self.enc.end_str();
        }
    }
}
