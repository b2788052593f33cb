//! The library's own story, for `scripts/fault-sweep`: start → a tracking loop that logs
//! (directly and through `tracing`) and records metrics → flush → shutdown, on the public
//! API alone, printing what it saw so the sweep can judge a run made under an injected
//! syscall failure, a clock extreme or a resource limit. The next start (the same story,
//! run again without faults) prints the verdict it found for that run.
//!
//! ```text
//! cargo run --release -p locus-telemetry --example fault_story -- --data-dir DIR
//!     [--iterations N] [--community URL] [--sleep-us N]
//! ```
//!
//! Every line starts with `fault_story:`; the sweep reads `previous session:`,
//! `tracking loop: N of M iterations`, `recorder:` and `problem [Area]:`. Whatever
//! telemetry does, the story finishes its loop and exits 0: that is what is under test.
//! Exit 2 is only for bad arguments.

use locus_telemetry::{Backend, FieldValue, Level, Settings, Telemetry};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

/// What the command line asked for.
struct Args {
    data_dir: PathBuf,
    iterations: u64,
    community: Option<String>,
    sleep: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut data_dir = None;
    let mut iterations = 200_u64;
    let mut community = None;
    let mut sleep = Duration::from_micros(1000);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
            "--iterations" => {
                iterations = value()?.parse().map_err(|e| format!("--iterations: {e}"))?
            }
            "--community" => community = Some(value()?),
            "--sleep-us" => {
                sleep =
                    Duration::from_micros(value()?.parse().map_err(|e| format!("--sleep-us: {e}"))?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        data_dir: data_dir.ok_or("--data-dir DIR is required")?,
        iterations,
        community,
        sleep,
    })
}

/// A line to stdout. A stdout that fails (an injected write error) must not stop the
/// story: the loop's line is what the sweep checks, and it is retried once.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    for _ in 0..2 {
        if writeln!(out, "fault_story: {line}").is_ok() && out.flush().is_ok() {
            return;
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fault_story: {e}");
            return ExitCode::from(2);
        }
    };
    let mut settings = Settings {
        data_dir: args.data_dir.clone(),
        app_version: "9.9.9-sweep".into(),
        // Several rounds within the short run.
        upload_interval_secs: 1,
        ..Settings::default()
    };
    if let Some(url) = &args.community {
        settings.community_url = Some(url.clone());
        settings.community_report_at_shutdown = true;
        settings.community_metrics = vec!["fix_latency_ms".into()];
    }
    let telemetry = Telemetry::start(settings);
    if args.community.is_some() {
        if let Err(e) = telemetry.set_community_telemetry(true) {
            say(&format!("cannot opt in: {e}"));
        }
    }
    let previous = telemetry.previous_session();
    say(&format!("previous session: {}", previous.outcome.as_str()));

    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    let guard = tracing::subscriber::set_default(subscriber);
    let started = Instant::now();
    let mut done = 0_u64;
    let mut flushed_mid = None;
    for i in 0..args.iterations {
        let lat = 52.52 + i as f64 * 1e-5;
        tracing::info!(lat, lon = 13.40, accuracy_m = 4.5, "gps fix");
        telemetry.log(
            Level::Info,
            "tracking",
            "fix kept",
            &[("i", FieldValue::U64(i))],
        );
        telemetry.counter("fixes", 1);
        telemetry.histogram("fix_latency_ms", 4.0 + (i % 20) as f64);
        if i % 50 == 0 {
            telemetry.gauge("battery_pct", 90.0 - i as f64 * 0.01);
            tracing::warn!(attempt = 1, "sync failed: 503, retrying");
        }
        if i == args.iterations / 2 {
            flushed_mid = Some(telemetry.flush(Duration::from_secs(2)));
        }
        done += 1;
        std::thread::sleep(args.sleep);
    }
    let loop_took = started.elapsed();
    drop(guard);
    let flushed_end = telemetry.flush(Duration::from_secs(2));
    let report = telemetry.shutdown(telemetry.settings().shutdown_deadline());
    let status = telemetry.status();

    say(&format!(
        "tracking loop: {done} of {} iterations in {:.0} ms",
        args.iterations,
        loop_took.as_secs_f64() * 1e3
    ));
    say(&format!(
        "flush: mid {}, end {flushed_end}",
        flushed_mid.map_or("-".to_owned(), |f| f.to_string())
    ));
    say(&format!(
        "shutdown: {:.0} ms, flushed {}, dispatcher finished {}",
        report.took.as_secs_f64() * 1e3,
        report.flushed,
        report.dispatcher_finished
    ));
    match &status.recorder.backend {
        Backend::File(p) => say(&format!("recorder: file {}", p.display())),
        Backend::Memory(why) => say(&format!(
            "recorder: memory ({})",
            why.as_deref().unwrap_or("by choice")
        )),
    }
    for p in &status.problems {
        say(&format!("problem [{:?}]: {p}", p.area));
    }
    if let Some(d) = &status.dispatch {
        for line in d.summary_lines() {
            say(&line);
        }
    }
    say("done");
    ExitCode::SUCCESS
}
