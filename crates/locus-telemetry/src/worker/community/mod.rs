//! The community worker (spec §3.2, secondary and opt-in): aggregates what the recorder
//! holds into a period's health report and sends it at most once per period (daily by
//! default) plus once on the first start after a crash (and, only when
//! `community_report_at_shutdown` asks, in the last round before shutdown: demos) — through the same policy (one
//! retry, its own breaker, panics caught) as the S3 worker, and never in its way.
//!
//! Opting out stops sending at once, drops the aggregates, rotates the salt (a later
//! opt-in is a new, unlinkable pseudonym) and leaves one deletion request to deliver.

pub mod report;
pub mod state;

use super::policy::{deliver, Delivery};
use super::{Destination, DestinationKind, DestinationStatus, Pending, StatusCell};
use crate::breaker::{CircuitBreaker, Clock};
use crate::crash::session::Outcome;
use crate::privacy::Salt;
use crate::record::Level;
use crate::recorder::{FieldValue, FlightRecorder};
use crate::settings::Settings;
use crate::sink::community::CommunityClient;
use crate::sink::CommunitySink;
use crate::status::{Problem, ProblemArea};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use state::CommunityState;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Target of the records the worker writes about itself.
pub(crate) const TARGET: &str = "locus_telemetry::community";

/// Why the user's opt-in choice could not be kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommunityChoiceError {
    /// Telemetry started degraded (see `status().problems`): there is nowhere to keep it.
    #[error("telemetry is degraded; the choice cannot be kept")]
    Degraded,
    /// The pseudonym's salt could not be created (opting in) or rotated (opting out).
    #[error("cannot create or rotate the community salt: {0}")]
    Salt(#[source] std::io::Error),
    /// Telemetry failed internally (a caught panic, see `status().problems`).
    #[error("telemetry failed internally; the choice was not kept")]
    Internal,
}

