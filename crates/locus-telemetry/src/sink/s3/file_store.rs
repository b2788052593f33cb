//! The `file://` backend: the bucket's key layout under a local directory — the embedded
//! default when no bucket is configured, and a stand-in for S3 in demos.
//!
//! Writes go to a temp file in the target folder, are synced, then renamed into place, so
//! a reader never sees half a file. The retention rule is stored in
//! `<root>/.locus-lifecycle.json`, and applying it deletes diagnostics files older than
//! the rule allows (see [`super::lifecycle`]). All file work runs on tokio's blocking pool.

use super::lifecycle::{LifecycleChange, LifecycleOutcome, RetentionRule, RULE_ID};
use super::{ObjectInfo, SinkError};
use chrono::{DateTime, Utc};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Name of the lifecycle file in the root directory.
pub const LIFECYCLE_FILE: &str = ".locus-lifecycle.json";

#[derive(Clone)]
pub(crate) struct FileStore {
    root: PathBuf,
    diag_prefix: String,
}

impl FileStore {
    pub(crate) fn open(root: &Path, diag_prefix: String) -> Result<FileStore, SinkError> {
        if !root.is_absolute() {
            return Err(SinkError::InvalidDestination {
                url: root.display().to_string(),
                why: "the directory must be absolute".into(),
            });
        }
        if root.exists() && !root.is_dir() {
            return Err(SinkError::InvalidDestination {
                url: format!("file://{}", root.display()),
                why: "exists and is not a directory".into(),
            });
        }
        Ok(FileStore {
            root: root.to_path_buf(),
            diag_prefix,
        })
    }

    /// Runs blocking file work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(FileStore) -> Result<T, SinkError> + Send + 'static,
    ) -> Result<T, SinkError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(me))
            .await
            .map_err(|e| SinkError::Io {
                path: self.root.display().to_string(),
                source: std::io::Error::other(format!("file worker failed: {e}")),
            })?
    }

    pub(crate) async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        let path = self.path_of(key)?;
        self.blocking(move |_| write_atomic(&path, &body)).await
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Vec<u8>, SinkError> {
        let path = self.path_of(key)?;
        let key = key.to_owned();
        self.blocking(move |me| match read_file(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SinkError::NotFound {
                destination: format!("file://{}", me.root.display()),
                key,
            }),
            Err(e) => Err(io_err(&path, e)),
        })
        .await
    }

    /// Every file under `prefix` (a folder path ending in `/`), sorted by key; dot-files
    /// (temp files, the lifecycle file) are not listed.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, SinkError> {
        let dir = self.path_of(prefix.trim_end_matches('/'))?;
        self.blocking(move |me| {
            let mut out = Vec::new();
            walk(&dir, &mut |path, meta| {
                let Ok(rel) = path.strip_prefix(&me.root) else {
                    return;
                };
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(ObjectInfo {
                    key,
                    size: meta.len(),
                    last_modified: meta
                        .modified()
                        .map(DateTime::<Utc>::from)
                        .unwrap_or_default(),
                });
            })?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    pub(crate) async fn lifecycle_show(&self) -> Result<Option<RetentionRule>, SinkError> {
        self.blocking(|me| {
            let rules = read_rules(&me.root.join(LIFECYCLE_FILE))?;
            Ok(find_ours(&rules))
        })
        .await
    }

    pub(crate) async fn lifecycle_apply(&self, days: u32) -> Result<LifecycleOutcome, SinkError> {
        self.blocking(move |me| me.apply_blocking(days)).await
    }

    fn apply_blocking(&self, days: u32) -> Result<LifecycleOutcome, SinkError> {
        let file = self.root.join(LIFECYCLE_FILE);
        let want = RetentionRule::new(self.diag_prefix.clone(), days);
        let mut rules = read_rules(&file)?;
        let previous = find_ours(&rules);
        let change = match &previous {
            None => LifecycleChange::Created,
            Some(p) if *p == want => LifecycleChange::Unchanged,
            Some(_) => LifecycleChange::Updated,
        };
        // Read back what was written; unchanged, what was just read holds it already.
        let after = if change == LifecycleChange::Unchanged {
            rules
        } else {
            let ours = serde_json::to_value(&want).map_err(|e| decode_err(&file, e.to_string()))?;
            match rules.iter().position(is_ours) {
                Some(i) => {
                    rules[i] = ours;
                    let mut seen = 0;
                    rules.retain(|r| {
                        !is_ours(r) || {
                            seen += 1;
                            seen == 1
                        }
                    });
                }
                None => rules.push(ours),
            }
            let json = serde_json::to_vec_pretty(&serde_json::json!({ "rules": rules }))
                .map_err(|e| decode_err(&file, e.to_string()))?;
            write_atomic(&file, &json)?;
            read_rules(&file)?
        };
        let rule =
            find_ours(&after)
                .filter(|r| *r == want)
                .ok_or_else(|| SinkError::Lifecycle {
                    destination: format!("file://{}", self.root.display()),
                    why: format!("{} does not hold {want} after writing", file.display()),
                })?;
        let expired_files = self.expire(Duration::from_secs(u64::from(days) * 86_400))?;
        Ok(LifecycleOutcome {
            change,
            rule,
            previous,
            other_rules: after.len() - 1,
            expired_files,
        })
    }

    /// Deletes diagnostics files (temp files included) modified longer than `max_age`
    /// before the reference time, then the folders that became empty.
    ///
    /// The clock is never trusted to delete on its own: nothing is deleted while
    /// [`crate::clock::trusted_for_deletion`] says no (the clock was clamped or jumped in
    /// this process), and the reference time is the earlier of now and the newest file
    /// written before this process first read the clock. A clock 400 days ahead at start
    /// then deletes only what was already older than `max_age` against the newest
    /// diagnostics the bucket held, never the whole history.
    fn expire(&self, max_age: Duration) -> Result<usize, SinkError> {
        if !crate::clock::trusted_for_deletion() {
            return Ok(0);
        }
        let dir = self.path_of(self.diag_prefix.trim_end_matches('/'))?;
        let started = SystemTime::from(crate::clock::started_at());
        let mut files = Vec::new();
        walk_all(&dir, &mut |path, meta| {
            if let Ok(m) = meta.modified() {
                files.push((path.to_path_buf(), m));
            }
        })?;
        let newest_before_start = files.iter().map(|(_, m)| *m).filter(|m| *m < started).max();
        let now = SystemTime::from(crate::clock::now());
        let reference = newest_before_start.map_or(now, |n| n.min(now));
        let cutoff = reference
            .checked_sub(max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let old: Vec<PathBuf> = files
            .into_iter()
            .filter(|(_, m)| *m < cutoff)
            .map(|(p, _)| p)
            .collect();
        let mut deleted = 0;
        for path in &old {
            match std::fs::remove_file(path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path, e)),
            }
        }
        remove_empty_dirs(&dir);
        Ok(deleted)
    }

    /// `root/key`, refusing keys that could leave the root.
    fn path_of(&self, key: &str) -> Result<PathBuf, SinkError> {
        let bad = |why: &str| SinkError::InvalidKey {
            key: key.to_owned(),
            why: why.to_owned(),
        };
        if key.is_empty() {
            return Err(bad("empty"));
        }
        if key.contains('\0') || key.contains('\\') {
            return Err(bad("contains NUL or `\\`"));
        }
        let rel = Path::new(key);
        for c in rel.components() {
            match c {
                Component::Normal(s) if !s.to_string_lossy().starts_with('.') => {}
                Component::Normal(_) => return Err(bad("a path segment starts with `.`")),
                _ => return Err(bad("must be a relative path without `.` or `..`")),
            }
        }
        if key.split('/').any(str::is_empty) {
            return Err(bad("empty path segment"));
        }
        Ok(self.root.join(rel))
    }
}

