//! The command-line flags of `volspike ingest` and `volspike-ingestor` (one
//! definition for both), as a typed override of the configuration.

use std::path::PathBuf;

use volspike_runtime::Config;
use volspike_runtime::config::OffOrAddr;

use crate::RunOptions;

/// Where `--save-disk` without a directory keeps the journal.
pub const DEFAULT_JOURNAL_DIR: &str = "data/raw";

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
    /// `ingestor.journal-dir`, else `data/raw`).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    pub save_disk: Option<PathBuf>,
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Admin server address (`/metrics`, `/healthz`), or `off`.
    #[arg(long)]
    pub admin_listen: Option<OffOrAddr>,
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
    /// The flags given, applied over the other configuration layers.
    pub fn apply(self, c: &mut Config) {
        if !self.pairs.is_empty() {
            c.ingestor.products = self.pairs;
        }
        if let Some(feed) = self.feed {
            c.ingestor.feed = feed;
        }
        if let Some(url) = self.url {
            c.ingestor.url = Some(url);
        }
        if let Some(dir) = self.save_disk {
            if !dir.as_os_str().is_empty() {
                c.ingestor.journal_dir = Some(dir);
            } else if c.ingestor.journal_dir.is_none() {
                c.ingestor.journal_dir = Some(DEFAULT_JOURNAL_DIR.into());
            }
        }
        if let Some(b) = self.bootstrap {
            c.kafka.bootstrap = Some(b);
        }
        if let Some(OffOrAddr(listen)) = self.admin_listen {
            c.admin.listen = listen;
        }
    }

    /// When to stop besides a signal.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            duration: self
                .minutes
                .map(|m| std::time::Duration::from_secs_f64(m.max(0.0) * 60.0)),
            stop_after_ticks: self.stop_after_ticks,
        }
    }
}
