//! Scoring feature rows a model never saw, labeled exactly as its training
//! data was: the model file's label definition and tau, not new ones.

use std::fs::File;
use std::path::Path;

use anyhow::Context as _;
use polars::prelude::{Column, DataFrame, ParquetWriter};
use serde::{Deserialize, Serialize};
use volspike_core::FeatureRow;
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
    Ok(Evaluation {
        counts,
        metrics,
        predictions,
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
    /// A metric failed (e.g. a NaN score).
    #[error(transparent)]
    Metrics(#[from] metrics::MetricError),
}