fn io_err(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn decode_err(path: &Path, why: String) -> SinkError {
    SinkError::Decode {
        what: path.display().to_string(),
        why,
    }
}

/// Writes `path` via a synced temp file in the same folder and a rename.
fn write_atomic(path: &Path, body: &[u8]) -> Result<(), SinkError> {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| io_err(path, std::io::Error::other("no parent directory")))?;
    crate::door::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    // Through the door: the temporary name is never followed, the file is 0600, and a
    // file-size limit is an error (EFBIG), never SIGXFSZ.
    crate::door::replace_via(path, &tmp, body).map_err(|e| io_err(path, e))
}

/// A whole file, read through the door (a regular file of ours, never through a link,
/// never blocking).
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    crate::door::open_read(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Visits every regular file under `dir` whose name does not start with `.`; a missing
/// `dir` is empty.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata)) -> Result<(), SinkError> {
    walk_inner(dir, false, visit)
}

/// Like [`walk`], dot-files included.
fn walk_all(dir: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata)) -> Result<(), SinkError> {
    walk_inner(dir, true, visit)
}

fn walk_inner(
    dir: &Path,
    dotfiles: bool,
    visit: &mut dyn FnMut(&Path, &std::fs::Metadata),
) -> Result<(), SinkError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // symlink_metadata: never follow links out of the tree.
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io_err(&path, e))?;
        if meta.is_dir() {
            if !hidden {
                walk_inner(&path, dotfiles, visit)?;
            }
        } else if meta.is_file() && (dotfiles || !hidden) {
            visit(&path, &meta);
        }
    }
    Ok(())
}

/// Removes empty folders below `dir` (not `dir` itself).
fn remove_empty_dirs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_dirs(&path);
            let _ = std::fs::remove_dir(&path); // fails, harmlessly, if not empty
        }
    }
}

fn is_ours(v: &serde_json::Value) -> bool {
    v.get("id").and_then(|i| i.as_str()) == Some(RULE_ID)
}

fn find_ours(rules: &[serde_json::Value]) -> Option<RetentionRule> {
    rules
        .iter()
        .find(|r| is_ours(r))
        .and_then(|r| serde_json::from_value(r.clone()).ok())
}

/// The `rules` array of the lifecycle file; a missing file has none.
fn read_rules(file: &Path) -> Result<Vec<serde_json::Value>, SinkError> {
    let bytes = match read_file(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(file, e)),
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| decode_err(file, e.to_string()))?;
    match v.get("rules") {
        Some(serde_json::Value::Array(rules)) => Ok(rules.clone()),
        None => Ok(Vec::new()),
        Some(_) => Err(decode_err(file, "`rules` is not an array".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_root() {
        let s = FileStore::open(Path::new("/tmp/x"), "diagnostics/".into()).unwrap();
        assert_eq!(
            s.path_of("diagnostics/2026/01/01/a.log.gz").unwrap(),
            Path::new("/tmp/x/diagnostics/2026/01/01/a.log.gz")
        );
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            ".locus-lifecycle.json",
            "a\\b",
        ] {
            assert!(
                matches!(s.path_of(bad), Err(SinkError::InvalidKey { .. })),
                "{bad}"
            );
        }
        assert!(FileStore::open(Path::new("relative"), "diagnostics/".into()).is_err());
    }
}
