//! Errors a destination can report. They name the destination and never carry secrets.

/// Why one upload attempt (or a listing, or a lifecycle call) failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The destination URL or options are unusable.
    #[error("invalid destination `{url}`: {why}")]
    InvalidDestination {
        /// The URL as given (never contains credentials).
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The attempt did not finish within its deadline.
    #[error("{destination}: timed out after {after_ms} ms")]
    Timeout {
        /// Which destination.
        destination: String,
        /// How long we waited.
        after_ms: u64,
    },
    /// The network or the server failed the attempt.
    #[error("{destination}: {message}")]
    Transport {
        /// Which destination.
        destination: String,
        /// What happened, with any secret removed.
        message: String,
    },
    /// Local file-system destination failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server answered with an error: its code and HTTP status, e.g.
    /// `SignatureDoesNotMatch (403)`.
    #[error("{destination}: {operation}: {code} ({status}){}", fmt_message(.message))]
    Service {
        /// Which destination.
        destination: String,
        /// Which call, e.g. `PutObject`.
        operation: &'static str,
        /// The service's error code, e.g. `SignatureDoesNotMatch`, `NoSuchBucket`.
        code: String,
        /// The HTTP status, e.g. 403.
        status: u16,
        /// The service's message (secrets removed).
        message: String,
    },
    /// The object does not exist.
    #[error("{destination}: no such object `{key}`")]
    NotFound {
        /// Which destination.
        destination: String,
        /// The key asked for.
        key: String,
    },
    /// An object key that cannot be used (empty, absolute, `..`, ...).
    #[error("invalid object key `{key}`: {why}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// A diagnostics file (or lifecycle file) could not be decoded.
    #[error("cannot decode {what}: {why}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why it failed.
        why: String,
    },
    /// The retention rule did not read back as written.
    #[error("{destination}: lifecycle rule not applied: {why}")]
    Lifecycle {
        /// Which destination.
        destination: String,
        /// What was found instead.
        why: String,
    },
}

impl SinkError {
    /// A transport's failure as a destination's: a timeout stays a timeout, anything
    /// else is a transport failure whose text `message` makes (S3 scrubs it and names
    /// the operation).
    pub(crate) fn from_transport(
        destination: String,
        e: super::transport::TransportError,
        message: impl FnOnce(super::transport::TransportError) -> String,
    ) -> SinkError {
        match e {
            super::transport::TransportError::Timeout { after_ms } => SinkError::Timeout {
                destination,
                after_ms,
            },
            other => SinkError::Transport {
                destination,
                message: message(other),
            },
        }
    }
}

fn fmt_message(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}
