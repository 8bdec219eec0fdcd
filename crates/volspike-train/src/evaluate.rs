//! Scoring feature rows a model never saw, labeled exactly as its training
//! data was: the model file's label definition and tau, not new ones.

use std::fs::File;
use std::path::Path;

use anyhow::Context as _;
use polars::prelude::{Column, DataFrame, ParquetWriter};
use serde::{Deserialize, Serialize};
use volspike_core::FeatureRow;
use volspike_model::alerts::{AlertAt, AlertEngine, AlertMetrics, LabeledRow, evaluate_alerts};
use volspike_model::artifact::ModelFile;

use crate::dataset::{self, DatasetCounts};
use crate::metrics::{self, Metrics};

/// One scored row, for `--predictions-out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Product.
    pub product_id: String,
    /// Feature row time, ns.
    pub event_time_ns: i64,
    /// The row's tie index.
    pub tie: u32,
    /// The label target (forward volatility or its ratio).
    pub target: f64,
    /// `target >= tau`.
    pub label: bool,
    /// The model's score.
    pub score: f64,
    /// `score >= threshold`.
    pub decision: bool,
}

/// What evaluating a model on new rows gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Rows kept and dropped by labeling.
    pub counts: DatasetCounts,
    /// Metrics at the model's own threshold; `None` when no row could be
    /// labeled.
    pub metrics: Option<Metrics>,
    /// Every scored row, in time order.
    pub predictions: Vec<Prediction>,
    /// Rows the server would score (warm when the model scores only warm
    /// rows, every input present), labeled or not.
    pub scorable_rows: u64,
    /// The alerts the server would publish for the rows, in time order.
    pub alerts: Vec<AlertRecord>,
    /// Alert-level metrics of those alerts against the labeled rows;
    /// `None` when no row could be labeled.
    pub alert_metrics: Option<AlertMetrics>,
}

/// One alert as `volspike serve` publishes it, for `--alerts-out`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Product.
    pub product_id: String,
    /// Feature row time, ns.
    pub event_time_ns: i64,
    /// The row's tie index.
    pub tie: u32,
    /// The model's score.
    pub probability: f64,
    /// The threshold in force.
    pub threshold: f64,
}

/// The alerts the inference server publishes for `rows` with `file`: every
/// row it would score, fed through the model's alert policy product by
/// product in (time, tie) order, as the server reads them from
/// `ticks.features`. Returned in (time, product, tie) order.
pub fn alerts(
    file: &ModelFile,
    rows: &[FeatureRow],
) -> Result<(Vec<AlertRecord>, u64), EvaluateError> {
    let columns = file.live_index().map_err(EvaluateError::Inputs)?;
    let mut ordered: Vec<&FeatureRow> = rows
        .iter()
        .filter(|r| r.warm || !file.model.warm_only)
        .collect();
    ordered.sort_by(|a, b| {
        (a.product_id.as_str(), a.event_time_ns, a.tie).cmp(&(
            b.product_id.as_str(),
            b.event_time_ns,
            b.tie,
        ))
    });
    let mut engine = AlertEngine::new(file.alert_policy());
    let mut out = Vec::new();
    let mut scored = 0u64;
    let mut inputs = Vec::with_capacity(columns.len());
    for r in ordered {
        let values = r.values();
        inputs.clear();
        inputs.extend(
            columns
                .iter()
                .filter_map(|&c| values[c].filter(|v| v.is_finite())),
        );
        if inputs.len() < columns.len() {
            continue;
        }
        scored += 1;
        let probability = file.model.score(&inputs);
        let d = engine.observe(&r.product_id, r.event_time_ns, probability);
        if d.alert {
            out.push(AlertRecord {
                product_id: r.product_id.to_string(),
                event_time_ns: r.event_time_ns,
                tie: r.tie,
                probability,
                threshold: d.threshold,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.event_time_ns, &a.product_id, a.tie).cmp(&(b.event_time_ns, &b.product_id, b.tie))
    });
    Ok((out, scored))
}

/// Writes alerts as NDJSON, one [`AlertRecord`] per line.
pub fn write_alerts(path: &Path, alerts: &[AlertRecord]) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut out = std::io::BufWriter::new(
        File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for a in alerts {
        serde_json::to_writer(&mut out, a)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Labels `rows` with `file`'s label definition and tau, scores them, and
/// computes the metrics at the model's threshold.
pub fn evaluate(file: &ModelFile, rows: &[FeatureRow]) -> Result<Evaluation, EvaluateError> {
    let names: Vec<&str> = file
        .model
        .feature_names
        .iter()
        .map(String::as_str)
        .collect();
    let (data, counts) = dataset::build(rows, &names, &file.label, file.model.warm_only)?;
    let scores = file.model.score_rows(&data.x);
    let labels: Vec<bool> = data.target.iter().map(|&v| v >= file.tau).collect();
    let metrics = if labels.is_empty() {
        None
    } else {
        Some(metrics::evaluate(&labels, &scores, file.model.threshold)?)
    };
    let predictions = (0..data.len())
        .map(|i| Prediction {
            product_id: data.product[i].clone(),
            event_time_ns: data.event_time_ns[i],
            tie: data.tie[i],
            target: data.target[i],
            label: labels[i],
            score: scores[i],
            decision: scores[i] >= file.model.threshold,
        })
        .collect();
    let (alerts, scorable_rows) = alerts(file, rows)?;
    let alert_metrics = (!labels.is_empty()).then(|| {
        let labeled: Vec<LabeledRow<'_>> = (0..data.len())
            .map(|i| LabeledRow {
                product: &data.product[i],
                event_time_ns: data.event_time_ns[i],
                spike: labels[i],
            })
            .collect();
        let at: Vec<AlertAt<'_>> = alerts
            .iter()
            .map(|a| AlertAt {
                product: &a.product_id,
                event_time_ns: a.event_time_ns,
            })
            .collect();
        evaluate_alerts(
            &labeled,
            &at,
            i64::try_from(file.label.horizon.as_nanos()).unwrap_or(i64::MAX),
        )
    });
    Ok(Evaluation {
        counts,
        metrics,
        predictions,
        scorable_rows,
        alerts,
        alert_metrics,
    })
}

/// Writes one row per scored feature row: product, feature time, tie,
/// target, label, score, decision.
pub fn write_predictions(path: &Path, predictions: &[Prediction]) -> anyhow::Result<()> {
    let mut df = DataFrame::new_infer_height(vec![
        Column::new(
            "product_id".into(),
            predictions
                .iter()
                .map(|p| p.product_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "event_time_ns".into(),
            predictions
                .iter()
                .map(|p| p.event_time_ns)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "tie".into(),
            predictions.iter().map(|p| p.tie).collect::<Vec<_>>(),
        ),
        Column::new(
            "target".into(),
            predictions.iter().map(|p| p.target).collect::<Vec<_>>(),
        ),
        Column::new(
            "label".into(),
            predictions.iter().map(|p| p.label).collect::<Vec<_>>(),
        ),
        Column::new(
            "score".into(),
            predictions.iter().map(|p| p.score).collect::<Vec<_>>(),
        ),
        Column::new(
            "decision".into(),
            predictions.iter().map(|p| p.decision).collect::<Vec<_>>(),
        ),
    ])?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    ParquetWriter::new(file)
        .finish(&mut df)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Errors evaluating.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// Labeling failed (e.g. the model needs a feature the rows lack).
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    /// The model needs an input volspike does not compute.
    #[error("{0}")]
    Inputs(String),
    /// A metric failed (e.g. a NaN score).
    #[error(transparent)]
    Metrics(#[from] metrics::MetricError),
}
