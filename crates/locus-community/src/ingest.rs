//! `POST /v1/reports` and `POST /v1/deletions`: from raw request to stored report.
//!
//! Order of checks, cheapest first: per-client rate limit, content type and encoding,
//! body size (as sent, then after gunzip, so a gzip bomb stops at the limit), JSON
//! syntax, schema version, schema shape (unknown fields refused), structural rules,
//! per-pseudonym rate limit, the privacy filter as defence in depth, every crash message
//! a template as devices make them (the grammar and vocabulary of
//! `locus_privacy::template`, the device's own), no control or bidi character in any
//! text, and the client network's quota of new pseudonyms for the day. Only then is the
//! report stored, once per report id. The client address is used for the rate limit in
//! memory, and its network only as a keyed hash with a key that is deleted after the
//! day (see `network`); neither is stored.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flate2::read::MultiGzDecoder;
use http_body_util::BodyExt;
use locus_report::{DeletionRequest, HealthReport, SCHEMA_VERSION};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::ApiError;
use crate::network::{seconds_to_next_day, NetworkError};
use crate::ratelimit::client_key;
use crate::stats::Counters;
use crate::store::Insert;

/// The answer to an accepted report.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accepted {
    /// Always true: the report is (now or already) counted.
    pub accepted: bool,
    /// True when this report id was stored before (or forgotten): nothing was written.
    pub duplicate: bool,
}

/// The answer to a deletion request.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deleted {
    /// Reports forgotten.
    pub deleted: u64,
}

