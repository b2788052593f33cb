//! `locus-diag cat KEY-or-URL... [--dest URL] [--json]`: prints the records of
//! diagnostics files, decoded — one text line per record (the Debug screen's format), or
//! the JSON lines as stored with `--json`.
//!
//! A file is named by its full URL (`s3://bucket/diagnostics/2026/11/27/dev_....log.gz`,
//! `file:///dir/diagnostics/...`) or by its key (as `ls` prints it) plus `--dest`. A key
//! that starts at `diagnostics/` is taken under the destination's prefix.
//!
//! An encrypted file (`….log.gz.age`, written when `diagnostics_recipients` is set) is
//! read with `--identity key.txt`, the user's age private key (as `age-keygen` writes
//! it), decrypted and printed like any other. Without an identity, or with one that does
//! not match, nothing of it is printed and the command fails saying why. The identity is
//! only ever read here, on the user's machine; the device holds public keys only.
//!
//! A damaged file is printed as far as it can be read; the bad lines and where it broke
//! off go to stderr and the command fails (exit 1), so scripts notice.
//!
//! Memory stays bounded whatever the file holds: the gzip stream is decoded and printed
//! line by line through fixed buffers, a line longer than [`MAX_LINE_BYTES`] is skipped
//! (reported as a bad line), and decoding stops after [`MAX_DECODED_BYTES`]. A local
//! file is opened only if it is a regular file reached without a symbolic link
//! (`O_NOFOLLOW`; `O_NONBLOCK`, so a FIFO in its place never blocks the open).

use super::ls::{open, parse_dest, runtime};
use anyhow::Context;
use flate2::bufread::MultiGzDecoder;
use locus_telemetry::inspect::bucket::{
    decrypt_reader, is_encrypted_key, looks_encrypted, Destination, Identities, MAX_DECODED_BYTES,
};
use locus_telemetry::Record;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Longest line decoded; longer lines are skipped as bad lines without being held in
/// memory. A record's JSON line is far shorter (a record is at most 16 KiB).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Bad lines reported one by one per file; the rest are counted.
const MAX_REPORTED_BAD_LINES: u64 = 100;
/// Buffer between the gzip decoder and the line reader.
const DECODED_BUFFER_BYTES: usize = 64 * 1024;

/// Arguments of `locus-diag cat`.
#[derive(clap::Args)]
pub struct Args {
    /// One or more files: full URLs, or keys with `--dest`.
    #[arg(required = true, value_name = "KEY-or-URL")]
    files: Vec<String>,
    /// Destination for keys: `s3://bucket[/prefix]` or `file:///dir`.
    #[arg(long)]
    dest: Option<String>,
    /// Print the stored JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Age identity file (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes them) to
    /// decrypt `….log.gz.age` files with; repeat for several.
    #[arg(long, value_name = "KEY-FILE")]
    identity: Vec<PathBuf>,
}

/// Why a local diagnostics file is not read.
#[derive(Debug)]
pub enum Refused {
    /// The key could leave the destination's directory or names a hidden file.
    BadKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The file, or a folder on the way to it, is a symbolic link.
    Symlink(PathBuf),
    /// Not a regular file: a directory, FIFO, socket or device.
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// There is no such file.
    NotFound(PathBuf),
    /// Opening or inspecting it failed.
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::BadKey { key, why } => write!(f, "invalid object key `{key}`: {why}"),
            Refused::Symlink(p) => write!(
                f,
                "{} is a symbolic link: refused (diagnostics files are never read through links)",
                p.display()
            ),
            Refused::NotRegular { path, what } => {
                write!(
                    f,
                    "{} is {what}, not a regular file: refused",
                    path.display()
                )
            }
            Refused::NotFound(p) => write!(f, "{}: no such file", p.display()),
            Refused::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Refused::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What printing one file found.
#[derive(Debug, Default, PartialEq)]
struct Decoded {
    /// Records printed.
    records: u64,
    /// Lines that are not records (reported on stderr as they were met).
    bad_lines: u64,
    /// Why the file could not be read to its end, if so.
    error: Option<String>,
}

/// Runs `locus-diag cat`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let default_dest = args.dest.as_deref().map(parse_dest).transpose()?;
    let mut targets = Vec::new();
    for f in &args.files {
        targets.push(resolve(f, default_dest.as_ref())?);
    }
    let identities = load_identities(&args.identity)?;
    let mut rt = None;
    let mut damaged = Vec::new();
    let mut out = BufWriter::with_capacity(64 * 1024, crate::term::stdout());
    for (dest, key) in targets {
        let url = dest.object_url(&key);
        let decoded = match &dest {
            Destination::File { root } => {
                let file = open_local(root, &key).with_context(|| format!("cannot read {url}"))?;
                print_maybe_encrypted(
                    BufReader::new(file),
                    &key,
                    identities.as_ref(),
                    &mut out,
                    args.json,
                    &url,
                )?
            }
            Destination::S3 { .. } => {
                let rt = match &mut rt {
                    Some(rt) => rt,
                    None => rt.insert(runtime()?),
                };
                let bytes = rt.block_on(async {
                    let store = open(&dest).await?;
                    store
                        .get(&key)
                        .await
                        .with_context(|| format!("cannot read {url}"))
                })?;
                print_maybe_encrypted(
                    &bytes[..],
                    &key,
                    identities.as_ref(),
                    &mut out,
                    args.json,
                    &url,
                )?
            }
        };
        out.flush()?;
        if let Some(e) = &decoded.error {
            eprintln!(
                "locus-diag: {}: {} (after {} records)",
                crate::term::visible(&url),
                crate::term::visible(e),
                decoded.records
            );
        }
        if decoded.error.is_some() || decoded.bad_lines > 0 {
            damaged.push(url);
        }
    }
    if !damaged.is_empty() {
        anyhow::bail!("damaged diagnostics file(s): {}", damaged.join(", "));
    }
    Ok(())
}

