//! `locus-diag demo`: a simulated Locus app. A tracking loop takes GPS fixes at 100 Hz
//! and logs them through `tracing` (coordinates, battery, sync errors — the lines a real
//! tracker writes), records metrics, optionally panics once in a worker thread, and
//! shuts telemetry down within its deadline. It prints what happened and exits 0
//! whatever telemetry did: that is the point of the exercise.

use locus_telemetry::{Backend, DestinationKind, Settings, Telemetry};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

/// Arguments of `locus-diag demo`.
#[derive(clap::Args)]
pub struct Args {
    /// The app's data dir (ring, session marker, device id, embedded bucket).
    #[arg(long, default_value = "./locus-demo")]
    pub data_dir: PathBuf,
    /// How long the tracking loop runs, in seconds (0 to 86400; 0 runs one iteration).
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub seconds: f64,
    /// Panic once in a worker thread half-way through.
    #[arg(long)]
    pub crash: bool,
    /// The worker's panic message (implies `--crash`): watch a message of your own
    /// travel to `locus-diag preview` and to a collector as its template.
    #[arg(long, value_name = "TEXT")]
    pub crash_message: Option<String>,
    /// Device id, 1-64 chars of [A-Za-z0-9_-] (default: generated once and kept in the
    /// data dir).
    #[arg(long, value_parser = parse_device_id)]
    pub device_id: Option<String>,
    /// App version to report (1-64 characters).
    #[arg(long, default_value = "1.2.0", value_parser = parse_app_version)]
    pub app_version: String,
    /// Settings file (TOML); flags given here override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Diagnostics destination, `s3://bucket[/prefix]` or `file:///dir`
    /// (default `file://<data-dir>/bucket`).
    #[arg(long)]
    pub bucket: Option<String>,
    /// Opt in to community telemetry for this run and send to this endpoint. A demo is
    /// a compressed day: the period's report is also sent when the run ends
    /// (`community_report_at_shutdown`), and shutdown may take up to 10 s for it.
    #[arg(long)]
    pub community: Option<String>,
    /// Disable uploads to the diagnostics destination (`enable_s3_diagnostics = false`).
    #[arg(long)]
    pub no_upload: bool,
    /// Encrypt diagnostics to this age public key (`age1…`; repeat for several):
    /// objects are stored as `….log.gz.age` (`diagnostics_recipients`). Read them with
    /// `locus-diag cat --identity key.txt`.
    #[arg(long = "recipient", value_name = "AGE1…")]
    pub recipients: Vec<String>,
    /// Fixes per second (1 to 100000).
    #[arg(
        long,
        default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(i64::from(*HZ.start())..=i64::from(*HZ.end())),
        allow_negative_numbers = true
    )]
    pub hz: u32,
    /// Seconds between uploads during the run (1 to 86400, the setting's range).
    #[arg(
        long,
        value_parser = clap::value_parser!(u64).range(Settings::UPLOAD_INTERVAL_SECS),
        allow_negative_numbers = true
    )]
    pub upload_interval: Option<u64>,
    /// Stall the tracking loop once, half-way through, for this many milliseconds
    /// (1 to 60000): the hang watchdog records it as one hang (`locus-diag buffer`).
    #[arg(
        long,
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(STALL_MS),
        allow_negative_numbers = true
    )]
    pub stall_ms: Option<u64>,
}

/// Valid `--stall-ms`: a millisecond to a minute.
pub const STALL_MS: RangeInclusive<u64> = 1..=60_000;
/// The tracking loop's `max_gap`: half a second, or three iterations at a low `--hz`.
fn tracking_max_gap(hz: u32) -> Duration {
    (Duration::from_secs(3) / hz.max(1))
        .max(Duration::from_millis(500))
        .min(locus_telemetry::MAX_MAX_GAP)
}

/// Longest `--seconds`: a day.
pub const MAX_SECONDS: f64 = 86_400.0;
/// Valid `--hz`.
pub const HZ: RangeInclusive<u32> = 1..=100_000;
/// Loop-time samples kept for the percentiles (16 MiB of them at most): a longer run
/// keeps a uniform random sample of its iterations; the maximum and the count are exact.
const MAX_SAMPLES: usize = 1 << 20;

/// `--recipient`: the library's own check of `diagnostics_recipients`, refused before
/// the demo starts rather than left to telemetry, which would turn uploads off. Checked
/// here, not as a clap value parser: clap would echo the value, and a private key pasted
/// by mistake must never be printed.
fn check_recipients(recipients: &[String]) -> anyhow::Result<()> {
    Settings {
        diagnostics_recipients: recipients.to_vec(),
        ..Settings::default()
    }
    .check_diagnostics_recipients()
    .map_err(|e| anyhow::anyhow!("--recipient: {e}"))
}

