//! Settings: the spec's two switches (`enable_s3_diagnostics`, default true;
//! `enable_community_telemetry`, default false) and everything else the module needs.
//! Loadable from TOML with errors that name the key and the problem; settable in code.
//!
//! ```
//! use locus_telemetry::Settings;
//! let s = Settings::from_toml_str("enable_community_telemetry = true\nring_bytes = 262144").unwrap();
//! assert!(s.enable_s3_diagnostics);
//! assert!(s.enable_community_telemetry);
//! let err = Settings::from_toml_str("ring_bytes = \"big\"").unwrap_err();
//! assert!(err.to_string().contains("ring_bytes"));
//! ```

use serde::Deserialize;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything the telemetry module is configured with.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Ship diagnostics to the user's bucket (spec default: true).
    pub enable_s3_diagnostics: bool,
    /// Send anonymised health reports to the community service (spec default: false).
    pub enable_community_telemetry: bool,
    /// Where the ring, session marker and breaker state live.
    pub data_dir: PathBuf,
    /// The device id; generated and kept in the data dir when absent.
    pub device_id: Option<String>,
    /// The app's version.
    pub app_version: String,
    /// Bytes of flight recorder (default 1 MiB). Valid: 65536..=67108864 (64 KiB to
    /// 64 MiB, [`Settings::RING_BYTES`]).
    pub ring_bytes: usize,
    /// Diagnostics destination: `s3://bucket[/prefix]` or `file:///dir`; default
    /// `file://<data_dir>/bucket`.
    pub destination: Option<String>,
    /// Encrypt diagnostics to these age X25519 public keys (`age1…`; default none:
    /// unencrypted, as before). When set, each object is gzip'd, then age-encrypted, and
    /// named `….log.gz.age`; only a matching private key — never on the device — reads
    /// it (`locus-diag cat --identity key.txt`, `age -d -i key.txt`). An invalid entry
    /// turns uploads to the bucket off rather than send them unencrypted.
    pub diagnostics_recipients: Vec<String>,
    /// Community service endpoint (`https://...`; plain `http` only to loopback).
    pub community_url: Option<String>,
    /// Days the bucket keeps diagnostics (lifecycle rule), default 30. Valid: 1..=3650
    /// (up to ten years, [`Settings::RETENTION_DAYS`]).
    pub retention_days: u32,
    /// Seconds between uploads (default 300: a phone's radio is not woken more often).
    /// Valid: 1..=86400 (up to a day, [`Settings::UPLOAD_INTERVAL_SECS`]).
    pub upload_interval_secs: u64,
    /// Hours a destination backs off after more than 5 consecutive failures (default 6).
    /// Valid: a finite number from 0.001 (3.6 s) to 8760 (a year),
    /// [`Settings::BACKOFF_HOURS_MIN`]..=[`Settings::BACKOFF_HOURS_MAX`].
    pub backoff_hours: f64,
    /// Milliseconds `shutdown` may take at most by default (500). Valid: 1..=60000 (up to
    /// a minute, [`Settings::SHUTDOWN_DEADLINE_MS`]).
    pub shutdown_deadline_ms: u64,
    /// Seconds one upload attempt may take (default 10). Valid: 1..=600 (up to ten
    /// minutes, [`Settings::ATTEMPT_TIMEOUT_SECS`]).
    pub attempt_timeout_secs: u64,
    /// Write a tombstone for fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) in
    /// native code (default true). Turn it off when a runtime in the same process owns
    /// those signals: a JVM raises and handles SIGSEGV itself (implicit null checks,
    /// safepoints), so a handler that runs before it would write tombstones for faults
    /// that are not crashes. Panics are caught either way.
    pub capture_fatal_signals: bool,
    /// Let uploads to the user's bucket use a metered network (default false: they wait
    /// for Wi-Fi). Community reports, a few hundred bytes, may always use one.
    pub upload_on_metered: bool,
    /// Force path-style S3 addressing (self-hosted S3).
    pub s3_path_style: bool,
    /// S3 endpoint for self-hosted S3 (default: `AWS_ENDPOINT_URL`, else AWS).
    pub s3_endpoint: Option<String>,
    /// S3 region (default: `AWS_REGION`).
    pub s3_region: Option<String>,
    /// S3 access key id (default: `AWS_ACCESS_KEY_ID`).
    pub s3_access_key_id: Option<String>,
    /// S3 secret key (default: `AWS_SECRET_ACCESS_KEY`). Never printed.
    pub s3_secret_access_key: Option<String>,
    /// Metric names the app declares safe to summarise for the community.
    pub community_metrics: Vec<String>,
    /// Seconds between community reports (default 86400: daily). Valid: 1..=604800 (up
    /// to a week, [`Settings::COMMUNITY_PERIOD_SECS`]).
    pub community_period_secs: u64,
    /// Also send the period's community report in the last round before shutdown, when
    /// there is something to report (default false: reports leave once per period and
    /// on the first start after a crash). For demos and tests that compress a day into
    /// a run — `locus-diag demo --community` sets it; an app leaves it off, or its
    /// users would send a report at every exit. The send happens within
    /// `shutdown_deadline_ms`: give it room (the demo allows 10 s). The session that is ending is counted
    /// in the next period, at the next start, as always. Opt-in rules are unchanged:
    /// nothing is sent while opted out.
    pub community_report_at_shutdown: bool,
    /// The data category of each log field key the app records, for the share
    /// bundle's redaction: `technical` (kept), `location` (removed, or coarsened),
    /// `personal` (removed) or `free_text` (text redacted as templates). Keys not
    /// declared use Locus's defaults (`lat`, `lon`, `acc_m`, `alt`, `bearing`,
    /// `speed`… are location; an unknown key is free text). In TOML:
    /// `[field_categories]` then `battery_pct = "technical"`. Valid: keys of 1-64
    /// printable characters, values one of the four names.
    pub field_categories: std::collections::BTreeMap<String, String>,
    /// A PEM file of CA certificates that the built-in HTTP transport trusts instead of
    /// the platform's roots, for a self-hosted S3 or collector with a private CA
    /// (default none: the platform verifier). Valid: a readable file of at most 4 MiB
    /// holding at least one `-----BEGIN CERTIFICATE-----` block, every such block
    /// base64 DER ([`SettingsError::CaFile`] otherwise; an invalid file is dropped and the
    /// platform's roots used). Unused when the app supplies the transport (the Kotlin
    /// binding: there the phone's trust store and network security config decide).
    pub ca_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enable_s3_diagnostics: true,
            enable_community_telemetry: false,
            data_dir: PathBuf::from("locus-data"),
            device_id: None,
            app_version: "0.0.0".into(),
            ring_bytes: crate::recorder::layout::DEFAULT_RING_BYTES,
            destination: None,
            diagnostics_recipients: Vec::new(),
            community_url: None,
            retention_days: 30,
            upload_interval_secs: 300,
            backoff_hours: Settings::DEFAULT_BACKOFF_HOURS,
            shutdown_deadline_ms: 500,
            attempt_timeout_secs: 10,
            capture_fatal_signals: true,
            upload_on_metered: false,
            s3_path_style: false,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            community_metrics: Vec::new(),
            community_period_secs: 86_400,
            community_report_at_shutdown: false,
            field_categories: std::collections::BTreeMap::new(),
            ca_file: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    // Hand-written so the secret key can never reach a log line or a status screen.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("enable_s3_diagnostics", &self.enable_s3_diagnostics)
            .field(
                "enable_community_telemetry",
                &self.enable_community_telemetry,
            )
            .field("data_dir", &self.data_dir)
            .field("device_id", &self.device_id)
            .field("app_version", &self.app_version)
            .field("ring_bytes", &self.ring_bytes)
            .field("destination", &self.destination)
            .field("diagnostics_recipients", &self.diagnostics_recipients)
            .field("community_url", &self.community_url)
            .field("retention_days", &self.retention_days)
            .field("upload_interval_secs", &self.upload_interval_secs)
            .field("backoff_hours", &self.backoff_hours)
            .field("shutdown_deadline_ms", &self.shutdown_deadline_ms)
            .field("attempt_timeout_secs", &self.attempt_timeout_secs)
            .field("capture_fatal_signals", &self.capture_fatal_signals)
            .field("upload_on_metered", &self.upload_on_metered)
            .field("s3_path_style", &self.s3_path_style)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field(
                "s3_access_key_id",
                &self.s3_access_key_id.as_ref().map(|_| "<set>"),
            )
            .field(
                "s3_secret_access_key",
                &self.s3_secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("community_metrics", &self.community_metrics)
            .field("community_period_secs", &self.community_period_secs)
            .field(
                "community_report_at_shutdown",
                &self.community_report_at_shutdown,
            )
            .field("field_categories", &self.field_categories)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Why settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("cannot read settings file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has a wrong type or unknown key.
    #[error("invalid settings{}: {message}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A value has the wrong form (a device id with a `/`, an empty app version).
    #[error("invalid setting `{key}`: {why}")]
    Value {
        /// The key.
        key: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A number is outside its documented range.
    #[error("invalid setting `{key}`: {value} is out of range: must be {range}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value as given (`NaN`, `inf`, `3000000000`, ...).
        value: String,
        /// The key's valid range.
        range: ValidRange,
    },
    /// `ca_file` is unreadable or not PEM certificates.
    #[error("invalid setting `ca_file`: {0}")]
    CaFile(#[source] crate::sink::transport::CaFileError),
}

impl SettingsError {
    /// The key a [`SettingsError::Value`] or [`SettingsError::OutOfRange`] is about.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            SettingsError::Value { key, .. } | SettingsError::OutOfRange { key, .. } => Some(key),
            SettingsError::CaFile(_) => Some("ca_file"),
            SettingsError::Read { .. } | SettingsError::Parse { .. } => None,
        }
    }
}

