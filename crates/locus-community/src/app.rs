//! The HTTP application: shared state, the router, and serving with graceful shutdown
//! (SIGTERM or ctrl-c: stop accepting, finish requests in flight, close the pool).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::aggregate::{Series, VersionsReport};
use crate::cache::ReadCache;
use crate::config::Config;
use crate::network::{NetworkKeys, QuotaLocks};
use crate::ratelimit::Limit;
use crate::stats::Counters;
use crate::store::{Store, StoreError};
use crate::{api, dashboard, ingest};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// The settings.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Accept/refuse counters.
    pub counters: Counters,
    /// Per-client-address limit (shared on PostgreSQL; see `ratelimit`).
    pub client_limiter: Limit<IpAddr>,
    /// Per-pseudonym limit (shared on PostgreSQL).
    pub pseudonym_limiter: Limit<String>,
    /// Today's key for hashing client networks.
    pub network_keys: NetworkKeys,
    /// Serialise the quota check and the insert of new pseudonyms per network.
    pub quota_locks: QuotaLocks,
    /// Recently computed aggregate answers.
    pub read_cache: ReadCache<(VersionsReport, Vec<Series>)>,
}

impl AppState {
    /// Opens the database of `config` and builds the state.
    pub async fn open(config: Config) -> Result<Arc<AppState>, StoreError> {
        let store = Store::connect_pools(
            &config.db,
            config.db_max_connections,
            config.db_read_connections,
            config.db_writers,
        )
        .await?;
        tokio::spawn(prune_loop(store.clone(), config.retention_days()));
        if store.shares_limits() {
            tokio::spawn(prune_buckets_loop(store.clone()));
        }
        let read_cache = ReadCache::new(std::time::Duration::from_millis(config.read_cache_ms));
        Ok(Arc::new(AppState {
            client_limiter: Limit::new(config.rate_limit_per_client, b'c'),
            pseudonym_limiter: Limit::new(config.rate_limit_per_pseudonym, b'p'),
            config,
            store,
            counters: Counters::default(),
            network_keys: NetworkKeys::default(),
            quota_locks: QuotaLocks::default(),
            read_cache,
        }))
    }
}

impl AppState {
    /// The client address of a request from `peer` (see `proxy`).
    pub fn client_ip(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        crate::proxy::client_ip(peer.ip(), headers, &self.config.trusted_proxies)
    }
}

/// How often retention runs (and once at start).
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Retention: every [`PRUNE_EVERY`], deletes reports (and rollup rows) older than
/// `retention_days`, and forgotten ids a day older still (a retry of their report is then
/// refused as too old anyway). Ends when the store closes.
async fn prune_loop(store: Store, retention_days: u32) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let now = chrono::Utc::now().timestamp();
        let cutoff = now - i64::from(retention_days) * 86_400;
        match store.prune(cutoff, cutoff - 86_400).await {
            Ok(n) => tracing::info!(deleted = n, "retention: old reports pruned"),
            Err(StoreError::Db(sqlx::Error::PoolClosed)) => return,
            Err(e) => tracing::warn!(error = %e, "retention: pruning failed; will retry"),
        }
    }
}

/// How often idle shared rate-limit buckets are deleted.
const PRUNE_BUCKETS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Deletes shared rate-limit buckets idle for two minutes (a bucket is full again after
/// one). Ends when the store closes.
async fn prune_buckets_loop(store: Store) {
    let mut tick = tokio::time::interval(PRUNE_BUCKETS_EVERY);
    loop {
        tick.tick().await;
        let before = chrono::Utc::now().timestamp_millis() - 120_000;
        match store.prune_rate_buckets(before).await {
            Ok(_) => {}
            Err(StoreError::Db(sqlx::Error::PoolClosed)) => return,
            Err(e) => tracing::debug!(error = %e, "rate buckets: pruning failed; will retry"),
        }
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    // The ingest handlers read the body themselves with their own limit; this is a
    // backstop for every other route.
    let limit = state.config.max_body;
    Router::new()
        .route("/", get(dashboard::page))
        .route("/healthz", get(api::healthz))
        .route("/v1/reports", post(ingest::post_report))
        .route("/v1/deletions", post(ingest::post_deletion))
        .route("/v1/versions", get(api::list_versions))
        .route("/v1/versions/{version}", get(api::get_version))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"error": "not_found", "message": "no such route"})),
    )
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains and closes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    store.close().await;
    result
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
