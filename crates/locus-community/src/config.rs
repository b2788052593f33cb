//! The collector's settings: the flags of `locus-community serve`, usable as a plain
//! struct by tests that run the router in-process.

use std::net::SocketAddr;

/// Settings of one collector process.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8470")]
    pub listen: SocketAddr,
    /// Database URL: `sqlite://FILE` (created on first start) or `postgres://...`.
    #[arg(long, default_value = "sqlite://community.db")]
    pub db: String,
    /// Most database connections this process opens.
    #[arg(long, default_value_t = 8)]
    pub db_max_connections: u32,
    /// PostgreSQL: connections of the separate read pool (aggregates, dashboard), so
    /// readers can never take the connections ingest needs. SQLite's readers use
    /// `--db-max-connections`.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_read_connections: u32,
    /// How long (milliseconds) this instance reuses a computed aggregate answer; 0 = off.
    /// Writes through this instance clear it at once.
    #[arg(long, default_value_t = 1000)]
    pub read_cache_ms: u64,
    /// PostgreSQL: writer tasks committing queued reports in batches (each holds one
    /// connection while it writes). SQLite always has one writer.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_writers: u32,
    /// A version (or a crash's message template) reported by fewer than this many
    /// distinct pseudonyms, or from fewer than this many distinct client networks (/24,
    /// /48), is withheld.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub k: u32,
    /// New pseudonyms one client network (/24, /48) may bring per UTC day; 0 = off.
    #[arg(long, default_value_t = 20)]
    pub new_pseudonyms_per_network: u32,
    /// Largest request body accepted, in bytes, both as sent and after gunzip.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_body: usize,
    /// Requests per minute one client address may make (burst of the same size); 0 = off.
    #[arg(long, default_value_t = 600)]
    pub rate_limit_per_client: u32,
    /// Reports per minute one pseudonym may send (burst of the same size); 0 = off.
    #[arg(long, default_value_t = 60)]
    pub rate_limit_per_pseudonym: u32,
    /// Default window of the aggregates and dashboard, in days (`?days=N` overrides).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub window_days: u32,
    /// A proxy (address or ADDRESS/PREFIX; repeatable) whose `X-Forwarded-For` gives the
    /// client address for rate limits and client networks. Without it the header is
    /// ignored.
    #[arg(long = "trusted-proxy")]
    pub trusted_proxies: Vec<crate::proxy::Cidr>,
    /// Longest window served (`?days=N` up to this). Reports are kept this long plus
    /// [`RETENTION_MARGIN_DAYS`], then pruned; older reports are refused.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub max_window_days: u32,
}

/// Days kept beyond the longest window served.
pub const RETENTION_MARGIN_DAYS: u32 = 7;

impl Config {
    /// How long reports are kept, in days: the longest window served plus the margin.
    pub fn retention_days(&self) -> u32 {
        self.max_window_days.max(self.window_days) + RETENTION_MARGIN_DAYS
    }
}

impl Config {
    /// Defaults for `db`, everything else as the CLI's defaults.
    pub fn new(db: impl Into<String>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: db.into(),
            db_max_connections: 8,
            db_read_connections: 4,
            read_cache_ms: 1000,
            db_writers: 4,
            k: 5,
            new_pseudonyms_per_network: 20,
            max_body: 64 * 1024,
            rate_limit_per_client: 600,
            rate_limit_per_pseudonym: 60,
            window_days: 30,
            max_window_days: 90,
            trusted_proxies: Vec::new(),
        }
    }
}
