//! Destination URLs: `s3://bucket[/prefix]` for the user's bucket, `file:///abs/dir` for
//! the embedded default (the same key layout under a local directory).
//!
//! ```
//! use locus_telemetry::sink::s3::Destination;
//! let d = Destination::parse("s3://my-bucket/phone-1").unwrap();
//! assert_eq!(d, Destination::S3 { bucket: "my-bucket".into(), prefix: "phone-1".into() });
//! assert_eq!(d.diagnostics_prefix(), "phone-1/diagnostics/");
//! assert_eq!(d.to_string(), "s3://my-bucket/phone-1");
//! assert!(Destination::parse("file://relative/dir").is_err()); // needs an absolute path
//! ```
//!
//! Relative `file://dir` URLs are rejected (not resolved against the current directory):
//! `file://name/...` means "host `name`" in RFC 8089, and silently depending on the
//! working directory would scatter diagnostics. Use [`Destination::file`] to build a
//! destination from a (possibly relative) path in code.

use super::SinkError;
use std::path::{Path, PathBuf};

/// Where diagnostics go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// A local directory (`file:///abs/dir`): keys are paths under `root`.
    File {
        /// Absolute directory.
        root: PathBuf,
    },
    /// An S3 bucket (`s3://bucket[/prefix]`): keys are `[prefix/]diagnostics/...`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix without leading or trailing `/`; empty for none.
        prefix: String,
    },
}

