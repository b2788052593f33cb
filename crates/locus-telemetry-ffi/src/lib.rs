//! UniFFI bindings of [`locus_telemetry`] for Kotlin (and later Swift).
//!
//! Conversion only: every call hands its arguments to [`locus_telemetry::Telemetry`]
//! and converts the answer back. Telemetry may fail completely and the app must not
//! notice, so no call here throws for a telemetry failure: each body runs under
//! [`std::panic::catch_unwind`] and a panic inside telemetry yields a neutral value
//! (`0`, `false`, an empty list). The one typed error is [`SettingsError`], for settings
//! that [`locus_telemetry::Settings::validate`] refuses when the handle is constructed.
//!
//! Generate the Kotlin side from an unstripped build of the cdylib with the pinned
//! generator in `bindgen/` (see `scripts/test-kotlin`).

uniffi::setup_scaffolding!();

pub mod fast;
mod status;
mod transport;

pub use status::*;
pub use transport::*;

mod watch;
pub use watch::*;

// The library's types, named in one place: when they move, only these lines change.
use locus_telemetry::record::Body as CoreBody;
use locus_telemetry::{
    FieldValue as CoreFieldValue, Level as CoreLevel, PreviousSession as CorePrevious,
    Record as CoreRecord, SessionOutcome as CoreOutcome, Settings as CoreSettings,
    ShutdownReport as CoreShutdownReport, Telemetry,
};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Runs `body`, turning a panic inside it into `neutral`: a telemetry failure must never
/// reach the app as an exception.
fn guarded<T>(neutral: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(neutral)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Severity of a log line (the library's `Level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Level {
    /// Very verbose diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that was handled.
    Warn,
    /// Something failed.
    Error,
    /// The process died (crash tombstones).
    Fatal,
}

impl From<Level> for CoreLevel {
    fn from(level: Level) -> CoreLevel {
        match level {
            Level::Trace => CoreLevel::Trace,
            Level::Debug => CoreLevel::Debug,
            Level::Info => CoreLevel::Info,
            Level::Warn => CoreLevel::Warn,
            Level::Error => CoreLevel::Error,
            Level::Fatal => CoreLevel::Fatal,
        }
    }
}

impl From<CoreLevel> for Level {
    fn from(level: CoreLevel) -> Level {
        match level {
            CoreLevel::Trace => Level::Trace,
            CoreLevel::Debug => Level::Debug,
            CoreLevel::Info => Level::Info,
            CoreLevel::Warn => Level::Warn,
            CoreLevel::Error => Level::Error,
            CoreLevel::Fatal => Level::Fatal,
        }
    }
}

/// The value of one field of a log line.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    /// A boolean.
    Bool {
        /// The value.
        value: bool,
    },
    /// A signed integer.
    I64 {
        /// The value.
        value: i64,
    },
    /// An unsigned integer.
    U64 {
        /// The value.
        value: u64,
    },
    /// A float.
    F64 {
        /// The value.
        value: f64,
    },
    /// Text.
    Str {
        /// The value.
        value: String,
    },
}

impl FieldValue {
    fn as_core(&self) -> CoreFieldValue<'_> {
        match self {
            FieldValue::Bool { value } => CoreFieldValue::Bool(*value),
            FieldValue::I64 { value } => CoreFieldValue::I64(*value),
            FieldValue::U64 { value } => CoreFieldValue::U64(*value),
            FieldValue::F64 { value } => CoreFieldValue::F64(*value),
            FieldValue::Str { value } => CoreFieldValue::Str(value),
        }
    }
}

/// One key/value field of a log line. A list of these (not a map) keeps the order the
/// app gave them in, as the recorder does.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Field {
    /// The key.
    pub key: String,
    /// The value.
    pub value: FieldValue,
}

