//! How to reach an S3 destination: endpoint, region, credentials, path style, timeouts —
//! from settings, or from the environment by the AWS conventions.
//!
//! ```
//! use locus_telemetry::sink::s3::{S3Options, SecretString};
//! let opts = S3Options {
//!     access_key_id: Some("AKIDEXAMPLE".into()),
//!     secret_access_key: Some(SecretString::new("wJalrXUtnFEMI")),
//!     ..S3Options::default()
//! };
//! assert!(!format!("{opts:?}").contains("wJalrXUtnFEMI")); // secrets never in Debug
//! ```

use crate::sink::transport::HttpClient;
use std::path::PathBuf;
use std::time::Duration;

/// A secret (S3 secret key, session token) that never shows in `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> SecretString {
        SecretString(s.into())
    }

    /// The secret itself: only for handing it to the signer.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        SecretString(s.to_owned())
    }
}

/// Connection settings for an `s3://` destination. Unused for `file://`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Custom endpoint (`http(s)://host:port`) for self-hosted S3; `None` = AWS.
    pub endpoint: Option<String>,
    /// Region to sign for; `None` = `us-east-1`.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<SecretString>,
    /// Session token for temporary credentials (`AWS_SESSION_TOKEN`).
    pub session_token: Option<SecretString>,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (self-hosted S3).
    pub force_path_style: bool,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for a whole call (one attempt, no retry inside it).
    pub operation_timeout: Duration,
    /// The transport that performs the requests; `None` = the built-in one (feature
    /// `default-transport`; without it an `s3://` destination cannot be opened).
    pub transport: Option<HttpClient>,
    /// A PEM file of the CA certificates the built-in transport trusts instead of the
    /// platform's (a private CA); unused with a `transport` of the app's.
    pub ca_file: Option<PathBuf>,
}

impl Default for S3Options {
    /// No endpoint/region/credentials, virtual-hosted style, 5 s connect and 30 s
    /// operation timeouts.
    fn default() -> Self {
        S3Options {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            force_path_style: false,
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(30),
            transport: None,
            ca_file: None,
        }
    }
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field(
                "access_key_id",
                &self.access_key_id.as_deref().map(mask_key_id),
            )
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("force_path_style", &self.force_path_style)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("transport", &self.transport)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// `AKIAIOSFODNN7EXAMPLE` → `AKIA…(20 chars)`: enough to tell keys apart, no more.
fn mask_key_id(id: &str) -> String {
    let head: String = id.chars().take(4).collect();
    format!("{head}…({} chars)", id.chars().count())
}

impl S3Options {
    /// Options from the environment: `AWS_ENDPOINT_URL`, `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, and `LOCUS_S3_PATH_STYLE` (`1`/`true` or `0`/`false`; when
    /// unset, path style is on exactly when an endpoint is set). Timeouts are the defaults.
    pub fn from_env() -> S3Options {
        S3Options::default().or_env()
    }

    /// Fills every unset field from the environment (see [`S3Options::from_env`]):
    /// explicit values win. `force_path_style` can only be switched on this way: `true`
    /// stays `true`; `false` becomes `true` if `LOCUS_S3_PATH_STYLE=1`, or if it is unset
    /// and an endpoint is configured.
    pub fn or_env(self) -> S3Options {
        self.or_vars(|name| std::env::var(name).ok())
    }

    /// [`S3Options::or_env`] with the variables looked up by `lookup` (for tests and for
    /// settings stored as key/value pairs). Empty values count as unset.
    pub fn or_vars(mut self, lookup: impl Fn(&str) -> Option<String>) -> S3Options {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if self.endpoint.is_none() {
            self.endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        }
        if self.region.is_none() {
            self.region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        }
        if self.access_key_id.is_none() && self.secret_access_key.is_none() {
            self.access_key_id = var("AWS_ACCESS_KEY_ID");
            self.secret_access_key = var("AWS_SECRET_ACCESS_KEY").map(SecretString::from);
            if self.session_token.is_none() {
                self.session_token = var("AWS_SESSION_TOKEN").map(SecretString::from);
            }
        }
        if !self.force_path_style {
            self.force_path_style = match var("LOCUS_S3_PATH_STYLE").map(|v| v.to_ascii_lowercase())
            {
                Some(v) => matches!(v.as_str(), "1" | "true" | "yes" | "on"),
                None => self.endpoint.is_some(),
            };
        }
        self
    }

    /// The region to sign for.
    pub fn region_or_default(&self) -> &str {
        self.region.as_deref().unwrap_or("us-east-1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_secrets() {
        let o = S3Options {
            access_key_id: Some("AKIAIOSFODNN7EXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG".into()),
            session_token: Some("tok-123-secret".into()),
            ..S3Options::default()
        };
        let d = format!("{o:?} {o:#?}");
        for secret in ["wJalrXUtnFEMI", "tok-123-secret", "IOSFODNN7EXAMPLE"] {
            assert!(!d.contains(secret), "{d}");
        }
        assert!(d.contains("AKIA…(20 chars)"), "{d}");
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn env_fills_unset_fields_and_explicit_values_win() {
        let env = vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "SK"),
        ]);
        let o = S3Options::default().or_vars(&env);
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(o.region_or_default(), "eu-west-1");
        assert_eq!(o.access_key_id.as_deref(), Some("AK"));
        assert_eq!(
            o.secret_access_key.as_ref().map(SecretString::expose),
            Some("SK")
        );
        assert!(o.force_path_style, "an endpoint implies path style");

        let explicit = S3Options {
            region: Some("us-west-2".into()),
            access_key_id: Some("MINE".into()),
            secret_access_key: Some("MYSECRET".into()),
            ..S3Options::default()
        }
        .or_vars(&env);
        assert_eq!(explicit.region.as_deref(), Some("us-west-2"));
        assert_eq!(explicit.access_key_id.as_deref(), Some("MINE"));
        assert_eq!(
            explicit
                .secret_access_key
                .as_ref()
                .map(SecretString::expose),
            Some("MYSECRET")
        );

        let aws = S3Options::default().or_vars(vars(&[]));
        assert!(!aws.force_path_style && aws.endpoint.is_none());
        assert_eq!(aws.region_or_default(), "us-east-1");
        let forced = S3Options::default().or_vars(vars(&[("LOCUS_S3_PATH_STYLE", "1")]));
        assert!(forced.force_path_style);
        let off = S3Options::default().or_vars(vars(&[
            ("AWS_ENDPOINT_URL", "http://x:1"),
            ("LOCUS_S3_PATH_STYLE", "0"),
        ]));
        assert!(!off.force_path_style);
        let blank = S3Options::default().or_vars(vars(&[("AWS_REGION", " ")]));
        assert_eq!(blank.region, None);
    }
}
