//! A real S3 server for tests: SeaweedFS `weed mini` on free loopback ports, with an
//! `-s3.config` identity so that SigV4 signatures are checked like on AWS.
//!
//! ```no_run
//! use locus_testkit::seaweed::SeaweedS3;
//! let s3 = SeaweedS3::shared(); // one server per test binary
//! let bucket = s3.unique_bucket("demo"); // a fresh, empty bucket
//! // point the code under test at s3.endpoint() with s3.access_key()/s3.secret_key(),
//! // or run a binary with `.envs(s3.env_vars())`.
//! # let _ = bucket;
//! ```
//!
//! Start-up: the HTTP ports are five consecutive free ports `B..B+5` whose gRPC twins
//! (`+10000`, fixed by SeaweedFS) are free too; the server counts as ready once a signed
//! PUT into a probe bucket succeeds (typically 1–2 s). If a port was grabbed in between,
//! the start is retried on other ports.
//!
//! Clean-up (details in `process.rs`): the server is killed when the value is
//! dropped, at process exit for [`SeaweedS3::shared`], and by the kernel
//! (`PR_SET_PDEATHSIG`) if the test process dies; its temp dir and the
//! `/tmp/seaweedfs-*-<port>.sock` files of its own ports are removed.

mod binary;
mod process;

pub use binary::{find_weed, SETUP_HINT};
pub use process::sweep_stale;

use aws_sdk_s3::config::{retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// SeaweedFS puts every gRPC port at its HTTP port + 10000.
pub const GRPC_OFFSET: u16 = 10_000;
/// HTTP ports per instance: master, volume, filer, S3, admin.
pub const PORT_COUNT: u16 = 5;
/// How long a start may take before it is declared failed.
const READY_DEADLINE: Duration = Duration::from_secs(45);
/// Bucket used by the readiness probe.
const PROBE_BUCKET: &str = "locus-testkit-probe";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A running `weed mini` with S3 auth on. Dropping it kills the server and removes its
/// files.
pub struct SeaweedS3 {
    id: u64,
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    dir: PathBuf,
    ports: Vec<u16>,
    child: Mutex<Option<Child>>,
    /// `https://127.0.0.1:PORT` of the S3 API over TLS, when started with a certificate.
    https_endpoint: Option<String>,
}

impl std::fmt::Debug for SeaweedS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaweedS3")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("dir", &self.dir)
            .finish()
    }
}

