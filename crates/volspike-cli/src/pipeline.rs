//! `volspike pipeline`: the live path on recorded input.
//!
//! Recordings -> `ticks.raw` -> featurizer service(s) -> `ticks.features` ->
//! parquet, on the embedded Kafka unless a broker is given. Each line goes to
//! `ticks.raw` as it was recorded (keyed by its product), so the featurizer
//! decodes the very bytes `volspike replay` decodes; a line with tickers of
//! several products is split into one normalized record per tick so that each
//! product's ticks stay in order on one partition. Unreadable lines are sent
//! too: the featurizer must route them to `ticks.dlq`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use volspike_core::{FeatureRow, LineKind, TICK_SCHEMA_VERSION};
use volspike_runtime::kafka::{client_config, consumer_config, producer_config};
use volspike_runtime::{Broker, Config};

use crate::input::{DecodedChunk, decode_files};
use crate::summary::Counts;

/// How the pipeline runs its featurizers.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// In-process featurizer instances; 0 means they run elsewhere (e.g.
    /// separate processes in `scripts/e2e.sh`) and the pipeline only feeds
    /// input and collects output.
    pub featurizers: usize,
    /// Fault injection for tests: once this fraction of the input is
    /// committed, featurizer 0 is dropped without shutdown (no commit, no
    /// abort) and a new instance with the same id takes over.
    pub crash_at: Option<f64>,
    /// Longest wait for the featurizers to finish the input.
    pub timeout: Duration,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            featurizers: 1,
            crash_at: None,
            timeout: Duration::from_secs(600),
        }
    }
}

/// What the pipeline did.
#[derive(Debug, Clone)]
pub struct PipelineOutput {
    /// Feature rows read back from `ticks.features`, canonical and deduplicated.
    pub rows: Vec<FeatureRow>,
    /// Input counts (lines, ticks, skipped, invalid) and rows.
    pub counts: Counts,
    /// Messages found on `ticks.dlq`.
    pub dlq: u64,
    /// Featurizer instances crashed on purpose.
    pub crashes: u64,
}

#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "delivery to the input topic failed");
        }
    }
}

struct Featurizer {
    shutdown: CancellationToken,
    crash: CancellationToken,
    handle: JoinHandle<volspike_featurizer::Result<volspike_featurizer::Stats>>,
}

fn start_featurizer(cfg: &Config, instance: usize) -> Featurizer {
    let mut cfg = cfg.clone();
    cfg.featurizer.instance_id = format!("pipeline-{instance}");
    cfg.admin.listen = String::new();
    let shutdown = CancellationToken::new();
    let crash = CancellationToken::new();
    let handle = tokio::spawn(volspike_featurizer::run_until(
        cfg,
        shutdown.clone(),
        crash.clone(),
    ));
    Featurizer {
        shutdown,
        crash,
        handle,
    }
}

