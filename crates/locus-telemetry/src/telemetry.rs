//! The handle the app holds: started from [`Settings`], never failing the app. It owns
//! the recorder, crash capture, the session marker and (when uploads are enabled) the
//! dispatcher thread, and offers logging, metrics, the Debug screen's `recent(n)`,
//! `status()` and a bounded `shutdown(deadline)`.

use crate::crash::{self, session, session::PreviousSession, session::Session};
use crate::data_dir::{DataDir, StateFile};
use crate::dispatch::Overrides;
use crate::record::{Level, MetricKind, Record};
use crate::recorder::{Backend, FieldValue, FlightRecorder, RecorderStatus};
use crate::settings::Settings;
use crate::worker::community::CommunityShared;
use crate::TelemetryLayer;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The telemetry module, as the app holds it. Cheap to clone.
///
/// ```
/// use locus_telemetry::{Settings, Telemetry};
/// use locus_telemetry::record::Level;
/// let dir = tempfile::tempdir().unwrap();
/// let telemetry = Telemetry::start(Settings {
///     data_dir: dir.path().to_path_buf(),
///     enable_s3_diagnostics: false,
///     ..Settings::default()
/// });
/// telemetry.log(Level::Info, "app", "tracking started", &[]);
/// telemetry.gauge("battery_pct", 87.0);
/// assert!(telemetry.recent(10).len() >= 3); // session start, log, metric
/// telemetry.shutdown(std::time::Duration::from_millis(500));
/// ```
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    recorder: FlightRecorder,
    device_id: String,
    previous: PreviousSession,
    problems: Vec<String>,
    session: Mutex<Option<Session>>,
    dispatcher: Option<crate::dispatch::Dispatcher>,
    community: Option<Arc<CommunityShared>>,
}

/// Everything `status()` reports. Never contains secrets.
#[derive(Debug, Clone)]
pub struct Status {
    /// The recorder's backend, capacity and recovery figures.
    pub recorder: RecorderStatus,
    /// Problems found at start (each one degraded something; the app runs on).
    pub problems: Vec<String>,
    /// How the previous session ended.
    pub previous_session: session::Outcome,
    /// The device id in use.
    pub device_id: String,
    /// `enable_s3_diagnostics` as in effect.
    pub s3_diagnostics: bool,
    /// `enable_community_telemetry` as in effect.
    pub community_telemetry: bool,
    /// The dispatcher's view: destinations, breakers, last shipped record.
    pub dispatch: Option<crate::dispatch::DispatchStatus>,
}

/// What `shutdown` managed within its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether everything recorded was shipped (or discarded after failing) in time.
    pub flushed: bool,
    /// Whether the dispatcher thread finished (false: it was left behind, detached).
    pub dispatcher_finished: bool,
    /// How long shutdown took.
    pub took: Duration,
}

impl Telemetry {
    /// Starts telemetry. Never fails: any problem (bad settings, unusable data dir,
    /// locked ring) yields a degraded handle and a readable reason in `status()`.
    pub fn start(settings: Settings) -> Telemetry {
        Self::start_with(settings, Overrides::default())
    }

