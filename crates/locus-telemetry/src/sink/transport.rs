//! The transport seam (Glean's design): the core decides what to send and when, builds
//! each upload as an [`HttpRequest`] (method, URL, headers, body — S3 requests already
//! SigV4-signed), and a [`Transport`] performs it, answering an [`HttpResponse`] (a
//! status and a body) or a [`TransportError`]. Rust apps and `locus-diag` use the
//! built-in transport (feature `default-transport`, `DefaultTransport`); the Kotlin
//! binding supplies one over `HttpURLConnection`, so the phone's trust store, proxies
//! and VPNs decide.
//!
//! A transport is a *blocking* call (a foreign callback is one). [`HttpClient`] runs it
//! on one thread of its own and bounds every call by a deadline, so whatever the
//! transport does — throws, answers garbage, never returns — the dispatcher goes on:
//!
//! - a call that does not answer in time is a [`TransportError::Timeout`] (the breaker
//!   counts it like any failed attempt);
//! - while a call is still running past its deadline (stuck), no second call is started:
//!   every later request fails at once with [`TransportError::Stuck`], so at most one
//!   thread is ever stuck in the transport;
//! - a panic inside the transport is caught and is a [`TransportError::Failed`].
//!
//! ```
//! use locus_telemetry::transport::*;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! /// Answers 200 to everything.
//! struct Always200;
//! impl Transport for Always200 {
//!     fn send(&self, _req: HttpRequest) -> Result<HttpResponse, TransportError> {
//!         Ok(HttpResponse { status: 200, headers: Vec::new(), body: Vec::new() })
//!     }
//! }
//!
//! let client = HttpClient::new(Arc::new(Always200));
//! let req = HttpRequest::new(Method::Put, "http://127.0.0.1:1/b/k", Duration::from_secs(1));
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! assert_eq!(rt.block_on(client.call(req)).unwrap().status, 200);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `POST`
    Post,
}

impl Method {
    /// The method's name, e.g. `"PUT"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// One request, complete: a transport sends exactly this, adds nothing that is signed,
/// follows no redirect, and answers within `timeout`.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute `http://` or `https://` URL, query included (S3's signature is in it).
    pub url: String,
    /// Headers to send as they are (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body (empty for `GET`).
    pub body: Vec<u8>,
    /// How long the whole exchange may take, connecting included.
    pub timeout: Duration,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: Method, url: impl Into<String>, timeout: Duration) -> HttpRequest {
        HttpRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout,
        }
    }

    /// The request with one more header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> HttpRequest {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The request with `body`.
    pub fn body(mut self, body: Vec<u8>) -> HttpRequest {
        self.body = body;
        self
    }
}

impl std::fmt::Debug for HttpRequest {
    /// Method and URL without its query (a presigned URL carries a signature there).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.split('?').next().unwrap_or("");
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &url)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What the server answered: any status (a 4xx or 5xx is an answer, not a transport
/// error) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status, 100..=599.
    pub status: u16,
    /// The response headers (names as received; compare without case).
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the request's deadline.
    #[error("timed out after {after_ms} ms")]
    Timeout {
        /// How long we waited.
        after_ms: u64,
    },
    /// The server could not be reached (DNS, refused, reset, TLS handshake or
    /// certificate rejected...).
    #[error("cannot reach the server: {message}")]
    Connect {
        /// What the transport said.
        message: String,
    },
    /// The transport failed otherwise (threw, panicked, answered something unusable).
    #[error("transport failed: {message}")]
    Failed {
        /// What happened.
        message: String,
    },
    /// An earlier call is still running past its deadline: no second call is started.
    #[error("the transport is stuck in an earlier call ({stuck_ms} ms); not starting another")]
    Stuck {
        /// How long the earlier call has been running.
        stuck_ms: u64,
    },
    /// No transport can be used (none installed, or its thread could not start).
    #[error("no transport: {why}")]
    Unavailable {
        /// Why.
        why: String,
    },
}

