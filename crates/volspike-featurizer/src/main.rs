//! `volspike-featurizer`: the featurizer service on its own. Configuration
//! from `--config FILE`, then `VOLSPIKE__...` environment variables, then the
//! flags (the same as `volspike featurize`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use volspike_featurizer::cli::FeaturizeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "volspike-featurizer",
    version,
    about = "ticks.raw -> rolling-window features -> ticks.features, exactly once"
)]
struct Cli {
    /// Configuration file (TOML) over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    args: FeaturizeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { config, args } = Cli::parse();
    volspike_runtime::service::main(
        config.as_deref(),
        |c| args.apply(c),
        volspike_featurizer::run,
    )
    .await
}
