//! Running the worker: topics, the consumer of `ticks.features` and
//! `predictions`, the producer of `predictions.outcomes` and
//! `drift.reports`, the admin endpoints, champion polling and retrains.
//!
//! Offsets are stored only after a batch's outcomes and reports are
//! delivered (at least once; outcome ids are the prediction ids, so a
//! consumer can drop repeats). After a restart the joiner and the windows
//! start afresh from the committed offsets: predictions whose rows came
//! before are counted late, and the reference is calibrated again from the
//! archive (or gathered again from the stream).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use futures_util::FutureExt as _;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{Message as _, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use volspike_core::{FeatureRow, Prediction};
use volspike_mlflow::AnyRegistry;
use volspike_runtime::Config;
use volspike_runtime::admin::{self, Health};
use volspike_runtime::kafka::{consumer_config, producer_config, store_offsets_after};

use crate::http::{self, ExecuteReply, Request};
use crate::metrics_names as m;
use crate::report::{DriftRecord, Verdict};
use crate::retrain::{self, ChallengerHook, RetrainContext};
use crate::worker::{Shared, Worker};

/// Most input records handled between two waits for delivery.
const BATCH: usize = 2000;

/// Errors that stop the worker, by the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No broker, or a bad setting.
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// The registry could not be opened.
    #[error("registry: {0}")]
    Registry(#[from] volspike_mlflow::MlflowError),
    /// The topics could not be created.
    #[error("kafka: creating topics: {0:#}")]
    Topics(anyhow::Error),
    /// The admin server could not start.
    #[error("admin server: {0:#}")]
    Admin(anyhow::Error),
    /// A part failed while running.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// What a run did; `Display` is its one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Feature rows read.
    pub rows: u64,
    /// Predictions read.
    pub predictions: u64,
    /// Outcomes published.
    pub outcomes: u64,
    /// Windows judged.
    pub windows: u64,
    /// Retrains decided.
    pub retrains: u64,
    /// Challengers promoted.
    pub promotions: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "drift: rows={} predictions={} outcomes={} windows={} retrains={} promotions={}",
            self.rows,
            self.predictions,
            self.outcomes,
            self.windows,
            self.retrains,
            self.promotions
        )
    }
}

#[derive(Debug, Default)]
struct Counts {
    rows: AtomicU64,
    predictions: AtomicU64,
    outcomes: AtomicU64,
    windows: AtomicU64,
    retrains: AtomicU64,
    promotions: AtomicU64,
}

/// A running worker.
#[derive(Debug)]
pub struct Running {
    /// Where the admin endpoints are served, if enabled.
    pub admin_addr: Option<std::net::SocketAddr>,
    /// What the endpoints show.
    pub shared: Arc<Shared>,
    counts: Arc<Counts>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Waits until the worker stops.
    pub async fn wait(self) -> Result<Summary, Error> {
        let summary = self.counts.clone();
        let r = self
            .task
            .await
            .context("the drift worker task panicked")
            .and_then(|r| r);
        r.map_err(Error::Failed)?;
        Ok(summary.summary())
    }

    /// The worker has stopped (by shutdown, or on an error [`Running::wait`]
    /// returns).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The counts so far.
    pub fn counts(&self) -> Summary {
        self.counts.summary()
    }
}

impl Counts {
    fn summary(&self) -> Summary {
        Summary {
            rows: self.rows.load(Ordering::Relaxed),
            predictions: self.predictions.load(Ordering::Relaxed),
            outcomes: self.outcomes.load(Ordering::Relaxed),
            windows: self.windows.load(Ordering::Relaxed),
            retrains: self.retrains.load(Ordering::Relaxed),
            promotions: self.promotions.load(Ordering::Relaxed),
        }
    }
}

/// The topics the worker reads and writes.
pub fn topics(cfg: &Config) -> [&str; 5] {
    [
        &cfg.topics.features,
        &cfg.topics.predictions,
        &cfg.topics.outcomes,
        &cfg.topics.drift_reports,
        &cfg.topics.model_events,
    ]
}

/// Runs the worker until `shutdown`.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<Summary, Error> {
    start(cfg, shutdown).await?.wait().await
}

/// Starts the worker with the registry of `cfg.registry`.
pub async fn start(cfg: Config, shutdown: CancellationToken) -> Result<Running, Error> {
    let r = &cfg.registry;
    let registry = AnyRegistry::open(r.mlflow_uri.as_deref(), &r.dir, &r.experiment)?;
    start_with(cfg, registry, None, shutdown).await
}