impl Destination {
    /// Parses `s3://bucket[/prefix]` or `file:///abs/dir` (also `file://localhost/abs/dir`;
    /// `%XX` escapes in the path are decoded). Anything else is an
    /// [`SinkError::InvalidDestination`] saying what to write instead. Credentials in the
    /// URL (`s3://key:secret@bucket`) are refused and never echoed.
    pub fn parse(url: &str) -> Result<Destination, SinkError> {
        let url = url.trim();
        let bad = |why: &str| SinkError::InvalidDestination {
            url: redact_userinfo(url),
            why: why.to_owned(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(if url.starts_with('/') {
                bad(&format!(
                    "not a URL; for a local directory write file://{url}"
                ))
            } else {
                bad("not a URL; use s3://bucket[/prefix] or file:///absolute/dir")
            });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "s3" => parse_s3(rest).map_err(|why| bad(&why)),
            "file" => parse_file(rest).map_err(|why| bad(&why)),
            other => Err(bad(&format!(
                "unsupported scheme `{other}`; use s3://bucket[/prefix] or file:///absolute/dir"
            ))),
        }
    }

    /// A file destination for `dir`, made absolute against the current directory if it
    /// is relative.
    pub fn file(dir: impl AsRef<Path>) -> Result<Destination, SinkError> {
        let dir = dir.as_ref();
        let root = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| SinkError::Io {
                    path: dir.display().to_string(),
                    source: e,
                })?
                .join(dir)
        };
        Ok(Destination::File { root })
    }

    /// The key prefix of this destination (`""` for files and prefix-less buckets).
    pub fn prefix(&self) -> &str {
        match self {
            Destination::File { .. } => "",
            Destination::S3 { prefix, .. } => prefix,
        }
    }

    /// `[prefix/]diagnostics/`: where diagnostics files live and what the retention rule
    /// covers.
    pub fn diagnostics_prefix(&self) -> String {
        with_prefix(self.prefix(), "diagnostics/")
    }

    /// The URL of one object of this destination, e.g. `s3://bucket/diagnostics/...`.
    pub fn object_url(&self, key: &str) -> String {
        match self {
            Destination::File { root } => {
                format!(
                    "file://{}/{}",
                    encode_path(root),
                    key.trim_start_matches('/')
                )
            }
            Destination::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// Splits the URL of one diagnostics file into its destination and key, e.g.
    /// `s3://b/p/diagnostics/2026/11/27/dev_ts.log.gz` → (`s3://b/p`,
    /// `p/diagnostics/2026/11/27/dev_ts.log.gz`); for `file:///dir/diagnostics/...` the
    /// root is `/dir` and the key starts at `diagnostics/`. The split is at the last
    /// `diagnostics/YYYY/MM/DD/<file>` in the path.
    pub fn parse_object_url(url: &str) -> Result<(Destination, String), SinkError> {
        let url = url.trim();
        let bad = |why: &str| SinkError::InvalidDestination {
            url: redact_userinfo(url),
            why: why.to_owned(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            bad("not a URL; use s3://bucket/diagnostics/... or file:///dir/diagnostics/...")
        })?;
        let split = find_diagnostics_part(rest)
            .ok_or_else(|| bad("no `diagnostics/YYYY/MM/DD/<file>` part in the URL"))?;
        let (container, key_part) = rest.split_at(split);
        let container = container.trim_end_matches('/');
        let dest = Destination::parse(&format!("{scheme}://{container}"))?;
        let key = match &dest {
            Destination::File { .. } => percent_decode(key_part).map_err(|w| bad(&w))?,
            Destination::S3 { .. } => with_prefix(dest.prefix(), key_part),
        };
        Ok((dest, key))
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::File { root } => write!(f, "file://{}", encode_path(root)),
            Destination::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Destination::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl std::str::FromStr for Destination {
    type Err = SinkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Destination::parse(s)
    }
}

/// `prefix/rest`, or `rest` when the prefix is empty.
pub(crate) fn with_prefix(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{prefix}/{rest}")
    }
}

fn parse_s3(rest: &str) -> Result<Destination, String> {
    if rest.contains(['?', '#']) {
        return Err("query strings and fragments are not allowed".into());
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') {
        return Err("credentials do not belong in the URL; use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the settings".into());
    }
    validate_bucket(authority)?;
    let prefix = path.trim_matches('/');
    if prefix
        .split('/')
        .any(|seg| seg.is_empty() && !prefix.is_empty())
    {
        return Err(format!("empty path segment in prefix `{prefix}`"));
    }
    if prefix.split('/').any(|seg| seg == "." || seg == "..") {
        return Err("`.` and `..` are not allowed in the prefix".into());
    }
    Ok(Destination::S3 {
        bucket: authority.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// S3 bucket naming rules: 3–63 characters of `a-z 0-9 . -`, starting and ending with a
/// letter or digit.
fn validate_bucket(b: &str) -> Result<(), String> {
    if b.is_empty() {
        return Err("missing bucket name: s3://bucket[/prefix]".into());
    }
    if !(3..=63).contains(&b.len()) {
        return Err(format!("bucket name `{b}` must be 3 to 63 characters long"));
    }
    if let Some(c) = b
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Err(format!(
            "bucket name `{b}` contains `{c}`; only lower-case letters, digits, `-` and `.` are allowed"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(b.chars().next()) || !alnum(b.chars().last()) {
        return Err(format!(
            "bucket name `{b}` must start and end with a letter or digit"
        ));
    }
    if b.contains("..") {
        return Err(format!("bucket name `{b}` must not contain `..`"));
    }
    Ok(())
}

fn parse_file(rest: &str) -> Result<Destination, String> {
    if rest.contains(['?', '#']) {
        return Err("query strings and fragments are not allowed".into());
    }
    let path = if let Some(p) = rest.strip_prefix("localhost/") {
        format!("/{p}")
    } else if rest.starts_with('/') {
        rest.to_owned()
    } else if rest.is_empty() {
        return Err("missing directory: file:///absolute/dir".into());
    } else {
        return Err(format!(
            "file URLs need an absolute path (three slashes): file:///{rest} if `/{rest}` is meant; relative paths are not accepted"
        ));
    };
    let decoded = percent_decode(&path)?;
    let trimmed = decoded.trim_end_matches('/');
    let root = if trimmed.is_empty() { "/" } else { trimmed };
    if Path::new(root)
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err("`..` is not allowed in the directory".into());
    }
    Ok(Destination::File {
        root: PathBuf::from(root),
    })
}

/// Position in `rest` where `diagnostics/YYYY/MM/DD/<file>` starts (the last such).
fn find_diagnostics_part(rest: &str) -> Option<usize> {
    let mut found = None;
    for (i, _) in rest.match_indices("diagnostics/") {
        if i > 0 && !rest[..i].ends_with('/') {
            continue;
        }
        let tail = &rest[i + "diagnostics/".len()..];
        let parts: Vec<&str> = tail.split('/').collect();
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if parts.len() == 4
            && digits(parts[0], 4)
            && digits(parts[1], 2)
            && digits(parts[2], 2)
            && !parts[3].is_empty()
        {
            found = Some(i);
        }
    }
    found
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in `{s}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` does not decode to UTF-8"))
}

/// Escapes the characters that would change a file URL's meaning.
fn encode_path(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            ' ' => out.push_str("%20"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// `s3://user:pass@bucket` → `s3://<redacted>@bucket`, for error messages.
fn redact_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://<redacted>{}", &rest[at..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, prefix: &str) -> Destination {
        Destination::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn s3_urls() {
        assert_eq!(Destination::parse("s3://bucket").unwrap(), s3("bucket", ""));
        assert_eq!(
            Destination::parse("s3://bucket/").unwrap(),
            s3("bucket", "")
        );
        assert_eq!(
            Destination::parse("S3://my.bucket-1/a/b/").unwrap(),
            s3("my.bucket-1", "a/b")
        );
        assert_eq!(
            Destination::parse("  s3://bkt/p  ").unwrap(),
            s3("bkt", "p")
        );
        for url in ["s3://bucket", "s3://bucket/a/b"] {
            assert_eq!(Destination::parse(url).unwrap().to_string(), url);
        }
        assert_eq!(s3("b12", "").diagnostics_prefix(), "diagnostics/");
        assert_eq!(s3("b12", "x/y").diagnostics_prefix(), "x/y/diagnostics/");
    }

    #[test]
    fn bad_s3_urls_say_why() {
        for (url, needle) in [
            ("s3://", "missing bucket"),
            ("s3:///prefix", "missing bucket"),
            ("s3://ab", "3 to 63"),
            ("s3://My_Bucket", "contains `M`"),
            ("s3://-bucket", "start and end"),
            ("s3://bucket/a//b", "empty path segment"),
            ("s3://bucket/../x", "`..`"),
            ("s3://bucket?x=1", "query"),
        ] {
            let e = Destination::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }

    #[test]
    fn credentials_in_urls_are_refused_and_not_echoed() {
        let e = Destination::parse("s3://AKIAXX:topsecret@bucket/p")
            .unwrap_err()
            .to_string();
        assert!(e.contains("credentials do not belong"), "{e}");
        assert!(!e.contains("topsecret") && !e.contains("AKIAXX"), "{e}");
    }

    #[test]
    fn file_urls() {
        let f = |p: &str| Destination::File {
            root: PathBuf::from(p),
        };
        assert_eq!(
            Destination::parse("file:///var/lib/locus").unwrap(),
            f("/var/lib/locus")
        );
        assert_eq!(
            Destination::parse("file:///var/lib/locus/").unwrap(),
            f("/var/lib/locus")
        );
        assert_eq!(
            Destination::parse("file://localhost/tmp/x").unwrap(),
            f("/tmp/x")
        );
        assert_eq!(
            Destination::parse("file:///tmp/a%20b").unwrap(),
            f("/tmp/a b")
        );
        assert_eq!(Destination::parse("file:///").unwrap(), f("/"));
        let d = f("/tmp/with space/100%");
        assert_eq!(Destination::parse(&d.to_string()).unwrap(), d);
        assert_eq!(d.diagnostics_prefix(), "diagnostics/");
    }

    #[test]
    fn bad_file_urls_say_why() {
        for (url, needle) in [
            ("file://relative/dir", "absolute path"),
            ("file://", "missing directory"),
            ("file:///a/../b", "`..`"),
            ("file:///tmp/%zz", "%-escape"),
            ("/tmp/dir", "file:///tmp/dir"),
            ("bucket", "not a URL"),
            ("https://example.com/x", "unsupported scheme `https`"),
        ] {
            let e = Destination::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }

    #[test]
    fn file_constructor_absolutizes() {
        let d = Destination::file("rel/dir").unwrap();
        let Destination::File { root } = d else {
            panic!()
        };
        assert!(root.is_absolute() && root.ends_with("rel/dir"));
    }

    #[test]
    fn object_urls_split_into_destination_and_key() {
        let (d, k) = Destination::parse_object_url(
            "s3://bkt/p/q/diagnostics/2026/11/27/dev_20261127T010203.000000001Z.log.gz",
        )
        .unwrap();
        assert_eq!(d, s3("bkt", "p/q"));
        assert_eq!(
            k,
            "p/q/diagnostics/2026/11/27/dev_20261127T010203.000000001Z.log.gz"
        );
        assert_eq!(
            d.object_url(&k),
            "s3://bkt/p/q/diagnostics/2026/11/27/dev_20261127T010203.000000001Z.log.gz"
        );

        let (d, k) =
            Destination::parse_object_url("s3://bkt/diagnostics/2026/11/27/a.log.gz").unwrap();
        assert_eq!(
            (d, k.as_str()),
            (s3("bkt", ""), "diagnostics/2026/11/27/a.log.gz")
        );

        // The root may itself contain a `diagnostics` directory.
        let (d, k) = Destination::parse_object_url(
            "file:///srv/diagnostics/b/diagnostics/2026/01/02/x.log.gz",
        )
        .unwrap();
        assert_eq!(
            d,
            Destination::File {
                root: PathBuf::from("/srv/diagnostics/b")
            }
        );
        assert_eq!(k, "diagnostics/2026/01/02/x.log.gz");

        assert!(Destination::parse_object_url("s3://bkt/other/file.gz").is_err());
        assert!(Destination::parse_object_url("s3://bkt/diagnostics/2026/11/").is_err());
    }
}
