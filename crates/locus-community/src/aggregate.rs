//! "Is 1.2.0 crashing more?": turns stored rows into per-version health over a window,
//! applying k-anonymity and ordering versions by semver.
//!
//! Definitions (also shown on the dashboard):
//! - hangs per session = hangs of watched loops / sessions (from the report's `hangs`);
//! - crash-free session rate = (sessions − crashed sessions) / sessions; abnormal
//!   sessions (killed, no tombstone) are counted apart and do not lower it;
//! - crash-free device rate = devices with no crashed session in the window / devices;
//! - "k devices" means k distinct pseudonyms *from k distinct client networks* (keyed
//!   hashes of /24 or /48 prefixes, see `network`): pseudonyms cost nothing, networks do;
//! - a version seen on fewer than k devices in the window is withheld: it is
//!   neither listed nor compared against, and only the number of such versions is given;
//!   a day of the chart with fewer than k devices of a version is left out the same way;
//! - a crash's message template is shown only when at least k devices
//!   reported that identical template for the version; otherwise the signature is listed
//!   with its kind, location and counts, and no text (the store never reads a withheld
//!   template out of the database).

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{DayRow, SignatureRow, TemplateRow, VersionRow};

/// Most crash signatures listed per version.
pub const TOP_SIGNATURES: usize = 10;

/// Health of all shown versions over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionsReport {
    /// The window, in days back from `generated_at`.
    pub window_days: u32,
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// When this answer was computed.
    pub generated_at: DateTime<Utc>,
    /// The k-anonymity threshold in force.
    pub k: u32,
    /// Versions seen on at least k devices, newest first.
    pub versions: Vec<VersionHealth>,
    /// How many versions were withheld (seen on fewer than k devices). Their names and
    /// numbers are not given.
    pub withheld_versions: usize,
}

/// One version's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionHealth {
    /// The app version.
    pub version: String,
    /// Distinct devices (pseudonyms) that reported it.
    pub devices: i64,
    /// Sessions.
    pub sessions: i64,
    /// Sessions that crashed.
    pub crashed: i64,
    /// Sessions that ended abnormally (no clean exit, no tombstone).
    pub abnormal: i64,
    /// Hangs of watched loops (a beat gap longer than the loop's limit, app in the
    /// foreground) reported for the version.
    pub hangs: i64,
    /// hangs / sessions; null without sessions.
    pub hangs_per_session: Option<f64>,
    /// (sessions − crashed) / sessions; null without sessions.
    pub crash_free_session_rate: Option<f64>,
    /// Devices without a crash / devices.
    pub crash_free_device_rate: f64,
    /// The most frequent crash signatures, most crashes first.
    pub top_crashes: Vec<CrashStat>,
    /// The next older shown version, and how this one compares with it.
    pub previous: Option<Comparison>,
}

/// One crash signature of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashStat {
    /// Signature (16 hex).
    pub signature: String,
    /// `panic` or `signal`.
    pub kind: String,
    /// The message template reported with it by at least k distinct devices (the one
    /// most devices reported, if several qualify); `null` when no template reached k:
    /// then only kind, location and counts are shown.
    pub message: Option<String>,
    /// A source location reported with it.
    pub location: String,
    /// Crashes counted.
    pub count: i64,
    /// Distinct devices that reported it.
    pub devices: i64,
}

/// How a version compares with the version before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The previous version (by semver where parseable).
    pub version: String,
    /// Its crash-free session rate.
    pub crash_free_session_rate: Option<f64>,
    /// Its crash-free device rate.
    pub crash_free_device_rate: f64,
    /// This version's session rate minus the previous one's (negative = worse).
    pub session_rate_change: Option<f64>,
    /// This version's device rate minus the previous one's (negative = worse).
    pub device_rate_change: f64,
    /// True when this version's crash-free session rate is lower: it crashes more.
    pub crashing_more: bool,
}

/// A version's crash-free session rate per UTC day, for the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The app version.
    pub version: String,
    /// (days since the epoch, crash-free session rate), days with ≥ k devices only.
    pub points: Vec<(i64, f64)>,
}

