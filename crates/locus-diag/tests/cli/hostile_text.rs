//! Issue 19, part 2: no command writes what an attacker wrote to a terminal as such.
//! Records written through the library (messages, targets, field keys and values, the
//! app version of the session, the device id) and a bucket key hold ESC sequences
//! (clear screen, OSC 52 clipboard, OSC 8 link), CR, BEL, DEL, C1 controls and every
//! bidi control; each command that shows them — `buffer`, `cat`, `export --preview`,
//! `status`, `ls`, `preview`, `scrub`, text and `--json` — must write no byte of C0 but
//! `\n` and `\t`, no C1, no DEL, no bidi control, and still show the text (escaped).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use locus_telemetry::record::Level;
use locus_telemetry::{FieldValue, Settings, Telemetry};

/// Everything at once: ESC CSI (clear screen), OSC 52 (clipboard), OSC 8 (a link), CR,
/// BEL, a C1 CSI, NEL, DEL and each bidi control.
const NASTY: &str = "A\u{1b}[2J\u{1b}]52;c;aGVsbG8=\u{7}\u{1b}]8;;https://evil.example\u{1b}\\link\u{1b}]8;;\u{1b}\\\rB\u{7}\u{202e}gpx.exe\u{202a}\u{202b}\u{202c}\u{202d}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}\u{9b}31m\u{85}\u{7f}Z";

/// What must never reach a terminal: `None` when `out` is clean.
fn first_hidden(out: &[u8]) -> Option<String> {
    if let Some(b) = out
        .iter()
        .find(|&&b| (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f)
    {
        return Some(format!("byte {b:#04x}"));
    }
    let text = String::from_utf8_lossy(out);
    text.chars()
        .find(|&c| {
            ('\u{80}'..='\u{9f}').contains(&c)
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
        })
        .map(|c| format!("{c:?}"))
}

fn run(args: &[&str], stdin: Option<&str>) -> (Vec<u8>, Vec<u8>, bool) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_locus-diag"));
    c.args(args)
        .env("RUST_BACKTRACE", "0")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("locus-diag runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (out.stdout, out.stderr, out.status.success())
}

/// Runs `args` and asserts success, clean stdout and stderr; returns stdout.
fn clean(args: &[&str], stdin: Option<&str>) -> String {
    let (out, err, ok) = run(args, stdin);
    assert!(
        ok,
        "{args:?} failed: {}",
        String::from_utf8_lossy(&err).escape_debug()
    );
    if let Some(h) = first_hidden(&out) {
        panic!(
            "{args:?} wrote {h} to stdout:\n{}",
            String::from_utf8_lossy(&out).escape_debug()
        );
    }
    if let Some(h) = first_hidden(&err) {
        panic!(
            "{args:?} wrote {h} to stderr:\n{}",
            String::from_utf8_lossy(&err).escape_debug()
        );
    }
    String::from_utf8(out).unwrap()
}

/// Text output shows the hostile text escaped, not dropped.
fn shows_text_escaped(args: &[&str], out: &str) {
    for esc in [
        "\\u{1b}[2J",
        "\\u{1b}]52;c;",
        "\\u{202e}gpx.exe",
        "\\u{d}B",
        "\\u{9b}31m",
    ] {
        assert!(out.contains(esc), "{args:?} lacks {esc}:\n{out}");
    }
}

/// JSON output still means the hostile text, exactly.
fn json_lines_carry_it(args: &[&str], out: &str) {
    let mut found = false;
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {line}"));
        found |= v
            .to_string()
            .contains(&serde_json::to_string(NASTY).unwrap()[1..20]);
        found |= v["message"] == NASTY;
    }
    assert!(found, "{args:?}: no line carries the text:\n{out}");
}

struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    bucket: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A data dir and a `file://` bucket holding records full of hostile text.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let bucket = tmp.path().join("bucket");
    std::fs::create_dir_all(&bucket).unwrap();
    let t = Telemetry::start(Settings {
        data_dir: data.clone(),
        // At most 64 bytes, as the settings require.
        app_version: "1.0\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{202e}\u{85}\r".into(),
        destination: Some(format!("file://{}", bucket.display())),
        ..Settings::default()
    });
    t.log(
        Level::Error,
        &format!("app{NASTY}"),
        NASTY,
        &[
            (NASTY, FieldValue::Str(NASTY)),
            ("file", FieldValue::Str(NASTY)),
        ],
    );
    t.log(Level::Warn, "app", NASTY, &[]);
    assert!(t.flush(Duration::from_secs(20)), "{:?}", t.status());
    t.shutdown(Duration::from_secs(5));
    Fixture {
        _tmp: tmp,
        data,
        bucket,
    }
}

