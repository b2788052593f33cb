//! Fault drill, dual dispatch (issue 4): a community endpoint that never answers does
//! not delay or trip the user's S3. Both destinations are loopback `FaultServer`s: the
//! S3 one healthy, the community one hung. Each round's S3 upload arrives before the
//! community attempt could even time out, S3's breaker never sees a failure, and the
//! community breaker opens on its own after six attempts (counted at its server).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::common;

use locus_telemetry::breaker::ManualClock;
use locus_telemetry::record::Level;
use locus_telemetry::Settings;
use locus_testkit::faults::{FaultServer, Mode};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MARGIN: Duration = Duration::from_millis(300);
/// Attempt timeout of both destinations: the community request hangs this long.
const ATTEMPT: Duration = Duration::from_secs(3);

#[test]
fn a_hung_community_endpoint_neither_delays_nor_trips_s3() {
    let s3 = FaultServer::start(Mode::Ok);
    let community = FaultServer::start(Mode::Hang);
    let dir = tempfile::tempdir().unwrap();
    let t = common::start_with_clock(
        Settings {
            attempt_timeout_secs: ATTEMPT.as_secs(),
            enable_community_telemetry: true,
            community_url: Some(community.endpoint()),
            community_period_secs: 1,
            community_metrics: vec!["fix_latency_ms".into()],
            ..common::loopback_settings("community-drill", &s3.endpoint(), dir.path())
        },
        Arc::new(ManualClock::new()),
    );
    let names: Vec<String> = t
        .status()
        .dispatch
        .unwrap()
        .destinations
        .iter()
        .map(|d| d.kind.to_string())
        .collect();
    assert_eq!(names, ["s3", "community"], "{:?}", t.status().problems);
    std::thread::sleep(Duration::from_millis(1200)); // a community period passes
    let mut s3_delays = Vec::new();
    for round in 0..4 {
        for i in 0..50 {
            t.histogram("fix_latency_ms", 5.0 + f64::from(i));
            t.log(Level::Info, "locus::gps", "gps fix", &[]);
        }
        let before = s3.put_object_attempts();
        let ok_before = t.status().dispatch.unwrap().destinations[0].uploads_ok;
        let f0 = Instant::now();
        let deadline = ATTEMPT * 2 + Duration::from_secs(2);
        let _ = t.flush(deadline);
        assert!(
            f0.elapsed() <= deadline + MARGIN,
            "round {round}: flush overran"
        );
        let arrived = s3
            .requests()
            .into_iter()
            .filter(|r| r.is_put_object() && r.at >= f0)
            .map(|r| r.at - f0)
            .next();
        let delay = arrived.unwrap_or_else(|| panic!("round {round}: no S3 upload"));
        assert!(
            delay < ATTEMPT,
            "round {round}: the S3 upload waited {delay:?}, as long as a community attempt"
        );
        s3_delays.push(delay);
        let d = t.status().dispatch.unwrap();
        assert!(
            d.destinations[0].uploads_ok > ok_before,
            "round {round}: {d:?}"
        );
        assert!(s3.put_object_attempts() > before);
    }
    let d = t.status().dispatch.unwrap();
    let (s3d, cd) = (&d.destinations[0], &d.destinations[1]);
    let s3b = s3d.breaker.clone();
    assert_eq!(
        (s3b.state.as_str(), s3b.consecutive_failures),
        ("closed", 0),
        "{s3d:?}"
    );
    assert_eq!(s3d.uploads_failed, 0);
    let community_requests = community.attempts();
    assert!(
        cd.uploads_failed >= 1,
        "the community endpoint was tried: {cd:?}"
    );
    assert!(
        community_requests <= 6,
        "the community breaker caps attempts at 6: {:?}",
        community.requests()
    );
    assert_eq!(cd.attempts as usize, community_requests, "{cd:?}");
    let report = t.shutdown(Duration::from_millis(500));
    assert!(
        report.took <= Duration::from_millis(500) + MARGIN,
        "{report:?}"
    );
    println!(
        "DRILL community hung: S3 uploads arrived {s3_delays:?} after each flush (community attempt timeout {ATTEMPT:?}); S3 breaker {} / {} failures; community: {} requests at its server, {} failed, breaker {}; shutdown {:?}",
        s3b.state,
        s3b.consecutive_failures,
        community_requests,
        cd.uploads_failed,
        cd.breaker.state.as_str(),
        report.took
    );
}
