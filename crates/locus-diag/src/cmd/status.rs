//! `locus-diag status`: what telemetry in a data dir is doing, read from its files
//! without disturbing the app — the recorder (and any damaged rings salvage kept aside),
//! how the last session ended, the last shipped record per destination, and each circuit
//! breaker's state and backoff.
//!
//! Never hangs and never reads much, whatever is in the data dir: the ring is read only
//! through the library's bounded reader ([`read_ring_file`]), the small state files only
//! if they are regular files (opened without following links and without blocking on a
//! FIFO) and only their first [`MAX_STATE_FILE_BYTES`].

use locus_telemetry::breaker::CircuitBreaker;
use locus_telemetry::dispatch::batch::Cursor;
use locus_telemetry::recorder::read_ring_file;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Most bytes read from `device_id` or `session.json` (both are far smaller).
pub const MAX_STATE_FILE_BYTES: u64 = 64 * 1024;
/// Name prefix of the damaged ring copies salvage keeps aside.
pub const DAMAGED_PREFIX: &str = "recorder.ring.damaged-";
/// Damaged copies listed one by one; the rest are counted.
const MAX_LISTED_DAMAGED: usize = 50;

/// Arguments of `locus-diag status`.
#[derive(clap::Args)]
pub struct Args {
    /// The app's data dir.
    #[arg(long, default_value = "./locus-demo")]
    data_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Why a small state file was not read.
#[derive(Debug)]
pub enum StateFileError {
    /// There is no such file.
    Missing,
    /// It is a symbolic link, FIFO, device, directory or socket.
    NotRegular(&'static str),
    /// Longer than [`MAX_STATE_FILE_BYTES`].
    TooLarge(u64),
    /// Opening or reading failed.
    Io(std::io::Error),
}

impl std::fmt::Display for StateFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateFileError::Missing => write!(f, "no such file"),
            StateFileError::NotRegular(what) => write!(f, "{what}, not a regular file"),
            StateFileError::TooLarge(n) => {
                write!(f, "{n} bytes, more than {MAX_STATE_FILE_BYTES}")
            }
            StateFileError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StateFileError {}

/// What `status` makes of `session.json`.
enum SessionMarker {
    /// No marker: no session has started in this data dir.
    None,
    /// A marker: the session's id, app version and whether it exited cleanly.
    Known(serde_json::Value),
    /// Something is there but it is not a readable marker.
    Unknown(String),
}

impl SessionMarker {
    fn read(dir: &Path) -> SessionMarker {
        let text = match read_state_file(&dir.join("session.json")) {
            Ok(t) => t,
            Err(StateFileError::Missing) => return SessionMarker::None,
            Err(e) => return SessionMarker::Unknown(format!("session.json: {e}")),
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v["session_id"].is_string() && v["clean_exit"].is_boolean() => {
                SessionMarker::Known(v)
            }
            Ok(_) => SessionMarker::Unknown("session.json is not a session marker".into()),
            Err(e) => SessionMarker::Unknown(format!("session.json is not valid JSON: {e}")),
        }
    }

