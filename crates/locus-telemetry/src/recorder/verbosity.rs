//! Verbosity at runtime: which log levels the recorder keeps.
//!
//! By default the recorder keeps `info` and above (`info`, `warn`, `error`, crash
//! tombstones, metrics and session markers are never filtered); `debug` and `trace`
//! log lines are dropped before they are encoded. The app ([`crate::Telemetry::set_verbosity`])
//! or the user (`locus-diag verbosity debug --for 30m`, or the Debug screen) can raise the
//! level to `debug` or `trace` for a bounded time — at most [`MAX_RAISE`], by default
//! [`DEFAULT_RAISE`] — after which it falls back to `info` by itself.
//!
//! The hot path reads one atomic. The user's tools talk to a running app through a small
//! request file in the data dir, `verbosity.json`:
//!
//! ```json
//! { "level": "debug", "until": "2026-11-30T05:30:00Z", "set_by": "locus-diag" }
//! ```
//!
//! which the recorder's keeper thread stats once a second and applies when it changed.
//! The app enforces the bound whatever the file says: a raise lasts until the earlier of
//! `until` and the file's modification time plus [`MAX_RAISE`] (a file without `until`
//! lasts [`DEFAULT_RAISE`] from its modification time); a level other than `trace`,
//! `debug` or `info`, or a damaged file, leaves the level at `info`; removing the file
//! returns to `info`.

use crate::record::Level;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
pub use crate::state::{VerbosityRequest};

/// The level recorded when nothing raised it.
pub const DEFAULT_LEVEL: Level = Level::Info;
/// How long a raise lasts when no duration is given (30 minutes).
pub const DEFAULT_RAISE: Duration = Duration::from_secs(30 * 60);
/// The longest a raise may last (24 hours).
pub const MAX_RAISE: Duration = Duration::from_secs(24 * 3600);

/// The verbosity in effect: the lowest level of log line recorded, and until when
/// (`None`: the default, `info`, with no end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verbosity {
    /// The lowest log level recorded (`info`, `debug` or `trace`).
    pub level: Level,
    /// When a raised level falls back to `info`.
    pub until: Option<DateTime<Utc>>,
}

impl Verbosity {
    /// The default: `info`, no end.
    pub const DEFAULT: Verbosity = Verbosity {
        level: DEFAULT_LEVEL,
        until: None,
    };

    /// Whether the level is raised above the default (`debug` or `trace` recorded).
    pub fn is_raised(&self) -> bool {
        self.level < DEFAULT_LEVEL
    }

    /// `info`, or `debug until 2026-11-30T05:30:00Z`.
    pub fn describe(&self) -> String {
        match self.until {
            Some(u) if self.is_raised() => format!(
                "{} until {}",
                self.level.as_str(),
                u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            _ => self.level.as_str().to_owned(),
        }
    }
}

impl Default for Verbosity {
    fn default() -> Self {
        Verbosity::DEFAULT
    }
}


impl VerbosityRequest {
    /// A request for `level` lasting `duration` from now, checked: `level` must be
    /// `trace`, `debug` or `info` and `duration` from 1 second to [`crate::MAX_VERBOSITY_RAISE`]
    /// (ignored for `info`).
    ///
    /// ```
    /// use locus_telemetry::{Level, VerbosityRequest};
    /// use std::time::Duration;
    /// let r = VerbosityRequest::new(Level::Debug, Duration::from_secs(1800), "me").unwrap();
    /// assert!(r.until.is_some());
    /// assert!(VerbosityRequest::new(Level::Debug, Duration::from_secs(25 * 3600), "me").is_err());
    /// assert!(VerbosityRequest::new(Level::Warn, Duration::from_secs(60), "me").is_err());
    /// ```
    pub fn new(
        level: Level,
        duration: Duration,
        set_by: &str,
    ) -> Result<VerbosityRequest, VerbosityError> {
        if level > DEFAULT_LEVEL {
            return Err(VerbosityError::Level(level));
        }
        let until = if level < DEFAULT_LEVEL {
            if duration < Duration::from_secs(1) || duration > MAX_RAISE {
                return Err(VerbosityError::Duration(duration));
            }
            let d = chrono::Duration::from_std(duration)
                .map_err(|_| VerbosityError::Duration(duration))?;
            Some(crate::clock::now() + d)
        } else {
            None
        };
        Ok(VerbosityRequest {
            level,
            until,
            set_by: set_by.to_owned(),
        })
    }