impl SeaweedS3 {
    /// The instance shared by every test of this test binary, started on first use and
    /// stopped at process exit.
    ///
    /// # Panics
    /// If the server cannot be started (see [`SeaweedS3::start`]).
    pub fn shared() -> &'static SeaweedS3 {
        static SHARED: OnceLock<SeaweedS3> = OnceLock::new();
        SHARED.get_or_init(SeaweedS3::start)
    }

    /// Starts a private instance.
    ///
    /// # Panics
    /// Loudly, naming the set-up command, if `weed` is not installed; and if the server
    /// does not become ready (with the tail of its log).
    pub fn start() -> SeaweedS3 {
        SeaweedS3::try_start().unwrap_or_else(|e| panic!("SeaweedFS: {e}"))
    }

    /// Like [`SeaweedS3::start`], with the failure as a value.
    pub fn try_start() -> Result<SeaweedS3, String> {
        SeaweedS3::try_start_with(None)
    }

    /// Starts a private instance whose S3 API also answers over HTTPS with `ca`'s server
    /// certificate ([`SeaweedS3::https_endpoint`]); plain HTTP stays on
    /// [`SeaweedS3::endpoint`] (set-up and read-back use it).
    ///
    /// # Panics
    /// As [`SeaweedS3::start`].
    pub fn start_tls(ca: &crate::tls::PrivateCa) -> SeaweedS3 {
        SeaweedS3::try_start_with(Some(ca)).unwrap_or_else(|e| panic!("SeaweedFS (TLS): {e}"))
    }

    /// `https://127.0.0.1:PORT` of the S3 API over TLS (only for [`SeaweedS3::start_tls`]).
    pub fn https_endpoint(&self) -> Option<&str> {
        self.https_endpoint.as_deref()
    }

    fn try_start_with(tls: Option<&crate::tls::PrivateCa>) -> Result<SeaweedS3, String> {
        process::sweep_stale();
        let weed = find_weed()?;
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let base = pick_base().ok_or("no free block of loopback ports for SeaweedFS")?;
            match SeaweedS3::start_on(&weed, base, tls) {
                Ok(s) => return Ok(s),
                Err((e, retry)) => {
                    last_err = e;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_err)
    }

    /// One attempt on ports `base..base+5`; `Err((why, worth retrying elsewhere))`.
    fn start_on(
        weed: &Path,
        base: u16,
        tls: Option<&crate::tls::PrivateCa>,
    ) -> Result<SeaweedS3, (String, bool)> {
        let started = Instant::now();
        let http: Vec<u16> = (0..PORT_COUNT).map(|i| base + i).collect();
        let dir = std::env::temp_dir().join(format!(
            "{}{}-{base}",
            process::DIR_PREFIX,
            std::process::id()
        ));
        let fail = |why: String| (why, false);
        std::fs::create_dir_all(dir.join("data"))
            .and_then(|()| std::fs::create_dir_all(dir.join("tmp")))
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        let access_key = format!("LOCUSTEST{:011X}", random_u64() & 0x0FFF_FFFF_FFFF);
        let secret_key = format!("{:016x}{:016x}", random_u64(), random_u64());
        let s3_json = format!(
            r#"{{"identities":[{{"name":"locus-test","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
        );
        let config = dir.join("s3.json");
        std::fs::write(&config, s3_json)
            .map_err(|e| fail(format!("cannot write {}: {e}", config.display())))?;
        let log_path = dir.join("weed.log");
        let log = std::fs::File::create(&log_path)
            .and_then(|f| Ok((f.try_clone()?, f)))
            .map_err(|e| fail(format!("cannot create {}: {e}", log_path.display())))?;

        let mut cmd = Command::new(weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", dir.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", http[0]))
            .arg(format!("-volume.port={}", http[1]))
            .arg(format!("-filer.port={}", http[2]))
            .arg(format!("-s3.port={}", http[3]))
            .arg(format!("-admin.port={}", http[4]))
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-admin.ui=false",
                "-webdav=false",
                "-master.telemetry=false",
            ])
            .arg(format!("-s3.config={}", config.display()))
            .args(tls.map_or_else(Vec::new, |ca| {
                // Over HTTPS too, on the port after the block (a taken port fails the
                // start with a bind error, and the start is retried elsewhere).
                vec![
                    format!("-s3.port.https={}", base + PORT_COUNT),
                    format!("-s3.cert.file={}", ca.server_cert.display()),
                    format!("-s3.key.file={}", ca.server_key.display()),
                ]
            }))
            // weed's own log files go to $TMPDIR: keep them in our dir, not in /tmp.
            .env("TMPDIR", dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.0))
            .stderr(Stdio::from(log.1));
        let child = process::spawn_guarded(cmd)
            .map_err(|e| fail(format!("cannot run {}: {e}", weed.display())))?;
        let cleanup = process::Cleanup {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pid: child.id(),
            dir: dir.clone(),
            ports: process::all_ports(&http),
        };
        process::register(cleanup.clone());
        let s = SeaweedS3 {
            id: cleanup.id,
            endpoint: format!("http://127.0.0.1:{}", http[3]),
            access_key,
            secret_key,
            region: "us-east-1".into(),
            dir,
            ports: cleanup.ports.clone(),
            child: Mutex::new(Some(child)),
            https_endpoint: tls.map(|_| format!("https://127.0.0.1:{}", base + PORT_COUNT)),
        };
        let ready = s.wait_ready(started).and_then(|()| match tls {
            Some(_) => s.wait_https(started, base + PORT_COUNT),
            None => Ok(()),
        });
        match ready {
            Ok(()) => Ok(s),
            Err(why) => {
                let tail = s.log_tail(30);
                let retry = tail.contains("address already in use") || tail.contains("bind:");
                drop(s);
                Err((
                    format!("`weed mini` on ports {base}.. did not become ready: {why}\n--- weed log (tail) ---\n{tail}"),
                    retry,
                ))
            }
        }
    }

    /// Polls until a signed PUT into the probe bucket succeeds, the process exits, or the
    /// deadline passes.
    fn wait_ready(&self, started: Instant) -> Result<(), String> {
        let mut last = String::from("no answer yet");
        while started.elapsed() < READY_DEADLINE {
            if let Some(status) = self.exited() {
                return Err(format!("weed exited early ({status})"));
            }
            let client =
                self.client_with_timeouts(Duration::from_millis(500), Duration::from_secs(5));
            let probe = run_async(move || async move {
                match client.create_bucket().bucket(PROBE_BUCKET).send().await {
                    Ok(_) => {}
                    Err(e) if is_already_exists(&e) => {}
                    Err(e) => return Err(format!("create bucket: {}", describe(&e))),
                }
                client
                    .put_object()
                    .bucket(PROBE_BUCKET)
                    .key("ready")
                    .body(b"ok".to_vec().into())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("put object: {}", describe(&e)))
            });
            match probe {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("not ready after {READY_DEADLINE:?}: {last}"))
    }

    /// Polls until the HTTPS port accepts connections (it opens after the HTTP one).
    fn wait_https(&self, started: Instant, port: u16) -> Result<(), String> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        while started.elapsed() < READY_DEADLINE {
            if let Some(status) = self.exited() {
                return Err(format!("weed exited early ({status})"));
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "HTTPS port {port} not open after {READY_DEADLINE:?}"
        ))
    }

    fn exited(&self) -> Option<std::process::ExitStatus> {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `http://127.0.0.1:PORT` of the S3 API.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The access key of the one identity the server knows.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key of that identity.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The region to sign for (`us-east-1`).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The instance's temp dir (data, config, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every TCP port the instance uses (HTTP ports and their gRPC twins).
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The AWS-convention environment for a child process (e.g. the `locus-diag` binary):
    /// endpoint, region, keys and `LOCUS_S3_PATH_STYLE=1`.
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("LOCUS_S3_PATH_STYLE", "1".into()),
        ]
    }

    /// One of [`SeaweedS3::env_vars`] by name: a lookup for code that reads its S3
    /// settings from variables (`S3Options::or_vars(|k| s3.var(k))`).
    pub fn var(&self, name: &str) -> Option<String> {
        self.env_vars()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A raw SDK client for this server (path style, no retries, 2 s connect / 10 s
    /// operation timeouts), for setting up and checking what the code under test did.
    ///
    /// Build a new client per tokio runtime: its connection pool belongs to the runtime
    /// it was first used on.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_with_timeouts(Duration::from_secs(2), Duration::from_secs(10))
    }

    fn client_with_timeouts(&self, connect: Duration, operation: Duration) -> aws_sdk_s3::Client {
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "locus-testkit",
            ))
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(connect)
                    .operation_timeout(operation)
                    .build(),
            )
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Creates `name` (an existing bucket of ours is fine). Works from sync and async
    /// tests alike (runs on a helper thread).
    ///
    /// # Panics
    /// If the server refuses.
    pub fn create_bucket(&self, name: &str) {
        let client = self.client();
        let bucket = name.to_owned();
        let result = run_async(move || async move {
            match client.create_bucket().bucket(&bucket).send().await {
                Ok(_) => Ok(()),
                Err(e) if is_already_exists(&e) => Ok(()),
                Err(e) => Err(describe(&e)),
            }
        });
        if let Err(e) = result {
            panic!("SeaweedFS: cannot create bucket `{name}`: {e}");
        }
    }

    /// Creates and returns a fresh bucket named `<stem>-<n>-<random>` (lower case, valid
    /// S3 name), so tests sharing one server never see each other's objects.
    pub fn unique_bucket(&self, stem: &str) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let stem: String = stem
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(30)
            .collect();
        let name = format!(
            "{}-{}-{:08x}",
            stem.trim_matches('-'),
            N.fetch_add(1, Ordering::Relaxed),
            random_u64() as u32
        );
        self.create_bucket(&name);
        name
    }

    /// Stops the server now and removes its files (also done on drop).
    pub fn stop(&self) {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mut child) = guard.take() {
            let cleanup = process::Cleanup {
                id: self.id,
                pid: child.id(),
                dir: self.dir.clone(),
                ports: self.ports.clone(),
            };
            process::stop(&mut child, &cleanup);
            process::unregister(self.id);
        }
    }
}

