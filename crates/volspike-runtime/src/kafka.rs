//! Kafka client builders, topic creation and the embedded Kafka.
//!
//! Every client volspike makes starts from [`client_config`], so connection
//! and security settings and pass-through properties are applied once.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, Producer as _};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{Config, KafkaConfig};

/// Base client configuration: bootstrap, client id, security and
/// pass-through properties. Secrets go to librdkafka only.
///
/// The pass-through properties are applied here and again by
/// [`producer_config`] and [`consumer_config`] after their own defaults, so
/// a property the user set always wins.
pub fn client_config(kafka: &KafkaConfig, bootstrap: &str, role: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", format!("{}-{role}", kafka.client_id))
        .set("security.protocol", kafka.security_protocol.as_str())
        .set(
            "socket.timeout.ms",
            kafka.request_timeout.as_millis().to_string(),
        );
    if let Some(m) = &kafka.sasl_mechanism {
        c.set("sasl.mechanism", m);
    }
    if let Some(u) = &kafka.sasl_username {
        c.set("sasl.username", u);
    }
    if let Some(p) = &kafka.sasl_password {
        c.set("sasl.password", p.expose());
    }
    apply_properties(&mut c, kafka);
    c
}

/// An idempotent producer configuration (`acks=all`, ordered per partition).
pub fn producer_config(kafka: &KafkaConfig, bootstrap: &str, role: &str) -> ClientConfig {
    let mut c = client_config(kafka, bootstrap, role);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        // JSON compresses several-fold; lz4 is cheap and built into librdkafka.
        .set("compression.type", "lz4")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "120000");
    apply_properties(&mut c, kafka);
    c
}

fn apply_properties(c: &mut ClientConfig, kafka: &KafkaConfig) {
    for (k, v) in &kafka.properties {
        c.set(k, v);
    }
}

/// A consumer configuration that never commits on its own and reads only
/// committed transactional data.
pub fn consumer_config(
    kafka: &KafkaConfig,
    bootstrap: &str,
    role: &str,
    group: &str,
) -> ClientConfig {
    let mut c = client_config(kafka, bootstrap, role);
    c.set("group.id", group)
        .set("group.protocol", kafka.group_protocol.as_str())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set(
            "fetch.wait.max.ms",
            kafka.fetch_max_wait.as_millis().max(1).to_string(),
        );
    apply_properties(&mut c, kafka);
    c
}

