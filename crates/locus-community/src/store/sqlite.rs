//! SQLite connection settings: the file is created on first start, WAL journal so
//! readers never block the writer, and a busy timeout so concurrent writers queue
//! instead of failing.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// Opens a pool on `url` (`sqlite://path`, `sqlite::memory:`).
pub(super) async fn connect(url: &str, max_connections: u32) -> Result<SqlitePool, sqlx::Error> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(false);
    if !in_memory {
        options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
    }
    // Each connection to `:memory:` would be a database of its own: keep one.
    let max = if in_memory { 1 } else { max_connections.max(1) };
    SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
}