/// Starts the worker on `registry`; `hook` changes each challenger before
/// it is checked (tests).
pub async fn start_with(
    cfg: Config,
    registry: AnyRegistry,
    hook: Option<ChallengerHook>,
    shutdown: CancellationToken,
) -> Result<Running, Error> {
    let bootstrap = cfg
        .kafka
        .broker("the drift worker")
        .map_err(|e| Error::Config(e.into()))?
        .to_owned();
    volspike_runtime::kafka::ensure_topics(&cfg, &bootstrap, &topics(&cfg))
        .await
        .map_err(Error::Topics)?;
    let registry = Arc::new(registry);
    let shared = Arc::new(Shared::default());
    let (requests_tx, requests) = mpsc::channel(16);
    let health = Health::default();
    let admin_addr = match cfg.admin.listen {
        Some(addr) => Some(
            admin::serve_with(
                addr,
                health.clone(),
                http::routes(
                    shared.clone(),
                    requests_tx,
                    cfg.drift
                        .retrain_token
                        .as_ref()
                        .map(|t| t.expose().to_owned()),
                ),
                shutdown.clone(),
            )
            .await
            .map_err(Error::Admin)?,
        ),
        None => None,
    };
    // Registered at 0 so that the promotion-refused alert and the dashboard
    // see every verdict before the first retrain.
    for v in Verdict::ALL {
        metrics::counter!(m::RETRAINS, "verdict" => v.name()).increment(0);
    }
    let mut worker =
        Worker::new(cfg.clone(), registry.clone(), shared.clone()).map_err(Error::Config)?;
    if let Err(e) = worker.refresh_champion().await {
        tracing::warn!(error = %format!("{e:#}"), "no champion yet; retrying every inference.model-poll");
    }
    let ctx = RetrainContext {
        cfg: cfg.clone(),
        registry,
        hook,
    };
    let counts = Arc::new(Counts::default());
    let task = tokio::spawn(run_loop(
        cfg,
        bootstrap,
        worker,
        ctx,
        requests,
        counts.clone(),
        health,
        shutdown,
    ));
    Ok(Running {
        admin_addr,
        shared,
        counts,
        task,
    })
}

#[allow(clippy::too_many_arguments)]
async fn run_loop(
    cfg: Config,
    bootstrap: String,
    mut worker: Worker,
    ctx: RetrainContext,
    mut requests: mpsc::Receiver<Request>,
    counts: Arc<Counts>,
    health: Health,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let d = &cfg.drift;
    let mut consumer_cfg = consumer_config(&cfg.kafka, &bootstrap, "drift", &d.group_id);
    consumer_cfg
        .set("auto.offset.reset", d.start_from.as_str())
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000");
    let consumer: StreamConsumer = consumer_cfg
        .create()
        .context("creating the drift worker's consumer")?;
    consumer
        .subscribe(&[&cfg.topics.features, &cfg.topics.predictions])
        .context("subscribing to ticks.features and predictions")?;
    let producer: FutureProducer = producer_config(&cfg.kafka, &bootstrap, "drift")
        .create()
        .context("creating the drift worker's producer")?;
    let out = Out {
        producer: &producer,
        cfg: &cfg,
    };
    let mut poll = tokio::time::interval(cfg.inference.model_poll);
    let mut retraining: Option<JoinHandle<retrain::Outcome>> = None;
    health.set_ready(true);
    tracing::info!(group = %d.group_id, "drift worker started");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = poll.tick() => {
                if let Err(e) = worker.refresh_champion().await {
                    tracing::warn!(error = %format!("{e:#}"), "reading the champion");
                }
            }
            Some(req) = requests.recv() => match req {
                Request::Check(reply) => {
                    let _ = reply.send(worker.check(false));
                }
                Request::Execute(reply) => {
                    let check = worker.check(true);
                    let answer = if retraining.is_some() {
                        ExecuteReply { started: None, reason: Some("a retrain is running".into()), check }
                    } else if !check.retrain {
                        ExecuteReply { started: None, reason: Some(check.blocked.join("; ")), check }
                    } else {
                        let req = worker.start_retrain(vec![crate::report::trigger_text(&volspike_drift::policy::Trigger::Manual)], None)?;
                        let seq = req.seq;
                        retraining = Some(spawn_retrain(&ctx, req));
                        ExecuteReply { started: Some(seq), reason: None, check }
                    };
                    let _ = reply.send(answer);
                }
            },
            done = async { retraining.as_mut().expect("guarded").await }, if retraining.is_some() => {
                retraining = None;
                let o = done.context("the retrain task panicked")?;
                out.report(&DriftRecord::Decision(o.decision.clone())).await?;
                counts.retrains.fetch_add(1, Ordering::Relaxed);
                if o.promoted.is_some() {
                    counts.promotions.fetch_add(1, Ordering::Relaxed);
                }
                worker.finish_retrain(&o).await?;
            }
            first = consumer.recv() => {
                let first = match first {
                    Ok(msg) => msg.detach(),
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the input topics; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match consumer.recv().now_or_never() {
                        Some(Ok(msg)) => batch.push(msg.detach()),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "reading the input topics; retrying");
                            break;
                        }
                        None => break,
                    }
                }
                let mut due = None;
                let mut deliveries = Vec::new();
                for msg in &batch {
                    let produced = if msg.topic() == cfg.topics.features {
                        let Some(row) = decode::<FeatureRow>(msg) else { continue };
                        worker.note_offset(msg.partition(), msg.offset() + 1);
                        counts.rows.fetch_add(1, Ordering::Relaxed);
                        worker.push_row(row)?
                    } else {
                        let Some(p) = decode::<Prediction>(msg) else { continue };
                        counts.predictions.fetch_add(1, Ordering::Relaxed);
                        worker.push_prediction(p).await?
                    };
                    for o in &produced.outcomes {
                        deliveries.push(out.outcome(o)?);
                    }
                    for r in produced.reports {
                        counts.windows.fetch_add(1, Ordering::Relaxed);
                        deliveries.push(out.queue_report(&DriftRecord::Window(r))?);
                    }
                    // The first window that made a retrain due.
                    if due.is_none() {
                        due = produced.retrain_due;
                    }
                }
                worker.end_batch()?;
                let outcomes = deliveries.iter().filter(|d| d.1).count() as u64;
                for (d, _) in deliveries {
                    match d.await {
                        Ok(Ok(_)) => {}
                        Ok(Err((e, _))) => anyhow::bail!("publishing an outcome or a report: {e}"),
                        Err(_) => anyhow::bail!("the producer dropped an outcome or a report"),
                    }
                }
                counts.outcomes.fetch_add(outcomes, Ordering::Relaxed);
                store_offsets_after(&consumer, &batch)?;
                if let (Some((triggers, until_ns)), None) = (due, &retraining) {
                    let req = worker.start_retrain(triggers, Some(until_ns))?;
                    retraining = Some(spawn_retrain(&ctx, req));
                }
            }
        }
    }
    health.set_ready(false);
    if let Some(r) = retraining {
        r.abort();
        tracing::warn!("a retrain was running at shutdown and is abandoned");
    }
    worker.flush().context("writing the archive's open hours")?;
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::warn!(error = %e, "committing offsets at shutdown");
    }
    let c = worker.outcome_counts();
    tracing::info!(?c, "drift worker stopped");
    Ok(())
}

