//! Rebuilding a partition's engine state from the input before an offset.
//!
//! The engine's state at a point depends only on the ticks of the last
//! [`EngineConfig::rebuild_span`] of event time (see `volspike-features`), so
//! a new owner of a partition reads that span of `ticks.raw` before the
//! committed offset, feeds it to a fresh engine without emitting anything,
//! and then continues exactly where the previous owner stopped.
//!
//! The start of the span is found by binary search on offsets, reading a few
//! messages per probe; it relies on event time being non-decreasing in offset
//! order up to small disorder, which holds for one feed's ticks. Both the
//! anchor (the latest time before the offset) and each probe take a median,
//! so that one record with an absurd event time (which the engine refuses)
//! cannot move the span.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use volspike_core::{LineKind, Tick, decode_line};
use volspike_features::{EngineConfig, FeatureEngine};
use volspike_runtime::Config;
use volspike_runtime::kafka::consumer_config;

use crate::{Error, Result};

/// Reads single messages or ranges of one topic by offset, outside any group.
pub struct PartitionReader {
    consumer: BaseConsumer,
    topic: String,
    timeout: Duration,
}

impl std::fmt::Debug for PartitionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionReader")
            .field("topic", &self.topic)
            .finish()
    }
}

impl PartitionReader {
    /// A reader of `topic`.
    pub fn new(cfg: &Config, topic: &str) -> Result<Self> {
        let group = format!("{}-rebuild", cfg.featurizer.group_id);
        let bootstrap = cfg.kafka.broker("the featurizer")?;
        let mut cc = consumer_config(&cfg.kafka, bootstrap, "featurizer-rebuild", &group);
        // Each probe of the search reads one message: answer at once.
        cc.set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer = cc
            .create()
            .map_err(Error::kafka("creating the rebuild reader"))?;
        Ok(PartitionReader {
            consumer,
            topic: topic.to_owned(),
            timeout: cfg.kafka.request_timeout,
        })
    }

    fn seek(&self, partition: i32, offset: i64) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
            .map_err(Error::kafka("building an assignment"))?;
        self.consumer
            .assign(&tpl)
            .map_err(Error::kafka("assigning the rebuild reader"))
    }

    /// Calls `f` with the ticks of each message in `[from, to)` in order.
    fn scan(
        &self,
        partition: i32,
        from: i64,
        to: i64,
        mut f: impl FnMut(i64, &[Tick]) -> bool,
    ) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        self.seek(partition, from)?;
        let deadline = Instant::now() + self.timeout;
        let mut ticks = Vec::new();
        loop {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.partition() == partition => {
                    if m.offset() >= to {
                        return Ok(());
                    }
                    ticks.clear();
                    if let Some(bytes) = m.payload()
                        && matches!(decode_line(bytes, &mut ticks), Ok(LineKind::Ticker(_)))
                        && !f(m.offset(), &ticks)
                    {
                        return Ok(());
                    }
                    if m.offset() + 1 >= to {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::debug!(error = %e, "rebuild reader"),
                None if Instant::now() > deadline => {
                    return Err(Error::Kafka {
                        context: "reading input to rebuild state (timed out)",
                        source: rdkafka::error::KafkaError::MessageConsumption(
                            rdkafka::types::RDKafkaErrorCode::RequestTimedOut,
                        ),
                    });
                }
                None => {}
            }
        }
    }

    /// Median event time of the first [`PROBE_TICKS`] decodable ticks at or
    /// after `offset`, before `to`.
    fn time_at(&self, partition: i32, offset: i64, to: i64) -> Result<Option<i64>> {
        let mut times = Vec::with_capacity(PROBE_TICKS);
        self.scan(partition, offset, to, |_, ticks| {
            times.extend(ticks.iter().map(|t| t.event_time_ns));
            times.len() < PROBE_TICKS
        })?;
        Ok(median(&mut times))
    }

    /// A fresh engine fed with the input of `partition` that precedes `offset`
    /// by at most the engine's rebuild span. Returns the engine and how many
    /// messages were re-read.
    pub fn rebuild(
        &self,
        engine_cfg: &EngineConfig,
        partition: i32,
        offset: i64,
    ) -> Result<(FeatureEngine, u64)> {
        let mut engine = FeatureEngine::new(engine_cfg);
        let (low, _high) = self
            .consumer
            .fetch_watermarks(&self.topic, partition, self.timeout)
            .map_err(Error::kafka("fetching watermarks for a rebuild"))?;
        if offset <= low {
            return Ok((engine, 0));
        }
        // The latest believable event time before `offset`: the latest of the
        // last messages' times within the engine's ahead bound of their median
        // (a stray absurd one is refused by the engine too). Step back until a
        // message decodes.
        let tolerance = engine_cfg.event_time_bounds().max_ahead_ns;
        let mut probe = offset - 1;
        let last_time = loop {
            let from = (probe - 63).max(low);
            let mut times = Vec::new();
            self.scan(partition, from, probe + 1, |_, ticks| {
                times.extend(ticks.iter().map(|t| t.event_time_ns));
                true
            })?;
            let latest = median(&mut times).and_then(|m| {
                times
                    .iter()
                    .copied()
                    .filter(|t| t.abs_diff(m) <= tolerance as u64)
                    .max()
            });
            if latest.is_some() || from == low {
                break latest;
            }
            probe = from - 1;
        };
        let Some(last_time) = last_time else {
            return Ok((engine, 0));
        };
        let span = engine_cfg.rebuild_span();
        let target = last_time.saturating_sub(i64::try_from(span.as_nanos()).unwrap_or(i64::MAX));
        // Smallest offset whose (next decodable) event time is >= target.
        let (mut lo, mut hi) = (low, offset - 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.time_at(partition, mid, offset)? {
                Some(t) if t >= target => hi = mid,
                _ => lo = mid + 1,
            }
        }
        let mut reread = 0;
        self.scan(partition, lo, offset, |_, ticks| {
            reread += 1;
            for t in ticks {
                engine.push(t).for_each(drop);
            }
            true
        })?;
        Ok((engine, reread))
    }
}

/// Ticks read per probe of the binary search.
const PROBE_TICKS: usize = 5;

/// The median (upper of the two middles) of `times`, if any.
fn median(times: &mut [i64]) -> Option<i64> {
    if times.is_empty() {
        return None;
    }
    let mid = times.len() / 2;
    Some(*times.select_nth_unstable(mid).1)
}