/// The valid range of a numeric setting, as [`SettingsError::OutOfRange`] reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValidRange {
    /// A whole number from `min` to `max`, both included.
    Whole {
        /// Smallest valid value.
        min: u64,
        /// Largest valid value.
        max: u64,
    },
    /// A finite number from `min` to `max`, both included.
    Real {
        /// Smallest valid value.
        min: f64,
        /// Largest valid value.
        max: f64,
    },
}

impl std::fmt::Display for ValidRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValidRange::Whole { min, max } => write!(f, "between {min} and {max}"),
            ValidRange::Real { min, max } => write!(f, "a finite number from {min} to {max}"),
        }
    }
}

impl ValidRange {
    fn whole<T: Copy + TryInto<u64>>(range: &RangeInclusive<T>) -> ValidRange {
        ValidRange::Whole {
            min: (*range.start()).try_into().unwrap_or(u64::MAX),
            max: (*range.end()).try_into().unwrap_or(u64::MAX),
        }
    }
}

/// `Ok` if `value` is within `range`, else an [`SettingsError::OutOfRange`] naming `key`.
fn check_whole<T>(
    key: &'static str,
    value: T,
    range: &RangeInclusive<T>,
) -> Result<(), SettingsError>
where
    T: Copy + PartialOrd + TryInto<u64> + std::fmt::Display,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(SettingsError::OutOfRange {
            key,
            value: value.to_string(),
            range: ValidRange::whole(range),
        })
    }
}