/// What telemetry is started with: the library's `Settings`, the fields an app sets.
///
/// Start from [`default_settings`]: it takes the library's defaults, except
/// `capture_fatal_signals`, which is off in a binding (see that field).
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct TelemetrySettings {
    /// Where the ring, session marker and state files live.
    pub data_dir: String,
    /// The app's version.
    pub app_version: String,
    /// Ship diagnostics to the user's bucket (default true).
    pub enable_s3_diagnostics: bool,
    /// Send anonymised health reports to the community service (default false).
    pub enable_community_telemetry: bool,
    /// `s3://bucket[/prefix]` or `file:///dir`; `None`: `file://<data_dir>/bucket`.
    pub destination: Option<String>,
    /// Bytes of flight recorder (64 KiB to 64 MiB).
    pub ring_bytes: u64,
    /// Seconds between uploads (1 to 86400).
    pub upload_interval_secs: u64,
    /// Milliseconds `shutdown` takes at most by default (1 to 60000).
    pub shutdown_deadline_ms: u64,
    /// Seconds one upload attempt may take (1 to 600).
    pub attempt_timeout_secs: u64,
    /// Community service endpoint (`https://...`; plain `http` only to loopback).
    pub community_url: Option<String>,
    /// The device id; `None`: generated once and kept in the data dir.
    pub device_id: Option<String>,
    /// Write a tombstone for fatal signals (SIGSEGV, SIGBUS, …) raised in native code.
    /// **Off in [`default_settings`]** (the library's own default is on): a JVM or ART
    /// owns SIGSEGV — it raises and handles it itself for implicit null checks and
    /// safepoint polls — and a handler installed after the runtime's runs first, so it
    /// would write a tombstone for every such fault (the JVM tests saw exactly that).
    /// Rust panics are caught and written as tombstones either way.
    pub capture_fatal_signals: bool,
    /// Let uploads to the user's bucket use a metered network (default false: they wait
    /// for an unmetered one). Community reports may always use one.
    pub upload_on_metered: bool,
    /// S3 endpoint for self-hosted S3, e.g. `http://10.0.0.2:8333` (`None`: the
    /// `AWS_ENDPOINT_URL` environment variable, else AWS).
    pub s3_endpoint: Option<String>,
    /// S3 region (`None`: `AWS_REGION`).
    pub s3_region: Option<String>,
    /// S3 access key id (`None`: `AWS_ACCESS_KEY_ID`).
    pub s3_access_key_id: Option<String>,
    /// S3 secret key (`None`: `AWS_SECRET_ACCESS_KEY`). Never printed (`Debug` hides it).
    pub s3_secret_access_key: Option<String>,
    /// Path-style S3 addressing (`endpoint/bucket/key`), as self-hosted S3 usually needs.
    pub s3_path_style: bool,
    /// age X25519 public keys (`age1…`) to encrypt diagnostics to (empty: unencrypted);
    /// objects are then `….log.gz.age`. Only public keys: the private key never goes on
    /// the device.
    pub diagnostics_recipients: Vec<String>,
}

impl std::fmt::Debug for TelemetrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetrySettings")
            .field("data_dir", &self.data_dir)
            .field("app_version", &self.app_version)
            .field("enable_s3_diagnostics", &self.enable_s3_diagnostics)
            .field(
                "enable_community_telemetry",
                &self.enable_community_telemetry,
            )
            .field("destination", &self.destination)
            .field("ring_bytes", &self.ring_bytes)
            .field("upload_interval_secs", &self.upload_interval_secs)
            .field("shutdown_deadline_ms", &self.shutdown_deadline_ms)
            .field("attempt_timeout_secs", &self.attempt_timeout_secs)
            .field("community_url", &self.community_url)
            .field("device_id", &self.device_id)
            .field("capture_fatal_signals", &self.capture_fatal_signals)
            .field("upload_on_metered", &self.upload_on_metered)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &self.s3_secret_access_key.as_ref().map(|_| "<hidden>"),
            )
            .field("s3_path_style", &self.s3_path_style)
            .field("diagnostics_recipients", &self.diagnostics_recipients)
            .finish()
    }
}

impl TelemetrySettings {
    fn to_core(&self) -> Result<CoreSettings, SettingsError> {
        let ring_bytes = usize::try_from(self.ring_bytes).map_err(|_| SettingsError::Invalid {
            key: "ring_bytes".into(),
            reason: format!("{} does not fit this platform's usize", self.ring_bytes),
        })?;
        Ok(CoreSettings {
            data_dir: PathBuf::from(&self.data_dir),
            app_version: self.app_version.clone(),
            enable_s3_diagnostics: self.enable_s3_diagnostics,
            enable_community_telemetry: self.enable_community_telemetry,
            destination: self.destination.clone(),
            ring_bytes,
            upload_interval_secs: self.upload_interval_secs,
            shutdown_deadline_ms: self.shutdown_deadline_ms,
            attempt_timeout_secs: self.attempt_timeout_secs,
            community_url: self.community_url.clone(),
            device_id: self.device_id.clone(),
            capture_fatal_signals: self.capture_fatal_signals,
            upload_on_metered: self.upload_on_metered,
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            s3_access_key_id: self.s3_access_key_id.clone(),
            s3_secret_access_key: self.s3_secret_access_key.clone(),
            s3_path_style: self.s3_path_style,
            diagnostics_recipients: self.diagnostics_recipients.clone(),
            ..CoreSettings::default()
        })
    }
}

