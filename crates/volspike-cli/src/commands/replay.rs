//! `volspike replay`: offline features from recordings with the same engine,
//! no Kafka.

use std::time::Instant;

use volspike_core::FieldMap;
use volspike_replay::{parquet, recordings, replay};
use volspike_runtime::ConfigLoader;

use super::{InputArgs, load};

/// Arguments of `volspike replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Read a recorder's own field name as one of a tick's (`NAME=SOURCE`,
    /// repeatable), e.g. `--field timestamp=exch_time --field price=px`.
    /// NAME is one of product_id, price, timestamp (event time),
    /// received_at, best_bid, best_ask, best_bid_qty, best_ask_qty,
    /// volume_24h, low_24h, high_24h, sequence, trade_id.
    #[arg(long = "field", value_name = "NAME=SOURCE")]
    pub fields: Vec<String>,
}

/// Replays the recordings into a parquet file and prints the counts.
pub async fn run(a: ReplayArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader)?;
    let mut fields = FieldMap::default();
    for spec in &a.fields {
        fields
            .add(spec)
            .map_err(|e| anyhow::anyhow!("--field {e}"))?;
    }
    let files =
        recordings::order_by_first_tick_mapped(recordings::expand_globs(&a.input.raw)?, &fields)?;
    let started = Instant::now();
    let engine_cfg = cfg.features.clone();
    let (rows, mut counts) =
        tokio::task::spawn_blocking(move || replay::replay_mapped(&files, &fields, &engine_cfg))
            .await??;
    tracing::debug!(elapsed = ?started.elapsed(), "features computed");
    let (written, _) = parquet::write_rows(&a.input.out, &rows)?;
    counts.rows = written as u64;
    println!("{}", counts.summary("replay", started.elapsed()));
    Ok(())
}
