//! The share bundle: what the user reviews, then sends to whoever helps them.
//!
//! A bundle is two files written side by side:
//!
//! - `FILE` (e.g. `locus-export.jsonl.gz`): the records, in exactly the format of the
//!   diagnostics files in the user's bucket — gzip of JSON Lines, one record per line,
//!   written by the bucket's own encoder (in gzip members of up to
//!   [`RECORDS_PER_MEMBER`] records, so memory stays bounded; `zcat` and the bucket
//!   decoder read concatenated members as one stream). `zcat FILE | jq` reads plain
//!   records; no summary line is mixed in.
//! - its summary, a short text for people (app version, time span, records by kind,
//!   sessions and how each ended, crashes, whether and how much was redacted), beside
//!   it: `FILE` with `.jsonl.gz` replaced by `.summary.txt` (`locus-export.summary.txt`),
//!   or `FILE.summary.txt` for any other name (see [`summary_path`]).
//!
//! With redaction on, the bundle is redacted by construction:
//!
//! - **Fields by declared sensitivity.** Each log field's key has a data category
//!   ([`locus_privacy::redact::DataCategory`]): declared by the app
//!   ([`ExportOptions::field_categories`], filled from the settings'
//!   `field_categories`), else Locus's default for the key (`lat`, `lon`, `acc_m`,
//!   `alt`, `bearing`, `speed`… are location), else free text. Location and personal
//!   fields are removed — or, for location numbers, rounded to
//!   [`ExportOptions::location_decimals`] when the app declares a precision (off by
//!   default). Technical fields stay. Free-text fields go through
//!   [`locus_privacy::redact::redact_text`] when they are text; a number or boolean under
//!   an undeclared key stays only when the key reads as technical (`took_ms`,
//!   `queue_len`: [`locus_privacy::redact::is_technical_key`]).
//! - **Text as templates.** Every other string value — log targets and messages; crash
//!   messages, locations, threads, backtraces, app versions and OS; metric names; the
//!   app versions of session markers — goes through `redact_text`: the community
//!   templates' vocabulary and placeholders, keeping numbers with a unit or a technical
//!   key, versions, durations, sizes, HTTP codes and the app's own stack frames, then
//!   the privacy filter as a second wall. `locus-diag redact` prints exactly this for
//!   lines on stdin.
//! - Session ids are replaced by `session-1`, `session-2`, … (in order of appearance),
//!   so sessions stay apart without their random ids. Field *names* of kept fields,
//!   levels, kinds, sequence numbers, times and metric values are kept as they are.
//!
//! The summary is built from the redacted records and says what was removed: values
//! changed, fields removed (by key and category), text rewritten (by field),
//! placeholders put in (by kind), and what the bundle still holds in clear.
//!
//! Both files are created new (never replacing a file, never through a symbolic link),
//! owner-readable only; a bundle that cannot be written completely is removed.
//!
//! ```
//! use locus_telemetry::{ExportOptions, Level, Settings, Telemetry};
//! let dir = tempfile::tempdir().unwrap();
//! let t = Telemetry::start(Settings { data_dir: dir.path().join("data"), ..Default::default() });
//! t.log(Level::Warn, "app", "mail bob@example.org about the fix", &[]);
//! let out = dir.path().join("share.jsonl.gz");
//! let summary = t.export(&out, &ExportOptions { redact: true, ..Default::default() }).unwrap();
//! assert!(summary.redacted_values >= 1);
//! assert!(dir.path().join("share.summary.txt").exists());
//! # t.shutdown(std::time::Duration::from_millis(200));
//! ```

use crate::record::{Body, Record, SessionEvent};
use crate::recorder::{RecorderError, Snapshot};
use chrono::{DateTime, SecondsFormat, Utc};
use locus_privacy::redact::{is_technical_key, redact_text, DataCategory};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Records per gzip member of the bundle: bounds the compressed buffer in memory.
pub const RECORDS_PER_MEMBER: usize = 4096;