/// The exact community report that would be sent now, for a preview screen.
#[derive(Debug, Clone)]
pub struct CommunityPreview {
    /// The report, as it would be sent.
    pub report: locus_report::HealthReport,
    /// Whether its pseudonym is the one kept in the data dir (`false`: the user has not
    /// opted in yet, so it is shown with a throwaway salt).
    pub pseudonym_is_kept: bool,
    /// Whether the user has opted in (`false`: nothing is sent).
    pub opted_in: bool,
}

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
        problems: &mut Vec<Problem>,
    ) -> Arc<CommunityShared> {
        let (state, problem) = CommunityState::load(data_dir);
        problems.extend(problem.map(|p| Problem::new(ProblemArea::Community, p)));
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
    /// at the first round after a crash. `start_seq`: the sequence number of this
    /// session's start record (the first period ever shares only what follows it).
    pub(crate) fn on_start(&self, previous: Outcome, start_seq: u64) {
        if !self.opted_in() {
            return;
        }
        let mut s = self.lock();
        if s.period_start.is_none() {
            // First period ever: only what happens from now on is shared.
            s.period_start = Some(crate::clock::now());
            s.cursor = start_seq;
        }
        match previous {
            Outcome::Exited => s.sessions.exited += 1,
            Outcome::Crashed => {
                s.sessions.crashed += 1;
                s.send_now = true;
            }
            Outcome::Abnormal => s.sessions.abnormal += 1,
            // An unknown outcome is not counted as anything.
            Outcome::FirstStart | Outcome::StillRunning | Outcome::Unknown => {}
        }
        s.save(&self.data_dir);
    }

    /// The user's choice, effective at once and persisted.
    pub(crate) fn set(
        &self,
        enabled: bool,
        device_id: &str,
        recorder: &FlightRecorder,
    ) -> Result<(), CommunityChoiceError> {
        let mut s = self.lock();
        let was = self.opted_in();
        s.opted_in = Some(enabled);
        if enabled && !was {
            // Only what happens from now on is shared.
            s.cursor = recorder.next_seq().saturating_sub(1);
            s.clear_aggregates(crate::clock::now());
            Salt::load_or_create(&self.data_dir).map_err(CommunityChoiceError::Salt)?;
        }
        if !enabled && was {
            if let Some(salt) = Salt::load(&self.data_dir) {
                s.pending_deletion = Some(salt.pseudonym(device_id));
            }
            s.clear_aggregates(crate::clock::now());
            Salt::rotate(&self.data_dir).map_err(CommunityChoiceError::Salt)?;
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
    ) -> CommunityPreview {
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
        CommunityPreview {
            report: report::build(&s, &pseudonym, app_version, crate::clock::now()),
            pseudonym_is_kept: stored,
            opted_in: self.opted_in(),
        }
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
    private_terms: Vec<String>,
    recorder: FlightRecorder,
    client: Arc<dyn CommunitySink>,
    shared: Arc<CommunityShared>,
    device_id: String,
    app_version: String,
    allowed_metrics: Vec<String>,
    period: Duration,
    report_at_shutdown: bool,
    breaker: CircuitBreaker,
    attempt_timeout: Duration,
    status: StatusCell,
}

impl CommunityWorker {
    /// The community client: `sink` if given, else the service `community_url` names
    /// (`None`, and why in `problems`, when there is none or it is unusable).
    pub fn client(
        settings: &Settings,
        sink: Option<Arc<dyn CommunitySink>>,
        http: Option<crate::sink::transport::HttpClient>,
        problems: &mut Vec<Problem>,
    ) -> Option<Arc<dyn CommunitySink>> {
        if sink.is_some() {
            return sink;
        }
        let url = settings.community_url.as_deref()?;
        let timeout = Duration::from_secs(settings.attempt_timeout_secs);
        let client = match http {
            Some(http) => CommunityClient::with_transport(url, timeout, http),
            None => CommunityClient::with_default_transport(url, timeout, settings.ca_file.as_deref()),
        };
        match client {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                problems.push(Problem::new(
                    ProblemArea::Community,
                    format!("community telemetry unavailable: {e}"),
                ));
                None
            }
        }
    }

    /// The community destination sending through `client`; its breaker is loaded now (a
    /// problem with it goes to `problems`).
    pub fn pending(
        settings: &Settings,
        recorder: &FlightRecorder,
        device_id: &str,
        client: Arc<dyn CommunitySink>,
        shared: Arc<CommunityShared>,
        clock: &Arc<dyn Clock>,
        problems: &mut Vec<Problem>,
    ) -> Pending {
        let (breaker, problem) = CircuitBreaker::load(
            &settings.data_dir,
            "community",
            settings.backoff(),
            clock.clone(),
        );
        problems.extend(problem.map(|p| Problem::new(ProblemArea::Community, p)));
        let status = StatusCell::new(DestinationKind::Community, client.describe(), &breaker);
        let worker = CommunityWorker {
            private_terms: private_terms(device_id, &settings.destination_url()),
            recorder: recorder.clone(),
            client,
            shared,
            device_id: device_id.to_owned(),
            app_version: settings.app_version.clone(),
            allowed_metrics: settings.community_metrics.clone(),
            period: Duration::from_secs(settings.community_period_secs),
            report_at_shutdown: settings.community_report_at_shutdown,
            breaker,
            attempt_timeout: Duration::from_secs(settings.attempt_timeout_secs),
            status: status.clone(),
        };
        Pending {
            status,
            open: Box::pin(async move { Some(Box::new(worker) as Box<dyn Destination>) }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut DestinationStatus)) {
        self.status.update(&self.breaker, f);
    }

    /// Delivers one payload with `send` through the policy, counted in the status.
    async fn send(
        &mut self,
        what: &'static str,
        send: impl Fn(&dyn CommunitySink) -> crate::sink::SinkFuture<'_>,
    ) -> Delivery {
        let client = self.client.clone();
        let d = deliver(&mut self.breaker, self.attempt_timeout, || send(&*client)).await;
        self.update(|s| s.record(&d, Some(what)));
        d
    }

    /// A round: the pending deletion request, if any, then the period's report if it is
    /// due (the period is over, a crash asked for it, or this is the `final_round` and
    /// the settings ask for a report at shutdown). The state is locked once per step between network calls, and saved after
    /// each step that changed it: once the new records are absorbed (so a round cut off
    /// in its report's send keeps them), and once the report is settled.
    async fn round(&mut self, final_round: bool) {
        let deleted = self.send_pending_deletion().await;
        let at_shutdown = final_round && self.report_at_shutdown;
        let Some((report, now)) = self.due_report(deleted, at_shutdown) else {
            return;
        };
        let d = self.send("report", move |c| c.send_report(&report)).await;
        self.settle_report(d, now);
    }

    /// Sends the deletion request left by an opt-out; the pseudonym it deleted, if it
    /// arrived.
    async fn send_pending_deletion(&mut self) -> Option<String> {
        let pseudonym = self.shared.lock().pending_deletion.clone()?;
        let p = pseudonym.clone();
        match self.send("deletion", move |c| c.send_deletion(&p)).await {
            Delivery::Delivered { .. } => Some(pseudonym),
            Delivery::Failed { error, .. } => {
                self.recorder.log(
                    Level::Warn,
                    TARGET,
                    "community deletion request failed; will try again later",
                    &[("error", FieldValue::Str(&error))],
                );
                None
            }
            Delivery::Skipped { .. } => None,
        }
    }

    /// Under one lock: forgets the `deleted` request, and while opted in, absorbs the
    /// recorder's new records and saves; the report to send now, if one is due
    /// (`at_shutdown`: due now whatever the period).
    fn due_report(
        &self,
        deleted: Option<String>,
        at_shutdown: bool,
    ) -> Option<(locus_report::HealthReport, DateTime<Utc>)> {
        // Read before the lock: the app's `set` and `preview` wait for it.
        let records = self
            .shared
            .opted_in()
            .then(|| self.recorder.snapshot().records);
        let mut s = self.shared.lock();
        if let Some(pseudonym) = &deleted {
            // A new opt-out while it was on its way left a new request: keep that one.
            if s.pending_deletion.as_deref() == Some(pseudonym.as_str()) {
                s.pending_deletion = None;
            }
        }
        let Some(records) = records else {
            if deleted.is_some() {
                s.save(&self.shared.data_dir);
            }
            return None;
        };
        let now = crate::clock::now();
        let private: Vec<&str> = self.private_terms.iter().map(String::as_str).collect();
        s.absorb(&records, &self.allowed_metrics, &private);
        let start = *s.period_start.get_or_insert(now);
        let due =
            s.send_now || at_shutdown || (now - start).to_std().unwrap_or_default() >= self.period;
        s.save(&self.shared.data_dir);
        if !due || !s.has_data() {
            return None;
        }
        // Opted in through the settings default rather than `set(true)`: no salt was made
        // yet, so make it on first use (else no report is ever sent).
        let salt = match Salt::load_or_create(&self.shared.data_dir) {
            Ok(salt) => salt,
            Err(e) => {
                self.recorder.log(
                    Level::Warn,
                    TARGET,
                    "community report not sent: no pseudonym salt",
                    &[("error", FieldValue::Str(&e.to_string()))],
                );
                return None;
            }
        };
        let report = report::build(&s, &salt.pseudonym(&self.device_id), &self.app_version, now);
        Some((report, now))
    }

    /// Under one lock: the report's outcome, saved once. Delivered or failed, its
    /// aggregates are done (spec §4.2: a failure is logged locally, the payload
    /// discarded); skipped, they wait for the next round.
    fn settle_report(&self, delivery: Delivery, now: DateTime<Utc>) {
        let mut s = self.shared.lock();
        match &delivery {
            Delivery::Delivered { .. } => {
                s.reports_sent += 1;
                s.clear_aggregates(now);
            }
            Delivery::Failed { .. } => s.clear_aggregates(now),
            Delivery::Skipped { .. } => {}
        }
        s.save(&self.shared.data_dir);
        drop(s);
        if let Delivery::Failed { error, attempts } = delivery {
            self.recorder.log(
                Level::Warn,
                TARGET,
                "community report failed; report discarded",
                &[
                    ("error", FieldValue::Str(&error)),
                    ("attempts", FieldValue::U64(u64::from(attempts))),
                ],
            );
        }
    }
}

impl Destination for CommunityWorker {
    fn kind(&self) -> DestinationKind {
        DestinationKind::Community
    }

    fn start(&mut self) -> BoxFuture<'_, ()> {
        self.update(|s| s.target = self.client.describe());
        Box::pin(std::future::ready(()))
    }

    fn round(&mut self, final_round: bool) -> BoxFuture<'_, ()> {
        Box::pin(CommunityWorker::round(self, final_round))
    }

    fn cut_off(&mut self) {
        let cut = self.breaker.take_cut_offs();
        self.update(|s| s.record_cut_offs(cut));
    }
}
