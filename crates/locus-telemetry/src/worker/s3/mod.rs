//! The S3 diagnostics worker (spec §3.1): ships every record, full fidelity, to the
//! user's bucket as gzip JSON Lines under `diagnostics/YYYY/MM/DD/<device>_<ts>.log.gz`.
//! Each upload goes through the policy (one retry, breaker, timeout, panics caught); a
//! failed upload is written into the recorder and its payload discarded.
//!
//! With `diagnostics_recipients` set, each gzip'd batch is age-encrypted to them before
//! it leaves and stored as `….log.gz.age`; recipients that cannot be used disable the
//! worker (uploads wait in the ring) — a batch is never sent unencrypted instead.
//!
//! At start, the bucket's retention rule is checked when it is due (at most once a day,
//! see [`super::retention`]) and the breaker is closed; that call counts for the breaker
//! like an upload attempt.
//! An attempt cut off by shutdown counts for the breaker (see [`super::policy`]) and in
//! the status's attempts; its batch is not discarded (the cursor stays), so the next
//! start ships it.

pub mod batch;

use super::policy::{call, deliver, Call, Delivery};
use super::retention::RetentionCheck;
use super::{Destination, DestinationKind, DestinationStatus, Pending, StatusCell};
use crate::status::{Problem, ProblemArea};
use crate::breaker::{CircuitBreaker, Clock};
use crate::record::Level;
use crate::recorder::{FieldValue, FlightRecorder};
use crate::settings::Settings;
use crate::sink::s3::{
    encode_batch, encrypt_body, encrypted_object_key, object_key, DiagnosticsStore, KeyClock,
    Recipients,
};
use crate::sink::DiagnosticsSink;
use crate::sink::SinkError;
use batch::{next_batch, BatchLimits, Cursor};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// Target of the records the worker writes about itself (never fed back by the layer).
pub(crate) const TARGET: &str = "locus_telemetry::s3";

pub(crate) struct S3Worker {
    recorder: FlightRecorder,
    sink: Arc<dyn DiagnosticsSink>,
    device_id: String,
    breaker: CircuitBreaker,
    cursor: Cursor,
    attempt_timeout: Duration,
    limits: BatchLimits,
    /// Who batches are encrypted to (`None`: stored unencrypted, as `.log.gz`).
    recipients: Option<Recipients>,
    /// The once-a-day retention rule check (`None`: not managed).
    retention: Option<RetentionCheck>,
    status: StatusCell,
}

impl S3Worker {
    /// The S3 destination the settings name: its breaker is loaded now (a problem with
    /// it goes to `problems`), its sink (`sink`, else the one the settings name) is
    /// opened on the telemetry thread.
    pub fn pending(
        settings: &Settings,
        recorder: &FlightRecorder,
        device_id: &str,
        sink: Option<Arc<dyn DiagnosticsSink>>,
        http: Option<crate::sink::transport::HttpClient>,
        clock: &Arc<dyn Clock>,
        problems: &mut Vec<Problem>,
    ) -> Pending {
        let (breaker, problem) =
            CircuitBreaker::load(&settings.data_dir, "s3", settings.backoff(), clock.clone());
        problems.extend(problem.map(|p| Problem::new(ProblemArea::S3, p)));
        let status = StatusCell::new(DestinationKind::S3, settings.destination_url(), &breaker);
        let settings = settings.clone();
        let recorder = recorder.clone();
        let device_id = device_id.to_owned();
        let clock = clock.clone();
        let worker_status = status.clone();
        let recipients = Recipients::parse_optional(&settings.diagnostics_recipients);
        let open = Box::pin(async move {
            let recipients = match recipients {
                Ok(r) => r,
                Err(e) => {
                    // Settings that skipped validation: fail closed, never plaintext.
                    let msg = format!(
                        "diagnostics_recipients unusable, uploads disabled (never sent unencrypted): {e}"
                    );
                    recorder.log(Level::Error, TARGET, &msg, &[]);
                    worker_status.update(&breaker, |s| s.last_error = Some(msg));
                    return None;
                }
            };
            let sink = match sink {
                Some(sink) => sink,
                None => {
                    open_sink_or_report(&settings, http, &recorder, &breaker, &worker_status)
                        .await?
                }
            };
            let worker = S3Worker {
                cursor: Cursor::load(&settings.data_dir, "s3"),
                retention: Some(RetentionCheck::new(
                    &settings.data_dir,
                    "s3",
                    settings.retention_days,
                    clock,
                )),
                recorder,
                sink,
                recipients,
                device_id,
                breaker,
                attempt_timeout: Duration::from_secs(settings.attempt_timeout_secs),
                limits: BatchLimits::default(),
                status: worker_status,
            };
            Some(Box::new(worker) as Box<dyn Destination>)
        });
        Pending { status, open }
    }

