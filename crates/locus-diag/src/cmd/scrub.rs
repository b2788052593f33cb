//! `locus-diag scrub` (to be written).

/// Arguments of `locus-diag scrub`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag scrub`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`scrub` is not implemented yet")
}
