//! `volspike dump-features`: the feature rows of a topic, in canonical order
//! and without re-emissions, written to parquet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::message::Message as _;
use volspike_core::FeatureRow;
use volspike_runtime::kafka::read_partitions;
use volspike_runtime::{Config, ConfigLoader};

use super::{bootstrap_flag, load};

/// Arguments of `volspike dump-features`.
#[derive(Debug, clap::Args)]
pub struct DumpFeaturesArgs {
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Topic (default `topics.features`).
    #[arg(long)]
    pub topic: Option<String>,
    /// Wait until at least this many distinct rows are there.
    #[arg(long, default_value_t = 0)]
    pub min_rows: usize,
    /// Longest wait.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Output parquet file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Waits for the rows and writes them.
pub async fn run(a: DumpFeaturesArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader.overrides(bootstrap_flag(a.bootstrap)))?;
    cfg.kafka.broker("dump-features")?;
    let topic = a.topic.unwrap_or_else(|| cfg.topics.features.clone());
    let (min_rows, timeout) = (a.min_rows, a.timeout);
    let rows =
        tokio::task::spawn_blocking(move || features_of_topic(&cfg, &topic, min_rows, timeout))
            .await??;
    volspike_replay::parquet::write_rows(&a.out, &rows)?;
    println!("dump-features: rows={} out={}", rows.len(), a.out.display());
    Ok(())
}

/// Reads `topic` (feature rows) until it holds at least `min_rows` distinct
/// rows, at most `timeout`; returns them in canonical order.
pub fn features_of_topic(
    cfg: &Config,
    topic: &str,
    min_rows: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<FeatureRow>> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut rows = Vec::new();
        let mut err = None;
        read_partitions(
            cfg,
            topic,
            |_, low, _| low,
            timeout,
            |m| match serde_json::from_slice::<FeatureRow>(m.payload().unwrap_or_default()) {
                Ok(r) => rows.push(r),
                Err(e) => err = Some(e),
            },
        )?;
        if let Some(e) = err {
            return Err(e).context(format!("a {topic} record is not a feature row"));
        }
        volspike_replay::parquet::canonicalize(&mut rows)?;
        if rows.len() >= min_rows || Instant::now() > deadline {
            return Ok(rows);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
