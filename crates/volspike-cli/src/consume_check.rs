//! `volspike consume-check`: does a topic hold at least N readable messages?
//!
//! Reads every partition from its start to the high watermark seen when the
//! check begins. A message is readable when its payload is one JSON value
//! (every volspike topic carries JSON; the DLQ's payloads are the original
//! bytes and need not be).

use std::time::Duration;

use rdkafka::message::Message;
use volspike_runtime::Config;
use volspike_runtime::kafka::read_partitions;

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
        &cfg.kafka.bootstrap,
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