impl Settings {
    /// Valid `ring_bytes`: 64 KiB to 64 MiB. Readers and salvage never read more than this.
    pub const RING_BYTES: RangeInclusive<usize> = 65_536..=67_108_864;
    /// Valid `retention_days`: a day to ten years.
    pub const RETENTION_DAYS: RangeInclusive<u32> = 1..=3650;
    /// Valid `upload_interval_secs`: a second to a day (the ring would be overwritten
    /// long before a longer interval came round).
    pub const UPLOAD_INTERVAL_SECS: RangeInclusive<u64> = 1..=86_400;
    /// Smallest valid `backoff_hours`: 3.6 seconds (a backoff of a few nanoseconds
    /// would be none at all).
    pub const BACKOFF_HOURS_MIN: f64 = 0.001;
    /// Largest valid `backoff_hours`: a year.
    pub const BACKOFF_HOURS_MAX: f64 = 8760.0;
    /// Valid `shutdown_deadline_ms`: a millisecond to a minute.
    pub const SHUTDOWN_DEADLINE_MS: RangeInclusive<u64> = 1..=60_000;
    /// Valid `attempt_timeout_secs`: a second to ten minutes.
    pub const ATTEMPT_TIMEOUT_SECS: RangeInclusive<u64> = 1..=600;
    /// Valid `community_period_secs`: a second to a week.
    pub const COMMUNITY_PERIOD_SECS: RangeInclusive<u64> = 1..=604_800;
    /// The default `backoff_hours`, also what [`Settings::backoff`] uses for a NaN.
    pub const DEFAULT_BACKOFF_HOURS: f64 = 6.0;

