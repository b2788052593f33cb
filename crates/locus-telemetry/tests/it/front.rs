//! The front door's promises: the handle is a guard (dropping the last clone shuts down
//! within the settings' deadline), `shutdown` on one clone ends telemetry for all of
//! them, and device conditions hold uploads back without an attempt, counting what the
//! ring overwrites meanwhile. Against the embedded `file://` destination: real files.

use locus_telemetry::inspect::bucket::decode_batch;
use locus_telemetry::inspect::DataDir;
use locus_telemetry::{
    BreakerState, Conditions, DestinationKind, DestinationStatus, FieldValue, Level, Network,
    SessionOutcome, Settings, Telemetry, UploadWait,
};
use std::path::Path;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

const PATIENCE: Duration = Duration::from_secs(10);

fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        // Rounds are driven by `flush` and condition changes only.
        upload_interval_secs: 3600,
        ..Settings::default()
    }
}

/// Every record in the embedded bucket, by sequence number.
fn shipped(dir: &Path) -> Vec<u64> {
    fn walk(p: &Path, out: &mut Vec<u64>) {
        for entry in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.to_string_lossy().ends_with(".log.gz") {
                let records = decode_batch(&std::fs::read(&path).unwrap()).unwrap();
                out.extend(records.iter().map(|r| r.seq));
            }
        }
    }
    let mut seqs = Vec::new();
    walk(&dir.join("bucket"), &mut seqs);
    seqs.sort_unstable();
    seqs
}

/// The user's bucket as `status()` shows it now.
fn s3_status(t: &Telemetry) -> DestinationStatus {
    t.status()
        .destination(DestinationKind::S3)
        .cloned()
        .unwrap()
}

fn log_n(t: &Telemetry, n: u64, msg: &str) {
    for i in 0..n {
        t.log(Level::Info, "app", msg, &[("i", FieldValue::U64(i))]);
    }
}

#[test]
fn dropping_the_last_handle_shuts_down_and_the_next_start_says_exited() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    let clone = t.clone();
    drop(t);
    // A clone still holds it: still recording, still running.
    assert!(clone.log(Level::Info, "app", "after the first drop", &[]) > 0);
    assert!(!clone.status().shut_down);
    drop(clone);
    // The guard shut down: the session is marked exited and the ring file (and its
    // lock) were let go, so this start owns the data dir again, in this very process.
    let next = Telemetry::start(settings(dir.path()));
    assert_eq!(next.previous_session().outcome, SessionOutcome::Exited);
    assert!(next.status().recorder.file_backed(), "{:?}", next.status());
    assert!(!next.status().recorder.owned_elsewhere);
    // Its last round shipped what the dropped handle had recorded.
    let marker = DataDir::new(dir.path()).session_marker().unwrap().unwrap();
    assert!(marker.start_seq > 1);
    assert!(!shipped(dir.path()).is_empty());
    next.shutdown(Duration::from_millis(500));
}

#[test]
fn shutdown_on_one_clone_ends_telemetry_for_every_clone() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    let other = t.clone();
    assert!(t.log(Level::Info, "app", "before", &[]) > 0);
    let first = t.shutdown(Duration::from_millis(500));
    assert!(first.flushed && first.dispatcher_finished, "{first:?}");

    // Every recording path through the other clone is ignored from now on...
    assert_eq!(other.log(Level::Warn, "app", "after shutdown", &[]), 0);
    other.counter("after_shutdown", 1);
    other.gauge("after_shutdown", 1.0);
    let subscriber = tracing_subscriber::registry().with(other.layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!("through the layer after shutdown");
    });
    assert!(!other.flush(Duration::from_millis(100)));
    // ...reads go on, and say so.
    let recent = other.recent(usize::MAX);
    assert!(recent.iter().any(|r| r.to_text_line().contains("before")));
    assert!(
        !recent
            .iter()
            .any(|r| r.to_text_line().contains("after shutdown")),
        "{recent:?}"
    );
    assert!(other.status().shut_down);
    // A second shutdown, from any clone, reports the first one.
    assert_eq!(other.shutdown(Duration::from_millis(500)), first);
    drop((t, other));

    // Nothing recorded after the shutdown reached the ring file either.
    let ring = DataDir::new(dir.path()).read_ring().unwrap();
    assert!(!ring
        .records
        .iter()
        .any(|r| r.to_text_line().contains("after shutdown")));
    let next = Telemetry::start(settings(dir.path()));
    assert_eq!(next.previous_session().outcome, SessionOutcome::Exited);
    next.shutdown(Duration::from_millis(500));
}

