//! The body of a diagnostics file: gzip of JSON Lines, one [`Record`] per line, each
//! followed by `\n` — readable with `zcat file | jq`.
//!
//! ```
//! use locus_telemetry::record::{Body, MetricKind, MetricSample, Record};
//! use locus_telemetry::sink::s3::{decode_batch, encode_batch};
//! let recs = vec![Record::new(1, 0, Body::Metric(MetricSample {
//!     name: "battery_pct".into(), metric: MetricKind::Gauge, value: 80.0 }))];
//! let gz = encode_batch(&recs);
//! assert_eq!(decode_batch(&gz).unwrap(), recs);
//! assert!(decode_batch(b"not gzip").is_err()); // an error value, never a panic
//! ```

use super::SinkError;
use crate::record::Record;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// Decoded size above which a body is refused (a gzip bomb, or not ours).
pub const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// Gzip (default level) of the records' JSON lines.
pub fn encode_batch(records: &[Record]) -> Vec<u8> {
    encode_batch_with_level(records, Compression::default().level())
}

/// [`encode_batch`] at gzip level `level` (0–9; 1 = fastest, 9 = smallest).
#[allow(clippy::expect_used)] // gzip into a Vec: the writes cannot fail
pub fn encode_batch_with_level(records: &[Record], level: u32) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::new(level.min(9)));
    for r in records {
        // Writing into a Vec cannot fail.
        gz.write_all(r.to_json_line().as_bytes())
            .and_then(|()| gz.write_all(b"\n"))
            .expect("gzip into a Vec cannot fail");
    }
    gz.finish().expect("gzip into a Vec cannot fail")
}

/// Decodes a whole diagnostics file. Anything that is not exactly what
/// [`encode_batch`] writes — not gzip, truncated, not UTF-8, a line that is not a record
/// — is a [`SinkError::Decode`] naming the problem (and the line number).
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Record>, SinkError> {
    let text = gunzip(bytes).map_err(decode_err)?;
    let text = String::from_utf8(text).map_err(|e| decode_err(format!("not UTF-8 text: {e}")))?;
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec =
            Record::from_json_line(line).map_err(|e| decode_err(format!("line {}: {e}", i + 1)))?;
        records.push(rec);
    }
    Ok(records)
}

/// What [`decode_batch_lenient`] could read.
#[derive(Debug, Default)]
pub struct LenientBatch {
    /// Every record that decoded, in file order.
    pub records: Vec<Record>,
    /// Lines that are not records: (1-based line number, why).
    pub bad_lines: Vec<(usize, String)>,
    /// Why the file could not be read to its end (truncated, corrupt), if so. The records
    /// before that point are still in `records`.
    pub error: Option<String>,
}

/// Reads as much of a diagnostics file as possible: skips lines that are not records
/// and stops at a corrupt or truncated end, reporting both. For tools like `cat`.
pub fn decode_batch_lenient(bytes: &[u8]) -> LenientBatch {
    let mut out = LenientBatch::default();
    let (data, error) = gunzip_partial(bytes);
    let text = String::from_utf8_lossy(&data);
    let complete = if error.is_some() {
        // The last line may have been cut in the middle: keep only whole lines.
        match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        }
    } else {
        &text[..]
    };
    for (i, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match Record::from_json_line(line) {
            Ok(r) => out.records.push(r),
            Err(e) => out.bad_lines.push((i + 1, e.to_string())),
        }
    }
    out.error = error;
    out
}

fn decode_err(why: String) -> SinkError {
    SinkError::Decode {
        what: "diagnostics file".into(),
        why,
    }
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    match gunzip_partial(bytes) {
        (data, None) => Ok(data),
        (_, Some(e)) => Err(e),
    }
}

