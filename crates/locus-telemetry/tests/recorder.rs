//! The flight recorder against real files and real threads: round trip, wrap-around,
//! concurrent writers, damaged files, fallbacks and hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::record::{Body, Level, MetricKind};
use locus_telemetry::recorder::{
    read_ring_file, Backend, FieldValue, FlightRecorder, TRUNCATION_MARKER,
};
use proptest::prelude::*;
use std::collections::HashSet;
use std::path::Path;

const SMALL: usize = 64 * 1024;

fn message(r: &locus_telemetry::record::Record) -> &str {
    match &r.body {
        Body::Log(l) => &l.message,
        other => panic!("expected a log record, got {other:?}"),
    }
}

#[test]
fn round_trip_through_the_file_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    {
        let rec = FlightRecorder::open(&path, SMALL);
        assert!(rec.status().file_backed(), "{:?}", rec.status());
        rec.log(
            Level::Warn,
            "locus::sync",
            "upload slow",
            &[
                ("ms", FieldValue::I64(812)),
                ("ok", FieldValue::Bool(false)),
            ],
        );
        rec.metric("battery_pct", MetricKind::Gauge, 87.5).unwrap();
    }
    let snap = read_ring_file(&path).unwrap();
    assert_eq!(snap.records.len(), 2);
    assert_eq!(snap.records[0].seq, 1);
    assert_eq!(message(&snap.records[0]), "upload slow");
    let Body::Log(l) = &snap.records[0].body else {
        unreachable!()
    };
    assert_eq!(l.fields.len(), 2);
    assert_eq!(l.level, Level::Warn);
    let Body::Metric(m) = &snap.records[1].body else {
        panic!("metric expected")
    };
    assert_eq!(m.value, 87.5);

    // Reopening continues the sequence after what it recovered.
    let rec = FlightRecorder::open(&path, SMALL);
    assert_eq!(rec.status().recovered, 2);
    assert_eq!(rec.log(Level::Info, "t", "again", &[]), 3);
    assert_eq!(rec.snapshot().records.len(), 3);
}

#[test]
fn wrap_around_keeps_the_newest_records_in_order() {
    let rec = FlightRecorder::in_memory(SMALL);
    let total = 20_000u64;
    for i in 0..total {
        rec.log(Level::Info, "t", &format!("record {i}"), &[]);
    }
    let snap = rec.snapshot();
    let seqs: Vec<u64> = snap.records.iter().map(|r| r.seq).collect();
    assert!(
        seqs.len() > 500,
        "ring of 64 KiB should hold hundreds, held {}",
        seqs.len()
    );
    assert!(seqs.len() < total as usize);
    assert_eq!(*seqs.last().unwrap(), total, "the newest record is kept");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // Everything retained is a contiguous tail: nothing in the middle is lost.
    assert_eq!(
        snap.missing, 0,
        "a single writer loses only the oldest records"
    );
    for r in &snap.records {
        assert_eq!(message(r), format!("record {}", r.seq - 1));
    }
}

#[test]
fn concurrent_writers_lose_and_tear_nothing_they_retained() {
    let rec = FlightRecorder::in_memory(4 * 1024 * 1024);
    let threads = 4;
    let per_thread = 2_000;
    std::thread::scope(|s| {
        for t in 0..threads {
            let rec = rec.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    rec.log(
                        Level::Info,
                        "worker",
                        &format!("t{t} i{i} {}", "x".repeat(i % 50)),
                        &[("t", FieldValue::U64(t)), ("i", FieldValue::U64(i as u64))],
                    );
                }
            });
        }
    });
    let snap = rec.snapshot();
    assert_eq!(
        snap.records.len(),
        threads as usize * per_thread,
        "4 MiB holds them all"
    );
    assert_eq!(snap.missing, 0);
    let mut seen = HashSet::new();
    for r in &snap.records {
        let Body::Log(l) = &r.body else { panic!() };
        let (t, i) = match (&l.fields[0].1, &l.fields[1].1) {
            (locus_telemetry::record::Value::I64(t), locus_telemetry::record::Value::I64(i)) => {
                (*t, *i)
            }
            other => panic!("bad fields {other:?}"),
        };
        assert_eq!(
            l.message,
            format!("t{t} i{i} {}", "x".repeat(i as usize % 50))
        );
        assert!(seen.insert((t, i)), "duplicate record");
    }
}

#[test]
fn huge_and_non_utf8_messages_are_kept_truncated_and_lossy() {
    let rec = FlightRecorder::in_memory(SMALL);
    let huge = "é".repeat(100_000);
    rec.log(Level::Error, "t", &huge, &[]);
    rec.log_bytes(Level::Info, "t", b"bad \xff\xfe bytes");
    let snap = rec.snapshot();
    assert_eq!(snap.truncated, 1);
    let first = message(&snap.records[0]);
    assert!(first.ends_with(TRUNCATION_MARKER));
    assert!(first.len() < 5000);
    assert_eq!(message(&snap.records[1]), "bad \u{fffd}\u{fffd} bytes");
}

