//! `volspike-drift`: the drift and retrain worker on its own. Configuration
//! from `--config FILE`, then `VOLSPIKE__...` environment variables, then the
//! flags (the same as `volspike drift serve`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use volspike_drift_worker::cli::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "volspike-drift",
    version,
    about = "Watch features, scores and outcomes for drift; retrain, gate and promote"
)]
struct Cli {
    /// Configuration file (TOML) over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    args: ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { config, args } = Cli::parse();
    volspike_runtime::service::main(
        config.as_deref(),
        |c| args.apply(c),
        volspike_drift_worker::run,
    )
    .await
}
