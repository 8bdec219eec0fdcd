//! `volspike pipeline`: the live path, fed by recordings or by the ingestor.
//!
//! Input -> `ticks.raw` -> featurizer service(s) -> `ticks.features` ->
//! parquet, on the embedded Kafka unless a broker is given. The input is
//! either recordings ([`Input::Recordings`]) or the ingestor reading a feed
//! ([`Input::Ingestor`]: the exchange simulator or Coinbase, as the demo
//! runs it). From recordings each line goes to
//! `ticks.raw` as it was recorded (keyed by its product), so the featurizer
//! decodes the very bytes `volspike replay` decodes; a line with tickers of
//! several products is split into one normalized record per tick so that each
//! product's ticks stay in order on one partition. Unreadable lines are sent
//! too: the featurizer must route them to `ticks.dlq`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use volspike_core::{FeatureRow, LineKind, TICK_SCHEMA_VERSION};
use volspike_runtime::kafka::{
    DeliveryCounter, TopicReader, client_config, consumer_config, producer_config,
    send_with_backpressure,
};
use volspike_runtime::{Broker, Config};

use volspike_replay::Counts;
use volspike_replay::recordings::{DecodedChunk, decode_files};

/// What feeds `ticks.raw`.
#[derive(Debug, Clone)]
pub enum Input {
    /// Every line of these recordings, in order.
    Recordings(Vec<PathBuf>),
    /// The ingestor service reading the feed configured in `cfg.ingestor`
    /// until it stops by `opts` or `shutdown`.
    Ingestor {
        /// Duration and tick limit of the run (the journal is
        /// `cfg.ingestor.journal-dir`).
        opts: volspike_ingestor::RunOptions,
        /// Stops the ingestor early (e.g. on SIGINT).
        shutdown: CancellationToken,
    },
}

/// Called with each feature row as it is read back from `ticks.features`.
#[derive(Clone)]
pub struct RowObserver(pub Arc<dyn Fn(&FeatureRow) + Send + Sync>);

impl std::fmt::Debug for RowObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowObserver")
    }
}

/// How the pipeline runs its featurizers.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// In-process featurizer instances; 0 means they run elsewhere (e.g.
    /// separate processes in `scripts/e2e.sh`) and the pipeline only feeds
    /// input and collects output.
    pub featurizers: usize,
    /// Fault injection for tests: once this many input messages are
    /// committed, featurizer 0 is dropped without shutdown (no commit, no
    /// abort) and a new instance with the same id takes over.
    pub crash_after: Option<i64>,
    /// Longest wait for the featurizers to finish the input.
    pub timeout: Duration,
    /// Sees every feature row as it arrives (duplicates after a crash
    /// included), before the rows are put in canonical order.
    pub on_row: Option<RowObserver>,
    /// Runs the inference server on the same broker while the pipeline
    /// runs, scoring `ticks.features` live.
    pub serve: Option<ServeOptions>,
    /// Runs the drift worker on the same broker: it watches the features
    /// and the server's predictions, and retrains and promotes in the
    /// server's registry.
    pub drift: Option<DriftOptions>,
}

/// The inference server inside a pipeline run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Local registry holding the champion to serve.
    pub registry: std::path::PathBuf,
    /// Print each alert as it is raised, and each change of the model
    /// that scores.
    pub print_events: bool,
}

/// The drift worker inside a pipeline run; it works as `cfg.drift` says.
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// Local registry whose champion it watches and where it registers and
    /// promotes challengers (the server's).
    pub registry: std::path::PathBuf,
    /// Where its admin endpoints and `/drift` page listen (`None`: off).
    pub admin: Option<std::net::SocketAddr>,
    /// Print its reference, windows, retrains and decisions as they happen.
    pub print: bool,
}

/// What the drift worker did during a pipeline run.
#[derive(Debug, Clone)]
pub struct DriftSummary {
    /// Where its admin endpoints listened, if they did.
    pub admin_addr: Option<std::net::SocketAddr>,
    /// Its counts.
    pub summary: volspike_drift_worker::Summary,
    /// What its endpoints showed at the end.
    pub status: volspike_drift_worker::worker::Status,
}

