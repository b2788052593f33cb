//! `community_report_at_shutdown`: the period's report leaves in the last round before
//! shutdown when (and only when) the setting asks — what `locus-diag demo --community`
//! uses so a short demo, a compressed day, reports when it ends.

use locus_report::HealthReport;
use locus_telemetry::sink::{CommunitySink, SinkFuture};
use locus_telemetry::{Settings, Telemetry};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Community {
    reports: Mutex<Vec<HealthReport>>,
}

impl CommunitySink for Community {
    fn send_report(&self, report: &HealthReport) -> SinkFuture<'_> {
        self.reports.lock().unwrap().push(report.clone());
        Box::pin(async { Ok(()) })
    }
    fn send_deletion(&self, _pseudonym: &str) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }
    fn describe(&self) -> String {
        "test://community".into()
    }
}

/// A day-long period, so only the shutdown setting can make a report due.
fn run(dir: &Path, at_shutdown: bool) -> Vec<HealthReport> {
    let community = Arc::new(Community::default());
    let t = Telemetry::builder(Settings {
        data_dir: dir.to_path_buf(),
        enable_s3_diagnostics: false,
        enable_community_telemetry: true,
        community_period_secs: 86_400,
        community_report_at_shutdown: at_shutdown,
        community_metrics: vec!["fix_latency_ms".into()],
        shutdown_deadline_ms: 5_000,
        ..Settings::default()
    })
    .community_sink(community.clone())
    .start();
    for i in 0..10 {
        t.histogram("fix_latency_ms", f64::from(i));
    }
    assert!(t.flush(Duration::from_secs(5)));
    assert!(
        community.reports.lock().unwrap().is_empty(),
        "not due before shutdown"
    );
    t.shutdown(Duration::from_secs(5));
    let reports = community.reports.lock().unwrap().clone();
    reports
}

#[test]
fn the_report_leaves_at_shutdown_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), false).is_empty(), "default: once a period");
    let dir = tempfile::tempdir().unwrap();
    let reports = run(dir.path(), true);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].metrics[0].name, "fix_latency_ms");
    assert_eq!(reports[0].metrics[0].count, 10);
}
