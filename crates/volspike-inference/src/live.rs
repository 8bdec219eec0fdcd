//! Live scoring: every row of `ticks.features` is scored with the served
//! model; the prediction goes to `predictions`, a crossing of the threshold
//! (one per spike, see [`AlertGate`]) to `alerts.volatility`, and both to
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
    Alert, FEATURE_NAMES, FeatureRow, LATENCY_HEADER, Prediction, SCORING_SCHEMA_VERSION,
    prediction_id,
};
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

/// One spike, one alert: after alerting, a product must fall below
/// `threshold * rearm_ratio` and `cooldown_ns` of event time must pass
/// before it alerts again. Event time, not wall time, so replays agree.
#[derive(Debug, Clone)]
pub struct AlertGate {
    cooldown_ns: i64,
    rearm_ratio: f64,
    state: HashMap<String, GateState>,
}

#[derive(Debug, Clone, Copy)]
struct GateState {
    armed: bool,
    last_alert_ns: i64,
}

impl AlertGate {
    /// A gate with no product alerted yet.
    pub fn new(cooldown_ns: i64, rearm_ratio: f64) -> AlertGate {
        AlertGate {
            cooldown_ns,
            rearm_ratio,
            state: HashMap::new(),
        }
    }

    /// Whether this score raises an alert.
    pub fn observe(
        &mut self,
        product: &str,
        event_time_ns: i64,
        probability: f64,
        threshold: f64,
    ) -> bool {
        let s = self.state.entry(product.to_owned()).or_insert(GateState {
            armed: true,
            last_alert_ns: i64::MIN,
        });
        if probability >= threshold {
            let cooled = event_time_ns.saturating_sub(s.last_alert_ns) >= self.cooldown_ns;
            if s.armed && cooled {
                s.armed = false;
                s.last_alert_ns = event_time_ns;
                return true;
            }
        } else if probability < threshold * self.rearm_ratio {
            s.armed = true;
        }
        false
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
}

impl Unscored {
    /// The `reason` label of `rows_unscored_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Unscored::NoModel => "no_model",
            Unscored::MissingInputs(_) => "missing_input",
            Unscored::Cold => "cold",
        }
    }
}

/// Scores a live row: the prediction, and an alert if the gate lets one through.
pub fn score_row(
    model: &LoadedModel,
    gate: &mut AlertGate,
    row: &FeatureRow,
) -> Result<(Prediction, Option<Alert>), Unscored> {
    let values = row.values();
    let inputs = live_inputs(model, &values, row.warm)?;
    let probability = model.score(&inputs);
    let threshold = model.threshold();
    let id = prediction_id(&row.product_id, row.event_time_ns, row.tie, &model.id);
    let alert = gate
        .observe(&row.product_id, row.event_time_ns, probability, threshold)
        .then(|| Alert {
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
}

impl LiveState {
    /// State around `slot`, keeping up to `capacity` events per slow watcher.
    pub fn new(slot: Arc<ModelSlot>, capacity: usize) -> LiveState {
        LiveState {
            slot,
            latest: LatestRows::default(),
            events: broadcast::channel(capacity).0,
            counts: LiveCounts::default(),
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
    let mut gate = AlertGate::new(
        i64::try_from(inf.alert_cooldown.as_nanos()).unwrap_or(i64::MAX),
        inf.alert_rearm_ratio,
    );
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
        let (mut rows, mut predictions, mut alerts) = (0, 0, 0);
        for msg in &batch {
            let received = Instant::now();
            let Some(row) = decode(msg) else { continue };
            rows += 1;
            state.latest.update(&row);
            let scored = match state.slot.current() {
                Some(model) => score_row(&model, &mut gate, &row),
                None => Err(Unscored::NoModel),
            };
            let (prediction, alert) = match scored {
                Ok(p) => p,
                Err(why) => {
                    metrics::counter!(m::ROWS_UNSCORED, "reason" => why.reason()).increment(1);
                    continue;
                }
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spike_gives_one_alert() {
        let s = 1_000_000_000;
        let mut g = AlertGate::new(60 * s, 0.8);
        let t = 0.5;
        // Crosses, stays above, dips just under (not re-armed), crosses again.
        let seq = [(0, 0.3), (1, 0.6), (2, 0.7), (3, 0.45), (4, 0.55)];
        let raised: Vec<bool> = seq
            .iter()
            .map(|&(i, p)| g.observe("A", i * s, p, t))
            .collect();
        assert_eq!(raised, [false, true, false, false, false]);
        // Re-armed below 0.4, but still inside the cooldown.
        assert!(!g.observe("A", 10 * s, 0.3, t));
        assert!(!g.observe("A", 20 * s, 0.9, t));
        // Re-armed and cooled down.
        assert!(!g.observe("A", 70 * s, 0.3, t));
        assert!(g.observe("A", 71 * s, 0.9, t));
        // Products are independent.
        assert!(g.observe("B", 71 * s, 0.9, t));
    }
}