/// Creates those of `names` that do not exist yet, with
/// `topics.partitions` and `topics.replication-factor`. Existing topics are
/// left as they are, so a cluster whose topics an operator made (or the
/// embedded Kafka, which has no CreateTopics API) needs no create rights.
pub async fn ensure_topics(cfg: &Config, bootstrap: &str, names: &[&str]) -> anyhow::Result<()> {
    let existing = {
        let (kafka, bootstrap) = (cfg.kafka.clone(), bootstrap.to_owned());
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
            let c: rdkafka::consumer::BaseConsumer =
                client_config(&kafka, &bootstrap, "admin-meta")
                    .create()
                    .context("creating the Kafka metadata client")?;
            let meta = rdkafka::consumer::Consumer::fetch_metadata(&c, None, kafka.request_timeout)
                .context("listing topics")?;
            Ok(meta.topics().iter().map(|t| t.name().to_owned()).collect())
        })
        .await
        .context("listing topics")??
    };
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !existing.iter().any(|e| e == n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !cfg.topics.create {
        return Err(anyhow!(
            "missing topics {} on {bootstrap} (topics.create is off: whoever owns the topics, \
             such as Strimzi's Topic Operator, has not created them yet)",
            missing.join(", ")
        ));
    }
    let admin: AdminClient<DefaultClientContext> = client_config(&cfg.kafka, bootstrap, "admin")
        .create()
        .context("creating the Kafka admin client")?;
    let topics: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|n| {
            NewTopic::new(
                n,
                cfg.topics.partitions,
                TopicReplication::Fixed(cfg.topics.replication_factor),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(cfg.kafka.request_timeout));
    for result in admin
        .create_topics(&topics, &opts)
        .await
        .context("creating topics")?
    {
        match result {
            Ok(name) => tracing::info!(topic = %name, "topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(anyhow!("creating topic {name}: {code}")),
        }
    }
    Ok(())
}

enum Command {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: mpsc::Sender<anyhow::Result<()>>,
    },
    SetBrokersUp {
        up: bool,
        reply: mpsc::Sender<anyhow::Result<()>>,
    },
}

/// librdkafka's in-process mock cluster, serving the Kafka protocol on
/// localhost TCP ports. The cluster lives on its own thread (it is not
/// `Send`) and stops when this handle is dropped.
#[derive(Debug)]
pub struct EmbeddedKafka {
    bootstrap: String,
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EmbeddedKafka {
    /// Starts a cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> anyhow::Result<Self> {
        let (boot_tx, boot_rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel::<Command>();
        let thread = thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                // The cluster belongs to this client (`test.mock.num.brokers`),
                // which keeps it alive for as long as the thread runs.
                let holder: Result<BaseProducer, _> = ClientConfig::new()
                    .set("test.mock.num.brokers", brokers.to_string())
                    .create();
                let cluster = match holder.as_ref().map(|h| (h.client().mock_cluster(), h)) {
                    Ok((Some(c), h)) => {
                        no_initial_rebalance_delay(h.client());
                        c
                    }
                    Ok((None, _)) => {
                        let _ = boot_tx
                            .send(Err(anyhow!("starting the embedded Kafka: no mock cluster")));
                        return;
                    }
                    Err(e) => {
                        let _ = boot_tx.send(Err(anyhow!("starting the embedded Kafka: {e}")));
                        return;
                    }
                };
                let _ = boot_tx.send(Ok(cluster.bootstrap_servers()));
                // Runs until every sender is dropped.
                for cmd in cmd_rx {
                    match cmd {
                        Command::CreateTopic {
                            name,
                            partitions,
                            reply,
                        } => {
                            // Like `ensure_topics`: an existing topic is fine.
                            let r = match cluster.create_topic(&name, partitions, 1) {
                                Ok(())
                                | Err(rdkafka::error::KafkaError::MockCluster(
                                    RDKafkaErrorCode::TopicAlreadyExists,
                                )) => Ok(()),
                                Err(e) => {
                                    Err(anyhow!("creating topic {name} on the embedded Kafka: {e}"))
                                }
                            };
                            let _ = reply.send(r);
                        }
                        Command::SetBrokersUp { up, reply } => {
                            let r = (1..=brokers).try_for_each(|id| {
                                if up {
                                    cluster.broker_up(id)
                                } else {
                                    cluster.broker_down(id)
                                }
                            });
                            let _ = reply.send(r.map_err(|e| anyhow!("embedded Kafka: {e}")));
                        }
                    }
                }
            })
            .context("spawning the embedded Kafka thread")?;
        let bootstrap = boot_rx.recv().context("embedded Kafka thread died")??;
        Ok(EmbeddedKafka {
            bootstrap,
            commands: Some(cmd_tx),
            thread: Some(thread),
        })
    }

    /// The `bootstrap.servers` string of the cluster.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Creates a topic unless it exists (the mock broker has no CreateTopics API).
    pub fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let (reply, rx) = mpsc::channel();
        self.commands
            .as_ref()
            .expect("commands live until drop")
            .send(Command::CreateTopic {
                name: name.to_owned(),
                partitions,
                reply,
            })
            .map_err(|_| anyhow!("embedded Kafka thread is gone"))?;
        rx.recv_timeout(Duration::from_secs(10))
            .context("embedded Kafka did not answer")?
    }

    /// Takes every broker down (connections dropped, new ones refused) or
    /// brings them back: a broker outage, for tests.
    pub fn set_brokers_up(&self, up: bool) -> anyhow::Result<()> {
        let (reply, rx) = mpsc::channel();
        self.commands
            .as_ref()
            .expect("commands live until drop")
            .send(Command::SetBrokersUp { up, reply })
            .map_err(|_| anyhow!("embedded Kafka thread is gone"))?;
        rx.recv_timeout(Duration::from_secs(10))
            .context("embedded Kafka did not answer")?
    }
}