    /// Parses TOML text and validates it.
    pub fn from_toml_str(text: &str) -> Result<Settings, SettingsError> {
        let s: Settings = toml::from_str(text).map_err(|e| SettingsError::Parse {
            path: None,
            message: e.to_string().trim().to_owned(),
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Reads and validates a TOML file.
    pub fn from_toml_file(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            SettingsError::Parse { message, .. } => SettingsError::Parse {
                path: Some(path.to_path_buf()),
                message,
            },
            other => other,
        })
    }

    /// Checks ranges and formats: every number against its documented range (see each
    /// field), the device id's alphabet, the app version's length. The first problem
    /// found is returned, naming its key (for callers who refuse invalid settings;
    /// [`Settings::with_defaults_for_invalid`] lists them all and falls back instead).
    pub fn validate(&self) -> Result<(), SettingsError> {
        CHECKS.iter().try_for_each(|c| (c.check)(self))
    }

    /// These settings with every invalid value replaced by its default, and for each one
    /// replaced the error and the default used (in words). What `Telemetry::start` runs
    /// with: an invalid value costs its own setting, never the rest.
    ///
    /// ```
    /// use locus_telemetry::Settings;
    /// let s = Settings { retention_days: 0, upload_interval_secs: 60, ..Settings::default() };
    /// let (used, replaced) = s.with_defaults_for_invalid();
    /// assert_eq!(used.retention_days, 30);
    /// assert_eq!(used.upload_interval_secs, 60);
    /// assert_eq!(replaced[0].0.key(), Some("retention_days"));
    /// assert_eq!(replaced[0].1, "30");
    /// ```
    pub fn with_defaults_for_invalid(&self) -> (Settings, Vec<(SettingsError, String)>) {
        let mut used = self.clone();
        let defaults = Settings::default();
        let mut replaced = Vec::new();
        for c in CHECKS {
            if let Err(e) = (c.check)(&used) {
                let default = (c.reset)(&mut used, &defaults);
                replaced.push((e, default));
            }
        }
        (used, replaced)
    }

    /// Checks a device id as `validate` does (for command-line parsers).
    pub fn check_device_id(id: &str) -> Result<(), SettingsError> {
        if valid_device_id(id) {
            Ok(())
        } else {
            Err(SettingsError::Value {
                key: "device_id",
                why: "must be 1-64 chars of [A-Za-z0-9_-]".to_owned(),
            })
        }
    }

    /// Checks `diagnostics_recipients` as `validate` does: empty, or every entry an age
    /// X25519 public key (`age1…`). A private key given by mistake is named by position,
    /// never shown.
    pub fn check_diagnostics_recipients(&self) -> Result<(), SettingsError> {
        crate::sink::s3::Recipients::parse_optional(&self.diagnostics_recipients)
            .map(drop)
            .map_err(|e| SettingsError::Value {
                key: "diagnostics_recipients",
                why: e.to_string(),
            })
    }

    /// Checks an app version as `validate` does (for command-line parsers).
    pub fn check_app_version(version: &str) -> Result<(), SettingsError> {
        if version.is_empty() || version.len() > 64 {
            Err(SettingsError::Value {
                key: "app_version",
                why: "must be 1-64 characters".to_owned(),
            })
        } else {
            Ok(())
        }
    }

    /// The deadline `shutdown` uses by default. Never panics: a value outside
    /// [`Settings::SHUTDOWN_DEADLINE_MS`] is clamped into it.
    pub fn shutdown_deadline(&self) -> Duration {
        Duration::from_millis(clamp(
            self.shutdown_deadline_ms,
            &Self::SHUTDOWN_DEADLINE_MS,
        ))
    }

    /// The backoff after the breaker opens. Never panics: NaN reads as the default, and
    /// anything else is clamped into
    /// [`Settings::BACKOFF_HOURS_MIN`]..=[`Settings::BACKOFF_HOURS_MAX`] hours.
    pub fn backoff(&self) -> Duration {
        let hours = if self.backoff_hours.is_nan() {
            Self::DEFAULT_BACKOFF_HOURS
        } else {
            self.backoff_hours
                .clamp(Self::BACKOFF_HOURS_MIN, Self::BACKOFF_HOURS_MAX)
        };
        Duration::from_secs_f64(hours * 3600.0)
    }

    /// Time between uploads, clamped into [`Settings::UPLOAD_INTERVAL_SECS`].
    pub fn upload_interval(&self) -> Duration {
        Duration::from_secs(clamp(
            self.upload_interval_secs,
            &Self::UPLOAD_INTERVAL_SECS,
        ))
    }

    /// Time one upload attempt may take, clamped into [`Settings::ATTEMPT_TIMEOUT_SECS`].
    pub fn attempt_timeout(&self) -> Duration {
        Duration::from_secs(clamp(
            self.attempt_timeout_secs,
            &Self::ATTEMPT_TIMEOUT_SECS,
        ))
    }

    /// Time between community reports, clamped into [`Settings::COMMUNITY_PERIOD_SECS`].
    pub fn community_period(&self) -> Duration {
        Duration::from_secs(clamp(
            self.community_period_secs,
            &Self::COMMUNITY_PERIOD_SECS,
        ))
    }

    /// The destination URL, defaulting to the embedded local bucket.
    pub fn destination_url(&self) -> String {
        self.destination.clone().unwrap_or_else(|| {
            let root = std::path::absolute(self.data_dir.join("bucket"))
                .unwrap_or_else(|_| self.data_dir.join("bucket"));
            // Written as a `Destination` writes itself, so that a data dir holding `%`,
            // `?` or `#` still parses back to the same directory.
            crate::sink::s3::Destination::File { root }.to_string()
        })
    }

    /// S3 options: explicit settings first, then the AWS environment variables.
    pub fn s3_options(&self) -> crate::sink::s3::S3Options {
        use crate::sink::s3::{S3Options, SecretString};
        let timeout = Duration::from_secs(self.attempt_timeout_secs);
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone().map(SecretString::new),
            force_path_style: self.s3_path_style,
            connect_timeout: timeout.min(Duration::from_secs(5)),
            operation_timeout: timeout,
            ca_file: self.ca_file.clone(),
            ..S3Options::default()
        }
        .or_env()
    }
}