/// What the inference server did during a pipeline run.
#[derive(Debug, Clone)]
pub struct InferenceSummary {
    /// Where it answered gRPC.
    pub grpc_addr: std::net::SocketAddr,
    /// The model it served at the end, if any.
    pub model: Option<volspike_core::ModelId>,
    /// Feature rows it read.
    pub rows: u64,
    /// Predictions published.
    pub predictions: u64,
    /// Alerts published.
    pub alerts: u64,
    /// The alerts on `alerts.volatility` at the end, as users got them.
    pub published_alerts: Vec<volspike_core::Alert>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            featurizers: 1,
            crash_after: None,
            timeout: Duration::from_secs(600),
            on_row: None,
            serve: None,
            drift: None,
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
    /// What the ingestor did, when it was the input.
    pub ingest: Option<volspike_ingestor::Summary>,
    /// What the inference server did, when one ran.
    pub inference: Option<InferenceSummary>,
    /// What the drift worker did, when it ran.
    pub drift: Option<DriftSummary>,
}

struct Featurizer {
    shutdown: CancellationToken,
    crash: CancellationToken,
    handle: JoinHandle<volspike_featurizer::Result<volspike_featurizer::Summary>>,
}

fn start_featurizer(cfg: &Config, instance: usize) -> Featurizer {
    let mut cfg = cfg.clone();
    cfg.featurizer.instance_id = format!("pipeline-{instance}");
    cfg.admin.listen = None;
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

/// Most input messages sent ahead of what the featurizers have committed,
/// and most output records written ahead of what the pipeline has read back.
/// librdkafka's mock cluster keeps only about 5 MB per partition and drops
/// the oldest data beyond that (feature rows take about 160 bytes each
/// compressed, so about 30,000 rows), so on the embedded Kafka neither side
/// may run far ahead; a dropped record is reported as an error, never skipped.
const MAX_AHEAD_EMBEDDED: i64 = 10_000;
/// The same bound on a real broker, where it only limits the backlog.
const MAX_AHEAD_EXTERNAL: i64 = 200_000;

/// Runs the pipeline. No `cfg.kafka.bootstrap` means the embedded Kafka.
pub async fn run(
    mut cfg: Config,
    input: Input,
    opts: PipelineOptions,
) -> anyhow::Result<PipelineOutput> {
    let broker = Arc::new(Broker::external_or_embedded(
        cfg.kafka.bootstrap.as_deref(),
    )?);
    cfg.kafka.bootstrap = Some(broker.bootstrap().to_owned());
    let embedded = matches!(*broker, Broker::Embedded(_));
    if embedded {
        // The mock cluster holds an empty fetch for the full wait even when
        // data arrives meanwhile; at the default 500 ms that paced the whole
        // pipeline (12k ticks/s with the CPU mostly idle).
        cfg.kafka.fetch_max_wait = cfg.kafka.fetch_max_wait.min(Duration::from_millis(5));
    }
    if embedded && cfg.featurizer.transactions {
        // librdkafka's mock cluster never completes commit_transaction (seen
        // here: no return within 100 s despite a 30 s timeout). Without
        // transactions the featurizer still commits offsets only after their
        // output is delivered, and exact re-emissions are dropped by row key.
        tracing::info!(
            "embedded Kafka: featurizer transactions off (the mock cluster cannot commit them)"
        );
        cfg.featurizer.transactions = false;
    }
    // The services create their topics if missing, but the embedded Kafka
    // has no CreateTopics API: it gets them here.
    let t = &cfg.topics;
    broker
        .ensure_topics(&cfg, &[&t.raw, &t.features, &t.dlq, &t.events])
        .await?;
    let server = match &opts.serve {
        Some(serve) => Some(start_server(&cfg, &broker, serve).await?),
        None => None,
    };
    let worker = match &opts.drift {
        Some(drift) => Some(start_worker(&cfg, &broker, drift).await?),
        None => None,
    };
    let input_end = blocking(&cfg, |cfg| end_offsets(cfg, &cfg.topics.raw)).await?;
    if input_end.values().any(|&o| o > 0) {
        bail!(
            "topic {} already holds data: the pipeline compares what it sends with what comes out, so it needs fresh topics \
             (set topics.raw/features/dlq to new names, e.g. VOLSPIKE__TOPICS__RAW)",
            cfg.topics.raw
        );
    }
    let partitions: Vec<i32> = input_end.keys().copied().collect();
    let deadline = Instant::now() + opts.timeout;

    let mut featurizers: Vec<Featurizer> = (0..opts.featurizers)
        .map(|i| start_featurizer(&cfg, i))
        .collect();
    let finish = Arc::new(AtomicBool::new(false));
    // Records of ticks.features read back so far (sum of next offsets).
    let output_read = Arc::new(AtomicI64::new(0));
    let collector = {
        let (cfg, finish) = (cfg.clone(), Arc::clone(&finish));
        let read = Arc::clone(&output_read);
        let on_row = opts.on_row.clone();
        tokio::task::spawn_blocking(move || collect_output(&cfg, &finish, &read, deadline, on_row))
    };
    let mut producer: Option<InputTask> = match input {
        Input::Recordings(files) => {
            let (cfg, parts, read) = (cfg.clone(), partitions.clone(), Arc::clone(&output_read));
            let max_ahead = if embedded {
                MAX_AHEAD_EMBEDDED
            } else {
                MAX_AHEAD_EXTERNAL
            };
            Some(tokio::task::spawn_blocking(move || {
                produce_input(&cfg, &files, &parts, &read, max_ahead, deadline).map(|c| (c, None))
            }))
        }
        Input::Ingestor { opts, shutdown } => {
            let cfg = cfg.clone();
            Some(tokio::spawn(async move {
                let report = volspike_ingestor::run_with(cfg.clone(), opts, shutdown).await?;
                if !report.undelivered.is_empty() {
                    bail!(
                        "the ingestor could not deliver frames {:?} to {}",
                        report.undelivered.ranges(),
                        cfg.topics.raw
                    );
                }
                Ok((ingest_counts(&report), Some(report)))
            }))
        }
    };

    let progress = blocking(&cfg, {
        let parts = partitions.clone();
        move |cfg| Progress::new(cfg, &parts)
    })
    .await?;
    let progress = Arc::new(progress);
    let mut counts = None;
    let mut ingest = None;
    let mut sent_total = None;
    let mut crashes = 0;
    let mut last_logged = Instant::now();
    let mut committed = 0;
    loop {
        // A broker that cannot answer for a moment (a restart, its group
        // coordinator loading) leaves the last count; the deadline below
        // still bounds the wait.
        let read = {
            let p = Arc::clone(&progress);
            tokio::task::spawn_blocking(move || p.committed()).await?
        };
        match read {
            Ok(c) => committed = c,
            Err(e) => tracing::debug!(error = %e, "reading the featurizers' progress; retrying"),
        }
        if let Some(total) = sent_total
            && committed >= total
        {
            break;
        }
        if producer.as_ref().is_some_and(JoinHandle::is_finished) {
            let (c, report) = producer
                .take()
                .expect("checked above")
                .await
                .context("input producer task")??;
            tracing::info!(
                lines = c.lines,
                ticks = c.ticks,
                "input sent; waiting for the featurizers"
            );
            counts = Some(c);
            ingest = report;
            sent_total = Some(
                blocking(&cfg, |cfg| end_offsets(cfg, &cfg.topics.raw))
                    .await?
                    .values()
                    .sum::<i64>(),
            );
            continue;
        }
        if let Some(n) = opts.crash_after
            && crashes == 0
            && committed >= n
            && !featurizers.is_empty()
        {
            tracing::warn!(
                committed,
                "crashing featurizer 0 (fault injection) and starting a replacement"
            );
            featurizers[0].crash.cancel();
            (&mut featurizers[0].handle)
                .await
                .context("crashed featurizer task")??;
            featurizers[0] = start_featurizer(&cfg, 0);
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
                "featurizers committed {committed} input messages within {:?}, not all",
                opts.timeout
            );
        }
        if last_logged.elapsed() > Duration::from_secs(5) {
            tracing::info!(committed, "waiting for the featurizers");
            last_logged = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for f in &featurizers {
        f.shutdown.cancel();
    }
    let mut skipped = 0;
    for f in featurizers {
        let stats = f.handle.await.context("featurizer task")??;
        tracing::info!(?stats, "featurizer finished");
        skipped += stats.offsets_skipped;
    }
    if skipped > 0 {
        bail!(
            "the featurizers jumped over {skipped} input offsets: the broker dropped input before it was read"
        );
    }
    finish.store(true, Ordering::Relaxed);
    let (mut rows, dlq) = collector.await.context("output collector task")??;
    let mut counts = counts.expect("the producer finished before the loop ended");
    counts.reemitted = volspike_replay::parquet::canonicalize(&mut rows)? as u64;
    counts.rows = rows.len() as u64;
    // A retrain the worker is running may still promote a model the
    // server should switch to: let it finish before the server stops.
    if let Some((running, _)) = &worker {
        settle_worker(running, rows.len() as u64).await;
    }
    let inference = match server {
        Some((running, stop)) => Some(stop_server(&cfg, running, stop, rows.len() as u64).await?),
        None => None,
    };
    let drift = match worker {
        Some((running, stop)) => {
            let published = inference.as_ref().map(|i| i.predictions);
            Some(stop_worker(running, stop, published).await?)
        }
        None => None,
    };
    // Every client before the embedded broker, which complains otherwise.
    drop(progress);
    drop(broker);
    Ok(PipelineOutput {
        rows,
        counts,
        dlq,
        crashes,
        ingest,
        inference,
        drift,
    })
}

/// Starts the inference server on the pipeline's broker, serving the
/// champion of a local registry, reading `ticks.features` from the start.
async fn start_server(
    cfg: &Config,
    broker: &Broker,
    serve: &ServeOptions,
) -> anyhow::Result<(volspike_inference::Running, CancellationToken)> {
    let mut cfg = cfg.clone();
    cfg.inference.start_from = volspike_runtime::config::StartFrom::Earliest;
    cfg.inference.score_live = true;
    // One process, one metrics registry: the admin server the ingestor or
    // pipeline already runs shows the inference metrics too.
    cfg.admin.listen = None;
    broker
        .ensure_topics(
            &cfg,
            &[
                &cfg.topics.predictions,
                &cfg.topics.alerts,
                &cfg.topics.model_events,
            ],
        )
        .await?;
    let stop = CancellationToken::new();
    let registry = volspike_model::registry::LocalRegistry::new(&serve.registry);
    let running = volspike_inference::start_with(cfg, registry, stop.clone()).await?;
    if serve.print_events {
        let mut events = running.state.events.subscribe();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            use volspike_core::time::format_timestamp;
            use volspike_inference::live::LiveEvent;
            let mut scoring: Option<volspike_core::ModelId> = None;
            loop {
                match events.recv().await {
                    Ok(e) => match &*e {
                        LiveEvent::Alert(a) => println!(
                            "ALERT {} {} probability {:.3} >= {:.3} ({})",
                            a.product_id,
                            format_timestamp(a.event_time_ns),
                            a.probability,
                            a.threshold,
                            a.model
                        ),
                        LiveEvent::Scored(p) if scoring.as_ref() != Some(&p.model) => {
                            match &scoring {
                                None => println!(
                                    "PREDICTIONS by {} from {}",
                                    p.model,
                                    format_timestamp(p.event_time_ns)
                                ),
                                Some(before) => println!(
                                    "PREDICTIONS now by {} (was {}) from {}",
                                    p.model,
                                    before,
                                    format_timestamp(p.event_time_ns)
                                ),
                            }
                            scoring = Some(p.model.clone());
                        }
                        LiveEvent::Scored(_) => {}
                    },
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
    Ok((running, stop))
}

/// Starts the drift worker on the pipeline's broker, watching the
/// champion of a local registry, reading from the start.
async fn start_worker(
    cfg: &Config,
    broker: &Broker,
    drift: &DriftOptions,
) -> anyhow::Result<(volspike_drift_worker::Running, CancellationToken)> {
    let mut cfg = cfg.clone();
    cfg.drift.start_from = volspike_runtime::config::StartFrom::Earliest;
    cfg.admin.listen = drift.admin;
    broker
        .ensure_topics(&cfg, &volspike_drift_worker::topics(&cfg))
        .await?;
    let stop = CancellationToken::new();
    let registry = volspike_mlflow::AnyRegistry::Local(
        volspike_model::registry::LocalRegistry::new(&drift.registry),
    );
    let running = volspike_drift_worker::start_with(cfg, registry, None, stop.clone()).await?;
    if drift.print {
        if let Some(addr) = running.admin_addr {
            println!(
                "DRIFT the worker's page: http://{addr}/drift (JSON: /drift/summary, /retrain/status)"
            );
        }
        tokio::spawn(crate::drift_printer::print(
            running.shared.clone(),
            stop.clone(),
        ));
    }
    Ok((running, stop))
}

/// Waits (at most 10 minutes) until the worker has read `rows` feature
/// rows and no retrain is running, or it has stopped (its error comes from
/// [`stop_worker`]).
async fn settle_worker(running: &volspike_drift_worker::Running, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !running.is_finished() {
        let read = running.counts().rows;
        let retraining = running.shared.snapshot().running.is_some();
        if read >= rows && !retraining {
            return;
        }
        if Instant::now() > deadline {
            tracing::warn!(
                read,
                rows,
                retraining,
                "the drift worker did not settle in 10 minutes"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the worker once it has read the `published` predictions (or made
/// no progress for 5 s).
async fn stop_worker(
    running: volspike_drift_worker::Running,
    stop: CancellationToken,
    published: Option<u64>,
) -> anyhow::Result<DriftSummary> {
    let (mut last, mut since) = (u64::MAX, Instant::now());
    while since.elapsed() < Duration::from_secs(5) && !running.is_finished() {
        let seen = running.counts().predictions;
        if published.is_some_and(|p| seen >= p) {
            break;
        }
        if seen != last {
            (last, since) = (seen, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = running.shared.snapshot();
    let admin_addr = running.admin_addr;
    stop.cancel();
    let summary = running.wait().await?;
    Ok(DriftSummary {
        admin_addr,
        summary,
        status,
    })
}

/// Lets the server score the last rows (at least `rows` read, or no
/// progress for 5 s), then stops it.
async fn stop_server(
    cfg: &Config,
    running: volspike_inference::Running,
    stop: CancellationToken,
    rows: u64,
) -> anyhow::Result<InferenceSummary> {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = &running.state.counts;
    let (mut last, mut since) = (u64::MAX, Instant::now());
    while counts.rows.load(Relaxed) < rows && since.elapsed() < Duration::from_secs(5) {
        let now = counts.rows.load(Relaxed);
        if now != last {
            (last, since) = (now, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary = InferenceSummary {
        grpc_addr: running.grpc_addr,
        model: running.state.slot.current().map(|m| m.id.clone()),
        rows: counts.rows.load(Relaxed),
        predictions: counts.predictions.load(Relaxed),
        alerts: counts.alerts.load(Relaxed),
        published_alerts: Vec::new(),
    };
    stop.cancel();
    running.wait().await?;
    let topic = cfg.topics.alerts.clone();
    let published_alerts = blocking(cfg, move |cfg| {
        let mut out = Vec::new();
        volspike_runtime::kafka::read_partitions(
            cfg,
            &topic,
            |_, low, _| low,
            Duration::from_secs(30),
            |m| {
                use rdkafka::message::Message as _;
                if let Ok(a) = serde_json::from_slice(m.payload().unwrap_or_default()) {
                    out.push(a);
                }
            },
        )?;
        Ok(out)
    })
    .await
    .context("reading alerts.volatility back")?;
    Ok(InferenceSummary {
        published_alerts,
        ..summary
    })
}

/// The task feeding `ticks.raw`: its counts, and the ingestor's report
/// when the ingestor was the input.
type InputTask = JoinHandle<anyhow::Result<(Counts, Option<volspike_ingestor::Summary>)>>;

/// The input counts of an ingestor run: frames as lines.
fn ingest_counts(r: &volspike_ingestor::Summary) -> Counts {
    Counts {
        lines: r.frames,
        ticks: r.ticks,
        invalid: r.dlq.clone(),
        ..Counts::default()
    }
}

/// Runs a blocking Kafka call on the blocking pool.
async fn blocking<T: Send + 'static>(
    cfg: &Config,
    f: impl FnOnce(&Config) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || f(&cfg)).await?
}

/// Reads how far the featurizer group has committed on the input topic.
struct Progress {
    consumer: BaseConsumer,
    tpl: TopicPartitionList,
    output_topic: String,
    output_partitions: Vec<i32>,
    timeout: Duration,
}

impl Progress {
    fn new(cfg: &Config, partitions: &[i32]) -> anyhow::Result<Progress> {
        let consumer: BaseConsumer = consumer_config(
            &cfg.kafka,
            cfg.kafka.broker("the pipeline")?,
            "pipeline-progress",
            &cfg.featurizer.group_id,
        )
        .create()?;
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(&cfg.topics.raw, p);
        }
        Ok(Progress {
            consumer,
            tpl,
            output_topic: cfg.topics.features.clone(),
            output_partitions: end_offsets(cfg, &cfg.topics.features)?
                .into_keys()
                .collect(),
            timeout: cfg.kafka.request_timeout,
        })
    }

    /// Records written to the output topic so far (sum of high watermarks).
    fn output_written(&self) -> anyhow::Result<i64> {
        let mut total = 0;
        for &p in &self.output_partitions {
            total += self
                .consumer
                .fetch_watermarks(&self.output_topic, p, self.timeout)?
                .1;
        }
        Ok(total)
    }

    /// Sum of committed input offsets: messages whose output is confirmed.
    fn committed(&self) -> anyhow::Result<i64> {
        let c = self
            .consumer
            .committed_offsets(self.tpl.clone(), self.timeout)?;
        Ok(c.elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .sum())
    }
}

/// Sends every line of the recordings to the input topic, never more than
/// `max_ahead` messages ahead of what the featurizers have committed, and
/// pausing while the output not yet read back exceeds the same bound.
fn produce_input(
    cfg: &Config,
    files: &[PathBuf],
    partitions: &[i32],
    output_read: &AtomicI64,
    max_ahead: i64,
    deadline: Instant,
) -> anyhow::Result<Counts> {
    let producer: ThreadedProducer<DeliveryCounter> =
        producer_config(&cfg.kafka, cfg.kafka.broker("the pipeline")?, "pipeline")
            .create_with_context(DeliveryCounter::default())
            .context("creating the input producer")?;
    let progress = Progress::new(cfg, partitions)?;
    let mut counts = Counts {
        files: files.len(),
        ..Counts::default()
    };
    let mut sent = 0i64;
    decode_files(files, |chunk| {
        sent += send_chunk(&producer, cfg, files, &chunk, &mut counts)?;
        // Progress is read from the broker, which may be briefly unable to
        // answer (its group coordinator loading, a restart): that is a
        // reason to wait, not to fail; only the deadline ends the wait.
        let mut last_error = None;
        loop {
            let ahead = progress.committed().and_then(|committed| {
                let unread = progress.output_written()? - output_read.load(Ordering::Relaxed);
                Ok(sent - committed > max_ahead || unread > max_ahead)
            });
            match ahead {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "reading the featurizers' progress; retrying");
                    last_error = Some(e);
                }
            }
            if Instant::now() > deadline {
                match last_error {
                    Some(e) => bail!("the featurizers stopped making progress (last error: {e:#})"),
                    None => bail!("the featurizers stopped making progress"),
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    })?;
    volspike_runtime::kafka::flush(&producer, Duration::from_secs(120))
        .context("flushing input")?;
    let failed = producer.context().failed();
    if failed > 0 {
        bail!(
            "{failed} input messages were not delivered to {}",
            cfg.topics.raw
        );
    }
    Ok(counts)
}

fn send_chunk(
    producer: &ThreadedProducer<DeliveryCounter>,
    cfg: &Config,
    files: &[PathBuf],
    chunk: &DecodedChunk,
    counts: &mut Counts,
) -> anyhow::Result<i64> {
    let topic = cfg.topics.raw.as_str();
    let mut sent = 0;
    for line in &chunk.lines {
        counts.line(line, files);
        let bytes = &chunk.bytes[line.bytes.clone()];
        match &line.result {
            Ok((LineKind::Control(_), _)) => {}
            Ok((LineKind::Ticker(_), range)) => {
                let ticks = &chunk.ticks[range.clone()];
                let Some(first) = ticks.first() else { continue };
                // Records carry the time they are sent (the producer's
                // default), not the recording's: a months-old recording's
                // times would put its records past the topic's retention.
                if ticks.iter().all(|t| t.product_id == first.product_id) {
                    sent += send(
                        producer,
                        BaseRecord::to(topic)
                            .key(first.product_id.as_bytes())
                            .payload(bytes),
                    )?;
                } else {
                    for t in ticks {
                        let mut v = serde_json::to_value(t)?;
                        v["schema_version"] = TICK_SCHEMA_VERSION.into();
                        let payload = serde_json::to_vec(&v)?;
                        sent += send(
                            producer,
                            BaseRecord::to(topic)
                                .key(t.product_id.as_bytes())
                                .payload(&payload),
                        )?;
                    }
                }
            }
            // Unreadable lines travel too; the featurizer sends them to the DLQ.
            Err(_) => sent += send(producer, BaseRecord::<[u8], [u8]>::to(topic).payload(bytes))?,
        }
    }
    Ok(sent)
}

fn send<K, P>(
    producer: &ThreadedProducer<DeliveryCounter>,
    record: BaseRecord<'_, K, P>,
) -> anyhow::Result<i64>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    send_with_backpressure(producer, record).context("producing input")?;
    Ok(1)
}

/// Partition -> high watermark of a topic.
fn end_offsets(cfg: &Config, topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer: BaseConsumer = client_config(
        &cfg.kafka,
        cfg.kafka.broker("the pipeline")?,
        "pipeline-meta",
    )
    .create()?;
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

/// Collects `ticks.features` and `ticks.dlq` while the pipeline runs; once
/// `finish` is set (all input committed, featurizers stopped) reads both to
/// their end and returns the rows and the DLQ count.
fn collect_output(
    cfg: &Config,
    finish: &AtomicBool,
    read: &AtomicI64,
    deadline: Instant,
    on_row: Option<RowObserver>,
) -> anyhow::Result<(Vec<FeatureRow>, u64)> {
    let from_start = |_, low, _| low;
    let timeout = cfg.kafka.request_timeout;
    let mut features = TopicReader::new(cfg, &cfg.topics.features, from_start, timeout)?;
    let mut dlq = TopicReader::new(cfg, &cfg.topics.dlq, from_start, timeout)?;
    let mut rows = Vec::new();
    let mut dead_letters = 0u64;
    let mut finishing = false;
    loop {
        // Drain what is there without waiting, then wait briefly once.
        let mut got = 0;
        for _ in 0..10_000 {
            let before = rows.len() as u64 + dead_letters;
            features.poll(Duration::ZERO, |m| {
                let row = serde_json::from_slice::<FeatureRow>(m.payload().unwrap_or_default())
                    .context("a ticks.features record is not a feature row")?;
                if let Some(f) = &on_row {
                    (f.0)(&row);
                }
                rows.push(row);
                Ok(())
            })?;
            dlq.poll(Duration::ZERO, |_| {
                dead_letters += 1;
                Ok(())
            })?;
            if rows.len() as u64 + dead_letters == before {
                break;
            }
            got += 1;
        }
        read.store(features.position(), Ordering::Relaxed);
        if got == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !finishing && finish.load(Ordering::Relaxed) {
            features.mark_end()?;
            dlq.mark_end()?;
            finishing = true;
        }
        if finishing && features.done() && dlq.done() {
            return Ok((rows, dead_letters));
        }
        if Instant::now() > deadline + Duration::from_secs(60) {
            bail!("timed out reading the output topics");
        }
    }
}
