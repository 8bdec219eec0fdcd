//! `volspike compare-features`: two feature files, bit for bit.

use std::path::PathBuf;

use anyhow::bail;
use volspike_replay::{compare, parquet};

/// Arguments of `volspike compare-features`.
#[derive(Debug, clap::Args)]
pub struct CompareFeaturesArgs {
    /// Expected (e.g. `volspike replay` output).
    pub left: PathBuf,
    /// Actual (e.g. `volspike pipeline` output).
    pub right: PathBuf,
}

/// Fails with the first difference.
pub fn run(a: CompareFeaturesArgs) -> anyhow::Result<()> {
    let (l, r) = (parquet::read_rows(&a.left)?, parquet::read_rows(&a.right)?);
    if let Some(diff) = compare::first_difference(&l, &r) {
        bail!(
            "{} and {} differ: {diff}",
            a.left.display(),
            a.right.display()
        );
    }
    println!("compare-features: identical rows={}", l.len());
    Ok(())
}
