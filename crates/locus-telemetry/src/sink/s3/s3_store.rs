//! The `s3://` backend: each call is built here as an HTTP request, SigV4-signed by
//! `rusty-s3` (sans-IO: it signs, it never connects), and performed by the
//! [`Transport`](crate::sink::transport::Transport) the options carry (the built-in one
//! by default, the platform's through the FFI). One attempt per call (the dispatcher
//! retries, so its breaker sees every attempt), bounded by the operation timeout.
//!
//! Errors become [`SinkError`]s that name the call and the server's answer, e.g.
//! `s3://b: PutObject: SignatureDoesNotMatch (403): ...`; a timeout is
//! [`SinkError::Timeout`]; a refused connection is a [`SinkError::Transport`]. No message
//! carries a credential: the secret is scrubbed from anything the server sends back, and
//! the presigned query never appears in an error.

use super::lifecycle::{self, LifecycleChange, LifecycleOutcome, RetentionRule, RULE_ID};
use super::{Destination, ObjectInfo, S3Options, SinkError};
use crate::sink::transport::{HttpClient, HttpRequest, HttpResponse, Method};
use chrono::{DateTime, Utc};
use rusty_s3::actions::{GetObject, ListObjectsV2, PutObject, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use std::time::Duration;

/// How long a presigned URL stays valid: the request is sent at once, so this only
/// needs to cover the call itself and some clock skew between our signing and sending.
const PRESIGN_VALIDITY: Duration = Duration::from_secs(15 * 60);

/// The response header S3 uses for a lifecycle configuration's transition default.
const MIN_SIZE_HEADER: &str = "x-amz-transition-default-minimum-object-size";

/// A bucket (and prefix) reached through the S3 API.
pub(crate) struct S3Store {
    http: HttpClient,
    bucket: Bucket,
    credentials: Credentials,
    label: String,
    diag_prefix: String,
    secrets: Vec<String>,
    /// Limit of each call (the transport's own).
    timeout: Duration,
    /// `max-keys` of listing calls (`None` = the server's default).
    pub(crate) page_size: Option<i32>,
}

impl S3Store {
    pub(crate) fn open(dest: &Destination, opts: &S3Options) -> Result<S3Store, SinkError> {
        let Destination::S3 { bucket, .. } = dest else {
            return Err(SinkError::InvalidDestination {
                url: dest.to_string(),
                why: "not an s3:// destination".into(),
            });
        };
        let invalid = |why: String| SinkError::InvalidDestination {
            url: dest.to_string(),
            why,
        };
        let (Some(key_id), Some(secret)) = (&opts.access_key_id, &opts.secret_access_key) else {
            return Err(invalid(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the settings)".into(),
            ));
        };
        if key_id.is_empty() || secret.is_empty() {
            return Err(invalid("empty S3 access key id or secret".into()));
        }
        if opts.connect_timeout.is_zero() || opts.operation_timeout.is_zero() {
            return Err(invalid("timeouts must be greater than zero".into()));
        }
        let region = opts.region_or_default().to_owned();
        let endpoint = match &opts.endpoint {
            Some(ep) if ep.starts_with("http://") || ep.starts_with("https://") => ep.clone(),
            Some(ep) => {
                return Err(invalid(format!(
                    "endpoint `{ep}` must start with http:// or https://"
                )))
            }
            None if region.starts_with("cn-") => {
                format!("https://s3.{region}.amazonaws.com.cn")
            }
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let endpoint: url::Url = endpoint
            .parse()
            .map_err(|e| invalid(format!("endpoint: {e}")))?;
        let style = if opts.force_path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket_handle = Bucket::new(endpoint, style, bucket.clone(), region)
            .map_err(|e| invalid(format!("bucket `{bucket}`: {e}")))?;
        let credentials = match &opts.session_token {
            Some(t) => Credentials::new_with_token(key_id, secret.expose(), t.expose()),
            None => Credentials::new(key_id, secret.expose()),
        };
        let http = match &opts.transport {
            Some(http) => http.clone(),
            None => HttpClient::built_in(opts.ca_file.as_deref()).map_err(invalid)?,
        };
        let mut secrets = vec![secret.expose().to_owned()];
        if let Some(t) = &opts.session_token {
            secrets.push(t.expose().to_owned());
        }
        Ok(S3Store {
            http,
            bucket: bucket_handle,
            credentials,
            label: dest.to_string(),
            diag_prefix: dest.diagnostics_prefix(),
            secrets,
            timeout: opts.operation_timeout,
            page_size: None,
        })
    }

    fn scrub(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                s = s.replace(secret.as_str(), "<redacted>");
            }
        }
        s
    }

    /// Performs `req`: a 2xx answer is `Ok`, anything else a typed error naming `op`.
    async fn call(&self, op: &'static str, req: HttpRequest) -> Result<HttpResponse, SinkError> {
        let resp = self.http.call(req).await.map_err(|e| {
            SinkError::from_transport(self.label.clone(), e, |other| {
                self.scrub(&format!("{op}: {other}"))
            })
        })?;
        if (200..300).contains(&resp.status) {
            return Ok(resp);
        }
        let text = String::from_utf8_lossy(&resp.body);
        let code = lifecycle::element(&text, "Code").map(lifecycle::unescape).unwrap_or_else(|| match resp.status {
            404 => "NotFound".to_owned(),
            403 => "Forbidden".to_owned(),
            _ => "UnknownError".to_owned(),
        });
        Err(SinkError::Service {
            destination: self.label.clone(),
            operation: op,
            code,
            status: resp.status,
            message: self.scrub(&lifecycle::element(&text, "Message").map(lifecycle::unescape).unwrap_or_default()),
        })
    }

    fn request(&self, method: Method, url: url::Url) -> HttpRequest {
        HttpRequest::new(method, url.to_string(), self.timeout)
    }

    pub(crate) async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        validate_key(key)?;
        let mut action = PutObject::new(&self.bucket, Some(&self.credentials), key);
        action
            .headers_mut()
            .insert("content-type", "application/gzip");
        let req = self
            .request(Method::Put, action.sign(PRESIGN_VALIDITY))
            .header("content-type", "application/gzip")
            .body(body);
        self.call("PutObject", req).await.map(drop)
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Vec<u8>, SinkError> {
        validate_key(key)?;
        let action = GetObject::new(&self.bucket, Some(&self.credentials), key);
        let req = self.request(Method::Get, action.sign(PRESIGN_VALIDITY));
        match self.call("GetObject", req).await {
            Ok(resp) => Ok(resp.body),
            Err(SinkError::Service { code, .. }) if code == "NoSuchKey" || code == "NotFound" => {
                Err(SinkError::NotFound {
                    destination: self.label.clone(),
                    key: key.to_owned(),
                })
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, SinkError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            action.with_prefix(prefix);
            if let Some(t) = token.take() {
                action.with_continuation_token(t);
            }
            if let Some(n) = self.page_size {
                action.with_max_keys(usize::try_from(n).unwrap_or(1000));
            }
            let req = self.request(Method::Get, action.sign(PRESIGN_VALIDITY));
            let resp = self.call("ListObjectsV2", req).await?;
            let text = String::from_utf8_lossy(&resp.body);
            let page = ListObjectsV2::parse_response(text.as_bytes()).map_err(|e| {
                SinkError::Decode {
                    what: format!("{}: ListObjectsV2 response", self.label),
                    why: e.to_string(),
                }
            })?;
            for o in &page.contents {
                out.push(ObjectInfo {
                    key: o.key.clone(),
                    size: o.size,
                    last_modified: DateTime::parse_from_rfc3339(&o.last_modified)
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or_default(),
                });
            }
            match page.next_continuation_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    /// A signed request for the bucket's `?lifecycle` subresource, with `headers` signed.
    fn lifecycle_request(&self, method: Method, headers: &[(&str, &str)]) -> HttpRequest {
        let mut url = self.bucket.base_url().clone();
        // Path style: `/bucket/` → `/bucket` (the bucket itself, not an empty key).
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(if path.is_empty() { "/" } else { &path });
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            match method {
                Method::Get => rusty_s3::Method::Get,
                Method::Put => rusty_s3::Method::Put,
                Method::Post => rusty_s3::Method::Post,
            },
            url,
            self.credentials.key(),
            self.credentials.secret(),
            self.credentials.token(),
            self.bucket.region(),
            PRESIGN_VALIDITY.as_secs(),
            std::iter::once(("lifecycle", "")),
            headers.iter().copied(),
        );
        let mut req = self.request(method, url);
        for (name, value) in headers {
            req = req.header(name, *value);
        }
        req
    }

    /// The bucket's rules and its transition default; an absent configuration is an
    /// empty one.
    async fn lifecycle_rules(
        &self,
    ) -> Result<(Vec<lifecycle::RawRule>, Option<String>), SinkError> {
        let req = self.lifecycle_request(Method::Get, &[]);
        match self.call("GetBucketLifecycleConfiguration", req).await {
            Ok(resp) => {
                let text = String::from_utf8_lossy(&resp.body);
                let rules = lifecycle::parse_rules(&text).map_err(|why| SinkError::Decode {
                    what: format!("{}: lifecycle configuration", self.label),
                    why,
                })?;
                let min_size = resp
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(MIN_SIZE_HEADER))
                    .map(|(_, v)| v.clone());
                Ok((rules, min_size))
            }
            Err(SinkError::Service { code, .. }) if code == "NoSuchLifecycleConfiguration" => {
                Ok((Vec::new(), None))
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn lifecycle_show(&self) -> Result<Option<RetentionRule>, SinkError> {
        let (rules, _) = self.lifecycle_rules().await?;
        Ok(rules
            .iter()
            .find(|r| r.id().as_deref() == Some(RULE_ID))
            .map(lifecycle::from_raw_rule))
    }

    pub(crate) async fn lifecycle_apply(&self, days: u32) -> Result<LifecycleOutcome, SinkError> {
        let want = RetentionRule::new(self.diag_prefix.clone(), days);
        let (existing, min_size) = self.lifecycle_rules().await?;
        let (rules, change, previous) =
            lifecycle::upsert(&existing, &want).map_err(|why| SinkError::Lifecycle {
                destination: self.label.clone(),
                why,
            })?;
        // Read back what was written: our rule must be there, exactly. Unchanged means
        // what we just read already holds it, once and exactly.
        let after = if change == LifecycleChange::Unchanged {
            existing
        } else {
            let body = lifecycle::render_rules(&rules).into_bytes();
            let md5 = {
                use base64::Engine;
                use md5::Digest;
                base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body))
            };
            let mut headers = vec![("content-md5", md5.as_str())];
            if let Some(m) = &min_size {
                headers.push((MIN_SIZE_HEADER, m.as_str()));
            }
            let req = self.lifecycle_request(Method::Put, &headers).body(body);
            self.call("PutBucketLifecycleConfiguration", req).await?;
            self.lifecycle_rules().await?.0
        };
        let ours: Vec<RetentionRule> = after
            .iter()
            .filter(|r| r.id().as_deref() == Some(RULE_ID))
            .map(lifecycle::from_raw_rule)
            .collect();
        match ours.as_slice() {
            [rule] if *rule == want => Ok(LifecycleOutcome {
                change,
                rule: rule.clone(),
                previous,
                other_rules: after.len() - 1,
                expired_files: 0,
            }),
            [] => Err(SinkError::Lifecycle {
                destination: self.label.clone(),
                why: format!("rule `{RULE_ID}` missing when read back (another writer?)"),
            }),
            found => Err(SinkError::Lifecycle {
                destination: self.label.clone(),
                why: format!(
                    "read back {} instead of {want}",
                    found
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            }),
        }
    }
}

/// S3 keys: non-empty, at most 1024 bytes, no leading `/`.
fn validate_key(key: &str) -> Result<(), SinkError> {
    let why = if key.is_empty() {
        "empty"
    } else if key.len() > 1024 {
        "longer than 1024 bytes"
    } else if key.starts_with('/') {
        "starts with `/`"
    } else {
        return Ok(());
    };
    Err(SinkError::InvalidKey {
        key: key.to_owned(),
        why: why.into(),
    })
}
