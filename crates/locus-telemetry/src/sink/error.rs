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
}