#[test]
fn no_command_writes_a_control_or_bidi_character_from_record_data() {
    let f = fixture();
    let data = s(&f.data);

    // buffer: text and JSON.
    let args = ["buffer", "--data-dir", data];
    let out = clean(&args, None);
    shows_text_escaped(&args, &out);
    let args = ["buffer", "--json", "--data-dir", data];
    let out = clean(&args, None);
    json_lines_carry_it(&args, &out);

    // ls, then cat of every file listed, text and JSON.
    let url = format!("file://{}", f.bucket.display());
    let listing = clean(&["ls", &url], None);
    let keys: Vec<String> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|k| k.ends_with(".log.gz"))
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty(), "nothing shipped:\n{listing}");
    let ls_json = clean(&["ls", "--json", &url], None);
    assert!(ls_json
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    let mut cat_text = String::new();
    let mut cat_json = String::new();
    for k in &keys {
        let file = format!("{url}/{k}");
        cat_text.push_str(&clean(&["cat", &file], None));
        cat_json.push_str(&clean(&["cat", "--json", &file], None));
    }
    shows_text_escaped(&["cat"], &cat_text);
    json_lines_carry_it(&["cat", "--json"], &cat_json);

    // export --preview, plain and redacted.
    let args = ["export", "--preview", "50", "--data-dir", data];
    let out = clean(&args, None);
    json_lines_carry_it(&args, &out);
    clean(
        &["export", "--redact", "--preview", "50", "--data-dir", data],
        None,
    );

    // status: the session's app version is the hostile text.
    let args = ["status", "--data-dir", data];
    let out = clean(&args, None);
    assert!(out.contains("\\u{1b}[2J"), "{out}");
    let out = clean(&["status", "--json", "--data-dir", data], None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["session"]["app_version"]
            .as_str()
            .is_some_and(|a| a.contains('\u{202e}')),
        "{v}"
    );

    // preview: the report (its own alphabet) and the lines on stderr.
    let out = clean(&["preview", "--data-dir", data], None);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    // (Issue 19, part 3: the period it shows is whole hours, as it will be sent.)
    for key in ["period_start", "period_end"] {
        let t = report[key].as_str().unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
        assert_eq!(t.timestamp() % 3600, 0, "{key} {t} is not on the hour");
        assert_eq!(t.timestamp_subsec_nanos(), 0, "{key} {t}");
    }

    // scrub: what it reads is shown, line for line.
    let args = ["scrub"];
    let out = clean(&args, Some(&format!("{NASTY}\nsecond line\n")));
    shows_text_escaped(&args, &out);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn a_bucket_key_is_shown_not_obeyed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("diagnostics").join("2026-11-27");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("x\u{1b}]52;c;aGk=\u{7}\u{202e}.log.gz"),
        b"\x1f\x8b",
    )
    .unwrap();
    let url = format!("file://{}", tmp.path().display());
    let out = clean(&["ls", &url], None);
    assert!(
        out.contains("x\\u{1b}]52;c;aGk=\\u{7}\\u{202e}.log.gz"),
        "{out}"
    );
    let out_json = clean(&["ls", "--json", &url], None);
    assert!(
        out_json.contains("\\u001b") && out_json.contains("\\u202e"),
        "{out_json}"
    );
    // cat of it: a damaged file, and the error names it, escaped, on stderr.
    let key = out
        .split_whitespace()
        .next()
        .unwrap()
        .replace("\\u{1b}", "\u{1b}");
    let key = key
        .replace("\\u{7}", "\u{7}")
        .replace("\\u{202e}", "\u{202e}");
    let (stdout, stderr, ok) = run(&["cat", &format!("{url}/{key}")], None);
    assert!(!ok, "a damaged file fails");
    for stream in [&stdout, &stderr] {
        assert_eq!(
            first_hidden(stream),
            None,
            "{}",
            String::from_utf8_lossy(stream).escape_debug()
        );
    }
    assert!(
        String::from_utf8_lossy(&stderr).contains("x\\u{1b}]52"),
        "{}",
        String::from_utf8_lossy(&stderr)
    );
}
