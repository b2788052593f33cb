//! Diagnostics encrypted to the user's own key (issue 22), as a user runs it: a demo with
//! `--recipient age1…` uploads only `….log.gz.age` objects (to the embedded `file://`
//! bucket and to SeaweedFS), `ls` marks them, `cat --identity key.txt` reads them back,
//! the standard tool does too (`age -d -i key.txt x.log.gz.age | zcat | jq`, Debian's
//! `age`), and without the identity — or with the wrong one — nothing readable is
//! printed and the command fails saying why. Keys are made with `age-keygen`.

use locus_testkit::seaweed::SeaweedS3;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What the demo logs that must never show in the clear.
const PLAIN_MARKER: &str = "gps fix";

fn diag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.env("RUST_BACKTRACE", "0").stdin(Stdio::null());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(c: &mut Command) -> Output {
    let out = c.output().expect("runs");
    assert!(
        out.status.success(),
        "{c:?} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// A loud failure naming the install command when a tool is missing.
fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: `apt-get install {package}` (scripts/test installs it)"
    );
}

/// `age-keygen -o FILE`: (identity file, its public key).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    require("age-keygen", "age");
    let file = dir.join(name);
    ok(Command::new("age-keygen").arg("-o").arg(&file));
    let public = ok(Command::new("age-keygen").arg("-y").arg(&file));
    let public = text(&public.stdout).trim().to_owned();
    assert!(public.starts_with("age1"), "{public}");
    (file, public)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                // Dot-files are the store's temp files, never objects (`ls` skips them).
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// A one-second demo into `data` encrypted to `recipient`; the stored files.
fn sealed_demo(data: &Path, recipient: &str) -> Vec<PathBuf> {
    ok(diag()
        .args(["demo", "--seconds", "1", "--device-id", "pixel-7"])
        .args(["--recipient", recipient, "--data-dir"])
        .arg(data));
    walk(&data.join("bucket").join("diagnostics"))
}

