//! A small read-only API for tools that look at telemetry without running it: a data
//! dir (the ring, the session marker, breakers, upload cursors) and the user's bucket
//! (list, read, the retention rule). `locus-diag` is built on this and on the crate root;
//! nothing here disturbs a running app (the ring is read with bounded `read`s, never
//! mapped or locked).
//!
//! ```
//! use locus_telemetry::inspect::DataDir;
//! # let dir = tempfile::tempdir().unwrap();
//! # let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
//! #     data_dir: dir.path().into(), enable_s3_diagnostics: false, ..Default::default() });
//! # t.log(locus_telemetry::Level::Info, "app", "hello", &[]);
//! # t.wait_previous_session(std::time::Duration::from_secs(5)); // the marker is written
//! let data = DataDir::new(dir.path());
//! let snapshot = data.read_ring().unwrap();
//! assert!(snapshot.records.iter().any(|r| r.to_text_line().contains("hello")));
//! assert!(data.session_marker().unwrap().is_some());
//! # t.shutdown(std::time::Duration::from_millis(500));
//! ```

pub use crate::crash::session::SessionMarker;
pub use crate::data_dir::{file_type_name, DataDir, StateError};
pub use crate::export::{
    summary_path as export_summary_path, CrashSummary, ExportBundle, ExportError, ExportOptions,
    ExportSummary, SessionEnd, SessionSummary,
};
pub use crate::recorder::verbosity::{Verbosity, VerbosityError, VerbosityRequest};
pub use crate::recorder::{read_ring_file, RecorderError, Snapshot, TRUNCATION_MARKER};

/// The user's bucket as tools see it: `s3://bucket[/prefix]` or `file:///dir`, its
/// diagnostics files, their batches, and the retention rule.
pub mod bucket {
    pub use crate::sink::s3::{
        decode_batch, decode_batch_lenient, encode_batch, parse_key, Destination, DiagnosticsStore,
        KeyParts, LenientBatch, LifecycleChange, LifecycleOutcome, ObjectInfo, RetentionRule,
        S3Options, DEFAULT_RETENTION_DAYS, EXTENSION, LIFECYCLE_FILE, MAX_DECODED_BYTES, RULE_ID,
    };
    pub use crate::sink::SinkError;
    // Encrypted diagnostics (issue 22): reading `….log.gz.age` with the user's identity.
    pub use crate::sink::s3::{
        decrypt_reader, is_encrypted_key, looks_encrypted, AgeError, Identities, AGE_SUFFIX,
    };
}

use crate::data_dir::DataDir as Dir;

/// The share bundle of a data dir's flight recorder (what `locus-diag export` writes),
/// read without disturbing the app writing it; see [`ExportBundle`] for the format.
///
/// ```
/// use locus_telemetry::inspect::{export_bundle, ExportOptions};
/// # let dir = tempfile::tempdir().unwrap();
/// # let t = locus_telemetry::Telemetry::start(locus_telemetry::Settings {
/// #     data_dir: dir.path().into(), enable_s3_diagnostics: false, ..Default::default() });
/// # t.log(locus_telemetry::Level::Info, "app", "upload failed", &[]);
/// let bundle = export_bundle(dir.path(), &ExportOptions { redact: true, ..Default::default() }).unwrap();
/// assert!(bundle.preview_lines(100).iter().any(|l| l.contains("upload failed")));
/// println!("{}", bundle.summary().to_text());
/// # t.shutdown(std::time::Duration::from_millis(200));
/// ```
pub fn export_bundle(
    data_dir: &std::path::Path,
    options: &ExportOptions,
) -> Result<ExportBundle, ExportError> {
    let snapshot = Dir::new(data_dir).read_ring()?;
    Ok(ExportBundle::new(snapshot, options, crate::clock::now()))
}
use crate::settings::Settings;
use crate::worker::community::{CommunityPreview, CommunityShared};

/// The community report a data dir would send now (what `Telemetry::community_preview`
/// shows inside the app), read without disturbing a running app: `settings` gives the
/// app version (unless the session marker has one) and the allowed metrics. Problems
/// reading the community state are returned beside it; the preview is built regardless.
pub fn community_preview(
    settings: &Settings,
) -> Result<(CommunityPreview, Vec<crate::Problem>), crate::recorder::RecorderError> {
    let data = Dir::new(&settings.data_dir);
    let snap = data.read_ring()?;
    let device_id = data
        .device_id()
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    let app_version = data
        .session_marker()
        .ok()
        .flatten()
        .map_or(settings.app_version.clone(), |m| m.app_version);
    let mut problems = Vec::new();
    let shared = CommunityShared::load(&settings.data_dir, false, &mut problems);
    let preview = shared.preview(
        &snap.records,
        &device_id,
        &settings.destination_url(),
        &app_version,
        &settings.community_metrics,
    );
    Ok((preview, problems))
}
pub use crate::crash::session::{read_marker as read_session_marker, verdict as session_verdict};
pub use crate::status::uploads_stopped;