    /// Starts telemetry with substituted parts (a test clock, a custom sink).
    ///
    /// ```
    /// use locus_telemetry::{Settings, Telemetry, dispatch::Overrides, breaker::ManualClock};
    /// use std::sync::Arc;
    /// let dir = tempfile::tempdir().unwrap();
    /// let clock = Arc::new(ManualClock::new());
    /// let t = Telemetry::start_with(
    ///     Settings { data_dir: dir.path().into(), ..Settings::default() },
    ///     Overrides { clock: Some(clock), ..Overrides::default() },
    /// );
    /// assert!(t.status().dispatch.is_some());
    /// t.shutdown(std::time::Duration::from_millis(500));
    /// ```
    pub fn start_with(settings: Settings, overrides: Overrides) -> Telemetry {
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
                    "telemetry failed to start (internal panic)".into(),
                )
            }
        }
    }

    fn degraded(settings: Settings, why: String) -> Telemetry {
        let recorder = FlightRecorder::in_memory(crate::recorder::layout::DEFAULT_RING_BYTES);
        // Without a usable data dir there is no previous session to read.
        let previous = PreviousSession::only(session::Outcome::FirstStart);
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
                problems: vec![why],
                session: Mutex::new(None),
                dispatcher: None,
                community: None,
            }),
        }
    }

    fn start_inner(settings: Settings, overrides: Overrides) -> Telemetry {
        if let Err(e) = settings.validate() {
            return Self::degraded(settings, e.to_string());
        }
        let mut problems = Vec::new();
        let dir = settings.data_dir.clone();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            problems.push(format!("cannot create data dir {}: {e}", dir.display()));
        }
        let data = DataDir::new(&dir);
        let recorder = FlightRecorder::open(&data.ring_path(), settings.ring_bytes);
        if recorder.status().owned_elsewhere {
            return Self::second_instance(settings, recorder, problems);
        }
        if let Backend::Memory(Some(reason)) = &recorder.status().backend {
            problems.push(format!(
                "flight recorder on the heap (records will not survive a crash): {reason}"
            ));
        }
        let device_id = settings
            .device_id
            .clone()
            .unwrap_or_else(|| load_or_create_device_id(&data, &mut problems));
        let previous = session::previous(&data, &recorder.snapshot().records);
        crash::install(&recorder, &settings.app_version);
        let (session, problem) = Session::begin(&data, &recorder, &settings.app_version);
        problems.extend(problem);
        let community =
            CommunityShared::load(&dir, settings.enable_community_telemetry, &mut problems);
        community.on_start(previous.outcome, &recorder);
        let dispatcher = crate::dispatch::Dispatcher::start(
            &settings,
            &recorder,
            &device_id,
            &overrides,
            Some(community.clone()),
            &mut problems,
        );
        Telemetry {
            inner: Arc::new(Inner {
                settings,
                recorder,
                device_id,
                previous,
                problems,
                session: Mutex::new(Some(session)),
                dispatcher,
                community: Some(community),
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
        mut problems: Vec<String>,
    ) -> Telemetry {
        let dir = &settings.data_dir;
        problems.push(format!(
            "data dir {} is in use by another running instance: this one records in memory \
             only, uploads nothing and leaves the owner's state files alone",
            dir.display()
        ));
        let device_id = settings.device_id.clone().unwrap_or_else(|| {
            DataDir::new(dir)
                .device_id()
                .ok()
                .flatten()
                .unwrap_or_else(|| "unknown".into())
        });
        crash::install(&recorder, &settings.app_version);
        Telemetry {
            inner: Arc::new(Inner {
                settings: Settings {
                    enable_s3_diagnostics: false,
                    enable_community_telemetry: false,
                    ..settings
                },
                recorder,
                device_id,
                previous: PreviousSession::only(session::Outcome::StillRunning),
                problems,
                session: Mutex::new(None),
                dispatcher: None,
                community: None,
            }),
        }
    }

    /// The flight recorder (for direct, fastest-path recording).
    pub fn recorder(&self) -> &FlightRecorder {
        &self.inner.recorder
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
        self.inner.recorder.log(level, target, message, fields)
    }

    /// Adds to a counter. Aggregated in memory and written once a second (see
    /// [`crate::metrics`]), so counting in a hot loop costs no record per call.
    #[inline]
    pub fn counter(&self, name: &str, increment: u64) {
        self.inner.recorder.count(name, increment);
    }

    /// Sets a gauge (non-finite values are refused).
    pub fn gauge(&self, name: &str, value: f64) {
        self.inner.recorder.metric(name, MetricKind::Gauge, value);
    }

    /// Records one observation of a distribution (non-finite values are refused).
    /// Aggregated in memory like [`Telemetry::counter`]: a `histogram` record with
    /// count, sum, min and max lands in the ring once a second.
    #[inline]
    pub fn histogram(&self, name: &str, value: f64) {
        self.inner.recorder.observe(name, value);
    }

    /// The newest `n` records, oldest first — the Debug screen.
    pub fn recent(&self, n: usize) -> Vec<Record> {
        self.inner.recorder.recent(n)
    }

    /// How the previous session in this data dir ended.
    pub fn previous_session(&self) -> &PreviousSession {
        &self.inner.previous
    }

    /// The settings in effect.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.inner.settings.data_dir
    }

    /// Recorder, problems, previous session, switches and dispatcher state.
    pub fn status(&self) -> Status {
        Status {
            recorder: self.inner.recorder.status(),
            problems: self.inner.problems.clone(),
            previous_session: self.inner.previous.outcome,
            device_id: self.inner.device_id.clone(),
            s3_diagnostics: self.inner.settings.enable_s3_diagnostics,
            community_telemetry: self.community_telemetry(),
            dispatch: self.inner.dispatcher.as_ref().map(|d| d.status()),
        }
    }

    /// Whether community telemetry is on (the user's latest choice, else the setting).
    pub fn community_telemetry(&self) -> bool {
        self.inner.community.as_ref().is_some_and(|c| c.opted_in())
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
    pub fn set_community_telemetry(&self, enabled: bool) -> Result<(), String> {
        let Some(c) = &self.inner.community else {
            return Err("telemetry is degraded; the choice cannot be kept".into());
        };
        c.set(enabled, &self.inner.device_id, &self.inner.recorder)?;
        if let Some(d) = &self.inner.dispatcher {
            d.wake();
        }
        Ok(())
    }

    /// The exact community report that would be sent now (for a preview screen), and
    /// whether its pseudonym is the stored one (`false`: not opted in yet, so it is
    /// shown with a throwaway salt).
    pub fn community_preview(&self) -> Option<(locus_report::HealthReport, bool)> {
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
    /// `deadline`. Returns whether it finished in time.
    pub fn flush(&self, deadline: Duration) -> bool {
        self.inner.recorder.flush_metrics();
        match &self.inner.dispatcher {
            Some(d) => d.flush(deadline),
            None => true,
        }
    }

    /// Records a clean exit, gives the dispatcher until `deadline` to ship what is left,
    /// and stops it. Returns by the deadline whatever the network does.
    pub fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let started = Instant::now();
        self.inner.recorder.flush_metrics();
        if let Ok(mut guard) = self.inner.session.lock() {
            if let Some(mut s) = guard.take() {
                s.end(&self.inner.recorder);
            }
        }
        let (flushed, dispatcher_finished) = match &self.inner.dispatcher {
            Some(d) => d.shutdown(deadline),
            None => (true, true),
        };
        crash::detach(&self.inner.recorder);
        ShutdownReport {
            flushed,
            dispatcher_finished,
            took: started.elapsed(),
        }
    }
}

fn load_or_create_device_id(data: &DataDir, problems: &mut Vec<String>) -> String {
    match data.device_id() {
        Ok(Some(id)) => return id,
        Ok(None) => {}
        Err(e) => problems.push(format!("{e}; generated a new device id")),
    }
    let id = crate::ids::random_hex(8);
    if let Err(e) = data.write_device_id(&id) {
        problems.push(format!(
            "cannot keep device id in {}: {e} (using {id} for this run)",
            data.path(StateFile::DeviceId).display()
        ));
    }
    id
}