#[test]
fn a_metered_network_holds_s3_uploads_back_without_an_attempt_until_wifi() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    t.set_conditions(Conditions {
        network: Network::Metered,
        ..Conditions::default()
    });
    // The first round may have run at start, before the app reported the network;
    // from the first flush on, the gate holds.
    assert!(!t.flush(PATIENCE), "flush says the records are not shipped");
    let before = s3_status(&t);
    let shipped_before = shipped(dir.path());
    log_n(&t, 50, "on mobile data");
    assert!(!t.flush(PATIENCE));
    let s3 = s3_status(&t);
    assert_eq!(s3.waiting, Some(UploadWait::MeteredNetwork), "{s3:?}");
    assert_eq!(
        (s3.attempts, s3.uploads_ok, s3.uploads_failed),
        (before.attempts, before.uploads_ok, before.uploads_failed),
        "no attempt while held"
    );
    assert_eq!(s3.breaker.state, BreakerState::Closed);
    assert_eq!(s3.breaker.consecutive_failures, 0);
    assert_eq!(
        shipped(dir.path()),
        shipped_before,
        "nothing more left the device"
    );
    assert_eq!(
        t.status().conditions.network,
        Network::Metered,
        "status shows what the app reported"
    );

    // Wi-Fi: the change wakes the uploader; everything held back goes.
    t.set_conditions(Conditions::default());
    assert!(t.flush(PATIENCE));
    let s3 = s3_status(&t);
    assert_eq!(s3.waiting, None);
    assert!(s3.uploads_ok > before.uploads_ok, "{s3:?}");
    let seqs = shipped(dir.path());
    let newest = t.recent(1)[0].seq;
    assert_eq!(seqs.first(), Some(&1), "from the first record");
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free, once each"
    );
    assert!(seqs.len() > 50, "{} shipped", seqs.len());
    assert!(*seqs.last().unwrap() <= newest);
    t.shutdown(Duration::from_millis(500));
}

#[test]
fn metered_uploads_go_when_the_setting_allows_them_and_charging_lifts_battery_rules() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        upload_on_metered: true,
        ..settings(dir.path())
    });
    t.set_conditions(Conditions {
        network: Network::Metered,
        battery_low: true,
        power_save: true,
        charging: false,
        ..Conditions::default()
    });
    // The first round may have run at start, before the app reported the battery; from
    // the first flush on, the gate holds.
    assert!(!t.flush(PATIENCE));
    let before = shipped(dir.path());
    log_n(&t, 5, "low battery");
    assert!(!t.flush(PATIENCE));
    let s3 = s3_status(&t);
    assert_eq!(s3.waiting, Some(UploadWait::BatteryLow));
    assert_eq!(shipped(dir.path()), before, "nothing more left the device");

    t.set_conditions(Conditions {
        network: Network::Metered,
        battery_low: true,
        power_save: true,
        charging: true,
        ..Conditions::default()
    });
    assert!(t.flush(PATIENCE), "metered allowed, charging: uploads go");
    assert!(shipped(dir.path()).len() >= before.len() + 5);
    t.shutdown(Duration::from_millis(500));
}

