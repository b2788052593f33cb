//! `locus-diag preview` (to be written).

/// Arguments of `locus-diag preview`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag preview`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`preview` is not implemented yet")
}
