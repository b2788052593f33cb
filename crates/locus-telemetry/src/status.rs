//! What `Telemetry::status()` reports, as named types: the recorder, the problems found
//! at start, each destination with its breaker, and why uploads are waiting. Nothing
//! here carries a secret: targets are URLs without credentials, errors are scrubbed
//! messages.

use crate::conditions::{Conditions, UploadWait};
use crate::crash::session::Outcome;
use crate::recorder::RecorderStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything `status()` reports.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
///     data_dir: dir.path().into(),
///     ..Default::default()
/// });
/// let status = t.status();
/// assert!(status.problems.is_empty());
/// assert!(status.recorder.file_backed());
/// let s3 = status.destination(locus_telemetry::DestinationKind::S3).unwrap();
/// assert_eq!(s3.breaker.state, locus_telemetry::BreakerState::Closed);
/// ```
#[derive(Debug, Clone)]
pub struct Status {
    /// The recorder's backend, capacity and recovery figures.
    pub recorder: RecorderStatus,
    /// Problems found at start (each one degraded something; the app runs on).
    pub problems: Vec<Problem>,
    /// How the previous session ended.
    pub previous_session: Outcome,
    /// The device id in use.
    pub device_id: String,
    /// `enable_s3_diagnostics` as in effect.
    pub s3_diagnostics: bool,
    /// `enable_community_telemetry` as in effect (the user's latest choice).
    pub community_telemetry: bool,
    /// The device conditions the app last reported.
    pub conditions: Conditions,
    /// Whether `shutdown` has run (on this handle or a clone of it).
    pub shut_down: bool,
    /// The log levels recorded now (`info` by default; `debug`/`trace` until a time
    /// when raised, see `Telemetry::set_verbosity`).
    pub verbosity: crate::recorder::verbosity::Verbosity,
    /// The dispatcher's view: destinations, breakers, last shipped record (`None`: no
    /// destination is enabled, or the telemetry thread could not start).
    pub dispatch: Option<DispatchStatus>,
}

impl Status {
    /// The destination of `kind`, if it is enabled.
    pub fn destination(&self, kind: DestinationKind) -> Option<&DestinationStatus> {
        self.dispatch
            .as_ref()?
            .destinations
            .iter()
            .find(|d| d.kind == kind)
    }
}

/// A problem found at start: what it touched and what happened. Each one degraded
/// something (a heap ring, no uploads, a new device id); the app runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What the problem touched.
    pub area: ProblemArea,
    /// What happened, for a person (never a secret).
    pub message: String,
}

impl Problem {
    pub(crate) fn new(area: ProblemArea, message: impl Into<String>) -> Problem {
        Problem {
            area,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a [`Problem`] touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemArea {
    /// A setting was out of range or unusable: its default is used instead.
    Settings,
    /// The data dir or one of its state files.
    DataDir,
    /// The flight recorder runs on the heap (records do not survive a crash).
    Recorder,
    /// Another running instance owns the data dir.
    SecondInstance,
    /// The session marker could not be kept.
    Session,
    /// The user's bucket (destination, credentials, retention).
    S3,
    /// The community service or the opt-in state.
    Community,
    /// The telemetry thread.
    Dispatcher,
    /// Telemetry itself failed (an internal panic was caught).
    Internal,
    /// The system clock was out of range (before 1970, after 2200) or jumped while
    /// telemetry ran: times are clamped, and nothing is deleted on its word.
    Clock,
}

/// The dispatcher as `status()` shows it.
#[derive(Debug, Clone, Default)]
pub struct DispatchStatus {
    /// Whether the telemetry thread is running.
    pub running: bool,
    /// One entry per enabled destination.
    pub destinations: Vec<DestinationStatus>,
    /// Why uploads are not running although destinations are enabled (the upload
    /// runtime could not be built, the upload thread died); `None` while they run, and
    /// after `shutdown` stopped them.
    pub stopped: Option<String>,
}

impl DispatchStatus {
    /// Human-readable lines, one per destination.
    pub fn summary_lines(&self) -> Vec<String> {
        if let Some(why) = &self.stopped {
            return vec![format!(
                "{:<18} not running: {why} (nothing is uploaded; recording continues)",
                "uploads:"
            )];
        }
        self.destinations
            .iter()
            .map(|d| {
                let b = &d.breaker;
                let mut line = format!(
                    "{:<18} {} uploads ok, {} failed, {} attempts, {} skipped, breaker {} ({} consecutive failures); shipped through #{}",
                    format!("{}:", d.kind),
                    d.uploads_ok,
                    d.uploads_failed,
                    d.attempts,
                    d.skipped,
                    b.state,
                    b.consecutive_failures,
                    d.shipped_through
                );
                if let Some(w) = &d.waiting {
                    line.push_str(&format!("; waiting: {w}"));
                }
                if d.overwritten_unshipped > 0 {
                    line.push_str(&format!(
                        "; {} records overwritten before they could be shipped",
                        d.overwritten_unshipped
                    ));
                }
                if let Some(e) = &d.last_error {
                    line.push_str(&format!("; last error: {e}"));
                }
                line
            })
            .collect()
    }
}

/// The two destinations of the dual dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// The user's own bucket (`s3://…` or the embedded `file://` default).
    S3,
    /// The opt-in community service.
    Community,
}

impl DestinationKind {
    /// `s3` or `community`: the name in state files (`breaker-s3.json`) and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::S3 => "s3",
            DestinationKind::Community => "community",
        }
    }
}