#[test]
fn an_encrypted_demo_round_trips_through_cat_identity_and_age_zcat_jq() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keygen(tmp.path(), "key.txt");
    let (wrong_key, _) = keygen(tmp.path(), "wrong.txt");
    let data = tmp.path().join("data");
    let files = sealed_demo(&data, &public);
    assert!(!files.is_empty(), "the demo uploaded");
    for f in &files {
        let name = f.display().to_string();
        assert!(name.ends_with(".log.gz.age"), "only .age objects: {name}");
        let bytes = std::fs::read(f).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "{name}");
        assert!(
            !text(&bytes).contains(PLAIN_MARKER),
            "no plaintext in {name}"
        );
    }

    // `ls` marks them.
    let bucket = data.join("bucket");
    let ls = ok(diag().args(["ls", &file_url(&bucket)]));
    let listing = text(&ls.stdout);
    assert_eq!(listing.lines().count(), files.len(), "{listing}");
    assert!(
        listing.lines().all(|l| l.ends_with("  age")),
        "every line marked: {listing}"
    );
    assert!(
        text(&ls.stderr).contains("encrypted"),
        "{}",
        text(&ls.stderr)
    );
    let ls_json = ok(diag().args(["ls", "--json", &file_url(&bucket)]));
    for line in text(&ls_json.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["encrypted"], true, "{line}");
    }

    // `cat --identity` reads every file back: records, in order, with the demo's lines.
    let urls: Vec<String> = files.iter().map(|f| file_url(f)).collect();
    let cat = ok(diag()
        .arg("cat")
        .args(&urls)
        .arg("--json")
        .arg("--identity")
        .arg(&key));
    let cat_lines: Vec<serde_json::Value> = text(&cat.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        cat_lines.iter().any(|l| l["message"] == PLAIN_MARKER),
        "the demo's lines are back"
    );
    assert!(cat_lines
        .windows(2)
        .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));

    // The standard tool reads the same: age -d -i key.txt | zcat | jq.
    require("age", "age");
    require("jq", "jq");
    let mut via_age = Vec::new();
    for f in &files {
        let out = Command::new("bash")
            .arg("-c")
            .arg(r#"set -o pipefail; age -d -i "$1" -- "$2" | zcat | jq -c ."#)
            .arg("bash")
            .arg(&key)
            .arg(f)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "age -d | zcat | jq failed: {}",
            text(&out.stderr)
        );
        via_age.extend(
            text(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    // The same records (numbers may differ in form: jq writes 72.0 where serde writes 72).
    let ids = |lines: &[serde_json::Value]| -> Vec<(u64, String)> {
        lines
            .iter()
            .map(|l| {
                (
                    l["seq"].as_u64().unwrap(),
                    l["kind"].to_string() + &l["message"].to_string(),
                )
            })
            .collect()
    };
    assert!(
        ids(&via_age) == ids(&cat_lines),
        "age | zcat | jq and cat --identity agree: {} and {} records",
        via_age.len(),
        cat_lines.len()
    );
    assert!(via_age.iter().any(|l| l["message"] == PLAIN_MARKER));

    // Without the identity, or with the wrong one: nothing printed, a clear error.
    for (args, says) in [
        (vec![], "is encrypted"),
        (
            vec!["--identity".to_owned(), wrong_key.display().to_string()],
            "none of the given identities",
        ),
        (
            vec![
                "--identity".to_owned(),
                tmp.path().join("missing.txt").display().to_string(),
            ],
            "cannot read identity file",
        ),
    ] {
        let out = diag()
            .arg("cat")
            .arg(&urls[0])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: nothing printed: {}",
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A public key given as the identity is named as such.
    let pub_file = tmp.path().join("public.txt");
    std::fs::write(&pub_file, format!("{public}\n")).unwrap();
    let out = diag()
        .args(["cat", &urls[0], "--identity"])
        .arg(&pub_file)
        .output()
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("public key"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn demo_refuses_a_bad_recipient_and_a_private_key_without_echoing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = keygen(tmp.path(), "key.txt");
    let secret = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    for (bad, says) in [("age1typo", "age1typo"), (secret.as_str(), "private key")] {
        let out = diag()
            .args(["demo", "--seconds", "0", "--recipient", bad, "--data-dir"])
            .arg(tmp.path().join("data"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} refused");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert!(
            !err.contains(&secret[16..]),
            "the private key is never echoed: {err}"
        );
    }
}

#[test]
fn an_encrypted_demo_to_seaweedfs_leaves_only_age_objects_and_cat_reads_them() {
    let s3 = SeaweedS3::shared();
    let bucket = s3.unique_bucket("sealed");
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keygen(tmp.path(), "key.txt");
    let url = format!("s3://{bucket}");
    let mut c = diag();
    c.args(["demo", "--seconds", "1", "--device-id", "pixel-7"])
        .args(["--recipient", &public, "--bucket", &url, "--data-dir"])
        .arg(tmp.path().join("data"));
    for (k, v) in s3.env_vars() {
        c.env(k, v);
    }
    ok(&mut c);
    let mut c = diag();
    c.args(["ls", "--json", &url]);
    for (k, v) in s3.env_vars() {
        c.env(k, v);
    }
    let listing = text(&ok(&mut c).stdout);
    let objects: Vec<serde_json::Value> = listing
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!objects.is_empty(), "the demo uploaded");
    for o in &objects {
        let k = o["key"].as_str().unwrap();
        assert!(k.ends_with(".log.gz.age") && o["encrypted"] == true, "{o}");
    }
    let first = objects[0]["url"].as_str().unwrap().to_owned();
    let mut c = diag();
    c.args(["cat", &first, "--json", "--identity"]).arg(&key);
    for (k, v) in s3.env_vars() {
        c.env(k, v);
    }
    let cat = text(&ok(&mut c).stdout);
    assert!(cat.lines().count() > 0, "records decrypted");
    for l in cat.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["seq"].is_u64(), "{l}");
    }
    let mut c = diag();
    c.args(["cat", &first]);
    for (k, v) in s3.env_vars() {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("is encrypted"),
        "{}",
        text(&out.stderr)
    );
}