/// A version string's sort key: semver where parseable (missing minor/patch taken as 0),
/// otherwise the raw string, ordered before every parseable version.
pub fn version_key(v: &str) -> (Option<semver::Version>, String) {
    let parsed = semver::Version::parse(v)
        .ok()
        .or_else(|| semver::Version::parse(&format!("{v}.0")).ok())
        .or_else(|| semver::Version::parse(&format!("{v}.0.0")).ok());
    (parsed, v.to_string())
}

/// Orders versions oldest first.
pub fn cmp_versions(a: &str, b: &str) -> Ordering {
    version_key(a).cmp(&version_key(b))
}

fn rate(good: i64, total: i64) -> Option<f64> {
    (total > 0).then(|| (total - good.min(total)) as f64 / total as f64)
}

/// Builds the answer from the window's rows.
pub fn build(
    versions: Vec<VersionRow>,
    signatures: Vec<SignatureRow>,
    templates: Vec<TemplateRow>,
    k: u32,
    window_days: u32,
    since: DateTime<Utc>,
    generated_at: DateTime<Utc>,
) -> VersionsReport {
    let k = i64::from(k);
    let total = versions.len();
    let mut shown: Vec<VersionRow> = versions
        .into_iter()
        .filter(|v| v.devices >= k && v.networks >= k)
        .collect();
    let withheld_versions = total - shown.len();
    shown.sort_by(|a, b| cmp_versions(&a.version, &b.version));

    // Per (version, signature): the template most devices reported among those that
    // reached k (ties: the smaller text, so the answer is stable).
    let mut shown_templates: HashMap<(String, String), (i64, String)> = HashMap::new();
    for t in templates {
        if t.devices < k || t.networks < k {
            continue;
        }
        let e = shown_templates
            .entry((t.version, t.signature))
            .or_insert((t.devices, t.template.clone()));
        if t.devices > e.0 || (t.devices == e.0 && t.template < e.1) {
            *e = (t.devices, t.template);
        }
    }
    let mut sigs: HashMap<String, Vec<CrashStat>> = HashMap::new();
    for s in signatures {
        let message = shown_templates
            .remove(&(s.version.clone(), s.signature.clone()))
            .map(|(_, t)| t);
        sigs.entry(s.version).or_default().push(CrashStat {
            signature: s.signature,
            kind: s.kind,
            message,
            location: s.location,
            count: s.count,
            devices: s.devices,
        });
    }

    let mut out: Vec<VersionHealth> = Vec::with_capacity(shown.len());
    for v in shown {
        let mut top = sigs.remove(&v.version).unwrap_or_default();
        top.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.signature.cmp(&b.signature))
        });
        top.truncate(TOP_SIGNATURES);
        let session_rate = rate(v.crashed, v.sessions);
        let device_rate = rate(v.crashed_devices, v.devices).unwrap_or(1.0);
        let previous = out.last().map(|p| Comparison {
            version: p.version.clone(),
            crash_free_session_rate: p.crash_free_session_rate,
            crash_free_device_rate: p.crash_free_device_rate,
            session_rate_change: session_rate
                .zip(p.crash_free_session_rate)
                .map(|(now, before)| now - before),
            device_rate_change: device_rate - p.crash_free_device_rate,
            crashing_more: matches!(
                (session_rate, p.crash_free_session_rate),
                (Some(now), Some(before)) if now < before
            ),
        });
        out.push(VersionHealth {
            version: v.version,
            devices: v.devices,
            sessions: v.sessions,
            crashed: v.crashed,
            abnormal: v.abnormal,
            hangs: v.hangs,
            hangs_per_session: (v.sessions > 0).then(|| v.hangs as f64 / v.sessions as f64),
            crash_free_session_rate: session_rate,
            crash_free_device_rate: device_rate,
            top_crashes: top,
            previous,
        });
    }
    out.reverse();
    VersionsReport {
        window_days,
        since,
        generated_at,
        k: u32::try_from(k).unwrap_or(u32::MAX),
        versions: out,
        withheld_versions,
    }
}

