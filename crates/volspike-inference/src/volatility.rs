//! `volspike.v1.VolatilityService`: our own scoring API.

use std::collections::{BTreeSet, HashMap};

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use volspike_core::ModelId;
use volspike_model::alerts::{AlertMetrics, AlertPolicy, ThresholdRule};
use volspike_model::metrics::Metrics;
use volspike_proto::volspike::v1 as pb;
use volspike_proto::volspike::v1::volatility_service_server::VolatilityService;

use crate::live::{LiveEvent, LiveState, Unscored, live_inputs};
use crate::metrics_names as m;
use crate::model::LoadedModel;
use crate::observe::observed;
use crate::rows::{Violations, append_inputs, invalid_argument};

/// The service.
#[derive(Debug, Clone)]
pub struct VolatilityApi {
    state: Arc<LiveState>,
    max_batch: usize,
    shutdown: CancellationToken,
}

impl VolatilityApi {
    /// The service over the live state; streams end at `shutdown`.
    pub fn new(
        state: Arc<LiveState>,
        max_batch: usize,
        shutdown: CancellationToken,
    ) -> VolatilityApi {
        VolatilityApi {
            state,
            max_batch,
            shutdown,
        }
    }

    fn model(&self) -> Result<Arc<LoadedModel>, Status> {
        self.state
            .slot
            .current()
            .ok_or_else(|| Status::unavailable("no model is loaded yet"))
    }

    fn get_score(&self, req: &pb::GetScoreRequest) -> Result<pb::VolatilityScore, Status> {
        let product = req.product_id.trim();
        if product.is_empty() {
            return Err(invalid_argument(vec![tonic_types::FieldViolation::new(
                "product_id",
                "empty",
            )]));
        }
        let model = self.model()?;
        let Some(row) = self.state.latest.get(product) else {
            let known = self.state.latest.products();
            return Err(invalid_argument(vec![tonic_types::FieldViolation::new(
                "product_id",
                format!(
                    "no live features for `{product}`; products seen: {}",
                    if known.is_empty() {
                        "none yet".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )]));
        };
        let inputs = live_inputs(&model, &row.values, row.warm).map_err(|why| {
            let at = volspike_core::time::format_timestamp(row.event_time_ns);
            Status::failed_precondition(match why {
                Unscored::MissingInputs(missing) => format!(
                    "the latest {product} row ({at}) lacks model inputs {} (windows still filling)",
                    missing.join(", ")
                ),
                _ => format!(
                    "the latest {product} row ({at}) is cold (its feature windows are still \
filling) and the model scores only warm rows"
                ),
            })
        })?;
        let mut score = score_message(
            &model,
            model.score(&inputs),
            Some(row.event_time_ns),
            product,
        );
        // The live threshold of the product, where this model set it.
        if let Some((version, threshold)) = self
            .state
            .thresholds
            .read()
            .expect("thresholds lock")
            .get(product)
            && *version == model.id.version
        {
            score.threshold = *threshold;
            score.spike = score.probability >= *threshold;
        }
        Ok(score)
    }

    fn score_one(&self, req: &pb::ScoreRequest) -> Result<pb::VolatilityScore, Status> {
        let model = self.model()?;
        let row = req.row.as_ref().ok_or_else(|| {
            invalid_argument(vec![tonic_types::FieldViolation::new("row", "missing")])
        })?;
        let mut inputs = Vec::with_capacity(model.feature_names().len());
        let mut violations = Violations::default();
        append_inputs(&model, row, "row", &mut inputs, &mut violations);
        violations.into_result().map_err(|e| *e)?;
        Ok(score_message(
            &model,
            model.score(&inputs),
            row.feature_time.as_ref().map(timestamp_ns),
            &row.product_id,
        ))
    }

    fn score_batch(&self, req: &pb::ScoreBatchRequest) -> Result<pb::ScoreBatchResponse, Status> {
        let n = req.rows.len();
        if n == 0 || n > self.max_batch {
            return Err(invalid_argument(vec![tonic_types::FieldViolation::new(
                "rows",
                format!("{n} rows; a batch holds 1 to {}", self.max_batch),
            )]));
        }
        let model = self.model()?;
        let width = model.feature_names().len();
        let mut inputs = Vec::with_capacity(n * width);
        let mut violations = Violations::default();
        for (i, row) in req.rows.iter().enumerate() {
            append_inputs(
                &model,
                row,
                &format!("rows[{i}]"),
                &mut inputs,
                &mut violations,
            );
        }
        violations.into_result().map_err(|e| *e)?;
        let scores = model.score_rows(&inputs);
        metrics::counter!(m::ROWS_SCORED).increment(n as u64);
        Ok(pb::ScoreBatchResponse {
            scores: scores
                .into_iter()
                .zip(&req.rows)
                .map(|(p, row)| {
                    score_message(
                        &model,
                        p,
                        row.feature_time.as_ref().map(timestamp_ns),
                        &row.product_id,
                    )
                })
                .collect(),
        })
    }
}

/// A score as the API returns it.
pub(crate) fn score_message(
    model: &LoadedModel,
    probability: f64,
    feature_time_ns: Option<i64>,
    product: &str,
) -> pb::VolatilityScore {
    pb::VolatilityScore {
        probability,
        spike: probability >= model.threshold(),
        threshold: model.threshold(),
        model: Some(model_version(&model.id)),
        feature_time: feature_time_ns.map(timestamp),
        product_id: product.to_owned(),
    }
}

fn model_version(id: &ModelId) -> pb::ModelVersion {
    pb::ModelVersion {
        name: id.name.clone(),
        version: id.version.clone(),
        kind: id.kind.clone(),
    }
}

/// ns since the epoch as a protobuf timestamp.
pub(crate) fn timestamp(ns: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ns.div_euclid(1_000_000_000),
        nanos: ns.rem_euclid(1_000_000_000) as i32,
    }
}

fn timestamp_ns(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.nanos))
}

