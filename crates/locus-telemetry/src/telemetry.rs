//! The handle the app holds: started from [`Settings`], never failing the app. It owns
//! the recorder, crash capture, the session marker and (when uploads are enabled) the
//! dispatcher thread, and offers logging, metrics, the Debug screen's `recent(n)`,
//! `status()`, device conditions, the opt-in switch and a bounded `shutdown(deadline)`.
//!
//! The handle is a guard, as `sentry::init`'s is: clones share one telemetry, and when
//! the last clone is dropped without `shutdown`, it shuts down then, within the
//! settings' `shutdown_deadline_ms`. `shutdown` on any clone ends it for all of them:
//! the clean exit is recorded, uploads stop, the crash hook is removed, and every later
//! recording call through any clone (or the `tracing` layer) is ignored; reading calls
//! (`recent`, `status`) go on working.

use crate::conditions::{Conditions, UploadGate};
use crate::crash::session::{PreviousSession, Session, Verdict};
use crate::crash::{self, session};
use crate::data_dir::{DataDir, StateFile};
use crate::dispatch::{FirstStep, Overrides};
use crate::export::{ExportBundle, ExportError, ExportOptions, ExportSummary};
use crate::fail_open::guard_hot;
use crate::record::{Level, MetricKind, Record};
use crate::recorder::verbosity::{Verbosity, VerbosityError};
use crate::recorder::{Backend, FieldValue, FlightRecorder};
use crate::settings::Settings;
use crate::status::{Problem, ProblemArea, Status};
use crate::watchdog::{Watch, WatchError};
use crate::worker::community::{CommunityChoiceError, CommunityPreview, CommunityShared};
use crate::TelemetryLayer;
#[cfg(doc)]
use crate::DEFAULT_VERBOSITY_RAISE;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The telemetry module, as the app holds it. Cheap to clone; see the module docs for
/// what dropping it and `shutdown` do.
///
/// ```
/// use locus_telemetry::{FieldValue, Level, Settings, Telemetry};
/// let dir = tempfile::tempdir().unwrap();
/// let telemetry = Telemetry::start(Settings {
///     data_dir: dir.path().to_path_buf(),
///     enable_s3_diagnostics: false,
///     ..Settings::default()
/// });
/// telemetry.log(Level::Info, "app", "tracking started", &[("fixes", FieldValue::U64(0))]);
/// telemetry.gauge("battery_pct", 87.0);
/// assert!(telemetry.recent(10).len() >= 3); // session start, log, metric
/// telemetry.shutdown(std::time::Duration::from_millis(500));
/// ```
#[derive(Clone)]
#[must_use = "dropping the last handle shuts telemetry down at once"]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    recorder: FlightRecorder,
    device_id: String,
    /// Found after `start` returned (see [`Telemetry::start`]).
    previous: Arc<Verdict>,
    /// Start's problems, and those of the step it left for later.
    problems: Arc<Mutex<Vec<Problem>>>,
    session: Arc<Mutex<Option<Session>>>,
    dispatcher: Option<crate::dispatch::Dispatcher>,
    community: Option<Arc<CommunityShared>>,
    gate: UploadGate,
    /// The first `shutdown`'s report; set once, returned to every later call.
    shut_down: OnceLock<ShutdownReport>,
    /// Failures of telemetry's threads after this mark are this telemetry's to report
    /// (see `background::failures_since`).
    failures_from: u64,
}

/// What `shutdown` managed within its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether everything recorded was shipped (or discarded after failing) in time.
    /// `false` too when device conditions held uploads back: those records stay in the
    /// ring and are shipped by a later start.
    pub flushed: bool,
    /// Whether the dispatcher thread finished (false: it was left behind, detached).
    pub dispatcher_finished: bool,
    /// How long shutdown took.
    pub took: Duration,
}

/// Starts telemetry with substituted parts: the breakers' clock and either
/// destination's transport (what tests and embedders replace). Made by
/// [`Telemetry::builder`].
///
/// ```
/// use locus_telemetry::{testing::ManualClock, Settings, Telemetry};
/// use std::sync::Arc;
/// let dir = tempfile::tempdir().unwrap();
/// let clock = Arc::new(ManualClock::new());
/// let t = Telemetry::builder(Settings { data_dir: dir.path().into(), ..Settings::default() })
///     .clock(clock)
///     .start();
/// assert!(t.status().dispatch.is_some());
/// t.shutdown(std::time::Duration::from_millis(500));
/// ```
#[must_use = "call .start() to start telemetry"]
pub struct TelemetryBuilder {
    settings: Settings,
    overrides: Overrides,
}

