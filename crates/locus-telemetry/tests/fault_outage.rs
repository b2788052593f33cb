//! A simulated 24-hour S3 outage (issue 4, "Done when"): with the breaker's clock
//! injected, 144 upload rounds ten simulated minutes apart against a server that answers
//! every request with 503, while the app keeps logging. Counted at the server: at most
//! 10 requests in the whole day (6 failed attempts until the breaker opens — the
//! retention-rule call at start and 5 upload attempts — then one probe per 6-hour
//! backoff). And memory stays flat:
//! RSS at the end is within a few MiB of RSS after the first simulated hour.
//!
//! Alone in its own test binary on purpose: RSS is per process, and other tests running
//! in parallel would move it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use locus_telemetry::breaker::ManualClock;
use locus_telemetry::record::Level;
use locus_telemetry::recorder::FieldValue;
use locus_testkit::faults::disk::rss_bytes;
use locus_testkit::faults::{FaultServer, Mode};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUND_STEP: Duration = Duration::from_secs(10 * 60);
const ROUNDS: u32 = 24 * 6;
/// Records the app logs per simulated round (a busy app; the ring wraps every round).
const RECORDS_PER_ROUND: u64 = 10_000;
/// Allowed RSS growth from the end of hour 1 to the end of hour 24.
const RSS_SLACK: u64 = 8 * 1024 * 1024;

#[test]
fn a_24_hour_outage_makes_at_most_10_requests_and_memory_stays_flat() {
    let server = FaultServer::start(Mode::Status(503));
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new());
    // 1 MiB ring, 6-hour backoff: the defaults.
    let t = common::start_with_clock(
        common::loopback_settings("outage", &server.endpoint(), dir.path()),
        clock.clone(),
    );
    let started = Instant::now();
    let mut rss_after_hour_1 = 0;
    let mut rss_max = 0;
    let mut puts_per_hour = Vec::new();
    let mut rss_per_hour = Vec::new();
    let mut seq = 0u64;
    for round in 1..=ROUNDS {
        for _ in 0..RECORDS_PER_ROUND {
            seq += 1;
            t.log(
                Level::Info,
                "locus::gps",
                "gps fix",
                &[
                    ("lat", FieldValue::F64(52.52)),
                    ("lon", FieldValue::F64(13.40)),
                    ("n", FieldValue::U64(seq)),
                ],
            );
        }
        t.histogram("fix_latency_ms", 12.0);
        // Simulated time runs ~1000× faster than the app's burst of records. A round
        // that may make an attempt (breaker not open) lets the burst age past the
        // batcher's fresh-gap hold (250 ms), as ten real minutes would: otherwise the
        // ring has wrapped past the cursor within 250 ms and the round ships nothing
        // (see the report on `dispatch::batch::next_batch`).
        // (Judged from `open_until`: the snapshot's `state` text is only refreshed when
        // the worker acts, so it still says "open" after the backoff has ended.)
        let open_until = t.status().dispatch.unwrap().destinations[0]
            .breaker
            .open_until;
        if open_until.is_none_or(|until| until <= locus_telemetry::breaker::Clock::now(&*clock)) {
            std::thread::sleep(Duration::from_millis(300));
        }
        let f0 = Instant::now();
        let flushed = t.flush(Duration::from_secs(10));
        assert!(
            flushed,
            "round {round}: a round against a 503 server finishes"
        );
        assert!(f0.elapsed() <= Duration::from_secs(10) + Duration::from_millis(300));
        clock.advance(ROUND_STEP);
        if round % 6 == 0 {
            let rss = rss_bytes().unwrap();
            rss_max = rss_max.max(rss);
            if round == 6 {
                rss_after_hour_1 = rss;
            }
            puts_per_hour.push(server.put_object_attempts());
            rss_per_hour.push(rss as f64 / 1048576.0);
        }
    }
    let rss_end = rss_bytes().unwrap();
    let d = t.status().dispatch.unwrap().destinations[0].clone();
    let requests = server.requests();
    let puts = server.put_object_attempts();
    let other: Vec<String> = requests
        .iter()
        .filter(|r| !r.is_put_object())
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    let report = t.shutdown(Duration::from_millis(500));
    let requests_after_shutdown = server.attempts();
    println!(
        "DRILL 24 h outage: {} requests at the server ({} PutObject, other: {:?}); status attempts {}, uploads failed {}, skipped rounds {}, breaker opened {} times; \
         {} records logged; RSS after hour 1 {:.1} MiB, at hour 24 {:.1} MiB, max {:.1} MiB; PutObject count at each hour: {:?}; RSS MiB at each hour: {:.1?}; wall time {:.1} s; shutdown {:?}",
        requests.len(),
        puts,
        other,
        d.attempts,
        d.uploads_failed,
        d.skipped,
        d.breaker.times_opened,
        seq,
        rss_after_hour_1 as f64 / 1048576.0,
        rss_end as f64 / 1048576.0,
        rss_max as f64 / 1048576.0,
        puts_per_hour,
        rss_per_hour,
        started.elapsed().as_secs_f64(),
        report.took,
    );

    // 6 failed attempts (the retention call at start, then uploads of 2, 2 and 1
    // attempts) open the breaker at ~0:20; probes at ~6:20, 12:20, 18:20.
    assert_eq!(puts, 5 + 3, "PutObject attempts in 24 h");
    assert_eq!(other.len(), 1, "one retention call: {other:?}");
    assert!(
        requests.len() <= 10,
        "at most 10 requests in 24 h: {requests:?}"
    );
    assert_eq!(
        d.attempts as usize,
        requests.len(),
        "status counts what the server saw"
    );
    assert!(
        puts_per_hour.windows(2).all(|w| w[1] - w[0] <= 1),
        "never more than one attempt in an hour once open: {puts_per_hour:?}"
    );
    assert!(
        rss_end <= rss_after_hour_1 + RSS_SLACK,
        "RSS grew from {rss_after_hour_1} to {rss_end} bytes over the outage"
    );
    assert!(report.took <= Duration::from_millis(800), "{report:?}");
    // The breaker is open at the end of the day: the final round of shutdown did not
    // sneak in another attempt.
    assert_eq!(requests_after_shutdown, requests.len());
}