/// `--device-id`: the library's own rule for the setting, refused here rather than
/// left to telemetry, which would fall back to a generated id.
fn parse_device_id(text: &str) -> Result<String, String> {
    Settings::check_device_id(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.to_string())
}

/// `--app-version`: the library's own rule for the setting.
fn parse_app_version(text: &str) -> Result<String, String> {
    Settings::check_app_version(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.to_string())
}

/// `--seconds`: a finite number from 0 to [`MAX_SECONDS`].
fn parse_seconds(text: &str) -> Result<f64, String> {
    let range = format!("must be a number of seconds from 0 to {MAX_SECONDS} (a day)");
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("not a number: {range}"))?;
    if seconds.is_finite() && (0.0..=MAX_SECONDS).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(range)
    }
}

/// Least shutdown deadline of a demo run with `--community`: room for the report sent
/// when the run ends.
const COMMUNITY_SHUTDOWN_MS: u64 = 10_000;

/// The metrics the demo app declares safe to summarise for the community.
pub const COMMUNITY_METRICS: &[&str] = &["fix_latency_ms", "battery_pct"];

/// Tracking-loop iteration times.
#[derive(Debug, Clone, Copy)]
pub struct LoopStats {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
    /// Iterations run.
    pub iterations: usize,
}

impl LoopStats {
    /// From a (possibly sampled) set of iteration times, the exact maximum and the
    /// number of iterations run.
    fn from(mut samples: Vec<Duration>, max: Duration, iterations: usize) -> LoopStats {
        samples.sort_unstable();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        LoopStats {
            p50: at(0.5),
            p99: at(0.99),
            max,
            iterations,
        }
    }
}

fn settings_from(args: &Args) -> (Settings, Option<String>) {
    let (mut s, problem) = match &args.config {
        Some(path) => match Settings::from_toml_file(path) {
            Ok(s) => (s, None),
            Err(e) => (Settings::default(), Some(e.to_string())),
        },
        None => (Settings::default(), None),
    };
    s.data_dir = args.data_dir.clone();
    s.app_version = args.app_version.clone();
    if args.device_id.is_some() {
        s.device_id = args.device_id.clone();
    }
    if args.bucket.is_some() {
        s.destination = args.bucket.clone();
    }
    if let Some(url) = &args.community {
        s.community_url = Some(url.clone());
        // A demo is a compressed day: its period ends with the run, and the last round
        // is given time to deliver that report (the default 500 ms would cut a first
        // HTTPS connection off; the time taken is printed as `shutdown`).
        s.community_report_at_shutdown = true;
        s.shutdown_deadline_ms = s.shutdown_deadline_ms.max(COMMUNITY_SHUTDOWN_MS);
    }
    if args.no_upload {
        s.enable_s3_diagnostics = false;
    }
    if !args.recipients.is_empty() {
        s.diagnostics_recipients = args.recipients.clone();
    }
    if let Some(i) = args.upload_interval {
        s.upload_interval_secs = i;
    }
    if s.community_metrics.is_empty() {
        s.community_metrics = COMMUNITY_METRICS.iter().map(|m| m.to_string()).collect();
    }
    (s, problem)
}