    fn state(&self) -> &'static str {
        match self {
            SessionMarker::None => "none (first start)",
            SessionMarker::Known(v) if v["clean_exit"].as_bool() == Some(true) => "exited cleanly",
            SessionMarker::Known(_) => "running, or ended without a clean exit",
            SessionMarker::Unknown(_) => "unknown",
        }
    }
}

/// A damaged ring copy: file name and size.
struct Damaged {
    name: String,
    size: u64,
    /// Set when it is not a regular file (its size is then the link's or node's).
    odd: Option<&'static str>,
}

/// Runs `locus-diag status`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let dir = &args.data_dir;
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory (no telemetry data there)",
            dir.display()
        );
    }
    let ring_path = dir.join("recorder.ring");
    // The only way the ring is read: the library's bounded, non-blocking reader.
    let ring = read_ring_file(&ring_path);
    let (damaged, damaged_more) = damaged_copies(dir);
    let device_id = match read_state_file(&dir.join("device_id")) {
        Ok(s) => Ok(s.trim().to_owned()),
        Err(e) => Err(e),
    };
    let session = SessionMarker::read(dir);
    let mut destinations = Vec::new();
    let mut skipped = Vec::new();
    for name in ["s3", "community"] {
        // The library reads these files whole and would block on a FIFO: only let it
        // read regular files.
        let paths = [
            CircuitBreaker::state_path(dir, name),
            dir.join(format!("cursor-{name}.json")),
        ];
        if let Some((path, what)) = paths.iter().find_map(|p| odd_file(p).map(|w| (p, w))) {
            skipped.push(format!(
                "{}: {what}, not a regular file: not read",
                path.display()
            ));
            continue;
        }
        let breaker = CircuitBreaker::read_snapshot(dir, name);
        let cursor = Cursor::load(dir, name).last();
        if breaker.is_none() && cursor == 0 {
            continue;
        }
        destinations.push((name, breaker, cursor));
    }

    if args.json {
        let salvaged: Vec<_> = damaged
            .iter()
            .map(|d| serde_json::json!({"name": d.name, "size": d.size, "not_regular": d.odd}))
            .collect();
        let mut recorder = match &ring {
            Ok(s) => {
                serde_json::json!({"path": ring_path, "records": s.records.len(), "missing": s.missing,
                "newest_seq": s.records.last().map(|r| r.seq)})
            }
            Err(e) => serde_json::json!({"path": ring_path, "error": e.to_string()}),
        };
        recorder["salvaged"] = serde_json::Value::Array(salvaged);
        recorder["salvaged_not_listed"] = damaged_more.into();
        let (session_json, session_error) = match &session {
            SessionMarker::Known(v) => (v.clone(), None),
            SessionMarker::None => (serde_json::Value::Null, None),
            SessionMarker::Unknown(why) => (serde_json::Value::Null, Some(why.clone())),
        };
        let v = serde_json::json!({
            "data_dir": dir,
            "device_id": device_id.as_ref().ok(),
            "device_id_error": device_id.as_ref().err().filter(|e| !matches!(e, StateFileError::Missing)).map(|e| e.to_string()),
            "recorder": recorder,
            "session": session_json,
            "session_state": session.state(),
            "session_error": session_error,
            "destinations": destinations.iter().map(|(name, b, cursor)| serde_json::json!({
                "name": name, "shipped_through": cursor, "breaker": b,
            })).collect::<Vec<_>>(),
            "not_read": skipped,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }

    writeln!(out, "data dir:         {}", dir.display())?;
    match &device_id {
        Ok(id) if !id.is_empty() => writeln!(out, "device id:        {id}")?,
        Ok(_) => writeln!(out, "device id:        (empty file)")?,
        Err(StateFileError::Missing) => writeln!(out, "device id:        (none yet)")?,
        Err(e) => writeln!(out, "device id:        unreadable: device_id: {e}")?,
    }
    match &ring {
        Ok(s) => writeln!(
            out,
            "flight recorder:  {} — {} records, newest #{}, {} missing",
            ring_path.display(),
            s.records.len(),
            s.records.last().map_or(0, |r| r.seq),
            s.missing
        )?,
        Err(e) => writeln!(out, "flight recorder:  unreadable: {e}")?,
    }
    for d in &damaged {
        writeln!(
            out,
            "  salvaged:       {} ({} bytes{})",
            d.name,
            d.size,
            d.odd.map(|w| format!(", {w}")).unwrap_or_default()
        )?;
    }
    if damaged_more > 0 {
        writeln!(out, "  salvaged:       … and {damaged_more} more")?;
    }
    match &session {
        SessionMarker::Known(s) => writeln!(
            out,
            "last session:     {} (app {}) — {}",
            s["session_id"].as_str().unwrap_or("?"),
            s["app_version"].as_str().unwrap_or("?"),
            session.state()
        )?,
        SessionMarker::None => writeln!(out, "last session:     {}", session.state())?,
        SessionMarker::Unknown(why) => writeln!(out, "last session:     unknown ({why})")?,
    }
    for s in &skipped {
        writeln!(out, "not read:         {s}")?;
    }
    if destinations.is_empty() {
        writeln!(out, "destinations:     none has run yet")?;
    }
    for (name, breaker, cursor) in destinations {
        writeln!(out, "{name}:")?;
        writeln!(out, "  shipped through #{cursor}")?;
        match breaker {
            Some(b) => {
                writeln!(
                    out,
                    "  breaker          {} — {} consecutive failures, opened {} times",
                    b.state, b.consecutive_failures, b.times_opened
                )?;
                if let Some(until) = b.open_until {
                    writeln!(out, "  backoff ends     {}", until.to_rfc3339())?;
                }
                if let Some(e) = b.last_error {
                    writeln!(out, "  last error       {e}")?;
                }
            }
            None => writeln!(out, "  breaker          closed (no failures recorded)")?,
        }
    }
    Ok(())
}

/// What `path` is if it exists and is not a regular file (without following a link).
fn odd_file(path: &Path) -> Option<&'static str> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    kind_if_not_regular(&meta.file_type())
}

fn kind_if_not_regular(t: &std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_block_device() || t.is_char_device() {
        Some("a device")
    } else {
        Some("not a plain file")
    }
}

/// Reads a small state file: a regular file only, never through a link, never blocking
/// on a FIFO, at most [`MAX_STATE_FILE_BYTES`].
pub fn read_state_file(path: &Path) -> Result<String, StateFileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => StateFileError::Missing,
            Some(libc::ELOOP) => StateFileError::NotRegular("a symbolic link"),
            _ => StateFileError::Io(e),
        })?;
    let meta = file.metadata().map_err(StateFileError::Io)?;
    if let Some(what) = kind_if_not_regular(&meta.file_type()) {
        return Err(StateFileError::NotRegular(what));
    }
    if meta.len() > MAX_STATE_FILE_BYTES {
        return Err(StateFileError::TooLarge(meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(StateFileError::Io)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The damaged ring copies in `dir`, sorted by name (at most [`MAX_LISTED_DAMAGED`]),
/// and how many more there are. Sizes are read without following links.
fn damaged_copies(dir: &Path) -> (Vec<Damaged>, usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (Vec::new(), 0);
    };
    let mut found = Vec::new();
    let mut total = 0usize;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(DAMAGED_PREFIX) {
            continue;
        }
        total += 1;
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        found.push(Damaged {
            name,
            size: meta.len(),
            odd: kind_if_not_regular(&meta.file_type()),
        });
        // Keep memory bounded in a directory with very many of them: keep the newest
        // names (they sort by time) and drop the rest.
        if found.len() > 4 * MAX_LISTED_DAMAGED {
            found.sort_by(|a, b| b.name.cmp(&a.name));
            found.truncate(MAX_LISTED_DAMAGED);
        }
    }
    found.sort_by(|a, b| b.name.cmp(&a.name));
    found.truncate(MAX_LISTED_DAMAGED);
    found.reverse();
    let more = total.saturating_sub(found.len());
    (found, more)
}
