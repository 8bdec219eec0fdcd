//! A training run in MLflow: parameters, metrics, every local artifact,
//! and the chosen model registered as the new `challenger`.

use std::path::Path;

use bytes::Bytes;
use volspike_mlflow::MlflowRegistry;
use volspike_mlflow::batch::{KeyValue, Metric};
use volspike_mlflow::client::{MlflowError, now_ms};
use volspike_model::artifact::ModelFile;
use volspike_model::metrics::Metrics;

use crate::train::TrainReport;

/// What was logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// Experiment id.
    pub experiment_id: String,
    /// Run id.
    pub run_id: String,
    /// `runs/log-batch` calls made.
    pub batches: usize,
    /// Artifacts uploaded.
    pub artifacts: usize,
    /// Registered model and version, if one was registered.
    pub registered: Option<(String, u64)>,
}

/// Parameters of a training run, as MLflow params.
pub fn params_of(report: &TrainReport) -> Vec<KeyValue> {
    let c = &report.config;
    let kv = |k: &str, v: String| KeyValue {
        key: k.to_owned(),
        value: v,
    };
    let models: Vec<String> = report
        .models
        .iter()
        .map(|m| m.model.name().to_owned())
        .collect();
    vec![
        kv("label.kind", format!("{:?}", c.label.kind).to_lowercase()),
        kv("label.horizon_s", c.label.horizon.as_secs_f64().to_string()),
        kv(
            "label.returns",
            format!("{:?}", c.label.returns).to_lowercase(),
        ),
        kv("label.step_s", c.label.step.as_secs_f64().to_string()),
        kv("label.quantile", c.label.quantile.to_string()),
        kv(
            "label.lookback_s",
            c.label.lookback.as_secs_f64().to_string(),
        ),
        kv("split.train", c.split.train.to_string()),
        kv("split.validation", c.split.validation.to_string()),
        kv("features", c.features.join(",")),
        kv("log_scale_inputs", c.log_scale_inputs.to_string()),
        kv("warm_only", c.warm_only.to_string()),
        kv("models", models.join(",")),
        kv("baseline_feature", c.baseline_feature.clone()),
        kv("logistic.alpha", c.logistic_alpha.to_string()),
        kv(
            "class_weight",
            format!("{:?}", c.class_weight).to_lowercase(),
        ),
        kv("forest.trees", c.forest.trees.to_string()),
        kv("forest.max_depth", c.forest.max_depth.to_string()),
        kv(
            "forest.min_samples_leaf",
            c.forest.min_samples_leaf.to_string(),
        ),
        kv("forest.seed", c.forest.seed.to_string()),
        kv("boost.rounds", c.boost.rounds.to_string()),
        kv("boost.learning_rate", c.boost.learning_rate.to_string()),
        kv("boost.max_depth", c.boost.max_depth.to_string()),
        kv("boost.l2", c.boost.l2.to_string()),
        kv("boost.min_leaf_weight", c.boost.min_leaf_weight.to_string()),
        kv("boost.seed", c.boost.seed.to_string()),
    ]
}

/// Metrics of a training run: per model and split, and the dataset's.
pub fn metrics_of(report: &TrainReport) -> Vec<Metric> {
    let ts = now_ms();
    let m = |key: String, value: f64| Metric {
        key,
        value,
        timestamp: ts,
        step: 0,
    };
    let mut out = vec![
        m("tau".into(), report.tau),
        m("rows.train".into(), report.splits.train.len() as f64),
        m(
            "rows.validation".into(),
            report.splits.validation.len() as f64,
        ),
        m("rows.test".into(), report.splits.test.len() as f64),
        m("rows.embargoed".into(), report.splits.embargoed as f64),
        m("spike_rate.train".into(), report.spike_rates[0]),
        m("spike_rate.validation".into(), report.spike_rates[1]),
        m("spike_rate.test".into(), report.spike_rates[2]),
    ];
    for t in &report.models {
        for (split, x) in [("validation", &t.validation), ("test", &t.test)] {
            out.extend(
                metric_values(x)
                    .into_iter()
                    .map(|(k, v)| m(format!("{}.{split}.{k}", t.model.name()), v)),
            );
        }
        for (split, a) in [
            ("validation", &t.validation_alerts),
            ("test", &t.test_alerts),
        ] {
            out.extend(
                a.named()
                    .into_iter()
                    .map(|(k, v)| m(format!("{}.{split}.alerts.{k}", t.model.name()), v)),
            );
        }
        // The budget trade-off on test: one step per budget visited.
        for (step, p) in t.budget_curve.iter().enumerate() {
            for (k, v) in [
                ("budget", Some(p.per_hour)),
                ("recall", p.test.recall),
                ("false_alerts_per_hour", p.test.false_alerts_per_hour),
            ] {
                if let Some(v) = v {
                    let mut metric = m(format!("{}.test.budget_curve.{k}", t.model.name()), v);
                    metric.step = step as i64;
                    out.push(metric);
                }
            }
        }
    }
    out
}

