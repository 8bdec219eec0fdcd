//! The consume-transform-produce loop.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use volspike_core::{LineKind, Tick, decode_line};
use volspike_features::{FeatureEngine, Outcome};
use volspike_runtime::Config;
use volspike_runtime::config::GroupProtocol;
use volspike_runtime::kafka::{
    DeliveryCounter, consumer_config, flush, producer_config, send_with_backpressure,
};

use crate::metrics_names as m;
use crate::rebuild::PartitionReader;
use crate::{Error, Result, Summary};

/// Records revoked partitions so the loop can drop their state.
#[derive(Default)]
struct GroupContext {
    revoked: Mutex<Vec<i32>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(partitions = ?parts, "partitions revoked");
            self.revoked.lock().expect("revoked lock").extend(parts);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            tracing::info!(partitions = ?parts, "partitions assigned");
        }
    }
}

/// One featurizer instance: a group consumer, a (transactional) producer and
/// an engine per owned partition.
pub struct Worker {
    cfg: Config,
    consumer: BaseConsumer<GroupContext>,
    producer: ThreadedProducer<DeliveryCounter>,
    reader: PartitionReader,
    engines: HashMap<i32, FeatureEngine>,
    /// Next input offset expected per partition, to notice records skipped.
    expected: HashMap<i32, i64>,
    stats: Summary,
    ticks: Vec<Tick>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("partitions", &self.engines.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Worker {
    /// Connects, subscribes and (with transactions) fences earlier incarnations.
    pub fn new(cfg: &Config) -> Result<Self> {
        let fc = &cfg.featurizer;
        let bootstrap = cfg.kafka.broker("the featurizer")?;
        let mut cc = consumer_config(&cfg.kafka, bootstrap, "featurizer", &fc.group_id);
        cc.set(
            "max.poll.interval.ms",
            fc.max_poll_interval
                .as_millis()
                .max(fc.session_timeout.as_millis())
                .to_string(),
        );
        // Under KIP-848 the broker owns session and heartbeat timing
        // (librdkafka refuses to start if they are set).
        if cfg.kafka.group_protocol == GroupProtocol::Classic {
            cc.set(
                "session.timeout.ms",
                fc.session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (fc.session_timeout.as_millis() / 4).max(100).to_string(),
            );
        }
        let consumer: BaseConsumer<GroupContext> = cc
            .create_with_context(GroupContext::default())
            .map_err(Error::kafka("creating the consumer"))?;
        consumer
            .subscribe(&[&cfg.topics.raw])
            .map_err(Error::kafka("subscribing to the input topic"))?;

        let mut pc = producer_config(&cfg.kafka, bootstrap, "featurizer");
        if fc.transactions {
            pc.set(
                "transactional.id",
                format!("{}-{}", fc.transactional_id, fc.instance_id),
            )
            .set(
                "transaction.timeout.ms",
                fc.transaction_timeout.as_millis().to_string(),
            )
            // librdkafka requires deliveries to time out before the transaction does.
            .set(
                "message.timeout.ms",
                fc.transaction_timeout.as_millis().to_string(),
            );
        }
        let producer: ThreadedProducer<DeliveryCounter> = pc
            .create_with_context(DeliveryCounter::default())
            .map_err(Error::kafka("creating the producer"))?;
        if fc.transactions {
            producer
                .init_transactions(cfg.kafka.request_timeout)
                .map_err(Error::kafka("initializing transactions"))?;
        }
        let reader = PartitionReader::new(cfg, &cfg.topics.raw)?;
        tracing::info!(
            input = %cfg.topics.raw, output = %cfg.topics.features, group = %fc.group_id,
            transactions = fc.transactions, "featurizer started"
        );
        Ok(Worker {
            cfg: cfg.clone(),
            consumer,
            producer,
            reader,
            engines: HashMap::new(),
            expected: HashMap::new(),
            stats: Summary::default(),
            ticks: Vec::new(),
        })
    }

    /// The loop: batch, transform, commit; until `shutdown` (graceful) or
    /// `crash` (immediate, nothing committed or aborted).
    pub fn run(
        &mut self,
        shutdown: &CancellationToken,
        crash: &CancellationToken,
    ) -> Result<Summary> {
        let mut last_lag = Instant::now();
        while !shutdown.is_cancelled() {
            let batch = self.poll_batch(shutdown, crash);
            if crash.is_cancelled() {
                tracing::warn!("crash requested: stopping without commit");
                return Ok(self.stats.clone());
            }
            if !batch.is_empty() {
                let started = Instant::now();
                match self.process(&batch, crash) {
                    Ok(()) => metrics::histogram!(m::BATCH_SECONDS)
                        .record(started.elapsed().as_secs_f64()),
                    Err(e) if crash.is_cancelled() => {
                        tracing::warn!(error = %e, "crash requested mid-batch");
                        return Ok(self.stats.clone());
                    }
                    Err(e) => self.recover(e)?,
                }
            }
            if last_lag.elapsed() > Duration::from_secs(5) {
                self.report_lag();
                last_lag = Instant::now();
            }
        }
        if self.cfg.featurizer.transactions {
            // Nothing is open between batches; this only flushes.
            let _ = flush(&self.producer, self.cfg.kafka.request_timeout);
        }
        tracing::info!(stats = ?self.stats, "featurizer stopped");
        Ok(self.stats.clone())
    }

    /// Collects up to a batch of messages. A rebalance during the wait drops
    /// the revoked partitions' engines and their messages from the batch:
    /// nothing of theirs was emitted or committed yet, and whoever owns them
    /// next (possibly this instance again) starts from the committed offset.
    fn poll_batch(
        &mut self,
        shutdown: &CancellationToken,
        crash: &CancellationToken,
    ) -> Vec<OwnedMessage> {
        let fc = &self.cfg.featurizer;
        let (max_messages, max_wait) = (fc.batch_max_messages, fc.batch_max_wait);
        let mut batch: Vec<OwnedMessage> = Vec::new();
        let mut deadline: Option<Instant> = None;
        while batch.len() < max_messages && !crash.is_cancelled() {
            // Once a batch has started it takes only what is already fetched:
            // batches grow with the backlog and never wait on a quiet input.
            let wait = match deadline {
                Some(d) if Instant::now() >= d => break,
                Some(_) => Duration::ZERO,
                None if shutdown.is_cancelled() => break,
                None => Duration::from_millis(100),
            };
            let polled = self.consumer.poll(wait).map(|r| r.map(|m| m.detach()));
            let revoked = self.drop_revoked();
            if !revoked.is_empty() {
                batch.retain(|m| !revoked.contains(&m.partition()));
            }
            match polled {
                Some(Ok(msg)) => {
                    deadline.get_or_insert_with(|| Instant::now() + max_wait);
                    batch.push(msg);
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
                None if deadline.is_some() => break,
                None => {}
            }
        }
        batch
    }

    /// Forgets the state of partitions revoked since the last call; returns them.
    fn drop_revoked(&mut self) -> Vec<i32> {
        let revoked: Vec<i32> = std::mem::take(
            &mut *self
                .consumer
                .context()
                .revoked
                .lock()
                .expect("revoked lock"),
        );
        for p in &revoked {
            self.engines.remove(p);
            self.expected.remove(p);
        }
        revoked
    }

    /// Transforms one batch and commits it with its input offsets.
    fn process(&mut self, batch: &[OwnedMessage], crash: &CancellationToken) -> Result<()> {
        let txn = self.cfg.featurizer.transactions;
        if txn {
            self.producer
                .begin_transaction()
                .map_err(Error::kafka("beginning a transaction"))?;
        }
        let failed_before = self.producer.context().failed();
        let mut next_offsets: BTreeMap<i32, i64> = BTreeMap::new();
        let mut delta = Summary::default();
        tracing::debug!(messages = batch.len(), "processing a batch");
        for msg in batch {
            if crash.is_cancelled() {
                return Err(Error::Worker("crashed".into()));
            }
            self.ensure_engine(msg.partition(), msg.offset(), &mut delta)?;
            if let Some(expected) = self.expected.insert(msg.partition(), msg.offset() + 1)
                && msg.offset() > expected
            {
                tracing::warn!(
                    partition = msg.partition(),
                    from = expected,
                    to = msg.offset(),
                    "input offsets skipped: records the broker no longer has (retention) or transaction markers"
                );
                delta.offsets_skipped += (msg.offset() - expected) as u64;
            }
            self.transform(msg, &mut delta)?;
            next_offsets.insert(msg.partition(), msg.offset() + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in &next_offsets {
            tpl.add_partition_offset(&self.cfg.topics.raw, p, Offset::Offset(o))
                .map_err(Error::kafka("building offsets"))?;
        }
        let timeout = self.cfg.kafka.request_timeout;
        tracing::debug!(offsets = ?next_offsets, "committing a batch");
        if txn {
            let meta = self
                .consumer
                .group_metadata()
                .ok_or_else(|| Error::Worker("consumer has no group metadata".into()))?;
            self.producer
                .send_offsets_to_transaction(&tpl, &meta, timeout)
                .map_err(Error::kafka("adding offsets to the transaction"))?;
            tracing::debug!("offsets added to the transaction");
            self.producer
                .commit_transaction(timeout)
                .map_err(Error::kafka("committing the transaction"))?;
        } else {
            flush(&self.producer, timeout).map_err(Error::kafka("flushing output"))?;
            if self.producer.context().failed() != failed_before {
                return Err(Error::Worker("some output was not delivered".into()));
            }
            self.consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(Error::kafka("committing offsets"))?;
        }
        delta.commits = 1;
        self.count(delta);
        Ok(())
    }

    fn ensure_engine(&mut self, partition: i32, offset: i64, delta: &mut Summary) -> Result<()> {
        if self.engines.contains_key(&partition) {
            return Ok(());
        }
        // A partition picked up from a committed offset must resume exactly
        // there; a later first offset means the broker dropped the records in
        // between (retention) and the consumer's offset reset jumped them.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.cfg.topics.raw, partition);
        let committed = self
            .consumer
            .committed_offsets(tpl, self.cfg.kafka.request_timeout)
            .map_err(Error::kafka("reading the committed offset"))?;
        if let Some(Offset::Offset(c)) = committed.elements().first().map(|e| e.offset())
            && offset > c
        {
            tracing::warn!(
                partition,
                committed = c,
                first = offset,
                "input offsets skipped: the broker no longer has the records after the committed offset (retention)"
            );
            delta.offsets_skipped += (offset - c) as u64;
        }
        let started = Instant::now();
        let (engine, reread) = self.reader.rebuild(&self.cfg.features, partition, offset)?;
        if reread > 0 {
            delta.rebuilds += 1;
            tracing::info!(partition, offset, reread, elapsed = ?started.elapsed(), "rebuilt window state from earlier input");
        }
        self.engines.insert(partition, engine);
        Ok(())
    }

    fn transform(&mut self, msg: &OwnedMessage, delta: &mut Summary) -> Result<()> {
        delta.messages += 1;
        let payload = msg.payload().unwrap_or_default();
        self.ticks.clear();
        match decode_line(payload, &mut self.ticks) {
            Ok(LineKind::Ticker(_)) => {
                let engine = self
                    .engines
                    .get_mut(&msg.partition())
                    .expect("engine ensured");
                for tick in &self.ticks {
                    delta.ticks += 1;
                    for outcome in engine.push(tick) {
                        match outcome {
                            Outcome::Row(row) => {
                                let bytes =
                                    serde_json::to_vec(&row).expect("feature rows serialize");
                                let mut record = BaseRecord::to(&self.cfg.topics.features)
                                    .key(row.product_id.as_bytes())
                                    .payload(&bytes);
                                // The input record's time (when the ingestor
                                // received it), not event time: retention and the
                                // broker's limit on future timestamps run on it,
                                // and a rebuilt or retried transaction stamps the
                                // same time again.
                                if let Some(ms) = msg.timestamp().to_millis() {
                                    record = record.timestamp(ms);
                                }
                                send(&self.producer, record)?;
                                delta.rows += 1;
                            }
                            Outcome::Rejected(r) => {
                                // The tick itself, not the message: a held tick
                                // came in an earlier one, and a message may hold
                                // several products' ticks.
                                let bytes = serde_json::to_vec(&r.tick).expect("ticks serialize");
                                let error = format!(
                                    "event time {} refused: {}",
                                    volspike_core::time::format_timestamp(r.tick.event_time_ns),
                                    r.reason.reason()
                                );
                                let record = BaseRecord::to(&self.cfg.topics.dlq)
                                    .key(r.tick.product_id.as_bytes())
                                    .payload(&bytes)
                                    .headers(dlq_headers(msg, r.reason.reason(), &error));
                                send(&self.producer, record)?;
                                *delta.dlq.entry(r.reason.reason()).or_default() += 1;
                            }
                            other => {
                                let reason = other.reason().expect("not a row");
                                *delta.engine_skipped.entry(reason).or_default() += 1
                            }
                        }
                    }
                }
            }
            Ok(LineKind::Control(c)) => *delta.control.entry(c.reason()).or_default() += 1,
            Err(e) => {
                let mut record = BaseRecord::to(&self.cfg.topics.dlq)
                    .payload(payload)
                    .headers(dlq_headers(msg, e.reason(), &e.to_string()));
                if let Some(k) = msg.key() {
                    record = record.key(k);
                }
                send(&self.producer, record)?;
                *delta.dlq.entry(e.reason()).or_default() += 1;
            }
        }
        Ok(())
    }

    /// After a failed batch: abort, forget all state and go back to the
    /// committed offsets; the next messages rebuild state and redo the batch.
    fn recover(&mut self, e: Error) -> Result<()> {
        if let Error::Kafka {
            source: KafkaError::Transaction(te),
            ..
        } = &e
            && te.is_fatal()
        {
            return Err(e);
        }
        tracing::warn!(error = %e, "batch failed; aborting and replaying from the committed offsets");
        let timeout = self.cfg.kafka.request_timeout;
        if self.cfg.featurizer.transactions {
            self.producer
                .abort_transaction(timeout)
                .map_err(Error::kafka("aborting the transaction"))?;
        }
        self.stats.aborts += 1;
        metrics::counter!(m::ABORTS).increment(1);
        self.engines.clear();
        self.expected.clear();
        let assignment = self
            .consumer
            .assignment()
            .map_err(Error::kafka("reading the assignment"))?;
        let committed = self
            .consumer
            .committed_offsets(assignment, timeout)
            .map_err(Error::kafka("reading committed offsets"))?;
        for el in committed.elements() {
            let offset = match el.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            self.consumer
                .seek(el.topic(), el.partition(), offset, timeout)
                .map_err(Error::kafka("seeking back to the committed offset"))?;
        }
        Ok(())
    }

    fn count(&mut self, d: Summary) {
        metrics::counter!(m::MESSAGES_IN).increment(d.messages);
        metrics::counter!(m::TICKS_IN).increment(d.ticks);
        metrics::counter!(m::ROWS_OUT).increment(d.rows);
        metrics::counter!(m::COMMITS).increment(d.commits);
        metrics::counter!(m::REBUILDS).increment(d.rebuilds);
        metrics::counter!(m::OFFSETS_SKIPPED).increment(d.offsets_skipped);
        let s = &mut self.stats;
        s.messages += d.messages;
        s.ticks += d.ticks;
        s.rows += d.rows;
        s.commits += d.commits;
        s.rebuilds += d.rebuilds;
        s.offsets_skipped += d.offsets_skipped;
        for (k, v) in d.engine_skipped {
            metrics::counter!(m::SKIPPED, "reason" => k).increment(v);
            *s.engine_skipped.entry(k).or_default() += v;
        }
        for (k, v) in d.control {
            metrics::counter!(m::SKIPPED, "reason" => k).increment(v);
            *s.control.entry(k).or_default() += v;
        }
        for (k, v) in d.dlq {
            metrics::counter!(m::DLQ, "reason" => k).increment(v);
            *s.dlq.entry(k).or_default() += v;
        }
    }

    fn report_lag(&self) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        for el in positions.elements() {
            let Offset::Offset(pos) = el.offset() else {
                continue;
            };
            if let Ok((_, high)) =
                self.consumer
                    .fetch_watermarks(el.topic(), el.partition(), Duration::from_secs(1))
            {
                metrics::gauge!(m::LAG, "partition" => el.partition().to_string())
                    .set((high - pos).max(0) as f64);
            }
        }
    }
}

/// The headers of a dead letter: why, and which input record it came from.
fn dlq_headers(msg: &OwnedMessage, reason: &str, error: &str) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "dlq.reason",
            value: Some(reason),
        })
        .insert(Header {
            key: "dlq.error",
            value: Some(error),
        })
        .insert(Header {
            key: "dlq.topic",
            value: Some(msg.topic()),
        })
        .insert(Header {
            key: "dlq.partition",
            value: Some(&msg.partition().to_string()),
        })
        .insert(Header {
            key: "dlq.offset",
            value: Some(&msg.offset().to_string()),
        })
}

/// Sends one record, waiting while the local queue is full.
fn send<K, P>(
    producer: &ThreadedProducer<DeliveryCounter>,
    record: BaseRecord<'_, K, P>,
) -> Result<()>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    send_with_backpressure(producer, record).map_err(Error::kafka("producing output"))
}
