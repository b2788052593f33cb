//! Misbehaving parts for fault drills: a loopback HTTP server that refuses, resets,
//! hangs, trickles, answers S3-style errors, cuts its answer short or talks garbage
//! ([`FaultServer`]), an endpoint whose name does not resolve, and damaged or unusable
//! data directories ([`disk`]), plus a way to re-run one test in a child process with a
//! file-size limit or in a private mount namespace ([`child`]).
//!
//! Every request the server receives is counted and kept (method and target), so a test
//! can say "exactly two `PutObject` attempts" by looking at the server, not at the code
//! under test. Only 127.0.0.1 is ever used. The server stops when dropped; nothing on the
//! network path unwraps: a broken client connection just ends that connection.
//!
//! ```
//! use locus_testkit::faults::{FaultServer, Mode};
//! use std::io::{Read, Write};
//! let server = FaultServer::start(Mode::Status(503));
//! let mut c = std::net::TcpStream::connect(server.addr()).unwrap();
//! c.write_all(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi").unwrap();
//! let mut answer = [0u8; 12];
//! c.read_exact(&mut answer).unwrap();
//! assert_eq!(&answer, b"HTTP/1.1 503");
//! assert!(server.wait_for_requests(1, std::time::Duration::from_secs(5)));
//! assert_eq!(server.put_object_attempts(), 1);
//! ```

pub mod child;
pub mod disk;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An S3 endpoint whose host name cannot resolve (`.invalid` is reserved, RFC 2606).
pub const UNRESOLVABLE_ENDPOINT: &str = "http://does-not-resolve.invalid:9000";

/// [`UNRESOLVABLE_ENDPOINT`] as a `String`, for settings.
pub fn unresolvable_endpoint() -> String {
    UNRESOLVABLE_ENDPOINT.to_owned()
}

/// How the server treats each request (read when the request arrives, so
/// [`FaultServer::set_mode`] applies to the next request, even on a kept-alive
/// connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read the request, then reset the connection (RST instead of an answer).
    Reset,
    /// Accept and read the request, never answer, keep the connection open.
    Hang,
    /// Answer `200 OK` (with a long padding header) one byte every interval.
    Trickle(Duration),
    /// Answer with this HTTP status and a small S3-style XML error body.
    Status(u16),
    /// Send `200 OK` headers announcing a 1 KiB body, a few bytes of it, then close.
    CutMidBody,
    /// Answer with 512 random bytes instead of HTTP, then close.
    Garbage,
    /// Behave like a healthy S3 for uploads: `PUT` → 200 with an ETag; `GET` → 404
    /// `NoSuchLifecycleConfiguration` (this server keeps nothing).
    Ok,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `PUT`, `GET`, ... (empty if the request line was unreadable).
    pub method: String,
    /// Path and query, e.g. `/bucket/diagnostics/2026/...log.gz` or `/bucket?lifecycle`.
    pub target: String,
    /// The mode that handled it.
    pub mode: Mode,
    /// When its head was complete.
    pub at: Instant,
    /// Bytes of request body read (0 for modes that do not read the body).
    pub body_bytes: usize,
}

impl Request {
    /// A `PutObject`: a `PUT` of an object key (`/bucket/key`, no sub-resource query
    /// such as `?lifecycle`; the SDK's own `x-id=PutObject` marker and a presigned URL's
    /// `X-Amz-*` signature parameters are allowed).
    pub fn is_put_object(&self) -> bool {
        let (path, query) = match self.target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (self.target.as_str(), ""),
        };
        let object_path = path
            .trim_start_matches('/')
            .split_once('/')
            .is_some_and(|(bucket, key)| !bucket.is_empty() && !key.is_empty());
        self.method == "PUT"
            && object_path
            && query
                .split('&')
                .all(|p| p.is_empty() || p.starts_with("x-id=") || p.starts_with("X-Amz-"))
    }
}

struct Shared {
    mode: Mutex<Mode>,
    stop: AtomicBool,
    requests: Mutex<Vec<Request>>,
    handlers: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A misbehaving HTTP server on `127.0.0.1:<free port>`. Stops (closing every
/// connection) when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultServer")
            .field("addr", &self.addr)
            .field("mode", &self.mode())
            .field("requests", &self.attempts())
            .finish()
    }
}

/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(10);
/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read (bigger bodies are read and discarded in pieces).
const MAX_BODY: usize = 64 * 1024 * 1024;

