//! Redaction by construction, for the share bundle (`locus-diag export --redact`,
//! `locus-diag redact`): what a developer needs stays, everything else becomes a typed
//! placeholder.
//!
//! Two parts:
//!
//! - **Fields by declared sensitivity.** Every field key of a record has a
//!   [`DataCategory`]: `technical` (kept), `location` (dropped, or coarsened when the
//!   app declares a precision), `personal` (dropped) or `free_text` (its text goes
//!   through [`redact_text`]). The app declares its keys (the telemetry settings'
//!   `field_categories`); [`DataCategory::default_for_key`] gives safe defaults for the
//!   keys Locus uses, and an unknown key is free text.
//! - **Free text as templates.** [`redact_text`] works like the community templates
//!   ([`crate::template`]: the same vocabulary and placeholder grammar), but keeps what
//!   a developer reads a log for. In order, for each line:
//!   1. spans known to be technical and that the filter would spoil are set apart
//!      (a UUID after a request/trace key, an NMEA sentence without a position);
//!   2. named places (`geofence 'Anna's office'`), degrees-minutes-seconds written out
//!      and ISO 6709 strings become `<location>`;
//!   3. the rest goes through the privacy filter ([`crate::scrub`]), which puts its
//!      typed placeholders (`<email>`, `<location>` …);
//!   4. each whitespace-separated chunk is then kept verbatim when it is technical —
//!      a number with a unit (`250ms`, `4.2 KiB`, `87%`), a number after a technical
//!      key (`status=503`, `attempt 3`, `retries: 2`) or before a counted noun
//!      (`12 records`), a version (`1.4.2`, `v2`, `Android 14`), an HTTP status code,
//!      an ISO timestamp, a short `0x` address, a stack frame or identifier of the app
//!      or of a standard runtime (`locus::sync::upload`,
//!      `at com.locus.app.Sync.run(Sync.kt:42)`, `src/sync/upload.rs:42:7`), a path
//!      made of known words (`/v1/tracks`) — and otherwise made a template: known words
//!      stay, everything else becomes `<word>`, `<num>`, `<hex>`, `<path>`, `<file>`,
//!      `<url>` or `<sym>`;
//!   5. the filter runs once more over the result: the second wall.
//!
//! Whitespace and line breaks are kept as they are.
//!
//! ```
//! use locus_privacy::redact::redact_text;
//!
//! let (out, counts) = redact_text("sync failed for anna.k@example.org at 52.520008, 13.404954: status=503 after 250ms (attempt 3, v1.4.2)");
//! assert_eq!(out, "sync failed for <email> at <location>: status=503 after 250ms (attempt 3, v1.4.2)");
//! assert_eq!(counts.get("<email>"), 1);
//! assert_eq!(redact_text("arrived at geofence 'Anna's office'").0, "arrived at geofence <location>");
//! assert_eq!(redact_text("cannot open Kowalczyk_Lauf.gpx").0, "cannot open <file>");
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::engine::compile;
use crate::template::split_wrappers;

/// What a field of a record is, for redaction: the app declares it per field key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataCategory {
    /// Safe to share as is: codes, counts, durations, sizes, levels.
    Technical,
    /// Where the user is or was, or how they move: dropped, or coarsened.
    Location,
    /// About the person: dropped.
    Personal,
    /// Text of unknown content: through [`redact_text`].
    FreeText,
}

/// The categories by name, as settings write them.
pub const CATEGORY_NAMES: &[(&str, DataCategory)] = &[
    ("technical", DataCategory::Technical),
    ("location", DataCategory::Location),
    ("personal", DataCategory::Personal),
    ("free_text", DataCategory::FreeText),
];

/// Field keys Locus uses that are location (position, accuracy, motion, radio).
#[rustfmt::skip]
const LOCATION_KEYS: &[&str] = &[
    "acc", "acc_m", "accuracy", "accuracy_m", "address", "alt", "alt_m", "altitude",
    "bearing", "bssid", "cell", "cell_id", "city", "coords", "course", "geofence",
    "geohash", "heading", "lac", "lat", "latitude", "lng", "loc", "location", "lon",
    "longitude", "place", "plus_code", "pos", "position", "postcode", "speed", "speed_kmh",
    "speed_mps", "ssid", "street", "tac", "vacc", "hacc", "zip",
];

/// Field keys Locus uses that are personal.
#[rustfmt::skip]
const PERSONAL_KEYS: &[&str] = &[
    "account", "device_id", "email", "handle", "imei", "imsi", "ip", "meid", "name",
    "password", "phone", "token", "user", "user_id", "username", "who",
];

