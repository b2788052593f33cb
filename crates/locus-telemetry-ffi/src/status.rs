//! The Debug screen's and the settings screen's calls: status, device conditions, the
//! community opt-in and its preview, the previous session without waiting, verbosity and
//! the share bundle. Conversion only, like the rest of the crate; none of these calls
//! throws for a telemetry failure.

use crate::{Level, LocusTelemetry, PreviousSession, SessionOutcome};
use locus_telemetry::{
    Backend as CoreBackend, BreakerState as CoreBreakerState, BreakerStatus as CoreBreaker,
    Conditions as CoreConditions, DestinationKind as CoreKind,
    DestinationStatus as CoreDestination, ExportOptions, Network as CoreNetwork,
    Problem as CoreProblem, ProblemArea as CoreArea, RecorderStatus as CoreRecorder,
    Status as CoreStatus, UploadWait as CoreWait, Verbosity as CoreVerbosity,
    VerbosityError as CoreVerbosityError,
};
use std::path::Path;
use std::time::Duration;

/// The network the device is on, as the app knows it (Android: `ConnectivityManager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Network {
    /// No network: no upload is attempted (and no failure counted).
    None,
    /// A metered network: uploads to the user's bucket wait unless
    /// `upload_on_metered`.
    Metered,
    /// An unmetered network (the library's assumption until told otherwise).
    Unmetered,
}

/// What the app knows about the device; uploads obey it (see `set_conditions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Conditions {
    /// The network.
    pub network: Network,
    /// Charging: low battery and power-save hold nothing back.
    pub charging: bool,
    /// Battery low: uploads wait unless charging.
    pub battery_low: bool,
    /// Power-save mode: uploads wait unless charging.
    pub power_save: bool,
    /// The app is in the background: gaps of watched loops are not hangs.
    #[uniffi(default = false)]
    pub background: bool,
    /// The device dozes: gaps of watched loops are not hangs.
    #[uniffi(default = false)]
    pub doze: bool,
}

impl From<Conditions> for CoreConditions {
    fn from(c: Conditions) -> CoreConditions {
        CoreConditions {
            network: match c.network {
                Network::None => CoreNetwork::None,
                Network::Metered => CoreNetwork::Metered,
                Network::Unmetered => CoreNetwork::Unmetered,
            },
            charging: c.charging,
            battery_low: c.battery_low,
            power_save: c.power_save,
            background: c.background,
            doze: c.doze,
        }
    }
}

impl From<CoreConditions> for Conditions {
    fn from(c: CoreConditions) -> Conditions {
        Conditions {
            network: match c.network {
                CoreNetwork::None => Network::None,
                CoreNetwork::Metered => Network::Metered,
                CoreNetwork::Unmetered => Network::Unmetered,
            },
            charging: c.charging,
            battery_low: c.battery_low,
            power_save: c.power_save,
            background: c.background,
            doze: c.doze,
        }
    }
}

/// Why a destination's uploads are waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadWait {
    /// No network.
    NoNetwork,
    /// A metered network and `upload_on_metered` is off.
    MeteredNetwork,
    /// Battery low and not charging.
    BatteryLow,
    /// Power-save mode and not charging.
    PowerSave,
}

impl From<CoreWait> for UploadWait {
    fn from(w: CoreWait) -> UploadWait {
        match w {
            CoreWait::NoNetwork => UploadWait::NoNetwork,
            CoreWait::MeteredNetwork => UploadWait::MeteredNetwork,
            CoreWait::BatteryLow => UploadWait::BatteryLow,
            CoreWait::PowerSave => UploadWait::PowerSave,
        }
    }
}

/// A destination's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BreakerState {
    /// Uploads go.
    Closed,
    /// Backing off after consecutive failures.
    Open,
    /// One trial upload after the back-off.
    HalfOpen,
}

/// Where records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DestinationKind {
    /// The user's bucket (S3 or a `file://` directory).
    S3,
    /// The opt-in community service.
    Community,
}

/// A destination's circuit breaker, as the Debug screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BreakerStatus {
    /// Its state.
    pub state: BreakerState,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// While open: until when, in milliseconds since the Unix epoch.
    pub open_until_ms: Option<i64>,
    /// How often it has opened.
    pub times_opened: u32,
    /// The failure that last counted against it.
    pub last_error: Option<String>,
}

