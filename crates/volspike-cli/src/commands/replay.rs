//! `volspike replay`: offline features from recordings with the same engine,
//! no Kafka.

use std::time::Instant;

use volspike_replay::{parquet, replay};
use volspike_runtime::ConfigLoader;

use super::{InputArgs, load};

/// Arguments of `volspike replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

/// Replays the recordings into a parquet file and prints the counts.
pub async fn run(a: ReplayArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader)?;
    let files = a.input.files()?;
    let started = Instant::now();
    let engine_cfg = cfg.features.clone();
    let (rows, mut counts) =
        tokio::task::spawn_blocking(move || replay::replay(&files, &engine_cfg)).await??;
    tracing::debug!(elapsed = ?started.elapsed(), "features computed");
    let (written, _) = parquet::write_rows(&a.input.out, &rows)?;
    counts.rows = written as u64;
    println!("{}", counts.summary("replay", started.elapsed()));
    Ok(())
}