/// Field keys Locus uses that are technical.
#[rustfmt::skip]
const TECHNICAL_KEYS: &[&str] = &[
    "attempt", "battery_pct", "bytes", "charging", "code", "count", "duration_ms",
    "elapsed_ms", "error_kind", "errno", "fixes", "http_status", "kind", "latency_ms",
    "len", "level", "method", "ms", "provider", "queue_len", "records", "request_id",
    "retries", "sats", "seq", "size", "status", "took_ms", "trace_id",
];

impl DataCategory {
    /// The category of a field key Locus uses; an unknown key is
    /// [`DataCategory::FreeText`].
    ///
    /// ```
    /// use locus_privacy::redact::DataCategory;
    /// assert_eq!(DataCategory::default_for_key("lat"), DataCategory::Location);
    /// assert_eq!(DataCategory::default_for_key("status"), DataCategory::Technical);
    /// assert_eq!(DataCategory::default_for_key("whatever"), DataCategory::FreeText);
    /// ```
    pub fn default_for_key(key: &str) -> DataCategory {
        let k = key.to_ascii_lowercase();
        if LOCATION_KEYS.contains(&k.as_str()) {
            DataCategory::Location
        } else if PERSONAL_KEYS.contains(&k.as_str()) {
            DataCategory::Personal
        } else if TECHNICAL_KEYS.contains(&k.as_str()) {
            DataCategory::Technical
        } else {
            DataCategory::FreeText
        }
    }

    /// Its name in settings (`technical`, `location`, `personal`, `free_text`).
    pub fn as_str(self) -> &'static str {
        CATEGORY_NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("free_text", |(n, _)| n)
    }

    /// The category named `name`, if any.
    pub fn from_name(name: &str) -> Option<DataCategory> {
        CATEGORY_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
    }
}