    /// What the request means when applied at `written` (the file's modification
    /// time): the bound enforced, `None` when it is not a valid request.
    fn effective(&self, written: DateTime<Utc>) -> Option<Verbosity> {
        if self.level > DEFAULT_LEVEL {
            return None;
        }
        if self.level == DEFAULT_LEVEL {
            return Some(Verbosity::DEFAULT);
        }
        let max = written + chrono::Duration::from_std(MAX_RAISE).ok()?;
        let default = written + chrono::Duration::from_std(DEFAULT_RAISE).ok()?;
        let until = self.until.unwrap_or(default).min(max);
        Some(Verbosity {
            level: self.level,
            until: Some(until),
        })
    }
}

/// Why a verbosity could not be set.
#[derive(Debug, thiserror::Error)]
pub enum VerbosityError {
    /// Only `trace`, `debug` and `info` can be chosen (`info` is the default; the
    /// recorder never drops warnings, errors or crashes).
    #[error("{} is not a level to choose: use trace, debug or info", .0.as_str())]
    Level(Level),
    /// A raise lasts from 1 second to 24 hours.
    #[error("{0:?} is out of range: a raised level lasts from 1 second to 24 hours")]
    Duration(Duration),
    /// The request file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The request file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Telemetry failed internally (a caught panic, see `status().problems`).
    #[error("telemetry failed internally; the verbosity was not changed")]
    Internal,
}

/// What the recorder keeps: the hot path's atomic and the keeper's bookkeeping.
pub(crate) struct Control {
    /// The lowest level recorded, as a `Level` byte.
    min: AtomicU8,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    until: Option<DateTime<Utc>>,
    /// The request file watched (none for heap-only or second-instance recorders).
    file: Option<PathBuf>,
    /// The file as last seen: modification time, length, inode.
    seen: Option<(SystemTime, u64, u64)>,
}

impl Control {
    pub(crate) fn new() -> Control {
        Control {
            min: AtomicU8::new(DEFAULT_LEVEL as u8),
            state: Mutex::new(State::default()),
        }
    }

    /// Whether a log line of `level` is recorded: one relaxed load.
    #[inline]
    pub(crate) fn allows(&self, level: u8) -> bool {
        level >= self.min.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, state: &mut State, v: Verbosity) {
        state.until = v.until;
        self.min.store(v.level as u8, Ordering::Relaxed);
    }

    /// The verbosity in effect (an expired raise reads, and becomes, the default).
    pub(crate) fn current(&self) -> Verbosity {
        let mut state = self.lock();
        self.expire(&mut state, crate::clock::now());
        Verbosity {
            level: Level::from_u8(self.min.load(Ordering::Relaxed)),
            until: state.until,
        }
    }

    fn expire(&self, state: &mut State, now: DateTime<Utc>) {
        if state.until.is_some_and(|u| u <= now) {
            self.apply(state, Verbosity::DEFAULT);
        }
    }

    /// Sets the verbosity (checked like [`VerbosityRequest::new`]); when a request file
    /// is watched, it is written too, so the user's tools see it. A file that cannot be
    /// written leaves the level set in memory all the same.
    pub(crate) fn set(&self, level: Level, duration: Duration) -> Result<Verbosity, VerbosityError> {
        let request = VerbosityRequest::new(level, duration, "app")?;
        let now = crate::clock::now();
        let v = Verbosity {
            level: request.level,
            until: request.until,
        };
        let mut state = self.lock();
        self.apply(&mut state, v);
        if let Some(path) = state.file.clone() {
            if let Ok(json) = serde_json::to_vec_pretty(&request) {
                if crate::state_file::replace(&path, &json).is_ok() {
                    state.seen = stamp(&path);
                }
            }
        }
        self.expire(&mut state, now);
        Ok(v)
    }

