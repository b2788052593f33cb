//! The app's data dir: every file telemetry keeps there, named here and nowhere else,
//! each read and written through one typed door.
//!
//! ```text
//! <data_dir>/
//!   recorder.ring                the flight recorder (recorder::layout owns its format)
//!   recorder.ring.damaged-<t>    a damaged ring's bytes, kept aside when it was salvaged
//!   device_id                    16 hex chars and a newline
//!   session.json                 SessionMarker: which session runs, did it exit cleanly
//!   cursor-<destination>.json    CursorState: the last record shipped there
//!   breaker-<destination>.json   PersistedBreaker: failures in a row, backoff, attempt in flight
//!   retention-<destination>.json RetentionState: when the lifecycle rule was last confirmed
//!   community.json               CommunityState: opt-in choice, aggregates of the period
//!   verbosity.json               VerbosityRequest: a raised log level and until when (tools write it)
//!   community-salt               32 secret bytes (owner-only); never read outside `privacy`
//!   bucket/                      the embedded default destination (file://)
//! ```
//!
//! State files are small JSON documents replaced whole (written beside, then renamed) and
//! read only as regular files of bounded size, never through a link and never blocking
//! (see `state_file`). The library writes them; `locus-diag` reads them through the same
//! types, so a renamed field cannot silently break the CLI.
//!
//! ```
//! use locus_telemetry::data_dir::DataDir;
//! let dir = tempfile::tempdir().unwrap();
//! let data = DataDir::new(dir.path());
//! assert!(data.session_marker().unwrap().is_none()); // nothing yet: a first start
//! assert!(data.ring_path().ends_with("recorder.ring"));
//! ```

