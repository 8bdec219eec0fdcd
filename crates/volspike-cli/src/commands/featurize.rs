//! `volspike featurize`: the featurizer service (as `volspike-featurizer`).

use volspike_featurizer::cli::FeaturizeArgs;
use volspike_runtime::{ConfigLoader, shutdown};

use super::load;

/// Runs the featurizer until SIGINT/SIGTERM and prints its summary.
pub async fn run(a: FeaturizeArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader.overrides(move |c| a.apply(c)))?;
    let summary = volspike_featurizer::run(cfg, shutdown::on_signals()).await?;
    println!("{summary}");
    Ok(())
}
