//! Read-only JSON endpoints: `GET /v1/versions`, `GET /v1/versions/{version}` (both take
//! `?days=N`) and `GET /healthz`. A withheld version answers exactly like an unknown
//! one (404), so probing a version name tells nothing about fewer than k devices.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{self, Series, VersionHealth, VersionsReport};
use crate::app::AppState;
use crate::error::ApiError;
use crate::stats::Snapshot;

/// Query parameters of the aggregate views.
#[derive(Debug, Deserialize)]
pub struct WindowParams {
    /// Window in days (1..=`--max-window-days`), default `--window-days`.
    pub days: Option<String>,
}

/// Resolves the window in days from the query.
pub fn window_days(
    st: &AppState,
    q: Result<Query<WindowParams>, QueryRejection>,
) -> Result<u32, ApiError> {
    let Query(params) = q.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let max = st.config.max_window_days.max(st.config.window_days);
    match params.days {
        None => Ok(st.config.window_days),
        Some(d) => match d.trim().parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::BadQuery(format!(
                "days must be a whole number from 1 to {max}"
            ))),
        },
    }
}

/// Loads the window's aggregates; with `with_series`, the chart's daily series too.
/// With `only`, crash signatures and templates are read for that version alone (every
/// version's totals are still read: k and the comparison with the previous shown
/// version need them).
/// Served from the instance's short read cache (see `cache`).
pub async fn load(
    st: &AppState,
    days: u32,
    with_series: bool,
    only: Option<&str>,
) -> Result<Arc<(VersionsReport, Vec<Series>)>, ApiError> {
    let key = (days, with_series, only.map(str::to_string));
    st.read_cache
        .get_or_compute(key, || compute(st, days, with_series, only))
        .await
}

async fn compute(
    st: &AppState,
    days: u32,
    with_series: bool,
    only: Option<&str>,
) -> Result<(VersionsReport, Vec<Series>), ApiError> {
    let now = Utc::now();
    let since_ts = now.timestamp() - i64::from(days) * 86_400;
    let since = DateTime::from_timestamp(since_ts, 0).unwrap_or(now);
    let versions = st.store.versions(since_ts, None).await?;
    let signatures = st.store.signatures(since_ts, only).await?;
    let templates = st.store.templates(since_ts, st.config.k, only).await?;
    let report = aggregate::build(
        versions,
        signatures,
        templates,
        st.config.k,
        days,
        since,
        now,
    );
    let series = if with_series {
        aggregate::series(st.store.days(since_ts).await?, &report)
    } else {
        Vec::new()
    };
    Ok((report, series))
}

/// `GET /v1/versions`.
pub async fn list_versions(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Query<WindowParams>, QueryRejection>,
) -> Result<Json<VersionsReport>, ApiError> {
    crate::ingest::limit_client(&st, st.client_ip(peer, &headers), true).await?;
    let days = window_days(&st, q)?;
    Ok(Json(load(&st, days, false, None).await?.0.clone()))
}

/// The answer of `GET /v1/versions/{version}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct VersionAnswer {
    /// The window, in days.
    pub window_days: u32,
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// The k-anonymity threshold in force.
    pub k: u32,
    /// The version's health.
    #[serde(flatten)]
    pub health: VersionHealth,
}

/// `GET /v1/versions/{version}`.
pub async fn get_version(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(version): Path<String>,
    q: Result<Query<WindowParams>, QueryRejection>,
) -> Result<Json<VersionAnswer>, ApiError> {
    crate::ingest::limit_client(&st, st.client_ip(peer, &headers), true).await?;
    let days = window_days(&st, q)?;
    let loaded = load(&st, days, false, Some(&version)).await?;
    let report = &loaded.0;
    let k = report.k;
    let since = report.since;
    let health = report
        .versions
        .iter()
        .find(|v| v.version == version)
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no data to show for this version in the last {days} days \
                 (unknown, or seen on fewer than {k} devices)"
            ))
        })?;
    Ok(Json(VersionAnswer {
        window_days: days,
        since,
        k,
        health,
    }))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    backend: &'static str,
    counters: Snapshot,
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
pub async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let ok = st.store.ping().await.is_ok();
    let body = Health {
        status: if ok { "ok" } else { "database unavailable" },
        backend: match st.store.backend() {
            crate::store::Backend::Sqlite => "sqlite",
            crate::store::Backend::Postgres => "postgres",
        },
        counters: st.counters.snapshot(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
