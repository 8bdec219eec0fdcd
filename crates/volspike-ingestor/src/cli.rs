//! The command-line arguments of `volspike ingest` and `volspike-ingestor`
//! (one definition for both), and the summary line they print.

use std::path::PathBuf;

use volspike_runtime::ConfigLoader;

use crate::Report;

/// `volspike ingest` / `volspike-ingestor`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Product to subscribe to (repeat for more); default from
    /// `ingestor.products`.
    #[arg(long = "pair", alias = "product", value_name = "PRODUCT")]
    pub pairs: Vec<String>,
    /// `advanced-trade` (default) or `exchange`.
    #[arg(long, value_parser = parse_feed)]
    pub feed: Option<volspike_core::Feed>,
    /// WebSocket URL (default: Coinbase's public URL for the feed).
    #[arg(long)]
    pub url: Option<String>,
    /// Stop after this many minutes (fractions allowed); default: until
    /// SIGINT/SIGTERM.
    #[arg(long)]
    pub minutes: Option<f64>,
    /// Keep an NDJSON journal of every frame in DIR (default
    /// `ingestor.journal-dir`, `data/raw`).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    pub save_disk: Option<PathBuf>,
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Admin server address (`/metrics`, `/healthz`); empty to disable.
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// Stop once this many ticks were received (benchmarks).
    #[arg(long, hide = true)]
    pub stop_after_ticks: Option<u64>,
}

/// `advanced-trade` (or `advanced_trade`) or `exchange`.
pub fn parse_feed(s: &str) -> Result<volspike_core::Feed, String> {
    match s {
        "advanced-trade" | "advanced_trade" => Ok(volspike_core::Feed::AdvancedTrade),
        "exchange" => Ok(volspike_core::Feed::Exchange),
        _ => Err(format!(
            "feed must be `advanced-trade` or `exchange`, not `{s}`"
        )),
    }
}

impl IngestArgs {
    /// The configuration layers the flags set.
    pub fn apply(&self, loader: ConfigLoader) -> ConfigLoader {
        let pairs = (!self.pairs.is_empty()).then(|| self.pairs.clone());
        loader
            .set_opt("ingestor.products", pairs)
            .set_opt("ingestor.feed", self.feed)
            .set_opt("ingestor.url", self.url.clone())
            .set_opt("kafka.bootstrap", self.bootstrap.clone())
            .set_opt("admin.listen", self.admin_listen.clone())
    }

    /// The run options, with the journal directory resolved against `cfg`.
    pub fn options(&self, cfg: &volspike_runtime::Config) -> crate::RunOptions {
        crate::RunOptions {
            journal_dir: self.save_disk.as_ref().map(|d| {
                if d.as_os_str().is_empty() {
                    cfg.ingestor.journal_dir.clone()
                } else {
                    d.clone()
                }
            }),
            duration: self
                .minutes
                .map(|m| std::time::Duration::from_secs_f64(m.max(0.0) * 60.0)),
            stop_after_ticks: self.stop_after_ticks,
        }
    }
}

/// One line summing up a run.
pub fn summary(r: &Report) -> String {
    let undelivered: u64 = r.undelivered.ranges().iter().map(|(a, b)| b - a + 1).sum();
    format!(
        "ingest: frames={} ticks={} dlq={} subscriptions={} disconnects={} sequence_breaks={} exchange_errors={} undelivered_frames={} undelivered_ranges={:?} recovered_records={} journal_files={} frame_range={:?} elapsed={:.3}s rate={:.0} frames/s",
        r.frames,
        r.ticks,
        r.dlq.values().sum::<u64>(),
        r.subscriptions,
        r.disconnects.values().sum::<u64>(),
        r.sequence_breaks.values().sum::<u64>(),
        r.exchange_errors,
        undelivered,
        r.undelivered.ranges(),
        r.recovered_records,
        r.journal_files.len(),
        r.frame_range,
        r.seconds,
        r.frames as f64 / r.seconds.max(1e-9),
    )
}