/// One setting's check, and how to put its default back (returning it in words).
struct Check {
    check: fn(&Settings) -> Result<(), SettingsError>,
    reset: fn(&mut Settings, &Settings) -> String,
}

/// Every setting that can be invalid, in the order `validate` reports them.
const CHECKS: &[Check] = &[
    Check {
        check: |s| match &s.ca_file {
            Some(p) => crate::sink::transport::read_ca_file(p)
                .map(drop)
                .map_err(SettingsError::CaFile),
            None => Ok(()),
        },
        reset: |s, _| {
            s.ca_file = None;
            "none: the platform's trust store".to_owned()
        },
    },
    Check {
        check: Settings::check_diagnostics_recipients,
        // Fail closed: never upload unencrypted what the user asked to be encrypted.
        reset: |s, _| {
            s.diagnostics_recipients = Vec::new();
            s.enable_s3_diagnostics = false;
            "none, and uploads to the bucket off (records stay on the device; diagnostics are \
             never uploaded unencrypted when encryption was asked for)"
                .to_owned()
        },
    },
    Check {
        check: |s| s.device_id.as_deref().map_or(Ok(()), Settings::check_device_id),
        reset: |s, _| {
            s.device_id = None;
            "a generated id kept in the data dir".to_owned()
        },
    },
    Check {
        check: |s| check_whole("ring_bytes", s.ring_bytes, &Settings::RING_BYTES),
        reset: |s, d| {
            s.ring_bytes = d.ring_bytes;
            d.ring_bytes.to_string()
        },
    },
    Check {
        check: |s| check_whole("retention_days", s.retention_days, &Settings::RETENTION_DAYS),
        reset: |s, d| {
            s.retention_days = d.retention_days;
            d.retention_days.to_string()
        },
    },
    Check {
        check: |s| {
            check_whole(
                "upload_interval_secs",
                s.upload_interval_secs,
                &Settings::UPLOAD_INTERVAL_SECS,
            )
        },
        reset: |s, d| {
            s.upload_interval_secs = d.upload_interval_secs;
            d.upload_interval_secs.to_string()
        },
    },
    Check {
        check: |s| {
            let hours = s.backoff_hours;
            // Written so that NaN fails too.
            if hours.is_finite()
                && (Settings::BACKOFF_HOURS_MIN..=Settings::BACKOFF_HOURS_MAX).contains(&hours)
            {
                Ok(())
            } else {
                Err(SettingsError::OutOfRange {
                    key: "backoff_hours",
                    value: hours.to_string(),
                    range: ValidRange::Real {
                        min: Settings::BACKOFF_HOURS_MIN,
                        max: Settings::BACKOFF_HOURS_MAX,
                    },
                })
            }
        },
        reset: |s, d| {
            s.backoff_hours = d.backoff_hours;
            d.backoff_hours.to_string()
        },
    },
    Check {
        check: |s| {
            check_whole(
                "shutdown_deadline_ms",
                s.shutdown_deadline_ms,
                &Settings::SHUTDOWN_DEADLINE_MS,
            )
        },
        reset: |s, d| {
            s.shutdown_deadline_ms = d.shutdown_deadline_ms;
            d.shutdown_deadline_ms.to_string()
        },
    },
    Check {
        check: |s| {
            check_whole(
                "attempt_timeout_secs",
                s.attempt_timeout_secs,
                &Settings::ATTEMPT_TIMEOUT_SECS,
            )
        },
        reset: |s, d| {
            s.attempt_timeout_secs = d.attempt_timeout_secs;
            d.attempt_timeout_secs.to_string()
        },
    },
    Check {
        check: |s| {
            check_whole(
                "community_period_secs",
                s.community_period_secs,
                &Settings::COMMUNITY_PERIOD_SECS,
            )
        },
        reset: |s, d| {
            s.community_period_secs = d.community_period_secs;
            d.community_period_secs.to_string()
        },
    },
    Check {
        check: |s| {
            s.field_categories.iter().try_for_each(|(key, name)| {
                let key_ok = !key.is_empty()
                    && key.chars().count() <= 64
                    && !key.chars().any(|c| c.is_control() || c.is_whitespace());
                if !key_ok {
                    return Err(SettingsError::Value {
                        key: "field_categories",
                        why: format!("{key:?}: a key must be 1-64 printable characters without spaces"),
                    });
                }
                match locus_privacy::redact::DataCategory::from_name(name) {
                    Some(_) => Ok(()),
                    None => Err(SettingsError::Value {
                        key: "field_categories",
                        why: format!(
                            "{key} = {name:?}: must be one of {}",
                            locus_privacy::redact::CATEGORY_NAMES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }),
                }
            })
        },
        reset: |s, _| {
            s.field_categories.clear();
            "none declared (Locus's defaults for every key)".to_owned()
        },
    },
    Check {
        check: |s| Settings::check_app_version(&s.app_version),
        reset: |s, d| {
            s.app_version = d.app_version.clone();
            d.app_version.clone()
        },
    },
];

fn clamp(value: u64, range: &RangeInclusive<u64>) -> u64 {
    value.clamp(*range.start(), *range.end())
}

/// Device ids end up in object keys: keep them to a safe alphabet.
pub fn valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_destination_parses_back_to_the_data_dir_whatever_its_name() {
        for name in ["plain", "with space", "100%", "what?", "#1"] {
            let settings = Settings {
                data_dir: std::path::PathBuf::from("/data").join(name),
                ..Settings::default()
            };
            let url = settings.destination_url();
            let parsed = crate::sink::s3::Destination::parse(&url).expect("parses");
            assert_eq!(
                parsed,
                crate::sink::s3::Destination::File {
                    root: std::path::PathBuf::from("/data").join(name).join("bucket")
                },
                "{url}"
            );
        }
    }

    #[test]
    fn recipients_are_checked_and_an_invalid_one_turns_uploads_off_not_plaintext() {
        assert!(Settings::default().diagnostics_recipients.is_empty());
        let public = age::x25519::Identity::generate().to_public().to_string();
        let s = Settings::from_toml_str(&format!("diagnostics_recipients = [\"{public}\"]"))
            .unwrap();
        assert_eq!(s.diagnostics_recipients.len(), 1);
        assert_eq!(s.diagnostics_recipients[0], public);
        let err = Settings::from_toml_str("diagnostics_recipients = [\"age1typo\"]").unwrap_err();
        assert_eq!(err.key(), Some("diagnostics_recipients"), "{err}");
        assert!(err.to_string().contains("age1typo"), "{err}");
        let bad = Settings {
            diagnostics_recipients: vec![public, "ssh-ed25519 AAAA".into()],
            retention_days: 7,
            ..Settings::default()
        };
        let (used, replaced) = bad.with_defaults_for_invalid();
        used.validate().expect("what is used is valid");
        assert!(used.diagnostics_recipients.is_empty());
        assert!(!used.enable_s3_diagnostics, "fails closed");
        assert_eq!(used.retention_days, 7, "the rest is kept");
        assert_eq!(replaced.len(), 1);
        assert_eq!(replaced[0].0.key(), Some("diagnostics_recipients"));
    }

    #[test]
    fn report_at_shutdown_is_off_by_default_and_a_plain_bool() {
        assert!(!Settings::default().community_report_at_shutdown);
        let s = Settings::from_toml_str("community_report_at_shutdown = true").unwrap();
        assert!(s.community_report_at_shutdown);
        let err = Settings::from_toml_str("community_report_at_shutdown = 1").unwrap_err();
        assert!(
            err.to_string().contains("community_report_at_shutdown"),
            "{err}"
        );
    }

    #[test]
    fn each_invalid_value_falls_back_alone_and_is_listed_with_its_default() {
        let s = Settings {
            device_id: Some("dev.1".into()),
            ring_bytes: 10,
            backoff_hours: f64::NAN,
            upload_interval_secs: 60,
            app_version: "4.2".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_err(), "validate still refuses");
        let (used, replaced) = s.with_defaults_for_invalid();
        used.validate().expect("what is used is valid");
        assert_eq!(used.device_id, None);
        assert_eq!(used.ring_bytes, Settings::default().ring_bytes);
        assert_eq!(used.backoff_hours, 6.0);
        assert_eq!((used.upload_interval_secs, used.app_version.as_str()), (60, "4.2"));
        let keys: Vec<_> = replaced.iter().map(|(e, _)| e.key()).collect();
        assert_eq!(
            keys,
            [Some("device_id"), Some("ring_bytes"), Some("backoff_hours")]
        );
        assert_eq!(replaced[1].1, "1048576");
        assert_eq!(Settings::default().with_defaults_for_invalid().1.len(), 0);
    }

    #[test]
    fn defaults_follow_the_spec() {
        let s = Settings::default();
        assert!(s.enable_s3_diagnostics);
        assert!(!s.enable_community_telemetry);
        assert_eq!(s.retention_days, 30);
        assert_eq!(s.backoff(), Duration::from_secs(6 * 3600));
        assert_eq!(Settings::from_toml_str("").unwrap(), s);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Settings {
            s3_secret_access_key: Some("wJalrXUtnFEMI/K7MDENG".into()),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("wJalr"));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("ring_bytes = 10", "ring_bytes"),
            ("device_id = \"../../etc\"", "device_id"),
            ("enable_s3_diagnostics = \"yes\"", "enable_s3_diagnostics"),
            ("retention_days = 0", "retention_days"),
            ("colour = 1", "colour"),
            ("backoff_hours = nan", "backoff_hours"),
            ("[[[", "invalid settings"),
        ] {
            let err = Settings::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    /// One numeric key: a setter, its bounds and values just outside them.
    struct Case {
        key: &'static str,
        set: fn(&mut Settings, u64),
        min: u64,
        max: u64,
    }

    fn integer_cases() -> Vec<Case> {
        let whole = |r: &RangeInclusive<u64>| (*r.start(), *r.end());
        let mut cases = Vec::new();
        let (min, max) = (
            *Settings::RING_BYTES.start() as u64,
            *Settings::RING_BYTES.end() as u64,
        );
        cases.push(Case {
            key: "ring_bytes",
            set: |s, v| s.ring_bytes = usize::try_from(v).unwrap_or(usize::MAX),
            min,
            max,
        });
        cases.push(Case {
            key: "retention_days",
            set: |s, v| s.retention_days = u32::try_from(v).unwrap_or(u32::MAX),
            min: u64::from(*Settings::RETENTION_DAYS.start()),
            max: u64::from(*Settings::RETENTION_DAYS.end()),
        });
        let (min, max) = whole(&Settings::UPLOAD_INTERVAL_SECS);
        cases.push(Case {
            key: "upload_interval_secs",
            set: |s, v| s.upload_interval_secs = v,
            min,
            max,
        });
        let (min, max) = whole(&Settings::SHUTDOWN_DEADLINE_MS);
        cases.push(Case {
            key: "shutdown_deadline_ms",
            set: |s, v| s.shutdown_deadline_ms = v,
            min,
            max,
        });
        let (min, max) = whole(&Settings::ATTEMPT_TIMEOUT_SECS);
        cases.push(Case {
            key: "attempt_timeout_secs",
            set: |s, v| s.attempt_timeout_secs = v,
            min,
            max,
        });
        let (min, max) = whole(&Settings::COMMUNITY_PERIOD_SECS);
        cases.push(Case {
            key: "community_period_secs",
            set: |s, v| s.community_period_secs = v,
            min,
            max,
        });
        cases
    }

    fn with(case: &Case, v: u64) -> Settings {
        let mut s = Settings::default();
        (case.set)(&mut s, v);
        s
    }

    #[test]
    fn the_documented_ranges_are_the_ones_asked_for() {
        assert_eq!(Settings::RING_BYTES, 65_536..=67_108_864);
        assert_eq!(
            *Settings::RING_BYTES.start(),
            crate::recorder::layout::MIN_RING_BYTES
        );
        // The readers' bound: a valid setting is never a ring they refuse.
        assert_eq!(
            *Settings::RING_BYTES.end(),
            crate::recorder::layout::MAX_RING_BYTES
        );
        assert_eq!(Settings::BACKOFF_HOURS_MIN, 0.001);
        assert_eq!(Settings::BACKOFF_HOURS_MAX, 8760.0);
        // Nothing converts to more than a year of time.
        for case in integer_cases() {
            assert!(case.min >= 1, "{}", case.key);
        }
        assert!(*Settings::COMMUNITY_PERIOD_SECS.end() <= 365 * 86_400);
        assert!(*Settings::UPLOAD_INTERVAL_SECS.end() <= 365 * 86_400);
        assert!(*Settings::ATTEMPT_TIMEOUT_SECS.end() <= 365 * 86_400);
    }

    #[test]
    fn the_defaults_validate() {
        Settings::default().validate().expect("defaults are valid");
        let d = Settings::default();
        assert_eq!(d.shutdown_deadline(), Duration::from_millis(500));
        assert_eq!(d.upload_interval(), Duration::from_secs(300));
        assert_eq!(d.attempt_timeout(), Duration::from_secs(10));
        assert_eq!(d.community_period(), Duration::from_secs(86_400));
    }

    #[test]
    fn every_integer_key_accepts_its_bounds_and_names_itself_outside_them() {
        for case in integer_cases() {
            for ok in [case.min, case.max] {
                with(&case, ok)
                    .validate()
                    .unwrap_or_else(|e| panic!("{} = {ok}: {e}", case.key));
            }
            for bad in [case.min - 1, case.max + 1, u64::MAX] {
                let err = with(&case, bad)
                    .validate()
                    .expect_err(&format!("{} = {bad} must fail", case.key));
                assert_eq!(err.key(), Some(case.key), "{err}");
                let text = err.to_string();
                assert!(text.contains(case.key), "{text}");
                assert!(
                    text.contains(&format!("between {} and {}", case.min, case.max)),
                    "the error states the range: {text}"
                );
                assert!(matches!(err, SettingsError::OutOfRange { .. }), "{text}");
            }
        }
    }

    #[test]
    fn backoff_hours_accepts_its_bounds_and_refuses_nan_infinities_negatives_and_huge() {
        for ok in [
            Settings::BACKOFF_HOURS_MIN,
            0.5,
            6.0,
            Settings::BACKOFF_HOURS_MAX,
        ] {
            Settings {
                backoff_hours: ok,
                ..Settings::default()
            }
            .validate()
            .unwrap_or_else(|e| panic!("backoff_hours = {ok}: {e}"));
        }
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            5.7e-309,
            0.000999,
            8760.000001,
            3e9,
            1e300,
            f64::MAX,
        ] {
            let err = Settings {
                backoff_hours: bad,
                ..Settings::default()
            }
            .validate()
            .expect_err(&format!("backoff_hours = {bad} must fail"));
            assert_eq!(err.key(), Some("backoff_hours"), "{err}");
            let text = err.to_string();
            assert!(
                text.contains("backoff_hours") && text.contains("from 0.001 to 8760"),
                "{text}"
            );
        }
    }

    #[test]
    fn out_of_range_values_in_toml_name_the_key() {
        for (text, key) in [
            ("backoff_hours = 3e9", "backoff_hours"),
            ("backoff_hours = 1e300", "backoff_hours"),
            ("backoff_hours = inf", "backoff_hours"),
            ("backoff_hours = -1.0", "backoff_hours"),
            ("ring_bytes = 1073741824", "ring_bytes"),
            ("upload_interval_secs = 0", "upload_interval_secs"),
            (
                "upload_interval_secs = 100000000000",
                "upload_interval_secs",
            ),
            ("shutdown_deadline_ms = 60001", "shutdown_deadline_ms"),
            ("attempt_timeout_secs = 0", "attempt_timeout_secs"),
            ("retention_days = 3651", "retention_days"),
            (
                "community_period_secs = 9999999999",
                "community_period_secs",
            ),
        ] {
            let err = Settings::from_toml_str(text).expect_err(text);
            assert_eq!(err.key(), Some(key), "{text}: {err}");
        }
    }

    #[test]
    fn accessors_never_panic_on_unvalidated_values() {
        for hours in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            3e9,
            1e300,
            f64::MAX,
        ] {
            let s = Settings {
                backoff_hours: hours,
                shutdown_deadline_ms: u64::MAX,
                upload_interval_secs: u64::MAX,
                attempt_timeout_secs: 0,
                community_period_secs: u64::MAX,
                ..Settings::default()
            };
            let backoff = s.backoff();
            assert!(
                backoff >= Duration::from_millis(3600)
                    && backoff <= Duration::from_secs(8760 * 3600),
                "{hours}: {backoff:?}"
            );
            assert_eq!(s.shutdown_deadline(), Duration::from_secs(60));
            assert_eq!(s.upload_interval(), Duration::from_secs(86_400));
            assert_eq!(s.attempt_timeout(), Duration::from_secs(1));
            assert_eq!(s.community_period(), Duration::from_secs(604_800));
        }
        let nan = Settings {
            backoff_hours: f64::NAN,
            ..Settings::default()
        };
        assert_eq!(nan.backoff(), Duration::from_secs(6 * 3600));
    }

    proptest::proptest! {
        #[test]
        fn whatever_passes_validate_converts_without_overflow(
            hours in proptest::prop_oneof![0.0..=9000.0f64, proptest::num::f64::ANY],
            deadline_ms in proptest::prop_oneof![0..=120_000u64, proptest::num::u64::ANY],
            interval in proptest::prop_oneof![0..=200_000u64, proptest::num::u64::ANY],
            attempt in proptest::prop_oneof![0..=1_200u64, proptest::num::u64::ANY],
            period in proptest::prop_oneof![0..=1_300_000u64, proptest::num::u64::ANY],
        ) {
            let s = Settings {
                backoff_hours: hours,
                shutdown_deadline_ms: deadline_ms,
                upload_interval_secs: interval,
                attempt_timeout_secs: attempt,
                community_period_secs: period,
                ..Settings::default()
            };
            // Called on any value, valid or not: no panic.
            let durations = [
                s.backoff(),
                s.shutdown_deadline(),
                s.upload_interval(),
                s.attempt_timeout(),
                s.community_period(),
            ];
            if s.validate().is_ok() {
                // What the library does with them: an Instant deadline and a wall-clock
                // `open_until` in the breaker.
                let now = std::time::Instant::now();
                let wall = chrono::Utc::now();
                for d in durations {
                    proptest::prop_assert!(d > Duration::ZERO);
                    proptest::prop_assert!(now.checked_add(d).is_some());
                    let cd = chrono::Duration::from_std(d);
                    proptest::prop_assert!(cd.is_ok());
                    proptest::prop_assert!(cd.ok().and_then(|cd| wall.checked_add_signed(cd)).is_some());
                }
                proptest::prop_assert_eq!(
                    s.backoff(),
                    Duration::from_secs_f64(hours * 3600.0),
                    "a valid value is not clamped"
                );
            }
        }
    }
}