impl DestinationKind {
    /// `S3` or `community`: the destination in the library's own log lines.
    pub(crate) fn title(self) -> &'static str {
        match self {
            DestinationKind::S3 => "S3",
            DestinationKind::Community => "community",
        }
    }
}

impl std::fmt::Display for DestinationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One destination as `status()` shows it.
#[derive(Debug, Clone)]
pub struct DestinationStatus {
    /// Which destination.
    pub kind: DestinationKind,
    /// Where it goes (URL without credentials).
    pub target: String,
    /// Records up to this sequence number have been shipped or discarded.
    pub shipped_through: u64,
    /// Uploads that arrived.
    pub uploads_ok: u64,
    /// Uploads that failed every allowed attempt (payload discarded).
    pub uploads_failed: u64,
    /// Network attempts made.
    pub attempts: u64,
    /// Uploads not attempted because the breaker was open.
    pub skipped: u64,
    /// Why uploads are waiting now (device conditions), if they are.
    pub waiting: Option<UploadWait>,
    /// Records the ring overwrote before this destination could ship them (while
    /// uploads waited or failed).
    pub overwritten_unshipped: u64,
    /// The last error.
    pub last_error: Option<String>,
    /// The circuit breaker.
    pub breaker: BreakerStatus,
}

impl DestinationStatus {
    pub(crate) fn new(kind: DestinationKind, target: String, breaker: BreakerStatus) -> Self {
        DestinationStatus {
            kind,
            target,
            shipped_through: 0,
            uploads_ok: 0,
            uploads_failed: 0,
            attempts: 0,
            skipped: 0,
            waiting: None,
            overwritten_unshipped: 0,
            last_error: None,
            breaker,
        }
    }
}

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Uploads may make their attempt and one retry.
    Closed,
    /// Backing off: no network attempt until `open_until`.
    Open,
    /// The backoff is over: the next attempt is a single probe.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half-open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A circuit breaker with its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerStatus {
    /// Closed, open (backing off) or half-open (next attempt is a probe).
    pub state: BreakerState,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// End of the backoff, if open.
    pub open_until: Option<DateTime<Utc>>,
    /// Times opened, ever.
    pub times_opened: u32,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Field of the record telemetry writes when uploads stop for good in a session (the
/// upload runtime could not be built, the upload thread could not start or died): the
/// reason, for tools that read the data dir afterwards.
pub(crate) const UPLOADS_STOPPED_FIELD: &str = "uploads_stopped";

/// Why uploads were not running in the last session the records hold (after its start
/// record), if telemetry recorded that they stopped: what `locus-diag status` shows.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
/// #     data_dir: dir.path().into(), enable_s3_diagnostics: false, ..Default::default() });
/// # t.shutdown(std::time::Duration::from_millis(200));
/// let data = locus_telemetry::inspect::DataDir::new(dir.path());
/// let records = data.read_ring().unwrap().records;
/// assert_eq!(locus_telemetry::inspect::uploads_stopped(&records), None);
/// ```
pub fn uploads_stopped(records: &[crate::record::Record]) -> Option<String> {
    use crate::record::{Body, SessionEvent, Value};
    let session_start = records
        .iter()
        .rposition(
            |r| matches!(&r.body, Body::Session(s) if matches!(s.event, SessionEvent::Start)),
        )
        .unwrap_or(0);
    records
        .get(session_start..)?
        .iter()
        .find_map(|r| match &r.body {
            Body::Log(l) => l.fields.iter().find_map(|(k, v)| match v {
                Value::Str(why) if k == UPLOADS_STOPPED_FIELD => Some(why.clone()),
                _ => None,
            }),
            _ => None,
        })
}

/// Records in the ring that uploads stopped for good in this session, and why (see
/// [`uploads_stopped`]).
pub(crate) fn record_uploads_stopped(recorder: &crate::recorder::FlightRecorder, why: &str) {
    recorder.log(
        crate::record::Level::Error,
        "locus_telemetry::dispatch",
        &format!("uploads are not running: {why}; recording continues"),
        &[(UPLOADS_STOPPED_FIELD, crate::recorder::FieldValue::Str(why))],
    );
}
