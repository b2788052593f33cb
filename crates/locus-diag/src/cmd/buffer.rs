//! `locus-diag buffer` (to be written).

/// Arguments of `locus-diag buffer`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag buffer`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`buffer` is not implemented yet")
}