/// The mock cluster, like a Kafka broker, waits 3 s after a group's first
/// member joins before assigning partitions (`group.initial.rebalance.delay.ms`),
/// which cost every embedded run 3 s. librdkafka can turn that off only
/// through its C API.
#[allow(unsafe_code)]
fn no_initial_rebalance_delay<C: rdkafka::ClientContext>(client: &rdkafka::client::Client<C>) {
    use rdkafka::bindings::{
        rd_kafka_handle_mock_cluster, rd_kafka_mock_group_initial_rebalance_delay_ms,
    };
    // SAFETY: `client` is a live handle for the duration of both calls, and
    // the mock cluster pointer it returns (checked for null) is owned by it.
    unsafe {
        let mock = rd_kafka_handle_mock_cluster(client.native_ptr());
        if !mock.is_null() {
            rd_kafka_mock_group_initial_rebalance_delay_ms(mock, 0);
        }
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        self.commands.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where a command's Kafka is: a given broker or an embedded one it owns.
#[derive(Debug)]
pub enum Broker {
    /// An external cluster.
    External(String),
    /// The embedded cluster, alive as long as this value.
    Embedded(EmbeddedKafka),
}

impl Broker {
    /// Uses `bootstrap` when given, else starts the embedded Kafka.
    pub fn external_or_embedded(bootstrap: Option<&str>) -> anyhow::Result<Broker> {
        match bootstrap {
            Some(b) => Ok(Broker::External(b.to_owned())),
            None => Ok(Broker::Embedded(EmbeddedKafka::start(1)?)),
        }
    }

    /// The bootstrap servers string.
    pub fn bootstrap(&self) -> &str {
        match self {
            Broker::External(b) => b,
            Broker::Embedded(e) => e.bootstrap(),
        }
    }

    /// Creates topics (with the embedded Kafka's own call where needed).
    pub async fn ensure_topics(&self, cfg: &Config, names: &[&str]) -> anyhow::Result<()> {
        match self {
            Broker::External(b) => ensure_topics(cfg, b, names).await,
            Broker::Embedded(e) => {
                for n in names {
                    e.create_topic(n, cfg.topics.partitions)?;
                }
                Ok(())
            }
        }
    }
}

/// A consumer context for readers that ask for end-of-partition events:
/// librdkafka also reports those as global errors, which are not errors here.
#[derive(Debug, Default, Clone, Copy)]
pub struct EofAwareContext;

impl rdkafka::ClientContext for EofAwareContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(%error, reason, "librdkafka error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EofAwareContext {}

/// A producer context that counts failed deliveries, so a caller can check
/// after a flush that everything it sent arrived.
#[derive(Debug, Default)]
pub struct DeliveryCounter {
    failed: std::sync::atomic::AtomicU64,
}

impl DeliveryCounter {
    /// Deliveries that failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl rdkafka::ClientContext for DeliveryCounter {}

impl rdkafka::producer::ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(error = %e, topic = rdkafka::Message::topic(m), "delivery failed");
        }
    }
}

/// Publishes a change of champion on `topics.model-events` (created if
/// missing), keyed by the model name, and waits for its delivery. Servers
/// re-resolve their alias from the registry when they see it.
pub async fn publish_model_event(
    cfg: &Config,
    bootstrap: &str,
    event: &volspike_core::ModelEvent,
) -> anyhow::Result<()> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let topic = &cfg.topics.model_events;
    ensure_topics(cfg, bootstrap, &[topic]).await?;
    let producer: FutureProducer = producer_config(&cfg.kafka, bootstrap, "models")
        .create()
        .context("creating the model events producer")?;
    let payload = serde_json::to_vec(event).context("encoding a model event")?;
    producer
        .send(
            FutureRecord::to(topic).key(&event.name).payload(&payload),
            cfg.kafka.request_timeout,
        )
        .await
        .map_err(|(e, _)| anyhow!("publishing to {topic}: {e}"))?;
    Ok(())
}

