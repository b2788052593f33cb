//! What the community worker keeps between rounds and restarts, in
//! `<data_dir>/community.json`: the user's opt-in choice, the aggregates since the last
//! report (session outcomes, crash signatures, allow-listed metric summaries) and a
//! deletion request still to deliver. While opted out it keeps nothing but the choice
//! and a pending deletion.

use crate::data_dir::{DataDir, StateError, StateFile};
use crate::record::{Body, CrashKind, HangPhase, MetricKind, Record};
use chrono::{DateTime, Utc};
use locus_report::limits;
use sha2::{Digest, Sha256};
use std::path::Path;
pub use crate::state::{CrashAgg, MetricAgg, CommunityState};




/// Path of the state file.
#[cfg(any(test, feature = "internals"))]
pub fn state_path(data_dir: &Path) -> std::path::PathBuf {
    DataDir::new(data_dir).path(StateFile::Community)
}

impl CommunityState {
    /// Loads the state; missing or unreadable reads as empty, damaged too (and says so).
    pub fn load(data_dir: &Path) -> (CommunityState, Option<String>) {
        match DataDir::new(data_dir).community() {
            Ok(state) => (state.unwrap_or_default(), None),
            Err(e @ StateError::Damaged { .. }) => (
                CommunityState::default(),
                Some(format!("{e}; community state starts empty")),
            ),
            Err(StateError::Unreadable { .. }) => (CommunityState::default(), None),
        }
    }

    /// Saves atomically; a read-only dir keeps it in memory.
    pub fn save(&self, data_dir: &Path) {
        let _ = DataDir::new(data_dir).write_json(StateFile::Community, self);
    }

    /// Drops every aggregate (opt-out, or after a report left or was discarded).
    pub fn clear_aggregates(&mut self, now: DateTime<Utc>) {
        self.sessions = locus_report::SessionCounts::default();
        self.crashes.clear();
        self.metrics.clear();
        self.hangs = 0;
        self.send_now = false;
        self.period_start = Some(now);
    }

    /// Whether there is anything to report.
    pub fn has_data(&self) -> bool {
        self.sessions.total() > 0
            || !self.crashes.is_empty()
            || !self.metrics.is_empty()
            || self.hangs > 0
    }

    /// Folds `more` into the metric's aggregate (a new one while under the limit). A name
    /// used as two kinds keeps the kind seen first; the other is not mixed into it.
    fn merge_metric(&mut self, name: &str, more: MetricAgg) {
        if let Some(agg) = self.metrics.get_mut(name) {
            if agg.kind != more.kind {
                return;
            }
            agg.count = agg.count.saturating_add(more.count);
            agg.sum += more.sum;
            agg.min = agg.min.min(more.min);
            agg.max = agg.max.max(more.max);
        } else if self.metrics.len() < limits::MAX_METRICS {
            self.metrics.insert(name.to_owned(), more);
        }
    }

    /// Adds what `records` say (crashes, allow-listed metrics) to the aggregates; free
    /// text is scrubbed, `private` values (device id, bucket name) removed as well, and a
    /// crash's message kept only as its template.
    pub fn absorb(&mut self, records: &[Record], allowed_metrics: &[String], private: &[&str]) {
        for r in records {
            if r.seq <= self.cursor {
                continue;
            }
            self.cursor = r.seq;
            match &r.body {
                Body::Crash(c) => {
                    let kind = match c.crash {
                        // The report's kinds are `panic` and `signal` (locus-report); an
                        // uncaught JVM exception is the app code's panic.
                        CrashKind::Panic | CrashKind::Exception => "panic",
                        CrashKind::Signal => "signal",
                    };
                    let location = short_location(&c.location, private);
                    let message =
                        crate::privacy::message_template(&c.message, &location, private, 200);
                    let sig = signature(kind, &location, &message);
                    if let Some(agg) = self.crashes.get_mut(&sig) {
                        agg.count = agg.count.saturating_add(1);
                    } else if self.crashes.len() < limits::MAX_CRASHES {
                        self.crashes.insert(
                            sig,
                            CrashAgg {
                                kind: kind.into(),
                                message,
                                location,
                                count: 1,
                            },
                        );
                    }
                }
                Body::Metric(m)
                    if allowed_metrics.iter().any(|a| a == &m.name) && m.value.is_finite() =>
                {
                    let one = MetricAgg {
                        kind: m.metric.as_str().into(),
                        count: 1,
                        sum: m.value,
                        min: m.value,
                        max: m.value,
                    };
                    self.merge_metric(&m.name, one);
                }
                Body::Histogram(h)
                    if allowed_metrics.iter().any(|a| a == &h.name)
                        && h.count > 0
                        && [h.sum, h.min, h.max].iter().all(|v| v.is_finite()) =>
                {
                    let window = MetricAgg {
                        kind: MetricKind::Histogram.as_str().into(),
                        count: h.count,
                        sum: h.sum,
                        min: h.min,
                        max: h.max,
                    };
                    self.merge_metric(&h.name, window);
                }
                // A hang counts once, at its start (only foreground gaps start one).
                Body::Hang(h) if h.phase == HangPhase::Start => {
                    self.hangs = self.hangs.saturating_add(1);
                }
                _ => {}
            }
        }
    }
}