impl std::fmt::Display for DataCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a number under key `key` is technical when the key is not declared: the
/// key's last part (split at `_`, `-`, `.`) is a technical word (`took_ms`,
/// `queue_len`, `http_status`) and no part of it names a place or a person.
///
/// ```
/// use locus_privacy::redact::is_technical_key;
/// assert!(is_technical_key("upload_took_ms"));
/// assert!(!is_technical_key("home_lat"));
/// assert!(!is_technical_key("user_count_of_anna"));
/// ```
pub fn is_technical_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let parts: Vec<&str> = lower
        .split(['_', '-', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    let Some(last) = parts.last() else {
        return false;
    };
    let sensitive = parts.iter().any(|p| {
        LOCATION_KEYS.contains(p) || PERSONAL_KEYS.contains(p) || SENSITIVE_WORDS.contains(p)
    });
    let unit = parts.len() >= 2 && UNITS.iter().any(|u| u.eq_ignore_ascii_case(last));
    !sensitive && (KEY_WORDS.contains(last) || unit)
}

/// Words that make a key not technical, whatever follows.
#[rustfmt::skip]
const SENSITIVE_WORDS: &[&str] = &[
    "home", "postal", "post", "pin", "otp", "sms", "verification", "auth", "zip", "birth",
    "dob", "ssn", "iban", "card", "plate", "vin", "x", "y", "e7", "lon", "lat",
];

/// Keys after which a number is technical (`status 503`, `attempt=3`).
#[rustfmt::skip]
const KEY_WORDS: &[&str] = &[
    "attempt", "attempts", "backoff", "batch", "batches", "bytes", "cap", "capacity", "col",
    "column", "count", "delay", "depth", "dropped", "elapsed", "errno", "exit", "fd",
    "fixes", "gen", "generation", "hz", "idx", "index", "interval", "latency", "len",
    "length", "level", "limit", "line", "members", "offset", "pct", "pending", "percent",
    "pid", "port", "queue", "rate", "records", "retries", "retry", "round", "sats", "seq",
    "shard", "signal", "size", "status", "tid", "timeout", "took", "total", "tries", "try",
    "workers", "threads", "code", "http", "version", "build", "api", "sdk",
];

/// Nouns after which a number is a count (`12 records`, `3 retries`).
#[rustfmt::skip]
const COUNTED: &[&str] = &[
    "attempts", "batches", "bytes", "crashes", "entries", "errors", "events", "files",
    "fixes", "frames", "items", "keys", "lines", "members", "objects", "points", "records",
    "requests", "retries", "rows", "samples", "segments", "sessions", "tasks", "threads",
    "tries", "times", "values", "workers", "sats", "satellites", "failures", "fix",
    "record", "retry", "try", "time", "file", "batch", "request", "error", "event",
    "sample", "thread", "task", "item",
];

/// Units after a number (attached or as the next chunk); case-sensitive, so the
/// capital `H` and `R` of a Gauss-Krüger reference are not hours. Distances and
/// speeds are not here: they are location.
#[rustfmt::skip]
const UNITS: &[&str] = &[
    "ns", "us", "µs", "ms", "s", "sec", "secs", "seconds", "min", "mins", "minutes", "h",
    "hr", "hrs", "hours", "d", "days", "B", "KB", "kB", "KiB", "MB", "MiB", "GB", "GiB",
    "TB", "bytes", "byte", "%", "Hz", "kHz", "MHz", "GHz", "dB", "dBm", "fps", "rpm", "mAh",
    "mA", "mV", "V", "mW", "W", "°C", "x", "kb", "mb", "ms/op",
];

/// Words a developer reads in logs that the community vocabulary leaves out: log
/// levels, HTTP reason phrases, units, errno names, common tools. Known words for
/// redaction only (they never name a person or a place).
#[rustfmt::skip]
const EXTRA_WORDS: &[&str] = &[
    "warn", "info", "debug", "error", "trace", "fatal", "verbose", "slow", "created",
    "forbidden", "unavailable", "gateway", "conflict", "unauthorized", "requests", "many",
    "accepted", "moved", "permanently", "temporarily", "redirect", "unprocessable",
    "entity", "precondition", "payload", "teapot", "min", "mins", "sec", "secs", "hr",
    "hrs", "kib", "mib", "gib", "kb", "mb", "gb", "tb", "hz", "khz", "mhz", "ghz", "db",
    "dbm", "fps", "rpm", "mah", "ma", "mv", "mw", "ns", "us", "enoent", "eacces", "eagain",
    "enospc", "eexist", "eintr", "eio", "ebadf", "epipe", "econnreset", "econnrefused",
    "etimedout", "enotconn", "ehostunreach", "enetunreach", "erofs", "emfile", "enomem",
    "eperm", "rss", "heap", "fsync", "hdop", "vdop", "pdop", "gnss", "gps", "glonass",
    "sats", "sqlite", "dns", "tls", "tcp", "udp", "quic", "https", "http", "json", "gzip",
    "zstd", "jni", "ndk", "jvm", "gc", "oom", "anr", "ui", "io", "cpu", "gpu", "wal",
    "mmap", "sigsegv", "sigabrt", "sigbus", "sigill", "sigfpe", "sigkill", "sigterm",
    "sigpipe", "s3", "putobject", "getobject", "signaturedoesnotmatch", "nosuchkey",
    "accessdenied", "websocket", "handshake", "timed", "retrying", "nmea", "fix", "fixes",
    "backoff", "p50", "p90", "p95", "p99", "rssi", "snr", "sdk", "api", "os", "verbosity",
    "seq", "torn", "ratio", "compressed", "sealed", "dropped", "pending", "queue",
    "profile", "objects", "skew", "corrected", "detected", "generation", "restarted",
    "view", "used", "bindings", "generated", "arrived", "entered", "exited", "geofence", "dwell",
    "window", "opened", "freed", "busy",
    "deadline", "lookup",
];

/// Keys after which a number is a version (`Android 14`, `API 34`, `version: 3`).
#[rustfmt::skip]
const VERSION_KEYS: &[&str] = &[
    "android", "api", "app", "build", "chrome", "glibc", "http", "ios", "kotlin", "libc",
    "openssl", "os", "release", "rust", "rustc", "sdk", "tls", "ver", "version", "v",
    "java", "jdk", "linux", "kernel", "gradle", "firmware", "fw", "schema", "protocol",
    "proto",
];

/// Words after which a 3-digit number is an HTTP status.
#[rustfmt::skip]
const HTTP_CONTEXT: &[&str] = &[
    "http", "status", "returned", "got", "get", "put", "post", "delete", "head", "patch",
    "response", "code", "with", "error",
];

/// Reason phrases that make a 3-digit number before them an HTTP status.
#[rustfmt::skip]
const HTTP_REASONS: &[&str] = &[
    "ok", "created", "accepted", "bad", "unauthorized", "forbidden", "not", "conflict",
    "gone", "too", "internal", "service", "gateway", "slow", "moved", "found", "no",
    "precondition", "payload", "unprocessable", "request", "method",
];

/// First segments of `::` paths that are code, not data: the app's and Rust's.
#[rustfmt::skip]
const CODE_ROOTS_RUST: &[&str] = &[
    "std", "core", "alloc", "tokio", "futures", "hyper", "reqwest", "rustls", "serde",
    "serde_json", "tracing", "aws_sdk_s3", "aws_smithy_runtime", "uniffi", "sqlx", "axum",
    "crate", "self", "super",
];

/// Package roots of JVM frames that are code, not data.
#[rustfmt::skip]
const CODE_ROOTS_JVM: &[&str] = &[
    "java", "javax", "kotlin", "kotlinx", "android", "androidx", "dalvik", "sun", "jdk",
    "okhttp3", "retrofit2", "com.android", "com.google.android", "org.json",
];

/// The app's own identifier roots: its crates (`locus`, `locus_*`) and package
/// (`com.locus`). Frames and targets under them are the app's code.
pub const APP_ROOTS: &[&str] = &["locus", "com.locus"];

/// What [`redact_text`] replaced, by placeholder (`<email>`: 2, `<word>`: 5 …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactCounts {
    by_placeholder: BTreeMap<&'static str, usize>,
}