#[test]
fn nan_metrics_are_refused_not_stored() {
    let rec = FlightRecorder::in_memory(SMALL);
    assert!(rec.metric("x", MetricKind::Gauge, f64::NAN).is_none());
    assert!(rec.metric("x", MetricKind::Gauge, f64::INFINITY).is_none());
    assert!(rec.snapshot().records.is_empty());
}

#[test]
fn read_only_dir_falls_back_to_the_heap_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&ro, perms).unwrap();
    // Root ignores directory permissions; a path under a regular file fails for anyone.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    for path in [ro.join("recorder.ring"), blocker.join("recorder.ring")] {
        let rec = FlightRecorder::open(&path, SMALL);
        if std::fs::metadata(&path).is_ok() {
            continue; // running as root: the read-only dir was writable after all
        }
        match rec.status().backend {
            Backend::Memory(Some(reason)) => {
                let parent = path.parent().unwrap().to_string_lossy().into_owned();
                assert!(reason.contains(&parent), "reason names the path: {reason}");
            }
            other => panic!("expected heap fallback, got {other:?}"),
        }
        rec.log(Level::Info, "t", "still recording", &[]);
        assert_eq!(rec.snapshot().records.len(), 1);
    }
}

#[test]
fn a_second_owner_gets_a_clear_error_and_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    let first = FlightRecorder::open(&path, SMALL);
    assert!(first.status().file_backed());
    let err = FlightRecorder::try_open(&path, SMALL).unwrap_err();
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    let second = FlightRecorder::open(&path, SMALL);
    assert!(matches!(second.status().backend, Backend::Memory(Some(_))));
}

fn write_some(path: &Path, n: usize) {
    let rec = FlightRecorder::open(path, SMALL);
    for i in 0..n {
        rec.log(Level::Info, "t", &format!("kept {i}"), &[]);
    }
}

#[test]
fn damaged_header_and_truncated_files_are_salvaged_and_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    write_some(&path, 50);
    // Damage the header and cut the file short.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 0xff;
    bytes.truncate(20_000);
    std::fs::write(&path, &bytes).unwrap();

    let rec = FlightRecorder::open(&path, SMALL);
    let st = rec.status();
    assert!(st.file_backed(), "{st:?}");
    assert!(st.salvaged > 0, "records before the cut are salvaged");
    let aside = st.moved_aside.expect("damaged bytes kept aside");
    assert_eq!(std::fs::read(aside).unwrap(), bytes);
    let msgs: Vec<String> = rec
        .snapshot()
        .records
        .iter()
        .map(|r| message(r).to_owned())
        .collect();
    assert_eq!(msgs.len(), st.salvaged);
    assert_eq!(msgs[0], "kept 0");
}

#[test]
fn torn_record_is_skipped_and_counted_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    write_some(&path, 3);
    let mut bytes = std::fs::read(&path).unwrap();
    // The second record starts at the next slot after the first; flip a payload byte.
    let first_len = u32::from_le_bytes(bytes[4096 + 8..4096 + 12].try_into().unwrap()) as usize;
    let second = 4096 + (32 + first_len).div_ceil(64) * 64;
    bytes[second + 40] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let snap = read_ring_file(&path).unwrap();
    assert_eq!(
        snap.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(snap.missing, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_file_content_opens_without_panic(content in proptest::collection::vec(any::<u8>(), 0..200_000)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recorder.ring");
        std::fs::write(&path, &content).unwrap();
        let _ = read_ring_file(&path);
        let rec = FlightRecorder::open(&path, SMALL);
        rec.log(Level::Info, "t", "after", &[]);
        prop_assert!(rec.snapshot().records.iter().any(|r| message(r) == "after"));
    }

    #[test]
    fn valid_file_with_random_damage_never_panics(flips in proptest::collection::vec((4096usize..4096 + SMALL, any::<u8>()), 1..200)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recorder.ring");
        write_some(&path, 300);
        let mut bytes = std::fs::read(&path).unwrap();
        for (at, x) in flips {
            bytes[at] ^= x;
        }
        std::fs::write(&path, &bytes).unwrap();
        let snap = read_ring_file(&path).unwrap();
        for r in &snap.records {
            prop_assert!(message(r).starts_with("kept "));
        }
        let rec = FlightRecorder::open(&path, SMALL);
        prop_assert!(rec.next_seq() >= 1);
    }
}

#[test]
fn zero_filled_file_reads_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    std::fs::write(&path, vec![0u8; 4096 + SMALL]).unwrap();
    assert!(read_ring_file(&path).unwrap().records.is_empty());
    let rec = FlightRecorder::open(&path, SMALL);
    assert!(rec.status().file_backed());
    assert_eq!(rec.log(Level::Info, "t", "x", &[]), 1);
}