/// Reads every `--identity` file into one set (`None` without any).
fn load_identities(files: &[PathBuf]) -> anyhow::Result<Option<Identities>> {
    let mut all: Option<Identities> = None;
    for f in files {
        let ids = Identities::from_file(f)?;
        match &mut all {
            Some(all) => all.extend(ids),
            None => all = Some(ids),
        }
    }
    Ok(all)
}

/// Prints one file: an age file (by its content or its `.age` key) is decrypted with
/// the identities first; without them, or when none matches, nothing is printed and the
/// error says so. Anything else is printed as a plain diagnostics file.
fn print_maybe_encrypted(
    mut input: impl BufRead,
    key: &str,
    identities: Option<&Identities>,
    out: &mut impl Write,
    json: bool,
    url: &str,
) -> anyhow::Result<Decoded> {
    let head_is_age = input.fill_buf().is_ok_and(looks_encrypted);
    if !head_is_age && !is_encrypted_key(key) {
        return Ok(print_stream(input, out, json, url)?);
    }
    let shown = crate::term::visible(url).into_owned();
    let Some(identities) = identities else {
        anyhow::bail!(
            "{shown} is encrypted (age): give --identity KEY-FILE, the private key whose public \
             key is in diagnostics_recipients (nothing printed)"
        );
    };
    // age checks the header against the identities before any plaintext is read, and
    // authenticates each chunk before it is returned: a damaged file stops with an
    // error where it breaks, never with altered text.
    let plain = decrypt_reader(input, identities)
        .with_context(|| format!("cannot decrypt {shown} (nothing printed)"))?;
    let reader = BufReader::with_capacity(DECODED_BUFFER_BYTES, plain);
    Ok(print_stream(reader, out, json, url)?)
}

/// Opens `root/key` for reading: only a regular file, never through a symbolic link
/// (neither the file nor a folder below `root`), never blocking on a FIFO.
pub fn open_local(root: &Path, key: &str) -> Result<File, Refused> {
    let bad = |why| Refused::BadKey {
        key: key.to_owned(),
        why,
    };
    if key.is_empty() {
        return Err(bad("empty"));
    }
    if key.contains('\0') || key.contains('\\') {
        return Err(bad("contains NUL or `\\`"));
    }
    if key.split('/').any(str::is_empty) {
        return Err(bad("empty path segment"));
    }
    let rel = Path::new(key);
    let mut path = root.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, c) in parts.iter().enumerate() {
        let Component::Normal(name) = c else {
            return Err(bad("must be a relative path without `.` or `..`"));
        };
        if name.to_string_lossy().starts_with('.') {
            return Err(bad("a path segment starts with `.`"));
        }
        path.push(name);
        if i + 1 < parts.len() {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => return Err(Refused::Symlink(path)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Refused::NotFound(root.join(rel)))
                }
                Err(source) => return Err(Refused::Io { path, source }),
            }
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => Refused::Symlink(path.clone()),
            Some(libc::ENOENT) => Refused::NotFound(path.clone()),
            _ => Refused::Io {
                path: path.clone(),
                source,
            },
        })?;
    let meta = file.metadata().map_err(|source| Refused::Io {
        path: path.clone(),
        source,
    })?;
    let t = meta.file_type();
    if !t.is_file() {
        let what = locus_telemetry::inspect::file_type_name(&t);
        return Err(Refused::NotRegular { path, what });
    }
    Ok(file)
}