impl TelemetryBuilder {
    /// The clock of the circuit breakers (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn crate::testing::Clock>) -> Self {
        self.overrides.clock = Some(clock);
        self
    }

    /// A diagnostics sink used instead of the destination the settings name.
    pub fn diagnostics_sink(mut self, sink: Arc<dyn crate::testing::DiagnosticsSink>) -> Self {
        self.overrides.diagnostics_sink = Some(sink);
        self
    }

    /// A community sink used instead of the service `community_url` names (community
    /// telemetry still runs only as the opt-in allows).
    pub fn community_sink(mut self, sink: Arc<dyn crate::testing::CommunitySink>) -> Self {
        self.overrides.community_sink = Some(sink);
        self
    }

    /// The HTTP transport both destinations send through instead of the built-in one
    /// (see [`crate::transport`]); the Kotlin binding installs the platform's.
    pub fn transport(mut self, transport: Arc<dyn crate::sink::transport::Transport>) -> Self {
        self.overrides.transport = Some(transport);
        self
    }

    /// Starts telemetry; never fails (see [`Telemetry::start`]).
    pub fn start(self) -> Telemetry {
        Telemetry::start_with(self.settings, self.overrides)
    }
}

impl Telemetry {
    /// Starts telemetry. Never fails: any problem (unusable data dir, locked ring) yields
    /// a degraded handle and a readable reason in `status()`. An invalid setting is
    /// replaced by its default alone (see [`Settings::with_defaults_for_invalid`]) and
    /// reported as a [`ProblemArea::Settings`] problem naming the key, its range and the
    /// default used.
    /// Keep the handle for the app's lifetime: dropping the last clone shuts down.
    ///
    /// Cheap on the caller's thread (an app's cold start): it opens the ring (finding
    /// where its records end from their heads, without decoding them), installs crash
    /// capture, reads the device id and the opt-in choice and starts the telemetry
    /// thread. Recording works as soon as it returns. What can wait happens on the
    /// telemetry thread right after: the previous session's verdict (from its marker and
    /// the records the ring held at open), this session's marker and the community's
    /// count of the previous outcome; see [`Telemetry::previous_session`].
    pub fn start(settings: Settings) -> Telemetry {
        Self::start_with(settings, Overrides::default())
    }

    /// A builder, for starting with substituted parts (a test clock, a custom sink).
    pub fn builder(settings: Settings) -> TelemetryBuilder {
        TelemetryBuilder {
            settings,
            overrides: Overrides::default(),
        }
    }

    fn start_with(settings: Settings, overrides: Overrides) -> Telemetry {
        // The clock's first reading: what it is compared with for jumps from now on.
        let _ = crate::clock::now();
        crate::fork::install();
        let fallback = settings.clone();
        let start = std::panic::AssertUnwindSafe(move || {
            // A panic in here is telemetry's failure, not the app's crash: no tombstone.
            let _own = crate::background::TelemetryThreadScope::enter();
            Self::start_inner(settings, overrides)
        });
        match std::panic::catch_unwind(start) {
            Ok(t) => t,
            Err(_) => {
                session::settle_failed_start(&DataDir::new(&fallback.data_dir));
                Self::degraded(
                    fallback,
                    Problem::new(
                        ProblemArea::Internal,
                        "telemetry failed to start (internal panic)",
                    ),
                )
            }
        }
    }

    fn degraded(settings: Settings, why: Problem) -> Telemetry {
        let failures_from = crate::background::failure_mark();
        // Nothing of the data dir is used: the ring is on the heap and the previous
        // session is not read, both because of `why`.
        let recorder = FlightRecorder::in_memory_because(
            crate::recorder::layout::DEFAULT_RING_BYTES,
            why.message.clone(),
        );
        let previous = Verdict::known(PreviousSession::unknown(format!(
            "not read: {}",
            why.message
        )));
        Telemetry {
            inner: Arc::new(Inner {
                device_id: settings
                    .device_id
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
                settings: Settings {
                    enable_s3_diagnostics: false,
                    enable_community_telemetry: false,
                    ..Settings::default()
                },
                recorder,
                previous,
                problems: Arc::new(Mutex::new(vec![why])),
                session: Arc::new(Mutex::new(None)),
                dispatcher: None,
                community: None,
                gate: UploadGate::new(false),
                shut_down: OnceLock::new(),
                failures_from,
            }),
        }
    }