/// The chart's series: for each shown version, its daily crash-free session rate on
/// days with at least k devices and some sessions. Oldest version first.
pub fn series(days: Vec<DayRow>, report: &VersionsReport) -> Vec<Series> {
    let k = i64::from(report.k);
    let mut by_version: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    for d in days {
        if d.devices < k || d.networks < k {
            continue;
        }
        if let Some(r) = rate(d.crashed, d.sessions) {
            by_version.entry(d.version).or_default().push((d.day, r));
        }
    }
    let mut out: Vec<Series> = report
        .versions
        .iter()
        .map(|v| {
            let mut points = by_version.remove(&v.version).unwrap_or_default();
            points.sort_by_key(|p| p.0);
            Series {
                version: v.version.clone(),
                points,
            }
        })
        .collect();
    out.sort_by(|a, b| cmp_versions(&a.version, &b.version));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &str, sessions: i64, crashed: i64, devices: i64, crashed_devices: i64) -> VersionRow {
        VersionRow {
            version: v.into(),
            sessions,
            crashed,
            abnormal: 0,
            hangs: 0,
            devices,
            crashed_devices,
            networks: devices,
        }
    }

    #[test]
    fn semver_order_beats_string_order() {
        let mut v = vec!["1.10.0", "1.9.2", "1.2", "1.2.0-beta.1", "nightly"];
        v.sort_by(|a, b| cmp_versions(a, b));
        assert_eq!(v, ["nightly", "1.2.0-beta.1", "1.2", "1.9.2", "1.10.0"]);
    }

    #[test]
    fn withholds_below_k_and_compares_with_previous_shown() {
        let now = Utc::now();
        let rows = vec![
            row("1.10.0", 100, 10, 5, 2),
            row("1.9.0", 50, 1, 5, 1),
            row("1.9.5", 10, 0, 4, 0), // withheld: 4 < 5 devices
        ];
        let r = build(rows, vec![], vec![], 5, 30, now, now);
        assert_eq!(r.withheld_versions, 1);
        let names: Vec<_> = r.versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(names, ["1.10.0", "1.9.0"]);
        let newest = &r.versions[0];
        assert_eq!(newest.crash_free_session_rate, Some(0.9));
        assert_eq!(newest.crash_free_device_rate, 0.6);
        let prev = newest.previous.as_ref().unwrap();
        assert_eq!(prev.version, "1.9.0", "the withheld 1.9.5 is skipped");
        assert!(prev.crashing_more);
        assert!((prev.session_rate_change.unwrap() - (0.9 - 0.98)).abs() < 1e-12);
        assert!(r.versions[1].previous.is_none());
    }

    #[test]
    fn a_template_needs_k_devices_reporting_it_identically() {
        let now = Utc::now();
        let sig = |s: &str| SignatureRow {
            version: "1.0.0".into(),
            signature: s.into(),
            kind: "panic".into(),
            location: "src/a.rs:1".into(),
            count: 9,
            devices: 9,
        };
        let tpl = |s: &str, t: &str, devices| TemplateRow {
            version: "1.0.0".into(),
            signature: s.into(),
            template: t.into(),
            devices,
            networks: devices,
        };
        let r = build(
            vec![row("1.0.0", 10, 9, 9, 9)],
            vec![sig("aa"), sig("bb"), sig("cc")],
            vec![
                tpl("aa", "cannot open <file>", 3),
                tpl("aa", "cannot open <path>", 5),
                tpl("bb", "rare <word>", 4), // below k even if the store sent it
            ],
            5,
            30,
            now,
            now,
        );
        let top = &r.versions[0].top_crashes;
        let msg = |s: &str| {
            top.iter()
                .find(|c| c.signature == s)
                .unwrap()
                .message
                .clone()
        };
        assert_eq!(msg("aa").as_deref(), Some("cannot open <path>"));
        assert_eq!(msg("bb"), None);
        assert_eq!(msg("cc"), None);
    }

    #[test]
    fn many_pseudonyms_from_few_networks_are_not_k_devices() {
        let now = Utc::now();
        let mut sybils = row("6.6.6", 50, 5, 50, 5);
        sybils.networks = 1;
        let mut almost = row("6.6.7", 50, 5, 9, 5);
        almost.networks = 4;
        let r = build(
            vec![sybils, almost, row("1.0.0", 10, 1, 5, 1)],
            vec![],
            vec![TemplateRow {
                version: "1.0.0".into(),
                signature: "aa".into(),
                template: "spam".into(),
                devices: 40,
                networks: 1,
            }],
            5,
            30,
            now,
            now,
        );
        assert_eq!(r.withheld_versions, 2);
        assert_eq!(r.versions.len(), 1);
        assert_eq!(r.versions[0].version, "1.0.0");
    }
}
