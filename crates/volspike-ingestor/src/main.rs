//! `volspike-ingestor`: the ingestor service on its own. Same flags as
//! `volspike ingest`; configuration from `--config FILE`, then
//! `VOLSPIKE__...` environment variables, then the flags.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;
use volspike_ingestor::cli::{IngestArgs, summary};
use volspike_runtime::kafka::Broker;
use volspike_runtime::{ConfigLoader, shutdown, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "volspike-ingestor",
    version,
    about = "Coinbase WebSocket -> ticks.raw (+ NDJSON journal)"
)]
struct Cli {
    /// Configuration file (TOML) over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    args: IngestArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let loader = ConfigLoader::new().file(cli.config.as_deref()).env();
    let cfg = cli
        .args
        .apply(loader)
        .load()
        .context("loading configuration")?;
    telemetry::init_tracing(&cfg.log);
    telemetry::prometheus();
    if cfg.kafka.bootstrap.is_empty() {
        bail!("the ingestor needs a broker: --bootstrap HOST:PORT or kafka.bootstrap");
    }
    let opts = cli.args.options(&cfg);
    let broker = Broker::External(cfg.kafka.bootstrap.clone());
    let report = volspike_ingestor::run(&cfg, &broker, opts, shutdown::on_signals()).await?;
    println!("{}", summary(&report));
    Ok(())
}
