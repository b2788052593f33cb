//! The community destination can be substituted like the S3 one (`Overrides::
//! community_sink`): the dispatcher runs it through the same loop, and what it did is
//! read through `status()` — a report delivered, the deletion request after an opt-out,
//! and a destination that always fails counted as one failed report of two attempts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_report::HealthReport;
use locus_telemetry::breaker::ManualClock;
use locus_telemetry::sink::{CommunitySink, SinkError, SinkFuture};
use locus_telemetry::worker::DestinationStatus;
use locus_telemetry::{Settings, Telemetry};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A community service in memory: counts what it is sent, and answers every call with
/// an error when `failing`.
#[derive(Default)]
struct Community {
    failing: bool,
    reports: Mutex<Vec<HealthReport>>,
    deletions: Mutex<Vec<String>>,
}

impl Community {
    fn answer(&self) -> SinkFuture<'_> {
        let failing = self.failing;
        Box::pin(async move {
            if failing {
                Err(SinkError::Transport {
                    destination: self.describe(),
                    message: "HTTP 503: always down".into(),
                })
            } else {
                Ok(())
            }
        })
    }
}

impl CommunitySink for Community {
    fn send_report(&self, report: &HealthReport) -> SinkFuture<'_> {
        self.reports.lock().unwrap().push(report.clone());
        self.answer()
    }
    fn send_deletion(&self, pseudonym: &str) -> SinkFuture<'_> {
        self.deletions.lock().unwrap().push(pseudonym.to_owned());
        self.answer()
    }
    fn describe(&self) -> String {
        "test://community".into()
    }
}

/// Community telemetry only (no S3), opted in, a report due every second, rounds driven
/// by `flush`.
fn start(dir: &Path, community: Arc<Community>) -> Telemetry {
    Telemetry::builder(Settings {
        data_dir: dir.to_path_buf(),
        app_version: "9.9.9".into(),
        enable_s3_diagnostics: false,
        enable_community_telemetry: true,
        community_period_secs: 1,
        community_metrics: vec!["fix_latency_ms".into()],
        upload_interval_secs: 3600,
        ..Settings::default()
    })
    .clock(Arc::new(ManualClock::new()))
    .community_sink(community)
    .start()
}

fn community_status(t: &Telemetry) -> DestinationStatus {
    let destinations = t.status().dispatch.unwrap().destinations;
    assert_eq!(destinations.len(), 1, "{destinations:?}");
    destinations[0].clone()
}

/// Records a few fixes and lets a community period pass.
fn a_period_of_fixes(t: &Telemetry) {
    for i in 0..20 {
        t.histogram("fix_latency_ms", 5.0 + f64::from(i));
    }
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn a_substituted_community_destination_gets_the_report_then_the_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let community = Arc::new(Community::default());
    let t = start(dir.path(), community.clone());
    let status = community_status(&t);
    assert_eq!(status.kind, locus_telemetry::DestinationKind::Community);
    assert_eq!(status.target, "test://community");

    a_period_of_fixes(&t);
    assert!(t.flush(Duration::from_secs(5)));
    let reports = community.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1, "{:?}", community_status(&t));
    assert_eq!(reports[0].app_version, "9.9.9");
    let status = community_status(&t);
    assert_eq!((status.uploads_ok, status.attempts), (1, 1), "{status:?}");
    assert_eq!(status.last_error, None);

    // Opting out leaves one deletion request for the next round, under the pseudonym
    // the report went out with.
    t.set_community_telemetry(false).unwrap();
    assert!(t.flush(Duration::from_secs(5)));
    assert_eq!(
        *community.deletions.lock().unwrap(),
        [reports[0].pseudonym.clone()]
    );
    assert_eq!(
        community.reports.lock().unwrap().len(),
        1,
        "no report after opt-out"
    );
    let status = community_status(&t);
    assert_eq!((status.uploads_ok, status.attempts), (2, 2), "{status:?}");
    // Delivered once: a later round sends it no more.
    assert!(t.flush(Duration::from_secs(5)));
    assert_eq!(community.deletions.lock().unwrap().len(), 1);
    t.shutdown(Duration::from_secs(2));
}

#[test]
fn a_community_destination_that_always_fails_is_one_failed_report_of_two_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let community = Arc::new(Community {
        failing: true,
        ..Community::default()
    });
    let t = start(dir.path(), community.clone());
    a_period_of_fixes(&t);
    assert!(t.flush(Duration::from_secs(5)));
    // The first attempt and exactly one retry, then the report is discarded.
    assert_eq!(community.reports.lock().unwrap().len(), 2);
    let status = community_status(&t);
    assert_eq!(
        (status.uploads_ok, status.uploads_failed, status.attempts),
        (0, 1, 2),
        "{status:?}"
    );
    let error = status.last_error.unwrap_or_default();
    assert!(
        error.starts_with("report: ") && error.contains("always down"),
        "{error}"
    );
    assert_eq!(status.breaker.consecutive_failures, 2);
    // Discarded: nothing is due until the next period has data, so a round right after
    // sends nothing.
    assert!(t.flush(Duration::from_secs(5)));
    assert_eq!(community.reports.lock().unwrap().len(), 2);
    t.shutdown(Duration::from_secs(2));
}