/// Stores, for the consumer's next commit, the offset after each message
/// of `batch`. At-least-once consumers call it only once everything the
/// batch produced is delivered.
pub fn store_offsets_after<X, C>(
    consumer: &C,
    batch: &[rdkafka::message::OwnedMessage],
) -> anyhow::Result<()>
where
    X: rdkafka::consumer::ConsumerContext + 'static,
    C: rdkafka::consumer::Consumer<X>,
{
    use rdkafka::Message as _;
    let mut offsets = rdkafka::TopicPartitionList::new();
    for msg in batch {
        offsets
            .add_partition_offset(
                msg.topic(),
                msg.partition(),
                rdkafka::Offset::Offset(msg.offset() + 1),
            )
            .context("recording an offset")?;
    }
    consumer.store_offsets(&offsets).context("storing offsets")
}

/// Sends one record; a full local queue is backpressure (wait and retry),
/// any other error is returned.
pub fn send_with_backpressure<'a, K, P, C>(
    producer: &rdkafka::producer::ThreadedProducer<C>,
    mut record: rdkafka::producer::BaseRecord<'a, K, P, C::DeliveryOpaque>,
) -> Result<(), rdkafka::error::KafkaError>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
    C: rdkafka::producer::ProducerContext + 'static,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                r,
            )) => {
                record = r;
                thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Waits until every message sent so far is delivered (or failed; see
/// [`DeliveryCounter::failed`]), at most `timeout`.
///
/// rdkafka's `ThreadedProducer::flush` waits on the producer's event queue
/// in steps of up to 100 ms, but the producer's own thread serves that queue,
/// so every flush took at least 100 ms (measured: it paced the featurizer at
/// one batch per 110 ms). This asks librdkafka to send at once and then polls
/// the in-flight count every millisecond.
pub fn flush<C: rdkafka::producer::ProducerContext + 'static>(
    producer: &rdkafka::producer::ThreadedProducer<C>,
    timeout: Duration,
) -> Result<(), rdkafka::error::KafkaError> {
    use rdkafka::producer::Producer as _;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // A zero-timeout flush sends lingering batches now and reports
        // whether anything is still in flight.
        match producer.flush(Duration::ZERO) {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// The one topic reader: every partition of a topic from chosen offsets,
/// read as it fills, with each partition's read position and the end it
/// must reach. A read that falls behind the log start (the broker dropped
/// data) is an error, never a silent jump.
///
/// Bounded reads ([`read_partitions`]) mark the end at once; the pipeline
/// reads while its topics fill and marks the end when the writers are done.
pub struct TopicReader {
    topic: String,
    consumer: rdkafka::consumer::BaseConsumer<EofAwareContext>,
    /// Partition -> next offset to read.
    next: std::collections::BTreeMap<i32, i64>,
    /// Partition -> the end to reach, once marked.
    end: std::collections::BTreeMap<i32, i64>,
    timeout: Duration,
}

impl std::fmt::Debug for TopicReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicReader")
            .field("topic", &self.topic)
            .field("next", &self.next)
            .field("end", &self.end)
            .finish()
    }
}

impl TopicReader {
    /// A reader of every partition of `topic` on `cfg.kafka.bootstrap`,
    /// starting at `start(partition, low, high)` (clamped to the log).
    /// Retries the first metadata request for up to `timeout` (a broker
    /// that just came back may refuse it). Reads committed records only, so
    /// an aborted transaction's output is never seen.
    pub fn new(
        cfg: &Config,
        topic: &str,
        start: impl Fn(i32, i64, i64) -> i64,
        timeout: Duration,
    ) -> anyhow::Result<TopicReader> {
        use rdkafka::consumer::Consumer as _;
        use rdkafka::{Offset, TopicPartitionList};

        let bootstrap = cfg.kafka.broker("reading a topic")?;
        let mut cc = consumer_config(&cfg.kafka, bootstrap, "reader", "volspike-reader");
        cc.set("enable.partition.eof", "true")
            .set("auto.offset.reset", "error");
        let consumer: rdkafka::consumer::BaseConsumer<EofAwareContext> = cc
            .create_with_context(EofAwareContext)
            .context("creating the consumer")?;
        let deadline = std::time::Instant::now() + timeout;
        let request_timeout = cfg.kafka.request_timeout;
        let meta = loop {
            match consumer.fetch_metadata(Some(topic), request_timeout) {
                Ok(m) => break m,
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, topic, "metadata not available yet; retrying");
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e).context("fetching metadata"),
            }
        };
        let partitions: Vec<i32> = meta
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            anyhow::bail!("topic {topic} does not exist");
        }
        let mut next = std::collections::BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            let (low, high) = consumer.fetch_watermarks(topic, p, request_timeout)?;
            let from = start(p, low, high).clamp(low, high);
            next.insert(p, from);
            tpl.add_partition_offset(topic, p, Offset::Offset(from))?;
        }
        consumer.assign(&tpl)?;
        Ok(TopicReader {
            topic: topic.to_owned(),
            consumer,
            next,
            end: std::collections::BTreeMap::new(),
            timeout: request_timeout,
        })
    }

    /// The partition ids.
    pub fn partitions(&self) -> Vec<i32> {
        self.next.keys().copied().collect()
    }

    /// Records read so far, over all partitions (sum of next offsets).
    pub fn position(&self) -> i64 {
        self.next.values().sum()
    }

    /// Marks each partition's current high watermark as the end to reach.
    pub fn mark_end(&mut self) -> anyhow::Result<()> {
        use rdkafka::consumer::Consumer as _;
        for &p in self.next.keys() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, p, self.timeout)?;
            self.end.insert(p, high);
        }
        Ok(())
    }

    /// Every partition read to its marked end (false before [`Self::mark_end`]).
    pub fn done(&self) -> bool {
        !self.end.is_empty() && self.end.iter().all(|(p, &end)| self.next[p] >= end)
    }

    /// Polls once (waiting at most `wait`); calls `f` with a new message.
    /// Returns whether one came.
    pub fn poll(
        &mut self,
        wait: Duration,
        f: impl FnOnce(&rdkafka::message::BorrowedMessage<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<bool> {
        use rdkafka::Offset;
        use rdkafka::consumer::Consumer as _;
        use rdkafka::error::KafkaError;
        use rdkafka::message::Message as _;

        match self.consumer.poll(wait) {
            Some(Ok(m)) => {
                let next = self.next.get_mut(&m.partition());
                match next {
                    Some(next) if m.offset() >= *next => {
                        *next = m.offset() + 1;
                        f(&m)?;
                        Ok(true)
                    }
                    _ => Ok(false), // re-delivered after a seek
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                // Transaction markers are never delivered: a partition whose
                // last offsets are markers ends when the consumer's position
                // passes them, not with a message. (An end-of-partition
                // event alone is not proof: some brokers send it early.)
                let position = self.consumer.position()?;
                if let Some(el) = position.find_partition(&self.topic, p)
                    && let Offset::Offset(pos) = el.offset()
                    && let Some(next) = self.next.get_mut(&p)
                    && pos > *next
                {
                    *next = pos;
                }
                Ok(false)
            }
            Some(Err(e))
                if matches!(
                    e.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset)
                ) =>
            {
                anyhow::bail!(
                    "{}: records were dropped by the broker before they were read ({e})",
                    self.topic
                )
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, topic = %self.topic, "reading a topic");
                Ok(false)
            }
            None => Ok(false),
        }
    }
}

/// Reads every partition of `topic` on `cfg.kafka.bootstrap` from the offset
/// `start(partition, low, high)` up to the high watermark seen when the read
/// begins, calling `f` with each message. Returns the partition ids.
pub fn read_partitions(
    cfg: &Config,
    topic: &str,
    start: impl Fn(i32, i64, i64) -> i64,
    timeout: Duration,
    mut f: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> anyhow::Result<Vec<i32>> {
    let deadline = std::time::Instant::now() + timeout;
    let mut reader = TopicReader::new(cfg, topic, start, timeout)?;
    reader.mark_end()?;
    while !reader.done() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("{topic}: not read to the end within {timeout:?}");
        }
        reader.poll(Duration::from_millis(100), |m| {
            f(m);
            Ok(())
        })?;
    }
    Ok(reader.partitions())
}