/// `POST /v1/reports`.
pub async fn post_report(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = st.client_ip(peer, &headers);
    let result = ingest_report(&st, client, &headers, body).await;
    match result {
        Ok(Insert::Stored) => {
            st.read_cache.invalidate();
            Counters::bump(&st.counters.accepted);
            let body = Accepted {
                accepted: true,
                duplicate: false,
            };
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Ok(Insert::Refused) => rejected(&st, ApiError::PseudonymDeleted),
        Ok(Insert::Duplicate) => {
            Counters::bump(&st.counters.duplicates);
            let body = Accepted {
                accepted: true,
                duplicate: true,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(e) => rejected(&st, e),
    }
}

/// `POST /v1/deletions`.
pub async fn post_deletion(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = st.client_ip(peer, &headers);
    let result = async {
        limit_client(&st, client, false).await?;
        let bytes = read_json_body(&headers, body, st.config.max_body).await?;
        let req: DeletionRequest = parse(&bytes)?;
        req.validate()?;
        Ok::<_, ApiError>(st.store.delete_pseudonym(&req.pseudonym).await?)
    }
    .await;
    match result {
        Ok(deleted) => {
            st.read_cache.invalidate();
            Counters::bump(&st.counters.deletions);
            tracing::info!(deleted, "pseudonym forgotten");
            (StatusCode::OK, Json(Deleted { deleted })).into_response()
        }
        Err(e) => rejected(&st, e),
    }
}

fn rejected(st: &AppState, e: ApiError) -> Response {
    let c = &st.counters;
    match &e {
        ApiError::Pii(_) => Counters::bump(&c.rejected_pii),
        ApiError::RateLimited(_) | ApiError::NetworkQuota(_) => Counters::bump(&c.rate_limited),
        ApiError::TooLarge(_) => Counters::bump(&c.rejected_too_large),
        ApiError::Store(_)
        | ApiError::Network(_)
        | ApiError::NotFound(_)
        | ApiError::BadQuery(_) => {}
        _ => Counters::bump(&c.rejected_invalid),
    }
    e.into_response()
}

async fn ingest_report(
    st: &AppState,
    client: IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<Insert, ApiError> {
    limit_client(st, client, false).await?;
    let bytes = read_json_body(headers, body, st.config.max_body).await?;
    let report: HealthReport = parse(&bytes)?;
    report.validate()?;
    st.pseudonym_limiter
        .check(
            &st.store,
            &st.network_keys,
            &report.pseudonym,
            report.pseudonym.as_bytes(),
            false,
        )
        .await
        .map_err(refused)?;
    if let Some(field) = pii_field(&report) {
        return Err(ApiError::Pii(field));
    }
    if let Some(field) = hidden_field(&report) {
        return Err(ApiError::Hidden(field));
    }
    if !report
        .crashes
        .iter()
        .all(|c| locus_privacy::template::is_template(&c.message, &c.location))
    {
        return Err(ApiError::NotATemplate);
    }
    if report.hangs > MAX_HANGS {
        return Err(ApiError::Invalid(locus_report::ReportError::Field {
            field: "hangs",
            why: "is more than a report may count",
        }));
    }
    let now = chrono::Utc::now();
    // A period in the future (beyond an hour of clock skew) or older than the retention
    // would be stored for nothing, or pruned at once (issue 20).
    if report.period_end > now + chrono::Duration::hours(1) {
        return Err(ApiError::Invalid(locus_report::ReportError::Field {
            field: "period_end",
            why: "is in the future",
        }));
    }
    if report.period_end < now - chrono::Duration::days(i64::from(st.config.retention_days())) {
        return Err(ApiError::Invalid(locus_report::ReportError::Field {
            field: "period_end",
            why: "is older than the collector keeps reports",
        }));
    }
    let network = st
        .network_keys
        .hash(&st.store, client, now)
        .await
        .map_err(|e| match e {
            NetworkError::Store(e) => ApiError::Store(e),
            other => ApiError::Network(other),
        })?;
    let quota = i64::from(st.config.new_pseudonyms_per_network);
    if quota == 0 {
        return Ok(st.store.insert(report, now.timestamp(), network).await?);
    }
    let (_, known) = st
        .store
        .network_pseudonyms(&network, &report.pseudonym)
        .await?;
    if known {
        return Ok(st.store.insert(report, now.timestamp(), network).await?);
    }
    // A new pseudonym for this network: check and store as one step (see QuotaLocks).
    let _held = st.quota_locks.lock(&network).await;
    let (pseudonyms, known) = st
        .store
        .network_pseudonyms(&network, &report.pseudonym)
        .await?;
    if !known && pseudonyms >= quota {
        return Err(ApiError::NetworkQuota(seconds_to_next_day(now)));
    }
    Ok(st.store.insert(report, now.timestamp(), network).await?)
}

/// The first text field of `r` holding a control or bidi character, if any (see
/// `locus_privacy::display`). Crash messages cannot (a template has none) and the short
/// fields are plain ASCII by `validate`; locations can.
pub fn hidden_field(r: &HealthReport) -> Option<&'static str> {
    let hidden = |s: &str| s.chars().any(locus_privacy::display::is_hidden);
    for c in &r.crashes {
        if hidden(&c.message) {
            return Some("crashes.message");
        }
        if hidden(&c.location) {
            return Some("crashes.location");
        }
    }
    None
}

/// Most hangs one report may count (like the other counts of a report): more is refused
/// with 422.
pub const MAX_HANGS: u32 = 10_000;

/// Takes a token of the per-client limit (ingest, deletions and reads alike; `read`
/// for reads, whose shared bucket is reached through the read pool).
pub async fn limit_client(st: &AppState, client: IpAddr, read: bool) -> Result<(), ApiError> {
    let key = client_key(client);
    st.client_limiter
        .check(
            &st.store,
            &st.network_keys,
            &key,
            key.to_string().as_bytes(),
            read,
        )
        .await
        .map_err(refused)
}

/// A limiter's refusal as the answer it becomes: 429, or the store's error.
fn refused(r: crate::ratelimit::Refusal) -> ApiError {
    match r {
        crate::ratelimit::Refusal::Limited(wait) => rate_limited(wait),
        crate::ratelimit::Refusal::Store(e) => ApiError::Store(e),
    }
}

/// A limiter's wait as the 429 it becomes (`Retry-After` in whole seconds, at least 1).
fn rate_limited(wait: std::time::Duration) -> ApiError {
    ApiError::RateLimited(wait.as_secs().max(1))
}

/// Checks content type and encoding, reads at most `max` bytes and gunzips to at most
/// `max` bytes.
pub async fn read_json_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "content type must be application/json, not `{}`",
            essence.chars().take(64).collect::<String>()
        )));
    }
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(enc)) if enc.trim().eq_ignore_ascii_case("identity") => false,
        Some(Ok(enc)) if enc.trim().eq_ignore_ascii_case("gzip") => true,
        Some(Ok(enc)) if enc.trim().eq_ignore_ascii_case("x-gzip") => true,
        Some(_) => {
            return Err(ApiError::UnsupportedMediaType(
                "content encoding must be gzip or identity".into(),
            ))
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = declared.is_some_and(|n| n > max as u64);
    let bytes = tokio::time::timeout(BODY_TIMEOUT, read_limited(body, max, too_large))
        .await
        .map_err(|_| ApiError::Timeout)??;
    if !gzip {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(max + 1));
    MultiGzDecoder::new(&bytes[..])
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| ApiError::BadGzip)?;
    if out.len() > max {
        return Err(ApiError::TooLarge(max));
    }
    Ok(out.into())
}

