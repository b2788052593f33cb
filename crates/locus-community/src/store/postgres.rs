//! PostgreSQL connection settings: a bounded pool with acquire timeouts, so a slow or
//! unreachable database turns into 503 answers instead of piling up requests.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// Opens a pool on `url` (`postgres://user:pass@host:port/db`).
pub(super) async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
}