    /// Watches the request file at `path` (the keeper looks at it once a second).
    pub(crate) fn watch(&self, path: &Path) {
        let mut state = self.lock();
        state.file = Some(path.to_path_buf());
        state.seen = None;
    }

    /// The keeper's look: ends an expired raise and applies a changed request file.
    pub(crate) fn tick(&self) {
        let now = crate::clock::now();
        let mut state = self.lock();
        // Taken out and put back, not cloned: the keeper allocates nothing each second.
        if let Some(path) = state.file.take() {
            let seen = stamp(&path);
            if seen != state.seen {
                let previous = state.seen.replace(seen.unwrap_or((SystemTime::UNIX_EPOCH, 0, 0)));
                match seen {
                    // Removed: back to the default (only if there was a file before).
                    None => {
                        state.seen = None;
                        if previous.is_some() {
                            self.apply(&mut state, Verbosity::DEFAULT);
                        }
                    }
                    Some((mtime, _, _)) => {
                        let v = read_request(&path)
                            .and_then(|r| r.effective(DateTime::<Utc>::from(mtime)))
                            .unwrap_or(Verbosity::DEFAULT);
                        self.apply(&mut state, v);
                    }
                }
            }
            state.file = Some(path);
        }
        self.expire(&mut state, now);
    }
}

/// The request file's modification time, length and inode (`None`: no regular file).
fn stamp(path: &Path) -> Option<(SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

fn read_request(path: &Path) -> Option<VerbosityRequest> {
    let text = crate::state_file::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_enforced_whatever_the_file_says() {
        let written = Utc::now();
        let r = VerbosityRequest {
            level: Level::Trace,
            until: Some(written + chrono::Duration::days(30)),
            set_by: "x".into(),
        };
        let v = r.effective(written).unwrap();
        assert_eq!(v.until, Some(written + chrono::Duration::hours(24)));
        let r = VerbosityRequest {
            until: None,
            ..r
        };
        let v = r.effective(written).unwrap();
        assert_eq!(v.until, Some(written + chrono::Duration::minutes(30)));
        let r = VerbosityRequest {
            level: Level::Error,
            ..r
        };
        assert!(r.effective(written).is_none());
    }

    #[test]
    fn set_expires_and_the_file_drives_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verbosity.json");
        let c = Control::new();
        assert!(!c.allows(Level::Debug as u8));
        assert!(c.allows(Level::Info as u8));
        c.watch(&path);
        let v = c.set(Level::Debug, Duration::from_secs(60)).unwrap();
        assert_eq!(v.level, Level::Debug);
        assert!(c.allows(Level::Debug as u8));
        assert!(path.exists());
        assert!(matches!(
            c.set(Level::Trace, Duration::from_secs(25 * 3600)),
            Err(VerbosityError::Duration(_))
        ));
        // An expired request in the file: the keeper's look returns to info.
        let old = VerbosityRequest {
            level: Level::Trace,
            until: Some(Utc::now() - chrono::Duration::seconds(1)),
            set_by: "test".into(),
        };
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        c.tick();
        assert_eq!(c.current(), Verbosity::DEFAULT);
        let req = VerbosityRequest::new(Level::Trace, Duration::from_secs(600), "t").unwrap();
        std::fs::write(&path, serde_json::to_vec_pretty(&req).unwrap()).unwrap();
        c.tick();
        assert_eq!(c.current().level, Level::Trace);
        std::fs::remove_file(&path).unwrap();
        c.tick();
        assert_eq!(c.current(), Verbosity::DEFAULT);
        std::fs::write(&path, b"{not json").unwrap();
        c.tick();
        assert_eq!(c.current(), Verbosity::DEFAULT);
    }
}