impl FaultServer {
    /// Starts a server in `mode` on a free loopback port. Panics (test set-up) if no
    /// loopback port can be bound at all.
    pub fn start(mode: Mode) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("fault server: cannot bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("fault server: no local address: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("fault server: cannot make the listener non-blocking: {e}"));
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            handlers: Mutex::new(Vec::new()),
        });
        let thread_shared = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("fault-server-{}", addr.port()))
            .spawn(move || accept_loop(listener, thread_shared))
            .unwrap_or_else(|e| panic!("fault server: cannot spawn: {e}"));
        FaultServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `s3_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *lock(&self.shared.mode)
    }

    /// Switches the mode for the next request. (A refused connection is not a mode:
    /// nothing listens there; see [`crate::net::refusing_endpoint`].)
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
    }

    /// Requests received (request heads read).
    pub fn attempts(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// `PutObject` requests so far (uploads; lifecycle calls are not counted).
    pub fn put_object_attempts(&self) -> usize {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.is_put_object())
            .count()
    }

    /// Waits until at least `n` requests have arrived; false after `timeout`.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        crate::wait_until(timeout, || self.attempts() >= n)
    }

    /// Stops the server now (also done on drop).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        let handlers = std::mem::take(&mut *lock(&self.shared.handlers));
        for h in handlers {
            let _ = h.join();
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                let conn_shared = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("fault-conn".into())
                    .spawn(move || serve_connection(stream, &conn_shared));
                if let Ok(h) = spawned {
                    let mut handlers = lock(&shared.handlers);
                    handlers.retain(|h| !h.is_finished());
                    handlers.push(h);
                }
            }
            // Nothing waiting (or a failed accept): look again shortly; `stop` is
            // checked between looks.
            Err(_) => std::thread::sleep(POLL / 5),
        }
    }
}

/// Reads until `\r\n\r\n`; `None` when the peer closed, the server stops, or the head
/// is too large. Bytes after the head (start of the body) are returned too.
fn read_head(stream: &mut TcpStream, shared: &Shared) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD || shared.stop.load(Ordering::Acquire) {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Head {
    method: String,
    target: String,
    content_length: Option<usize>,
    chunked: bool,
    expect_continue: bool,
}

fn parse_head(head: &[u8]) -> Head {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let mut h = Head {
        method,
        target,
        content_length: None,
        chunked: false,
        expect_continue: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => h.content_length = value.parse().ok(),
            "transfer-encoding" => h.chunked = value.to_ascii_lowercase().contains("chunked"),
            "expect" => h.expect_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    h
}

/// Reads the request body (Content-Length or chunked); the number of bytes, or `None`
/// when the connection broke.
fn read_body(
    stream: &mut TcpStream,
    head: &Head,
    mut have: Vec<u8>,
    shared: &Shared,
) -> Option<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let done = |have: &Vec<u8>| -> bool {
        match head.content_length {
            Some(n) => have.len() >= n.min(MAX_BODY),
            None if head.chunked => find(have, b"0\r\n\r\n").is_some(),
            None => true,
        }
    };
    while !done(&have) {
        if shared.stop.load(Ordering::Acquire) {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => have.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(have.len())
}

fn error_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NoSuchKey",
        500 => "InternalError",
        503 => "SlowDown",
        _ => "DrillError",
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Drill",
    }
}

fn s3_error(status: u16, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-drill</RequestId></Error>"
    );
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: fault-drill\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

/// Sleeps `d` in small steps; false if the server is stopping.
fn nap(d: Duration, shared: &Shared) -> bool {
    let until = Instant::now() + d;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// Makes the next close send RST instead of FIN.
fn set_linger_zero(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a valid, open socket with a correctly sized struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Never a printable "HTTP/" start: keep the high bit set.
            (x as u8) | 0x80
        })
        .collect()
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    if stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    loop {
        let Some((head_bytes, rest)) = read_head(&mut stream, shared) else {
            return;
        };
        let head = parse_head(&head_bytes);
        let mode = *lock(&shared.mode);
        let at = Instant::now();
        // Modes that answer read the whole body first, as a server would.
        let reads_body = matches!(
            mode,
            Mode::Status(_) | Mode::Ok | Mode::Trickle(_) | Mode::CutMidBody
        );
        if reads_body
            && head.expect_continue
            && stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return;
        }
        let body_bytes = if reads_body {
            match read_body(&mut stream, &head, rest, shared) {
                Some(n) => n,
                None => {
                    record(shared, &head, mode, at, 0);
                    return;
                }
            }
        } else {
            0
        };
        record(shared, &head, mode, at, body_bytes);
        match mode {
            Mode::Reset => {
                set_linger_zero(&stream);
                return;
            }
            Mode::Hang => {
                // Read (and drop) whatever comes until the client gives up or we stop.
                let mut sink = [0u8; 4096];
                loop {
                    if shared.stop.load(Ordering::Acquire) {
                        return;
                    }
                    match stream.read(&mut sink) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock
                                    | ErrorKind::TimedOut
                                    | ErrorKind::Interrupted
                            ) => {}
                        Err(_) => return,
                    }
                }
            }
            Mode::Trickle(every) => {
                let padding = "p".repeat(480);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nx-drill-padding: {padding}\r\nETag: \"drill\"\r\nContent-Length: 0\r\n\r\n"
                );
                for b in answer.as_bytes() {
                    if stream.write_all(std::slice::from_ref(b)).is_err() {
                        return;
                    }
                    if !nap(every, shared) {
                        return;
                    }
                }
            }
            Mode::Status(code) => {
                let answer = s3_error(code, error_code(code), "staged by the fault drill");
                if stream.write_all(&answer).is_err() {
                    return;
                }
            }
            Mode::CutMidBody => {
                let answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 1024\r\n\r\n<?xml version=\"1.0\"";
                let _ = stream.write_all(answer);
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            Mode::Garbage => {
                let seed = at.elapsed().as_nanos() as u64 ^ 0x9E37_79B9_7F4A_7C15;
                let _ = stream.write_all(&garbage(seed, 512));
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            Mode::Ok => {
                let answer: Vec<u8> = if head.method == "GET" {
                    s3_error(
                        404,
                        "NoSuchLifecycleConfiguration",
                        "The lifecycle configuration does not exist",
                    )
                } else {
                    b"HTTP/1.1 200 OK\r\nETag: \"fault-drill\"\r\nx-amz-request-id: fault-drill\r\nContent-Length: 0\r\n\r\n".to_vec()
                };
                if stream.write_all(&answer).is_err() {
                    return;
                }
            }
        }
    }
}

fn record(shared: &Shared, head: &Head, mode: Mode, at: Instant, body_bytes: usize) {
    lock(&shared.requests).push(Request {
        method: head.method.clone(),
        target: head.target.clone(),
        mode,
        at,
        body_bytes,
    });
}