/// Decodes a diagnostics file (gzip of JSON lines) from `input` and prints each record
/// to `out` as it is decoded; bad lines go to stderr as they are met. Only write errors
/// on `out` are errors; what is wrong with the file is in the result.
fn print_stream(
    mut input: impl BufRead,
    out: &mut impl Write,
    json: bool,
    url: &str,
) -> std::io::Result<Decoded> {
    let mut decoded = Decoded::default();
    let head = match input.fill_buf() {
        Ok(head) => head,
        Err(e) => {
            decoded.error = Some(format!("cannot read: {e}"));
            return Ok(decoded);
        }
    };
    if head.is_empty() {
        decoded.error = Some("empty file (not gzip)".into());
        return Ok(decoded);
    }
    if head.len() < 2 || head[..2] != [0x1f, 0x8b] {
        decoded.error = Some("not gzip (bad magic bytes)".into());
        return Ok(decoded);
    }
    let mut lines = BufReader::with_capacity(
        DECODED_BUFFER_BYTES,
        Capped {
            inner: MultiGzDecoder::new(input),
            left: MAX_DECODED_BYTES,
        },
    );
    let mut line = Vec::new();
    let mut number = 0u64;
    let bad = |decoded: &mut Decoded, number: u64, why: &dyn std::fmt::Display| {
        decoded.bad_lines += 1;
        if decoded.bad_lines <= MAX_REPORTED_BAD_LINES {
            eprintln!(
                "locus-diag: {}: line {number} is not a record: {}",
                crate::term::visible(url),
                crate::term::visible(&why.to_string())
            );
        } else if decoded.bad_lines == MAX_REPORTED_BAD_LINES + 1 {
            eprintln!("locus-diag: {url}: more bad lines follow; only their count is reported");
        }
    };
    'lines: loop {
        // Blank lines in bulk: a run of `\n` costs one scan, not one call per line.
        loop {
            let blank = match lines.fill_buf() {
                Ok(buf) => buf.iter().take_while(|&&b| b == b'\n').count(),
                Err(e) => {
                    decoded.error = Some(stream_error(&e));
                    break 'lines;
                }
            };
            if blank == 0 {
                break;
            }
            number += blank as u64;
            lines.consume(blank);
        }
        line.clear();
        let read = (&mut lines)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                // What was read of a line cut off here is dropped with it.
                decoded.error = Some(stream_error(&e));
                break;
            }
        }
        number += 1;
        if line.len() > MAX_LINE_BYTES {
            if let Err(e) = skip_line(&mut lines) {
                decoded.error = Some(stream_error(&e));
                break;
            }
            bad(
                &mut decoded,
                number,
                &format_args!("longer than {MAX_LINE_BYTES} bytes (skipped)"),
            );
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        match Record::from_json_line(text) {
            Ok(r) => {
                // A record is one line: whatever its text holds is shown, never obeyed.
                let shown = if json {
                    crate::term::json_visible(&r.to_json_line()).into_owned()
                } else {
                    crate::term::visible(&r.to_text_line()).into_owned()
                };
                out.write_all(shown.as_bytes())?;
                out.write_all(b"\n")?;
                decoded.records += 1;
            }
            Err(e) => bad(&mut decoded, number, &e),
        }
    }
    if decoded.bad_lines > MAX_REPORTED_BAD_LINES {
        eprintln!(
            "locus-diag: {url}: {} lines in all are not records",
            decoded.bad_lines
        );
    }
    Ok(decoded)
}

/// Reads past the rest of a line (through its `\n`) without keeping it.
fn skip_line(r: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            r.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        r.consume(n);
    }
}

/// Why a decoded stream ended early, in words.
fn stream_error(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "truncated gzip data".to_owned()
    } else if e.kind() == std::io::ErrorKind::FileTooLarge {
        format!("decodes to more than {MAX_DECODED_BYTES} bytes; stopped there")
    } else {
        format!("corrupt gzip data: {e}")
    }
}

