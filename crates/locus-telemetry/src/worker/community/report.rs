//! Building the health report from the aggregates: a typed allow-list, field by field.
//! Free text is scrubbed when it is aggregated; identifiers are either random (report
//! id) or keyed hashes (pseudonym, signatures). Nothing else can get in.

use super::state::CommunityState;
use chrono::{DateTime, Utc};
use locus_report::{CrashSignature, HealthReport, MetricSummary, SCHEMA_VERSION};

/// The report for the current period of `state`.
pub fn build(
    state: &CommunityState,
    pseudonym: &str,
    app_version: &str,
    now: DateTime<Utc>,
) -> HealthReport {
    let mut crashes: Vec<CrashSignature> = state
        .crashes
        .iter()
        .map(|(sig, c)| CrashSignature {
            signature: sig.clone(),
            kind: c.kind.clone(),
            message: c.message.clone(),
            location: c.location.clone(),
            count: c.count,
        })
        .collect();
    crashes.sort_by(|a, b| b.count.cmp(&a.count).then(a.signature.cmp(&b.signature)));
    HealthReport {
        schema: SCHEMA_VERSION,
        report_id: crate::ids::random_hex(16),
        pseudonym: pseudonym.to_owned(),
        app_version: safe_short(app_version),
        platform: std::env::consts::OS.to_owned(),
        os_family: std::env::consts::FAMILY.to_owned(),
        period_start: state.period_start.unwrap_or(now).min(now),
        period_end: now,
        sessions: state.sessions,
        crashes,
        metrics: state
            .metrics
            .iter()
            .map(|(name, m)| MetricSummary {
                name: safe_short(name),
                kind: m.kind.clone(),
                count: m.count,
                sum: m.sum,
                min: m.min,
                max: m.max,
            })
            .collect(),
    }
}

/// Short identifiers go out only in the report's strict alphabet.
fn safe_short(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-+".contains(*c))
        .take(locus_report::limits::MAX_SHORT)
        .collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, CrashKind, MetricKind, MetricSample, Record, Tombstone};

    #[test]
    fn a_built_report_validates_and_carries_only_the_allow_list() {
        let mut state = CommunityState::default();
        state.sessions.crashed = 1;
        let records = vec![
            Record::new(
                1,
                0,
                Body::Crash(Tombstone {
                    crash: CrashKind::Panic,
                    message: "bad fix 52.520008, 13.404954 for alice@example.com".into(),
                    location: "/home/alice/src/locus/src/track.rs:42:9".into(),
                    thread: "gps".into(),
                    backtrace: "secret backtrace".into(),
                    app_version: "1.2.0".into(),
                    os: "linux".into(),
                    uptime_ms: 5,
                    signal: None,
                }),
            ),
            Record::new(
                2,
                0,
                Body::Metric(MetricSample {
                    name: "battery_pct".into(),
                    metric: MetricKind::Gauge,
                    value: 80.0,
                }),
            ),
            Record::new(
                3,
                0,
                Body::Metric(MetricSample {
                    name: "home_lat".into(),
                    metric: MetricKind::Gauge,
                    value: 52.5,
                }),
            ),
        ];
        state.absorb(&records, &["battery_pct".to_owned()], &["my-bucket"]);
        let r = build(&state, &"ab".repeat(32), "1.2.0", Utc::now());
        r.validate().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        for banned in [
            "52.520008",
            "13.404954",
            "alice",
            "secret backtrace",
            "home_lat",
        ] {
            assert!(!json.contains(banned), "{banned} leaked: {json}");
        }
        assert_eq!(r.crashes.len(), 1);
        assert_eq!(r.crashes[0].location, "src/track.rs:42");
        assert_eq!(r.metrics.len(), 1);
    }
}