fn metric_values(x: &Metrics) -> Vec<(&'static str, f64)> {
    let mut v = vec![
        ("base_rate", x.base_rate),
        ("brier", x.brier),
        ("threshold", x.threshold),
        ("precision", x.precision),
        ("recall", x.recall),
        ("f1", x.f1),
        ("tp", x.confusion.tp as f64),
        ("fp", x.confusion.fp as f64),
        ("fn", x.confusion.fn_ as f64),
        ("tn", x.confusion.tn as f64),
    ];
    // Undefined (no positives / one class): left out rather than logged as NaN.
    if let Some(p) = x.pr_auc {
        v.push(("pr_auc", p));
    }
    if let Some(r) = x.roc_auc {
        v.push(("roc_auc", r));
    }
    if let Some(e) = x.ece {
        v.push(("ece", e));
    }
    v
}

/// Logs `report` as a run of `experiment`, uploads every file in
/// `artifacts_dir` and, with `register = Some(name)`, registers `chosen`
/// as a new version of `name` (alias `challenger`). The run ends FINISHED,
/// or FAILED if anything after its creation failed.
pub async fn log_training(
    registry: &MlflowRegistry,
    experiment: &str,
    report: &TrainReport,
    artifacts_dir: &Path,
    chosen: &ModelFile,
    register: Option<&str>,
) -> Result<Logged, MlflowError> {
    let client = registry.client();
    let experiment_id = client.get_or_create_experiment(experiment).await?;
    let run_name = format!(
        "train-{}-{}",
        format!("{:?}", report.config.label.kind).to_lowercase(),
        now_ms()
    );
    let tags = vec![
        KeyValue {
            key: "volspike.chosen_model".into(),
            value: chosen.name.clone(),
        },
        KeyValue {
            key: "volspike.version".into(),
            value: env!("CARGO_PKG_VERSION").into(),
        },
    ];
    let run = client.create_run(&experiment_id, &run_name, &tags).await?;
    let result = async {
        let batches = client
            .log_batch(
                &run.run_id,
                metrics_of(report),
                params_of(report),
                Vec::new(),
            )
            .await?;
        let mut artifacts = 0;
        let mut files: Vec<_> = std::fs::read_dir(artifacts_dir)
            .map_err(|e| io_error(artifacts_dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for path in files {
            let bytes = std::fs::read(&path).map_err(|e| io_error(&path, e))?;
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            client
                .upload_artifact(&run, &name, Bytes::from(bytes))
                .await?;
            artifacts += 1;
        }
        let registered = match register {
            Some(name) => Some((
                name.to_owned(),
                registry.register_from_run(name, chosen, &run).await?,
            )),
            None => None,
        };
        Ok((batches, artifacts, registered))
    }
    .await;
    client.finish_run(&run.run_id, result.is_ok()).await?;
    let (batches, artifacts, registered) = result?;
    Ok(Logged {
        experiment_id,
        run_id: run.run_id,
        batches,
        artifacts,
        registered,
    })
}

fn io_error(path: &Path, e: std::io::Error) -> MlflowError {
    MlflowError::Decode {
        endpoint: "local artifacts".into(),
        message: format!("{}: {e}", path.display()),
    }
}