fn metric_map(m: &Metrics) -> HashMap<String, f64> {
    let mut out = HashMap::from([
        ("rows".to_owned(), m.rows as f64),
        ("base_rate".to_owned(), m.base_rate),
        ("brier".to_owned(), m.brier),
        ("precision".to_owned(), m.precision),
        ("recall".to_owned(), m.recall),
        ("f1".to_owned(), m.f1),
    ]);
    if let Some(v) = m.pr_auc {
        out.insert("pr_auc".to_owned(), v);
    }
    if let Some(v) = m.roc_auc {
        out.insert("roc_auc".to_owned(), v);
    }
    if let Some(v) = m.ece {
        out.insert("ece".to_owned(), v);
    }
    out
}

/// `GetModel`'s answer for `model`.
pub(crate) fn model_info(model: &LoadedModel, max_batch: usize) -> pb::ModelInfo {
    let f = &model.file;
    let relative = matches!(f.label.kind, volspike_model::label::LabelKind::Relative);
    pb::ModelInfo {
        model: Some(model_version(&model.id)),
        alias: model.alias.clone(),
        feature_names: model.feature_names().to_vec(),
        threshold: model.threshold(),
        label_horizon_seconds: f.label.horizon.as_secs_f64(),
        label_kind: if relative { "relative" } else { "absolute" }.to_owned(),
        tau: f.tau,
        train_start: Some(timestamp(f.train_span_ns.0)),
        train_end: Some(timestamp(f.train_span_ns.1)),
        validation_metrics: metric_map(&f.validation),
        test_metrics: metric_map(&f.test),
        max_batch: u32::try_from(max_batch).unwrap_or(u32::MAX),
        label_lookback_seconds: if relative {
            f.label.lookback.as_secs_f64()
        } else {
            0.0
        },
        warm_only: f.model.warm_only,
        alert_policy: Some(policy_message(&f.alert_policy())),
        validation_alert_metrics: f
            .validation_alerts
            .as_ref()
            .map(alert_metric_map)
            .unwrap_or_default(),
        test_alert_metrics: f
            .test_alerts
            .as_ref()
            .map(alert_metric_map)
            .unwrap_or_default(),
    }
}

fn policy_message(p: &AlertPolicy) -> pb::AlertPolicy {
    let initial = p.initial_levels();
    let mut m = pb::AlertPolicy {
        cooldown_seconds: p.cooldown.as_secs_f64(),
        fallback_threshold: initial.threshold,
        fallback_rearm: initial.rearm,
        ..pb::AlertPolicy::default()
    };
    match &p.threshold {
        ThresholdRule::Fixed { rearm_ratio, .. } => {
            m.kind = "fixed".into();
            m.rearm_ratio = *rearm_ratio;
        }
        ThresholdRule::Budget {
            per_hour,
            window,
            refresh,
            min_history,
            ..
        } => {
            m.kind = "budget".into();
            m.budget_per_hour = *per_hour;
            m.window_seconds = window.as_secs_f64();
            m.refresh_seconds = refresh.as_secs_f64();
            m.min_history_seconds = min_history.as_secs_f64();
        }
    }
    m
}

