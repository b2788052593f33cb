//! Diagnostics encrypted to the user's own key (issue 22), end to end through the real
//! upload path: with `diagnostics_recipients` set, the bucket — a `file://` directory and
//! a real S3 server (SeaweedFS) — holds only `….log.gz.age` objects, none of which shows
//! a logged line in the clear, and the matching identity reads every record back. An
//! invalid recipient turns uploads off instead of sending plaintext.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use age::secrecy::ExposeSecret;
use locus_telemetry::record::{Body, Level, Record};
use locus_telemetry::recorder::FieldValue;
use locus_telemetry::sink::s3::{
    decode_batch, decrypt_reader, parse_key, Destination, DiagnosticsStore, Identities, S3Options,
};
use locus_telemetry::{Settings, Telemetry};
use locus_testkit::seaweed::{run_async, SeaweedS3};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// A line no ciphertext will show by chance.
const SECRET_LINE: &str = "fix 52.5200,13.4050 at Anna's home";

fn keypair() -> (Identities, String) {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    (
        Identities::parse(id.to_string().expose_secret()).unwrap(),
        public,
    )
}

fn record_some(t: &Telemetry) {
    for i in 0..300u64 {
        t.log(
            Level::Info,
            "locus::gps",
            SECRET_LINE,
            &[("i", FieldValue::U64(i))],
        );
    }
    assert!(
        t.flush(Duration::from_secs(20)),
        "flush finished: {:?}",
        t.status().dispatch
    );
    assert!(t.shutdown(Duration::from_secs(5)).dispatcher_finished);
}

/// Every object of the store: (key, stored bytes).
fn objects(dest: &Destination, opts: S3Options) -> Vec<(String, Vec<u8>)> {
    let dest = dest.clone();
    run_async(move || async move {
        let store = DiagnosticsStore::open(&dest, &opts).await.unwrap();
        let mut out = Vec::new();
        for o in store.list(None).await.unwrap() {
            let body = store.get(&o.key).await.unwrap();
            out.push((o.key, body));
        }
        out
    })
}

/// Checks the bucket holds only encrypted objects under the layout, none readable as
/// it is, and returns every record the identity decrypts.
fn only_sealed_objects(objects: &[(String, Vec<u8>)], ids: &Identities) -> Vec<Record> {
    assert!(!objects.is_empty(), "something was uploaded");
    let mut records = Vec::new();
    for (key, body) in objects {
        assert!(key.ends_with(".log.gz.age"), "only .age objects: {key}");
        let parts = parse_key(key).unwrap_or_else(|| panic!("{key} keeps the layout"));
        assert_eq!(parts.device_id, "sealed-device");
        assert!(body.starts_with(b"age-encryption.org/v1\n"), "{key}");
        assert!(
            decode_batch(body).is_err(),
            "not readable without the key: {key}"
        );
        assert!(
            !String::from_utf8_lossy(body).contains("Anna"),
            "no plaintext in {key}"
        );
        let mut gz = Vec::new();
        decrypt_reader(&body[..], ids)
            .unwrap()
            .read_to_end(&mut gz)
            .unwrap();
        records.extend(decode_batch(&gz).unwrap());
    }
    records
}

fn logged_lines(records: &[Record]) -> usize {
    records
        .iter()
        .filter(|r| matches!(&r.body, Body::Log(l) if l.message == SECRET_LINE))
        .count()
}

fn sealed_settings(dir: &Path, recipients: Vec<String>) -> Settings {
    Settings {
        data_dir: dir.join("data"),
        device_id: Some("sealed-device".into()),
        destination: Some(format!("file://{}", dir.join("bucket").display())),
        diagnostics_recipients: recipients,
        ring_bytes: 256 * 1024,
        ..Settings::default()
    }
}

#[test]
fn a_file_bucket_holds_only_age_objects_that_the_identity_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, public) = keypair();
    let (other_ids, other_public) = keypair();
    let t = Telemetry::start(sealed_settings(dir.path(), vec![public, other_public]));
    assert!(t.status().problems.is_empty(), "{:?}", t.status().problems);
    record_some(&t);
    let dest =
        Destination::parse(&format!("file://{}", dir.path().join("bucket").display())).unwrap();
    let objects = objects(&dest, S3Options::default());
    assert_eq!(logged_lines(&only_sealed_objects(&objects, &ids)), 300);
    // Either recipient reads it; a stranger's key does not.
    assert_eq!(
        logged_lines(&only_sealed_objects(&objects, &other_ids)),
        300
    );
    let (stranger, _) = keypair();
    assert!(decrypt_reader(&objects[0].1[..], &stranger).is_err());
}

#[test]
fn without_recipients_uploads_stay_plain_gzip_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(sealed_settings(dir.path(), Vec::new()));
    record_some(&t);
    let dest =
        Destination::parse(&format!("file://{}", dir.path().join("bucket").display())).unwrap();
    let objects = objects(&dest, S3Options::default());
    assert!(!objects.is_empty());
    let mut lines = 0;
    for (key, body) in &objects {
        assert!(key.ends_with(".log.gz"), "{key}");
        lines += logged_lines(&decode_batch(body).unwrap());
    }
    assert_eq!(lines, 300);
}

#[test]
fn an_invalid_recipient_turns_uploads_off_rather_than_send_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::start(sealed_settings(dir.path(), vec!["age1typo".into()]));
    let problems = t.status().problems;
    assert!(
        problems
            .iter()
            .any(|p| format!("{p:?}").contains("diagnostics_recipients")),
        "the status names the setting: {problems:?}"
    );
    record_some(&t);
    let bucket = dir.path().join("bucket");
    let stored = walk_files(&bucket);
    assert!(stored.is_empty(), "nothing uploaded: {stored:?}");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else if !e.file_name().to_string_lossy().starts_with('.') {
            out.push(p);
        }
    }
    out
}

#[test]
fn seaweedfs_holds_only_age_objects_that_the_identity_reads_back() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("sealed");
    let dir = tempfile::tempdir().unwrap();
    let (ids, public) = keypair();
    let t = Telemetry::start(Settings {
        destination: Some(format!("s3://{bucket}")),
        s3_endpoint: Some(s3.endpoint().to_owned()),
        s3_region: Some(s3.region().to_owned()),
        s3_access_key_id: Some(s3.access_key().to_owned()),
        s3_secret_access_key: Some(s3.secret_key().to_owned()),
        s3_path_style: true,
        attempt_timeout_secs: 5,
        ..sealed_settings(dir.path(), vec![public])
    });
    record_some(&t);
    let dest = Destination::parse(&format!("s3://{bucket}")).unwrap();
    let opts = S3Options::default().or_vars(|k| s3.var(k));
    let objects = objects(&dest, opts);
    assert_eq!(logged_lines(&only_sealed_objects(&objects, &ids)), 300);
}
