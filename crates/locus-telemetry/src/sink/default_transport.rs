//! The built-in [`Transport`] for Rust apps and `locus-diag` (feature
//! `default-transport`, on by default): `ureq`, a small blocking HTTP/1.1 client, over
//! rustls (ring). It trusts the platform's verifier (the OS trust store), or — with a
//! `ca_file` — only the certificates in that PEM file (a self-hosted MinIO or Garage
//! with a private CA). No redirects are followed; a 4xx/5xx is an answer, not an error.
//!
//! The FFI build leaves it out: there the app's platform supplies the transport.

use super::transport::{
    read_ca_file, CaFileError, HttpRequest, HttpResponse, Method, Transport, TransportError,
};
use std::path::Path;
use std::sync::Arc;

/// Largest response body read (S3 listings and error documents are far smaller; a
/// diagnostics object is at most a few MB).
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// The built-in transport: one `ureq` agent (it keeps connections alive between calls).
pub struct DefaultTransport {
    agent: ureq::Agent,
}

impl DefaultTransport {
    /// A transport trusting the platform's roots, or only `ca_file`'s certificates.
    pub fn new(ca_file: Option<&Path>) -> Result<DefaultTransport, CaFileError> {
        use ureq::tls::{RootCerts, TlsConfig};
        let roots = match ca_file {
            Some(path) => RootCerts::Specific(Arc::new(
                read_ca_file(path)?
                    .into_iter()
                    .map(|der| ureq::tls::Certificate::from_der(&der).to_owned())
                    .collect(),
            )),
            None => RootCerts::PlatformVerifier,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("locus-telemetry/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .new_agent();
        Ok(DefaultTransport { agent })
    }
}

impl Transport for DefaultTransport {
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(req.method.as_str())
            .uri(req.url.as_str());
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let failed = |message: String| TransportError::Failed { message };
        let request = builder
            .body(req.body)
            .map_err(|e| failed(format!("bad request: {e}")))?;
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(req.timeout))
            .build();
        let result = if req.method == Method::Get {
            // ureq refuses a GET with a body (even an empty one) unless told.
            let (parts, _) = request.into_parts();
            self.agent.run(ureq::http::Request::from_parts(parts, ()))
        } else {
            self.agent.run(request)
        };
        let after_ms = req.timeout.as_millis() as u64;
        let mut resp = result.map_err(|e| map_error(e, after_ms))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| map_error(e, after_ms))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn map_error(e: ureq::Error, after_ms: u64) -> TransportError {
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout { after_ms },
        ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
            TransportError::Timeout { after_ms }
        }
        ureq::Error::Io(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_) => TransportError::Connect {
            message: e.to_string(),
        },
        other => TransportError::Failed {
            message: other.to_string(),
        },
    }
}