/// The library's defaults for these settings, with the given data dir and app version
/// (so that bindings take their defaults from the library instead of repeating them) —
/// except `capture_fatal_signals`, which is `false` here: the host runtime (a JVM, ART)
/// owns SIGSEGV (see [`TelemetrySettings::capture_fatal_signals`]).
#[uniffi::export]
pub fn default_settings(data_dir: String, app_version: String) -> TelemetrySettings {
    let d = CoreSettings::default();
    TelemetrySettings {
        data_dir,
        app_version,
        enable_s3_diagnostics: d.enable_s3_diagnostics,
        enable_community_telemetry: d.enable_community_telemetry,
        destination: d.destination,
        ring_bytes: d.ring_bytes as u64,
        upload_interval_secs: d.upload_interval_secs,
        shutdown_deadline_ms: d.shutdown_deadline_ms,
        attempt_timeout_secs: d.attempt_timeout_secs,
        community_url: d.community_url,
        device_id: d.device_id,
        capture_fatal_signals: false,
        upload_on_metered: d.upload_on_metered,
        s3_endpoint: d.s3_endpoint,
        s3_region: d.s3_region,
        s3_access_key_id: d.s3_access_key_id,
        s3_secret_access_key: d.s3_secret_access_key,
        s3_path_style: d.s3_path_style,
        diagnostics_recipients: d.diagnostics_recipients,
    }
}

/// Settings the library refuses. The only error any call here returns.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum SettingsError {
    /// A setting is out of range or malformed.
    #[error("invalid setting `{key}`: {reason}")]
    Invalid {
        /// The setting's name, as in the library's `Settings` (e.g. `ring_bytes`).
        key: String,
        /// What is wrong, with the valid range where there is one.
        reason: String,
    },
}

/// One record of the flight recorder, for the Debug screen.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordView {
    /// Global, gap-free sequence number.
    pub seq: u64,
    /// When it was recorded, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// Its severity.
    pub level: Level,
    /// `log`, `crash`, `metric`, `histogram`, `session` or `hang`.
    pub kind: String,
    /// A log line's target; empty for other kinds.
    pub target: String,
    /// A log line's message, a crash's message, a metric's name; empty for sessions.
    pub message: String,
    /// The one-line rendering the Debug screen shows.
    pub text: String,
    /// The record as the JSON line that ships to the bucket.
    pub json: String,
}

impl From<&CoreRecord> for RecordView {
    fn from(r: &CoreRecord) -> RecordView {
        let (target, message) = match &r.body {
            CoreBody::Log(l) => (l.target.clone(), l.message.clone()),
            CoreBody::Crash(c) => (c.thread.clone(), c.message.clone()),
            CoreBody::Metric(m) => (String::new(), m.name.clone()),
            CoreBody::Histogram(h) => (String::new(), h.name.clone()),
            CoreBody::Session(_) => (String::new(), String::new()),
            // The loop, and its stalled thread's stack when the record carries one.
            CoreBody::Hang(h) => (h.loop_name.clone(), h.stack.clone().unwrap_or_default()),
        };
        RecordView {
            seq: r.seq,
            timestamp_ms: r.ts.timestamp_millis(),
            level: r.body.level().into(),
            kind: r.body.kind().to_owned(),
            target,
            message,
            text: r.to_text_line(),
            json: r.to_json_line(),
        }
    }
}

/// What `shutdown` managed within its deadline.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ShutdownReport {
    /// Whether everything recorded was shipped (or discarded after failing) in time.
    pub flushed: bool,
    /// Whether the dispatcher thread finished (false: it was left behind, detached).
    pub dispatcher_finished: bool,
    /// How long shutdown took, in milliseconds.
    pub took_ms: u64,
}

impl From<CoreShutdownReport> for ShutdownReport {
    fn from(r: CoreShutdownReport) -> ShutdownReport {
        ShutdownReport {
            flushed: r.flushed,
            dispatcher_finished: r.dispatcher_finished,
            took_ms: millis(r.took),
        }
    }
}