/// Runs the pipeline. `cfg.kafka.bootstrap` empty means the embedded Kafka.
pub async fn run(
    mut cfg: Config,
    files: Vec<PathBuf>,
    opts: PipelineOptions,
) -> anyhow::Result<PipelineOutput> {
    let broker = Broker::external_or_embedded(&cfg.kafka.bootstrap)?;
    cfg.kafka.bootstrap = broker.bootstrap().to_owned();
    if matches!(broker, Broker::Embedded(_)) && cfg.featurizer.transactions {
        // librdkafka's mock cluster never completes commit_transaction (seen
        // here: no return within 100 s despite a 30 s timeout). Without
        // transactions the featurizer still commits offsets only after their
        // output is delivered, and exact re-emissions are dropped by row key.
        tracing::info!(
            "embedded Kafka: featurizer transactions off (the mock cluster cannot commit them)"
        );
        cfg.featurizer.transactions = false;
    }
    broker
        .ensure_topics(
            &cfg,
            &[&cfg.topics.raw, &cfg.topics.features, &cfg.topics.dlq],
        )
        .await?;
    let input_end = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || end_offsets(&cfg, &cfg.topics.raw)).await??
    };
    if input_end.values().any(|&o| o > 0) {
        bail!(
            "topic {} already holds data: the pipeline compares what it sends with what comes out, so it needs fresh topics \
             (set topics.raw/features/dlq to new names, e.g. VOLSPIKE__TOPICS__RAW)",
            cfg.topics.raw
        );
    }

    let mut featurizers: Vec<Featurizer> = (0..opts.featurizers)
        .map(|i| start_featurizer(&cfg, i))
        .collect();

    let produce_cfg = cfg.clone();
    let counts = tokio::task::spawn_blocking(move || produce_input(&produce_cfg, &files)).await??;
    tracing::info!(
        lines = counts.lines,
        ticks = counts.ticks,
        "input sent; waiting for the featurizers"
    );

    let crashes = wait_for_featurizers(&cfg, &opts, &mut featurizers).await?;

    for f in &featurizers {
        f.shutdown.cancel();
    }
    for f in featurizers {
        let stats = f.handle.await.context("featurizer task")??;
        tracing::info!(?stats, "featurizer finished");
    }

    let read_cfg = cfg.clone();
    let (mut rows, dlq) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let rows = read_topic(&read_cfg, &read_cfg.topics.features, |bytes| {
            serde_json::from_slice::<FeatureRow>(bytes)
                .context("a ticks.features record is not a feature row")
        })?;
        let dlq = read_topic(&read_cfg, &read_cfg.topics.dlq, |_| Ok(()))?.len() as u64;
        Ok((rows, dlq))
    })
    .await??;
    let mut counts = counts;
    counts.reemitted = volspike_runtime::parquet::canonicalize(&mut rows)? as u64;
    counts.rows = rows.len() as u64;
    drop(broker);
    Ok(PipelineOutput {
        rows,
        counts,
        dlq,
        crashes,
    })
}

/// Sends every line of the recordings to the input topic.
fn produce_input(cfg: &Config, files: &[PathBuf]) -> anyhow::Result<Counts> {
    let producer: ThreadedProducer<Deliveries> =
        producer_config(&cfg.kafka, &cfg.kafka.bootstrap, "pipeline")
            .create_with_context(Deliveries::default())
            .context("creating the input producer")?;
    let mut counts = Counts {
        files: files.len(),
        ..Counts::default()
    };
    decode_files(files, |chunk| {
        send_chunk(&producer, cfg, files, &chunk, &mut counts)
    })?;
    producer
        .flush(Duration::from_secs(120))
        .context("flushing input")?;
    let failed = producer.context().failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!(
            "{failed} input messages were not delivered to {}",
            cfg.topics.raw
        );
    }
    Ok(counts)
}

fn send_chunk(
    producer: &ThreadedProducer<Deliveries>,
    cfg: &Config,
    files: &[PathBuf],
    chunk: &DecodedChunk,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let topic = cfg.topics.raw.as_str();
    for line in &chunk.lines {
        counts.line(line, files);
        let bytes = &chunk.bytes[line.bytes.clone()];
        match &line.result {
            Ok((LineKind::Control(_), _)) => {}
            Ok((LineKind::Ticker(_), range)) => {
                let ticks = &chunk.ticks[range.clone()];
                let Some(first) = ticks.first() else { continue };
                let ts = first.event_time_ns.div_euclid(1_000_000);
                if ticks.iter().all(|t| t.product_id == first.product_id) {
                    send(
                        producer,
                        BaseRecord::to(topic)
                            .key(first.product_id.as_bytes())
                            .payload(bytes)
                            .timestamp(ts),
                    )?;
                } else {
                    for t in ticks {
                        let mut v = serde_json::to_value(t)?;
                        v["schema_version"] = TICK_SCHEMA_VERSION.into();
                        let payload = serde_json::to_vec(&v)?;
                        let ts = t.event_time_ns.div_euclid(1_000_000);
                        send(
                            producer,
                            BaseRecord::to(topic)
                                .key(t.product_id.as_bytes())
                                .payload(&payload)
                                .timestamp(ts),
                        )?;
                    }
                }
            }
            // Unreadable lines travel too; the featurizer sends them to the DLQ.
            Err(_) => send(producer, BaseRecord::<[u8], [u8]>::to(topic).payload(bytes))?,
        }
    }
    Ok(())
}

fn send<K, P>(
    producer: &ThreadedProducer<Deliveries>,
    mut record: BaseRecord<'_, K, P>,
) -> anyhow::Result<()>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => bail!("producing input: {e}"),
        }
    }
}

