//! Retention (spec 3.1): one lifecycle rule with a fixed ID that expires diagnostics after
//! N days (30 by default), upserted without touching any other rule.
//!
//! S3 replaces a bucket's whole lifecycle configuration on every PUT, so
//! [`DiagnosticsStore::lifecycle_apply`](super::DiagnosticsStore::lifecycle_apply) reads
//! it (a 404 `NoSuchLifecycleConfiguration` is an empty one), replaces or appends our
//! rule — every other rule (the Tracks rules) is carried over as the SDK parsed it, all
//! fields, in its place — writes it, and reads it back to verify. The PUT has no version
//! token, so the read-modify-write window is kept to three back-to-back calls.
//!
//! For `file://` destinations the rule lives in `<root>/.locus-lifecycle.json` (other
//! rules in that file are kept too), and applying it also deletes local diagnostics files
//! whose modification time is older than `days`: the directory has no server to expire
//! objects, so `apply` is its lifecycle run.

use aws_sdk_s3::types::{
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
};
use serde::{Deserialize, Serialize};

/// The ID of our rule. Rules with other IDs are never altered.
pub const RULE_ID: &str = "locus-diagnostics-retention";

/// The retention the spec asks for when nothing else is configured.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Our retention rule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRule {
    /// Always [`RULE_ID`] for rules we wrote.
    pub id: String,
    /// The key prefix it covers: `[prefix/]diagnostics/`.
    pub prefix: String,
    /// Objects expire this many days after creation.
    pub days: u32,
    /// Whether the rule is enabled.
    pub enabled: bool,
}

impl RetentionRule {
    /// The rule for `prefix` (e.g. `diagnostics/`) and `days`, enabled.
    pub fn new(prefix: impl Into<String>, days: u32) -> RetentionRule {
        RetentionRule {
            id: RULE_ID.to_owned(),
            prefix: prefix.into(),
            days,
            enabled: true,
        }
    }
}

impl std::fmt::Display for RetentionRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule `{}`: objects under `{}` expire after {} day{} ({})",
            self.id,
            self.prefix,
            self.days,
            if self.days == 1 { "" } else { "s" },
            if self.enabled { "enabled" } else { "DISABLED" }
        )
    }
}

/// What `lifecycle_apply` did to our rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleChange {
    /// There was no rule of ours; it was added.
    Created,
    /// Our rule was there with other settings; it was replaced in place.
    Updated,
    /// Our rule was already exactly right; nothing was written.
    Unchanged,
}

/// The result of `lifecycle_apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleOutcome {
    /// Created, updated or unchanged.
    pub change: LifecycleChange,
    /// Our rule as read back after writing.
    pub rule: RetentionRule,
    /// Our rule before, if there was one.
    pub previous: Option<RetentionRule>,
    /// How many other rules the configuration has (kept as they were).
    pub other_rules: usize,
    /// `file://` only: local diagnostics files deleted because they were older than the
    /// rule allows (always 0 for S3, where the bucket expires objects itself).
    pub expired_files: usize,
}

impl std::fmt::Display for LifecycleOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.change, &self.previous) {
            (LifecycleChange::Created, _) => write!(f, "created {}", self.rule)?,
            (LifecycleChange::Updated, Some(p)) if p.days != self.rule.days => {
                write!(f, "updated {} (was {} days)", self.rule, p.days)?
            }
            (LifecycleChange::Updated, _) => write!(f, "updated {}", self.rule)?,
            (LifecycleChange::Unchanged, _) => write!(f, "unchanged {}", self.rule)?,
        }
        write!(
            f,
            "; {} other rule{} kept",
            self.other_rules,
            if self.other_rules == 1 { "" } else { "s" }
        )?;
        if self.expired_files > 0 {
            write!(f, "; {} expired local file(s) deleted", self.expired_files)?;
        }
        Ok(())
    }
}

/// Our rule as the SDK's type.
pub(crate) fn to_sdk_rule(rule: &RetentionRule) -> Result<LifecycleRule, String> {
    let days = i32::try_from(rule.days).map_err(|_| format!("{} days is too many", rule.days))?;
    LifecycleRule::builder()
        .id(&rule.id)
        .filter(LifecycleRuleFilter::builder().prefix(&rule.prefix).build())
        .status(if rule.enabled {
            ExpirationStatus::Enabled
        } else {
            ExpirationStatus::Disabled
        })
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .map_err(|e| e.to_string())
}

/// Reads an SDK rule as ours (any rule works; callers match the ID first).
pub(crate) fn from_sdk_rule(r: &LifecycleRule) -> RetentionRule {
    #[allow(deprecated)] // the rule-level Prefix is legacy but still seen in the wild
    let prefix = r
        .filter()
        .and_then(|f| f.prefix())
        .or(r.prefix())
        .unwrap_or("")
        .to_owned();
    RetentionRule {
        id: r.id().unwrap_or("").to_owned(),
        prefix,
        days: r
            .expiration()
            .and_then(|e| e.days())
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(0),
        enabled: *r.status() == ExpirationStatus::Enabled,
    }
}

