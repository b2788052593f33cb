//! The built-in transport and a private CA (issue 21): SeaweedFS's S3 over HTTPS with a
//! certificate of a CA no system trusts. With `ca_file` naming that CA the uploads
//! arrive (read back over HTTPS too); without it every attempt fails on the
//! certificate, counted by the breaker, and the app goes on. A `ca_file` that is not PEM
//! certificates is refused by `validate` with a typed error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::common;

use locus_telemetry::breaker::ManualClock;
use locus_telemetry::sink::s3::{decode_batch, Destination, DiagnosticsStore, S3Options};
use locus_telemetry::worker::DestinationStatus;
use locus_telemetry::{Level, Settings, SettingsError, Telemetry};
use locus_testkit::seaweed::SeaweedS3;
use locus_testkit::tls::PrivateCa;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const ROUND: Duration = Duration::from_secs(20);
const SHUTDOWN: Duration = Duration::from_millis(500);
const MARGIN: Duration = Duration::from_millis(300);

/// One SeaweedFS with HTTPS for this module, and its CA (kept on disk for the run).
fn server() -> &'static (SeaweedS3, PrivateCa) {
    static SERVER: OnceLock<(SeaweedS3, PrivateCa)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("locus-tls-ca-{}", std::process::id()));
        let ca = PrivateCa::create(&dir).unwrap();
        (SeaweedS3::start_tls(&ca), ca)
    })
}

fn settings(name: &str, bucket: &str, dir: &std::path::Path) -> Settings {
    let (s3, _) = server();
    let https = s3.https_endpoint().unwrap();
    assert!(https.starts_with("https://"), "{https}");
    Settings {
        destination: Some(format!("s3://{bucket}")),
        s3_access_key_id: Some(s3.access_key().to_owned()),
        s3_secret_access_key: Some(s3.secret_key().to_owned()),
        ..common::loopback_settings(name, https, dir)
    }
}

fn dest(t: &Telemetry) -> DestinationStatus {
    t.status()
        .dispatch
        .expect("dispatcher running")
        .destinations[0]
        .clone()
}

#[test]
fn with_ca_file_the_built_in_transport_uploads_over_https() {
    let (s3, ca) = server();
    let bucket = "tls-with-ca";
    s3.create_bucket(bucket);
    let dir = tempfile::tempdir().unwrap();
    let s = Settings {
        ca_file: Some(ca.ca_pem.clone()),
        ..settings("tls-ok", bucket, dir.path())
    };
    s.validate().unwrap();
    let t = Telemetry::builder(s)
        .clock(Arc::new(ManualClock::new()))
        .start();
    t.log(
        Level::Info,
        "locus::gps",
        "over https with a private CA",
        &[],
    );
    assert!(t.flush(ROUND), "{:?}", dest(&t));
    let d = dest(&t);
    assert!(d.uploads_ok >= 1 && d.uploads_failed == 0, "{d:?}");
    t.shutdown(SHUTDOWN);

    // Read back over HTTPS, trusting the same CA.
    let opts = S3Options {
        endpoint: s3.https_endpoint().map(str::to_owned),
        ca_file: Some(ca.ca_pem.clone()),
        ..S3Options::default().or_vars(|k| s3.var(k))
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let messages: Vec<String> = rt.block_on(async {
        let dest = Destination::parse(&format!("s3://{bucket}")).unwrap();
        let store = DiagnosticsStore::open(&dest, &opts).await.unwrap();
        let mut out = Vec::new();
        for o in store.list(None).await.unwrap() {
            for r in decode_batch(&store.get(&o.key).await.unwrap()).unwrap() {
                if let locus_telemetry::record::Body::Log(l) = r.body {
                    out.push(l.message);
                }
            }
        }
        out
    });
    assert!(
        messages.iter().any(|m| m == "over https with a private CA"),
        "{messages:?}"
    );
}

#[test]
fn without_ca_file_every_attempt_fails_on_the_certificate_counted() {
    let (s3, _) = server();
    let bucket = "tls-without-ca";
    s3.create_bucket(bucket);
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::builder(settings("tls-untrusted", bucket, dir.path()))
        .clock(Arc::new(ManualClock::new()))
        .start();
    t.log(Level::Info, "locus::gps", "never lands", &[]);
    let _ = t.flush(ROUND);
    assert!(
        locus_testkit::wait_until(ROUND, || dest(&t).uploads_failed >= 1),
        "{:?}",
        dest(&t)
    );
    let d = dest(&t);
    assert_eq!(d.uploads_ok, 0, "{d:?}");
    // The retention call and two attempts per failed upload, each refused on the
    // certificate.
    assert_eq!(d.attempts, 1 + 2 * d.uploads_failed, "{d:?}");
    assert_eq!(
        u64::from(d.breaker.consecutive_failures),
        d.attempts,
        "{d:?}"
    );
    let why = d.last_error.clone().unwrap_or_default();
    assert!(
        why.contains("cannot reach the server") && why.to_lowercase().contains("cert"),
        "{why}"
    );
    // The app goes on.
    assert!(t.log(Level::Info, "app", "still recording", &[]) > 0);
    let report = t.shutdown(SHUTDOWN);
    assert!(report.took <= SHUTDOWN + MARGIN, "{:?}", report.took);
}

#[test]
fn a_ca_file_that_is_not_pem_certificates_is_a_typed_settings_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.pem", None),
        ("empty.pem", Some("")),
        (
            "key-only.pem",
            Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        ),
        (
            "broken.pem",
            Some("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"),
        ),
        (
            "unterminated.pem",
            Some("-----BEGIN CERTIFICATE-----\nMIIB\n"),
        ),
    ];
    for (name, text) in cases {
        let path = dir.path().join(name);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let s = Settings {
            ca_file: Some(path),
            data_dir: dir.path().into(),
            ..Settings::default()
        };
        let err = s.validate().unwrap_err();
        assert!(matches!(err, SettingsError::CaFile(_)), "{name}: {err}");
        assert_eq!(err.key(), Some("ca_file"), "{name}");
        assert!(err.to_string().contains(name), "{name}: {err}");
        // At start, the invalid value costs only itself: the platform's roots are used.
        let (used, replaced) = s.with_defaults_for_invalid();
        assert_eq!(used.ca_file, None);
        assert_eq!(replaced.len(), 1, "{name}");
    }
    // The CA of the TLS server is a valid ca_file.
    let (_, ca) = server();
    let ok = Settings {
        ca_file: Some(ca.ca_pem.clone()),
        ..Settings::default()
    };
    ok.validate().unwrap();
}
