//! The community health report: the one document that leaves a device for the opt-in
//! community service, and the deletion request that makes the service forget a pseudonym.
//!
//! Both ends use these types: the device builds a [`HealthReport`] from an allow-list of
//! fields (never a dump of records), and `locus-community` parses it with unknown fields
//! rejected. [`HealthReport::validate`] holds the structural rules both sides agree on.
//!
//! ```
//! use locus_report::{HealthReport, SessionCounts, SCHEMA_VERSION};
//! let report = HealthReport::example();
//! assert_eq!(report.schema, SCHEMA_VERSION);
//! let json = serde_json::to_string(&report).unwrap();
//! let back: HealthReport = serde_json::from_str(&json).unwrap();
//! assert_eq!(back, report);
//! assert!(back.validate().is_ok());
//! # let _ = SessionCounts::default();
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The schema version this crate writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// Upper bounds that keep a report small and a server's work bounded.
pub mod limits {
    /// Most crash signatures in one report.
    pub const MAX_CRASHES: usize = 32;
    /// Most metric summaries in one report.
    pub const MAX_METRICS: usize = 64;
    /// Longest free-text field (message template or location), in bytes.
    pub const MAX_TEXT: usize = 512;
    /// Longest short field (version, platform, names), in bytes.
    pub const MAX_SHORT: usize = 64;
}

/// A health report, as sent by a device that opted in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthReport {
    /// Always [`SCHEMA_VERSION`] for reports this crate writes.
    pub schema: u32,
    /// Random id of this report (32 hex chars): a retried delivery repeats it, so the
    /// server keeps one copy.
    pub report_id: String,
    /// HMAC-SHA256 of the device id keyed with a per-install secret salt (64 hex chars).
    pub pseudonym: String,
    /// The app's version, e.g. `1.2.0`.
    pub app_version: String,
    /// Coarse platform, e.g. `linux`, `android`, `macos`.
    pub platform: String,
    /// Coarse OS family, e.g. `unix`, `windows`.
    pub os_family: String,
    /// Start of the period this report covers.
    pub period_start: DateTime<Utc>,
    /// End of the period this report covers.
    pub period_end: DateTime<Utc>,
    /// How the sessions in the period ended.
    pub sessions: SessionCounts,
    /// Crash signatures seen in the period.
    pub crashes: Vec<CrashSignature>,
    /// Summaries of metrics the app registered as community-safe.
    pub metrics: Vec<MetricSummary>,
    /// Hangs of watched loops (a gap between beats longer than the loop's `max_gap`, app
    /// in the foreground) that started in the period: "hangs per session" per version.
    /// Absent in reports from older devices: 0.
    #[serde(default)]
    pub hangs: u32,
}

/// How many sessions ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCounts {
    /// Sessions that shut down cleanly.
    pub exited: u32,
    /// Sessions that left a crash tombstone.
    pub crashed: u32,
    /// Sessions that ended without a clean exit or a tombstone (killed, aborted).
    pub abnormal: u32,
}

impl SessionCounts {
    /// All sessions counted.
    pub fn total(&self) -> u64 {
        u64::from(self.exited) + u64::from(self.crashed) + u64::from(self.abnormal)
    }
}

/// One crash signature: stable across devices for the same bug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashSignature {
    /// Stable hash of kind and location (16 hex chars).
    pub signature: String,
    /// `panic` or `signal`.
    pub kind: String,
    /// The message's *template*, never the message: on the device the panic message or
    /// signal name is scrubbed, then every word outside a vocabulary known to be safe is
    /// replaced by a typed placeholder (`<num>`, `<hex>`, `<word>`, `<path>`, `<file>`,
    /// `<url>`, `<sym>`, or the filter's own such as `<location>`), e.g.
    /// `cannot open <file>`. A collector shows it only once enough distinct devices
    /// reported the identical template. (The field keeps its name `message` so the wire
    /// format and schema version stay as they were.)
    pub message: String,
    /// The scrubbed source location (`src/x.rs:10`), never a user path.
    pub location: String,
    /// How often it happened in the period.
    pub count: u32,
}

/// Summary of one community-safe metric over the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSummary {
    /// The registered metric name.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// Samples seen.
    pub count: u64,
    /// Sum of samples.
    pub sum: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

/// Asks the server to forget every report of a pseudonym (sent once on opt-out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletionRequest {
    /// Always [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The pseudonym to forget.
    pub pseudonym: String,
}