fn spawn_retrain(
    ctx: &RetrainContext,
    req: retrain::RetrainRequest,
) -> JoinHandle<retrain::Outcome> {
    let ctx = ctx.clone();
    tokio::spawn(async move { retrain::run(&ctx, req).await })
}

type Delivery = (rdkafka::producer::DeliveryFuture, bool);

struct Out<'a> {
    producer: &'a FutureProducer,
    cfg: &'a Config,
}

impl Out<'_> {
    fn outcome(&self, o: &volspike_core::PredictionOutcome) -> anyhow::Result<Delivery> {
        let payload = serde_json::to_vec(o).context("encoding an outcome")?;
        let d = self
            .producer
            .send_result(
                FutureRecord::to(&self.cfg.topics.outcomes)
                    .key(o.product_id.as_str())
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)
            .context("queueing an outcome")?;
        Ok((d, true))
    }

    fn queue_report(&self, r: &DriftRecord) -> anyhow::Result<Delivery> {
        let payload = serde_json::to_vec(r).context("encoding a drift report")?;
        let d = self
            .producer
            .send_result(
                FutureRecord::to(&self.cfg.topics.drift_reports)
                    .key(self.cfg.registry.model_name.as_str())
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)
            .context("queueing a drift report")?;
        Ok((d, false))
    }

    async fn report(&self, r: &DriftRecord) -> anyhow::Result<()> {
        match self.queue_report(r)?.0.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => anyhow::bail!("publishing a drift report: {e}"),
            Err(_) => anyhow::bail!("the producer dropped a drift report"),
        }
    }
}

/// The record in `msg`, or `None` (counted and logged) when it is not one.
fn decode<T: serde::de::DeserializeOwned>(msg: &OwnedMessage) -> Option<T> {
    match serde_json::from_slice::<T>(msg.payload().unwrap_or_default()) {
        Ok(r) => Some(r),
        Err(e) => {
            metrics::counter!(m::UNREADABLE, "topic" => msg.topic().to_owned()).increment(1);
            tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), error = %e, "skipping an unreadable record");
            None
        }
    }
}