    fn start_inner(settings: Settings, overrides: Overrides) -> Telemetry {
        // Before the keeper starts: its failures are this telemetry's.
        let failures_from = crate::background::failure_mark();
        crate::background::injected_panic_point("start");
        let mut problems = Vec::new();
        // An invalid value costs its own setting (its default is used), never the rest.
        let (settings, replaced) = settings.with_defaults_for_invalid();
        for (e, default) in replaced {
            problems.push(Problem::new(
                ProblemArea::Settings,
                format!("{e}; using the default {default} instead"),
            ));
        }
        let dir = settings.data_dir.clone();
        // Why the data dir cannot be used, if it cannot: then the previous session is
        // not known (rather than a "first start").
        let mut unusable = None;
        if let Err(e) = std::fs::create_dir_all(&dir) {
            let why = format!("cannot create data dir {}: {e}", dir.display());
            problems.push(Problem::new(ProblemArea::DataDir, why.clone()));
            unusable = Some(why);
        }
        let data = DataDir::new(&dir);
        let recorder = FlightRecorder::open(&data.ring_path(), settings.ring_bytes);
        if recorder.status().owned_elsewhere {
            return Self::second_instance(settings, recorder, problems);
        }
        if let Backend::Memory(Some(reason)) = &recorder.status().backend {
            problems.push(Problem::new(
                ProblemArea::Recorder,
                format!("flight recorder on the heap (records will not survive a crash): {reason}"),
            ));
        }
        if recorder.status().file_backed() {
            recorder.watch_verbosity(&data.path(StateFile::Verbosity));
        }
        let device_id = settings
            .device_id
            .clone()
            .unwrap_or_else(|| load_or_create_device_id(&data, &mut problems));
        crash::install(
            &recorder,
            &settings.app_version,
            settings.capture_fatal_signals,
        );
        let community =
            CommunityShared::load(&dir, settings.enable_community_telemetry, &mut problems);
        let gate = UploadGate::new(settings.upload_on_metered);
        let (first, first_rx) = mpsc::channel::<FirstStep>();
        let dispatcher = crate::dispatch::Dispatcher::start(
            &settings,
            &recorder,
            &device_id,
            &overrides,
            Some(community.clone()),
            &gate,
            first_rx,
            &mut problems,
        );
        // Last, so that a start that fails (a caught panic) has begun no session.
        let session = Session::begin(&data, &recorder, &settings.app_version);
        let start_seq = session.start_seq();
        let session = Arc::new(Mutex::new(Some(session)));
        let problems = Arc::new(Mutex::new(problems));
        let previous = Verdict::deferred({
            let history = recorder.take_history();
            let (session, problems, community) =
                (session.clone(), problems.clone(), community.clone());
            let opted_in_at_start = community.opted_in();
            move || {
                // The previous session's marker is read before this session's replaces it.
                let previous = match unusable {
                    Some(why) => PreviousSession::unknown(format!("not read: {why}")),
                    None => session::previous(&data, &history),
                };
                if let Some(p) = lock(&session).as_ref().and_then(Session::mark_running) {
                    lock(&problems).push(Problem::new(ProblemArea::Session, p));
                }
                if opted_in_at_start {
                    community.on_start(previous.outcome, start_seq);
                }
                previous
            }
        });
        let step: FirstStep = {
            let previous = previous.clone();
            Box::new(move || {
                previous.settle();
            })
        };
        // The telemetry thread's first action, or a short-lived thread of its own. If
        // neither runs it, the first caller that needs the verdict does (shutdown at the
        // latest).
        let unsent = match &dispatcher {
            Some(_) => first.send(step).err().map(|e| e.0),
            None => Some(step),
        };
        if let Some(step) = unsent {
            let _ = crate::background::spawn("locus-start", 256 * 1024, step);
        }
        Telemetry {
            inner: Arc::new(Inner {
                settings,
                recorder,
                device_id,
                previous,
                problems,
                session,
                dispatcher,
                community: Some(community),
                gate,
                shut_down: OnceLock::new(),
                failures_from,
            }),
        }
    }