impl RedactCounts {
    /// How many `placeholder`s were put in.
    pub fn get(&self, placeholder: &str) -> usize {
        self.by_placeholder.get(placeholder).copied().unwrap_or(0)
    }

    /// Every placeholder put in at least once, with its count, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.by_placeholder.iter().map(|(k, v)| (*k, *v))
    }

    /// Placeholders put in, all kinds.
    pub fn total(&self) -> usize {
        self.by_placeholder.values().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &RedactCounts) {
        for (k, v) in &other.by_placeholder {
            *self.by_placeholder.entry(k).or_default() += v;
        }
    }
}

/// Every placeholder redaction may put in: the filter's and the templates'.
fn all_placeholders() -> impl Iterator<Item = &'static str> {
    crate::PLACEHOLDERS
        .iter()
        .chain(crate::template::PLACEHOLDERS.iter())
        .copied()
}

/// The counts of placeholders in `out` beyond those already in `input`.
fn count(input: &str, out: &str) -> RedactCounts {
    let mut c = RedactCounts::default();
    for p in all_placeholders() {
        let n = out
            .matches(p)
            .count()
            .saturating_sub(input.matches(p).count());
        if n > 0 {
            c.by_placeholder.insert(p, n);
        }
    }
    c
}

/// `text` redacted for the share bundle (see the module docs), and what was replaced.
/// Line breaks and whitespace are kept.
pub fn redact_text(text: &str) -> (String, RedactCounts) {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&redact_line(line));
    }
    let counts = count(text, &out);
    (out, counts)
}

struct Patterns {
    request_uuid: Regex,
    nmea: Regex,
    place: Regex,
    dms: Regex,
    iso6709: Regex,
    version: Regex,
    number: Regex,
    timestamp: Regex,
    short_hex: Regex,
    thousands: Regex,
    date: Regex,
    time: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        request_uuid: compile(
            r"(?i)\b(?:x-)?(?:request|req|trace|span|correlation|job|upload|batch|run)[-_ ]?id\b[\x22']?\s*[:=]?\s*[\x22']?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b",
        ),
        nmea: compile(r"\$(?:GP|GN|GL|GA|GB|BD)([A-Z]{3}),[^\s]*"),
        place: compile(
            r#"(?i)\b(?:geofence|place|zone|fence|region|poi|favourite|favorite|saved\s+place|home\s+zone)\s*[:=]?\s*('[^']*(?:'s\b[^']*)?'|"[^"]*"|«[^»]*»|“[^”]*”|‘[^’]*’)"#,
        ),
        dms: compile(
            r"(?i)\b\d{1,3}\s*(?:°|º|deg(?:rees?)?|d)\s*\d{1,2}\s*(?:'|′|’|min(?:utes?)?|m)\s*(?:\d{1,2}(?:[.,]\d+)?\s*(?:\x22|″|”|''|sec(?:onds?)?|s)?)?\s*(?:[NSEW]\b|north|south|east|west)?",
        ),
        iso6709: compile(r"[+\-]\d{2,7}(?:\.\d+)?[+\-]\d{3,8}(?:\.\d+)?(?:[+\-]\d+(?:\.\d+)?)?(?:CRS[^/\s]*)?/"),
        version: compile(r"^v?\d+(?:\.\d+){2,3}(?:[-+][0-9A-Za-z.\-]+)?$|^v\d+(?:\.\d+)?$"),
        number: compile(r"^-?\d+(?:\.\d+)?(?:/\d+)?$"),
        timestamp: compile(
            r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?$|^\d{2}:\d{2}:\d{2}(?:\.\d+)?$",
        ),
        short_hex: compile(r"^0x[0-9a-fA-F]{1,16}$"),
        thousands: compile(r"^\d{1,3}(?:\.\d{3}){2,}(?:-.*)?$"),
        date: compile(r"^\d{4}-\d{2}-\d{2}$"),
        time: compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+\-]\d{2}:?\d{2})?$"),
    })
}