/// True if `r` is exactly `want` with nothing else attached.
fn is_exactly(r: &LifecycleRule, want: &RetentionRule) -> bool {
    from_sdk_rule(r) == *want
        && r.transitions().is_empty()
        && r.noncurrent_version_transitions().is_empty()
        && r.noncurrent_version_expiration().is_none()
        && r.abort_incomplete_multipart_upload().is_none()
        && r.expiration()
            .is_some_and(|e| e.date().is_none() && e.expired_object_delete_marker().is_none())
        && r.filter().is_some_and(|f| {
            f.tag().is_none()
                && f.and().is_none()
                && f.object_size_greater_than().is_none()
                && f.object_size_less_than().is_none()
        })
}

/// The configuration to write: `existing` with our rule replaced in place (or appended),
/// every other rule untouched and in order. Also says what changed and what was there.
pub(crate) fn upsert(
    existing: &[LifecycleRule],
    want: &RetentionRule,
) -> Result<(Vec<LifecycleRule>, LifecycleChange, Option<RetentionRule>), String> {
    let ours = existing.iter().position(|r| r.id() == Some(RULE_ID));
    let previous = ours.map(|i| from_sdk_rule(&existing[i]));
    let duplicates = existing.iter().filter(|r| r.id() == Some(RULE_ID)).count() > 1;
    if let Some(i) = ours {
        if !duplicates && is_exactly(&existing[i], want) {
            return Ok((existing.to_vec(), LifecycleChange::Unchanged, previous));
        }
    }
    let new_rule = to_sdk_rule(want)?;
    let mut rules = Vec::with_capacity(existing.len() + 1);
    let mut placed = false;
    for r in existing {
        if r.id() == Some(RULE_ID) {
            if !placed {
                rules.push(new_rule.clone());
                placed = true;
            }
        } else {
            rules.push(r.clone());
        }
    }
    if !placed {
        rules.push(new_rule);
    }
    let change = if ours.is_some() {
        LifecycleChange::Updated
    } else {
        LifecycleChange::Created
    };
    Ok((rules, change, previous))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{Transition, TransitionStorageClass};

    fn tracks() -> LifecycleRule {
        LifecycleRule::builder()
            .id("tracks-archive")
            .filter(LifecycleRuleFilter::builder().prefix("tracks/").build())
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(365).build())
            .transitions(
                Transition::builder()
                    .days(90)
                    .storage_class(TransitionStorageClass::Glacier)
                    .build(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn creates_then_updates_in_place_then_is_unchanged() {
        let want30 = RetentionRule::new("diagnostics/", 30);
        let (rules, change, prev) = upsert(&[tracks()], &want30).unwrap();
        assert_eq!((change, prev), (LifecycleChange::Created, None));
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0], tracks());
        assert_eq!(from_sdk_rule(&rules[1]), want30);

        // Ours first, then tracks: an update keeps the order.
        let existing = vec![rules[1].clone(), tracks()];
        let want7 = RetentionRule::new("diagnostics/", 7);
        let (rules, change, prev) = upsert(&existing, &want7).unwrap();
        assert_eq!(change, LifecycleChange::Updated);
        assert_eq!(prev, Some(want30));
        assert_eq!(from_sdk_rule(&rules[0]), want7);
        assert_eq!(rules[1], tracks());

        let (same, change, _) = upsert(&rules, &want7).unwrap();
        assert_eq!(change, LifecycleChange::Unchanged);
        assert_eq!(same, rules);
    }

    #[test]
    fn a_rule_of_ours_with_extras_or_duplicates_is_normalised() {
        let mut extra = to_sdk_rule(&RetentionRule::new("diagnostics/", 30)).unwrap();
        extra.transitions = Some(vec![Transition::builder().days(1).build()]);
        let want = RetentionRule::new("diagnostics/", 30);
        let (rules, change, _) = upsert(&[extra.clone(), tracks(), extra], &want).unwrap();
        assert_eq!(change, LifecycleChange::Updated);
        assert_eq!(rules.len(), 2);
        assert!(rules[0].transitions().is_empty());
        assert_eq!(rules[1], tracks());
    }

    #[test]
    fn outcome_reads_well() {
        let o = LifecycleOutcome {
            change: LifecycleChange::Updated,
            rule: RetentionRule::new("diagnostics/", 7),
            previous: Some(RetentionRule::new("diagnostics/", 30)),
            other_rules: 1,
            expired_files: 0,
        };
        assert_eq!(
            o.to_string(),
            "updated rule `locus-diagnostics-retention`: objects under `diagnostics/` expire after 7 days (enabled) (was 30 days); 1 other rule kept"
        );
    }
}
