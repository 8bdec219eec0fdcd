//! Live scoring: every row of `ticks.features` is scored with the served
//! model; the prediction goes to `predictions`, a crossing of the threshold
//! (the model's alert policy, see [`LiveAlerts`]) to `alerts.volatility`, and both to
//! `WatchScores` subscribers. The latest row per product is kept for
//! `GetScore`.
//!
//! Records hold only what the row and the model determine, and alerts depend
//! on event time only, so replaying the same features gives the same records.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Context as _;
use futures_util::FutureExt as _;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use volspike_core::{
    Alert, FEATURE_NAMES, FeatureRow, LATENCY_HEADER, ModelId, Prediction, SCORING_SCHEMA_VERSION,
    prediction_id,
};
use volspike_model::alerts::AlertEngine;
use volspike_runtime::Config;
use volspike_runtime::kafka::{consumer_config, producer_config, store_offsets_after};

use crate::metrics_names as m;
use crate::model::{LoadedModel, ModelSlot};

/// The latest row of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestRow {
    /// Event time, ns.
    pub event_time_ns: i64,
    /// Tie index.
    pub tie: u32,
    /// Every feature, in [`FEATURE_NAMES`] order.
    pub values: [Option<f64>; FEATURE_NAMES.len()],
    /// Every feature window was complete.
    pub warm: bool,
}

/// The latest row per product, for `GetScore`.
#[derive(Debug, Default)]
pub struct LatestRows(RwLock<HashMap<String, LatestRow>>);

impl LatestRows {
    /// Keeps `row` if it is newer than what is kept for its product.
    pub fn update(&self, row: &FeatureRow) {
        let mut map = self.0.write().expect("latest rows lock");
        let newer = map
            .get(row.product_id.as_str())
            .is_none_or(|r| (row.event_time_ns, row.tie) >= (r.event_time_ns, r.tie));
        if newer {
            map.insert(
                row.product_id.to_string(),
                LatestRow {
                    event_time_ns: row.event_time_ns,
                    tie: row.tie,
                    values: row.values(),
                    warm: row.warm,
                },
            );
        }
    }

    /// The latest row of `product`.
    pub fn get(&self, product: &str) -> Option<LatestRow> {
        self.0
            .read()
            .expect("latest rows lock")
            .get(product)
            .cloned()
    }

    /// Products seen, sorted.
    pub fn products(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .0
            .read()
            .expect("latest rows lock")
            .keys()
            .cloned()
            .collect();
        p.sort();
        p
    }
}

/// The model inputs of a live row; why not when the row lacks some (a
/// window still filling, no book on this feed) or is cold and the model
/// scores only warm rows.
pub fn live_inputs(
    model: &LoadedModel,
    values: &[Option<f64>],
    warm: bool,
) -> Result<Vec<f64>, Unscored> {
    if model.file.model.warm_only && !warm {
        return Err(Unscored::Cold);
    }
    let mut out = Vec::with_capacity(model.live_index.len());
    let mut missing = Vec::new();
    for (&i, name) in model.live_index.iter().zip(model.feature_names()) {
        match values[i] {
            Some(v) if v.is_finite() => out.push(v),
            _ => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(Unscored::MissingInputs(missing))
    }
}

/// The served model's alert engine ([`volspike_model::alerts`]: the
/// model file's policy, the gate). Rebuilt when the model changes: the
/// trailing scores that set a product's threshold are the old model's, so
/// each product starts again from the new model's fallback threshold.
#[derive(Debug, Default)]
pub struct LiveAlerts {
    engine: Option<(ModelId, AlertEngine)>,
}

impl LiveAlerts {
    /// The engine of `model`, new if the model changed.
    pub fn engine(&mut self, model: &LoadedModel) -> &mut AlertEngine {
        if self.engine.as_ref().is_none_or(|(id, _)| *id != model.id) {
            self.engine = Some((
                model.id.clone(),
                AlertEngine::new(model.file.alert_policy()),
            ));
        }
        &mut self.engine.as_mut().expect("just set").1
    }
}

/// What `WatchScores` subscribers receive.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A scored row.
    Scored(Prediction),
    /// An alert.
    Alert(Alert),
}

impl LiveEvent {
    /// The product it is about.
    pub fn product_id(&self) -> &str {
        match self {
            LiveEvent::Scored(p) => &p.product_id,
            LiveEvent::Alert(a) => &a.product_id,
        }
    }
}

/// Why a live row was not scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unscored {
    /// No model is loaded yet.
    NoModel,
    /// The row lacks these model inputs.
    MissingInputs(Vec<String>),
    /// The row is cold (its segment is younger than the feature windows)
    /// and the model scores only warm rows.
    Cold,
    /// Scoring the row panicked (a model that passed validation should
    /// never); the row is skipped and the batch goes on.
    Failed,
}

impl Unscored {
    /// The `reason` label of `rows_unscored_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Unscored::NoModel => "no_model",
            Unscored::MissingInputs(_) => "missing_input",
            Unscored::Cold => "cold",
            Unscored::Failed => "scoring_failed",
        }
    }
}

