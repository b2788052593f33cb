//! The SeaweedFS launcher itself: it starts a server that checks signatures, and leaves
//! nothing behind — not when dropped, and not when the test process is SIGKILLed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_testkit::seaweed::{run_async, SeaweedS3};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sockets_of(ports: &[u16]) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/tmp").unwrap().flatten() {
        let name = e.file_name().into_string().unwrap_or_default();
        if name.starts_with("seaweedfs-")
            && ports.iter().any(|p| name.ends_with(&format!("-{p}.sock")))
        {
            found.push(name);
        }
    }
    found
}

fn pid_alive(pid: i32) -> bool {
    // A zombie still "exists"; look at its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn starts_checks_signatures_and_cleans_up_on_drop() {
    let t = Instant::now();
    let s3 = SeaweedS3::start();
    eprintln!("weed mini ready in {:?} at {}", t.elapsed(), s3.endpoint());
    let ports = s3.ports().to_vec();
    let dir = s3.dir().to_path_buf();
    assert!(!sockets_of(&ports).is_empty(), "weed made no sockets?");

    let bucket = s3.unique_bucket("Kit Test");
    assert!(bucket.starts_with("kit-test-"), "{bucket}");

    // Signed with the right key: listed. Signed with a wrong key: refused.
    let client = s3.client();
    let b = bucket.clone();
    let names = run_async(move || async move {
        let out = client.list_buckets().send().await.expect("list buckets");
        out.buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect::<Vec<_>>()
    });
    assert!(names.contains(&b), "{names:?}");

    let conf = s3
        .client()
        .config()
        .to_builder()
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            s3.access_key(),
            "not-the-secret",
            None,
            None,
            "test",
        ))
        .build();
    let wrong = aws_sdk_s3::Client::from_conf(conf);
    let err = run_async(move || async move { wrong.list_buckets().send().await.err() })
        .expect("a wrong secret must be refused");
    let code = err
        .as_service_error()
        .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::code(e))
        .map(str::to_owned);
    assert_eq!(code.as_deref(), Some("SignatureDoesNotMatch"), "{err:?}");

    drop(s3);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        sockets_of(&ports).is_empty(),
        "sockets left: {:?}",
        sockets_of(&ports)
    );
    for p in &ports {
        assert!(locus_testkit::net::port_is_free(*p), "port {p} still taken");
    }
}

/// Helper run as a child process by the next test: starts a server, prints its pid and
/// ports, and waits to be killed.
#[test]
#[ignore = "helper for server_dies_with_a_killed_test_process"]
fn helper_start_and_wait() {
    if std::env::var_os("LOCUS_TESTKIT_HELPER").is_none() {
        return;
    }
    let s3 = SeaweedS3::shared();
    println!(
        "READY dir={} ports={}",
        s3.dir().display(),
        s3.ports()
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn server_dies_with_a_killed_test_process() {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "helper_start_and_wait",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LOCUS_TESTKIT_HELPER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut ready = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // The harness prints `test NAME ... ` before the helper's own output.
        if let Some((_, rest)) = line.split_once("READY ") {
            ready = Some(rest.to_owned());
            break;
        }
    }
    let ready = ready.expect("helper never got a server up");
    let (dir, ports) = ready.split_once(" ports=").unwrap();
    let dir = dir.strip_prefix("dir=").unwrap().to_owned();
    let ports: Vec<u16> = ports.split(',').map(|p| p.parse().unwrap()).collect();

    // Find the weed process: the helper's child.
    let helper = child.id() as i32;
    let children = std::fs::read_dir(format!("/proc/{helper}/task"))
        .unwrap()
        .flatten()
        .flat_map(|t| {
            std::fs::read_to_string(t.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    assert_eq!(
        children.len(),
        1,
        "expected one weed child, got {children:?}"
    );
    let weed = children[0];
    assert!(pid_alive(weed));

    child.kill().unwrap(); // SIGKILL: no destructor, no atexit.
    child.wait().unwrap();
    let t = Instant::now();
    while pid_alive(weed) && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_alive(weed), "weed {weed} survived its test process");

    // Leftovers of a SIGKILLed run are swept by the next start.
    assert!(std::path::Path::new(&dir).exists());
    let next = SeaweedS3::start();
    drop(next);
    // The killed server's sockets may accept connections a moment longer (weed's
    // listeners outlive its main pid briefly); every later sweep tries again until the
    // leftovers are gone.
    let gone = || !std::path::Path::new(&dir).exists() && sockets_of(&ports).is_empty();
    let t = Instant::now();
    while !gone() && t.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
        locus_testkit::seaweed::sweep_stale();
    }
    assert!(!std::path::Path::new(&dir).exists(), "{dir} not swept");
    assert!(sockets_of(&ports).is_empty(), "{:?}", sockets_of(&ports));
}
