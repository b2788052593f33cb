//! Issue 19, part 1 as a user sees it: `locus-diag export --redact` of a demo holds no
//! coordinate field and no coordinate in its text (read back with the real
//! `zcat | jq`), says in its summary what it removed, takes the app's declared field
//! categories from `--config` and coarsens only when asked; and `locus-diag redact`
//! writes, line for line, exactly what the bundle's redaction makes of a message — on
//! the 478-line table of `locus-privacy` (every category the issue names, and benign
//! lines), leaking none of its secrets and keeping the benign lines' technical tokens.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn diag() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.env("RUST_BACKTRACE", "0").stdin(Stdio::null());
    c
}

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("runs");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        c,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `zcat FILE | jq -c .`: one JSON value per line, or a loud failure naming the fix.
fn zcat_jq(file: &Path) -> Vec<serde_json::Value> {
    let jq = Command::new("jq").arg("--version").output();
    assert!(
        jq.is_ok_and(|o| o.status.success()),
        "jq is missing: `apt-get install jq` (scripts/test installs it)"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; zcat -- "$1" | jq -c ."#)
        .arg("bash")
        .arg(file)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "zcat | jq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Field keys that are a position or a motion.
const COORDINATE_KEYS: &[&str] = &[
    "lat",
    "lon",
    "lng",
    "latitude",
    "longitude",
    "accuracy_m",
    "speed_mps",
];

/// A decimal number with four or more decimals: the shape of a coordinate.
fn has_coordinate(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i < b.len() && b[i] == b'.' && i - start <= 3 {
                let d = i + 1;
                let mut j = d;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j - d >= 4 {
                    return true;
                }
                i = j;
            }
        } else {
            i += 1;
        }
    }
    false
}

