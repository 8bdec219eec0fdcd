//! `volspike-ingestor`: the ingestor service on its own. Configuration from
//! `--config FILE`, then `VOLSPIKE__...` environment variables, then the
//! flags (the same as `volspike ingest`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use volspike_ingestor::cli::IngestArgs;

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
async fn main() -> ExitCode {
    let Cli { config, args } = Cli::parse();
    let opts = args.options();
    volspike_runtime::service::main(
        config.as_deref(),
        |c| args.apply(c),
        |cfg, shutdown| volspike_ingestor::run_with(cfg, opts, shutdown),
    )
    .await
}