/// A span of the line set apart: kept verbatim, or replaced by a placeholder.
enum Span {
    Keep,
    Put(&'static str),
}

fn redact_line(line: &str) -> String {
    let p = patterns();
    // 1-2: spans set apart before the filter runs.
    let mut spans: Vec<(usize, usize, Span)> = Vec::new();
    for c in p.request_uuid.captures_iter(line) {
        if let Some(m) = c.get(1) {
            spans.push((m.start(), m.end(), Span::Keep));
        }
    }
    for c in p.nmea.captures_iter(line) {
        let (Some(m), Some(kind)) = (c.get(0), c.get(1)) else {
            continue;
        };
        let no_position = matches!(kind.as_str(), "GSA" | "GSV" | "ZDA" | "TXT" | "GST");
        let fields: Vec<&str> = m.as_str().split(',').collect();
        // A position sentence without a fix has its latitude and longitude fields
        // empty.
        let (lat, lon) = match kind.as_str() {
            "GGA" | "GNS" => (2, 4),
            "RMC" => (3, 5),
            "GLL" => (1, 3),
            _ => (usize::MAX, usize::MAX),
        };
        let empty = |i: usize| fields.get(i).is_some_and(|f| f.is_empty());
        let empty_fix = empty(lat) && empty(lon);
        let span = if no_position || empty_fix {
            Span::Keep
        } else {
            Span::Put("<location>")
        };
        spans.push((m.start(), m.end(), span));
    }
    // A named place: the name goes, the word that says it is one stays.
    for c in p.place.captures_iter(line) {
        if let Some(m) = c.get(1) {
            spans.push((m.start(), m.end(), Span::Put("<location>")));
        }
    }
    for re in [&p.dms, &p.iso6709] {
        for m in re.find_iter(line) {
            // A DMS match needs a degree and a minute mark at least (the pattern's
            // optional parts would otherwise match "3 d 4 m").
            let s = m.as_str();
            if std::ptr::eq(re, &p.dms) && !looks_like_dms(s) {
                continue;
            }
            spans.push((m.start(), m.end(), Span::Put("<location>")));
        }
    }
    spans.sort_by_key(|s| s.0);
    let mut out = String::with_capacity(line.len() + 16);
    let mut at = 0;
    let mut ctx = Context::default();
    for (start, end, span) in spans {
        if start < at {
            continue; // overlaps one taken
        }
        redact_gap(&line[at..start], &mut ctx, &mut out);
        match span {
            Span::Keep => out.push_str(&line[start..end]),
            Span::Put(ph) => out.push_str(ph),
        }
        ctx = Context::default();
        at = end;
    }
    redact_gap(&line[at..], &mut ctx, &mut out);
    out
}

fn looks_like_dms(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let degree = s.contains('°') || s.contains('º') || lower.contains("deg");
    let minute = s.contains('\'')
        || s.contains('′')
        || s.contains('’')
        || lower.contains("min")
        || lower.contains('m');
    let hemisphere = s
        .trim_end()
        .ends_with(|c: char| matches!(c.to_ascii_uppercase(), 'N' | 'S' | 'E' | 'W'))
        || ["north", "south", "east", "west"]
            .iter()
            .any(|w| lower.contains(w));
    degree && minute || (lower.contains('d') && minute && hemisphere)
}

/// What the chunks before tell about the next one.
#[derive(Default)]
struct Context {
    /// The previous word, lowercase, without punctuation (`status` in `status: 503`).
    prev: String,
    /// The word before that.
    prev2: String,
}

/// The filter, then the chunk rules, over a part of a line.
fn template_gap(gap: &str, ctx: &mut Context, out: &mut String) {
    if gap.is_empty() {
        return;
    }
    let filtered = crate::scrub(gap);
    let chunks: Vec<(usize, usize)> = chunk_bounds(&filtered);
    let mut last = 0;
    for (k, &(s, e)) in chunks.iter().enumerate() {
        out.push_str(&filtered[last..s]);
        let next = chunks
            .get(k + 1)
            .map(|&(a, b)| &filtered[a..b])
            .unwrap_or("");
        push_chunk(&filtered[s..e], next, ctx, out);
        last = e;
    }
    out.push_str(&filtered[last..]);
}

/// The filter, the chunk rules, and the filter again (the second wall, over what the
/// rules kept) over a part of a line between set-apart spans.
fn redact_gap(gap: &str, ctx: &mut Context, out: &mut String) {
    let mut mine = String::with_capacity(gap.len() + 16);
    template_gap(gap, ctx, &mut mine);
    out.push_str(&crate::scrub(&mine));
}

fn chunk_bounds(s: &str) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                v.push((st, i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        v.push((st, s.len()));
    }
    v
}

fn lower_word(s: &str) -> String {
    s.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
        .to_ascii_lowercase()
}

fn push_chunk(chunk: &str, next: &str, ctx: &mut Context, out: &mut String) {
    let (prefix, core, suffix) = split_wrappers(chunk);
    let next_core = split_wrappers(next).1;
    let next = Next {
        raw: next_core,
        word: lower_word(next_core),
    };
    out.push_str(prefix);
    let word = core.to_ascii_lowercase();
    if let Some(kept) = technical(core, &next, ctx) {
        out.push_str(&kept);
    } else if let Some((key, sep, value)) = split_key_value(core) {
        // `status=503`, `took_ms:12`: the key as a word, the value with it as context.
        out.push_str(&template_piece(key));
        out.push(sep);
        let inner = Context {
            prev: key.to_ascii_lowercase(),
            prev2: ctx.prev.clone(),
        };
        match technical(value, &next, &inner) {
            Some(kept) => out.push_str(&kept),
            None if value.is_empty() => {}
            None => out.push_str(&template_piece(value)),
        }
    } else {
        out.push_str(&template_piece(core));
    }
    out.push_str(suffix);
    ctx.prev2 = std::mem::take(&mut ctx.prev);
    ctx.prev = if core.is_empty() {
        lower_word(chunk)
    } else {
        word
    };
}

/// `key=value` or `key:value` with an identifier key.
fn split_key_value(core: &str) -> Option<(&str, char, &str)> {
    if core.contains("://") {
        return None;
    }
    let at = core.find(['=', ':'])?;
    let (key, rest) = core.split_at(at);
    let sep = rest.chars().next()?;
    let key_ok = !key.is_empty()
        && key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && key.starts_with(|c: char| c.is_ascii_alphabetic());
    // `::` is a path separator, not a key.
    if !key_ok || rest.starts_with("::") {
        return None;
    }
    Some((key, sep, &rest[1..]))
}

/// The template of a piece that is not kept whole, with the app's words known.
fn template_piece(piece: &str) -> String {
    if piece.is_empty() {
        return String::new();
    }
    static OWN: OnceLock<Vec<String>> = OnceLock::new();
    let own = OWN.get_or_init(|| {
        // Every word the rules look at is known, so that a redacted text redacts to
        // itself (`300 samples` stays, and so does `samples`).
        let mut v: Vec<String> = [
            EXTRA_WORDS,
            KEY_WORDS,
            COUNTED,
            HTTP_REASONS,
            HTTP_CONTEXT,
            VERSION_KEYS,
            UNITS,
            TECHNICAL_KEYS,
        ]
        .concat()
        .iter()
        .filter(|w| w.is_ascii())
        .map(|w| w.to_ascii_lowercase())
        .collect();
        v.push("locus".to_owned());
        v
    });
    crate::template::template(piece, own, piece.len() * 8 + 16)
}

/// The chunk after the one looked at: as written (for units, case-sensitive) and as a
/// lowercase word.
struct Next<'a> {
    raw: &'a str,
    word: String,
}

