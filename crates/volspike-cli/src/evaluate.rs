//! `volspike evaluate`: a saved model on feature rows it never saw, labeled
//! with the model's own label definition and tau.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polars::prelude::{Column, DataFrame, ParquetWriter};
use volspike_mlflow::AnyRegistry;
use volspike_model::evaluate::{Evaluation, Prediction};
use volspike_model::registry::{ModelRef, Resolved, resolve};

/// Loads the model, reads every feature file and evaluates.
pub async fn run(
    model: &ModelRef,
    registry: &AnyRegistry,
    files: &[PathBuf],
) -> anyhow::Result<(Resolved, Evaluation)> {
    let resolved = resolve(registry, model)
        .await
        .with_context(|| format!("loading model {model}"))?;
    let rows = crate::train::read_features(files)?;
    let evaluation = volspike_model::evaluate::evaluate(&resolved.file, &rows)?;
    Ok((resolved, evaluation))
}

/// Writes one row per scored feature row: product, feature time, target,
/// label, score, decision.
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
