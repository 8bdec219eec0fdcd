//! `volspike-featurizer`: the featurizer service on its own.
//! Same as `volspike featurize`; configuration from `--config FILE` and
//! `VOLSPIKE__...` environment variables.

use std::path::PathBuf;

use anyhow::Context as _;
use volspike_runtime::{Config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .skip_while(|a| a != "--config")
        .nth(1)
        .map(PathBuf::from);
    let cfg = Config::load(path.as_ref()).context("loading configuration")?;
    telemetry::init_tracing(&cfg.log);
    telemetry::prometheus();
    volspike_featurizer::ensure_topics(&cfg).await?;
    let stats = volspike_featurizer::run(cfg, shutdown::on_signals()).await?;
    tracing::info!(?stats, "done");
    Ok(())
}
