//! Object keys: `[prefix/]diagnostics/YYYY/MM/DD/<device_id>_<timestamp>.log.gz`, with a
//! UTC date and a sortable nanosecond timestamp, and a clock that never hands out the
//! same batch time twice in a process.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use locus_telemetry::sink::s3::object_key;
//! let t = Utc.with_ymd_and_hms(2026, 11, 27, 1, 2, 3).unwrap();
//! assert_eq!(
//!     object_key("", "pixel-7", t),
//!     "diagnostics/2026/11/27/pixel-7_20261127T010203.000000000Z.log.gz"
//! );
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// File name extension of diagnostics files.
pub const EXTENSION: &str = ".log.gz";

/// The key of one encrypted diagnostics file: [`object_key`] with
/// [`AGE_SUFFIX`](super::AGE_SUFFIX) (`….log.gz.age`), the layout otherwise the same.
pub fn encrypted_object_key(prefix: &str, device_id: &str, batch_time: DateTime<Utc>) -> String {
    object_key(prefix, device_id, batch_time) + super::AGE_SUFFIX
}

/// True for the key of an encrypted diagnostics file (`….log.gz.age`).
pub fn is_encrypted_key(key: &str) -> bool {
    key.ends_with(super::AGE_SUFFIX)
}

/// The key of one diagnostics file. `prefix` may be empty; slashes around it are
/// ignored. `device_id` is kept to `A-Z a-z 0-9 . - _` (anything else becomes `-`; an
/// empty id becomes `unknown`) so that it can never add a path level. The timestamp has
/// nanoseconds and sorts like the time; use a [`KeyClock`] to make it unique.
pub fn object_key(prefix: &str, device_id: &str, batch_time: DateTime<Utc>) -> String {
    let path = format!(
        "diagnostics/{}/{}_{}{EXTENSION}",
        batch_time.format("%Y/%m/%d"),
        sanitize_device_id(device_id),
        batch_time.format("%Y%m%dT%H%M%S%.9fZ"),
    );
    super::url::with_prefix(prefix, &path)
}

/// `[prefix/]diagnostics/YYYY/MM/DD/`: the folder of one UTC day.
pub fn day_prefix(prefix: &str, date: NaiveDate) -> String {
    super::url::with_prefix(prefix, &format!("diagnostics/{}/", date.format("%Y/%m/%d")))
}

/// The device id as it appears in keys.
pub fn sanitize_device_id(device_id: &str) -> String {
    let s: String = device_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "unknown".to_owned()
    } else {
        s
    }
}

/// What a diagnostics key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts {
    /// The prefix before `diagnostics/` (empty for none).
    pub prefix: String,
    /// The (sanitised) device id.
    pub device_id: String,
    /// The batch time.
    pub batch_time: DateTime<Utc>,
}

/// Parses a key made by `object_key` or `encrypted_object_key`; `None` for anything else (including a folder date
/// that disagrees with the timestamp).
pub fn parse_key(key: &str) -> Option<KeyParts> {
    let (prefix, rest) = match key.rfind("diagnostics/") {
        Some(0) => ("", key),
        Some(i) if key[..i].ends_with('/') => (&key[..i - 1], &key[i..]),
        _ => return None,
    };
    let rest = rest.strip_prefix("diagnostics/")?;
    let (folder, file) = rest.rsplit_once('/')?;
    let file = file.strip_suffix(super::AGE_SUFFIX).unwrap_or(file);
    let stem = file.strip_suffix(EXTENSION)?;
    let (device_id, ts) = stem.rsplit_once('_')?;
    if device_id.is_empty() {
        return None;
    }
    let batch_time = chrono::NaiveDateTime::parse_from_str(ts, "%Y%m%dT%H%M%S%.fZ")
        .ok()?
        .and_utc();
    if folder != batch_time.format("%Y/%m/%d").to_string() {
        return None;
    }
    Some(KeyParts {
        prefix: prefix.to_owned(),
        device_id: device_id.to_owned(),
        batch_time,
    })
}

/// Hands out batch times that strictly increase within the process: the wall clock,
/// or one nanosecond after the last time handed out if the clock has not moved (or went
/// back). Two batches — even 200 in a tight loop — never get the same key.
///
/// ```
/// use locus_telemetry::sink::s3::KeyClock;
/// let clock = KeyClock::new();
/// let a = clock.next();
/// let b = clock.next();
/// assert!(b > a);
/// ```
#[derive(Debug, Default)]
pub struct KeyClock {
    last_nanos: AtomicI64,
}

impl KeyClock {
    /// A clock with no history.
    pub const fn new() -> KeyClock {
        KeyClock {
            last_nanos: AtomicI64::new(i64::MIN),
        }
    }