fn alert_metric_map(m: &AlertMetrics) -> HashMap<String, f64> {
    m.named()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// One `WatchScores` subscriber.
struct Watch {
    rx: broadcast::Receiver<Arc<LiveEvent>>,
    products: BTreeSet<String>,
    alerts_only: bool,
    shutdown: CancellationToken,
    done: bool,
}

/// The subscriber's next message. A subscriber that falls further behind
/// than the channel holds gets DATA_LOSS, never a silent gap; the stream
/// ends when the server shuts down.
async fn next_event(mut w: Watch) -> Option<(Result<pb::WatchScoresResponse, Status>, Watch)> {
    use pb::watch_scores_response::Event;
    if w.done {
        return None;
    }
    loop {
        let received = tokio::select! {
            () = w.shutdown.cancelled() => return None,
            r = w.rx.recv() => r,
        };
        match received {
            Ok(ev) => {
                if !w.products.is_empty() && !w.products.contains(ev.product_id()) {
                    continue;
                }
                let event = match &*ev {
                    LiveEvent::Scored(_) if w.alerts_only => continue,
                    LiveEvent::Scored(p) => Event::Score(pb::VolatilityScore {
                        probability: p.probability,
                        spike: p.spike,
                        threshold: p.threshold,
                        model: Some(model_version(&p.model)),
                        feature_time: Some(timestamp(p.event_time_ns)),
                        product_id: p.product_id.clone(),
                    }),
                    LiveEvent::Alert(a) => Event::Alert(pb::Alert {
                        alert_id: a.alert_id.clone(),
                        product_id: a.product_id.clone(),
                        feature_time: Some(timestamp(a.event_time_ns)),
                        probability: a.probability,
                        threshold: a.threshold,
                        model: Some(model_version(&a.model)),
                    }),
                };
                return Some((Ok(pb::WatchScoresResponse { event: Some(event) }), w));
            }
            Err(RecvError::Lagged(n)) => {
                metrics::counter!(m::WATCHERS_LAGGED).increment(1);
                w.done = true;
                let status = Status::data_loss(format!(
                    "this watcher fell {n} events behind and was dropped; watch again"
                ));
                return Some((Err(status), w));
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchScoresResponse, Status>> + Send>>;

#[tonic::async_trait]
impl VolatilityService for VolatilityApi {
    async fn get_score(
        &self,
        req: Request<pb::GetScoreRequest>,
    ) -> Result<Response<pb::VolatilityScore>, Status> {
        let start = Instant::now();
        observed(
            "GetScore",
            start,
            self.get_score(req.get_ref()).map(Response::new),
        )
    }

    async fn score(
        &self,
        req: Request<pb::ScoreRequest>,
    ) -> Result<Response<pb::VolatilityScore>, Status> {
        let start = Instant::now();
        observed(
            "Score",
            start,
            self.score_one(req.get_ref()).map(Response::new),
        )
    }

    async fn score_batch(
        &self,
        req: Request<pb::ScoreBatchRequest>,
    ) -> Result<Response<pb::ScoreBatchResponse>, Status> {
        let start = Instant::now();
        observed(
            "ScoreBatch",
            start,
            self.score_batch(req.get_ref()).map(Response::new),
        )
    }

    type WatchScoresStream = WatchStream;

    async fn watch_scores(
        &self,
        req: Request<pb::WatchScoresRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let start = Instant::now();
        let req = req.into_inner();
        let watch = Watch {
            rx: self.state.events.subscribe(),
            products: req.product_ids.into_iter().collect(),
            alerts_only: req.alerts_only,
            shutdown: self.shutdown.clone(),
            done: false,
        };
        let out = futures_util::stream::unfold(watch, next_event);
        observed(
            "WatchScores",
            start,
            Ok(Response::new(Box::pin(out) as WatchStream)),
        )
    }

    async fn get_model(
        &self,
        _req: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::ModelInfo>, Status> {
        let start = Instant::now();
        let r = self
            .model()
            .map(|m| Response::new(model_info(&m, self.max_batch)));
        observed("GetModel", start, r)
    }
}