impl From<&CoreBreaker> for BreakerStatus {
    fn from(b: &CoreBreaker) -> BreakerStatus {
        BreakerStatus {
            state: match b.state {
                CoreBreakerState::Closed => BreakerState::Closed,
                CoreBreakerState::Open => BreakerState::Open,
                CoreBreakerState::HalfOpen => BreakerState::HalfOpen,
            },
            consecutive_failures: b.consecutive_failures,
            open_until_ms: b.open_until.map(|t| t.timestamp_millis()),
            times_opened: b.times_opened,
            last_error: b.last_error.clone(),
        }
    }
}

/// One destination of the uploader.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DestinationStatus {
    /// Which one.
    pub kind: DestinationKind,
    /// Where it goes (`s3://bucket/prefix`, `file:///dir`, the community URL).
    pub target: String,
    /// The newest sequence number shipped.
    pub shipped_through: u64,
    /// Uploads that succeeded.
    pub uploads_ok: u64,
    /// Uploads that failed.
    pub uploads_failed: u64,
    /// Upload attempts.
    pub attempts: u64,
    /// Rounds skipped (breaker open, conditions).
    pub skipped: u64,
    /// Why its uploads wait now, if they do.
    pub waiting: Option<UploadWait>,
    /// Records the ring overwrote before they could be shipped.
    pub overwritten_unshipped: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Its circuit breaker.
    pub breaker: BreakerStatus,
}

impl From<&CoreDestination> for DestinationStatus {
    fn from(d: &CoreDestination) -> DestinationStatus {
        DestinationStatus {
            kind: match d.kind {
                CoreKind::S3 => DestinationKind::S3,
                CoreKind::Community => DestinationKind::Community,
            },
            target: d.target.clone(),
            shipped_through: d.shipped_through,
            uploads_ok: d.uploads_ok,
            uploads_failed: d.uploads_failed,
            attempts: d.attempts,
            skipped: d.skipped,
            waiting: d.waiting.map(UploadWait::from),
            overwritten_unshipped: d.overwritten_unshipped,
            last_error: d.last_error.clone(),
            breaker: BreakerStatus::from(&d.breaker),
        }
    }
}

/// The uploader.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DispatchStatus {
    /// Whether its thread is running.
    pub running: bool,
    /// Each destination.
    pub destinations: Vec<DestinationStatus>,
}

/// Which part of telemetry a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ProblemArea {
    /// A setting.
    Settings,
    /// The data dir.
    DataDir,
    /// The flight recorder.
    Recorder,
    /// Another instance owns the data dir.
    SecondInstance,
    /// The session marker.
    Session,
    /// The user's bucket.
    S3,
    /// The community service.
    Community,
    /// The uploader thread.
    Dispatcher,
    /// A bug (a caught panic).
    Internal,
    /// An area this binding does not know yet (a newer library).
    Other,
}

/// Something that went wrong, for the Debug screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Problem {
    /// What it is about.
    pub area: ProblemArea,
    /// What happened.
    pub message: String,
}

impl From<&CoreProblem> for Problem {
    fn from(p: &CoreProblem) -> Problem {
        Problem {
            area: match p.area {
                CoreArea::Settings => ProblemArea::Settings,
                CoreArea::DataDir => ProblemArea::DataDir,
                CoreArea::Recorder => ProblemArea::Recorder,
                CoreArea::SecondInstance => ProblemArea::SecondInstance,
                CoreArea::Session => ProblemArea::Session,
                CoreArea::S3 => ProblemArea::S3,
                CoreArea::Community => ProblemArea::Community,
                CoreArea::Dispatcher => ProblemArea::Dispatcher,
                CoreArea::Internal => ProblemArea::Internal,
                _ => ProblemArea::Other,
            },
            message: p.message.clone(),
        }
    }
}

/// The flight recorder.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecorderStatus {
    /// Backed by the crash-safe mapped file (false: on the heap, lost with the process).
    pub file_backed: bool,
    /// The ring file, when file-backed.
    pub file: Option<String>,
    /// Why the heap is used, when it is.
    pub memory_reason: Option<String>,
    /// Bytes of ring.
    pub capacity_bytes: u64,
    /// The next sequence number.
    pub next_seq: u64,
    /// Records found in the ring at start.
    pub recovered: u64,
    /// Records salvaged from a damaged file.
    pub salvaged: u64,
    /// Where a damaged file's bytes were kept.
    pub moved_aside: Option<String>,
    /// Another running process owns the ring file.
    pub owned_elsewhere: bool,
}

