//! The `tracing` layer: app events land in the recorder with their fields; telemetry's
//! own events (by target, or from the telemetry thread) never feed back into it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_telemetry::record::{Body, Value};
use locus_telemetry::recorder::FlightRecorder;
use locus_telemetry::TelemetryLayer;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct Fix {
    sats: u8,
}

#[test]
fn events_land_with_their_fields_and_internal_ones_do_not() {
    let rec = FlightRecorder::in_memory(64 * 1024);
    let subscriber = tracing_subscriber::registry().with(TelemetryLayer::new(rec.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(lat = 52.52, battery = 87u64, charging = false, provider = "gps", fix = ?Fix { sats: 7 }, "fix {} of {}", 3, 10);
        tracing::info!(target: "locus_telemetry::s3", "internal: must not be recorded");
        tracing::error!(target: "locus_telemetry", "internal too");
    });
    let records = rec.snapshot().records;
    assert_eq!(records.len(), 1, "{records:?}");
    let Body::Log(l) = &records[0].body else {
        panic!()
    };
    assert_eq!(l.message, "fix 3 of 10");
    assert_eq!(l.level, locus_telemetry::record::Level::Warn);
    let get = |k: &str| {
        l.fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("lat"), Some(Value::F64(52.52)));
    assert_eq!(get("battery"), Some(Value::I64(87)));
    assert_eq!(get("charging"), Some(Value::Bool(false)));
    assert_eq!(get("provider"), Some(Value::Str("gps".into())));
    assert_eq!(get("fix"), Some(Value::Str("Fix { sats: 7 }".into())));
}

#[test]
fn a_huge_debug_field_is_truncated_not_dropped() {
    let rec = FlightRecorder::in_memory(64 * 1024);
    let subscriber = tracing_subscriber::registry().with(TelemetryLayer::new(rec.clone()));
    let big = vec![7u8; 50_000];
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(payload = ?big, after = 1, "big");
    });
    let snap = rec.snapshot();
    assert_eq!(snap.records.len(), 1);
    assert_eq!(snap.truncated, 1);
    let Body::Log(l) = &snap.records[0].body else {
        panic!()
    };
    assert_eq!(l.message, "big");
    let payload = l
        .fields
        .iter()
        .find(|(k, _)| k == "payload")
        .expect("field kept");
    let Value::Str(s) = &payload.1 else { panic!() };
    assert!(s.ends_with(locus_telemetry::recorder::TRUNCATION_MARKER));
}

#[test]
fn events_too_big_for_the_small_buffer_are_kept_whole() {
    // The layer encodes into 512 bytes first and visits again into 4 KiB when that is
    // not enough: a 2 KB field and a 1 KB message must arrive untruncated, and once.
    let rec = FlightRecorder::in_memory(64 * 1024);
    let subscriber = tracing_subscriber::registry().with(TelemetryLayer::new(rec.clone()));
    let route = "r".repeat(2_000);
    let note = "n".repeat(1_000);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(route = route.as_str(), n = 3u64, "{note}");
        tracing::info!("small");
    });
    let snap = rec.snapshot();
    assert_eq!(snap.truncated, 0);
    assert_eq!(snap.records.len(), 2, "{:?}", snap.records);
    let Body::Log(l) = &snap.records[0].body else {
        panic!()
    };
    assert_eq!(l.message, note);
    assert_eq!(l.fields[0], ("route".to_owned(), Value::Str(route.clone())));
    assert_eq!(l.fields[1], ("n".to_owned(), Value::I64(3)));
    // The direct API has the same two-step path.
    rec.log(locus_telemetry::record::Level::Info, "t", &note, &[]);
    let last = rec.recent(1);
    let Body::Log(l) = &last[0].body else {
        panic!()
    };
    assert_eq!(l.message, note);
}