    /// Another running process owns the data dir (its ring is locked). This instance
    /// records on the heap and touches nothing of the owner's: no session marker, no
    /// device id, no cursors, breakers or community state, and it uploads nothing, so its
    /// records never reach the bucket under sequence numbers the owner also uses.
    fn second_instance(
        settings: Settings,
        recorder: FlightRecorder,
        mut problems: Vec<Problem>,
    ) -> Telemetry {
        let failures_from = crate::background::failure_mark();
        let dir = &settings.data_dir;
        problems.push(Problem::new(
            ProblemArea::SecondInstance,
            format!(
                "data dir {} is in use by another running instance: this one records in \
                 memory only, uploads nothing and leaves the owner's state files alone",
                dir.display()
            ),
        ));
        let device_id = settings.device_id.clone().unwrap_or_else(|| {
            DataDir::new(dir)
                .device_id()
                .ok()
                .flatten()
                .unwrap_or_else(|| "unknown".into())
        });
        crash::install(
            &recorder,
            &settings.app_version,
            settings.capture_fatal_signals,
        );
        Telemetry {
            inner: Arc::new(Inner {
                settings: Settings {
                    enable_s3_diagnostics: false,
                    enable_community_telemetry: false,
                    ..settings
                },
                recorder,
                device_id,
                previous: Verdict::known(PreviousSession::only(session::Outcome::StillRunning)),
                problems: Arc::new(Mutex::new(problems)),
                session: Arc::new(Mutex::new(None)),
                dispatcher: None,
                community: None,
                gate: UploadGate::new(false),
                shut_down: OnceLock::new(),
                failures_from,
            }),
        }
    }

    /// The flight recorder, for this workspace's own tests and benches (feature
    /// `internals`); not for apps: it bypasses the metric aggregation and the session.
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn recorder(&self) -> &FlightRecorder {
        &self.inner.recorder
    }