impl From<&CoreRecorder> for RecorderStatus {
    fn from(r: &CoreRecorder) -> RecorderStatus {
        let (file, memory_reason) = match &r.backend {
            CoreBackend::File(p) => (Some(p.display().to_string()), None),
            CoreBackend::Memory(why) => (None, why.clone()),
        };
        RecorderStatus {
            file_backed: r.file_backed(),
            file,
            memory_reason,
            capacity_bytes: r.capacity_bytes as u64,
            next_seq: r.next_seq,
            recovered: r.recovered as u64,
            salvaged: r.salvaged as u64,
            moved_aside: r.moved_aside.as_ref().map(|p| p.display().to_string()),
            owned_elsewhere: r.owned_elsewhere,
        }
    }
}

/// The lowest log level recorded, and until when when raised.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Verbosity {
    /// `Info` (the default), `Debug` or `Trace`.
    pub level: Level,
    /// When a raised level falls back to `Info`, in milliseconds since the Unix epoch.
    pub until_ms: Option<i64>,
}

impl From<CoreVerbosity> for Verbosity {
    fn from(v: CoreVerbosity) -> Verbosity {
        Verbosity {
            level: v.level.into(),
            until_ms: v.until.map(|t| t.timestamp_millis()),
        }
    }
}

/// Everything the Debug screen shows about telemetry itself.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TelemetryStatus {
    /// The flight recorder.
    pub recorder: RecorderStatus,
    /// What went wrong, oldest first.
    pub problems: Vec<Problem>,
    /// How the previous session ended.
    pub previous_session: SessionOutcome,
    /// The device id.
    pub device_id: String,
    /// Diagnostics go to the user's bucket.
    pub s3_diagnostics: bool,
    /// Community telemetry is on (the user's latest choice, else the setting).
    pub community_telemetry: bool,
    /// The device conditions last reported.
    pub conditions: Conditions,
    /// `shutdown` has run.
    pub shut_down: bool,
    /// The verbosity in effect.
    pub verbosity: Verbosity,
    /// The uploader (`None`: none runs, e.g. degraded or both destinations off).
    pub dispatch: Option<DispatchStatus>,
}

impl From<&CoreStatus> for TelemetryStatus {
    fn from(s: &CoreStatus) -> TelemetryStatus {
        TelemetryStatus {
            recorder: RecorderStatus::from(&s.recorder),
            problems: s.problems.iter().map(Problem::from).collect(),
            previous_session: s.previous_session.into(),
            device_id: s.device_id.clone(),
            s3_diagnostics: s.s3_diagnostics,
            community_telemetry: s.community_telemetry,
            conditions: s.conditions.into(),
            shut_down: s.shut_down,
            verbosity: s.verbosity.into(),
            dispatch: s.dispatch.as_ref().map(|d| DispatchStatus {
                running: d.running,
                destinations: d.destinations.iter().map(DestinationStatus::from).collect(),
            }),
        }
    }
}

/// The exact community report that would be sent now, for a preview screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CommunityPreview {
    /// The report as the JSON that would be sent.
    pub report_json: String,
    /// Whether its pseudonym is the one kept in the data dir (false: not opted in yet,
    /// shown with a throwaway salt).
    pub pseudonym_is_kept: bool,
    /// Whether the user has opted in (false: nothing is sent).
    pub opted_in: bool,
}

/// What `export` wrote, or why it wrote nothing. Never an exception: the share button
/// shows `error` instead.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExportResult {
    /// The bundle and its summary were written.
    pub written: bool,
    /// Why not (the file exists, a link stands there, an I/O error, …).
    pub error: Option<String>,
    /// The bundle (`.jsonl.gz`).
    pub path: String,
    /// The summary written beside it.
    pub summary_path: String,
    /// The summary, as in that file (empty when nothing was written).
    pub summary_text: String,
    /// Records in the bundle.
    pub records: u64,
}

/// A verbosity the library refuses: the app asked for something invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum VerbosityError {
    /// Only `Trace`, `Debug` and `Info` can be chosen; a raise lasts 1 s to 24 h.
    #[error("{reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

#[uniffi::export]
impl LocusTelemetry {
    /// Recorder, problems, previous session, switches, device conditions, verbosity and
    /// each destination (with why its uploads wait). `None` only if telemetry failed.
    pub fn status(&self) -> Option<TelemetryStatus> {
        self.with(None, |t| Some(TelemetryStatus::from(&t.status())))
    }