/// `src/track.rs:42` from `/home/alice/locus/src/track.rs:42:9`: the path from its last
/// `src/` (or its last two components), the line, no column, scrubbed.
pub fn short_location(location: &str, private: &[&str]) -> String {
    let mut parts = location.rsplitn(3, ':');
    let (file, line) = match (parts.next(), parts.next(), parts.next()) {
        (Some(_col), Some(line), Some(file)) if line.bytes().all(|b| b.is_ascii_digit()) => {
            (file, Some(line))
        }
        _ => match location.rsplit_once(':') {
            Some((file, line)) if line.bytes().all(|b| b.is_ascii_digit()) => (file, Some(line)),
            _ => (location, None),
        },
    };
    let file = file.replace('\\', "/");
    let short = match file.rfind("src/") {
        Some(i) => file[i..].to_owned(),
        None => {
            let comps: Vec<&str> = file.rsplit('/').take(2).collect();
            comps.into_iter().rev().collect::<Vec<_>>().join("/")
        }
    };
    let joined = match line {
        Some(l) => format!("{short}:{l}"),
        None => short,
    };
    crate::privacy::scrub_short(&joined, private, 200)
}

/// Stable across devices for the same bug: kind and location (message for signals,
/// which have no location).
pub fn signature(kind: &str, location: &str, message: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(b"|");
    h.update(if location.is_empty() {
        message.as_bytes()
    } else {
        location.as_bytes()
    });
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_lose_user_paths_and_columns() {
        assert_eq!(
            short_location("/home/alice/code/locus/src/track.rs:42:9", &[]),
            "src/track.rs:42"
        );
        assert_eq!(
            short_location("C:\\Users\\bob\\locus\\src\\gps\\fix.rs:7:1", &[]),
            "src/gps/fix.rs:7"
        );
        assert_eq!(short_location("/Users/carol/x/lib.rs:3", &[]), "x/lib.rs:3");
        assert_eq!(short_location("", &[]), "");
    }

    #[test]
    fn signatures_are_stable_and_distinct() {
        let a = signature("panic", "src/a.rs:1", "x");
        assert_eq!(a, signature("panic", "src/a.rs:1", "other message"));
        assert_ne!(a, signature("panic", "src/a.rs:2", "x"));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn histogram_windows_and_samples_merge_into_one_aggregate() {
        use crate::record::{HistogramSummary, MetricSample};
        let mut state = CommunityState::default();
        let window = |seq, count, sum, min, max| {
            Record::new(
                seq,
                0,
                Body::Histogram(HistogramSummary {
                    name: "fix_latency_ms".into(),
                    count,
                    sum,
                    min,
                    max,
                }),
            )
        };
        let records = vec![
            window(1, 100, 1200.0, 4.0, 20.0),
            window(2, 50, 500.0, 2.0, 18.0),
            Record::new(
                3,
                0,
                Body::Metric(MetricSample {
                    name: "fix_latency_ms".into(),
                    metric: MetricKind::Histogram,
                    value: 30.0,
                }),
            ),
            window(4, 1, f64::NAN, f64::NAN, f64::NAN),
            window(5, 9, 9.0, 1.0, 1.0),
        ];
        state.absorb(&records, &["fix_latency_ms".to_owned()], &[]);
        let agg = &state.metrics["fix_latency_ms"];
        assert_eq!(
            (agg.count, agg.sum, agg.min, agg.max),
            (160, 1739.0, 1.0, 30.0)
        );
        assert_eq!(agg.kind, "histogram");
        // The same name as a counter is not mixed into the histogram.
        let counter = Record::new(
            6,
            0,
            Body::Metric(MetricSample {
                name: "fix_latency_ms".into(),
                metric: MetricKind::Counter,
                value: 1000.0,
            }),
        );
        state.absorb(&[counter], &["fix_latency_ms".to_owned()], &[]);
        assert_eq!(state.metrics["fix_latency_ms"].sum, 1739.0);
        // Not on the allow list: ignored.
        let mut other = CommunityState::default();
        other.absorb(&records, &["battery_pct".to_owned()], &[]);
        assert!(other.metrics.is_empty());
    }
}
