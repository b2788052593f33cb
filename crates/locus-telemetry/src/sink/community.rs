//! The community service's HTTP client (spec §3.2): gzip'd JSON health reports and
//! deletion requests, one attempt per call, each a POST handed to the
//! [`Transport`](super::transport::Transport) seam (the built-in one by default). HTTPS
//! only; plain HTTP is accepted only for loopback addresses (tests and local collectors).

use super::transport::{HttpClient, HttpRequest, Method};
use super::{SinkError, SinkFuture};
use locus_report::{DeletionRequest, HealthReport};
use std::io::Write;
use std::time::Duration;

/// A client for one community endpoint.
#[derive(Debug, Clone)]
pub struct CommunityClient {
    base: url::Url,
    http: HttpClient,
    timeout: Duration,
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
    /// A client for `url` (e.g. `https://community.example.org`) over the built-in
    /// transport trusting `ca_file` (or the platform's roots), each call bounded by
    /// `timeout`; without the built-in transport in this build, an error.
    ///
    /// ```
    /// use locus_telemetry::sink::community::CommunityClient;
    /// use std::time::Duration;
    /// let t = Duration::from_secs(5);
    /// assert!(CommunityClient::with_default_transport("https://community.example.org", t, None).is_ok());
    /// assert!(CommunityClient::with_default_transport("http://127.0.0.1:8080", t, None).is_ok());
    /// assert!(CommunityClient::with_default_transport("http://community.example.org", t, None).is_err());
    /// ```
    pub fn with_default_transport(
        url: &str,
        timeout: Duration,
        ca_file: Option<&std::path::Path>,
    ) -> Result<CommunityClient, SinkError> {
        let http = HttpClient::built_in(ca_file).map_err(|why| SinkError::InvalidDestination {
            url: url.to_owned(),
            why,
        })?;
        CommunityClient::with_transport(url, timeout, http)
    }

    /// A client for `url` sending through `http`, each call bounded by `timeout`.
    pub fn with_transport(
        url: &str,
        timeout: Duration,
        http: HttpClient,
    ) -> Result<CommunityClient, SinkError> {
        let invalid = |why: &str| SinkError::InvalidDestination {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let mut base = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
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
        Ok(CommunityClient {
            base,
            http,
            timeout,
        })
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
            let req = HttpRequest::new(Method::Post, url.to_string(), self.timeout)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .header(
                    "user-agent",
                    concat!("locus-telemetry/", env!("CARGO_PKG_VERSION")),
                )
                .body(body);
            let resp = self
                .http
                .call(req)
                .await
                .map_err(|e| SinkError::from_transport(dest.clone(), e, |other| other.to_string()))?;
            if (200..300).contains(&resp.status) {
                Ok(())
            } else {
                let text: String = String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(200)
                    .collect();
                Err(SinkError::Transport {
                    destination: dest,
                    message: format!("HTTP {}: {}", resp.status, text.trim()),
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
