//! `volspike evaluate`: a saved model on feature rows it never saw, labeled
//! with the model's own label definition and tau.

use std::path::PathBuf;

use anyhow::Context as _;
use volspike_mlflow::AnyRegistry;
use volspike_model::registry::{ModelRef, Resolved, resolve};
use volspike_train::evaluate::Evaluation;

/// Loads the model, reads every feature file and evaluates.
pub async fn run(
    model: &ModelRef,
    registry: &AnyRegistry,
    files: &[PathBuf],
) -> anyhow::Result<(Resolved, Evaluation)> {
    let resolved = resolve(registry, model)
        .await
        .with_context(|| format!("loading model {model}"))?;
    let rows = volspike_replay::parquet::read_files(files)?;
    let evaluation = volspike_train::evaluate::evaluate(&resolved.file, &rows)?;
    Ok((resolved, evaluation))
}