/// How the previous session in the data dir ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SessionOutcome {
    /// No previous session in this data dir.
    FirstStart,
    /// Shut down cleanly.
    Exited,
    /// Crashed and left a tombstone.
    Crashed,
    /// Ended without a clean exit or a tombstone (killed, aborted, exited without
    /// shutdown).
    Abnormal,
    /// Another running process owns the data dir.
    StillRunning,
    /// Not known: the session marker could not be read, or the data dir was unusable.
    Unknown,
}

impl From<CoreOutcome> for SessionOutcome {
    fn from(o: CoreOutcome) -> SessionOutcome {
        match o {
            CoreOutcome::FirstStart => SessionOutcome::FirstStart,
            CoreOutcome::Exited => SessionOutcome::Exited,
            CoreOutcome::Crashed => SessionOutcome::Crashed,
            CoreOutcome::Abnormal => SessionOutcome::Abnormal,
            CoreOutcome::StillRunning => SessionOutcome::StillRunning,
            CoreOutcome::Unknown => SessionOutcome::Unknown,
        }
    }
}

/// What the start found about the previous session.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PreviousSession {
    /// How it ended.
    pub outcome: SessionOutcome,
    /// Its id, when known.
    pub session_id: Option<String>,
    /// Its app version, when known.
    pub app_version: Option<String>,
    /// The crash tombstone, for `Crashed`.
    pub tombstone: Option<RecordView>,
}

impl From<&CorePrevious> for PreviousSession {
    fn from(p: &CorePrevious) -> PreviousSession {
        PreviousSession {
            outcome: p.outcome.into(),
            session_id: p.session_id.clone(),
            app_version: p.app_version.clone(),
            tombstone: p.tombstone.as_ref().map(RecordView::from),
        }
    }
}

/// The telemetry handle, as the app holds it.
///
/// `close` ends it for good: later calls through it do nothing (reads answer empty),
/// and the data dir is released when `close` returns (see [`LocusTelemetry::close`]).
#[derive(uniffi::Object)]
pub struct LocusTelemetry {
    /// `None` once closed. Every call reads it under the lock for its whole duration,
    /// so `close` waits for the calls in flight before it lets go.
    inner: RwLock<Option<Telemetry>>,
    /// The hot path's way in ([`fast`]): a validated slot id, 0 when the table is full.
    slot: u64,
    /// The settings' shutdown deadline (for `close`), kept past `close`.
    deadline_ms: u64,
}

impl Drop for LocusTelemetry {
    fn drop(&mut self) {
        fast::clear(self.slot);
    }
}

impl LocusTelemetry {
    /// Runs `f` with the telemetry, or returns `neutral` once closed or on a panic.
    fn with<T>(&self, neutral: T, f: impl FnOnce(&Telemetry) -> T) -> T {
        let guard = match self.inner.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match guard.as_ref() {
            Some(t) => catch_unwind(AssertUnwindSafe(|| f(t))).unwrap_or(neutral),
            None => neutral,
        }
    }
}

/// What a JVM binding knows of an uncaught exception; see
/// [`LocusTelemetry::record_uncaught_exception`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UncaughtThrowable {
    /// The exception's class, e.g. `java.lang.IllegalStateException`.
    pub class_name: String,
    /// Its message (empty when it has none).
    pub message: String,
    /// Where it was thrown: the top stack frame.
    pub location: String,
    /// The name of the thread it ended.
    pub thread: String,
    /// The whole stack trace, causes included.
    pub stack: String,
}

impl LocusTelemetry {
    /// What both constructors do: the settings checked (the one error), then `start`;
    /// should it panic, a handle with uploads off, so the app always gets one.
    pub(crate) fn started(
        settings: TelemetrySettings,
        start: impl Fn(CoreSettings) -> Telemetry,
    ) -> Result<Arc<LocusTelemetry>, SettingsError> {
        let core = settings.to_core()?;
        core.validate().map_err(|e| SettingsError::Invalid {
            key: e.key().unwrap_or("settings").to_owned(),
            reason: settings_reason(&e),
        })?;
        // `start` catches its own panics; this guard is for the conversion.
        let inner = guarded(None, || Some(start(core.clone())));
        let inner = inner.unwrap_or_else(|| {
            start(CoreSettings {
                enable_s3_diagnostics: false,
                enable_community_telemetry: false,
                ..core
            })
        });
        let deadline_ms = inner.settings().shutdown_deadline_ms;
        let slot = fast::register(inner.clone());
        Ok(Arc::new(LocusTelemetry {
            inner: RwLock::new(Some(inner)),
            slot,
            deadline_ms,
        }))
    }
}

