//! Fail-open runtime telemetry for Locus: logs, crash tombstones and health metrics that
//! go first to the user's own bucket and — only if the user opts in — as anonymised
//! aggregates to a community service. Telemetry may fail completely; the app must not
//! notice.
//!
//! The modules follow the spec's diagram:
//!
//! ```text
//! app ──log/tracing/metric──▶ recorder (Local Circular Buffer: lock-free mmap ring)
//!                                │
//!                         dispatch (thread `locus-telemetry`, own runtime, timer + flush)
//!                           │                          │
//!              worker::s3 (S3Worker)        worker::community (opt-in)
//!              policy + breaker               policy + breaker + privacy
//!                    │                                 │
//!            sink::s3 → user's bucket        sink::community → community service
//! ```
//!
//! `crash` writes tombstones from the panic hook and fatal-signal handlers, `settings`
//! holds the spec's two switches (`enable_s3_diagnostics` = true,
//! `enable_community_telemetry` = false), `breaker` the 6-hour circuit breaker.
//!
//! What an app uses is at the crate root: [`Telemetry`] (started from [`Settings`], or
//! through [`Telemetry::builder`] with substituted parts from [`testing`]), the
//! recording calls with [`Level`] and [`FieldValue`], the [`TelemetryLayer`] for
//! `tracing`, [`Status`] and its parts, device [`Conditions`], and the opt-in switch
//! with its [`CommunityPreview`], the share bundle ([`Telemetry::export`],
//! [`ExportOptions`]), the verbosity switch ([`Telemetry::set_verbosity`]) and the hang
//! watchdog ([`Telemetry::watch`] returning a [`Watch`] to beat from a loop). Tools that read a data dir or the user's bucket
//! without running telemetry (`locus-diag`) use [`inspect`]. Everything else is
//! internal (this workspace's own tests reach it through the `internals` feature,
//! which is not an API).
//!
//! Log lines are recorded from `info` up by default: `debug` and `trace` lines are
//! dropped before they are encoded (one atomic load) unless the app or the user raises
//! the level for a while ([`Telemetry::set_verbosity`], `locus-diag verbosity`, the
//! Debug screen's `v`; at most [`MAX_VERBOSITY_RAISE`], then back to `info`). Warnings,
//! errors, crashes, metrics and session markers are never filtered.
//!
//! The whole story in one example — start, record through `tracing`, read the Debug
//! screen, shut down within a deadline:
//!
//! ```
//! use locus_telemetry::{Settings, Telemetry};
//! use tracing_subscriber::layer::SubscriberExt;
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir().unwrap();
//! // Never fails: a bad setting or an unusable data dir gives a degraded handle.
//! let telemetry = Telemetry::start(Settings {
//!     data_dir: dir.path().to_path_buf(),
//!     app_version: "1.2.0".into(),
//!     // default destination: file://<data_dir>/bucket; use "s3://bucket" for S3
//!     ..Settings::default()
//! });
//! let subscriber = tracing_subscriber::registry().with(telemetry.layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(lat = 52.52, lon = 13.40, "gps fix"); // ~tens of ns, never blocks
//! });
//! telemetry.gauge("battery_pct", 87.0);
//! for record in telemetry.recent(10) {
//!     println!("{}", record.to_text_line()); // the Debug screen
//! }
//! let report = telemetry.shutdown(Duration::from_millis(500));
//! assert!(report.took < Duration::from_secs(2));
//! ```

mod background;
mod clock;
mod conditions;
mod door;
mod export;
mod fail_open;
mod fork;
mod ids;
pub mod inspect;
mod layer;
pub mod record;
mod state_file;
mod status;
mod telemetry;
pub mod testing;
mod watchdog;

/// The library's internal modules: private, or `pub` and hidden from the docs with the
/// `internals` feature, which only this workspace's own tests and benches enable.
macro_rules! internal_modules {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        mod $name;
    )*};
}

internal_modules! {
    breaker;
    crash;
    data_dir;
    dispatch;
    metrics;
    privacy;
    recorder;
    settings;
    sink;
    state;
    worker;
}

pub use conditions::{Conditions, Network, UploadWait};
pub use crash::foreign::UncaughtException;
pub use crash::session::{Outcome as SessionOutcome, PreviousSession};
pub use export::{
    summary_path as export_summary_path, CrashSummary, ExportBundle, ExportError, ExportOptions,
    ExportSummary, SessionEnd, SessionSummary, RECORDS_PER_MEMBER,
};
pub use layer::TelemetryLayer;
pub use locus_report::HealthReport;
pub use record::{Level, Record};
pub use recorder::verbosity::{
    Verbosity, VerbosityError, VerbosityRequest, DEFAULT_RAISE as DEFAULT_VERBOSITY_RAISE,
    MAX_RAISE as MAX_VERBOSITY_RAISE,
};
pub use recorder::{Backend, FieldValue, RecorderStatus};
pub use settings::{Settings, SettingsError};
pub use status::{
    BreakerState, BreakerStatus, DestinationKind, DestinationStatus, DispatchStatus, Problem,
    ProblemArea, Status,
};
pub use telemetry::{ShutdownReport, Telemetry, TelemetryBuilder, RELEASE_WAIT};
pub use watchdog::{Watch, WatchError, MAX_MAX_GAP, MAX_WATCHES, MAX_WATCH_NAME, MIN_MAX_GAP};
pub use worker::community::{CommunityChoiceError, CommunityPreview};

/// The HTTP transport seam: telemetry builds each upload as an [`HttpRequest`](transport::HttpRequest)
/// (S3 requests SigV4-signed by `rusty-s3`, community reports as gzip'd JSON) and a
/// [`Transport`](transport::Transport) performs it — the built-in one (feature
/// `default-transport`: ureq over rustls, the platform verifier or `Settings::ca_file`),
/// or the app's, given to [`TelemetryBuilder::transport`]. Each destination calls it
/// through an [`HttpClient`](transport::HttpClient): one thread of its own, one call at a
/// time, each bounded by its timeout; while a call is stuck past its deadline no second
/// one starts, and every failed or refused call counts for the breaker.
pub mod transport {
    #[cfg(feature = "default-transport")]
    pub use crate::sink::default_transport::DefaultTransport;
    pub use crate::sink::transport::{
        read_ca_file, CaFileError, HttpClient, HttpRequest, HttpResponse, Method, Transport,
        TransportError,
    };
}