/// What goes into a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Only records from this long ago until now (`None`: everything in the ring).
    pub since: Option<Duration>,
    /// Redact the bundle by construction (see the module docs).
    pub redact: bool,
    /// The data category the app declares for field keys; a key not here has Locus's
    /// default ([`DataCategory::default_for_key`]). `Telemetry::export` adds the
    /// settings' `field_categories` to these.
    pub field_categories: BTreeMap<String, DataCategory>,
    /// With redaction, location numbers rounded to this many decimal places (at most
    /// [`ExportOptions::MAX_LOCATION_DECIMALS`]) instead of removed; `None` (the
    /// default): removed.
    pub location_decimals: Option<u8>,
}

impl ExportOptions {
    /// The finest precision a redacted bundle may keep: 2 decimal places of a degree,
    /// about a kilometre.
    pub const MAX_LOCATION_DECIMALS: u8 = 2;

    /// These options with the categories `declared` (by key, category name) added where
    /// these options say nothing for a key; a name that is not a category is skipped
    /// (settings are validated before).
    pub fn with_declared(mut self, declared: &BTreeMap<String, String>) -> ExportOptions {
        for (key, name) in declared {
            if let Some(c) = DataCategory::from_name(name) {
                self.field_categories.entry(key.clone()).or_insert(c);
            }
        }
        self
    }

    /// The category of field `key` under these options.
    pub fn category(&self, key: &str) -> DataCategory {
        self.field_categories
            .get(key)
            .copied()
            .unwrap_or_else(|| DataCategory::default_for_key(key))
    }
}

/// Why a bundle could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The ring could not be read.
    #[error("cannot read the flight recorder: {0}")]
    Ring(#[from] RecorderError),
    /// The output file (or its summary) already exists: a bundle never replaces a file.
    #[error("{path} already exists (a bundle never replaces a file: choose another name)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A symbolic link stands where the output goes: never written through.
    #[error("{path} is a symbolic link (a bundle is never written through one)")]
    Link {
        /// The file.
        path: PathBuf,
    },
    /// Creating or writing a file failed (the partial bundle was removed).
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Telemetry failed internally (a caught panic, see `status().problems`).
    #[error("telemetry failed internally; no bundle was written")]
    Internal,
}

/// How a session in the bundle ended, as far as its records tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// A clean-exit marker.
    CleanExit,
    /// A crash tombstone, with no clean exit after it.
    Crashed,
    /// Neither: still running when exported, or killed without a trace (SIGKILL,
    /// power loss), or its end is past the exported window.
    Unknown,
}

impl SessionEnd {
    /// In words, for the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::CleanExit => "clean exit",
            SessionEnd::Crashed => "crashed",
            SessionEnd::Unknown => "no end recorded (still running, or killed)",
        }
    }
}

/// A session seen in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session's id.
    pub session_id: String,
    /// The app version it ran.
    pub app_version: String,
    /// Its start marker's time (`None`: started before the window).
    pub started: Option<DateTime<Utc>>,
    /// How it ended.
    pub end: SessionEnd,
}

/// A crash tombstone in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashSummary {
    /// When.
    pub ts: DateTime<Utc>,
    /// `panic`, `signal`, …
    pub kind: String,
    /// The panic message or signal name.
    pub message: String,
    /// Where (file:line), if known.
    pub location: String,
    /// The crashing thread.
    pub thread: String,
}

