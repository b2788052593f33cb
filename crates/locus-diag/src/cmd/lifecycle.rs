//! `locus-diag lifecycle show|apply DEST [--days N]`: shows or applies the diagnostics
//! retention rule (ID `locus-diagnostics-retention`, prefix `[prefix/]diagnostics/`,
//! default 30 days) of a destination. `apply` keeps every other lifecycle rule of the
//! bucket exactly as it was and verifies the result by reading it back. On a `file://`
//! destination the rule is stored in the directory and `apply` also deletes local
//! diagnostics files older than the rule allows.

use super::ls::{open, parse_dest, runtime};
use crate::term::{json_visible, visible};
use anyhow::Context;
use locus_telemetry::inspect::bucket::{DEFAULT_RETENTION_DAYS, RULE_ID};

/// Arguments of `locus-diag lifecycle`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Print the retention rule, if there is one.
    Show {
        /// Destination: `s3://bucket[/prefix]` or `file:///dir`.
        dest: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create or update the retention rule (other rules are kept).
    Apply {
        /// Destination: `s3://bucket[/prefix]` or `file:///dir`.
        dest: String,
        /// Days after which diagnostics files expire.
        #[arg(long, default_value_t = DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `locus-diag lifecycle`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = runtime()?;
    match args.action {
        Action::Show { dest, json } => {
            let dest = parse_dest(&dest)?;
            let rule = rt.block_on(async {
                open(&dest)
                    .await?
                    .lifecycle_show()
                    .await
                    .with_context(|| format!("cannot read the lifecycle of {dest}"))
            })?;
            match (rule, json) {
                // No rule prints `"rule": null`.
                (rule, true) => println!(
                    "{}",
                    json_visible(
                        &serde_json::json!({"destination": dest.to_string(), "rule": rule})
                            .to_string()
                    )
                ),
                (Some(r), false) => println!("{}", visible(&format!("{dest}: {r}"))),
                (None, false) => println!(
                    "{dest}: no retention rule (`{RULE_ID}` is not set); add it with `locus-diag lifecycle apply {dest}`"
                ),
            }
        }
        Action::Apply { dest, days, json } => {
            let dest = parse_dest(&dest)?;
            let outcome = rt.block_on(async {
                open(&dest)
                    .await?
                    .lifecycle_apply(days)
                    .await
                    .with_context(|| format!("cannot apply the retention rule to {dest}"))
            })?;
            if json {
                let v = serde_json::json!({
                    "destination": dest.to_string(),
                    "change": format!("{:?}", outcome.change).to_lowercase(),
                    "rule": outcome.rule,
                    "previous": outcome.previous,
                    "other_rules": outcome.other_rules,
                    "expired_files": outcome.expired_files,
                });
                println!("{}", json_visible(&v.to_string()));
            } else {
                // The bucket's own rules are named in it: shown, never obeyed.
                println!("{}", visible(&format!("{dest}: {outcome}")));
            }
        }
    }
    Ok(())
}
