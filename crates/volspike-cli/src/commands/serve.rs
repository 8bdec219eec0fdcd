//! `volspike serve`: the inference server (as `volspike-inference`), with an
//! optional warm start for benchmarks.

use std::path::PathBuf;

use volspike_inference::cli::ServeArgs;
use volspike_replay::parquet;
use volspike_runtime::{ConfigLoader, shutdown};

use super::load;

/// Arguments of `volspike serve`.
#[derive(Debug, clap::Args)]
pub struct ServeCommandArgs {
    #[command(flatten)]
    pub args: ServeArgs,
    /// Fill the latest row per product from a feature parquet file at
    /// start (GetScore answers before live rows arrive; benchmarks).
    #[arg(long)]
    pub warm_from: Option<PathBuf>,
}

/// Serves until SIGINT/SIGTERM and prints the summary.
pub async fn run(a: ServeCommandArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let args = a.args;
    let cfg = load(loader.overrides(move |c| args.apply(c)))?;
    let running = volspike_inference::start(cfg, shutdown::on_signals()).await?;
    if let Some(path) = a.warm_from {
        let rows = parquet::read_rows(&path)?;
        for row in &rows {
            running.state.latest.update(row);
        }
        println!(
            "serve: latest rows of {} products from {} ({} rows)",
            running.state.latest.products().len(),
            path.display(),
            rows.len()
        );
    }
    println!("serve: gRPC on {}", running.grpc_addr);
    println!("{}", running.wait().await?);
    Ok(())
}