/// Performs HTTP requests for telemetry. Implementations block until the exchange is
/// over; they need not enforce `timeout` perfectly ([`HttpClient`] stops waiting at the
/// deadline either way), but should, so their thread comes back.
pub trait Transport: Send + Sync + 'static {
    /// Sends `req` once (no retry, no redirect) and answers the server's status and body.
    fn send(&self, req: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Time added to a request's own timeout before [`HttpClient`] stops waiting for it.
const GRACE: Duration = Duration::from_secs(1);

/// One job for the transport thread.
struct Job {
    req: HttpRequest,
    reply: tokio::sync::oneshot::Sender<Result<HttpResponse, TransportError>>,
}

/// State shared by the callers and the transport thread.
struct Shared {
    transport: Arc<dyn Transport>,
    /// The transport thread's queue (started on the first call).
    queue: Mutex<Option<mpsc::Sender<(Job, tokio::sync::OwnedSemaphorePermit)>>>,
    /// Whether a call is running, and since when.
    in_flight: Mutex<Option<Instant>>,
    /// One call at a time.
    slot: Arc<tokio::sync::Semaphore>,
    /// Calls handed to the transport so far.
    started: AtomicU64,
}

/// A [`Transport`] made safe to call from the dispatcher: one thread of its own, one
/// call at a time, each bounded by its deadline. Cheap to clone (clones share the thread).
#[derive(Clone)]
pub struct HttpClient {
    shared: Arc<Shared>,
}

impl PartialEq for HttpClient {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for HttpClient {}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("started", &self.calls_started())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Wraps `transport`; its thread starts on the first call.
    pub fn new(transport: Arc<dyn Transport>) -> HttpClient {
        HttpClient {
            shared: Arc::new(Shared {
                transport,
                queue: Mutex::new(None),
                in_flight: Mutex::new(None),
                slot: Arc::new(tokio::sync::Semaphore::new(1)),
                started: AtomicU64::new(0),
            }),
        }
    }

    /// The built-in transport (`DefaultTransport`) trusting the platform's roots, or
    /// only the certificates of `ca_file` when given.
    #[cfg(feature = "default-transport")]
    pub fn default_transport(
        ca_file: Option<&std::path::Path>,
    ) -> Result<HttpClient, CaFileError> {
        let t = super::default_transport::DefaultTransport::new(ca_file)?;
        Ok(HttpClient::new(Arc::new(t)))
    }

    /// The built-in transport ([`HttpClient::default_transport`]), or why there is none
    /// in this build (feature `default-transport` off: the app must install one).
    pub(crate) fn built_in(ca_file: Option<&std::path::Path>) -> Result<HttpClient, String> {
        #[cfg(feature = "default-transport")]
        {
            HttpClient::default_transport(ca_file).map_err(|e| e.to_string())
        }
        #[cfg(not(feature = "default-transport"))]
        {
            let _ = ca_file;
            Err(
                "this build has no built-in HTTP transport (feature `default-transport` is off): \
                 the app must install one"
                    .into(),
            )
        }
    }

    /// How many calls were handed to the transport so far (tests: a stuck transport is
    /// called once, however many rounds follow).
    pub fn calls_started(&self) -> u64 {
        self.shared.started.load(Ordering::SeqCst)
    }

    /// Performs `req` on the transport thread; waits at most `req.timeout` plus a second
    /// for it. Never blocks the calling thread; dropping the future abandons the wait.
    pub async fn call(&self, req: HttpRequest) -> Result<HttpResponse, TransportError> {
        let deadline = req.timeout + GRACE;
        let after_ms = deadline.as_millis() as u64;
        let since = *self.in_flight();
        if let Some(since) = since {
            let running = since.elapsed();
            if running > deadline {
                return Err(TransportError::Stuck {
                    stuck_ms: running.as_millis() as u64,
                });
            }
        }
        let waited = Instant::now();
        let permit =
            match tokio::time::timeout(deadline, self.shared.slot.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => {
                    return Err(TransportError::Unavailable {
                        why: "closed".into(),
                    })
                }
                Err(_) => return Err(TransportError::Timeout { after_ms }),
            };
        let left = deadline.saturating_sub(waited.elapsed());
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Job { req, reply: tx }, permit)?;
        match tokio::time::timeout(left, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(TransportError::Failed {
                message: "the transport thread went away".into(),
            }),
            Err(_) => Err(TransportError::Timeout { after_ms }),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `job` to the transport thread (starting it if needed); the permit goes
    /// with it and is released only when the transport returns.
    fn submit(
        &self,
        job: Job,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(), TransportError> {
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if queue.is_none() {
            let (tx, rx) = mpsc::channel::<(Job, tokio::sync::OwnedSemaphorePermit)>();
            let shared = Arc::downgrade(&self.shared);
            let transport = self.shared.transport.clone();
            crate::background::spawn("locus-transport", 256 * 1024, move || {
                for (job, permit) in rx {
                    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        transport.send(job.req)
                    }))
                    .unwrap_or_else(|panic| {
                        let why = crate::crash::payload_text(panic.as_ref()).unwrap_or("panic");
                        Err(TransportError::Failed {
                            message: format!("the transport panicked: {why}"),
                        })
                    })
                    .and_then(check_answer);
                    if let Some(shared) = shared.upgrade() {
                        *shared.in_flight.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    }
                    drop(permit);
                    let _ = job.reply.send(answer);
                }
            })
            .map_err(|e| TransportError::Unavailable {
                why: format!("cannot start the transport thread: {e}"),
            })?;
            *queue = Some(tx);
        }
        let Some(sender) = queue.as_ref() else {
            return Err(TransportError::Unavailable {
                why: "no transport thread".into(),
            });
        };
        *self.in_flight() = Some(Instant::now());
        self.shared.started.fetch_add(1, Ordering::SeqCst);
        sender.send((job, permit)).map_err(|_| {
            *self.in_flight() = None;
            TransportError::Unavailable {
                why: "the transport thread is gone".into(),
            }
        })
    }
}

