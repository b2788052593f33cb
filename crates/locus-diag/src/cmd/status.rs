//! `locus-diag status` (to be written).

/// Arguments of `locus-diag status`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag status`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`status` is not implemented yet")
}
