//! The platform's HTTP transport, given from Kotlin (a UniFFI foreign trait): this build
//! carries no HTTP client, TLS library or AWS SDK; telemetry builds each upload as a
//! request (S3 ones SigV4-signed) and the app's [`HttpTransport`] — on Android an
//! `HttpURLConnection`, so the phone's trust store, proxies and VPN decide — performs it.
//!
//! Whatever the foreign side does, the app is not held up: an exception becomes a failed
//! attempt (the breaker counts it), a status outside 100..=599 is garbage and a failed
//! attempt too, and a call that never returns is abandoned at its deadline — the library
//! runs the transport on one thread of its own and starts no second call while one is
//! stuck (see `locus_telemetry::transport::HttpClient`).

use crate::{LocusTelemetry, SettingsError, TelemetrySettings};
use locus_telemetry::transport::{
    HttpRequest as CoreRequest, HttpResponse as CoreResponse, Transport as CoreTransport,
    TransportError as CoreError,
};
use locus_telemetry::{Settings as CoreSettings, Telemetry};
use std::sync::Arc;

/// One header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Its name (lower-case in requests).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A request to send exactly as it is: no header added that could break the signature,
/// no redirect followed.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// `GET`, `PUT` or `POST`.
    pub method: String,
    /// The absolute URL, query included (an S3 request's signature is in it: never log it).
    pub url: String,
    /// The headers to send.
    pub headers: Vec<HttpHeader>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
    /// How long the whole exchange may take, connecting included.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.split('?').next().unwrap_or(""))
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What the server answered: any status (an error status is an answer too).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    /// The HTTP status (100..=599; anything else is taken as a failed attempt).
    pub status: u16,
    /// The response headers.
    pub headers: Vec<HttpHeader>,
    /// The response body.
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HttpTransportError {
    /// No answer in time.
    #[error("timed out: {reason}")]
    Timeout {
        /// What the platform said.
        reason: String,
    },
    /// The server could not be reached (DNS, refused, TLS, certificate not trusted...).
    #[error("cannot reach the server: {reason}")]
    Connect {
        /// What the platform said.
        reason: String,
    },
    /// Anything else (also: the foreign code threw something unexpected).
    #[error("transport failed: {reason}")]
    Failed {
        /// What happened.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HttpTransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HttpTransportError::Failed {
            reason: format!("the transport threw: {}", e.reason),
        }
    }
}

/// The app's HTTP transport. `send` blocks until the exchange is over (it is called on
/// telemetry's own transport thread, never the app's), sends the request once and
/// answers the server's status, or throws/returns an [`HttpTransportError`].
#[uniffi::export(with_foreign)]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` once and answers what the server said.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpTransportError>;
}

/// A foreign [`HttpTransport`] as the library's transport.
struct Foreign(Arc<dyn HttpTransport>);

impl CoreTransport for Foreign {
    fn send(&self, req: CoreRequest) -> Result<CoreResponse, CoreError> {
        let request = HttpRequest {
            method: req.method.as_str().to_owned(),
            url: req.url,
            headers: req
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: req.body,
            timeout_ms: crate::millis(req.timeout),
        };
        let timeout_ms = request.timeout_ms;
        match self.0.send(request) {
            Ok(r) => Ok(CoreResponse {
                status: r.status,
                headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                body: r.body,
            }),
            Err(HttpTransportError::Timeout { .. }) => Err(CoreError::Timeout {
                after_ms: timeout_ms,
            }),
            Err(HttpTransportError::Connect { reason }) => {
                Err(CoreError::Connect { message: reason })
            }
            Err(HttpTransportError::Failed { reason }) => {
                Err(CoreError::Failed { message: reason })
            }
        }
    }
}

#[uniffi::export]
impl LocusTelemetry {
    /// Starts telemetry with uploads going through `transport` (the platform's HTTP
    /// stack). Otherwise as the plain constructor: fails only for settings the library
    /// refuses; any other problem gives a degraded handle that records in memory.
    #[uniffi::constructor]
    pub fn with_transport(
        settings: TelemetrySettings,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Arc<LocusTelemetry>, SettingsError> {
        let foreign: Arc<dyn CoreTransport> = Arc::new(Foreign(transport));
        LocusTelemetry::started(settings, |core: CoreSettings| {
            Telemetry::builder(core).transport(foreign.clone()).start()
        })
    }
}
