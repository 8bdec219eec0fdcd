//! `volspike consume-check`: does a topic hold at least N readable messages?
//!
//! Reads every partition from its start to the high watermark seen when the
//! check begins. A message is readable when its payload is one JSON value
//! (every volspike topic carries JSON; the DLQ's payloads are the original
//! bytes and need not be).

use std::time::Duration;

use rdkafka::message::Message;
use volspike_runtime::kafka::read_partitions;
use volspike_runtime::{Config, ConfigLoader};

use super::{bootstrap_flag, load};

/// What a topic held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TopicCounts {
    /// Messages read.
    pub messages: u64,
    /// Of those, payloads that are one JSON value.
    pub readable: u64,
}

/// Counts the messages of `topic` up to its current end.
pub fn count(cfg: &Config, topic: &str, timeout: Duration) -> anyhow::Result<TopicCounts> {
    let mut counts = TopicCounts::default();
    read_partitions(
        cfg,
        topic,
        |_, low, _| low,
        timeout,
        |m| {
            counts.messages += 1;
            let payload = m.payload().unwrap_or_default();
            if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok() {
                counts.readable += 1;
            }
        },
    )?;
    Ok(counts)
}

/// Arguments of `volspike consume-check`.
#[derive(Debug, clap::Args)]
pub struct ConsumeCheckArgs {
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Topic to read from its start.
    #[arg(long)]
    pub topic: String,
    /// Fewest readable messages that pass.
    #[arg(long)]
    pub min: u64,
    /// Longest time to read the topic.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl std::fmt::Display for TopicCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "messages={} readable={} unreadable={}",
            self.messages,
            self.readable,
            self.messages - self.readable
        )
    }
}

/// Counts the topic and fails below `--min` readable messages.
pub async fn run(a: ConsumeCheckArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader.overrides(bootstrap_flag(a.bootstrap)))?;
    cfg.kafka.broker("consume-check")?;
    let (topic, timeout) = (a.topic.clone(), a.timeout);
    let c = tokio::task::spawn_blocking(move || count(&cfg, &topic, timeout)).await??;
    println!("consume-check: topic={} {c}", a.topic);
    anyhow::ensure!(
        c.readable >= a.min,
        "{} holds {} readable messages, fewer than {}",
        a.topic,
        c.readable,
        a.min
    );
    Ok(())
}
