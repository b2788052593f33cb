//! The API's error type and how each error becomes an HTTP answer: a status code and a
//! JSON body `{"error": "<code>", "message": "<what went wrong>"}`. Storage errors are
//! logged here (without request data) and answered with a generic 503.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Content type other than `application/json`, or an unknown content encoding.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Body larger than the limit (as sent or after decompression).
    #[error("request body larger than {0} bytes (as sent or after gunzip)")]
    TooLarge(usize),
    /// The body did not arrive in time.
    #[error("the request body did not arrive in time")]
    Timeout,
    /// The body could not be read.
    #[error("could not read the request body")]
    BadBody,
    /// `Content-Encoding: gzip` with a body that is not gzip.
    #[error("body is not valid gzip")]
    BadGzip,
    /// Not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// JSON, but not the shape of the schema (unknown or missing fields, wrong types).
    #[error("does not match the report schema: {0}")]
    SchemaMismatch(String),
    /// A schema version this build does not accept.
    #[error("unsupported schema version {0} (this collector accepts {expected})", expected = locus_report::SCHEMA_VERSION)]
    SchemaVersion(u64),
    /// The report breaks a structural rule.
    #[error("invalid report: {0}")]
    Invalid(#[from] locus_report::ReportError),
    /// A string in the report looks like location or personal data.
    #[error("field `{0}` looks like location or personal data; the report was not stored")]
    Pii(&'static str),
    /// A crash message is not a template as devices make them (words outside the shared
    /// vocabulary, digits, links, symbols...).
    #[error("crashes.message is not a message template (only the shared vocabulary and placeholders such as <num>, <file>); the report was not stored")]
    NotATemplate,
    /// A text field holds a control or bidi character.
    #[error("field `{0}` holds a control or bidi character; the report was not stored")]
    Hidden(&'static str),
    /// This client network brought as many new pseudonyms today as it may.
    #[error("this network reported under too many new pseudonyms today; retry in {0} s")]
    NetworkQuota(u64),
    /// A rate limit refused the request.
    #[error("rate limit exceeded; retry in {0} s")]
    RateLimited(u64),
    /// The report's pseudonym was deleted: its reports are refused for good.
    #[error("this pseudonym was deleted; its reports are no longer accepted (opt in again for a new one)")]
    PseudonymDeleted,
    /// A query parameter is out of range.
    #[error("bad query: {0}")]
    BadQuery(String),
    /// Nothing to show (unknown, or withheld by k-anonymity: the two look the same).
    #[error("{0}")]
    NotFound(String),
    /// The network key of the day could not be made.
    #[error("service unavailable")]
    Network(crate::network::NetworkError),
    /// The database failed.
    #[error("storage unavailable")]
    Store(#[from] StoreError),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
}

impl ApiError {
    /// The status code and the stable machine-readable code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ApiError::*;
        match self {
            UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            BadBody => (StatusCode::BAD_REQUEST, "bad_body"),
            Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            BadGzip => (StatusCode::BAD_REQUEST, "bad_gzip"),
            MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            SchemaMismatch(_) => (StatusCode::UNPROCESSABLE_ENTITY, "schema_mismatch"),
            SchemaVersion(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unsupported_schema"),
            Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_report"),
            Pii(_) => (StatusCode::UNPROCESSABLE_ENTITY, "pii_detected"),
            NotATemplate => (StatusCode::UNPROCESSABLE_ENTITY, "not_a_template"),
            Hidden(_) => (StatusCode::UNPROCESSABLE_ENTITY, "control_character"),
            NetworkQuota(_) => (StatusCode::TOO_MANY_REQUESTS, "network_quota"),
            RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            PseudonymDeleted => (StatusCode::GONE, "pseudonym_deleted"),
            BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
            Network(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(e) = &self {
            tracing::error!(error = %e, "storage error");
        }
        if let ApiError::Network(e) = &self {
            tracing::error!(error = %e, "network key");
        }
        let (status, code) = self.status_and_code();
        let mut resp = (
            status,
            Json(Body {
                error: code,
                message: self.to_string(),
            }),
        )
            .into_response();
        if let ApiError::RateLimited(secs) | ApiError::NetworkQuota(secs) = self {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
