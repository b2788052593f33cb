//! `locus-diag ls` (to be written).

/// Arguments of `locus-diag ls`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag ls`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`ls` is not implemented yet")
}