use crate::recorder::verbosity::VerbosityError;
use crate::state::{
    CommunityState, CursorState, PersistedBreaker, SessionMarker, VerbosityRequest,
};
use crate::recorder::{RecorderError, Snapshot};
use crate::status::{BreakerStatus, DestinationKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

const RING: &str = "recorder.ring";
const DAMAGED_PREFIX: &str = "recorder.ring.damaged-";
const BUCKET: &str = "bucket";

pub use crate::door::file_type_name;

/// One of the small state files of the data dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFile<'a> {
    /// `device_id`.
    DeviceId,
    /// `session.json`.
    SessionMarker,
    /// `cursor-<destination>.json`.
    Cursor(&'a str),
    /// `breaker-<destination>.json`.
    Breaker(&'a str),
    /// `retention-<destination>.json`.
    Retention(&'a str),
    /// `community.json`.
    Community,
    /// `community-salt` (a secret: only `privacy::pseudonym` reads it).
    Salt,
    /// `verbosity.json`: a request to record `debug`/`trace` for a while.
    Verbosity,
}

impl StateFile<'_> {
    /// The file's name in the data dir.
    pub fn file_name(&self) -> String {
        match self {
            StateFile::DeviceId => "device_id".into(),
            StateFile::SessionMarker => "session.json".into(),
            StateFile::Cursor(d) => format!("cursor-{d}.json"),
            StateFile::Breaker(d) => format!("breaker-{d}.json"),
            StateFile::Retention(d) => format!("retention-{d}.json"),
            StateFile::Community => "community.json".into(),
            StateFile::Salt => "community-salt".into(),
            StateFile::Verbosity => "verbosity.json".into(),
        }
    }
}

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// It exists but cannot be read as a state file (not a regular file, a link, too
    /// large, no permission, an I/O error).
    #[error("{path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It was read but is not what this build writes there.
    #[error("{path}: damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The data dir (see the module docs for its layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data dir at `root` (nothing is created or read yet).
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The flight recorder's ring file.
    pub fn ring_path(&self) -> PathBuf {
        self.root.join(RING)
    }

    /// Reads the ring without disturbing the app writing it (bounded, never mapped).
    pub fn read_ring(&self) -> Result<Snapshot, RecorderError> {
        crate::recorder::read_ring_file(&self.ring_path())
    }

    /// The bytes of damaged rings kept aside by salvage, with their sizes, oldest first.
    pub fn damaged_rings(&self) -> Vec<(PathBuf, u64)> {
        let mut found: Vec<(PathBuf, u64)> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(DAMAGED_PREFIX))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file().then(|| (e.path(), meta.len()))
            })
            .collect();
        found.sort();
        found
    }

    /// The embedded default destination's directory (`file://<data_dir>/bucket`).
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.join(BUCKET)
    }

    /// The path of a state file.
    pub fn path(&self, file: StateFile<'_>) -> PathBuf {
        self.root.join(file.file_name())
    }

    /// Reads a JSON state file: `Ok(None)` when there is none.
    pub(crate) fn read_json<T: DeserializeOwned>(
        &self,
        file: StateFile<'_>,
    ) -> Result<Option<T>, StateError> {
        let path = self.path(file);
        let text = match crate::state_file::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Unreadable { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Damaged {
                path,
                reason: e.to_string(),
            })
    }

    /// Replaces a JSON state file whole (pretty-printed: people read these).
    pub(crate) fn write_json<T: Serialize>(
        &self,
        file: StateFile<'_>,
        value: &T,
    ) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
        crate::state_file::replace(&self.path(file), &json)
    }

    /// The stored device id: `Ok(None)` when there is none.
    pub fn device_id(&self) -> Result<Option<String>, StateError> {
        let path = self.path(StateFile::DeviceId);
        let text = match crate::state_file::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Unreadable { path, source }),
        };
        let id = text.trim();
        if crate::settings::valid_device_id(id) {
            Ok(Some(id.to_owned()))
        } else {
            Err(StateError::Damaged {
                path,
                reason: "not a device id (1 to 64 of A-Z a-z 0-9 - _)".into(),
            })
        }
    }

    /// Stores the device id.
    pub(crate) fn write_device_id(&self, id: &str) -> std::io::Result<()> {
        crate::state_file::replace(
            &self.path(StateFile::DeviceId),
            format!("{id}\n").as_bytes(),
        )
    }

    /// The session marker: which session runs here and whether it exited cleanly.
    pub fn session_marker(&self) -> Result<Option<SessionMarker>, StateError> {
        self.read_json(StateFile::SessionMarker)
    }

    /// The upload cursor of `destination` (e.g. `s3`).
    pub(crate) fn cursor(&self, destination: &str) -> Result<Option<CursorState>, StateError> {
        self.read_json(StateFile::Cursor(destination))
    }

    /// The circuit breaker of `destination` as it was last persisted, read at the
    /// system clock's now (`Ok(None)`: it never failed, or never ran here).
    pub fn breaker_status(
        &self,
        destination: DestinationKind,
    ) -> Result<Option<BreakerStatus>, StateError> {
        Ok(self
            .breaker(destination.as_str())?
            .map(|b| BreakerStatus::of(&b)))
    }

    /// The last record shipped to `destination` (`Ok(None)`: nothing shipped yet).
    pub fn shipped_through(&self, destination: DestinationKind) -> Result<Option<u64>, StateError> {
        Ok(self
            .cursor(destination.as_str())?
            .map(|c| c.last_shipped_seq))
    }

    /// When the upload cursor of `destination` last moved: the modification time of
    /// `cursor-<destination>.json`, read without following a link (`Ok(None)`: no
    /// cursor yet). The cursor moves when a batch is delivered, and also when a failed
    /// batch is discarded or the ring overwrote records before they could ship; so this
    /// is the time of the last successful upload only while the destination's breaker
    /// counts no failures in a row (as the Debug screen shows it).
    pub fn cursor_moved_at(
        &self,
        destination: DestinationKind,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StateError> {
        let path = self.path(StateFile::Cursor(destination.as_str()));
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Unreadable { path, source }),
        };
        if !meta.is_file() {
            let found = file_type_name(&meta.file_type());
            return Err(StateError::Unreadable {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{found}, not a regular file"),
                ),
            });
        }
        meta.modified()
            .map(|t| Some(t.into()))
            .map_err(|source| StateError::Unreadable { path, source })
    }

    /// The user's community choice as the app last stored it in `community.json`
    /// (`Ok(None)`: no choice made at runtime here, so the app's
    /// `enable_community_telemetry` setting applies; it is off unless the app turns it on).
    pub fn community_opt_in(&self) -> Result<Option<bool>, StateError> {
        Ok(self.community()?.and_then(|c| c.opted_in))
    }

    /// The last record the community worker aggregated (or passed over), from
    /// `community.json` (`Ok(None)`: no community state yet). The community
    /// destination's counterpart of [`DataDir::shipped_through`].
    pub fn community_aggregated_through(&self) -> Result<Option<u64>, StateError> {
        Ok(self.community()?.map(|c| c.cursor))
    }

    /// The verbosity request in `verbosity.json` (`Ok(None)`: none). What a running app
    /// applies from it is bounded (see [`VerbosityRequest`]); `until` may have passed.
    pub fn verbosity_request(&self) -> Result<Option<VerbosityRequest>, StateError> {
        self.read_json(StateFile::Verbosity)
    }

    /// Asks the app running on this data dir to record from `level` up for `duration`
    /// (`info`: back to the default at once), by replacing `verbosity.json`; the app
    /// applies it within about a second. The one file a tool writes here: it never
    /// touches the ring or the app's own state.
    ///
    /// ```
    /// use locus_telemetry::{inspect::DataDir, Level};
    /// let dir = tempfile::tempdir().unwrap();
    /// let data = DataDir::new(dir.path());
    /// let r = data
    ///     .request_verbosity(Level::Debug, std::time::Duration::from_secs(1800), "locus-diag")
    ///     .unwrap();
    /// assert_eq!(data.verbosity_request().unwrap(), Some(r));
    /// ```
    pub fn request_verbosity(
        &self,
        level: crate::record::Level,
        duration: std::time::Duration,
        set_by: &str,
    ) -> Result<VerbosityRequest, VerbosityError> {
        let request = VerbosityRequest::new(level, duration, set_by)?;
        self.write_json(StateFile::Verbosity, &request)
            .map_err(|source| VerbosityError::Io {
                path: self.path(StateFile::Verbosity),
                source,
            })?;
        Ok(request)
    }

    /// The persisted circuit breaker of `destination`.
    pub(crate) fn breaker(
        &self,
        destination: &str,
    ) -> Result<Option<PersistedBreaker>, StateError> {
        self.read_json(StateFile::Breaker(destination))
    }

    /// When the lifecycle rule of `destination` was last confirmed.
    #[cfg(any(test, feature = "internals"))]
    pub(crate) fn retention(
        &self,
        destination: &str,
    ) -> Result<Option<crate::worker::retention::RetentionState>, StateError> {
        self.read_json(StateFile::Retention(destination))
    }

    /// The community state: opt-in choice and the period's aggregates.
    pub(crate) fn community(&self) -> Result<Option<CommunityState>, StateError> {
        self.read_json(StateFile::Community)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_one_name() {
        let d = DataDir::new("/data");
        let names = [
            StateFile::DeviceId,
            StateFile::SessionMarker,
            StateFile::Cursor("s3"),
            StateFile::Breaker("s3"),
            StateFile::Retention("s3"),
            StateFile::Community,
            StateFile::Salt,
            StateFile::Verbosity,
        ]
        .map(|f| f.file_name());
        assert_eq!(
            names,
            [
                "device_id",
                "session.json",
                "cursor-s3.json",
                "breaker-s3.json",
                "retention-s3.json",
                "community.json",
                "community-salt",
                "verbosity.json"
            ]
        );
        assert_eq!(d.ring_path(), Path::new("/data/recorder.ring"));
        assert_eq!(d.bucket_dir(), Path::new("/data/bucket"));
    }

    #[test]
    fn missing_damaged_and_special_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::new(dir.path());
        assert!(d.breaker("s3").unwrap().is_none());
        std::fs::write(d.path(StateFile::Breaker("s3")), b"{not json").unwrap();
        assert!(matches!(d.breaker("s3"), Err(StateError::Damaged { .. })));
        std::fs::create_dir(d.path(StateFile::Community)).unwrap();
        assert!(matches!(d.community(), Err(StateError::Unreadable { .. })));
        std::fs::write(d.path(StateFile::DeviceId), b"../etc\n").unwrap();
        assert!(matches!(d.device_id(), Err(StateError::Damaged { .. })));
        d.write_device_id("abc123").unwrap();
        assert_eq!(d.device_id().unwrap().as_deref(), Some("abc123"));
    }

    #[test]
    fn cursor_time_and_community_choice_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = DataDir::new(dir.path());
        assert!(d.cursor_moved_at(DestinationKind::S3).unwrap().is_none());
        assert!(d.community_opt_in().unwrap().is_none());
        assert!(d.community_aggregated_through().unwrap().is_none());
        let before = chrono::Utc::now() - chrono::Duration::seconds(2);
        d.write_json(
            StateFile::Cursor("s3"),
            &CursorState {
                last_shipped_seq: 9,
            },
        )
        .unwrap();
        let moved = d.cursor_moved_at(DestinationKind::S3).unwrap().unwrap();
        assert!(moved >= before, "{moved} {before}");
        let state = CommunityState {
            opted_in: Some(true),
            cursor: 41,
            ..Default::default()
        };
        d.write_json(StateFile::Community, &state).unwrap();
        assert_eq!(d.community_opt_in().unwrap(), Some(true));
        assert_eq!(d.community_aggregated_through().unwrap(), Some(41));
        std::fs::create_dir(d.path(StateFile::Cursor("community"))).unwrap();
        assert!(d.cursor_moved_at(DestinationKind::Community).is_err());
    }
}
