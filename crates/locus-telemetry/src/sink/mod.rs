//! Destinations: the user's own bucket (primary) and the community service (secondary,
//! opt-in). A sink makes one attempt per call; retries, timeouts around whole uploads
//! and circuit breaking are the worker policy's job (`worker::policy`), decided in one
//! place and testable without a network.

pub mod community;
#[cfg(feature = "default-transport")]
pub mod default_transport;
mod error;
pub mod s3;
pub mod transport;

pub use error::SinkError;
use std::future::Future;
use std::pin::Pin;

/// A boxed future of one sink call.
pub type SinkFuture<'a, T = ()> = Pin<Box<dyn Future<Output = Result<T, SinkError>> + Send + 'a>>;

/// Where diagnostics batches go: the user's bucket, a local directory, or (in tests)
/// anything that behaves like one.
pub trait DiagnosticsSink: Send + Sync + 'static {
    /// Stores one object: exactly one attempt.
    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>) -> SinkFuture<'a>;

    /// Makes sure the retention rule exists with `days`; `Ok(description)` of what was
    /// done. Sinks without retention answer `Ok` with a note.
    fn ensure_retention(&self, _days: u32) -> SinkFuture<'_, String> {
        Box::pin(async { Ok("retention not managed by this destination".to_owned()) })
    }

    /// The key prefix inside the destination (`""` or `"prefix/"`-less form).
    fn prefix(&self) -> &str {
        ""
    }

    /// The destination, for status and logs, without secrets.
    fn describe(&self) -> String;
}

/// Where community reports and deletion requests go: the community service, or (in
/// tests) anything that behaves like it.
pub trait CommunitySink: Send + Sync + 'static {
    /// Sends one report: exactly one attempt.
    fn send_report(&self, report: &locus_report::HealthReport) -> SinkFuture<'_>;

    /// Asks the service to forget `pseudonym`: exactly one attempt.
    fn send_deletion(&self, pseudonym: &str) -> SinkFuture<'_>;

    /// The destination, for status and logs, without secrets.
    fn describe(&self) -> String;
}

impl CommunitySink for community::CommunityClient {
    fn send_report(&self, report: &locus_report::HealthReport) -> SinkFuture<'_> {
        community::CommunityClient::send_report(self, report)
    }

    fn send_deletion(&self, pseudonym: &str) -> SinkFuture<'_> {
        community::CommunityClient::send_deletion(self, pseudonym)
    }

    fn describe(&self) -> String {
        community::CommunityClient::describe(self)
    }
}

impl DiagnosticsSink for s3::DiagnosticsStore {
    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>) -> SinkFuture<'a> {
        Box::pin(s3::DiagnosticsStore::put(self, key, body))
    }

    fn ensure_retention(&self, days: u32) -> SinkFuture<'_, String> {
        Box::pin(async move { self.lifecycle_apply(days).await.map(|o| o.to_string()) })
    }

    fn prefix(&self) -> &str {
        self.destination().prefix()
    }

    fn describe(&self) -> String {
        self.destination().to_string()
    }
}
