//! `locus-community`: the command line of the community collector.
//!
//! `locus-community serve [--listen ADDR] [--db URL] [--k N] ...` opens (or creates) the
//! database, applies the built-in migrations, prints `listening on http://ADDR` on
//! stdout once it accepts connections, and serves until SIGTERM or ctrl-c.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use locus_community::app::{self, AppState};
use locus_community::Config;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "locus-community",
    version,
    about = "The Locus community health collector"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector: ingest API, aggregates and dashboard.
    Serve(Config),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LOCUS_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("locus-community: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(config) => runtime.block_on(serve(config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("locus-community: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let listen = config.listen;
    let state = AppState::open(config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = ?state.store.backend(), k = state.config.k, "serving");
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    drop(out);
    app::serve(listener, state, app::shutdown_signal()).await?;
    Ok(())
}
