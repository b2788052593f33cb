//! The S3 diagnostics worker (spec §3.1): ships every record, full fidelity, to the
//! user's bucket as gzip JSON Lines under `diagnostics/YYYY/MM/DD/<device>_<ts>.log.gz`.
//! Each upload goes through the policy (one retry, breaker, timeout, panics caught); a
//! failed upload is written into the recorder and its payload discarded.
//!
//! An attempt cut off by shutdown counts for the breaker (see [`super::policy`]) and in
//! the status's attempts; its batch is not discarded (the cursor stays), so the next
//! start ships it.

use super::policy::{deliver, guarded, Delivery, Guarded};
use super::{Control, DestinationStatus};
use crate::breaker::CircuitBreaker;
use crate::dispatch::batch::{next_batch, BatchLimits, Cursor};
use crate::record::Level;
use crate::recorder::{FieldValue, FlightRecorder};
use crate::sink::s3::{encode_batch, object_key, KeyClock};
use crate::sink::DiagnosticsSink;
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
    pub retention_days: Option<u32>,
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
        if let Some(days) = self.retention_days {
            // Cancellable like a round: a hung retention call must not hold shutdown
            // (and the ring file) for a whole attempt timeout.
            tokio::select! {
                biased;
                _ = ctl.stopped() => {
                    self.count_cut_offs();
                    ctl.retire(index);
                    return;
                }
                _ = self.ensure_retention(days) => {}
            }
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

    /// Best effort, once: the bucket's retention rule. Not an upload, so it neither
    /// counts for nor waits on the breaker — but it is skipped while the breaker is open.
    async fn ensure_retention(&mut self, days: u32) {
        if !matches!(self.breaker.permit(), crate::breaker::Permit::Closed) {
            return;
        }
        // Inside the same failure boundary as uploads: a panicking sink (building the
        // future or polling it) must not kill the worker task.
        let sink = self.sink.clone();
        let res = guarded(self.attempt_timeout, || sink.ensure_retention(days)).await;
        let (level, msg) = match res {
            Guarded::Done(Ok(done)) => (Level::Info, done),
            Guarded::Done(Err(e)) => (Level::Warn, format!("retention rule not applied: {e}")),
            Guarded::Panicked(message) => (
                Level::Warn,
                format!("retention rule not applied: panicked: {message}"),
            ),
            Guarded::TimedOut => (
                Level::Warn,
                "retention rule not applied: timed out".to_owned(),
            ),
        };
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