/// The human-readable side of a bundle; [`ExportSummary::to_text`] is the summary file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// The app versions seen (session markers, tombstones), in order of appearance.
    pub app_versions: Vec<String>,
    /// The oldest and newest record's time.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Records in the bundle.
    pub records: usize,
    /// Records by kind (`log`, `metric`, …), in a fixed order.
    pub by_kind: Vec<(&'static str, usize)>,
    /// Sessions seen, oldest first.
    pub sessions: Vec<SessionSummary>,
    /// Crash tombstones.
    pub crashes: Vec<CrashSummary>,
    /// Records the ring no longer held completely inside its window (torn, in flight).
    pub missing: u64,
    /// `--since`, if given.
    pub since: Option<Duration>,
    /// Whether the privacy filter ran.
    pub redacted: bool,
    /// Values redaction changed or removed (session ids included).
    pub redacted_values: usize,
    /// Fields removed, by key: (key, its category, how many).
    pub removed_fields: Vec<(String, &'static str, usize)>,
    /// Location fields rounded instead of removed, by key.
    pub coarsened_fields: Vec<(String, usize)>,
    /// Text values rewritten, by where they were (`message`, `target`,
    /// `crash.backtrace`, `field.NAME` …).
    pub rewritten_text: Vec<(String, usize)>,
    /// Placeholders put into text, by kind (`<location>`, `<word>` …).
    pub placeholders: Vec<(String, usize)>,
    /// Fields kept in clear, by key.
    pub kept_fields: Vec<(String, usize)>,
}

impl ExportSummary {
    /// The summary as the text file holds it.
    pub fn to_text(&self) -> String {
        let ts = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut s = String::from("Locus telemetry export\n");
        let versions = if self.app_versions.is_empty() {
            "unknown".to_owned()
        } else {
            self.app_versions.join(", ")
        };
        s += &format!("app version:  {versions}\n");
        match &self.span {
            Some((a, b)) => {
                let secs = (*b - *a).num_seconds().max(0);
                s += &format!(
                    "time span:    {} .. {} ({}h {:02}m {:02}s)\n",
                    ts(a),
                    ts(b),
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                );
            }
            None => s += "time span:    (no records)\n",
        }
        if let Some(d) = self.since {
            s += &format!("since:        the last {}s before export\n", d.as_secs());
        }
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        s += &format!(
            "records:      {} ({}); {} missing in the window\n",
            self.records,
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join(", ")
            },
            self.missing
        );
        s += &format!("sessions:     {}\n", self.sessions.len());
        for x in &self.sessions {
            let started = x.started.as_ref().map_or("before the window".into(), &ts);
            s += &format!(
                "  {}  app {}  started {}: {}\n",
                x.session_id,
                x.app_version,
                started,
                x.end.as_str()
            );
        }
        s += &format!("crashes:      {}\n", self.crashes.len());
        for c in &self.crashes {
            let at = if c.location.is_empty() {
                String::new()
            } else {
                format!(" at {}", c.location)
            };
            s += &format!(
                "  {}  {} {:?}{} (thread {})\n",
                ts(&c.ts),
                c.kind,
                c.message,
                at,
                c.thread
            );
        }
        if self.redacted {
            s += &format!(
                "redaction:    on (fields by category, text as templates, then the privacy filter): {} values changed\n",
                self.redacted_values
            );
            let list = |v: &[(String, usize)]| {
                if v.is_empty() {
                    "none".to_owned()
                } else {
                    v.iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let removed: Vec<String> = self
                .removed_fields
                .iter()
                .map(|(k, c, n)| format!("{k} {n} ({c})"))
                .collect();
            s += &format!(
                "  fields removed:     {}\n",
                if removed.is_empty() {
                    "none".to_owned()
                } else {
                    removed.join(", ")
                }
            );
            if !self.coarsened_fields.is_empty() {
                s += &format!("  fields coarsened:   {}\n", list(&self.coarsened_fields));
            }
            s += &format!("  text rewritten:     {}\n", list(&self.rewritten_text));
            s += &format!("  placeholders:       {}\n", list(&self.placeholders));
            s += &format!(
                "  still in clear:     record times, levels, kinds, sequence numbers, metric values; fields {}; in text: known words, numbers with a unit or a technical key, versions, durations, sizes, HTTP codes, request ids, stack frames of the app and its runtimes\n",
                list(&self.kept_fields)
            );
        } else {
            s += "redaction:    off (text as recorded: review before sharing)\n";
        }
        s
    }
}

/// A bundle ready to be previewed or written: the records (filtered and, if asked,
/// redacted) and their summary.
#[derive(Debug, Clone)]
pub struct ExportBundle {
    records: Vec<Record>,
    summary: ExportSummary,
}

impl ExportBundle {
    /// A bundle of `snapshot`'s records under `options`, as of `now`.
    pub(crate) fn new(
        snapshot: Snapshot,
        options: &ExportOptions,
        now: DateTime<Utc>,
    ) -> ExportBundle {
        let mut records = snapshot.records;
        if let Some(since) = options.since {
            let from = chrono::Duration::from_std(since)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            records.retain(|r| r.ts >= from);
        }
        let mut tally = Tally::default();
        if options.redact {
            let mut sessions = Vec::new();
            for r in &mut records {
                redact(r, options, &mut sessions, &mut tally);
            }
        }
        let mut summary = summarize(&records);
        summary.missing = snapshot.missing;
        summary.since = options.since;
        summary.redacted = options.redact;
        summary.redacted_values = tally.changed;
        let sorted = |m: BTreeMap<String, usize>| m.into_iter().collect::<Vec<_>>();
        summary.removed_fields = tally
            .removed
            .into_iter()
            .map(|((k, c), n)| (k, c, n))
            .collect();
        summary.coarsened_fields = sorted(tally.coarsened);
        summary.rewritten_text = sorted(tally.rewritten);
        summary.placeholders = tally
            .placeholders
            .iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect();
        summary.kept_fields = sorted(tally.kept);
        ExportBundle { records, summary }
    }

    /// The summary.
    pub fn summary(&self) -> &ExportSummary {
        &self.summary
    }

    /// The records, as they will be written.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The first `n` lines of the bundle exactly as `zcat` will print them (without
    /// the newline): what the user reviews before sharing.
    pub fn preview_lines(&self, n: usize) -> Vec<String> {
        self.records
            .iter()
            .take(n)
            .map(Record::to_json_line)
            .collect()
    }

    /// Writes the bundle to `out` and its summary beside it ([`summary_path`]); both
    /// are created new. Returns the summary.
    pub fn write(&self, out: &Path) -> Result<ExportSummary, ExportError> {
        let summary_file = summary_path(out);
        // Bounded: a file-size limit is an error (EFBIG, the partial files removed),
        // never SIGXFSZ.
        let mut bundle = crate::door::Bounded::new(create_new(out)?);
        let mut text = match create_new(&summary_file) {
            Ok(f) => crate::door::Bounded::new(f),
            Err(e) => {
                let _ = std::fs::remove_file(out);
                return Err(e);
            }
        };
        let written = (|| {
            for chunk in self.records.chunks(RECORDS_PER_MEMBER) {
                let gz = crate::sink::s3::encode_batch(chunk);
                bundle
                    .write_all(&gz)
                    .map_err(|source| io(out, "write", source))?;
            }
            if self.records.is_empty() {
                // An empty gzip member: still a valid (empty) bundle for zcat.
                let gz = crate::sink::s3::encode_batch(&[]);
                bundle
                    .write_all(&gz)
                    .map_err(|source| io(out, "write", source))?;
            }
            bundle
                .file()
                .sync_all()
                .map_err(|source| io(out, "sync", source))?;
            text.write_all(self.summary.to_text().as_bytes())
                .and_then(|()| text.file().sync_all())
                .map_err(|source| io(&summary_file, "write", source))
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(out);
            let _ = std::fs::remove_file(&summary_file);
            return Err(e);
        }
        Ok(self.summary.clone())
    }
}

/// Where the summary of a bundle at `out` goes: `.jsonl.gz` replaced by `.summary.txt`,
/// else `.summary.txt` appended.
///
/// ```
/// use locus_telemetry::export_summary_path as summary_path;
/// use std::path::Path;
/// assert_eq!(summary_path(Path::new("/tmp/a.jsonl.gz")), Path::new("/tmp/a.summary.txt"));
/// assert_eq!(summary_path(Path::new("b.gz")), Path::new("b.gz.summary.txt"));
/// ```
pub fn summary_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = match name.strip_suffix(".jsonl.gz") {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => name,
    };
    out.with_file_name(format!("{stem}.summary.txt"))
}

fn io(path: &Path, op: &'static str, source: std::io::Error) -> ExportError {
    ExportError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Creates `path` new (`O_EXCL`: never an existing file, never through a link), 0600.
fn create_new(path: &Path) -> Result<std::fs::File, ExportError> {
    crate::door::create_new(path).map_err(|source| {
        let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if link {
            ExportError::Link {
                path: path.to_path_buf(),
            }
        } else if source.kind() == std::io::ErrorKind::AlreadyExists {
            ExportError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            io(path, "create", source)
        }
    })
}

/// What redaction did, for the summary.
#[derive(Default)]
struct Tally {
    changed: usize,
    removed: BTreeMap<(String, &'static str), usize>,
    coarsened: BTreeMap<String, usize>,
    rewritten: BTreeMap<String, usize>,
    placeholders: locus_privacy::redact::RedactCounts,
    kept: BTreeMap<String, usize>,
}

impl Tally {
    /// `s` through `redact_text`, in place; counted under `what` if it changed (the
    /// label is only rendered then).
    fn text(&mut self, what: impl std::fmt::Display, s: &mut String) {
        let (out, counts) = redact_text(s);
        if out != *s {
            *s = out;
            self.changed += 1;
            *self.rewritten.entry(what.to_string()).or_default() += 1;
            self.placeholders.add(&counts);
        }
    }

    /// A field removed from the bundle, counted by key and category.
    fn remove(&mut self, key: String, category: &'static str) {
        self.changed += 1;
        *self.removed.entry((key, category)).or_default() += 1;
    }
}

/// `v` rounded to `decimals` places; `None` for a value that is not a number.
fn coarsen(v: &crate::record::Value, decimals: u8) -> Option<crate::record::Value> {
    use crate::record::Value;
    let x = match v {
        Value::F64(x) => *x,
        Value::I64(x) => *x as f64,
        Value::U64(x) => *x as f64,
        Value::Bool(_) | Value::Str(_) => return None,
    };
    let scale = 10f64.powi(i32::from(
        decimals.min(ExportOptions::MAX_LOCATION_DECIMALS),
    ));
    Some(Value::F64((x * scale).round() / scale))
}

/// Redacts `r` in place (see the module docs), counting into `tally`. Session ids
/// become `session-1`, `session-2`, … in order of appearance (`sessions` remembers
/// them), so the bundle still tells its sessions apart.
fn redact(r: &mut Record, options: &ExportOptions, sessions: &mut Vec<String>, tally: &mut Tally) {
    use crate::record::Value;
    match &mut r.body {
        Body::Log(l) => {
            tally.text("target", &mut l.target);
            tally.text("message", &mut l.message);
            let fields = std::mem::take(&mut l.fields);
            for (key, mut value) in fields {
                let category = options.category(&key);
                let keep = match category {
                    DataCategory::Technical => true,
                    DataCategory::Location | DataCategory::Personal => {
                        let rounded = match (category, options.location_decimals) {
                            (DataCategory::Location, Some(d)) => coarsen(&value, d),
                            _ => None,
                        };
                        match rounded {
                            Some(v) => {
                                value = v;
                                tally.changed += 1;
                                *tally.coarsened.entry(key.clone()).or_default() += 1;
                                l.fields.push((key, value));
                            }
                            None => tally.remove(key, category.as_str()),
                        }
                        continue;
                    }
                    DataCategory::FreeText => match &mut value {
                        Value::Str(s) => {
                            tally.text(format_args!("field.{key}"), s);
                            l.fields.push((key, value));
                            continue;
                        }
                        _ => is_technical_key(&key),
                    },
                };
                if keep {
                    *tally.kept.entry(key.clone()).or_default() += 1;
                    l.fields.push((key, value));
                } else {
                    tally.remove(key, DataCategory::FreeText.as_str());
                }
            }
        }
        Body::Crash(t) => {
            tally.text("crash.message", &mut t.message);
            tally.text("crash.location", &mut t.location);
            tally.text("crash.thread", &mut t.thread);
            tally.text("crash.backtrace", &mut t.backtrace);
            tally.text("crash.app_version", &mut t.app_version);
            tally.text("crash.os", &mut t.os);
        }
        Body::Metric(m) => tally.text("metric.name", &mut m.name),
        Body::Histogram(h) => tally.text("histogram.name", &mut h.name),
        Body::Session(s) => {
            let i = match sessions.iter().position(|x| *x == s.session_id) {
                Some(i) => i,
                None => {
                    sessions.push(s.session_id.clone());
                    sessions.len() - 1
                }
            };
            s.session_id = format!("session-{}", i + 1);
            tally.changed += 1;
            tally.text("session.app_version", &mut s.app_version);
        }
        Body::Hang(h) => {
            // The loop's name is a validated identifier; the stack is free text.
            if let Some(stack) = &mut h.stack {
                tally.text("hang.stack", stack);
            }
        }
    }
}

fn summarize(records: &[Record]) -> ExportSummary {
    let mut s = ExportSummary {
        records: records.len(),
        span: records
            .first()
            .zip(records.last())
            .map(|(a, b)| (a.ts, b.ts)),
        by_kind: ["log", "metric", "histogram", "session", "crash", "hang"]
            .into_iter()
            .map(|k| (k, 0))
            .collect(),
        ..ExportSummary::default()
    };
    let version = |v: &str, s: &mut ExportSummary| {
        if !v.is_empty() && !s.app_versions.iter().any(|x| x == v) {
            s.app_versions.push(v.to_owned());
        }
    };
    for r in records {
        if let Some(k) = s.by_kind.iter_mut().find(|(k, _)| *k == r.body.kind()) {
            k.1 += 1;
        }
        match &r.body {
            Body::Session(x) => {
                version(&x.app_version, &mut s);
                let known = s.sessions.iter().position(|y| y.session_id == x.session_id);
                let i = known.unwrap_or_else(|| {
                    s.sessions.push(SessionSummary {
                        session_id: x.session_id.clone(),
                        app_version: x.app_version.clone(),
                        started: None,
                        end: SessionEnd::Unknown,
                    });
                    s.sessions.len() - 1
                });
                match x.event {
                    SessionEvent::Start => s.sessions[i].started = Some(r.ts),
                    SessionEvent::CleanExit => s.sessions[i].end = SessionEnd::CleanExit,
                }
            }
            Body::Crash(t) => {
                version(&t.app_version, &mut s);
                // A crash belongs to the session started last before it.
                if let Some(last) = s.sessions.last_mut() {
                    if last.end == SessionEnd::Unknown {
                        last.end = SessionEnd::Crashed;
                    }
                }
                s.crashes.push(CrashSummary {
                    ts: r.ts,
                    kind: serde_json::to_value(t.crash)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    message: t.message.clone(),
                    location: t.location.clone(),
                    thread: t.thread.clone(),
                });
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CrashKind, Level, LogRecord, SessionRecord, Tombstone};

    fn snapshot() -> Snapshot {
        let t0 = 1_790_000_000_000_000_000i64;
        let log = |seq, msg: &str| {
            Record::new(
                seq,
                t0 + seq as i64 * 1_000_000_000,
                Body::Log(LogRecord {
                    level: Level::Info,
                    target: "locus::gps".into(),
                    message: msg.into(),
                    fields: vec![("who".into(), "bob@example.org".into())],
                }),
            )
        };
        let session = |seq, event, id: &str| {
            Record::new(
                seq,
                t0 + seq as i64 * 1_000_000_000,
                Body::Session(SessionRecord {
                    event,
                    session_id: id.into(),
                    app_version: "1.2.0".into(),
                }),
            )
        };
        Snapshot {
            records: vec![
                session(1, SessionEvent::Start, "aaaa"),
                log(2, "fix at geo:52.52,13.405"),
                session(3, SessionEvent::CleanExit, "aaaa"),
                session(4, SessionEvent::Start, "bbbb"),
                Record::new(
                    5,
                    t0 + 5_000_000_000,
                    Body::Crash(Tombstone {
                        crash: CrashKind::Panic,
                        message: "boom".into(),
                        location: "/home/alice/src/x.rs:1:1".into(),
                        thread: "gps".into(),
                        backtrace: "0: x".into(),
                        app_version: "1.2.0".into(),
                        os: "linux".into(),
                        uptime_ms: 5,
                        signal: None,
                    }),
                ),
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn summary_tells_sessions_crashes_and_redaction() {
        let now = Utc::now();
        let b = ExportBundle::new(snapshot(), &ExportOptions::default(), now);
        let s = b.summary();
        assert_eq!(s.sessions.len(), 2);
        assert_eq!(s.sessions[0].end, SessionEnd::CleanExit);
        assert_eq!(s.sessions[1].end, SessionEnd::Crashed);
        assert_eq!(s.crashes.len(), 1);
        assert_eq!(s.app_versions, vec!["1.2.0".to_owned()]);
        let text = s.to_text();
        assert!(text.contains("redaction:    off"), "{text}");
        let r = ExportBundle::new(
            snapshot(),
            &ExportOptions {
                redact: true,
                ..Default::default()
            },
            now,
        );
        let rs = r.summary();
        let text = rs.to_text();
        // The e-mail field is personal by default: removed, and said so.
        assert_eq!(
            rs.removed_fields,
            vec![("who".to_owned(), "personal", 1)],
            "{text}"
        );
        assert!(
            text.contains("fields removed:     who 1 (personal)"),
            "{text}"
        );
        // The message's coordinate and the crash's user path are rewritten.
        assert!(
            rs.rewritten_text
                .iter()
                .any(|(k, n)| k == "message" && *n == 1),
            "{text}"
        );
        assert!(
            rs.rewritten_text.iter().any(|(k, _)| k == "crash.location"),
            "{text}"
        );
        assert!(
            rs.placeholders.iter().any(|(k, _)| k == "<location>"),
            "{text}"
        );
        // field, message, crash location, three session ids at least.
        assert!(rs.redacted_values >= 6, "{text}");
        assert!(
            text.contains(&format!(": {} values changed", rs.redacted_values)),
            "{text}"
        );
        assert!(text.contains("still in clear:"), "{text}");
        assert_eq!(r.summary().sessions.len(), 2);
        assert_eq!(r.summary().sessions[1].session_id, "session-2");
        let mut all = Vec::new();
        for line in r.preview_lines(10) {
            all.extend(locus_testkit::json_strings(
                &serde_json::from_str(&line).unwrap(),
            ));
        }
        assert!(all.iter().any(|s| s.contains("<")), "{all:?}");
        for s in &all {
            assert!(locus_privacy::find_pii(s).is_none(), "{s}");
        }
        let recent = ExportBundle::new(
            snapshot(),
            &ExportOptions {
                since: Some(Duration::from_secs(1)),
                ..Default::default()
            },
            now,
        );
        assert_eq!(recent.records().len(), 0);
    }

    fn fixes() -> Snapshot {
        let t0 = 1_790_000_000_000_000_000i64;
        let fix = |seq: u64| {
            Record::new(
                seq,
                t0 + seq as i64 * 10_000_000,
                Body::Log(LogRecord {
                    level: Level::Info,
                    target: "locus::gps".into(),
                    message: "gps fix".into(),
                    fields: vec![
                        ("lat".into(), 52.520008.into()),
                        ("lon".into(), 13.404954.into()),
                        ("accuracy_m".into(), 4.5.into()),
                        ("status".into(), 200i64.into()),
                        ("took_ms".into(), 12i64.into()),
                        ("home_x".into(), 600000i64.into()),
                        ("note".into(), "near Anna's place, 52.52 13.40".into()),
                        ("pet".into(), "Rex".into()),
                    ],
                }),
            )
        };
        Snapshot {
            records: (1..=3).map(fix).collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn fields_go_by_category_declared_or_default() {
        let red = |options: ExportOptions| {
            ExportBundle::new(
                fixes(),
                &ExportOptions {
                    redact: true,
                    ..options
                },
                Utc::now(),
            )
        };
        let b = red(ExportOptions::default());
        let s = b.summary();
        let keys = |r: &Record| match &r.body {
            Body::Log(l) => l.fields.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        // Location by default; an unknown number under a non-technical key; text kept
        // as a template.
        assert_eq!(keys(&b.records()[0]), ["status", "took_ms", "note", "pet"]);
        assert_eq!(
            s.removed_fields,
            vec![
                ("accuracy_m".to_owned(), "location", 3),
                ("home_x".to_owned(), "free_text", 3),
                ("lat".to_owned(), "location", 3),
                ("lon".to_owned(), "location", 3),
            ]
        );
        assert_eq!(
            s.kept_fields,
            vec![("status".to_owned(), 3), ("took_ms".to_owned(), 3)]
        );
        let line = &b.preview_lines(1)[0];
        assert!(
            !line.contains("52.5") && !line.contains("Anna") && !line.contains("Rex"),
            "{line}"
        );
        assert!(line.contains(r#""status":200"#), "{line}");

        // Declared: `pet` is personal, `home_x` technical; location coarsened to 2
        // decimals.
        let declared: BTreeMap<String, String> = [("pet", "personal"), ("home_x", "technical")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let b = red(ExportOptions {
            location_decimals: Some(7),
            ..ExportOptions::default().with_declared(&declared)
        });
        let line = &b.preview_lines(1)[0];
        assert!(
            line.contains(r#""lat":52.52"#) && line.contains(r#""lon":13.4"#),
            "{line}"
        );
        assert!(
            !line.contains("52.520008") && !line.contains("Rex"),
            "{line}"
        );
        assert!(line.contains(r#""home_x":600000"#), "{line}");
        let text = b.summary().to_text();
        assert!(
            text.contains("fields coarsened:   accuracy_m 3, lat 3, lon 3"),
            "{text}"
        );
        assert!(text.contains("pet 3 (personal)"), "{text}");
    }

    #[test]
    fn writes_new_files_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.jsonl.gz");
        let b = ExportBundle::new(snapshot(), &ExportOptions::default(), Utc::now());
        b.write(&out).unwrap();
        let back = crate::sink::s3::decode_batch(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(back, b.records());
        assert!(std::fs::read_to_string(dir.path().join("x.summary.txt"))
            .unwrap()
            .contains("sessions:     2"));
        assert!(matches!(b.write(&out), Err(ExportError::Exists { .. })));
        let link = dir.path().join("l.jsonl.gz");
        std::os::unix::fs::symlink(dir.path().join("target"), &link).unwrap();
        assert!(matches!(b.write(&link), Err(ExportError::Link { .. })));
        assert!(!dir.path().join("target").exists());
        // The summary's place taken: nothing is left behind.
        let out2 = dir.path().join("y.jsonl.gz");
        std::fs::write(dir.path().join("y.summary.txt"), b"mine").unwrap();
        assert!(matches!(b.write(&out2), Err(ExportError::Exists { .. })));
        assert!(!out2.exists());
    }
}