/// A reader that fails (`FileTooLarge`) once it has produced `left` bytes and more is
/// still coming.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::from(std::io::ErrorKind::FileTooLarge)),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A URL, or a key under `--dest`.
fn resolve(file: &str, dest: Option<&Destination>) -> anyhow::Result<(Destination, String)> {
    if file.contains("://") {
        return Ok(Destination::parse_object_url(file)?);
    }
    let dest = dest.with_context(|| {
        format!("`{file}` is a key: say where with --dest s3://bucket[/prefix] (or file:///dir), or give the full URL")
    })?;
    let key = file.trim_start_matches('/');
    let prefix = dest.prefix();
    let key = if !prefix.is_empty()
        && key.starts_with("diagnostics/")
        && !key.starts_with(&format!("{prefix}/"))
    {
        format!("{prefix}/{key}")
    } else {
        key.to_owned()
    };
    Ok((dest.clone(), key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_telemetry::inspect::bucket::encode_batch;
    use locus_telemetry::record::{Body, MetricKind, MetricSample};

    fn records(n: u64) -> Vec<Record> {
        (1..=n)
            .map(|i| {
                Record::new(
                    i,
                    1_790_000_000_000_000_000,
                    Body::Metric(MetricSample {
                        name: "battery_pct".into(),
                        metric: MetricKind::Gauge,
                        value: 80.0,
                    }),
                )
            })
            .collect()
    }

    fn print(bytes: &[u8]) -> (Decoded, String) {
        let mut out = Vec::new();
        let d = print_stream(bytes, &mut out, true, "test").expect("writes to a Vec");
        (d, String::from_utf8(out).expect("UTF-8"))
    }

    #[test]
    fn a_whole_file_prints_every_record_as_stored() {
        let recs = records(50);
        let (d, text) = print(&encode_batch(&recs));
        assert_eq!(
            d,
            Decoded {
                records: 50,
                bad_lines: 0,
                error: None
            }
        );
        let expected: String = recs.iter().map(|r| r.to_json_line() + "\n").collect();
        assert_eq!(text, expected);
    }

    #[test]
    fn a_truncated_file_keeps_whole_records_and_says_why() {
        let gz = encode_batch(&records(2000));
        let (d, text) = print(&gz[..gz.len() * 3 / 4]);
        assert_eq!(d.error.as_deref(), Some("truncated gzip data"));
        assert_eq!(d.bad_lines, 0);
        assert!(d.records > 0 && d.records < 2000, "{d:?}");
        assert_eq!(text.lines().count() as u64, d.records);
        for line in text.lines() {
            Record::from_json_line(line).expect("only whole records are printed");
        }
    }

    #[test]
    fn not_gzip_and_empty_are_reported() {
        assert_eq!(print(b"").0.error.as_deref(), Some("empty file (not gzip)"));
        assert_eq!(
            print(b"{\"seq\":1}\n").0.error.as_deref(),
            Some("not gzip (bad magic bytes)")
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_record_still_prints() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'a'; MAX_LINE_BYTES * 3]).unwrap();
        gz.write_all(b"\n").unwrap();
        gz.write_all((records(1)[0].to_json_line() + "\n").as_bytes())
            .unwrap();
        let (d, text) = print(&gz.finish().unwrap());
        assert_eq!(
            d,
            Decoded {
                records: 1,
                bad_lines: 1,
                error: None
            }
        );
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn runs_of_blank_lines_are_skipped_around_records() {
        let line = records(1)[0].to_json_line();
        let text = format!("\n\n\n{line}\n\n\r\n{line}\n{}", "\n".repeat(200_000));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let (d, out) = print(&gz.finish().unwrap());
        assert_eq!(
            d,
            Decoded {
                records: 2,
                bad_lines: 0,
                error: None
            }
        );
        assert_eq!(out, format!("{line}\n{line}\n"));
    }

    #[test]
    fn the_cap_stops_a_stream_that_decodes_too_far() {
        let mut capped = Capped {
            inner: &b"0123456789"[..],
            left: 4,
        };
        let mut got = Vec::new();
        let e = capped.read_to_end(&mut got).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert_eq!(got, b"0123");
        let mut exact = Capped {
            inner: &b"0123"[..],
            left: 4,
        };
        let mut got = Vec::new();
        exact
            .read_to_end(&mut got)
            .expect("exactly the cap is fine");
        assert_eq!(got, b"0123");
    }
}
