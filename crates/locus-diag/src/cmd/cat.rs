//! `locus-diag cat` (to be written).

/// Arguments of `locus-diag cat`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag cat`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`cat` is not implemented yet")
}
