//! `locus-diag demo` (to be written).

/// Arguments of `locus-diag demo`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `locus-diag demo`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`demo` is not implemented yet")
}