#[test]
fn counters_and_histograms_land_as_one_record_per_metric_with_exact_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    let rec = FlightRecorder::open(&path, SMALL);
    for i in 0..1_000 {
        rec.count("fixes", 1);
        rec.observe("fix_latency_ms", f64::from(i % 10));
    }
    rec.observe("fix_latency_ms", f64::NAN); // refused, not folded in
    rec.log(Level::Info, "t", "after", &[]);
    // A reader of the file (another process: `locus-diag buffer`) sees them once the
    // keeper thread flushes, without any call from the app.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let records = loop {
        let snap = read_ring_file(&path).unwrap();
        if snap.records.len() >= 3 || std::time::Instant::now() > deadline {
            break snap.records;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(records.len(), 3, "{records:#?}");
    let counter = records
        .iter()
        .find_map(|r| match &r.body {
            Body::Metric(m) if m.name == "fixes" => Some(m.clone()),
            _ => None,
        })
        .expect("a counter record");
    assert_eq!(
        (counter.metric, counter.value),
        (MetricKind::Counter, 1000.0)
    );
    let hist = records
        .iter()
        .find_map(|r| match &r.body {
            Body::Histogram(h) => Some(h.clone()),
            _ => None,
        })
        .expect("a histogram record");
    assert_eq!(hist.name, "fix_latency_ms");
    assert_eq!(
        (hist.count, hist.sum, hist.min, hist.max),
        (1000, 4500.0, 0.0, 9.0)
    );
    // Round trip through the JSON lines shipped to the bucket.
    let r = records
        .iter()
        .find(|r| r.body.kind() == "histogram")
        .unwrap();
    let line = r.to_json_line();
    assert!(line.contains(r#""kind":"histogram""#), "{line}");
    assert_eq!(
        &locus_telemetry::record::Record::from_json_line(&line).unwrap(),
        r
    );
    // Nothing is left to flush: a snapshot adds no record.
    assert_eq!(rec.snapshot().records.len(), 3);
}

#[test]
fn a_snapshot_flushes_pending_metrics_first() {
    let rec = FlightRecorder::in_memory(SMALL);
    rec.count("uploads", 2);
    rec.count("uploads", 3);
    let recent = rec.recent(5);
    assert_eq!(recent.len(), 1);
    let Body::Metric(m) = &recent[0].body else {
        panic!("{recent:?}")
    };
    assert_eq!(m.value, 5.0);
    // Past the table's capacity and name length, samples are written one by one.
    let long = "x".repeat(locus_telemetry::metrics::MAX_NAME + 1);
    rec.count(&long, 1);
    rec.count(&long, 1);
    assert_eq!(rec.recent(10).len(), 3);
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.starts_with(prefix))
        })
        .count()
}

#[test]
fn keeper_threads_end_with_their_recorders() {
    let dir = tempfile::tempdir().unwrap();
    let recorders: Vec<FlightRecorder> = (0..8)
        .map(|i| FlightRecorder::open(&dir.path().join(format!("r{i}.ring")), SMALL))
        .collect();
    // A thread names itself once it runs: give them a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while threads_named("locus-keeper") < 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(threads_named("locus-keeper") >= 8);
    drop(recorders);
    // Other tests in this binary may hold recorders of their own; ours must all go (a
    // keeper ends as soon as its recorder is dropped).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while threads_named("locus-keeper") >= 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        threads_named("locus-keeper") < 8,
        "keeper threads outlived their recorders"
    );
}

#[test]
fn dropping_the_recorder_writes_pending_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    let rec = FlightRecorder::open(&path, SMALL);
    rec.count("sessions", 1);
    rec.observe("startup_ms", 840.0);
    drop(rec);
    let kinds: HashSet<&'static str> = read_ring_file(&path)
        .unwrap()
        .records
        .iter()
        .map(|r| r.body.kind())
        .collect();
    assert_eq!(kinds, HashSet::from(["metric", "histogram"]));
}

#[test]
fn a_ring_file_cut_short_under_a_live_recorder_does_not_kill_the_keeper() {
    // Someone truncates the file while it is mapped. The app's own next write would
    // fault, but the keeper, preparing pages ahead, must not: it used to touch them by
    // hand when the kernel refused (EFAULT) and died of SIGBUS, taking the process.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorder.ring");
    let rec = FlightRecorder::open(&path, SMALL);
    for i in 0..50 {
        rec.log(
            Level::Info,
            "t",
            "before the cut",
            &[("i", FieldValue::I64(i))],
        );
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4096)
        .unwrap();
    // Several of the keeper's looks (every 250 ms); the process is still here after.
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    assert!(rec.status().file_backed());
}