/// Partition -> high watermark of a topic.
fn end_offsets(cfg: &Config, topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer: BaseConsumer =
        client_config(&cfg.kafka, &cfg.kafka.bootstrap, "pipeline-meta").create()?;
    let timeout = cfg.kafka.request_timeout;
    let meta = consumer
        .fetch_metadata(Some(topic), timeout)
        .context("fetching metadata")?;
    let mut out = BTreeMap::new();
    for t in meta.topics() {
        for p in t.partitions() {
            let (_, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
            out.insert(p.id(), high);
        }
    }
    Ok(out)
}

/// Fraction of the input the featurizer group has committed (0..=1).
fn committed_fraction(cfg: &Config, end: &BTreeMap<i32, i64>) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = consumer_config(
        &cfg.kafka,
        &cfg.kafka.bootstrap,
        "pipeline-progress",
        &cfg.featurizer.group_id,
    )
    .create()?;
    let mut tpl = TopicPartitionList::new();
    for &p in end.keys() {
        tpl.add_partition(&cfg.topics.raw, p);
    }
    let committed = consumer.committed_offsets(tpl, cfg.kafka.request_timeout)?;
    let total: i64 = end.values().sum();
    let mut done = 0i64;
    for el in committed.elements() {
        if let Offset::Offset(o) = el.offset() {
            done += o.min(end.get(&el.partition()).copied().unwrap_or(0));
        }
    }
    Ok(if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    })
}

async fn wait_for_featurizers(
    cfg: &Config,
    opts: &PipelineOptions,
    featurizers: &mut [Featurizer],
) -> anyhow::Result<u64> {
    let end = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || end_offsets(&cfg, &cfg.topics.raw)).await??
    };
    let deadline = Instant::now() + opts.timeout;
    let mut crashes = 0;
    let mut last_logged = Instant::now();
    loop {
        let c = cfg.clone();
        let e = end.clone();
        let fraction = tokio::task::spawn_blocking(move || committed_fraction(&c, &e)).await??;
        if fraction >= 1.0 {
            return Ok(crashes);
        }
        if let Some(at) = opts.crash_at
            && crashes == 0
            && fraction >= at
            && !featurizers.is_empty()
        {
            tracing::warn!(
                fraction,
                "crashing featurizer 0 (fault injection) and starting a replacement"
            );
            featurizers[0].crash.cancel();
            (&mut featurizers[0].handle)
                .await
                .context("crashed featurizer task")??;
            featurizers[0] = start_featurizer(cfg, 0);
            crashes += 1;
        }
        for (i, f) in featurizers.iter_mut().enumerate() {
            if f.handle.is_finished() {
                let why = match (&mut f.handle).await {
                    Ok(Ok(stats)) => format!("it returned early ({stats:?})"),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                bail!("featurizer {i} stopped before the input was processed: {why}");
            }
        }
        if Instant::now() > deadline {
            bail!(
                "featurizers processed {:.1}% of the input within {:?}",
                fraction * 100.0,
                opts.timeout
            );
        }
        if last_logged.elapsed() > Duration::from_secs(5) {
            tracing::info!(
                progress = format!("{:.1}%", fraction * 100.0),
                "waiting for the featurizers"
            );
            last_logged = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a topic from the beginning to its end (committed data only).
fn read_topic<T>(
    cfg: &Config,
    topic: &str,
    mut parse: impl FnMut(&[u8]) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let end = end_offsets(cfg, topic)?;
    let mut cc = consumer_config(
        &cfg.kafka,
        &cfg.kafka.bootstrap,
        "pipeline-reader",
        "volspike-pipeline-reader",
    );
    cc.set("enable.partition.eof", "true");
    let consumer: BaseConsumer = cc.create()?;
    let mut tpl = TopicPartitionList::new();
    for &p in end.keys() {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut at_end: BTreeMap<i32, bool> = end.iter().map(|(&p, &high)| (p, high == 0)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + cfg.kafka.request_timeout * 4;
    while at_end.values().any(|e| !e) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.push(parse(m.payload().unwrap_or_default())?);
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p, true);
            }
            Some(Err(e)) => tracing::warn!(error = %e, "reading {topic}"),
            None if Instant::now() > deadline => bail!("timed out reading {topic} to its end"),
            None => {}
        }
    }
    Ok(out)
}