    fn update(&self, f: impl FnOnce(&mut DestinationStatus)) {
        self.status.update(&self.breaker, |s| {
            f(s);
            s.shipped_through = self.cursor.last();
        });
    }

    /// Best effort, at start: the bucket's retention rule, unless it was confirmed less
    /// than a day ago. One attempt, no retry, only while the breaker is closed; it counts
    /// for the breaker like an upload attempt.
    async fn ensure_retention(&mut self) {
        let Some(check) = &self.retention else {
            return;
        };
        let destination = self.sink.describe();
        if !check.due(&destination) {
            return;
        }
        let days = check.days();
        // Inside the same failure boundary as uploads: a panicking sink (building the
        // future or polling it) must not kill the worker task.
        let sink = self.sink.clone();
        let res = call(
            &mut self.breaker,
            self.attempt_timeout,
            "retention call",
            || sink.ensure_retention(days),
        )
        .await;
        let (level, msg) = match res {
            Call::Skipped => return,
            Call::Done(done) => {
                check.confirmed(&destination);
                (Level::Info, done)
            }
            Call::Failed(e) => (Level::Warn, format!("retention rule not applied: {e}")),
        };
        self.update(|s| {
            s.attempts += 1;
            if level == Level::Warn {
                s.last_error = Some(msg.clone());
            }
        });
        self.recorder.log(
            level,
            TARGET,
            &msg,
            &[("retention_days", FieldValue::U64(u64::from(days)))],
        );
    }

    /// Counts the records between the cursor and the oldest one still in the ring: the
    /// ring overwrote them before they could be shipped (uploads waited or failed). The
    /// cursor moves past them, so each is counted once.
    fn count_overwritten(&mut self, oldest_in_ring: Option<u64>) {
        let Some(oldest) = oldest_in_ring else { return };
        let next = self.cursor.last().saturating_add(1);
        if oldest > next {
            self.status.add_overwritten(oldest - next);
            self.cursor.advance(oldest - 1);
            self.update(|_| {});
        }
    }

