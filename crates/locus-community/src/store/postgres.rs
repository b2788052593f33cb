//! PostgreSQL connection settings: a bounded pool with a one-second acquire timeout, so a
//! slow or unreachable database turns into 503 answers within about a second instead of
//! piling up requests for the length of the outage.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// How long a request waits for a connection before it is answered 503.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens a pool on `url` (`postgres://user:pass@host:port/db`).
pub(super) async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await
}