    /// Tells the uploader what the app knows about the device; uploads obey it from the
    /// next round and a change wakes the uploader. Never blocks.
    pub fn set_conditions(&self, conditions: Conditions) {
        self.with((), |t| t.set_conditions(conditions.into()))
    }

    /// Whether community telemetry is on (the user's latest choice, else the setting).
    pub fn community_telemetry(&self) -> bool {
        self.with(false, |t| t.community_telemetry())
    }

    /// The user's opt-in choice, effective at once and kept across restarts. Returns
    /// whether it was kept: `false` when telemetry is degraded or the pseudonym's salt
    /// could not be written (a telemetry failure, so not an exception; the reason is
    /// logged and `community_telemetry()` says what is in effect).
    pub fn set_community_telemetry(&self, enabled: bool) -> bool {
        self.with(false, |t| match t.set_community_telemetry(enabled) {
            Ok(()) => true,
            Err(e) => {
                t.log(
                    locus_telemetry::Level::Warn,
                    "locus.telemetry",
                    "the community choice could not be kept",
                    &[("error", locus_telemetry::FieldValue::Str(&e.to_string()))],
                );
                false
            }
        })
    }

    /// The exact community report that would be sent now, opted in or not (`None` when
    /// telemetry is degraded).
    pub fn community_preview(&self) -> Option<CommunityPreview> {
        self.with(None, |t| {
            let p = t.community_preview()?;
            Some(CommunityPreview {
                report_json: serde_json::to_string_pretty(&p.report).ok()?,
                pseudonym_is_kept: p.pseudonym_is_kept,
                opted_in: p.opted_in,
            })
        })
    }

    /// How the previous session ended, if start's background step has found out within
    /// `wait_ms` (`None`: still pending). Never touches a file on the calling thread; 0
    /// only looks.
    pub fn wait_previous_session(&self, wait_ms: u64) -> Option<PreviousSession> {
        self.with(None, |t| {
            t.wait_previous_session(Duration::from_millis(wait_ms))
                .as_ref()
                .map(PreviousSession::from)
        })
    }

    /// The verbosity in effect.
    pub fn verbosity(&self) -> Verbosity {
        self.with(CoreVerbosity::DEFAULT.into(), |t| t.verbosity().into())
    }

    /// Records `Debug` (or `Trace`) log lines too for `duration_ms` (1 s to 24 h), then
    /// falls back to `Info` by itself; `Info` returns to the default at once. Returns
    /// what is in effect. Errs only for a level or duration the library refuses; when
    /// the request file cannot be written, the verbosity in effect is returned.
    pub fn set_verbosity(
        &self,
        level: Level,
        duration_ms: u64,
    ) -> Result<Verbosity, VerbosityError> {
        let duration = Duration::from_millis(duration_ms);
        self.with(Ok(CoreVerbosity::DEFAULT.into()), |t| {
            match t.set_verbosity(level.into(), duration) {
                Ok(v) => Ok(v.into()),
                Err(e @ (CoreVerbosityError::Level(_) | CoreVerbosityError::Duration(_))) => {
                    Err(VerbosityError::Invalid {
                        reason: e.to_string(),
                    })
                }
                Err(_) => Ok(t.verbosity().into()),
            }
        })
    }

    /// Writes the share bundle of the flight recorder to `path` (a new `.jsonl.gz`, the
    /// bucket's format) and its summary beside it: records of the last `since_secs`
    /// seconds (`None`: all), redacted when `redact` (location and personal fields
    /// removed, text made templates that keep technical tokens). Blocks while
    /// it writes; never throws.
    pub fn export(&self, path: String, since_secs: Option<u64>, redact: bool) -> ExportResult {
        let out = Path::new(&path);
        let summary_path = locus_telemetry::export_summary_path(out)
            .display()
            .to_string();
        let failed = |error: String| ExportResult {
            written: false,
            error: Some(error),
            path: path.clone(),
            summary_path: summary_path.clone(),
            summary_text: String::new(),
            records: 0,
        };
        let options = ExportOptions {
            since: since_secs.map(Duration::from_secs),
            redact,
            ..ExportOptions::default()
        };
        self.with(
            Err("telemetry is closed, or failed while exporting".to_owned()),
            |t| t.export(out, &options).map_err(|e| e.to_string()),
        )
        .map(|summary| ExportResult {
            written: true,
            error: None,
            path: path.clone(),
            summary_path: summary_path.clone(),
            summary_text: summary.to_text(),
            records: summary.records as u64,
        })
        .unwrap_or_else(failed)
    }
}