/// Scores a live row: the prediction, and an alert if the gate lets one through.
pub fn score_row(
    model: &LoadedModel,
    alerts: &mut LiveAlerts,
    row: &FeatureRow,
) -> Result<(Prediction, Option<Alert>), Unscored> {
    let values = row.values();
    let inputs = live_inputs(model, &values, row.warm)?;
    let probability = model.score(&inputs);
    let decision = alerts
        .engine(model)
        .observe(&row.product_id, row.event_time_ns, probability);
    let threshold = decision.threshold;
    let id = prediction_id(&row.product_id, row.event_time_ns, row.tie, &model.id);
    let alert = decision.alert.then(|| Alert {
        schema_version: SCORING_SCHEMA_VERSION,
        alert_id: id.clone(),
        product_id: row.product_id.to_string(),
        event_time_ns: row.event_time_ns,
        tie: row.tie,
        probability,
        threshold,
        model: model.id.clone(),
    });
    let features: BTreeMap<String, f64> =
        model.feature_names().iter().cloned().zip(inputs).collect();
    let prediction = Prediction {
        schema_version: SCORING_SCHEMA_VERSION,
        prediction_id: id,
        product_id: row.product_id.to_string(),
        event_time_ns: row.event_time_ns,
        tie: row.tie,
        features,
        probability,
        spike: probability >= threshold,
        threshold,
        model: model.id.clone(),
    };
    Ok((prediction, alert))
}

/// What live scoring has done so far.
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// Feature rows read (readable ones).
    pub rows: AtomicU64,
    /// Predictions published.
    pub predictions: AtomicU64,
    /// Alerts published.
    pub alerts: AtomicU64,
}

/// Shared by the live loop and the gRPC services.
#[derive(Debug)]
pub struct LiveState {
    /// The served model.
    pub slot: Arc<ModelSlot>,
    /// Latest row per product.
    pub latest: LatestRows,
    /// Scores and alerts for `WatchScores`.
    pub events: broadcast::Sender<Arc<LiveEvent>>,
    /// Progress of live scoring (rows are counted once their batch's
    /// predictions and alerts are delivered).
    pub counts: LiveCounts,
    /// Per product, the alert threshold in force at its latest scored row
    /// and the model version that set it (for `GetScore`).
    pub thresholds: RwLock<HashMap<String, (String, f64)>>,
}

impl LiveState {
    /// State around `slot`, keeping up to `capacity` events per slow watcher.
    pub fn new(slot: Arc<ModelSlot>, capacity: usize) -> LiveState {
        LiveState {
            slot,
            latest: LatestRows::default(),
            events: broadcast::channel(capacity).0,
            counts: LiveCounts::default(),
            thresholds: RwLock::default(),
        }
    }
}

/// Most input messages handled between two waits for delivery.
const BATCH: usize = 2000;

