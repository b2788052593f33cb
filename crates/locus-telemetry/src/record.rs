//! The event model: what the flight recorder holds and what ships to the user's bucket.
//!
//! A [`Record`] is one of five kinds — a log line, a crash tombstone, a metric sample, a
//! histogram summary or a session marker — plus the two things every record has: a
//! global, gap-free sequence number and a UTC timestamp. Each record serialises to one
//! JSON object per line, the body of the `.log.gz` files in the bucket:
//!
//! ```
//! use locus_telemetry::record::{Level, LogRecord, Record, Body};
//! let rec = Record::new(7, 1_790_000_000_000_000_000, Body::Log(LogRecord {
//!     level: Level::Warn,
//!     target: "locus::sync".into(),
//!     message: "upload slow".into(),
//!     fields: vec![("ms".into(), 812i64.into())],
//! }));
//! let line = rec.to_json_line();
//! assert!(line.starts_with(r#"{"seq":7,"ts":"2026-"#));
//! assert_eq!(Record::from_json_line(&line).unwrap(), rec);
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Severity of a record. Crashes are `Fatal`; metrics and sessions are `Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Very verbose diagnostics.
    Trace = 0,
    /// Diagnostics.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected that was handled.
    Warn = 3,
    /// Something failed.
    Error = 4,
    /// The process died.
    Fatal = 5,
}

impl Level {
    /// From the byte stored in the ring; unknown bytes read as `Info`.
    pub fn from_u8(b: u8) -> Level {
        match b {
            0 => Level::Trace,
            1 => Level::Debug,
            3 => Level::Warn,
            4 => Level::Error,
            5 => Level::Fatal,
            _ => Level::Info,
        }
    }

    /// Lower-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

impl From<&tracing::Level> for Level {
    fn from(l: &tracing::Level) -> Self {
        match *l {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            _ => Level::Error,
        }
    }
}

/// A field value attached to a log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer too large for `i64`.
    U64(u64),
    /// A float; NaN and infinities serialise as `null` in JSON.
    F64(f64),
    /// Text.
    Str(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Value::U64(v), Value::I64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Str(v) => write!(f, "{v}"),
        }
    }
}

/// A log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Severity.
    pub level: Level,
    /// Where it came from (module path or `tracing` target).
    pub target: String,
    /// The message.
    pub message: String,
    /// Key/value fields, in the order they were given.
    #[serde(
        default,
        with = "fields_as_object",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub fields: Vec<(String, Value)>,
}

/// How a crashed process died.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrashKind {
    /// A Rust panic.
    Panic,
    /// A fatal signal (SIGSEGV, SIGABRT, ...).
    Signal,
    /// An uncaught exception of a foreign runtime (a JVM or ART thread's uncaught
    /// `Throwable`), reported by its binding (see `Telemetry::record_uncaught_exception`).
    Exception,
}

/// A crash tombstone: everything known about a crash at the moment it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Panic or signal.
    pub crash: CrashKind,
    /// The panic message, or the signal's name.
    pub message: String,
    /// `file:line:col` of the panic, when known.
    pub location: String,
    /// Name of the thread that crashed.
    pub thread: String,
    /// The backtrace, when one could be taken safely.
    pub backtrace: String,
    /// The app's version.
    pub app_version: String,
    /// OS and architecture.
    pub os: String,
    /// Milliseconds since telemetry started.
    pub uptime_ms: u64,
    /// The signal number, for signal crashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

/// Which kind of metric a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// A count of things that happened (the sample is the increment).
    Counter,
    /// A value at a point in time.
    Gauge,
    /// One observation of a distribution.
    Histogram,
}

impl MetricKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    /// Metric name, e.g. `battery_pct`.
    pub name: String,
    /// Counter, gauge or histogram.
    pub metric: MetricKind,
    /// The sample. Non-finite samples are refused at the API and never stored.
    pub value: f64,
}

/// A histogram's observations over one flush window, aggregated in memory (see
/// the metric table): one record instead of one per observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramSummary {
    /// Metric name, e.g. `fix_latency_ms`.
    pub name: String,
    /// Observations in the window (at least one).
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEvent {
    /// Telemetry started.
    Start,
    /// Telemetry shut down cleanly.
    CleanExit,
}

/// A session marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Start or clean exit.
    pub event: SessionEvent,
    /// Random id of the session.
    pub session_id: String,
    /// The app's version.
    pub app_version: String,
}

/// Which moment of a hang a [`HangRecord`] marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HangPhase {
    /// The watchdog noticed the loop's gap passing its `max_gap`.
    Start,
    /// The stalled thread's stack, taken by a binding (Kotlin: `Thread.getStackTrace`)
    /// while the hang was in progress.
    Stack,
    /// The loop beat again: the hang is over.
    End,
}

impl HangPhase {
    /// Lower-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HangPhase::Start => "start",
            HangPhase::Stack => "stack",
            HangPhase::End => "end",
        }
    }
}

/// A hang of a watched loop (see `Telemetry::watch`): a gap between its beats longer
/// than its `max_gap`, seen by telemetry's own thread. One hang is a `start` record, at
/// most one `stack` record and an `end` record (none if the process died stalled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HangRecord {
    /// Start, stack or end.
    pub phase: HangPhase,
    /// The watched loop's name, e.g. `tracking`.
    #[serde(rename = "loop")]
    pub loop_name: String,
    /// The loop's `max_gap`, in milliseconds.
    pub expected_gap_ms: u64,
    /// The gap between beats, in milliseconds: so far (start, stack), or the whole
    /// gap from the last beat before the hang to the first after it (end).
    pub measured_ms: u64,
    /// The sequence number of the hang's `start` record (stack and end records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_seq: Option<u64>,
    /// The stalled thread's stack as text (stack records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Body {
    /// A log line.
    Log(LogRecord),
    /// A crash tombstone.
    Crash(Tombstone),
    /// A metric sample (a gauge, a counter's increments over a window, or one
    /// observation of a histogram that could not be aggregated).
    Metric(MetricSample),
    /// A histogram's observations over a window.
    Histogram(HistogramSummary),
    /// A session marker.
    Session(SessionRecord),
    /// A hang of a watched loop.
    Hang(HangRecord),
}

impl Body {
    /// The record's severity.
    pub fn level(&self) -> Level {
        match self {
            Body::Log(l) => l.level,
            Body::Crash(_) => Level::Fatal,
            Body::Hang(_) => Level::Warn,
            Body::Metric(_) | Body::Histogram(_) | Body::Session(_) => Level::Info,
        }
    }

    /// `log`, `crash`, `metric`, `histogram`, `session` or `hang`.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Log(_) => "log",
            Body::Crash(_) => "crash",
            Body::Metric(_) => "metric",
            Body::Histogram(_) => "histogram",
            Body::Session(_) => "session",
            Body::Hang(_) => "hang",
        }
    }
}

/// One record: sequence number, time and body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Global, gap-free sequence number: a gap in what is read back means lost records.
    pub seq: u64,
    /// When it was recorded (UTC).
    #[serde(with = "ts_rfc3339")]
    pub ts: DateTime<Utc>,
    /// What it says.
    #[serde(flatten)]
    pub body: Body,
}

impl Record {
    /// A record from a sequence number, a time in nanoseconds since the Unix epoch and a
    /// body.
    pub fn new(seq: u64, ts_unix_nanos: i64, body: Body) -> Record {
        Record {
            seq,
            ts: DateTime::from_timestamp_nanos(ts_unix_nanos),
            body,
        }
    }

    /// One line of JSON (no trailing newline), with `seq`, `ts`, `kind` and `level` first.
    pub fn to_json_line(&self) -> String {
        // Infallible: every value in the model serialises (non-finite floats become null).
        serde_json::to_string(&JsonLine::from(self))
            .unwrap_or_else(|e| format!(r#"{{"seq":{},"kind":"invalid","error":"{e}"}}"#, self.seq))
    }

    /// Parses a line written by [`Record::to_json_line`].
    pub fn from_json_line(line: &str) -> Result<Record, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// A one-line human rendering for the Debug screen.
    pub fn to_text_line(&self) -> String {
        let ts = self.ts.to_rfc3339_opts(SecondsFormat::Millis, true);
        let head = format!("{:>8} {ts} {:<5}", self.seq, self.body.level().as_str());
        match &self.body {
            Body::Log(l) => {
                let mut s = format!("{head} {}: {}", l.target, l.message);
                for (k, v) in &l.fields {
                    s.push_str(&format!(" {k}={v}"));
                }
                s
            }
            Body::Crash(c) => format!(
                "{head} CRASH ({:?}) in thread '{}' at {}: {}",
                c.crash, c.thread, c.location, c.message
            ),
            Body::Metric(m) => format!(
                "{head} metric {} {} = {}",
                m.metric.as_str(),
                m.name,
                m.value
            ),
            Body::Histogram(h) => format!(
                "{head} metric histogram {} n={} mean={:.3} min={} max={}",
                h.name,
                h.count,
                h.sum / h.count.max(1) as f64,
                h.min,
                h.max
            ),
            Body::Session(s) => {
                let event = match s.event {
                    SessionEvent::Start => "start",
                    SessionEvent::CleanExit => "clean exit",
                };
                format!(
                    "{head} session {event} {} (app {})",
                    s.session_id, s.app_version
                )
            }
            Body::Hang(h) => {
                let mut s = match h.phase {
                    HangPhase::Start => format!(
                        "{head} HANG start: loop '{}' has not beaten for {} ms (max gap {} ms)",
                        h.loop_name, h.measured_ms, h.expected_gap_ms
                    ),
                    HangPhase::Stack => format!(
                        "{head} HANG stack of loop '{}' after {} ms:",
                        h.loop_name, h.measured_ms
                    ),
                    HangPhase::End => format!(
                        "{head} HANG end: loop '{}' stalled {} ms (max gap {} ms)",
                        h.loop_name, h.measured_ms, h.expected_gap_ms
                    ),
                };
                if let Some(stack) = &h.stack {
                    // One line: the frames, separated.
                    s.push(' ');
                    s.push_str(&stack.trim_end().replace('\n', " | "));
                }
                s
            }
        }
    }
}

/// The serialised shape: `level` is written on every record, whatever its kind, so that
/// `jq 'select(.level=="error")'` works across kinds.
#[derive(Serialize)]
struct JsonLine<'a> {
    seq: u64,
    #[serde(with = "ts_rfc3339")]
    ts: DateTime<Utc>,
    #[serde(flatten)]
    body: &'a Body,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<Level>,
}

impl<'a> From<&'a Record> for JsonLine<'a> {
    fn from(r: &'a Record) -> Self {
        // Log bodies carry their own level; the others get theirs added here.
        let level = match r.body {
            Body::Log(_) => None,
            _ => Some(r.body.level()),
        };
        JsonLine {
            seq: r.seq,
            ts: r.ts,
            body: &r.body,
            level,
        }
    }
}

mod ts_rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod fields_as_object {
    use super::Value;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(fields: &[(String, Value)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Value)>, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::Bool(b) => Value::Bool(b),
                    serde_json::Value::Number(n) => n
                        .as_i64()
                        .map(Value::I64)
                        .or_else(|| n.as_u64().map(Value::U64))
                        .unwrap_or_else(|| Value::F64(n.as_f64().unwrap_or(f64::NAN))),
                    serde_json::Value::String(s) => Value::Str(s),
                    serde_json::Value::Null => Value::F64(f64::NAN),
                    other => Value::Str(other.to_string()),
                };
                (k, v)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash() -> Record {
        Record::new(
            3,
            1_790_000_000_123_456_789,
            Body::Crash(Tombstone {
                crash: CrashKind::Panic,
                message: "index out of bounds".into(),
                location: "src/track.rs:42:9".into(),
                thread: "gps".into(),
                backtrace: "0: main".into(),
                app_version: "1.2.0".into(),
                os: "linux-x86_64".into(),
                uptime_ms: 1234,
                signal: None,
            }),
        )
    }

    #[test]
    fn every_kind_round_trips_and_carries_seq_ts_kind_level() {
        let records = vec![
            crash(),
            Record::new(
                4,
                0,
                Body::Metric(MetricSample {
                    name: "battery_pct".into(),
                    metric: MetricKind::Gauge,
                    value: 87.5,
                }),
            ),
            Record::new(
                5,
                1,
                Body::Session(SessionRecord {
                    event: SessionEvent::CleanExit,
                    session_id: "ab12".into(),
                    app_version: "1.2.0".into(),
                }),
            ),
        ];
        for r in records {
            let line = r.to_json_line();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            for key in ["seq", "ts", "kind", "level"] {
                assert!(v.get(key).is_some(), "{key} missing in {line}");
            }
            assert_eq!(Record::from_json_line(&line).unwrap(), r);
        }
    }

    #[test]
    fn a_hang_round_trips_and_reads_as_a_warning() {
        let r = Record::new(
            9,
            2,
            Body::Hang(HangRecord {
                phase: HangPhase::Stack,
                loop_name: "tracking".into(),
                expected_gap_ms: 500,
                measured_ms: 1234,
                start_seq: Some(8),
                stack: Some("at Track.poll(Track.kt:3)\nat Track.run(Track.kt:9)".into()),
            }),
        );
        let line = r.to_json_line();
        assert!(
            line.contains(r#""kind":"hang","phase":"stack","loop":"tracking""#),
            "{line}"
        );
        assert!(line.contains(r#""level":"warn""#), "{line}");
        assert_eq!(Record::from_json_line(&line).unwrap(), r);
        let text = r.to_text_line();
        assert!(
            text.contains("HANG stack of loop 'tracking' after 1234 ms"),
            "{text}"
        );
        assert!(
            text.contains("Track.poll(Track.kt:3) | at Track.run"),
            "{text}"
        );
    }

    #[test]
    fn nanosecond_timestamps_survive() {
        let r = crash();
        let back = Record::from_json_line(&r.to_json_line()).unwrap();
        assert_eq!(
            back.ts.timestamp_nanos_opt(),
            Some(1_790_000_000_123_456_789)
        );
    }
}
