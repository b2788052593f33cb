//! The `s3://` backend: `aws-sdk-s3` over rustls (ring), static credentials, one attempt
//! per call (the dispatcher retries, so its breaker sees every attempt), connect and
//! operation timeouts, checksums only where the API requires them.
//!
//! Errors become [`SinkError`]s that name the call and the server's answer, e.g.
//! `s3://b: PutObject: SignatureDoesNotMatch (403): ...`; a timeout is
//! [`SinkError::Timeout`]; a refused connection is a [`SinkError::Transport`]. No message
//! carries a credential: the secret is scrubbed from anything the server sends back.

use super::lifecycle::{self, LifecycleChange, LifecycleOutcome, RetentionRule, RULE_ID};
use super::{Destination, ObjectInfo, S3Options, SinkError};
use aws_sdk_s3::config::{
    retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Credentials, Region,
    RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::BucketLifecycleConfiguration;
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;

/// A bucket (and prefix) reached through the S3 API.
pub(crate) struct S3Store {
    client: Client,
    bucket: String,
    label: String,
    diag_prefix: String,
    secrets: Vec<String>,
    /// Hard stop around each call, a little above the SDK's own operation timeout.
    deadline: Duration,
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
        if let Some(ep) = &opts.endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                return Err(invalid(format!(
                    "endpoint `{ep}` must start with http:// or https://"
                )));
            }
        }
        if opts.connect_timeout.is_zero() || opts.operation_timeout.is_zero() {
            return Err(invalid("timeouts must be greater than zero".into()));
        }

        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(opts.region_or_default().to_owned()))
            .credentials_provider(Credentials::new(
                key_id,
                secret.expose(),
                opts.session_token.as_ref().map(|t| t.expose().to_owned()),
                None,
                "locus-settings",
            ))
            .force_path_style(opts.force_path_style)
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(opts.connect_timeout)
                    .operation_timeout(opts.operation_timeout)
                    .operation_attempt_timeout(opts.operation_timeout)
                    .build(),
            )
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &opts.endpoint {
            conf = conf.endpoint_url(ep);
        }
        let mut secrets = vec![secret.expose().to_owned()];
        if let Some(t) = &opts.session_token {
            secrets.push(t.expose().to_owned());
        }
        Ok(S3Store {
            client: Client::from_conf(conf.build()),
            bucket: bucket.clone(),
            label: dest.to_string(),
            diag_prefix: dest.diagnostics_prefix(),
            secrets,
            deadline: opts.operation_timeout + Duration::from_secs(1),
            page_size: None,
        })
    }

    /// Runs one SDK call with the hard deadline and maps its error.
    async fn call<T, E, F>(&self, op: &'static str, f: F) -> Result<T, SinkError>
    where
        F: Future<Output = Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match tokio::time::timeout(self.deadline, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.map_err(op, &e)),
            Err(_) => Err(SinkError::Timeout {
                destination: self.label.clone(),
                after_ms: self.deadline.as_millis() as u64,
            }),
        }
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

    fn map_err<E>(
        &self,
        op: &'static str,
        e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> SinkError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let destination = self.label.clone();
        let timeout_ms = (self.deadline - Duration::from_secs(1)).as_millis() as u64;
        match e {
            SdkError::TimeoutError(_) => SinkError::Timeout {
                destination,
                after_ms: timeout_ms,
            },
            SdkError::DispatchFailure(d) if d.is_timeout() => SinkError::Timeout {
                destination,
                after_ms: timeout_ms,
            },
            SdkError::DispatchFailure(_) => SinkError::Transport {
                destination,
                message: self.scrub(&format!("{op}: cannot reach the server: {}", chain(e))),
            },
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let err = s.err();
                SinkError::Service {
                    destination,
                    operation: op,
                    code: err.code().unwrap_or("UnknownError").to_owned(),
                    status,
                    message: self.scrub(err.message().unwrap_or("")),
                }
            }
            SdkError::ResponseError(r) => SinkError::Transport {
                destination,
                message: self.scrub(&format!(
                    "{op}: unreadable response (HTTP {}): {}",
                    r.raw().status().as_u16(),
                    chain(e)
                )),
            },
            _ => SinkError::Transport {
                destination,
                message: self.scrub(&format!("{op}: {}", chain(e))),
            },
        }
    }

    pub(crate) async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), SinkError> {
        validate_key(key)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/gzip")
            .body(body.into())
            .send();
        self.call("PutObject", req).await.map(|_| ())
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Vec<u8>, SinkError> {
        validate_key(key)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send();
        let out = match self.call("GetObject", req).await {
            Err(SinkError::Service { code, .. }) if code == "NoSuchKey" => {
                return Err(SinkError::NotFound {
                    destination: self.label.clone(),
                    key: key.to_owned(),
                })
            }
            other => other?,
        };
        match tokio::time::timeout(self.deadline, out.body.collect()).await {
            Ok(Ok(bytes)) => Ok(bytes.into_bytes().to_vec()),
            Ok(Err(e)) => Err(SinkError::Transport {
                destination: self.label.clone(),
                message: self.scrub(&format!("GetObject: body cut off: {e}")),
            }),
            Err(_) => Err(SinkError::Timeout {
                destination: self.label.clone(),
                after_ms: self.deadline.as_millis() as u64,
            }),
        }
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, SinkError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .set_max_keys(self.page_size)
                .send();
            let page = self.call("ListObjectsV2", req).await?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                out.push(ObjectInfo {
                    key: key.to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    last_modified: o
                        .last_modified()
                        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
                        .unwrap_or_default(),
                });
            }
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    /// The bucket's rules; an absent configuration is an empty one.
    async fn lifecycle_rules(
        &self,
    ) -> Result<
        (
            Vec<aws_sdk_s3::types::LifecycleRule>,
            Option<aws_sdk_s3::types::TransitionDefaultMinimumObjectSize>,
        ),
        SinkError,
    > {
        let req = self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .send();
        match self.call("GetBucketLifecycleConfiguration", req).await {
            Ok(out) => Ok((
                out.rules().to_vec(),
                out.transition_default_minimum_object_size().cloned(),
            )),
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
            .find(|r| r.id() == Some(RULE_ID))
            .map(lifecycle::from_sdk_rule))
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
            let config = BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .map_err(|e| SinkError::Lifecycle {
                    destination: self.label.clone(),
                    why: e.to_string(),
                })?;
            let req = self
                .client
                .put_bucket_lifecycle_configuration()
                .bucket(&self.bucket)
                .lifecycle_configuration(config)
                .set_transition_default_minimum_object_size(min_size)
                .send();
            self.call("PutBucketLifecycleConfiguration", req).await?;
            self.lifecycle_rules().await?.0
        };
        let ours: Vec<RetentionRule> = after
            .iter()
            .filter(|r| r.id() == Some(RULE_ID))
            .map(lifecycle::from_sdk_rule)
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

/// An error and its sources, `: `-joined (the SDK's top-level text alone is vague).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        src = s.source();
    }
    out
}