/// How much of an oversized body is read and discarded before answering 413, so that a
/// client still sending gets the answer instead of a reset connection. Beyond this the
/// connection is simply closed.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// How long a client may take to send its body (a slow sender holds a connection).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads at most `max` bytes of `body`; past that (or when the declared length already
/// is), drains up to [`DRAIN_LIMIT`] and fails with [`ApiError::TooLarge`].
async fn read_limited(mut body: Body, max: usize, too_large: bool) -> Result<Bytes, ApiError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    let mut over = too_large;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::BadBody)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > max {
            over = true;
        }
        if over {
            if seen > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if over {
        return Err(ApiError::TooLarge(max));
    }
    Ok(buf.into())
}

/// Only the schema version, read before the full parse so that a report of another
/// version is refused as such, not as a pile of unknown fields.
#[derive(Deserialize)]
struct SchemaProbe {
    schema: Option<serde_json::Value>,
}

/// Parses a versioned document: malformed JSON is 400, another schema version or a
/// shape that does not match (unknown fields, missing fields, wrong types) is 422.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let classify = |e: serde_json::Error| {
        if e.is_syntax() || e.is_eof() || e.is_io() {
            ApiError::MalformedJson(e.to_string())
        } else {
            ApiError::SchemaMismatch(e.to_string())
        }
    };
    if let Ok(probe) = serde_json::from_slice::<SchemaProbe>(bytes) {
        match probe.schema {
            Some(serde_json::Value::Number(n)) if n.as_u64() != Some(u64::from(SCHEMA_VERSION)) => {
                return Err(ApiError::SchemaVersion(n.as_u64().unwrap_or(u64::MAX)));
            }
            _ => {}
        }
    }
    serde_json::from_slice(bytes).map_err(classify)
}

/// The first field of `r` whose text the privacy filter flags, if any. Every string but
/// the hex ids (which `validate` pins to hex) is checked.
pub fn pii_field(r: &HealthReport) -> Option<&'static str> {
    let flagged = |s: &str| locus_privacy::find_pii(s).is_some();
    if flagged(&r.app_version) {
        return Some("app_version");
    }
    if flagged(&r.platform) {
        return Some("platform");
    }
    if flagged(&r.os_family) {
        return Some("os_family");
    }
    for c in &r.crashes {
        if flagged(&c.message) {
            return Some("crashes.message");
        }
        if flagged(&c.location) {
            return Some("crashes.location");
        }
        if flagged(&c.kind) {
            return Some("crashes.kind");
        }
    }
    for m in &r.metrics {
        if flagged(&m.name) {
            return Some("metrics.name");
        }
        if flagged(&m.kind) {
            return Some("metrics.kind");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_classifies_errors() {
        let ok = serde_json::to_vec(&HealthReport::example()).unwrap();
        assert!(parse::<HealthReport>(&ok).is_ok());
        assert!(matches!(
            parse::<HealthReport>(b"{\"schema\":1,"),
            Err(ApiError::MalformedJson(_))
        ));
        let mut v = serde_json::to_value(HealthReport::example()).unwrap();
        v["latitude"] = serde_json::json!(52.5);
        let bytes = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            parse::<HealthReport>(&bytes),
            Err(ApiError::SchemaMismatch(_))
        ));
        v["schema"] = serde_json::json!(2);
        let bytes = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            parse::<HealthReport>(&bytes),
            Err(ApiError::SchemaVersion(2))
        ));
    }
}