/// A tiny deterministic PRNG: the demo needs plausible numbers, not cryptography.
struct Walk(u64);
impl Walk {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs the demo and returns the loop statistics.
pub fn run_demo(args: &Args, out: &mut impl std::io::Write) -> LoopStats {
    let (settings, config_problem) = settings_from(args);
    if let Some(p) = &config_problem {
        let _ = writeln!(out, "warning: {p}; running with default settings");
    }
    let bucket_name = settings.destination_url();
    let telemetry = Telemetry::start(settings);
    if args.community.is_some() {
        // `--community URL` is the user's opt-in for this run.
        if let Err(e) = telemetry.set_community_telemetry(true) {
            let _ = writeln!(out, "warning: cannot opt in to community telemetry: {e}");
        }
    }
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    let _guard = tracing::subscriber::set_default(subscriber);
    let status = telemetry.status();
    let first_seq = status.recorder.next_seq;

    tracing::info!(device_id = %status.device_id, app_version = %args.app_version, "locus started");
    tracing::info!("account alice.tracker@example.com signed in, syncing to {bucket_name}");

    // The flags' parsers keep `--seconds` and `--hz` in range; the clamps keep a caller
    // of `run_demo` that built `Args` by hand from overflowing anything.
    let seconds = if args.seconds.is_finite() {
        args.seconds.clamp(0.0, MAX_SECONDS)
    } else {
        0.0
    };
    let crash_message = args.crash_message.clone();
    let worker = (args.crash || crash_message.is_some()).then(|| {
        let delay = Duration::from_secs_f64(seconds / 2.0);
        std::thread::Builder::new()
            .name("sync-worker".into())
            .spawn(move || {
                std::thread::sleep(delay);
                if let Some(message) = crash_message {
                    // `--crash-message`: the user's own text, as the panic's message.
                    std::panic::panic_any(message);
                }
                let queue: Vec<u32> = Vec::new();
                // The bug the demo ships with: an empty upload queue is indexed. (A
                // deliberate panic: what `--crash` is for.)
                #[allow(clippy::expect_used)]
                let first = queue
                    .first()
                    .copied()
                    .expect("sync queue unexpectedly empty");
                first
            })
    });

    let hz = args.hz.clamp(*HZ.start(), *HZ.end());
    let iterations = (seconds * f64::from(hz)).max(1.0) as usize;
    // The loop that matters is watched: a stall there is a hang (issue 22).
    let watch = match telemetry.watch("tracking", tracking_max_gap(hz)) {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = writeln!(out, "warning: the tracking loop is not watched: {e}");
            None
        }
    };
    let stall_at = args
        .stall_ms
        .map(|ms| (iterations / 2, Duration::from_millis(ms)));
    let mut rng = Walk(0x9E37_79B9_7F4A_7C15);
    let mut pick = Walk(0x2545_F491_4F6C_DD1D);
    let mut max = Duration::ZERO;
    let (mut lat, mut lon) = (52.520008_f64, 13.404954_f64);
    let mut battery = 96.0_f64;
    let mut samples = Vec::with_capacity(iterations.min(MAX_SAMPLES));
    let start = Instant::now();
    for i in 0..iterations {
        if let Some(w) = &watch {
            w.beat();
        }
        let t0 = Instant::now();
        if let Some((at, stall)) = stall_at {
            if i == at {
                // `--stall-ms`: the deliberate stall (a blocking call gone slow).
                std::thread::sleep(stall);
            }
        }
        lat += (rng.next() - 0.5) * 1e-4;
        lon += (rng.next() - 0.5) * 1e-4;
        let accuracy = 3.0 + rng.next() * 9.0;
        let speed = rng.next() * 14.0;
        tracing::info!(
            lat,
            lon,
            accuracy_m = accuracy,
            speed_mps = speed,
            "gps fix"
        );
        telemetry.histogram("fix_latency_ms", 4.0 + rng.next() * 20.0);
        telemetry.counter("fixes", 1);
        if i % 100 == 0 {
            battery -= 0.05;
            telemetry.gauge("battery_pct", battery);
            tracing::debug!(battery_pct = battery, charging = false, "battery");
        }
        if i % 250 == 125 {
            tracing::warn!(
                attempt = 1,
                status = 503,
                "sync failed: PUT tracks/2026/11/27/segment-{i}.gpx: 503 Slow Down, retrying in 30s"
            );
        }
        if i % 1000 == 999 {
            tracing::info!(
                "track segment closed near {lat:.6},{lon:.6}, {} fixes",
                i + 1
            );
        }
        let took = t0.elapsed();
        max = max.max(took);
        if samples.len() < MAX_SAMPLES {
            samples.push(took);
        } else {
            // Reservoir sampling: every iteration is kept with the same probability.
            let j = (pick.next() * (i + 1) as f64) as usize;
            if let Some(slot) = samples.get_mut(j) {
                *slot = took;
            }
        }
        let next = start + Duration::from_secs_f64((i + 1) as f64 / f64::from(hz));
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // The loop's last beat: a stall in its last iteration ends too.
    if let Some(w) = &watch {
        w.beat();
    }
    let worker_outcome = worker.map(|w| match w {
        Ok(handle) => handle.join().is_err(),
        Err(_) => false,
    });
    tracing::info!("locus stopping");
    let stats = LoopStats::from(samples, max, iterations);

    let report = telemetry.shutdown(telemetry.settings().shutdown_deadline());
    let status = telemetry.status();
    let next_seq = status.recorder.next_seq;
    let written = next_seq - first_seq;
    // This session's records that no reader saw: not in the ring now, and not read by
    // the uploader before the ring overwrote them (it read everything up to its cursor).
    let seen_through = status
        .dispatch
        .iter()
        .flat_map(|d| &d.destinations)
        .filter(|d| d.kind == DestinationKind::S3)
        .map(|d| d.shipped_through)
        .max()
        .unwrap_or(0);
    let unread = first_seq.max(seen_through + 1)..next_seq;
    // The ring's gap-free window after shutdown (reads still work once it is closed).
    let kept = telemetry
        .recent(usize::MAX)
        .iter()
        .filter(|r| unread.contains(&r.seq))
        .count() as u64;
    let dropped = (unread.end.saturating_sub(unread.start)).saturating_sub(kept);
    let _ = writeln!(
        out,
        "locus-diag demo: {} fixes at {hz} Hz in {:.1} s",
        stats.iterations,
        start.elapsed().as_secs_f64()
    );
    let previous = telemetry.previous_session();
    let _ = writeln!(
        out,
        "  previous session:  {}{}",
        previous.outcome.as_str(),
        previous
            .reason
            .map(|why| format!(" ({why})"))
            .unwrap_or_default()
    );
    if let Some(crashed) = worker_outcome {
        let _ = writeln!(
            out,
            "  worker crash:      {}",
            if crashed {
                "panicked once (tombstone recorded)"
            } else {
                "did not happen"
            }
        );
    }
    let hangs: Vec<String> = telemetry
        .recent(usize::MAX)
        .iter()
        .filter(|r| r.seq >= first_seq)
        .filter_map(|r| match &r.body {
            locus_telemetry::record::Body::Hang(h)
                if h.phase == locus_telemetry::record::HangPhase::End =>
            {
                Some(format!("{} ms", h.measured_ms))
            }
            _ => None,
        })
        .collect();
    let _ = writeln!(
        out,
        "  hangs:             {}",
        if hangs.is_empty() {
            "none (the tracking loop is watched)".to_owned()
        } else {
            format!(
                "{} (tracking loop stalled {})",
                hangs.len(),
                hangs.join(", ")
            )
        }
    );
    let _ = writeln!(out, "  records written:   {written}");
    let _ = writeln!(
        out,
        "  records dropped:   {dropped} (overwritten in the ring before they could be read)"
    );
    let _ = writeln!(
        out,
        "  tracking loop:     p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        stats.p50.as_secs_f64() * 1e6,
        stats.p99.as_secs_f64() * 1e6,
        stats.max.as_secs_f64() * 1e6
    );
    if let Some(d) = &status.dispatch {
        for line in d.summary_lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    let _ = writeln!(
        out,
        "  shutdown:          {:.0} ms{}",
        report.took.as_secs_f64() * 1e3,
        match (report.flushed, report.dispatcher_finished) {
            (true, true) => "",
            (false, true) => " (deadline reached: what was still in flight was dropped)",
            _ => " (dispatcher left behind at the deadline)",
        }
    );
    let _ = writeln!(out, "  device id:         {}", status.device_id);
    match &status.recorder.backend {
        Backend::File(p) => {
            let _ = writeln!(out, "  flight recorder:   {}", p.display());
        }
        // The demo never chooses a heap ring: it is there because a file could not be.
        Backend::Memory(why) => {
            let _ = writeln!(
                out,
                "  flight recorder:   in memory because {}",
                why.as_deref()
                    .unwrap_or("no ring file was opened (no reason given)")
            );
        }
    }
    let _ = writeln!(
        out,
        "  diagnostics:       {}",
        if status.s3_diagnostics {
            bucket_name.as_str()
        } else {
            "disabled"
        }
    );
    for p in &status.problems {
        let _ = writeln!(out, "  problem:           {p}");
    }
    let _ = writeln!(
        out,
        "  Debug screen:      locus-diag debug --data-dir {}",
        args.data_dir.display()
    );
    stats
}

/// Runs `locus-diag demo`. The report is written to stdout once, at the end, and a
/// failed write is tried once more: a stdout that fails once (EINTR, EAGAIN on a
/// non-blocking pipe, an injected EIO in `scripts/fault-sweep`) does not lose the
/// lines that say what the run did. The run itself exits 0 whatever stdout does.
pub fn run(args: Args) -> anyhow::Result<()> {
    check_recipients(&args.recipients)?;
    let mut report = Vec::new();
    run_demo(&args, &mut report);
    write_report(&mut std::io::stdout().lock(), &report)
}

/// Writes `report` to `out`, a second time from the start if the first try failed.
fn write_report(out: &mut impl std::io::Write, report: &[u8]) -> anyhow::Result<()> {
    let first = out.write_all(report).and_then(|()| out.flush());
    if first.is_ok() {
        return Ok(());
    }
    out.write_all(report).and_then(|()| out.flush())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write_report;
    use std::io::Write;

    /// Fails its first `fails` writes, then keeps what it is given.
    struct Flaky {
        fails: usize,
        kept: Vec<u8>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.fails > 0 {
                self.fails -= 1;
                return Err(std::io::Error::from_raw_os_error(libc::EIO));
            }
            self.kept.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_failed_write_does_not_lose_the_report() {
        let mut out = Flaky {
            fails: 1,
            kept: Vec::new(),
        };
        write_report(&mut out, b"locus-diag demo: 50 fixes\n").unwrap();
        assert_eq!(out.kept, b"locus-diag demo: 50 fixes\n");
        let mut out = Flaky {
            fails: 2,
            kept: Vec::new(),
        };
        assert!(
            write_report(&mut out, b"x\n").is_err(),
            "two failures: an error"
        );
    }
}