    /// The process-wide clock: use it unless you need an isolated one.
    pub fn global() -> &'static KeyClock {
        static GLOBAL: KeyClock = KeyClock::new();
        &GLOBAL
    }

    /// The next batch time, from the wall clock.
    pub fn next(&self) -> DateTime<Utc> {
        self.next_after(crate::clock::now())
    }

    /// The next batch time, given what the wall clock says (`now`).
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        // Beyond year 2262 nanoseconds overflow i64; clamp rather than panic.
        let now = now.timestamp_nanos_opt().unwrap_or(i64::MAX - 1);
        let mut last = self.last_nanos.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match self.last_nanos.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return DateTime::from_timestamp_nanos(next),
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(nanos: u32) -> DateTime<Utc> {
        use chrono::Timelike;
        Utc.with_ymd_and_hms(2026, 1, 2, 23, 59, 58)
            .unwrap()
            .with_nanosecond(nanos)
            .unwrap()
    }

    #[test]
    fn key_layout() {
        assert_eq!(
            object_key("", "dev1", t(123_456_789)),
            "diagnostics/2026/01/02/dev1_20260102T235958.123456789Z.log.gz"
        );
        assert_eq!(
            object_key("/team/a/", "dev1", t(5)),
            "team/a/diagnostics/2026/01/02/dev1_20260102T235958.000000005Z.log.gz"
        );
        // The date is the UTC date, whatever the local zone.
        let late = chrono::FixedOffset::east_opt(2 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 1, 3, 0, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert!(object_key("", "d", late).starts_with("diagnostics/2026/01/02/d_20260102T223000"));
        assert_eq!(
            day_prefix("p", t(0).date_naive()),
            "p/diagnostics/2026/01/02/"
        );
    }

    #[test]
    fn device_ids_cannot_escape_the_folder() {
        assert_eq!(sanitize_device_id("../etc/passwd"), "..-etc-passwd");
        assert_eq!(sanitize_device_id("a b/c\\d"), "a-b-c-d");
        assert_eq!(sanitize_device_id(""), "unknown");
        assert_eq!(sanitize_device_id(".."), "unknown");
        assert_eq!(sanitize_device_id("phone_7.a-B"), "phone_7.a-B");
        let k = object_key("", "x/../../y", t(0));
        assert_eq!(k.matches('/').count(), 4, "{k}");
    }

    #[test]
    fn keys_sort_like_time_and_parse_back() {
        let times = [
            t(0),
            t(1),
            t(999_999_999),
            t(0) + chrono::Duration::days(40),
        ];
        let keys: Vec<String> = times.iter().map(|&t| object_key("p", "dev_1", t)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
        for (k, &time) in keys.iter().zip(&times) {
            let parts = parse_key(k).unwrap();
            assert_eq!(parts.prefix, "p");
            assert_eq!(parts.device_id, "dev_1");
            assert_eq!(parts.batch_time, time);
        }
        assert_eq!(parse_key(&object_key("", "d", t(7))).unwrap().prefix, "");
        let sealed = encrypted_object_key("p", "dev_1", t(7));
        assert!(sealed.ends_with(".log.gz.age") && is_encrypted_key(&sealed), "{sealed}");
        assert!(!is_encrypted_key(&object_key("p", "dev_1", t(7))));
        assert_eq!(parse_key(&sealed).unwrap().batch_time, t(7));
        for bad in [
            "diagnostics/2026/01/02/nounderscore.log.gz",
            "diagnostics/2026/01/03/d_20260102T235958.000000000Z.log.gz",
            "diagnostics/2026/01/02/d_20260102T235958.000000000Z.txt",
            "xdiagnostics/2026/01/02/d_20260102T235958.000000000Z.log.gz",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_clock_is_strictly_increasing_even_when_the_wall_clock_stalls() {
        let clock = KeyClock::new();
        let now = t(0);
        let a = clock.next_after(now);
        let b = clock.next_after(now);
        let c = clock.next_after(now - chrono::Duration::seconds(5)); // clock went back
        assert_eq!(a, now);
        assert_eq!(b, now + chrono::Duration::nanoseconds(1));
        assert_eq!(c, now + chrono::Duration::nanoseconds(2));
        let keys: std::collections::HashSet<String> = (0..1000)
            .map(|_| object_key("", "d", clock.next_after(now)))
            .collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn key_clock_is_unique_across_threads() {
        let clock = std::sync::Arc::new(KeyClock::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let clock = clock.clone();
                std::thread::spawn(move || (0..500).map(|_| clock.next()).collect::<Vec<_>>())
            })
            .collect();
        let all: Vec<DateTime<Utc>> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}
