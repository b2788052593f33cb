//! `locus-diag lifecycle` (to be written).

/// Arguments of `locus-diag lifecycle`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag lifecycle`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`lifecycle` is not implemented yet")
}
