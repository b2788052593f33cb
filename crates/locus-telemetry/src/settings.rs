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
    /// Bytes of flight recorder (default 1 MiB).
    pub ring_bytes: usize,
    /// Diagnostics destination: `s3://bucket[/prefix]` or `file:///dir`; default
    /// `file://<data_dir>/bucket`.
    pub destination: Option<String>,
    /// Community service endpoint (`https://...`; plain `http` only to loopback).
    pub community_url: Option<String>,
    /// Days the bucket keeps diagnostics (lifecycle rule), default 30.
    pub retention_days: u32,
    /// Seconds between uploads (default 300: a phone's radio is not woken more often).
    pub upload_interval_secs: u64,
    /// Hours a destination backs off after more than 5 consecutive failures (default 6).
    pub backoff_hours: f64,
    /// Milliseconds `shutdown` may take at most by default (500).
    pub shutdown_deadline_ms: u64,
    /// Seconds one upload attempt may take (default 10).
    pub attempt_timeout_secs: u64,
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
    /// Seconds between community reports (default 86400: daily).
    pub community_period_secs: u64,
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
            community_url: None,
            retention_days: 30,
            upload_interval_secs: 300,
            backoff_hours: 6.0,
            shutdown_deadline_ms: 500,
            attempt_timeout_secs: 10,
            s3_path_style: false,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            community_metrics: Vec::new(),
            community_period_secs: 86_400,
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
            .field("community_url", &self.community_url)
            .field("retention_days", &self.retention_days)
            .field("upload_interval_secs", &self.upload_interval_secs)
            .field("backoff_hours", &self.backoff_hours)
            .field("shutdown_deadline_ms", &self.shutdown_deadline_ms)
            .field("attempt_timeout_secs", &self.attempt_timeout_secs)
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
    /// A value is out of range.
    #[error("invalid setting `{key}`: {why}")]
    Value {
        /// The key.
        key: &'static str,
        /// What is wrong.
        why: String,
    },
}

impl Settings {
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

    /// Checks ranges and formats.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key, why: &str| {
            Err(SettingsError::Value {
                key,
                why: why.to_owned(),
            })
        };
        if let Some(id) = &self.device_id {
            if !valid_device_id(id) {
                return bad("device_id", "must be 1-64 chars of [A-Za-z0-9_-]");
            }
        }
        if self.ring_bytes < crate::recorder::layout::MIN_RING_BYTES || self.ring_bytes > 1 << 30 {
            return bad("ring_bytes", "must be between 65536 and 1073741824");
        }
        if self.retention_days == 0 || self.retention_days > 3650 {
            return bad("retention_days", "must be between 1 and 3650");
        }
        if self.upload_interval_secs == 0 {
            return bad("upload_interval_secs", "must be at least 1");
        }
        if !(self.backoff_hours.is_finite() && self.backoff_hours > 0.0) {
            return bad("backoff_hours", "must be a positive number");
        }
        if self.shutdown_deadline_ms == 0 || self.shutdown_deadline_ms > 60_000 {
            return bad("shutdown_deadline_ms", "must be between 1 and 60000");
        }
        if self.attempt_timeout_secs == 0 || self.attempt_timeout_secs > 600 {
            return bad("attempt_timeout_secs", "must be between 1 and 600");
        }
        if self.community_period_secs == 0 {
            return bad("community_period_secs", "must be at least 1");
        }
        if self.app_version.is_empty() || self.app_version.len() > 64 {
            return bad("app_version", "must be 1-64 characters");
        }
        Ok(())
    }

    /// The deadline `shutdown` uses by default.
    pub fn shutdown_deadline(&self) -> Duration {
        Duration::from_millis(self.shutdown_deadline_ms)
    }

    /// The backoff after the breaker opens.
    pub fn backoff(&self) -> Duration {
        Duration::from_secs_f64(self.backoff_hours * 3600.0)
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
}
