//! `volspike ingest-check`: does `ticks.raw` hold each tick of an
//! ingestor's journal exactly once?

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use rdkafka::message::Message as _;
use volspike_core::decode_line;
use volspike_ingestor::journal::read_frames;
use volspike_runtime::kafka::read_partitions;
use volspike_runtime::{Config, ConfigLoader};

use super::{bootstrap_flag, load};

/// Ticks per (frame number, product) in the journal and in a topic;
/// `Display` gives the summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JournalVsTopic {
    /// Ticks in the journal.
    pub journal_ticks: u64,
    /// Ticks in the topic.
    pub topic_ticks: u64,
    /// Journal ticks the topic lacks.
    pub missing: u64,
    /// Topic ticks beyond the journal's count (duplicates or strays).
    pub extra: u64,
}

/// Compares the ticks of the journal in `dir` with the records of `topic`,
/// by frame number and product.
pub fn journal_vs_topic(cfg: &Config, dir: &Path, topic: &str) -> anyhow::Result<JournalVsTopic> {
    type Key = (u64, String, i64);
    let mut counts: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
    let mut out = JournalVsTopic::default();
    let mut ticks = Vec::new();
    read_frames(dir, 0, u64::MAX, |f| {
        ticks.clear();
        let _ = volspike_core::decode_frame(f.text.as_bytes(), f.receive_time_ns, &mut ticks);
        for t in &ticks {
            counts
                .entry((f.frame, t.product_id.to_string(), t.event_time_ns))
                .or_default()
                .0 += 1;
            out.journal_ticks += 1;
        }
        Ok(())
    })?;
    #[derive(serde::Deserialize)]
    struct Frame {
        frame: u64,
    }
    let mut bad = 0u64;
    read_partitions(
        cfg,
        topic,
        |_, low, _| low,
        Duration::from_secs(120),
        |m| {
            let payload = m.payload().unwrap_or_default();
            let mut t = Vec::new();
            match (
                serde_json::from_slice::<Frame>(payload),
                decode_line(payload, &mut t),
            ) {
                (Ok(f), Ok(_)) if t.len() == 1 => {
                    counts
                        .entry((f.frame, t[0].product_id.to_string(), t[0].event_time_ns))
                        .or_default()
                        .1 += 1;
                    out.topic_ticks += 1;
                }
                _ => bad += 1,
            }
        },
    )?;
    if bad > 0 {
        bail!("{bad} records of {topic} are not ingestor tick records");
    }
    for (journal, topic) in counts.values() {
        out.missing += journal.saturating_sub(*topic);
        out.extra += topic.saturating_sub(*journal);
    }
    Ok(out)
}

impl std::fmt::Display for JournalVsTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ingest-check: journal_ticks={} topic_ticks={} missing={} extra={}",
            self.journal_ticks, self.topic_ticks, self.missing, self.extra
        )
    }
}

/// Arguments of `volspike ingest-check`.
#[derive(Debug, clap::Args)]
pub struct IngestCheckArgs {
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// The ingestor's journal directory.
    #[arg(long)]
    pub journal: PathBuf,
    /// Topic (default `topics.raw`).
    #[arg(long)]
    pub topic: Option<String>,
}

/// Compares and fails on any missing or extra tick.
pub async fn run(a: IngestCheckArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader.overrides(bootstrap_flag(a.bootstrap)))?;
    cfg.kafka.broker("ingest-check")?;
    let topic = a.topic.unwrap_or_else(|| cfg.topics.raw.clone());
    let c =
        tokio::task::spawn_blocking(move || journal_vs_topic(&cfg, &a.journal, &topic)).await??;
    println!("{c}");
    if c.missing + c.extra > 0 {
        bail!("the topic does not hold each journal tick exactly once");
    }
    Ok(())
}