/// Consumes `ticks.features` until `shutdown`, scoring and publishing. Offsets
/// are stored only after the batch's predictions and alerts are delivered
/// (at least once; ids are deterministic, so a consumer can drop repeats).
pub async fn run(
    cfg: &Config,
    bootstrap: &str,
    state: Arc<LiveState>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let inf = &cfg.inference;
    let mut consumer_cfg = consumer_config(&cfg.kafka, bootstrap, "inference", &inf.group_id);
    consumer_cfg
        .set("auto.offset.reset", inf.start_from.as_str())
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000");
    let consumer: StreamConsumer = consumer_cfg
        .create()
        .context("creating the features consumer")?;
    consumer
        .subscribe(&[&cfg.topics.features])
        .context("subscribing to the features topic")?;
    let producer: FutureProducer = producer_config(&cfg.kafka, bootstrap, "inference")
        .create()
        .context("creating the predictions producer")?;
    let mut alerting = LiveAlerts::default();
    tracing::info!(topic = %cfg.topics.features, group = %inf.group_id, "live scoring started");
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            m = consumer.recv() => m,
        };
        // librdkafka reports broker trouble here and retries on its own; a
        // consumer error is logged and counted, not fatal.
        let first = match first {
            Ok(msg) => msg.detach(),
            Err(e) => {
                metrics::counter!(m::CONSUMER_ERRORS).increment(1);
                tracing::warn!(error = %e, "reading ticks.features; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match consumer.recv().now_or_never() {
                Some(Ok(msg)) => batch.push(msg.detach()),
                Some(Err(e)) => {
                    metrics::counter!(m::CONSUMER_ERRORS).increment(1);
                    tracing::warn!(error = %e, "reading ticks.features; retrying");
                    break;
                }
                None => break,
            }
        }
        let mut deliveries = Vec::with_capacity(batch.len() * 2);
        let mut thresholds: HashMap<String, (String, f64)> = HashMap::new();
        let (mut rows, mut predictions, mut alerts) = (0, 0, 0);
        for msg in &batch {
            let received = Instant::now();
            let Some(row) = decode(msg) else { continue };
            rows += 1;
            state.latest.update(&row);
            let scored = match state.slot.current() {
                // One row that makes scoring panic costs that row, not the
                // batch or the server.
                Some(model) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    score_row(&model, &mut alerting, &row)
                }))
                .unwrap_or_else(|_| {
                    tracing::error!(product = %row.product_id, event_time_ns = row.event_time_ns, "scoring panicked; row skipped");
                    Err(Unscored::Failed)
                }),
                None => Err(Unscored::NoModel),
            };
            let (prediction, alert) = match scored {
                Ok(p) => p,
                Err(why) => {
                    metrics::counter!(m::ROWS_UNSCORED, "reason" => why.reason()).increment(1);
                    continue;
                }
            };
            thresholds.insert(
                prediction.product_id.clone(),
                (prediction.model.version.clone(), prediction.threshold),
            );
            let latency_us = received.elapsed().as_micros().to_string();
            let payload = serde_json::to_vec(&prediction).expect("predictions serialize");
            deliveries.push(
                producer
                    .send_result(
                        FutureRecord::to(&cfg.topics.predictions)
                            .key(prediction.product_id.as_str())
                            .payload(&payload)
                            .headers(OwnedHeaders::new().insert(Header {
                                key: LATENCY_HEADER,
                                value: Some(&latency_us),
                            })),
                    )
                    .map_err(|(e, _)| e)
                    .context("queueing a prediction")?,
            );
            predictions += 1;
            if let Some(a) = &alert {
                let payload = serde_json::to_vec(a).expect("alerts serialize");
                deliveries.push(
                    producer
                        .send_result(
                            FutureRecord::to(&cfg.topics.alerts)
                                .key(a.product_id.as_str())
                                .payload(&payload),
                        )
                        .map_err(|(e, _)| e)
                        .context("queueing an alert")?,
                );
                alerts += 1;
                tracing::info!(product = %a.product_id, probability = a.probability, alert_id = %a.alert_id, "volatility alert");
            }
            // Nobody watching is fine; send only fails then.
            let _ = state.events.send(Arc::new(LiveEvent::Scored(prediction)));
            if let Some(a) = alert {
                let _ = state.events.send(Arc::new(LiveEvent::Alert(a)));
            }
        }
        for d in deliveries {
            match d.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    return Err(anyhow::anyhow!("publishing a prediction or alert: {e}"));
                }
                Err(_) => {
                    return Err(anyhow::anyhow!(
                        "the producer dropped a prediction or alert"
                    ));
                }
            }
        }
        state
            .thresholds
            .write()
            .expect("thresholds lock")
            .extend(thresholds);
        metrics::counter!(m::PREDICTIONS_PUBLISHED).increment(predictions);
        metrics::counter!(m::ALERTS_PUBLISHED).increment(alerts);
        let c = &state.counts;
        c.predictions.fetch_add(predictions, Ordering::Relaxed);
        c.alerts.fetch_add(alerts, Ordering::Relaxed);
        c.rows.fetch_add(rows, Ordering::Relaxed);
        store_offsets_after(&consumer, &batch)?;
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::warn!(error = %e, "committing offsets at shutdown");
    }
    tracing::info!("live scoring stopped");
    Ok(())
}

/// Runs live scoring until `shutdown`, starting it again after any failure
/// (a broker away for longer than librdkafka retries, a delivery that timed
/// out, a panic) with a backoff of 1 s doubling to 30 s: the gRPC side keeps
/// serving throughout, and scoring resumes from the committed offsets.
pub async fn supervise(
    cfg: &Config,
    bootstrap: &str,
    state: Arc<LiveState>,
    shutdown: CancellationToken,
) {
    let mut backoff = std::time::Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let task = {
            let (cfg, bootstrap, state, shutdown) = (
                cfg.clone(),
                bootstrap.to_owned(),
                state.clone(),
                shutdown.clone(),
            );
            tokio::spawn(async move { run(&cfg, &bootstrap, state, shutdown).await })
        };
        let error = match task.await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => format!("panicked: {e}"),
        };
        if shutdown.is_cancelled() {
            return;
        }
        metrics::counter!(m::LIVE_RESTARTS).increment(1);
        if started.elapsed() > std::time::Duration::from_secs(60) {
            backoff = std::time::Duration::from_secs(1);
        }
        tracing::warn!(error, ?backoff, "live scoring failed; starting it again");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
    }
}

/// The feature row in `msg`, or `None` (counted and logged) when it is not one.
fn decode(msg: &OwnedMessage) -> Option<FeatureRow> {
    match serde_json::from_slice::<FeatureRow>(msg.payload().unwrap_or_default()) {
        Ok(r) => Some(r),
        Err(e) => {
            metrics::counter!(m::ROWS_UNREADABLE).increment(1);
            tracing::warn!(partition = msg.partition(), offset = msg.offset(), error = %e, "skipping a record that is not a feature row");
            None
        }
    }
}
