//! `volspike consume-check`: does a topic hold at least N readable messages?
//!
//! Reads every partition from its start to the high watermark seen when the
//! check begins. A message is readable when its payload is one JSON value
//! (every volspike topic carries JSON; the DLQ's payloads are the original
//! bytes and need not be).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use volspike_runtime::Config;
use volspike_runtime::kafka::{EofAwareContext, consumer_config};

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
    let mut cc = consumer_config(
        &cfg.kafka,
        &cfg.kafka.bootstrap,
        "consume-check",
        "volspike-consume-check",
    );
    cc.set("enable.partition.eof", "true")
        .set("isolation.level", "read_uncommitted");
    let consumer: BaseConsumer<EofAwareContext> = cc
        .create_with_context(EofAwareContext)
        .context("creating the consumer")?;
    let meta = consumer
        .fetch_metadata(Some(topic), cfg.kafka.request_timeout)
        .context("fetching metadata")?;
    let partitions: Vec<i32> = meta
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {topic} does not exist");
    }
    // Partition -> (next offset to read, end).
    let mut todo: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, cfg.kafka.request_timeout)?;
        if high > low {
            todo.insert(p, (low, high));
            tpl.add_partition_offset(topic, p, Offset::Offset(low))?;
        }
    }
    consumer.assign(&tpl)?;
    let mut counts = TopicCounts::default();
    let deadline = Instant::now() + timeout;
    while todo.values().any(|(next, end)| next < end) {
        if Instant::now() > deadline {
            bail!(
                "{topic}: read {} messages within {timeout:?}, not to the end",
                counts.messages
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let Some((next, end)) = todo.get_mut(&m.partition())
                    && m.offset() < *end
                {
                    *next = m.offset() + 1;
                    counts.messages += 1;
                    let payload = m.payload().unwrap_or_default();
                    if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok() {
                        counts.readable += 1;
                    }
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                // Transaction markers are never delivered: a partition whose
                // last offsets are markers ends when the consumer's position
                // passes `end`, not with a message. (An end-of-partition event
                // alone is not proof: some brokers send it early.)
                let position = consumer.position()?;
                if let Some(el) = position.find_partition(topic, p)
                    && let Offset::Offset(pos) = el.offset()
                    && let Some((next, end)) = todo.get_mut(&p)
                    && pos >= *end
                {
                    *next = *end;
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, topic, "consume-check"),
            None => {}
        }
    }
    Ok(counts)
}
