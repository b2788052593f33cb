//! The community worker (spec §3.2, secondary and opt-in): aggregates what the recorder
//! holds into a period's health report and sends it at most once per period (daily by
//! default) plus once on the first start after a crash — through the same policy (one
//! retry, its own breaker, panics caught) as the S3 worker, and never in its way.
//!
//! Opting out stops sending at once, drops the aggregates, rotates the salt (a later
//! opt-in is a new, unlinkable pseudonym) and leaves one deletion request to deliver.

pub mod report;
pub mod state;

use super::policy::{deliver, Delivery};
use super::DestinationStatus;
use crate::breaker::CircuitBreaker;
use crate::crash::session::Outcome;
use crate::dispatch::control::Control;
use crate::privacy::Salt;
use crate::record::Level;
use crate::recorder::{FieldValue, FlightRecorder};
use crate::sink::community::CommunityClient;
use chrono::Utc;
use state::CommunityState;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Target of the records the worker writes about itself.
pub(crate) const TARGET: &str = "locus_telemetry::community";

/// The opt-in switch and the community state, shared by the app's handle and the worker.
#[derive(Debug)]
pub struct CommunityShared {
    data_dir: PathBuf,
    opted_in: AtomicBool,
    state: Mutex<CommunityState>,
}

impl CommunityShared {
    /// Loads the state; the user's persisted choice wins over the settings default.
    pub fn load(
        data_dir: &Path,
        default_opt_in: bool,
        problems: &mut Vec<String>,
    ) -> Arc<CommunityShared> {
        let (state, problem) = CommunityState::load(data_dir);
        problems.extend(problem);
        let opted = state.opted_in.unwrap_or(default_opt_in);
        Arc::new(CommunityShared {
            data_dir: data_dir.to_path_buf(),
            opted_in: AtomicBool::new(opted),
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CommunityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the user has opted in.
    pub fn opted_in(&self) -> bool {
        self.opted_in.load(Ordering::Acquire)
    }

    /// Counts the previous session's outcome (only while opted in) and asks for a report
    /// at the first round after a crash.
    pub(crate) fn on_start(&self, previous: Outcome, recorder: &FlightRecorder) {
        if !self.opted_in() {
            return;
        }
        let mut s = self.lock();
        if s.period_start.is_none() {
            // First period ever: only what happens from now on is shared.
            s.period_start = Some(Utc::now());
            s.cursor = recorder.next_seq().saturating_sub(1);
        }
        match previous {
            Outcome::Exited => s.sessions.exited += 1,
            Outcome::Crashed => {
                s.sessions.crashed += 1;
                s.send_now = true;
            }
            Outcome::Abnormal => s.sessions.abnormal += 1,
            Outcome::FirstStart | Outcome::StillRunning => {}
        }
        s.save(&self.data_dir);
    }

    /// The user's choice, effective at once and persisted.
    pub(crate) fn set(
        &self,
        enabled: bool,
        device_id: &str,
        recorder: &FlightRecorder,
    ) -> Result<(), String> {
        let mut s = self.lock();
        let was = self.opted_in();
        s.opted_in = Some(enabled);
        if enabled && !was {
            // Only what happens from now on is shared.
            s.cursor = recorder.next_seq().saturating_sub(1);
            s.clear_aggregates(Utc::now());
            Salt::load_or_create(&self.data_dir)
                .map_err(|e| format!("cannot create the community salt: {e}"))?;
        }
        if !enabled && was {
            if let Some(salt) = Salt::load(&self.data_dir) {
                s.pending_deletion = Some(salt.pseudonym(device_id));
            }
            s.clear_aggregates(Utc::now());
            Salt::rotate(&self.data_dir)
                .map_err(|e| format!("cannot rotate the community salt: {e}"))?;
        }
        self.opted_in.store(enabled, Ordering::Release);
        s.save(&self.data_dir);
        Ok(())
    }

    /// The report that would be sent now (for `preview`), built by the worker's code.
    /// `private`: values with no recognisable shape that must not leave the device
    /// (device id, bucket name); see [`private_terms`].
    pub fn preview(
        &self,
        recorder_records: &[crate::record::Record],
        device_id: &str,
        destination: &str,
        app_version: &str,
        allowed_metrics: &[String],
    ) -> (locus_report::HealthReport, bool) {
        let mut s = self.lock().clone();
        if !self.opted_in() {
            // Not opted in: nothing is kept, so show what the retained history would give.
            s = CommunityState::default();
        }
        let private = private_terms(device_id, destination);
        let private: Vec<&str> = private.iter().map(String::as_str).collect();
        s.absorb(recorder_records, allowed_metrics, &private);
        let (salt, stored) = match Salt::load(&self.data_dir) {
            Some(salt) => (Some(salt), true),
            None => (Salt::random().ok(), false),
        };
        let pseudonym = salt.map_or_else(|| "0".repeat(64), |s| s.pseudonym(device_id));
        (
            report::build(&s, &pseudonym, app_version, Utc::now()),
            stored,
        )
    }
}

/// Values that identify the user but have no recognisable shape: the raw device id, the
/// bucket name and the local destination directory. Removed from every string of a report.
pub fn private_terms(device_id: &str, destination: &str) -> Vec<String> {
    let mut terms = vec![device_id.to_owned()];
    match crate::sink::s3::Destination::parse(destination) {
        Ok(crate::sink::s3::Destination::S3 { bucket, .. }) => terms.push(bucket),
        Ok(crate::sink::s3::Destination::File { root }) => terms.push(root.display().to_string()),
        Err(_) => {}
    }
    terms
}

pub(crate) struct CommunityWorker {
    pub private_terms: Vec<String>,
    pub recorder: FlightRecorder,
    pub client: CommunityClient,
    pub shared: Arc<CommunityShared>,
    pub device_id: String,
    pub app_version: String,
    pub allowed_metrics: Vec<String>,
    pub period: Duration,
    pub breaker: CircuitBreaker,
    pub attempt_timeout: Duration,
    pub status: Arc<Mutex<DestinationStatus>>,
}

impl CommunityWorker {
    fn update(&self, f: impl FnOnce(&mut DestinationStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        s.breaker = Some(self.breaker.snapshot());
    }

    pub async fn run(mut self, ctl: Arc<Control>, index: usize) {
        self.update(|s| s.target = self.client.describe());
        loop {
            let gen = ctl.flush_generation();
            tokio::select! {
                biased;
                _ = ctl.stopped() => {
                    let cut = self.breaker.take_cut_offs();
                    self.update(|s| s.record_cut_offs(cut));
                    break;
                }
                _ = self.round() => {}
            }
            ctl.ack(index, gen);
            if ctl.stopping() {
                break;
            }
            ctl.woken(index).await;
        }
        ctl.retire(index);
    }

    async fn send<'a>(
        &'a mut self,
        what: &'static str,
        fut: impl Fn(&'a CommunityClient) -> crate::sink::SinkFuture<'a>,
    ) -> Delivery {
        let client = &self.client;
        let d = deliver(&mut self.breaker, self.attempt_timeout, || fut(client)).await;
        self.update(|s| s.record(&d, Some(what)));
        d
    }

    async fn round(&mut self) {
        let pending = self.shared.lock().pending_deletion.clone();
        if let Some(pseudonym) = pending {
            let p = pseudonym.clone();
            let d = self.send("deletion", move |c| c.send_deletion(&p)).await;
            if let Delivery::Delivered { .. } = d {
                let mut s = self.shared.lock();
                if s.pending_deletion.as_deref() == Some(pseudonym.as_str()) {
                    s.pending_deletion = None;
                }
                s.save(&self.shared.data_dir);
            } else if let Delivery::Failed { error, .. } = d {
                self.recorder.log(
                    Level::Warn,
                    TARGET,
                    "community deletion request failed; will try again later",
                    &[("error", FieldValue::Str(&error))],
                );
            }
        }
        if !self.shared.opted_in() {
            return;
        }
        let records = self.recorder.snapshot().records;
        let now = Utc::now();
        let report = {
            let mut s = self.shared.lock();
            let private: Vec<&str> = self.private_terms.iter().map(String::as_str).collect();
            s.absorb(&records, &self.allowed_metrics, &private);
            let start = *s.period_start.get_or_insert(now);
            let due = s.send_now || (now - start).to_std().unwrap_or_default() >= self.period;
            s.save(&self.shared.data_dir);
            if !due || !s.has_data() {
                return;
            }
            // Opted in through the settings default rather than `set(true)`: no salt
            // was made yet, so make it on first use (else no report is ever sent).
            let salt = match Salt::load_or_create(&self.shared.data_dir) {
                Ok(salt) => salt,
                Err(e) => {
                    self.recorder.log(
                        Level::Warn,
                        TARGET,
                        "community report not sent: no pseudonym salt",
                        &[("error", FieldValue::Str(&e.to_string()))],
                    );
                    return;
                }
            };
            report::build(&s, &salt.pseudonym(&self.device_id), &self.app_version, now)
        };
        let d = self.send("report", move |c| c.send_report(&report)).await;
        let mut s = self.shared.lock();
        match d {
            Delivery::Delivered { .. } => {
                s.reports_sent += 1;
                s.clear_aggregates(now);
            }
            Delivery::Failed { error, attempts } => {
                // Spec §4.2: logged locally, payload discarded.
                s.clear_aggregates(now);
                drop(s);
                self.recorder.log(
                    Level::Warn,
                    TARGET,
                    "community report failed; report discarded",
                    &[
                        ("error", FieldValue::Str(&error)),
                        ("attempts", FieldValue::U64(u64::from(attempts))),
                    ],
                );
                let s = self.shared.lock();
                s.save(&self.shared.data_dir);
                return;
            }
            Delivery::Skipped { .. } => {}
        }
        s.save(&self.shared.data_dir);
    }
}
