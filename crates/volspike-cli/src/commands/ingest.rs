//! `volspike ingest`: the ingestor service (as `volspike-ingestor`).

use volspike_ingestor::cli::IngestArgs;
use volspike_runtime::{ConfigLoader, shutdown};

use super::load;

/// Runs the ingestor until SIGINT/SIGTERM (or `--minutes`) and prints its
/// summary.
pub async fn run(a: IngestArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let opts = a.options();
    let cfg = load(loader.overrides(move |c| a.apply(c)))?;
    let summary = volspike_ingestor::run_with(cfg, opts, shutdown::on_signals()).await?;
    println!("{summary}");
    Ok(())
}
