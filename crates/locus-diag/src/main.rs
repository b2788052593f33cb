//! `locus-diag`: the user's and developer's tool for Locus telemetry — run the demo app,
//! read the Debug screen, browse the diagnostics in a bucket, manage retention, and see
//! exactly what the community filter would let through.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod term;

#[derive(Parser)]
#[command(
    name = "locus-diag",
    version,
    about = "Locus telemetry: demo, Debug screen, diagnostics browser"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulated Locus app (100 Hz tracking loop) with telemetry on.
    Demo(cmd::demo::Args),
    /// Show the flight recorder of a data dir (the Debug screen, text form).
    Buffer(cmd::buffer::Args),
    /// The interactive Debug screen: live records, filters, search, details, status.
    Debug(cmd::debug::Args),
    /// Show telemetry status: recorder, breakers, settings.
    Status(cmd::status::Args),
    /// List diagnostics files in a destination (`s3://bucket` or `file:///dir`).
    Ls(cmd::ls::Args),
    /// Print the records of one diagnostics file.
    Cat(cmd::cat::Args),
    /// Show or apply the diagnostics retention rule of a destination.
    Lifecycle(cmd::lifecycle::Args),
    /// Read text on stdin, write what the community filter lets through, line for line.
    Scrub(cmd::scrub::Args),
    /// Read text on stdin, write what `export --redact` writes for it, line for line.
    Redact(cmd::redact::Args),
    /// Print the exact community report that would be sent now.
    Preview(cmd::preview::Args),
    /// Write a share bundle (.jsonl.gz + summary) of the flight recorder, to review and send.
    Export(cmd::export::Args),
    /// Show, raise (debug, trace for a while) or reset the level the app records.
    Verbosity(cmd::verbosity::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Buffer(a) => cmd::buffer::run(a),
        Command::Debug(a) => cmd::debug::run(a),
        Command::Status(a) => cmd::status::run(a),
        Command::Ls(a) => cmd::ls::run(a),
        Command::Cat(a) => cmd::cat::run(a),
        Command::Lifecycle(a) => cmd::lifecycle::run(a),
        Command::Scrub(a) => cmd::scrub::run(a),
        Command::Redact(a) => cmd::redact::run(a),
        Command::Preview(a) => cmd::preview::run(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Verbosity(a) => cmd::verbosity::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) is not an error worth a message.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("locus-diag: {}", term::visible(&error_text(&e)));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, each distinct cause once. Many errors
/// already write their source into their own message (`{path}: {source}`); printing
/// the chain as `{e:#}` does would repeat it ("Is a directory (os error 21): Is a
/// directory (os error 21)").
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;
    use anyhow::Context;

    /// An error that writes its source into its own message, as `SinkError::Io` does.
    #[derive(Debug)]
    struct AtPath(std::io::Error);

    impl std::fmt::Display for AtPath {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "/data/x: {}", self.0)
        }
    }

    impl std::error::Error for AtPath {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(21);
        let io_text = io.to_string();
        let e = Err::<(), _>(AtPath(io))
            .context("cannot read file:///data/x")
            .unwrap_err();
        let text = error_text(&e);
        assert_eq!(
            text,
            format!("cannot read file:///data/x: /data/x: {io_text}")
        );
        assert_eq!(text.matches(&io_text).count(), 1, "{text}");
        // Causes that add something are all kept.
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(error_text(&e), "outer: middle: inner");
    }
}
