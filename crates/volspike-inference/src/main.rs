//! `volspike-inference`: the inference service on its own. Configuration
//! from `--config FILE`, then `VOLSPIKE__...` environment variables, then the
//! flags (the same as `volspike serve`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use volspike_inference::cli::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "volspike-inference",
    version,
    about = "gRPC volatility scores, live scoring of ticks.features, alerts, model hot swap"
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
        volspike_inference::run,
    )
    .await
}
