//! `locus-diag verbosity`: shows, raises or resets the log level the app running on a
//! data dir records. It writes the data dir's `verbosity.json` (the app's keeper looks
//! at it once a second); a raise lasts `--for` (default 30 minutes, at most 24 hours),
//! then the app returns to `info` by itself.

use anyhow::Context;
use locus_telemetry::inspect::DataDir;
use locus_telemetry::Level;
use std::path::PathBuf;
use std::time::Duration;

/// A level the user may choose.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Choice {
    /// The default: info, warnings, errors (debug and trace dropped).
    Info,
    /// Debug lines too.
    Debug,
    /// Everything, trace lines included.
    Trace,
}

/// Arguments of `locus-diag verbosity`.
#[derive(clap::Args)]
pub struct Args {
    /// The level to record from (none: show the current request).
    level: Option<Choice>,
    /// How long a raise lasts: `90s`, `30m`, `2h` (at most 24h).
    #[arg(long = "for", value_parser = parse_duration, default_value = "30m")]
    duration: Duration,
    /// The app's data dir.
    #[arg(long, default_value = "./locus-demo")]
    data_dir: PathBuf,
}

/// A duration as people write it: a number with `s`, `m`, `h` or `d` (`30m`, `1h30m`
/// is not taken; a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 30m, 2h or 1d"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Runs `locus-diag verbosity`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let data = DataDir::new(&args.data_dir);
    let Some(choice) = args.level else {
        let request = data.verbosity_request().with_context(|| {
            format!(
                "cannot read the verbosity request in {}",
                args.data_dir.display()
            )
        })?;
        match request {
            None => println!(
                "verbosity: info (default; no request in {})",
                args.data_dir.display()
            ),
            Some(r) => {
                let now = chrono::Utc::now();
                match r.until {
                    Some(u) if r.level < Level::Info && u > now => println!(
                        "verbosity: {} until {} (requested by {})",
                        r.level.as_str(),
                        u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        if r.set_by.is_empty() { "?" } else { &r.set_by }
                    ),
                    Some(u) if r.level < Level::Info => println!(
                        "verbosity: info (the request for {} ended at {})",
                        r.level.as_str(),
                        u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                    _ => println!("verbosity: {}", r.level.as_str()),
                }
            }
        }
        return Ok(());
    };
    let level = match choice {
        Choice::Info => Level::Info,
        Choice::Debug => Level::Debug,
        Choice::Trace => Level::Trace,
    };
    if !args.data_dir.is_dir() {
        anyhow::bail!(
            "{} is not a data dir (no such directory)",
            args.data_dir.display()
        );
    }
    let r = data
        .request_verbosity(level, args.duration, "locus-diag")
        .context("cannot set the verbosity")?;
    match r.until {
        Some(u) => println!(
            "verbosity: {} until {} (the app running on {} applies it within a second; then info again)",
            r.level.as_str(),
            u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            args.data_dir.display()
        ),
        None => println!(
            "verbosity: info (the default; the app running on {} applies it within a second)",
            args.data_dir.display()
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
