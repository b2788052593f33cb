//! The S3 diagnostics worker (spec §3.1): ships every record, full fidelity, to the
//! user's bucket as gzip JSON Lines under `diagnostics/YYYY/MM/DD/<device>_<ts>.log.gz`.
//! Each upload goes through the policy (one retry, breaker, timeout, panics caught); a
//! failed upload is written into the recorder and its payload discarded.
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
use super::DestinationStatus;
use crate::breaker::CircuitBreaker;
use crate::dispatch::control::Control;
use crate::record::Level;
use crate::recorder::{FieldValue, FlightRecorder};
use crate::settings::Settings;
use crate::sink::s3::{encode_batch, object_key, Destination, DiagnosticsStore, KeyClock};
use crate::sink::DiagnosticsSink;
use crate::sink::SinkError;
use batch::{next_batch, BatchLimits, Cursor};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Target of the records the worker writes about itself (never fed back by the layer).
pub(crate) const TARGET: &str = "locus_telemetry::s3";

pub(crate) struct S3Worker {
    pub recorder: FlightRecorder,
    pub sink: Arc<dyn DiagnosticsSink>,
    pub device_id: String,
    pub breaker: CircuitBreaker,
    pub cursor: Cursor,
    pub attempt_timeout: Duration,
    pub limits: BatchLimits,
    /// The once-a-day retention rule check (`None`: not managed).
    pub retention: Option<RetentionCheck>,
    pub status: Arc<Mutex<DestinationStatus>>,
}

impl S3Worker {
    fn update(&self, f: impl FnOnce(&mut DestinationStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        s.shipped_through = self.cursor.last();
        s.breaker = Some(self.breaker.snapshot());
    }

    /// Runs until stopped: a round per wake-up.
    pub async fn run(mut self, ctl: Arc<Control>, index: usize) {
        self.update(|s| s.target = self.sink.describe());
        // Cancellable like a round: a hung retention call must not hold shutdown (and
        // the ring file) for a whole attempt timeout. Cut off, it is a failed attempt.
        tokio::select! {
            biased;
            _ = ctl.stopped() => {
                self.count_cut_offs();
                ctl.retire(index);
                return;
            }
            _ = self.ensure_retention() => {}
        }
        loop {
            let gen = ctl.flush_generation();
            tokio::select! {
                biased;
                _ = ctl.stopped() => {
                    self.count_cut_offs();
                    break;
                }
                _ = self.round(ctl.final_round()) => {}
            }
            ctl.ack(index, gen);
            if ctl.stopping() {
                break;
            }
            ctl.woken(index).await;
        }
        ctl.retire(index);
    }

    /// An attempt cut off by shutdown was counted by the breaker when its future was
    /// dropped; the status counts it too.
    fn count_cut_offs(&mut self) {
        let cut = self.breaker.take_cut_offs();
        self.update(|s| s.record_cut_offs(cut));
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

    async fn round(&mut self, final_round: bool) {
        // A round ships what was recorded when it began; chasing the tail of a busy
        // recorder would turn one wake-up into an upload per batch forever.
        // One read of the ring serves every batch of the round.
        let until = self.recorder.next_seq().saturating_sub(1);
        let mut records = self.recorder.snapshot().records;
        records.retain(|r| r.seq <= until);
        self.cursor.reconcile(records.last().map(|r| r.seq));
        loop {
            let batch = next_batch(
                &records,
                self.cursor.last(),
                self.limits,
                chrono::Utc::now(),
                !final_round,
            );
            let (Some(first), Some(last)) =
                (batch.first().map(|r| r.seq), batch.last().map(|r| r.seq))
            else {
                return;
            };
            let body = encode_batch(&batch);
            let key = object_key(
                self.sink.prefix(),
                &self.device_id,
                KeyClock::global().next(),
            );
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

/// Opens the diagnostics destination the settings name (default: the embedded local
/// bucket under the data dir), with S3 options from the settings and the environment.
pub(crate) async fn open_sink(settings: &Settings) -> Result<Arc<dyn DiagnosticsSink>, SinkError> {
    let dest = Destination::parse(&settings.destination_url())?;
    let store = DiagnosticsStore::open(&dest, &settings.s3_options()).await?;
    Ok(Arc::new(store))
}
