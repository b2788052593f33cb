//! Retention (spec 3.1): one lifecycle rule with a fixed ID that expires diagnostics after
//! N days (30 by default), upserted without touching any other rule.
//!
//! S3 replaces a bucket's whole lifecycle configuration on every PUT, so
//! [`DiagnosticsStore::lifecycle_apply`](super::DiagnosticsStore::lifecycle_apply) reads
//! it (a 404 `NoSuchLifecycleConfiguration` is an empty one), replaces or appends our
//! rule — every other rule (the Tracks rules) is carried over byte for byte, as the
//! `<Rule>` element the server sent, in its place — writes it, and reads it back to verify. The PUT has no version
//! token, so the read-modify-write window is kept to three back-to-back calls.
//!
//! For `file://` destinations the rule lives in `<root>/.locus-lifecycle.json` (other
//! rules in that file are kept too), and applying it also deletes local diagnostics files
//! whose modification time is older than `days`: the directory has no server to expire
//! objects, so `apply` is its lifecycle run.

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

/// One `<Rule>…</Rule>` element of a bucket's lifecycle configuration, kept as the
/// server sent it (so rules that are not ours are written back exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRule(pub(crate) String);

impl RawRule {
    /// The rule's `<ID>`, unescaped.
    pub(crate) fn id(&self) -> Option<String> {
        element(&self.0, "ID").map(unescape)
    }
}

/// The text inside the first `<tag>…</tag>` of `xml` (no attributes expected: S3's
/// lifecycle and error elements have none).
pub(super) fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

/// XML's five entities back to their characters.
pub(super) fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `<Rule>` elements of a `<LifecycleConfiguration>` document, in order.
pub(crate) fn parse_rules(xml: &str) -> Result<Vec<RawRule>, String> {
    if !xml.contains("<LifecycleConfiguration") {
        return Err("not a LifecycleConfiguration document".into());
    }
    let mut rules = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Rule>") {
        let Some(len) = rest[start..].find("</Rule>") else {
            return Err("a <Rule> element is not closed".into());
        };
        let end = start + len + "</Rule>".len();
        rules.push(RawRule(rest[start..end].to_owned()));
        rest = &rest[end..];
    }
    Ok(rules)
}

/// The document to PUT: `rules` in order.
pub(crate) fn render_rules(rules: &[RawRule]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    for r in rules {
        xml.push_str(&r.0);
    }
    xml.push_str("</LifecycleConfiguration>");
    xml
}

/// Our rule as a `<Rule>` element.
pub(crate) fn to_raw_rule(rule: &RetentionRule) -> RawRule {
    RawRule(format!(
        "<Rule><ID>{}</ID><Filter><Prefix>{}</Prefix></Filter><Status>{}</Status>\
         <Expiration><Days>{}</Days></Expiration></Rule>",
        escape(&rule.id),
        escape(&rule.prefix),
        if rule.enabled { "Enabled" } else { "Disabled" },
        rule.days
    ))
}

/// Reads a rule as ours (any rule works; callers match the ID first).
pub(crate) fn from_raw_rule(r: &RawRule) -> RetentionRule {
    // The rule-level Prefix is legacy but still seen in the wild.
    let prefix = element(&r.0, "Filter")
        .and_then(|f| element(f, "Prefix"))
        .or_else(|| element(&r.0, "Prefix"))
        .map(unescape)
        .unwrap_or_default();
    RetentionRule {
        id: r.id().unwrap_or_default(),
        prefix,
        days: element(&r.0, "Expiration")
            .and_then(|e| element(e, "Days"))
            .and_then(|d| d.trim().parse().ok())
            .unwrap_or(0),
        enabled: element(&r.0, "Status").map(str::trim) == Some("Enabled"),
    }
}

/// True if `r` is exactly `want` with nothing else attached.
fn is_exactly(r: &RawRule, want: &RetentionRule) -> bool {
    const EXTRAS: [&str; 9] = [
        "<Transition",
        "<NoncurrentVersion",
        "<AbortIncompleteMultipartUpload",
        "<Date>",
        "<ExpiredObjectDeleteMarker",
        "<Tag>",
        "<And>",
        "<ObjectSize",
        "<Transitions",
    ];
    from_raw_rule(r) == *want
        && element(&r.0, "Filter").is_some()
        && !EXTRAS.iter().any(|x| r.0.contains(x))
}

