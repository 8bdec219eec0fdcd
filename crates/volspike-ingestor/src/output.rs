//! Kafka output: `ticks.raw`, `ticks.dlq` and `ingest.events`.
//!
//! Records are built as frames arrive and sent only at [`Output::send_pending`],
//! which the ingestor calls after the journal has the frames: Kafka never
//! holds a tick the journal lacks, so a restart can finish delivery from the
//! journal ([`crate::recover`]).
//!
//! Sending never waits: the socket must keep being read during a broker
//! outage. librdkafka buffers up to `queue.buffering.max.messages`; a record
//! that does not fit, or whose delivery fails, is counted and its frame
//! number recorded in [`Undelivered`], which says exactly which frames to
//! backfill from the journal.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use volspike_core::{ProductId, TickSource, write_tick_record};
use volspike_features::{EventTimeBounds, judge_event_time};

use crate::connection::Frame;
use crate::metrics_names as m;

/// The partition of a keyed record: CRC-32 of the key modulo the partition
/// count, as librdkafka's default `consistent` partitioner does. Set
/// explicitly so that recovery knows where each product's records are.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    (crc32fast::hash(key) % partitions.max(1) as u32) as i32
}

/// Frame numbers that did not reach Kafka, as inclusive ranges.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Undelivered {
    ranges: BTreeMap<u64, u64>,
    /// Records (not frames) that were not delivered.
    pub records: u64,
}

impl Undelivered {
    /// Adds `frame`, merging with neighbouring ranges.
    pub fn add(&mut self, frame: u64) {
        self.records += 1;
        let mut start = frame;
        let mut end = frame;
        if let Some((&s, &e)) = self.ranges.range(..=frame).next_back() {
            if e >= frame {
                return;
            }
            if e + 1 == frame {
                start = s;
            }
        }
        if let Some(&e) = self.ranges.get(&(frame + 1)) {
            self.ranges.remove(&(frame + 1));
            end = e;
        }
        self.ranges.insert(start, end);
    }

    /// The ranges, oldest first.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.ranges.iter().map(|(&s, &e)| (s, e)).collect()
    }

    /// Whether everything was delivered.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Producer context: counts deliveries and records undelivered frames.
#[derive(Debug, Default)]
pub struct Tracker {
    undelivered: Arc<Mutex<Undelivered>>,
}

/// The delivery opaque of records that belong to no frame (events).
const NO_FRAME: usize = usize::MAX;

impl rdkafka::ClientContext for Tracker {}

impl rdkafka::producer::ProducerContext for Tracker {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, frame: usize) {
        match result {
            Ok(_) => metrics::counter!(m::DELIVERED).increment(1),
            Err((e, msg)) => {
                let topic = rdkafka::Message::topic(msg).to_owned();
                metrics::counter!(m::DELIVERY_ERRORS, "topic" => topic.clone()).increment(1);
                if frame != NO_FRAME {
                    let mut u = self.undelivered.lock().expect("not poisoned");
                    u.add(frame as u64);
                    tracing::error!(error = %e, %topic, frame, "delivery failed; the frame stays in the journal");
                }
            }
        }
    }
}

/// Topic names.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Ticks.
    pub raw: String,
    /// Unreadable frames.
    pub dlq: String,
    /// Connection lifecycle and sequence breaks.
    pub events: String,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Raw,
    Dlq,
}