/// `core` kept verbatim when it is technical (see the module docs).
fn technical(core: &str, next: &Next<'_>, ctx: &Context) -> Option<String> {
    if core.is_empty() {
        return None;
    }
    let p = patterns();
    let next_word = next.word.as_str();
    let prev = ctx.prev.trim_end_matches([':', '=']);
    let prev2 = ctx.prev2.trim_end_matches([':', '=']);
    // `post code 10115`, `verification code 482913`, `lat 52.52`.
    let prev_sensitive = SENSITIVE_WORDS.contains(&prev)
        || (SENSITIVE_WORDS.contains(&prev2) && matches!(prev, "code" | "number" | "no" | "nr"))
        || LOCATION_KEYS.contains(&prev)
        || PERSONAL_KEYS.contains(&prev);
    // Code identifiers, API paths, times.
    if is_code(core) || is_known_path(core) || p.timestamp.is_match(core) || p.time.is_match(core) {
        return Some(core.to_owned());
    }
    // A date only with a time after it (a date alone may be a birthday).
    if p.date.is_match(core) && p.time.is_match(next.raw) {
        return Some(core.to_owned());
    }
    if p.short_hex.is_match(core) {
        return Some(core.to_owned());
    }
    // A hemisphere beside it makes `52.31.12` degrees, minutes, seconds.
    let hemisphere = |w: &str| {
        matches!(
            w,
            "n" | "s" | "e" | "w" | "north" | "south" | "east" | "west"
        )
    };
    if p.version.is_match(core)
        && !p.thousands.is_match(core)
        && !hemisphere(prev)
        && !hemisphere(next_word)
    {
        return Some(core.to_owned());
    }
    if prev_sensitive {
        return None;
    }
    let (num, unit) = split_unit(core);
    if num.is_empty() || !p.number.is_match(num) {
        return None;
    }
    // Four decimals or more is the precision of a coordinate, never kept bare.
    if num
        .split_once('.')
        .is_some_and(|(_, f)| f.chars().take_while(char::is_ascii_digit).count() >= 4)
    {
        return None;
    }
    if !unit.is_empty() {
        // One capital letter attached (`4B`, `12V`) is as often a flat or a plate as
        // a unit: only units of two characters or more, and `s`, `h`, `d`, `x`, `%`.
        let attached_ok = unit.chars().count() >= 2 || matches!(unit, "s" | "h" | "d" | "x" | "%");
        return (attached_ok
            && (UNITS.contains(&unit) || unit.split('/').all(|u| UNITS.contains(&u))))
        .then(|| core.to_owned());
    }
    // A bare number: kept with a unit after it, a technical key before it, a counted
    // noun after it, or as an HTTP status or a version.
    let int = num.trim_start_matches('-');
    let http = int.len() == 3
        && matches!(int.as_bytes()[0], b'1'..=b'5')
        && !num.contains(['.', '/'])
        && (HTTP_CONTEXT.contains(&prev) || HTTP_REASONS.contains(&next_word));
    let unit_next = UNITS.contains(&next.raw) && !next.raw.is_empty();
    // `retry 1 of 5`: the total after a count that was kept.
    let of_total = prev == "of" && p.number.is_match(prev2) && int.len() <= 4;
    // A backtrace's frame index: `3: locus::sync::run`.
    let frame = int.len() <= 3 && !num.contains(['.', '/']) && is_code(next.raw);
    let version = VERSION_KEYS.contains(&prev) && num.len() <= 12;
    let code_ok = prev != "code" || int.len() <= 3 || num.starts_with('-');
    let keyed = (KEY_WORDS.contains(&prev) || is_technical_key(prev)) && code_ok && int.len() <= 10;
    let counted = COUNTED.contains(&next_word) && int.len() <= 9;
    (http || unit_next || version || keyed || counted || of_total || frame).then(|| core.to_owned())
}