    /// Makes telemetry's own thread `name` (e.g. `locus-keeper`) panic at its next look,
    /// for this workspace's tests of what such a panic does (feature `internals`).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn inject_panic_on_thread(&self, name: &'static str) {
        crate::background::inject_panic(name);
    }

    /// A `tracing_subscriber` layer that records into this telemetry.
    pub fn layer(&self) -> TelemetryLayer {
        TelemetryLayer::new(self.inner.recorder.clone())
    }

    /// Records a log line.
    #[inline]
    pub fn log(
        &self,
        level: Level,
        target: &str,
        message: &str,
        fields: &[(&str, FieldValue<'_>)],
    ) -> u64 {
        guard_hot(0, || {
            self.inner.recorder.log(level, target, message, fields)
        })
    }

    /// The verbosity in effect: the lowest log level recorded (`info` by default) and,
    /// when raised, until when.
    pub fn verbosity(&self) -> Verbosity {
        self.inner.recorder.verbosity()
    }

    /// Records `debug` (or `trace`) log lines too, for `duration` (1 second to 24 hours;
    /// [`DEFAULT_VERBOSITY_RAISE`] is a good choice), then falls back to `info` by itself;
    /// `Level::Info` returns to the default at once. Returns what is in effect. The
    /// request is written to the data dir's `verbosity.json` too, so `locus-diag` and the
    /// Debug screen show it (and can change it: the file's latest request wins).
    ///
    /// ```
    /// use locus_telemetry::{Level, Telemetry, Settings, DEFAULT_VERBOSITY_RAISE};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let t = Telemetry::start(Settings { data_dir: dir.path().into(), ..Default::default() });
    /// assert_eq!(t.log(Level::Debug, "app", "dropped", &[]), 0); // info by default
    /// let v = t.set_verbosity(Level::Debug, DEFAULT_VERBOSITY_RAISE).unwrap();
    /// assert_eq!(v.level, Level::Debug);
    /// assert!(t.log(Level::Debug, "app", "recorded", &[]) > 0);
    /// assert!(t.set_verbosity(Level::Trace, std::time::Duration::from_secs(48 * 3600)).is_err());
    /// # t.shutdown(std::time::Duration::from_millis(200));
    /// ```
    pub fn set_verbosity(
        &self,
        level: Level,
        duration: Duration,
    ) -> Result<Verbosity, VerbosityError> {
        self.guard(
            "set_verbosity",
            || Err(VerbosityError::Internal),
            || self.inner.recorder.set_verbosity(level, duration),
        )
    }

    /// Adds to a counter. Aggregated in memory and written once a second (see
    /// the metric table), so counting in a hot loop costs no record per call.
    #[inline]
    pub fn counter(&self, name: &str, increment: u64) {
        guard_hot((), || self.inner.recorder.count(name, increment));
    }

    /// Sets a gauge (non-finite values are refused).
    pub fn gauge(&self, name: &str, value: f64) {
        guard_hot((), || {
            self.inner.recorder.metric(name, MetricKind::Gauge, value);
        });
    }

    /// Records one observation of a distribution (non-finite values are refused).
    /// Aggregated in memory like [`Telemetry::counter`]: a `histogram` record with
    /// count, sum, min and max lands in the ring once a second.
    #[inline]
    pub fn histogram(&self, name: &str, value: f64) {
        guard_hot((), || self.inner.recorder.observe(name, value));
    }

    /// The newest `n` records, oldest first — the Debug screen.
    pub fn recent(&self, n: usize) -> Vec<Record> {
        self.guard("recent", Vec::new, || self.inner.recorder.recent(n))
    }

    /// How the previous session in this data dir ended.
    ///
    /// `start` leaves finding it to its background step (the previous session's marker
    /// is read, then this session's written, off the caller's thread), which is usually
    /// done within moments. Called before that, this does the step's work itself (a
    /// small file read and write) or waits for it, so the answer is always the verdict,
    /// never a guess. [`Telemetry::wait_previous_session`] waits without doing that work.
    pub fn previous_session(&self) -> PreviousSession {
        self.guard(
            "previous_session",
            || PreviousSession::only(session::Outcome::Abnormal),
            || self.inner.previous.settle(),
        )
    }

    /// How the previous session ended, if start's background step has found out within
    /// `wait` (`None`: still pending). Never reads or writes a file on the calling
    /// thread; `Duration::ZERO` only looks. Once it is known, this session's marker is
    /// written too (or the failure to write it is in `status().problems`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
    /// #     data_dir: dir.path().into(), enable_s3_diagnostics: false, ..Default::default() });
    /// let previous = t.wait_previous_session(Duration::from_secs(5)).unwrap();
    /// assert_eq!(previous.outcome, locus_telemetry::SessionOutcome::FirstStart);
    /// # t.shutdown(Duration::from_millis(500));
    /// ```
    pub fn wait_previous_session(&self, wait: Duration) -> Option<PreviousSession> {
        self.guard(
            "wait_previous_session",
            || None,
            || self.inner.previous.wait(wait),
        )
    }

    /// The share bundle of this app's flight recorder now: preview it
    /// ([`ExportBundle::preview_lines`], [`ExportBundle::summary`]) before writing it.
    pub fn export_bundle(&self, options: &ExportOptions) -> ExportBundle {
        self.guard(
            "export_bundle",
            || ExportBundle::new(Default::default(), options, crate::clock::now()),
            || {
                // The categories the app declared in its settings, where the options
                // declare none.
                let options = options
                    .clone()
                    .with_declared(&self.settings().field_categories);
                ExportBundle::new(
                    self.inner.recorder.snapshot(),
                    &options,
                    crate::clock::now(),
                )
            },
        )
    }

    /// Writes the share bundle of this app's flight recorder to `out` (a new
    /// `.jsonl.gz`, the bucket's record format) and its summary beside it; returns the
    /// summary. See [`ExportOptions`] and the crate's `export` docs for the format and
    /// what redaction covers.
    ///
    /// ```
    /// use locus_telemetry::{ExportOptions, Settings, Telemetry};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let t = Telemetry::start(Settings { data_dir: dir.path().join("d"), ..Default::default() });
    /// let summary = t.export(&dir.path().join("share.jsonl.gz"), &ExportOptions::default()).unwrap();
    /// assert_eq!(summary.sessions.len(), 1);
    /// # t.shutdown(std::time::Duration::from_millis(200));
    /// ```
    pub fn export(
        &self,
        out: &Path,
        options: &ExportOptions,
    ) -> Result<ExportSummary, ExportError> {
        self.guard(
            "export",
            || Err(ExportError::Internal),
            || self.export_bundle(options).write(out),
        )
    }

    /// The settings in effect.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.inner.settings.data_dir
    }

    /// Recorder, problems, previous session, switches, device conditions and the
    /// state of each destination (with why its uploads wait, if they do).
    pub fn status(&self) -> Status {
        self.guard("status", || self.status_fallback(), || self.status_inner())
    }

    /// What `status()` says when gathering it failed: what needs no work, and the
    /// problem (already in `problems`) that says why.
    fn status_fallback(&self) -> Status {
        Status {
            recorder: crate::recorder::RecorderStatus {
                backend: crate::recorder::Backend::Memory(Some(
                    "unknown: reading the recorder's status failed".into(),
                )),
                capacity_bytes: 0,
                next_seq: 0,
                recovered: 0,
                salvaged: 0,
                moved_aside: None,
                owned_elsewhere: false,
            },
            previous_session: self
                .inner
                .previous
                .wait(Duration::ZERO)
                .map_or(session::Outcome::Unknown, |p| p.outcome),
            problems: lock(&self.inner.problems).clone(),
            device_id: self.inner.device_id.clone(),
            s3_diagnostics: self.inner.settings.enable_s3_diagnostics,
            community_telemetry: false,
            conditions: self.inner.gate.get(),
            shut_down: self.inner.shut_down.get().is_some(),
            verbosity: self.inner.recorder.verbosity(),
            dispatch: None,
        }
    }

    fn status_inner(&self) -> Status {
        // First: the step that finds the verdict may add a problem (the marker).
        let previous_session = self.inner.previous.settle().outcome;
        let dispatch = self.inner.dispatcher.as_ref().map(|d| d.status());
        let mut problems = lock(&self.inner.problems).clone();
        if let Some(clock) = crate::clock::problem() {
            problems.push(Problem::new(ProblemArea::Clock, clock));
        }
        problems.extend(
            crate::background::failures_since(self.inner.failures_from)
                .into_iter()
                .map(|f| Problem::new(ProblemArea::Internal, f)),
        );
        if let Some(why) = dispatch.as_ref().and_then(|d| d.stopped.as_ref()) {
            problems.push(Problem::new(
                ProblemArea::Dispatcher,
                format!("uploads are not running: {why}; recording continues"),
            ));
        }
        Status {
            recorder: self.inner.recorder.status(),
            previous_session,
            problems,
            device_id: self.inner.device_id.clone(),
            s3_diagnostics: self.inner.settings.enable_s3_diagnostics,
            community_telemetry: self.community_telemetry(),
            conditions: self.inner.gate.get(),
            shut_down: self.inner.shut_down.get().is_some(),
            verbosity: self.inner.recorder.verbosity(),
            dispatch,
        }
    }

    /// What the app knows about the device: network, charging, battery low, power-save.
    /// Uploads obey it from the next round (see [`Conditions`] for the rules); a change
    /// wakes the uploader, so records held back go as soon as they may. Never blocks.
    ///
    /// ```
    /// use locus_telemetry::{Conditions, DestinationKind, Network, Settings, Telemetry, UploadWait};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let t = Telemetry::start(Settings { data_dir: dir.path().into(), ..Default::default() });
    /// t.set_conditions(Conditions { network: Network::Metered, ..Conditions::default() });
    /// # assert!(!t.flush(std::time::Duration::from_secs(5)));
    /// let s3 = t.status().destination(DestinationKind::S3).cloned().unwrap();
    /// assert_eq!(s3.waiting, Some(UploadWait::MeteredNetwork));
    /// ```
    pub fn set_conditions(&self, conditions: Conditions) {
        self.guard(
            "set_conditions",
            || (),
            || {
                self.inner
                    .recorder
                    .watchdog()
                    .set_paused(conditions.hangs_paused());
                if self.inner.gate.set(conditions) {
                    if let Some(d) = &self.inner.dispatcher {
                        d.wake();
                    }
                }
            },
        )
    }

    /// Watches the loop `name` for hangs: beat the returned [`Watch`] once per iteration
    /// of the loop, and telemetry's own thread records a `hang` record when the gap
    /// between beats passes `max_gap` (phase `start`, seen within 250 ms) and another
    /// when the loop beats again (phase `end`, the gap measured to within one look of
    /// 250 ms),
    /// never touching the loop's thread. While the app is in the background or the
    /// device dozes ([`Telemetry::set_in_foreground`], [`Conditions`]) gaps are not hangs.
    /// The community report counts the hangs that started in its period.
    ///
    /// `name`: `[a-z][a-z0-9_.-]{0,31}` (it reaches the community's counts: no free
    /// text); `max_gap`: [`crate::MIN_MAX_GAP`]`..=`[`crate::MAX_MAX_GAP`] (250 ms to ten
    /// minutes); at most [`crate::MAX_WATCHES`] loops at once, each name once. Dropping
    /// the last clone of the [`Watch`] stops watching. Fail-open: a refusal is a
    /// [`WatchError`], never a panic, and the app goes on without the watch.
    ///
    /// ```
    /// use locus_telemetry::{Settings, Telemetry, WatchError};
    /// use std::time::Duration;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let t = Telemetry::start(Settings { data_dir: dir.path().into(), ..Settings::default() });
    /// let tracking = t.watch("tracking", Duration::from_millis(500)).unwrap();
    /// tracking.beat();
    /// assert!(matches!(
    ///     t.watch("tracking", Duration::from_millis(10)),
    ///     Err(WatchError::MaxGapOutOfRange { ms: 10 })
    /// ));
    /// # t.shutdown(Duration::from_millis(500));
    /// ```
    pub fn watch(&self, name: &str, max_gap: Duration) -> Result<Watch, WatchError> {
        self.guard(
            "watch",
            || Err(WatchError::Internal),
            || {
                if self.inner.shut_down.get().is_some() {
                    return Err(WatchError::ShutDown);
                }
                self.inner.recorder.watch(name, max_gap)
            },
        )
    }

    /// Whether the app is in the foreground (default: yes). In the background gaps of
    /// watched loops are not hangs (see [`Telemetry::watch`]); the other device
    /// conditions stay as they are, and uploads do not depend on it. Never blocks.
    pub fn set_in_foreground(&self, foreground: bool) {
        self.guard(
            "set_in_foreground",
            || (),
            || {
                let now = self.inner.gate.set_background(!foreground);
                self.inner
                    .recorder
                    .watchdog()
                    .set_paused(now.hangs_paused());
            },
        )
    }

    /// Whether community telemetry is on (the user's latest choice, else the setting).
    pub fn community_telemetry(&self) -> bool {
        self.guard(
            "community_telemetry",
            || false,
            || self.inner.community.as_ref().is_some_and(|c| c.opted_in()),
        )
    }

    /// The user's opt-in choice, effective at once and kept across restarts. Switching
    /// off stops sending, drops pending community data, rotates the pseudonym's salt and
    /// sends one deletion request for the old pseudonym.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
    /// #     data_dir: dir.path().into(), enable_s3_diagnostics: false, ..Default::default() });
    /// assert!(!t.community_telemetry()); // off by default
    /// t.set_community_telemetry(true).unwrap();
    /// assert!(t.community_telemetry());
    /// # t.shutdown(std::time::Duration::from_millis(100));
    /// ```
    pub fn set_community_telemetry(&self, enabled: bool) -> Result<(), CommunityChoiceError> {
        self.guard(
            "set_community_telemetry",
            || Err(CommunityChoiceError::Internal),
            || self.set_community_inner(enabled),
        )
    }

    fn set_community_inner(&self, enabled: bool) -> Result<(), CommunityChoiceError> {
        let Some(c) = &self.inner.community else {
            return Err(CommunityChoiceError::Degraded);
        };
        c.set(enabled, &self.inner.device_id, &self.inner.recorder)?;
        if let Some(d) = &self.inner.dispatcher {
            d.wake();
        }
        Ok(())
    }

    /// The exact community report that would be sent now (for a preview screen), opted
    /// in or not (`None` only when telemetry is degraded).
    pub fn community_preview(&self) -> Option<CommunityPreview> {
        self.guard("community_preview", || None, || self.preview_inner())
    }

    fn preview_inner(&self) -> Option<CommunityPreview> {
        let c = self.inner.community.as_ref()?;
        let records = self.inner.recorder.snapshot().records;
        Some(c.preview(
            &records,
            &self.inner.device_id,
            &self.inner.settings.destination_url(),
            &self.inner.settings.app_version,
            &self.inner.settings.community_metrics,
        ))
    }

    /// Asks the dispatcher to ship everything recorded so far and waits at most
    /// `deadline`. Returns whether it finished in time (`false` too when device
    /// conditions hold uploads back, or after `shutdown`).
    pub fn flush(&self, deadline: Duration) -> bool {
        self.guard("flush", || false, || self.flush_inner(deadline))
    }

    fn flush_inner(&self, deadline: Duration) -> bool {
        if self.inner.shut_down.get().is_some() {
            return false;
        }
        self.inner.recorder.flush_metrics();
        match &self.inner.dispatcher {
            Some(d) => d.flush(deadline) && !self.inner.gate.holds_any(),
            None => true,
        }
    }

    /// Records a clean exit, gives the dispatcher until `deadline` to ship what is left,
    /// and stops it. Returns by the deadline whatever the network does. Ends telemetry
    /// for every clone of this handle; a second call returns the first call's report.
    pub fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.guard(
            "shutdown",
            || ShutdownReport {
                flushed: false,
                dispatcher_finished: false,
                took: Duration::ZERO,
            },
            || self.inner.shutdown(deadline),
        )
    }

    /// Runs a public call's work through [`crate::fail_open::guard`].
    fn guard<T>(
        &self,
        call: &'static str,
        fallback: impl FnOnce() -> T,
        work: impl FnOnce() -> T,
    ) -> T {
        crate::fail_open::guard(&self.inner.problems, call, fallback, work)
    }

    /// Writes a crash tombstone for an uncaught exception of a foreign runtime (a JVM or
    /// ART thread's), synchronously, as the panic hook does for a Rust panic: a binding
    /// calls it from the runtime's uncaught-exception handler, before the process dies.
    /// The next start reads the session as crashed (unless it then exits cleanly: a
    /// thread's death the process survived) and the community report counts it by its
    /// message's template. Returns the tombstone's sequence number (0 after `shutdown`).
    /// Never blocks on a lock of the app's threads; allocates only the headline.
    pub fn record_uncaught_exception(
        &self,
        exception: &crash::foreign::UncaughtException<'_>,
    ) -> u64 {
        self.guard(
            "record_uncaught_exception",
            || 0,
            || {
                crash::foreign::record(
                    &self.inner.recorder,
                    &self.inner.settings.app_version,
                    exception,
                )
            },
        )
    }

    /// Shuts down (within `deadline`, as [`Telemetry::shutdown`]), lets go of this
    /// handle, and waits until the data dir is released — the ring file closed and its
    /// lock gone — so that a new start in this process owns it. Returns whether it was
    /// released within `deadline` plus [`RELEASE_WAIT`]: `false` when another clone of
    /// this handle is still alive (the data dir is released when the last one goes).
    ///
    /// ```
    /// use locus_telemetry::{SessionOutcome, Settings, Telemetry};
    /// use std::time::Duration;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let settings = Settings { data_dir: dir.path().into(), ..Settings::default() };
    /// assert!(Telemetry::start(settings.clone()).close(Duration::from_millis(500)));
    /// let again = Telemetry::start(settings);
    /// assert_eq!(again.previous_session().outcome, SessionOutcome::Exited);
    /// # again.shutdown(Duration::from_millis(500));
    /// ```
    pub fn close(self, deadline: Duration) -> bool {
        let started = Instant::now();
        self.shutdown(deadline);
        let weak = self.inner.recorder.downgrade();
        drop(self);
        let until = started + deadline.min(LONGEST_WAIT) + RELEASE_WAIT;
        // The recorder's last owners are this handle and the threads shutdown stopped
        // (the dispatcher lets go before it says it exited; the keeper holds it for one
        // pretouch at most): a short wait, looked at every millisecond.
        loop {
            match weak.upgrade() {
                None => return true,
                Some(r) => drop(r),
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The longest any call waits, whatever deadline it is given (`Instant + Duration::MAX`
/// would overflow): a year.
pub(crate) const LONGEST_WAIT: Duration = Duration::from_secs(365 * 86_400);

/// What [`Telemetry::close`] waits, beyond its shutdown deadline, for telemetry's own
/// threads to let go of the data dir.
pub const RELEASE_WAIT: Duration = Duration::from_millis(1000);

impl Inner {
    fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        if let Some(done) = self.shut_down.get() {
            return done.clone();
        }
        if crate::fork::forked() {
            // A forked child: telemetry's threads stayed in the parent and its files are
            // the parent's. Nothing to stop, nothing to write (see `crate::fork`).
            self.recorder.close();
            let report = ShutdownReport {
                flushed: false,
                dispatcher_finished: true,
                took: Duration::ZERO,
            };
            return self.shut_down.get_or_init(|| report).clone();
        }
        let started = Instant::now();
        self.recorder.flush_metrics();
        // A hang whose loop beat again since the keeper's last look ends in this session.
        self.recorder.look_for_hangs();
        // The previous session's marker must be read before this one's is marked exited.
        self.previous.settle();
        if let Some(mut s) = lock(&self.session).take() {
            s.end(&self.recorder);
        }
        let (flushed, dispatcher_finished) = match &self.dispatcher {
            Some(d) => d.shutdown(deadline),
            None => (true, true),
        };
        let held = self.gate.holds_any();
        crash::detach(&self.recorder);
        self.recorder.close();
        let report = ShutdownReport {
            flushed: flushed && !(held && self.dispatcher.is_some()),
            dispatcher_finished,
            took: started.elapsed(),
        };
        self.shut_down.get_or_init(|| report).clone()
    }
}

/// The last handle went without `shutdown`: shut down now, within the settings' deadline.
impl Drop for Inner {
    fn drop(&mut self) {
        if self.shut_down.get().is_none() {
            let deadline = Duration::from_millis(self.settings.shutdown_deadline_ms);
            // No panic crosses into the app, from a drop least of all (see `fail_open`).
            crate::fail_open::guard(
                &self.problems,
                "drop",
                || (),
                || {
                    let _ = self.shutdown(deadline);
                },
            );
        }
    }
}

/// Locks `m`, whether or not a panicking thread held it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn load_or_create_device_id(data: &DataDir, problems: &mut Vec<Problem>) -> String {
    match data.device_id() {
        Ok(Some(id)) => return id,
        Ok(None) => {}
        Err(e) => problems.push(Problem::new(
            ProblemArea::DataDir,
            format!("{e}; generated a new device id"),
        )),
    }
    let id = crate::ids::random_hex(8);
    if let Err(e) = data.write_device_id(&id) {
        problems.push(Problem::new(
            ProblemArea::DataDir,
            format!(
                "cannot keep device id in {}: {e} (using {id} for this run)",
                data.path(StateFile::DeviceId).display()
            ),
        ));
    }
    id
}
