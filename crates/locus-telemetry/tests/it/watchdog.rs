//! The hang watchdog against the real keeper thread and the real mapped ring (issue 22,
//! part 2): a loop stalled past its `max_gap` is one hang, started and ended, measured
//! between its beats; a loop that keeps beating has none; in the background no hang
//! starts. The tests wait for the records, never for the clock (the patience is only a
//! bound on a failing run).

use locus_telemetry::record::{Body, HangPhase, HangRecord};
use locus_telemetry::{Settings, Telemetry, WatchError};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(60);

fn start(dir: &std::path::Path) -> Telemetry {
    Telemetry::start(Settings {
        data_dir: dir.to_path_buf(),
        enable_s3_diagnostics: false,
        ..Settings::default()
    })
}

fn hangs(t: &Telemetry) -> Vec<(u64, HangRecord)> {
    t.recent(10_000)
        .into_iter()
        .filter_map(|r| match r.body {
            Body::Hang(h) => Some((r.seq, h)),
            _ => None,
        })
        .collect()
}

/// Waits until `until` holds for the hang records (or the patience runs out).
fn wait_for(t: &Telemetry, until: impl Fn(&[(u64, HangRecord)]) -> bool) -> Vec<(u64, HangRecord)> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let h = hangs(t);
        if until(&h) || Instant::now() > deadline {
            return h;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stall_of_a_watched_loop_is_one_hang_of_about_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path());
    let watch = t.watch("tracking", Duration::from_millis(500)).unwrap();
    let beating = watch.clone();
    let lp = std::thread::spawn(move || {
        for i in 0..60 {
            beating.beat();
            std::thread::sleep(Duration::from_millis(if i == 20 { 1500 } else { 10 }));
        }
        beating.beat();
    });
    lp.join().unwrap();
    let found = wait_for(&t, |h| h.iter().any(|(_, h)| h.phase == HangPhase::End));
    let starts: Vec<_> = found
        .iter()
        .filter(|(_, h)| h.phase == HangPhase::Start)
        .collect();
    let ends: Vec<_> = found
        .iter()
        .filter(|(_, h)| h.phase == HangPhase::End)
        .collect();
    assert_eq!((starts.len(), ends.len()), (1, 1), "{found:?}");
    let (start_seq, start) = starts[0];
    let (_, end) = ends[0];
    assert_eq!(start.loop_name, "tracking");
    assert_eq!(start.expected_gap_ms, 500);
    assert!(start.measured_ms >= 500, "{start:?}");
    assert_eq!(end.start_seq, Some(*start_seq));
    // Measured between the keeper's looks: within one look (250 ms) of the stall.
    assert!((1250..=5000).contains(&end.measured_ms), "{end:?}");
    // Dropping the last clone stops watching: the name is free again.
    drop(watch);
    assert!(t.watch("tracking", Duration::from_millis(500)).is_ok());
    t.shutdown(Duration::from_millis(500));
}

#[test]
fn a_loop_that_keeps_beating_has_no_hang_and_stacks_attach_only_to_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path());
    let watch = t.watch("tracking", Duration::from_millis(500)).unwrap();
    let until = t.recent(1).last().map_or(0, |r| r.seq);
    // Beat for at least eight looks of the keeper: its metric flushes (once a second)
    // show that it looked.
    let deadline = Instant::now() + PATIENCE;
    let mut flushes = 0;
    t.counter("beats", 1);
    while flushes < 3 && Instant::now() < deadline {
        watch.beat();
        t.counter("beats", 1);
        std::thread::sleep(Duration::from_millis(10));
        flushes = t
            .recent(10_000)
            .iter()
            .filter(|r| r.seq > until && matches!(&r.body, Body::Metric(m) if m.name == "beats"))
            .count();
    }
    assert!(flushes >= 3, "the keeper never flushed");
    assert!(hangs(&t).is_empty(), "{:?}", hangs(&t));
    assert_eq!(watch.hang_in_progress(), None);
    assert_eq!(watch.record_hang_stack(1, "at nowhere"), None);
    t.shutdown(Duration::from_millis(500));
}

#[test]
fn a_binding_attaches_the_stalled_threads_stack_once() {
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path());
    let watch = t.watch("gps.loop", Duration::from_millis(250)).unwrap();
    watch.beat();
    // The loop stalls: no more beats until the stack is recorded.
    let deadline = Instant::now() + PATIENCE;
    let hang = loop {
        if let Some(h) = watch.hang_in_progress() {
            break h;
        }
        assert!(Instant::now() < deadline, "no hang started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let seq = watch.record_hang_stack(
        hang,
        "at Track.waitForFix(Track.kt:12)\nat Track.run(Track.kt:40)",
    );
    assert!(seq.is_some());
    assert_eq!(
        watch.record_hang_stack(hang, "again"),
        None,
        "one stack per hang"
    );
    watch.beat();
    let found = wait_for(&t, |h| h.iter().any(|(_, h)| h.phase == HangPhase::End));
    let phases: Vec<HangPhase> = found.iter().map(|(_, h)| h.phase).collect();
    assert_eq!(phases, [HangPhase::Start, HangPhase::Stack, HangPhase::End]);
    let stack = &found[1].1;
    assert_eq!(stack.start_seq, Some(hang));
    assert!(
        stack.stack.as_deref().unwrap().contains("Track.waitForFix"),
        "{stack:?}"
    );
    t.shutdown(Duration::from_millis(500));
}

#[test]
fn in_the_background_no_hang_starts_and_bad_watches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = start(dir.path());
    assert!(matches!(
        t.watch("tracking loop", Duration::from_millis(500)),
        Err(WatchError::InvalidName { .. })
    ));
    assert!(matches!(
        t.watch("tracking", Duration::from_secs(3600)),
        Err(WatchError::MaxGapOutOfRange { ms: 3_600_000 })
    ));
    t.set_in_foreground(false);
    assert!(t.status().conditions.background);
    let watch = t.watch("tracking", Duration::from_millis(250)).unwrap();
    watch.beat();
    // A sibling loop in the same telemetry, watched in the same background, beats on:
    // once the keeper has flushed metrics three times, it has looked at least twelve
    // times at the silent loop, whose gap is long past 250 ms.
    let until = t.recent(1).last().map_or(0, |r| r.seq);
    let deadline = Instant::now() + PATIENCE;
    loop {
        t.counter("ticks", 1);
        let flushes = t
            .recent(10_000)
            .iter()
            .filter(|r| r.seq > until && matches!(&r.body, Body::Metric(m) if m.name == "ticks"))
            .count();
        if flushes >= 3 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(hangs(&t).is_empty(), "{:?}", hangs(&t));
    // Back in the foreground, the gap counts from the return: a hang starts after it.
    t.set_in_foreground(true);
    let found = wait_for(&t, |h| !h.is_empty());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1.phase, HangPhase::Start);
    t.shutdown(Duration::from_millis(500));
    assert!(matches!(
        t.watch("other", Duration::from_millis(500)),
        Err(WatchError::ShutDown)
    ));
}
