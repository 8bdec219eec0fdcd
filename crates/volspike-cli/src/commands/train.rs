//! `volspike train`: label, split, train, evaluate, write the model files
//! and the report, log the run to MLflow and register the chosen model.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use volspike_runtime::ConfigLoader;
use volspike_train::dataset::{LabelConfig, LabelKind};
use volspike_train::register::{Registration, train_pick_register};
use volspike_train::split::SplitConfig;
use volspike_train::train::{ModelKind, TrainConfig};

use super::{RegistryArgs, load, open_registry};

/// Arguments of `volspike train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Feature parquet files (`volspike replay` output).
    #[arg(long, required = true, num_args = 1..)]
    pub features: Vec<PathBuf>,
    /// `absolute` (forward volatility >= tau) or `relative` (forward over
    /// trailing volatility >= tau).
    #[arg(long, default_value = "absolute", value_parser = parse_label_kind)]
    pub label_kind: LabelKind,
    /// Quantile of the training targets that sets tau.
    #[arg(long, default_value_t = 0.9)]
    pub quantile: f64,
    /// Trailing window of the relative label, e.g. `5m` or `30m`.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub lookback: Duration,
    /// Model inputs, comma-separated feature names (default: the
    /// trailing volatilities; see `docs/models.md`).
    #[arg(long, value_delimiter = ',')]
    pub inputs: Vec<String>,
    /// Standardize the inputs as they are, without first taking the log
    /// of the scale features (volatilities, ranges, spreads, counts).
    #[arg(long)]
    pub raw_inputs: bool,
    /// Also train on (and have the model score) rows whose feature
    /// windows are still filling; by default only warm rows are used.
    #[arg(long)]
    pub include_cold: bool,
    /// Shares of the rows (in time order) for training and validation;
    /// test gets the rest.
    #[arg(long, default_value = "0.7,0.15", value_parser = parse_split)]
    pub split: SplitConfig,
    /// Models, comma-separated: baseline, logistic, forest, boosted.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baseline,logistic,forest,boosted"
    )]
    pub models: Vec<ModelKind>,
    /// Directory for the model files and the report.
    #[arg(long, default_value = "data/models/latest")]
    pub out: PathBuf,
    /// Registered model name of the chosen model (highest validation
    /// PR-AUC); it becomes the `challenger` (default `registry.model-name`).
    #[arg(long)]
    pub model_name: Option<String>,
    /// Write the local files (and log the MLflow run) without
    /// registering a version.
    #[arg(long)]
    pub no_register: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

fn parse_label_kind(s: &str) -> Result<LabelKind, String> {
    match s {
        "absolute" => Ok(LabelKind::Absolute),
        "relative" => Ok(LabelKind::Relative),
        _ => Err(format!(
            "label kind must be `absolute` or `relative`, not `{s}`"
        )),
    }
}

/// `TRAIN,VALIDATION` shares of the rows, e.g. `0.7,0.15`.
fn parse_split(s: &str) -> Result<SplitConfig, String> {
    let shares: Vec<f64> = s
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|e| format!("`{v}`: {e}")))
        .collect::<Result<_, _>>()?;
    match shares[..] {
        [train, validation] => SplitConfig { train, validation }
            .check()
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "split must be two shares TRAIN,VALIDATION (test gets the rest), not `{s}`"
        )),
    }
}

/// Trains, prints the comparison table and where things went.
pub async fn run(a: TrainArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let defaults = TrainConfig::default();
    let cfg = TrainConfig {
        features: if a.inputs.is_empty() {
            defaults.features.clone()
        } else {
            a.inputs
        },
        log_scale_inputs: !a.raw_inputs,
        warm_only: !a.include_cold,
        split: a.split,
        label: LabelConfig {
            kind: a.label_kind,
            quantile: a.quantile,
            lookback: a.lookback,
            ..Default::default()
        },
        models: a.models,
        ..defaults
    };
    let started = Instant::now();
    let (registry, model_name) = (a.registry, a.model_name);
    let app = load(loader.overrides(move |c| {
        registry.apply(c);
        if let Some(n) = model_name {
            c.registry.model_name = n;
        }
    }))?;
    let rows = volspike_replay::parquet::read_files(&a.features)?;
    let registry = open_registry(&app)?;
    let reg = Registration {
        name: (!a.no_register).then_some(app.registry.model_name.as_str()),
        experiment: &app.registry.experiment,
        champion_if_none: false,
    };
    let (report, done) = train_pick_register(
        &rows,
        &cfg,
        &a.out,
        &registry,
        reg,
        crate::progress::training(cfg.models.len()),
    )
    .await?;
    println!("{}", volspike_train::artifacts::table(&report));
    println!(
        "train: models written to {} in {:.1} s",
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    if let Some(logged) = &done.logged {
        println!(
            "mlflow: experiment {} run {} ({} log-batch calls, {} artifacts) at {}",
            logged.experiment_id,
            logged.run_id,
            logged.batches,
            logged.artifacts,
            app.registry.mlflow_uri.as_deref().unwrap_or_default()
        );
    }
    if let (Some(name), Some(version)) = (reg.name, done.version) {
        let place = match &registry {
            volspike_mlflow::AnyRegistry::Mlflow(_) => String::new(),
            local => format!(" in the {local}"),
        };
        println!(
            "registry: {name} version {version} ({}) is the challenger{place}",
            done.chosen.name
        );
    }
    Ok(())
}