#[uniffi::export]
impl LocusTelemetry {
    /// Starts telemetry. Fails only for settings the library refuses; any other problem
    /// (an unusable data dir, a locked ring, a panic inside start) gives a degraded
    /// handle that records in memory.
    #[uniffi::constructor]
    pub fn new(settings: TelemetrySettings) -> Result<Arc<LocusTelemetry>, SettingsError> {
        LocusTelemetry::started(settings, Telemetry::start)
    }

    /// Records a log line; returns its sequence number (0 if telemetry failed).
    pub fn log(&self, level: Level, target: String, message: String, fields: Vec<Field>) -> u64 {
        self.with(0, |t| {
            let fields: Vec<(&str, CoreFieldValue<'_>)> = fields
                .iter()
                .map(|f| (f.key.as_str(), f.value.as_core()))
                .collect();
            t.log(level.into(), &target, &message, &fields)
        })
    }

    /// Adds to a counter (aggregated in memory, written once a second).
    pub fn counter(&self, name: String, increment: u64) {
        self.with((), |t| t.counter(&name, increment))
    }

    /// Sets a gauge (non-finite values are refused).
    pub fn gauge(&self, name: String, value: f64) {
        self.with((), |t| t.gauge(&name, value))
    }

    /// Records one observation of a distribution (non-finite values are refused).
    pub fn histogram(&self, name: String, value: f64) {
        self.with((), |t| t.histogram(&name, value))
    }

    /// The newest `n` records, oldest first — the Debug screen. `n` is capped at
    /// [`RECENT_MAX`]; the cost grows with `n`, not with the ring (see
    /// `Telemetry::recent`).
    pub fn recent(&self, n: u32) -> Vec<RecordView> {
        self.with(Vec::new(), |t| {
            t.recent((n as usize).min(RECENT_MAX))
                .iter()
                .map(RecordView::from)
                .collect()
        })
    }

    /// How the previous session in this data dir ended.
    pub fn previous_session(&self) -> PreviousSession {
        self.with(
            PreviousSession {
                outcome: SessionOutcome::FirstStart,
                session_id: None,
                app_version: None,
                tombstone: None,
            },
            |t| PreviousSession::from(&t.previous_session()),
        )
    }

    /// Ships everything recorded so far, waiting at most `deadline_ms`. Blocks the
    /// calling thread; returns whether it finished in time.
    pub fn flush(&self, deadline_ms: u64) -> bool {
        self.with(false, |t| t.flush(Duration::from_millis(deadline_ms)))
    }

    /// Records a clean exit and stops uploads, returning by `deadline_ms` whatever the
    /// network does. Blocks the calling thread.
    pub fn shutdown(&self, deadline_ms: u64) -> ShutdownReport {
        let started = std::time::Instant::now();
        self.with(None, |t| {
            Some(t.shutdown(Duration::from_millis(deadline_ms)))
        })
        .map(ShutdownReport::from)
        .unwrap_or_else(|| ShutdownReport {
            flushed: false,
            dispatcher_finished: false,
            took_ms: millis(started.elapsed()),
        })
    }

    /// Shuts down within `deadline_ms` (unless already shut down) and releases the data
    /// dir: when it returns `true`, a new handle started in this process owns it. Waits
    /// first for the calls in flight through this handle (an `export`, a `flush`: each
    /// bounded by its own deadline or the ring's size), then at most `deadline_ms` plus
    /// the library's `RELEASE_WAIT` (1 s) for telemetry's own threads to let go.
    /// Returns `false` if that did not happen in time. Every later call does nothing.
    pub fn close(&self, deadline_ms: u64) -> bool {
        fast::clear(self.slot);
        let taken = match self.inner.write() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        match taken {
            Some(t) => guarded(false, || t.close(Duration::from_millis(deadline_ms))),
            None => true,
        }
    }

    /// Writes a crash tombstone for an uncaught exception of the JVM (call it from the
    /// default uncaught-exception handler, before the process dies); returns its
    /// sequence number (0 when closed). The next start reads the session as crashed.
    pub fn record_uncaught_exception(&self, exception: UncaughtThrowable) -> u64 {
        self.with(0, |t| {
            t.record_uncaught_exception(&locus_telemetry::UncaughtException {
                class: &exception.class_name,
                message: &exception.message,
                location: &exception.location,
                thread: &exception.thread,
                stack: &exception.stack,
            })
        })
    }

    /// This handle's fast-path slot id, for the binding's own `locus_fast_*` calls (0:
    /// none, use the UniFFI calls). Validated on every call: a stale or forged id does
    /// nothing.
    pub fn fast_slot(&self) -> u64 {
        self.slot
    }

    /// The settings' default shutdown deadline, in milliseconds.
    pub fn shutdown_deadline_ms(&self) -> u64 {
        self.deadline_ms
    }
}

/// What is wrong with a setting, without the `invalid setting `key`:` prefix the
/// exception's message adds itself.
fn settings_reason(e: &locus_telemetry::SettingsError) -> String {
    use locus_telemetry::SettingsError as E;
    match e {
        E::Value { why, .. } => why.clone(),
        E::OutOfRange { value, range, .. } => format!("{value} is out of range: must be {range}"),
        other => other.to_string(),
    }
}

/// The most records one `recent` call returns.
pub const RECENT_MAX: usize = 10_000;

/// TEST HOOK, not for apps: panics on a new Rust thread (not one of telemetry's own)
/// and joins it, so the panic hook of the most recently started telemetry writes a crash
/// tombstone carrying `message`, as a panic in the app's Rust code would. The calling
/// process survives; the next start in the same data dir reports the session as
/// crashed. Returns whether the thread did panic.
#[uniffi::export]
pub fn debug_panic_in_rust(message: String) -> bool {
    let spawned = std::thread::Builder::new()
        .name("locus-debug-panic".into())
        .spawn(move || {
            std::panic::panic_any(message);
        });
    match spawned {
        Ok(handle) => handle.join().is_err(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &std::path::Path) -> TelemetrySettings {
        TelemetrySettings {
            enable_s3_diagnostics: false,
            ..default_settings(dir.display().to_string(), "1.0.0".into())
        }
    }

    #[test]
    fn the_defaults_are_the_librarys() {
        let s = default_settings("/d".into(), "1.2.3".into());
        let core = s.to_core().unwrap();
        assert_eq!(
            core,
            CoreSettings {
                data_dir: "/d".into(),
                app_version: "1.2.3".into(),
                capture_fatal_signals: false,
                ..CoreSettings::default()
            }
        );
    }

    #[test]
    fn invalid_settings_are_a_typed_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let bad = TelemetrySettings {
            ring_bytes: 10,
            ..settings(dir.path())
        };
        match LocusTelemetry::new(bad) {
            Err(SettingsError::Invalid { key, reason }) => {
                assert_eq!(key, "ring_bytes");
                assert!(reason.contains("between 65536 and 67108864"), "{reason}");
            }
            Ok(_) => panic!("ring_bytes = 10 must be refused"),
        }
    }

    #[test]
    fn an_invalid_recipient_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let bad = TelemetrySettings {
            diagnostics_recipients: vec!["age1typo".into()],
            ..settings(dir.path())
        };
        match LocusTelemetry::new(bad) {
            Err(SettingsError::Invalid { key, .. }) => assert_eq!(key, "diagnostics_recipients"),
            Ok(_) => panic!("an invalid recipient must be refused"),
        }
    }