/// The configuration to write: `existing` with our rule replaced in place (or appended),
/// every other rule untouched and in order. Also says what changed and what was there.
pub(crate) fn upsert(
    existing: &[RawRule],
    want: &RetentionRule,
) -> Result<(Vec<RawRule>, LifecycleChange, Option<RetentionRule>), String> {
    let is_ours = |r: &RawRule| r.id().as_deref() == Some(RULE_ID);
    let ours = existing.iter().position(is_ours);
    let previous = ours.map(|i| from_raw_rule(&existing[i]));
    let duplicates = existing.iter().filter(|r| is_ours(r)).count() > 1;
    if let Some(i) = ours {
        if !duplicates && is_exactly(&existing[i], want) {
            return Ok((existing.to_vec(), LifecycleChange::Unchanged, previous));
        }
    }
    if i32::try_from(want.days).is_err() {
        return Err(format!("{} days is too many", want.days));
    }
    let new_rule = to_raw_rule(want);
    let mut rules = Vec::with_capacity(existing.len() + 1);
    let mut placed = false;
    for r in existing {
        if is_ours(r) {
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

    fn tracks() -> RawRule {
        RawRule(
            "<Rule><ID>tracks-archive</ID><Filter><Prefix>tracks/</Prefix></Filter>\
             <Status>Enabled</Status><Transition><Days>90</Days>\
             <StorageClass>GLACIER</StorageClass></Transition>\
             <Expiration><Days>365</Days></Expiration></Rule>"
                .into(),
        )
    }

    #[test]
    fn creates_then_updates_in_place_then_is_unchanged() {
        let want30 = RetentionRule::new("diagnostics/", 30);
        let (rules, change, prev) = upsert(&[tracks()], &want30).unwrap();
        assert_eq!((change, prev), (LifecycleChange::Created, None));
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0], tracks());
        assert_eq!(from_raw_rule(&rules[1]), want30);

        // Ours first, then tracks: an update keeps the order.
        let existing = vec![rules[1].clone(), tracks()];
        let want7 = RetentionRule::new("diagnostics/", 7);
        let (rules, change, prev) = upsert(&existing, &want7).unwrap();
        assert_eq!(change, LifecycleChange::Updated);
        assert_eq!(prev, Some(want30));
        assert_eq!(from_raw_rule(&rules[0]), want7);
        assert_eq!(rules[1], tracks());

        let (same, change, _) = upsert(&rules, &want7).unwrap();
        assert_eq!(change, LifecycleChange::Unchanged);
        assert_eq!(same, rules);
    }

    #[test]
    fn a_rule_of_ours_with_extras_or_duplicates_is_normalised() {
        let plain = to_raw_rule(&RetentionRule::new("diagnostics/", 30)).0;
        let extra = RawRule(plain.replace(
            "</Rule>",
            "<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>",
        ));
        let want = RetentionRule::new("diagnostics/", 30);
        let (rules, change, _) = upsert(&[extra.clone(), tracks(), extra], &want).unwrap();
        assert_eq!(change, LifecycleChange::Updated);
        assert_eq!(rules.len(), 2);
        assert!(!rules[0].0.contains("<Transition>"));
        assert_eq!(rules[1], tracks());
    }

    #[test]
    fn documents_round_trip_and_escape() {
        let ours = to_raw_rule(&RetentionRule::new("a&b/diagnostics/", 3));
        let doc = render_rules(&[tracks(), ours.clone()]);
        let back = parse_rules(&doc).unwrap();
        assert_eq!(back, vec![tracks(), ours]);
        assert_eq!(from_raw_rule(&back[1]).prefix, "a&b/diagnostics/");
        assert!(parse_rules("<Error/>").is_err());
        assert!(parse_rules("<LifecycleConfiguration><Rule><ID>x</ID>").is_err());
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
