//! The community service's HTTP client (spec §3.2): gzip'd JSON health reports and
//! deletion requests, one attempt per call. HTTPS with rustls; plain HTTP is accepted
//! only for loopback addresses (tests and local collectors).

use super::{SinkError, SinkFuture};
use locus_report::{DeletionRequest, HealthReport};
use std::io::Write;
use std::time::Duration;

/// A client for one community endpoint.
#[derive(Debug, Clone)]
pub struct CommunityClient {
    base: reqwest::Url,
    http: reqwest::Client,
}

/// Whether `host` is a loopback address or name.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    }
}

impl CommunityClient {
    /// A client for `url` (e.g. `https://community.example.org`), each call bounded by
    /// `timeout`.
    ///
    /// ```
    /// use locus_telemetry::sink::community::CommunityClient;
    /// use std::time::Duration;
    /// assert!(CommunityClient::new("https://community.example.org", Duration::from_secs(5)).is_ok());
    /// assert!(CommunityClient::new("http://127.0.0.1:8080", Duration::from_secs(5)).is_ok());
    /// assert!(CommunityClient::new("http://community.example.org", Duration::from_secs(5)).is_err());
    /// ```
    pub fn new(url: &str, timeout: Duration) -> Result<CommunityClient, SinkError> {
        let invalid = |why: &str| SinkError::InvalidDestination {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let mut base = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        let host = base.host().ok_or_else(|| invalid("no host"))?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => return Err(invalid("plain http is only allowed to loopback; use https")),
            _ => return Err(invalid("expected an https:// URL")),
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid("credentials in the URL are not accepted"));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("locus-telemetry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(CommunityClient { base, http })
    }

    /// The endpoint, for status.
    pub fn describe(&self) -> String {
        self.base.to_string()
    }

    fn post(&self, path: &str, json: Vec<u8>) -> SinkFuture<'_> {
        let dest = self.describe();
        let url = self.base.join(path);
        Box::pin(async move {
            let url = url.map_err(|e| SinkError::InvalidDestination {
                url: dest.clone(),
                why: e.to_string(),
            })?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let body = gz.write_all(&json).and_then(|_| gz.finish()).map_err(|e| {
                SinkError::Transport {
                    destination: dest.clone(),
                    message: e.to_string(),
                }
            })?;
            let resp = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(body)
                .send()
                .await
                .map_err(|e| SinkError::Transport {
                    destination: dest.clone(),
                    message: describe_reqwest(&e),
                })?;
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else {
                let text: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                Err(SinkError::Transport {
                    destination: dest,
                    message: format!("HTTP {}: {}", status.as_u16(), text.trim()),
                })
            }
        })
    }

    fn post_json(&self, path: &str, value: &impl serde::Serialize) -> SinkFuture<'_> {
        match serde_json::to_vec(value) {
            Ok(json) => self.post(path, json),
            Err(e) => {
                let destination = self.describe();
                Box::pin(async move {
                    Err(SinkError::Transport {
                        destination,
                        message: e.to_string(),
                    })
                })
            }
        }
    }

    /// Sends one report: one attempt.
    pub fn send_report(&self, report: &HealthReport) -> SinkFuture<'_> {
        self.post_json("v1/reports", report)
    }

    /// Asks the service to forget `pseudonym`: one attempt.
    pub fn send_deletion(&self, pseudonym: &str) -> SinkFuture<'_> {
        let req = DeletionRequest {
            schema: locus_report::SCHEMA_VERSION,
            pseudonym: pseudonym.to_owned(),
        };
        self.post_json("v1/deletions", &req)
    }
}

/// reqwest's message without the URL's query (where a token could sit).
fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}
