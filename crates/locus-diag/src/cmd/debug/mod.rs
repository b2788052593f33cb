//! `locus-diag debug`: the interactive Debug screen. A live list of the flight
//! recorder's records (newest at the bottom, followed unless the user scrolls up) with
//! filters, a search and each record's detail, above it a status panel (recorder, last
//! session, destinations, community choice). Keys: `?` on screen, [`view::KEYS`].
//!
//! Read-only like `buffer` and `status`: the ring is re-read every `--interval-ms` with
//! the library's bounded reader (never mapped, never locked) and the state files through
//! [`DataDir`], so the app writing them is never disturbed, a ring rewritten or replaced
//! under the screen is simply read again, and a missing or damaged data dir is a message
//! on screen. The terminal is restored on exit and on a panic.

pub mod facts;
pub mod model;
pub mod view;

use anyhow::Context;
use crossterm::event::{self, Event, KeyEventKind};
use facts::Facts;
use locus_telemetry::inspect::DataDir;
use model::App;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `locus-diag debug`.
#[derive(clap::Args)]
pub struct Args {
    /// The app's data dir (holds `recorder.ring` and the state files).
    #[arg(long, default_value = "./locus-demo")]
    data_dir: PathBuf,
    /// How often the data dir is read again, in milliseconds (50 to 60000).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    interval_ms: u64,
}

/// Leaves raw mode and the alternate screen when the screen ends, however it ends
/// (`ratatui::try_init` also restores the terminal from its panic hook).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Reads the data dir again: the ring (kept as the last good read if this one fails)
/// and the status panel's facts.
fn refresh(data: &DataDir, app: &mut App) {
    let snapshot = data.read_ring();
    app.facts = Facts::read(
        data,
        snapshot.as_ref().map_err(ToString::to_string),
        chrono::Utc::now(),
    );
    if let Ok(s) = snapshot {
        app.set_records(s.records);
    }
}

/// Asks the app for `level` (the `v` key) through `verbosity.json`: what the footer says.
fn request_verbosity(data: &DataDir, level: locus_telemetry::Level) -> String {
    match data.request_verbosity(
        level,
        locus_telemetry::DEFAULT_VERBOSITY_RAISE,
        "locus-diag debug",
    ) {
        Ok(r) => match r.until {
            Some(u) => format!(
                "verbosity {} until {} UTC (v: next level)",
                r.level.as_str(),
                u.format("%H:%M:%S")
            ),
            None => "verbosity info (the default)".into(),
        },
        Err(e) => format!("cannot set the verbosity: {e}"),
    }
}

/// Runs `locus-diag debug` until `q`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the Debug screen needs a terminal; for text use `locus-diag buffer` or `locus-diag status`"
        );
    }
    let data = DataDir::new(&args.data_dir);
    let dir_text = args.data_dir.display().to_string();
    let interval = Duration::from_millis(args.interval_ms);
    let mut app = App::new(Facts::default());
    refresh(&data, &mut app);

    let _restore = Restore;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let mut page = 10;
    let mut next_read = Instant::now() + interval;
    while !app.quit {
        terminal.draw(|frame| page = view::draw(frame, &mut app, &dir_text))?;
        let wait = next_read.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(key) if key.kind == KeyEventKind::Press => {
                    app.on_key(key, page);
                    if let Some(level) = app.verbosity_request.take() {
                        app.notice = Some(request_verbosity(&data, level));
                        refresh(&data, &mut app);
                    }
                }
                // A resize needs nothing but the next draw, which lays out anew.
                _ => {}
            }
        }
        if Instant::now() >= next_read {
            refresh(&data, &mut app);
            next_read = Instant::now() + interval;
        }
    }
    Ok(())
}