/// `250ms` → (`250`, `ms`); `4.2` → (`4.2`, ``).
fn split_unit(core: &str) -> (&str, &str) {
    let at = core
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || c == '/' || (c == '-' && i == 0)))
        .map_or(core.len(), |(i, _)| i);
    (&core[..at], &core[at..])
}

/// An identifier of code: a `::` path under the app's or a runtime's root, a JVM frame
/// under a known package, a source location under `src/` made of known words.
fn is_code(core: &str) -> bool {
    let app_root = |first: &str| {
        let f = first.to_ascii_lowercase();
        f == "locus" || f.starts_with("locus_") || f.starts_with("locus-")
    };
    if core.contains("::") {
        let head = core.split("::").next().unwrap_or("");
        let head = head.trim_start_matches(['<', '&']);
        let ident = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(
                            c,
                            '_' | '<'
                                | '>'
                                | '{'
                                | '}'
                                | '('
                                | ')'
                                | ','
                                | '&'
                                | ' '
                                | '#'
                                | '\''
                                | '!'
                        )
                })
        };
        return (app_root(head) || CODE_ROOTS_RUST.contains(&head)) && core.split("::").all(ident);
    }
    // JVM frame: `com.locus.app.Sync.run(Sync.kt:42)` (with or without the location).
    let (name, loc) = match core.split_once('(') {
        Some((n, rest)) => (n, Some(rest.trim_end_matches(')'))),
        None => (core, None),
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '<' | '>'))
        })
    {
        let jvm_root = CODE_ROOTS_JVM.iter().chain(APP_ROOTS).any(|root| {
            *root != "locus" && name.strip_prefix(*root).is_some_and(|r| r.starts_with('.'))
        });
        let loc_ok = loc.is_none_or(|l| {
            l == "Native Method"
                || l == "Unknown Source"
                || l.split_once(':').is_some_and(|(f, n)| {
                    (f.ends_with(".kt") || f.ends_with(".java"))
                        && n.bytes().all(|b| b.is_ascii_digit())
                        && f.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                })
        });
        if jvm_root && loc_ok {
            return true;
        }
    }
    // Source location of the app: `src/sync/upload.rs:42:7`, words all known.
    let src = core
        .strip_prefix("./")
        .unwrap_or(core)
        .split_once("src/")
        .filter(|(before, _)| {
            before.is_empty()
                || before
                    .strip_prefix("crates/")
                    .is_some_and(|c| app_root(c.trim_end_matches('/')))
        })
        .map(|(_, rest)| rest);
    if let Some(rest) = src {
        let mut path = rest;
        for _ in 0..2 {
            if let Some((head, tail)) = path.rsplit_once(':') {
                if tail.bytes().all(|b| b.is_ascii_digit()) && !tail.is_empty() {
                    path = head;
                }
            }
        }
        let source = [".rs", ".kt", ".java"].iter().any(|e| path.ends_with(e));
        let words_known = path
            .trim_end_matches(".rs")
            .trim_end_matches(".kt")
            .trim_end_matches(".java")
            .split(['/', '_', '.', '-'])
            .filter(|w| !w.is_empty())
            .all(|w| {
                crate::template::is_known(w)
                    || w.eq_ignore_ascii_case("locus")
                    || w == "mod"
                    || w == "lib"
                    || w == "main"
            });
        return source && words_known;
    }
    false
}