#[derive(Debug)]
struct Pending {
    target: Target,
    partition: i32,
    key: Option<ProductId>,
    payload: std::ops::Range<usize>,
    timestamp_ms: i64,
    frame: u64,
    dlq: Option<(&'static str, String, u64, i64)>,
}

/// The producer and the records waiting for the journal.
pub struct Output {
    producer: ThreadedProducer<Tracker>,
    topics: Topics,
    raw_partitions: i32,
    pending: Vec<Pending>,
    arena: Vec<u8>,
    undelivered: Arc<Mutex<Undelivered>>,
    queue_full_since: Option<u64>,
    /// The feature engine's event-time bounds: ticks outside them go to the
    /// dead-letter topic here already (`features.event-time-max-*`).
    event_time_bounds: EventTimeBounds,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("topics", &self.topics)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Output {
    /// An output on `producer` (made with a [`Tracker`] context) writing to
    /// `topics`; `raw_partitions` is the partition count of `topics.raw`.
    pub fn new(
        producer: ThreadedProducer<Tracker>,
        topics: Topics,
        raw_partitions: i32,
        event_time_bounds: EventTimeBounds,
    ) -> Self {
        let undelivered = producer.context().undelivered.clone();
        Output {
            producer,
            topics,
            raw_partitions,
            pending: Vec::new(),
            arena: Vec::with_capacity(1 << 20),
            undelivered,
            queue_full_since: None,
            event_time_bounds,
        }
    }

    /// The producer (for flushing and recovery).
    pub fn producer(&self) -> &ThreadedProducer<Tracker> {
        &self.producer
    }

    /// Frames not delivered so far.
    pub fn undelivered(&self) -> Undelivered {
        self.undelivered.lock().expect("not poisoned").clone()
    }

    /// The partition of `ticks.raw` a product's records go to.
    pub fn raw_partition(&self, product: &str) -> i32 {
        partition_for(product.as_bytes(), self.raw_partitions)
    }

    /// Builds the records of frame number `number` (sent by the next
    /// [`Output::send_pending`]). Returns how many.
    pub fn add_frame(&mut self, number: u64, frame: &Frame<'_>) -> anyhow::Result<usize> {
        match frame.decoded {
            Ok(_) if frame.ticks.is_empty() => Ok(0),
            Ok(_) => {
                let raw: &serde_json::value::RawValue = serde_json::from_str(frame.text)?;
                let mut records = 0;
                let mut refused = None;
                for tick in frame.ticks {
                    if let Some(r) = judge_event_time(tick, self.event_time_bounds) {
                        refused.get_or_insert((
                            r.reason(),
                            format!(
                                "{} tick at {} received at {}: event time too far from receive time",
                                tick.product_id,
                                volspike_core::time::format_timestamp(tick.event_time_ns),
                                volspike_core::time::format_timestamp(frame.receive_time_ns)
                            ),
                        ));
                        continue;
                    }
                    records += 1;
                    let start = self.arena.len();
                    let source = TickSource {
                        conn: frame.conn,
                        frame: number,
                        raw,
                    };
                    write_tick_record(&mut self.arena, tick, source)?;
                    self.pending.push(Pending {
                        target: Target::Raw,
                        partition: self.raw_partition(&tick.product_id),
                        key: Some(tick.product_id.clone()),
                        payload: start..self.arena.len(),
                        // Receive time, not event time: Kafka's retention and
                        // its limit on future timestamps (an hour ahead, Kafka
                        // 4) run on this clock, which the exchange's clock
                        // and an old recording's times must not move.
                        timestamp_ms: frame.receive_time_ns.div_euclid(1_000_000),
                        frame: number,
                        dlq: None,
                    });
                }
                // The frame goes to the dead-letter topic once for its refused
                // ticks; the others are published.
                if let Some((reason, error)) = refused {
                    self.add_dlq(number, frame, reason, error);
                    records += 1;
                }
                Ok(records)
            }
            Err(e) => {
                self.add_dlq(number, frame, e.reason(), e.to_string());
                Ok(1)
            }
        }
    }

    fn add_dlq(&mut self, number: u64, frame: &Frame<'_>, reason: &'static str, error: String) {
        metrics::counter!(m::DLQ, "reason" => reason).increment(1);
        tracing::warn!(conn = frame.conn, frame = number, %error, "unreadable frame -> DLQ");
        let start = self.arena.len();
        self.arena.extend_from_slice(frame.text.as_bytes());
        self.pending.push(Pending {
            target: Target::Dlq,
            // One partition, so recovery finds the newest DLQ record in one place.
            partition: 0,
            key: None,
            payload: start..self.arena.len(),
            timestamp_ms: frame.receive_time_ns.div_euclid(1_000_000),
            frame: number,
            dlq: Some((reason, error, frame.conn, frame.receive_time_ns)),
        });
    }

    /// Keeps only the pending records for which `keep(topic, partition,
    /// frame)` holds (recovery drops what Kafka already has).
    pub fn retain_pending(&mut self, keep: impl Fn(&str, i32, u64) -> bool) {
        let topics = &self.topics;
        self.pending.retain(|p| {
            let topic = match p.target {
                Target::Raw => &topics.raw,
                Target::Dlq => &topics.dlq,
            };
            keep(topic, p.partition, p.frame)
        });
    }

    /// Records waiting for [`Output::send_pending`].
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Sends an event (JSON) to `ingest.events`, keyed by `key`. Events are
    /// not journaled; a failed one is logged and counted.
    pub fn send_event(&mut self, key: &str, event: &serde_json::Value) {
        let payload = event.to_string();
        let record = BaseRecord::with_opaque_to(&self.topics.events, NO_FRAME)
            .key(key)
            .payload(&payload);
        if let Err((e, _)) = self.producer.send(record) {
            metrics::counter!(m::DELIVERY_ERRORS, "topic" => self.topics.events.clone())
                .increment(1);
            tracing::warn!(error = %e, %payload, "could not queue an ingest event");
        }
    }

    /// Hands every pending record to the producer, waiting while its queue
    /// is full (for recovery and backfill, where no socket is being read).
    pub fn send_pending_waiting(&mut self, timeout: std::time::Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        let mut pending = std::mem::take(&mut self.pending);
        for p in &pending {
            loop {
                match self.producer.send(self.record(p)) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                        _,
                    )) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err((e, _)) => anyhow::bail!("producing frame {}: {e}", p.frame),
                }
            }
        }
        pending.clear();
        self.pending = pending;
        self.arena.clear();
        Ok(())
    }

    /// Waits until everything sent is delivered; an error names the frames
    /// that were not.
    pub fn flush(&self, timeout: std::time::Duration) -> anyhow::Result<()> {
        volspike_runtime::kafka::flush(&self.producer, timeout)
            .map_err(|e| anyhow::anyhow!("waiting for Kafka deliveries: {e}"))?;
        let u = self.undelivered();
        anyhow::ensure!(
            u.is_empty(),
            "{} records were not delivered (frames {:?})",
            u.records,
            u.ranges()
        );
        Ok(())
    }

    fn record<'a>(&'a self, p: &'a Pending) -> BaseRecord<'a, [u8], [u8], usize> {
        let topic = match p.target {
            Target::Raw => &self.topics.raw,
            Target::Dlq => &self.topics.dlq,
        };
        let mut record = BaseRecord::with_opaque_to(topic, p.frame as usize)
            .partition(p.partition)
            .payload(&self.arena[p.payload.clone()])
            .timestamp(p.timestamp_ms);
        if let Some(k) = &p.key {
            record = record.key(k.as_bytes());
        }
        let mut headers = OwnedHeaders::new().insert(Header {
            key: "ingest.frame",
            value: Some(&p.frame.to_string()),
        });
        if let Some((reason, error, conn, receive)) = &p.dlq {
            for (key, value) in [
                ("dlq.reason", reason.to_string()),
                ("dlq.error", error.clone()),
                ("ingest.conn", conn.to_string()),
                ("ingest.receive_time_ns", receive.to_string()),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(&value),
                });
            }
        }
        record.headers(headers)
    }

    /// Hands every pending record to the producer without waiting. A record
    /// the local queue cannot take is not delivered: counted and recorded.
    pub fn send_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for p in &pending {
            match self.producer.send(self.record(p)) {
                Ok(()) => {
                    if let Some(since) = self.queue_full_since.take() {
                        tracing::warn!(
                            from_frame = since,
                            "the producer queue has room again; sending resumed"
                        );
                    }
                }
                Err((e, _)) => {
                    let full = matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
                    );
                    metrics::counter!(m::UNDELIVERED, "cause" => if full { "queue_full" } else { "produce_error" })
                        .increment(1);
                    if self.queue_full_since.is_none() {
                        self.queue_full_since = Some(p.frame);
                        tracing::error!(
                            error = %e,
                            frame = p.frame,
                            "cannot queue for Kafka (broker unreachable longer than the buffer \
                             allows?); frames stay in the journal and are listed as undelivered"
                        );
                    }
                    self.undelivered.lock().expect("not poisoned").add(p.frame);
                }
            }
        }
        self.pending = pending;
        self.pending.clear();
        self.arena.clear();
        metrics::gauge!(m::QUEUE_DEPTH).set(self.producer.in_flight_count() as f64);
    }
}