/// Decompresses what it can; the error says why it stopped early.
fn gunzip_partial(bytes: &[u8]) -> (Vec<u8>, Option<String>) {
    if bytes.is_empty() {
        return (Vec::new(), Some("empty file (not gzip)".into()));
    }
    if bytes.len() < 2 || bytes[..2] != [0x1f, 0x8b] {
        return (Vec::new(), Some("not gzip (bad magic bytes)".into()));
    }
    let mut out = Vec::new();
    let mut reader = MultiGzDecoder::new(bytes).take(MAX_DECODED_BYTES + 1);
    let mut buf = [0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "truncated gzip data".to_owned()
                } else {
                    format!("corrupt gzip data: {e}")
                };
                return (out, Some(why));
            }
        }
    }
    if out.len() as u64 > MAX_DECODED_BYTES {
        out.truncate(MAX_DECODED_BYTES as usize);
        return (
            out,
            Some(format!("decodes to more than {MAX_DECODED_BYTES} bytes")),
        );
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Body, CrashKind, Level, LogRecord, Tombstone};

    fn records(n: u64) -> Vec<Record> {
        (0..n)
            .map(|i| {
                if i % 10 == 9 {
                    Record::new(
                        i,
                        1_790_000_000_000_000_000 + i as i64,
                        Body::Crash(Tombstone {
                            crash: CrashKind::Signal,
                            message: "SIGSEGV".into(),
                            location: String::new(),
                            thread: "gps".into(),
                            backtrace: "0: a\n1: b".into(),
                            app_version: "1.2.0".into(),
                            os: "linux".into(),
                            uptime_ms: i,
                            signal: Some(11),
                        }),
                    )
                } else {
                    Record::new(
                        i,
                        1_790_000_000_000_000_000 + i as i64,
                        Body::Log(LogRecord {
                            level: Level::Info,
                            target: "locus::gps".into(),
                            message: format!("fix {i} \"quoted\"\nsecond line"),
                            fields: vec![("acc".into(), 3.5f64.into())],
                        }),
                    )
                }
            })
            .collect()
    }

    #[test]
    fn round_trip_and_zcat_shape() {
        let recs = records(25);
        let gz = encode_batch(&recs);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert_eq!(decode_batch(&gz).unwrap(), recs);
        // What zcat prints: one JSON object per line, each line ends in \n.
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.ends_with('\n'));
        assert_eq!(text.lines().count(), 25);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v.is_object());
        }
        for level in [1, 9] {
            assert_eq!(
                decode_batch(&encode_batch_with_level(&recs, level)).unwrap(),
                recs
            );
        }
        assert_eq!(decode_batch(&encode_batch(&[])).unwrap(), vec![]);
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let gz = encode_batch(&records(200));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("one byte", vec![0x1f]),
            ("not gzip", b"{\"seq\":1}\n".to_vec()),
            ("header only", gz[..10].to_vec()),
            ("half", gz[..gz.len() / 2].to_vec()),
            ("missing trailer", gz[..gz.len() - 4].to_vec()),
            ("bit flip", {
                let mut g = gz.clone();
                let mid = g.len() / 2;
                g[mid] ^= 0x55;
                g
            }),
        ];
        for (name, bytes) in cases {
            let e = decode_batch(&bytes).expect_err(name);
            assert!(matches!(e, SinkError::Decode { .. }), "{name}: {e}");
            let lenient = decode_batch_lenient(&bytes);
            assert!(
                lenient.error.is_some() || !lenient.bad_lines.is_empty(),
                "{name}"
            );
        }
    }

    #[test]
    fn bad_lines_name_their_line_and_lenient_skips_them() {
        let mut text = records(3)
            .iter()
            .map(|r| r.to_json_line() + "\n")
            .collect::<String>();
        text.insert_str(0, "{\"not\":\"a record\"}\n");
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let e = decode_batch(&gz).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let l = decode_batch_lenient(&gz);
        assert_eq!(l.records, records(3));
        assert_eq!(l.bad_lines.len(), 1);
        assert_eq!(l.bad_lines[0].0, 1);
        assert!(l.error.is_none());
    }

    #[test]
    fn lenient_keeps_the_records_before_a_truncation() {
        let recs = records(2000);
        let gz = encode_batch_with_level(&recs, 1);
        let cut = &gz[..gz.len() * 3 / 4];
        let l = decode_batch_lenient(cut);
        assert!(
            l.error.as_deref().unwrap().contains("truncated"),
            "{:?}",
            l.error
        );
        assert!(l.bad_lines.is_empty(), "{:?}", l.bad_lines);
        assert!(!l.records.is_empty() && l.records.len() < recs.len());
        assert_eq!(&recs[..l.records.len()], &l.records[..]);
    }

    #[test]
    fn concatenated_gzip_members_decode_like_zcat() {
        let (a, b) = (records(3), records(5));
        let mut both = encode_batch(&a);
        both.extend(encode_batch(&b));
        let mut all = a.clone();
        all.extend(b);
        assert_eq!(decode_batch(&both).unwrap(), all);
    }
}