    #[test]
    fn log_keeps_level_fields_and_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocusTelemetry::new(settings(dir.path())).unwrap();
        let seq = t.log(
            Level::Warn,
            "app.gps".into(),
            "fix".into(),
            vec![
                Field {
                    key: "z".into(),
                    value: FieldValue::F64 { value: 1.5 },
                },
                Field {
                    key: "a".into(),
                    value: FieldValue::Str { value: "x".into() },
                },
                Field {
                    key: "n".into(),
                    value: FieldValue::I64 { value: -3 },
                },
            ],
        );
        let last = t.recent(1).pop().unwrap();
        assert_eq!(last.seq, seq);
        assert_eq!(last.level, Level::Warn);
        assert_eq!(
            (last.kind.as_str(), last.target.as_str()),
            ("log", "app.gps")
        );
        assert!(
            last.json.contains(r#""z":1.5,"a":"x","n":-3"#),
            "{}",
            last.json
        );
        assert!(last.text.contains("app.gps: fix"), "{}", last.text);
        t.shutdown(500);
    }

    #[test]
    fn a_dropped_handle_releases_the_data_dir_and_reads_as_exited() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocusTelemetry::new(settings(dir.path())).unwrap();
        t.log(Level::Info, "app".into(), "first".into(), vec![]);
        assert!(t.shutdown(500).dispatcher_finished);
        drop(t);
        let t = LocusTelemetry::new(settings(dir.path())).unwrap();
        assert_eq!(t.previous_session().outcome, SessionOutcome::Exited);
        t.shutdown(500);
    }
}