fn log_fields(records: &[serde_json::Value]) -> Vec<(String, serde_json::Value)> {
    records
        .iter()
        .filter_map(|r| r["fields"].as_object())
        .flat_map(|f| f.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

#[test]
fn a_redacted_bundle_of_the_demo_has_no_coordinate_field_and_no_coordinate_in_text() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // 2000 fixes: the demo also writes "track segment closed near LAT,LON" twice.
    ok(diag()
        .args([
            "demo",
            "--no-upload",
            "--seconds",
            "2",
            "--hz",
            "1000",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::null()));

    // Plain: the coordinates are there (so the checks below can fail).
    let plain = tmp.path().join("plain.jsonl.gz");
    ok(diag()
        .args(["export", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&plain));
    let records = zcat_jq(&plain);
    let fields = log_fields(&records);
    let lats = fields.iter().filter(|(k, _)| k == "lat").count();
    assert!(lats >= 1000, "{lats} lat fields in the plain bundle");
    assert!(records
        .iter()
        .any(|r| r["message"].as_str().is_some_and(has_coordinate)));

    // Redacted.
    let red = tmp.path().join("red.jsonl.gz");
    let said = ok(diag()
        .args(["export", "--redact", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&red));
    let records = zcat_jq(&red);
    assert_eq!(records.len(), zcat_jq(&plain).len());
    let fields = log_fields(&records);
    for (k, _) in &fields {
        assert!(!COORDINATE_KEYS.contains(&k.as_str()), "field {k} kept");
    }
    // Every string but the record's time.
    let mut strings = Vec::new();
    for r in &records {
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("ts");
        strings.extend(locus_testkit::json_strings(&r));
    }
    assert!(strings.len() > records.len());
    for s in &strings {
        assert!(!has_coordinate(s), "{s:?} holds a coordinate");
        assert_eq!(locus_privacy::find_pii(s), None, "{s:?} leaks");
    }
    assert!(
        strings
            .iter()
            .any(|s| s.contains("track segment closed near <location>")),
        "the demo's segment lines are there, redacted"
    );
    // Technical fields and tokens stay.
    let statuses = fields
        .iter()
        .filter(|(k, v)| k == "status" && *v == 503)
        .count();
    assert!(statuses > 0);
    assert!(strings
        .iter()
        .any(|s| s.contains("503 Slow Down, retrying in 30s")));
    // The summary says what went and what stays.
    let summary = std::fs::read_to_string(tmp.path().join("red.summary.txt")).unwrap();
    assert!(said.starts_with(&summary), "{said}");
    assert!(
        summary.contains(&format!("lat {lats} (location)"))
            && summary.contains(&format!("lon {lats} (location)")),
        "{summary}"
    );
    for needle in [
        "fields removed:",
        "text rewritten:     message ",
        "<location> 2",
        "still in clear:",
        &format!("attempt {statuses}, status {statuses}"),
    ] {
        assert!(
            summary.contains(needle),
            "summary lacks {needle:?}:\n{summary}"
        );
    }

    // The app declares a key technical, and a precision for location.
    let config = tmp.path().join("app.toml");
    std::fs::write(
        &config,
        "[field_categories]\nspeed_mps = \"technical\"\nattempt = \"personal\"\n",
    )
    .unwrap();
    let coarse = tmp.path().join("coarse.jsonl.gz");
    ok(diag()
        .args([
            "export",
            "--redact",
            "--location-decimals",
            "1",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&coarse));
    let fields = log_fields(&zcat_jq(&coarse));
    let lat: Vec<f64> = fields
        .iter()
        .filter(|(k, _)| k == "lat")
        .map(|(_, v)| v.as_f64().unwrap())
        .collect();
    assert_eq!(lat.len(), lats);
    assert!(
        lat.iter()
            .all(|x| (x * 10.0 - (x * 10.0).round()).abs() < 1e-6),
        "{lat:?}"
    );
    assert!(fields.iter().any(|(k, _)| k == "speed_mps"));
    assert!(!fields.iter().any(|(k, _)| k == "attempt"));
    let summary = std::fs::read_to_string(tmp.path().join("coarse.summary.txt")).unwrap();
    assert!(
        summary.contains("fields coarsened:   accuracy_m"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("attempt {statuses} (personal)")),
        "{summary}"
    );

    // A declaration that is not a category is refused, naming the setting.
    std::fs::write(&config, "[field_categories]\nlat = \"public\"\n").unwrap();
    let refused = diag()
        .args(["export", "--redact", "--preview", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("field_categories") && err.contains("public"),
        "{err}"
    );
    // Coarsening is only for a redacted bundle, and never finer than 2 decimals.
    for args in [
        &["export", "--location-decimals", "1", "--preview"][..],
        &[
            "export",
            "--redact",
            "--location-decimals",
            "3",
            "--preview",
        ][..],
    ] {
        let out = diag()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
    }
}

#[test]
fn redact_writes_what_the_bundle_writes_and_leaks_none_of_the_table() {
    let table = include_str!("../../../locus-privacy/tests/data/redact_lines.tsv");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    assert!(rows.len() >= 300);
    let input: String = rows.iter().map(|r| format!("{}\n", r[1])).collect();
    let mut child = diag()
        .args(["redact", "--counts"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), rows.len());
    let (mut secrets, mut leaked, mut tokens, mut kept) = (0, Vec::new(), 0, 0);
    for (row, got) in rows.iter().zip(&lines) {
        // Exactly the bundle's function.
        assert_eq!(
            *got,
            locus_privacy::redact::redact_text(row[1]).0,
            "{:?}",
            row[1]
        );
        let benign = !row[2..].iter().any(|m| m.starts_with('-'));
        for m in &row[2..] {
            if let Some(s) = m.strip_prefix('-') {
                secrets += 1;
                if got.contains(s) {
                    leaked.push(format!("{:?} → {got:?} holds {s:?}", row[1]));
                }
            } else if let Some(k) = m.strip_prefix('+') {
                if benign {
                    tokens += 1;
                    kept += usize::from(got.contains(k));
                }
            }
        }
    }
    let pct = 100.0 * kept as f64 / tokens as f64;
    println!(
        "locus-diag redact: {} lines, {} of {secrets} secrets leaked, {kept} of {tokens} technical tokens of benign lines kept ({pct:.1} %)",
        lines.len(),
        leaked.len()
    );
    assert!(leaked.is_empty(), "{}", leaked.join("\n"));
    assert!(pct >= 90.0, "{pct:.1} %");
    let counts = String::from_utf8_lossy(&out.stderr);
    assert!(
        counts.starts_with("placeholders: ") && counts.contains("<location> "),
        "{counts}"
    );

    // A control character read is shown escaped, never written.
    let mut child = diag()
        .arg("redact")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sync \x1b[2J failed in 12ms\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("12ms"), "{text:?}");
}