/// A URL-less path made only of known words and API versions: `/v1/tracks`.
fn is_known_path(core: &str) -> bool {
    if !core.starts_with('/') || core.len() < 2 {
        return false;
    }
    const USER_ROOTS: &[&str] = &[
        "home", "users", "storage", "sdcard", "data", "mnt", "var", "tmp", "root",
    ];
    let parts: Vec<&str> = core[1..].split('/').filter(|p| !p.is_empty()).collect();
    !parts.is_empty()
        && !USER_ROOTS.contains(&parts[0].to_ascii_lowercase().as_str())
        && parts.iter().all(|p| {
            let api = p.len() <= 3
                && p.starts_with('v')
                && p[1..].bytes().all(|b| b.is_ascii_digit())
                && p.len() > 1;
            api || p.split(['-', '_']).all(crate::template::is_known)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        redact_text(s).0
    }

    #[test]
    fn technical_tokens_stay() {
        assert_eq!(
            r("PUT /v1/tracks returned 503 Slow Down after 1.2s, retrying in 30s (attempt 2/5)"),
            "PUT /v1/tracks returned 503 Slow Down after 1.2s, retrying in 30s (attempt 2/5)"
        );
        assert_eq!(
            r("uploaded 12 records (4.2 KiB) in 250ms"),
            "uploaded 12 records (4.2 KiB) in 250ms"
        );
        assert_eq!(
            r("app 3.1.4 on Android 14 (API 34)"),
            "app 3.1.4 on Android 14 (API 34)"
        );
        assert_eq!(
            r("request_id=3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f took_ms=87"),
            "request_id=3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f took_ms=87"
        );
        assert_eq!(
            r("   at com.locus.app.sync.Uploader.run(Uploader.kt:42)"),
            "   at com.locus.app.sync.Uploader.run(Uploader.kt:42)"
        );
        assert_eq!(
            r("  3: locus_telemetry::worker::run"),
            "  3: locus_telemetry::worker::run"
        );
        assert_eq!(
            r("$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39"),
            "$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39"
        );
    }

    #[test]
    fn what_is_not_known_goes() {
        assert_eq!(r("fix near 52 deg 31 min 12 sec N"), "fix near <location>");
        assert_eq!(r("pos +52.5200+013.4049/ ok"), "pos <location> ok");
        assert_eq!(r("grid TQ 30080 81102"), "<word> <word> <num> <num>");
        assert_eq!(r("post code 10115"), "post code <num>");
        assert_eq!(r("took 52.520008 s"), "took <num> s");
        assert_eq!(r("at 52.31.12 N"), "at <num> <word>");
        assert_eq!(
            r("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"),
            "<location>"
        );
        let (out, c) = r_counts("Kowalczyk and Ødegård");
        assert_eq!(out, "<word> and <word>");
        assert_eq!(c.get("<word>"), 2);
    }

    fn r_counts(s: &str) -> (String, RedactCounts) {
        redact_text(s)
    }

    #[test]
    fn categories_by_name_round_trip() {
        for (n, c) in CATEGORY_NAMES {
            assert_eq!(DataCategory::from_name(n), Some(*c));
            assert_eq!(c.as_str(), *n);
        }
        assert_eq!(DataCategory::from_name("secret"), None);
    }
}
