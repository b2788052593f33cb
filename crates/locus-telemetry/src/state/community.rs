//! The community state, `community.json`: the opt-in choice, the aggregates since the last report, a deletion to deliver.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Aggregated crash signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashAgg {
    /// `panic` or `signal`.
    pub kind: String,
    /// The message's template (scrubbed, then every word not known to be safe replaced
    /// by a placeholder: see `privacy::template`). The field keeps its name so that
    /// state files written before templates still load; the report is built from
    /// the template of what is held (templates are idempotent), so an older state's
    /// scrubbed message never leaves as it is.
    pub message: String,
    /// Scrubbed, shortened location.
    pub location: String,
    /// Occurrences.
    pub count: u32,
}

/// Aggregated metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAgg {
    /// Counter, gauge or histogram.
    pub kind: String,
    /// Samples: observations for histograms, readings for gauges; for counters the
    /// records that carried increments (one per flush window), so their `sum` is the
    /// count that matters.
    pub count: u64,
    /// Sum.
    pub sum: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

/// The persisted state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommunityState {
    /// The user's choice made at runtime (overrides the settings default once made).
    pub opted_in: Option<bool>,
    /// Records up to this sequence number have been aggregated (or passed over).
    pub cursor: u64,
    /// Start of the current report period.
    pub period_start: Option<DateTime<Utc>>,
    /// Session outcomes in the period.
    pub sessions: locus_report::SessionCounts,
    /// Crash signatures in the period.
    pub crashes: BTreeMap<String, CrashAgg>,
    /// Metric summaries in the period.
    pub metrics: BTreeMap<String, MetricAgg>,
    /// Send at the next round (first start after a crash).
    pub send_now: bool,
    /// A pseudonym the server must forget (opt-out), until delivered.
    pub pending_deletion: Option<String>,
    /// Reports delivered, ever.
    pub reports_sent: u64,
    /// Hangs of watched loops that started in the period (`hang` records of phase
    /// `start`). Absent in state written by an older build: 0.
    #[serde(default)]
    pub hangs: u32,
}