impl Drop for SeaweedS3 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs an async block on a fresh current-thread runtime on a helper thread, so that it
/// works whether or not the caller is inside a tokio runtime.
pub fn run_async<F, Fut, T>(f: F) -> T
where
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = T>,
    T: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"));
                rt.block_on(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn is_already_exists<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    matches!(
        e.as_service_error().and_then(|s| s.code()),
        Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
    )
}

/// `Code (message)` for service errors, the error chain otherwise.
fn describe<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(s) = e.as_service_error() {
        return format!(
            "{} ({})",
            s.code().unwrap_or("unknown error"),
            s.message().unwrap_or("")
        );
    }
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(&format!(": {s}"));
        src = s.source();
    }
    out
}

/// Picks a base port `B` such that `B..B+5` and `B+10000..B+10005` are free on
/// 127.0.0.1. Bases lie in 12000..28000, so gRPC ports stay below 38005.
fn pick_base() -> Option<u16> {
    for _ in 0..500 {
        let base = 12_000 + (random_u64() % 16_000) as u16;
        let http = (0..PORT_COUNT).map(|i| base + i);
        if process::all_ports(&http.collect::<Vec<_>>())
            .into_iter()
            .all(crate::net::port_is_free)
        {
            return Some(base);
        }
    }
    None
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