/// Why a report is structurally unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The schema version is not one this build understands.
    #[error("unsupported schema version {0} (this build accepts {SCHEMA_VERSION})")]
    Schema(u32),
    /// A field is malformed.
    #[error("field `{field}` is invalid: {why}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn short(field: &'static str, s: &str) -> Result<(), ReportError> {
    let ok = !s.is_empty()
        && s.len() <= limits::MAX_SHORT
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ReportError::Field {
            field,
            why: "must be 1-64 chars of [A-Za-z0-9._+-]",
        })
    }
}

fn text(field: &'static str, s: &str) -> Result<(), ReportError> {
    if s.len() > limits::MAX_TEXT {
        return Err(ReportError::Field {
            field,
            why: "longer than 512 bytes",
        });
    }
    Ok(())
}

impl HealthReport {
    /// Checks the structural rules: schema, id formats, lengths, period order, counts.
    /// It does not look for PII; that is the privacy filter's job on the device and the
    /// server's defence-in-depth check.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.schema != SCHEMA_VERSION {
            return Err(ReportError::Schema(self.schema));
        }
        let field = |field, why| Err(ReportError::Field { field, why });
        if !is_hex(&self.report_id, 32) {
            return field("report_id", "must be 32 lowercase hex chars");
        }
        if !is_hex(&self.pseudonym, 64) {
            return field("pseudonym", "must be 64 lowercase hex chars");
        }
        short("app_version", &self.app_version)?;
        short("platform", &self.platform)?;
        short("os_family", &self.os_family)?;
        if self.period_end < self.period_start {
            return field("period_end", "is before period_start");
        }
        if self.crashes.len() > limits::MAX_CRASHES {
            return field("crashes", "more than 32 signatures");
        }
        if self.metrics.len() > limits::MAX_METRICS {
            return field("metrics", "more than 64 summaries");
        }
        for c in &self.crashes {
            if !is_hex(&c.signature, 16) {
                return field("crashes.signature", "must be 16 lowercase hex chars");
            }
            if c.kind != "panic" && c.kind != "signal" {
                return field("crashes.kind", "must be `panic` or `signal`");
            }
            text("crashes.message", &c.message)?;
            text("crashes.location", &c.location)?;
        }
        for m in &self.metrics {
            short("metrics.name", &m.name)?;
            if !matches!(m.kind.as_str(), "counter" | "gauge" | "histogram") {
                return field("metrics.kind", "must be counter, gauge or histogram");
            }
            if !(m.sum.is_finite() && m.min.is_finite() && m.max.is_finite()) {
                return field("metrics", "sum, min and max must be finite");
            }
        }
        Ok(())
    }

    /// A small valid report, for examples and tests.
    pub fn example() -> Self {
        let start = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        HealthReport {
            schema: SCHEMA_VERSION,
            report_id: "0123456789abcdef0123456789abcdef".into(),
            pseudonym: "ab".repeat(32),
            app_version: "1.2.0".into(),
            platform: "linux".into(),
            os_family: "unix".into(),
            period_start: start,
            period_end: start + chrono::Duration::days(1),
            sessions: SessionCounts {
                exited: 3,
                crashed: 1,
                abnormal: 0,
            },
            crashes: vec![CrashSignature {
                signature: "00112233445566aa".into(),
                kind: "panic".into(),
                message: "index out of bounds".into(),
                location: "src/track.rs:42".into(),
                count: 1,
            }],
            metrics: vec![MetricSummary {
                name: "fix_latency_ms".into(),
                kind: "histogram".into(),
                count: 10,
                sum: 120.0,
                min: 4.0,
                max: 30.0,
            }],
            hangs: 0,
        }
    }
}

impl DeletionRequest {
    /// Checks schema and pseudonym format.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.schema != SCHEMA_VERSION {
            return Err(ReportError::Schema(self.schema));
        }
        if !is_hex(&self.pseudonym, 64) {
            return Err(ReportError::Field {
                field: "pseudonym",
                why: "must be 64 lowercase hex chars",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_rejected() {
        let mut v = serde_json::to_value(HealthReport::example()).unwrap();
        v["latitude"] = serde_json::json!(52.5);
        assert!(serde_json::from_value::<HealthReport>(v).is_err());
    }

    #[test]
    fn validate_catches_bad_ids_and_versions() {
        let mut r = HealthReport::example();
        r.schema = 2;
        assert_eq!(r.validate(), Err(ReportError::Schema(2)));
        let mut r = HealthReport::example();
        r.pseudonym = "device-1234".into();
        assert!(r.validate().is_err());
        let mut r = HealthReport::example();
        r.app_version = "1.2.0 (lat 52.1)".into();
        assert!(r.validate().is_err());
        let mut r = HealthReport::example();
        r.metrics[0].sum = f64::NAN;
        assert!(r.validate().is_err());
    }
}