/// A status outside 100..=599 is garbage, not an answer.
fn check_answer(r: HttpResponse) -> Result<HttpResponse, TransportError> {
    if (100..=599).contains(&r.status) {
        Ok(r)
    } else {
        Err(TransportError::Failed {
            message: format!("the transport answered an impossible HTTP status {}", r.status),
        })
    }
}

/// Why a `ca_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file cannot be read.
    #[error("ca_file `{path}`: cannot read it: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A `CERTIFICATE` block is broken (no end line, bad base64, not DER).
    #[error("ca_file `{path}`: not a PEM certificate file: {why}")]
    NotPem {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The file holds no `CERTIFICATE` block.
    #[error("ca_file `{path}`: no PEM certificate (-----BEGIN CERTIFICATE-----) in it")]
    NoCertificate {
        /// The file.
        path: std::path::PathBuf,
    },
}

/// Largest `ca_file` read (a bundle of every public root is about 250 KB).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// The DER certificates of the PEM file at `path`: at least one, every `CERTIFICATE`
/// block complete, base64 and a DER `SEQUENCE`. Other blocks (keys, CRLs) are skipped.
///
/// ```
/// use locus_telemetry::transport::{read_ca_file, CaFileError};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("ca.pem");
/// std::fs::write(&p, "hello").unwrap();
/// assert!(matches!(read_ca_file(&p), Err(CaFileError::NoCertificate { .. })));
/// std::fs::write(&p, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap();
/// assert!(matches!(read_ca_file(&p), Err(CaFileError::NotPem { .. })));
/// ```
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<Vec<u8>>, CaFileError> {
    use base64::Engine;
    use std::io::Read;
    let read_err = |source| CaFileError::Read {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_CA_FILE)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    let not_pem = |why: String| CaFileError::NotPem {
        path: path.to_owned(),
        why,
    };
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let Some(len) = rest[body_start..].find(END) else {
            return Err(not_pem(format!(
                "certificate {} has no END line",
                certs.len() + 1
            )));
        };
        let b64: String = rest[body_start..body_start + len]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| not_pem(format!("certificate {}: {e}", certs.len() + 1)))?;
        if der.first() != Some(&0x30) || der.len() < 64 {
            return Err(not_pem(format!(
                "certificate {} is not a DER certificate",
                certs.len() + 1
            )));
        }
        certs.push(der);
        rest = &rest[body_start + len + END.len()..];
    }
    if certs.is_empty() {
        return Err(CaFileError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}