    async fn ship(&mut self, final_round: bool) {
        // A round ships what was recorded when it began; chasing the tail of a busy
        // recorder would turn one wake-up into an upload per batch forever.
        // One read of the ring serves every batch of the round.
        let until = self.recorder.next_seq().saturating_sub(1);
        let mut records = self.recorder.snapshot().records;
        records.retain(|r| r.seq <= until);
        self.cursor.reconcile(records.last().map(|r| r.seq));
        self.count_overwritten(records.first().map(|r| r.seq));
        loop {
            let batch = next_batch(
                &records,
                self.cursor.last(),
                self.limits,
                crate::clock::now(),
                !final_round,
            );
            let (Some(first), Some(last)) =
                (batch.first().map(|r| r.seq), batch.last().map(|r| r.seq))
            else {
                return;
            };
            let body = encode_batch(&batch);
            let batch_time = KeyClock::global().next();
            let (key, body) = match &self.recipients {
                None => (
                    object_key(self.sink.prefix(), &self.device_id, batch_time),
                    body,
                ),
                Some(recipients) => match encrypt_body(&body, recipients) {
                    Ok(sealed) => (
                        encrypted_object_key(self.sink.prefix(), &self.device_id, batch_time),
                        sealed,
                    ),
                    Err(e) => {
                        // Never sent unencrypted instead: the batch waits in the ring.
                        let error = e.to_string();
                        self.recorder.log(
                            Level::Error,
                            TARGET,
                            "diagnostics batch not encrypted; not uploaded (records stay in the flight recorder)",
                            &[("error", FieldValue::Str(&error))],
                        );
                        self.update(|s| s.last_error = Some(error.clone()));
                        return;
                    }
                },
            };
            let sink = self.sink.clone();
            let delivery = deliver(&mut self.breaker, self.attempt_timeout, || {
                let sink = sink.clone();
                let key = key.clone();
                let body = body.clone();
                async move { sink.put(&key, body).await }
            })
            .await;
            // Delivered, or failed and discarded (spec §4.2): either way the batch is done.
            if !matches!(delivery, Delivery::Skipped { .. }) {
                self.cursor.advance(last);
            }
            self.update(|s| s.record(&delivery, None));
            match delivery {
                Delivery::Delivered { .. } => {}
                Delivery::Failed {
                    attempts: made,
                    error,
                } => {
                    // Spec §4.2: log the failure to the local buffer, discard the payload.
                    self.recorder.log(
                        Level::Warn,
                        TARGET,
                        "diagnostics upload failed; batch discarded (records stay in the flight recorder)",
                        &[
                            ("error", FieldValue::Str(&error)),
                            ("attempts", FieldValue::U64(u64::from(made))),
                            ("first_seq", FieldValue::U64(first)),
                            ("last_seq", FieldValue::U64(last)),
                        ],
                    );
                    return;
                }
                Delivery::Skipped { .. } => return,
            }
        }
    }
}

impl Destination for S3Worker {
    fn kind(&self) -> DestinationKind {
        DestinationKind::S3
    }

    fn held(&mut self) {
        // What the ring overwrote while uploads wait, counted as it happens (the count
        // is shown while waiting, not only once shipping resumes).
        let oldest = self.recorder.snapshot().records.first().map(|r| r.seq);
        self.count_overwritten(oldest);
    }

    fn start(&mut self) -> BoxFuture<'_, ()> {
        self.update(|s| s.target = self.sink.describe());
        // Cancellable like a round: a hung retention call must not hold shutdown (and
        // the ring file) for a whole attempt timeout. Cut off, it is a failed attempt.
        Box::pin(self.ensure_retention())
    }

    fn round(&mut self, final_round: bool) -> BoxFuture<'_, ()> {
        Box::pin(self.ship(final_round))
    }

    fn cut_off(&mut self) {
        let cut = self.breaker.take_cut_offs();
        self.update(|s| s.record_cut_offs(cut));
    }
}

/// Opens the sink the settings name; a bad URL is recorded and disables the worker (it
/// is a configuration error: retrying cannot fix it).
async fn open_sink_or_report(
    settings: &Settings,
    http: Option<crate::sink::transport::HttpClient>,
    recorder: &FlightRecorder,
    breaker: &CircuitBreaker,
    status: &StatusCell,
) -> Option<Arc<dyn DiagnosticsSink>> {
    match open_sink(settings, http).await {
        Ok(sink) => Some(sink),
        Err(e) => {
            let msg = format!("diagnostics destination unusable, uploads disabled: {e}");
            recorder.log(Level::Error, TARGET, &msg, &[]);
            status.update(breaker, |s| s.last_error = Some(msg));
            None
        }
    }
}

/// Opens the diagnostics destination the settings name (default: the embedded local
/// bucket under the data dir), with S3 options from the settings and the environment.
pub(crate) async fn open_sink(
    settings: &Settings,
    http: Option<crate::sink::transport::HttpClient>,
) -> Result<Arc<dyn DiagnosticsSink>, SinkError> {
    let dest = crate::sink::s3::Destination::parse(&settings.destination_url())?;
    let opts = crate::sink::s3::S3Options {
        transport: http,
        ..settings.s3_options()
    };
    let store = DiagnosticsStore::open(&dest, &opts).await?;
    Ok(Arc::new(store))
}