#[test]
fn records_held_back_past_the_ring_are_counted_and_the_rest_ship_next_launch() {
    let dir = tempfile::tempdir().unwrap();
    let small = Settings {
        ring_bytes: 64 * 1024,
        ..settings(dir.path())
    };
    let t = Telemetry::start(small.clone());
    t.set_conditions(Conditions {
        network: Network::None,
        ..Conditions::default()
    });
    // The first round may have run at start, before the app reported the network
    // (shipping the session's first records); from the first flush on, the gate holds.
    assert!(!t.flush(PATIENCE));
    let before = s3_status(&t);
    let shipped_before = shipped(dir.path());
    // Far more than a 64 KiB ring holds.
    log_n(
        &t,
        5_000,
        "offline in the mountains, a long line to fill the ring fast",
    );
    assert!(!t.flush(PATIENCE));
    let s3 = s3_status(&t);
    assert_eq!(s3.waiting, Some(UploadWait::NoNetwork));
    assert_eq!(s3.attempts, before.attempts, "no attempt while held");
    let oldest = t.recent(usize::MAX)[0].seq;
    assert!(oldest > before.shipped_through + 1, "the ring lapped");
    assert_eq!(
        s3.overwritten_unshipped,
        oldest - 1 - before.shipped_through,
        "every unshipped record before the ring's oldest was overwritten: {s3:?}"
    );
    // Shut down offline: nothing is sent, the deferred records stay in the ring.
    let report = t.shutdown(Duration::from_millis(500));
    assert!(!report.flushed, "held back, so not flushed: {report:?}");
    assert_eq!(shipped(dir.path()), shipped_before);
    drop(t);

    // Next launch, on Wi-Fi (the default): the ring's records ship from where the count
    // left off (the new session's own records may overwrite a few more first: counted
    // too), none counted twice, none missed.
    let held = s3.overwritten_unshipped;
    let next = Telemetry::start(small);
    assert!(next.flush(PATIENCE));
    let s3 = s3_status(&next);
    let seqs: Vec<u64> = shipped(dir.path())
        .into_iter()
        .filter(|&seq| seq > before.shipped_through)
        .collect();
    assert!(
        *seqs.first().unwrap() >= oldest,
        "{:?} vs {oldest}",
        &seqs[..3]
    );
    assert_eq!(
        held + s3.overwritten_unshipped,
        seqs.first().unwrap() - 1 - before.shipped_through,
        "{s3:?}"
    );
    assert!(seqs.len() > 100, "{} shipped", seqs.len());
    next.shutdown(Duration::from_millis(500));
}

#[test]
fn community_reports_may_use_a_metered_network_but_not_no_network() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(Settings {
        community_url: Some("http://127.0.0.1:9".into()),
        ..settings(dir.path())
    });
    t.set_community_telemetry(true).unwrap();
    t.set_conditions(Conditions {
        network: Network::Metered,
        ..Conditions::default()
    });
    assert!(!t.flush(PATIENCE));
    let status = t.status();
    let community = status.destination(DestinationKind::Community).unwrap();
    assert_eq!(community.waiting, None, "{community:?}");
    let s3 = status.destination(DestinationKind::S3).unwrap();
    assert_eq!(s3.waiting, Some(UploadWait::MeteredNetwork));

    t.set_conditions(Conditions {
        network: Network::None,
        ..Conditions::default()
    });
    assert!(!t.flush(PATIENCE));
    let status = t.status();
    let community = status.destination(DestinationKind::Community).unwrap();
    assert_eq!(community.waiting, Some(UploadWait::NoNetwork));
    t.shutdown(Duration::from_millis(500));
}

#[test]
fn the_opt_in_choice_and_its_preview_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(settings(dir.path()));
    let before = t.community_preview().unwrap();
    assert!(!before.opted_in && !before.pseudonym_is_kept);
    t.set_community_telemetry(true).unwrap();
    let after = t.community_preview().unwrap();
    assert!(after.opted_in && after.pseudonym_is_kept);
    t.shutdown(Duration::from_millis(500));

    // A degraded start cannot keep the choice, and says why with a typed error.
    let degraded = Telemetry::start(Settings {
        ring_bytes: 1,
        ..settings(dir.path())
    });
    let err = degraded.set_community_telemetry(true).unwrap_err();
    assert!(matches!(
        err,
        locus_telemetry::CommunityChoiceError::Degraded
    ));
    assert!(degraded
        .status()
        .problems
        .iter()
        .any(|p| p.area == locus_telemetry::ProblemArea::Settings
            && p.message.contains("ring_bytes")));
    degraded.shutdown(Duration::from_millis(100));
}
