//! SQLite connection settings: the file is created on first start, WAL journal so
//! readers never block the writer, one writer connection per process (writes queue in
//! this process, in order, instead of sleeping in SQLite's busy handler) and read-only
//! reader connections beside it, and a busy timeout for writers of other processes
//! sharing the file.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// Opens the (writer, readers) pools on `url` (`sqlite://path`, `sqlite::memory:`).
pub(super) async fn connect(
    url: &str,
    max_connections: u32,
) -> Result<(SqlitePool, SqlitePool), sqlx::Error> {
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
    let mut writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10));
    if in_memory {
        // The database lives as long as its one connection: never let it go.
        writer = writer
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    let write = writer.connect_with(options.clone()).await?;
    // Each connection to `:memory:` would be a database of its own: share the writer.
    if in_memory {
        return Ok((write.clone(), write));
    }
    let read = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.read_only(true))
        .await?;
    Ok((write, read))
}
