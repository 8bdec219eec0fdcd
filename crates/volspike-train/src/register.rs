//! Train -> pick -> register, written once for `volspike train`, the demo
//! and the drift worker.
//!
//! The model put forward is the one with the highest validation PR-AUC
//! ([`TrainReport::best`]; test metrics never choose). It becomes the
//! `challenger` of its registered name; with MLflow the whole run (params,
//! metrics, every artifact) is logged and the version registered from it.

use std::path::Path;

use anyhow::Context as _;
use volspike_core::FeatureRow;
use volspike_mlflow::AnyRegistry;
use volspike_model::artifact::ModelFile;
use volspike_model::registry::{CHAMPION, Registry as _};

use crate::artifacts::{self, Stage};
use crate::tracking::{self, Logged};
use crate::train::{TrainConfig, TrainReport};

/// Where the chosen model goes.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    /// Registered model name; `None` writes (and logs to MLflow) without
    /// registering a version.
    pub name: Option<&'a str>,
    /// MLflow experiment of the run (ignored by a local registry).
    pub experiment: &'a str,
    /// Also make the new version `champion` when the name has none yet
    /// (the demo's first run); otherwise only a person or the drift worker
    /// promotes.
    pub champion_if_none: bool,
}

/// What [`register_best`] did.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The chosen model's file.
    pub chosen: ModelFile,
    /// Its new version, if it was registered.
    pub version: Option<u64>,
    /// The MLflow run, with an MLflow registry.
    pub logged: Option<Logged>,
    /// The new version became champion (there was none).
    pub became_champion: bool,
}

/// Registers the best model of `report` as described by `reg`; with MLflow
/// also logs the run with every file in `artifacts_dir`.
pub async fn register_best(
    report: &TrainReport,
    artifacts_dir: &Path,
    registry: &AnyRegistry,
    reg: Registration<'_>,
) -> anyhow::Result<Registered> {
    let best = report.best().context("no model was trained")?;
    register_file(
        report,
        report.model_file(best),
        artifacts_dir,
        registry,
        reg,
    )
    .await
}

/// Registers `chosen`, a model file of `report` (the drift worker's
/// challenger, checked before it is registered), as described by `reg`.
pub async fn register_file(
    report: &TrainReport,
    chosen: ModelFile,
    artifacts_dir: &Path,
    registry: &AnyRegistry,
    reg: Registration<'_>,
) -> anyhow::Result<Registered> {
    let (version, logged) = match registry {
        AnyRegistry::Mlflow(mlflow) => {
            let logged = tracking::log_training(
                mlflow,
                reg.experiment,
                report,
                artifacts_dir,
                &chosen,
                reg.name,
            )
            .await
            .with_context(|| {
                format!(
                    "logging to MLflow failed; the local artifacts are in {}",
                    artifacts_dir.display()
                )
            })?;
            (logged.registered.as_ref().map(|r| r.1), Some(logged))
        }
        local => match reg.name {
            Some(name) => (Some(local.register(name, &chosen).await?), None),
            None => (None, None),
        },
    };
    let mut became_champion = false;
    if let (Some(name), Some(v), true) = (reg.name, version, reg.champion_if_none)
        && registry.alias(name, CHAMPION).await?.is_none()
    {
        registry.promote(name, v).await?;
        became_champion = true;
    }
    Ok(Registered {
        chosen,
        version,
        logged,
        became_champion,
    })
}

/// [`artifacts::train_and_write`] into `out`, then [`register_best`].
pub async fn train_pick_register(
    groups: &[&[FeatureRow]],
    cfg: &TrainConfig,
    out: &Path,
    registry: &AnyRegistry,
    reg: Registration<'_>,
    progress: impl FnMut(Stage<'_>),
) -> anyhow::Result<(TrainReport, Registered)> {
    let report = artifacts::train_and_write(groups, cfg, out, progress)?;
    let registered = register_best(&report, out, registry, reg).await?;
    Ok((report, registered))
}
