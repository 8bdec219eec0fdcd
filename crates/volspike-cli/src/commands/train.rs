//! `volspike train`: label, split, train, evaluate, write the model files
//! and the report, log the run to MLflow and register the chosen model.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use volspike_core::FeatureRow;
use volspike_runtime::ConfigLoader;
use volspike_train::alerting::BudgetConfig;
use volspike_train::boost::BoostConfig;
use volspike_train::cv;
use volspike_train::dataset::{LabelConfig, LabelKind, LabelReturns};
use volspike_train::forest::ForestConfig;
use volspike_train::register::{Registration, train_pick_register};
use volspike_train::split::SplitConfig;
use volspike_train::train::{CalibrationMethod, ModelKind, TrainConfig};

use super::{RegistryArgs, load, open_registry};

/// Arguments of `volspike train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Feature parquet files (`volspike replay` output).
    #[arg(long, required = true, num_args = 1..)]
    pub features: Vec<PathBuf>,
    /// `relative` (forward over trailing volatility >= tau: unusually
    /// volatile for the last `--lookback`; the default, chosen by leaving
    /// each recorder and each day out, `docs/models.md`) or `absolute`
    /// (forward volatility >= tau; it moves with the market's level: a calm
    /// day has almost no spikes, a wild one almost only spikes).
    #[arg(long, default_value = "relative", value_parser = parse_label_kind)]
    pub label_kind: LabelKind,
    /// `clock` (returns of the last price every `--label-step`, the same
    /// quantity on every recorder; the default) or `tick` (tick-to-tick
    /// returns, which grow where a recorder kept fewer messages).
    #[arg(long, default_value = "clock", value_parser = parse_label_returns)]
    pub label_returns: LabelReturns,
    /// The clock of `--label-returns clock`.
    #[arg(long, default_value = "1s", value_parser = parse_step)]
    pub label_step: Duration,
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
    /// `file`: each `--features` file (a recording) is split in time on
    /// its own and the parts put together, so validation and test hold the
    /// end of every recording; `time`: all rows split in time together
    /// (with one file the two are the same).
    #[arg(long, value_enum, default_value = "file")]
    pub split_by: SplitBy,
    /// Models, comma-separated: baseline, logistic, forest, boosted. The
    /// default leaves out the forest and the booster, which rank a held-out
    /// recorder or day worse than the logistic regression (`docs/models.md`).
    #[arg(long, value_delimiter = ',', default_value = "baseline,logistic")]
    pub models: Vec<ModelKind>,
    /// Depth of the forest's trees (default 8).
    #[arg(long)]
    pub forest_depth: Option<u16>,
    /// Fewest training rows in a leaf of the forest (default 20).
    #[arg(long)]
    pub forest_min_leaf: Option<usize>,
    /// Depth of the booster's trees (default 4).
    #[arg(long)]
    pub boost_depth: Option<usize>,
    /// Smallest hessian sum in a leaf of the booster (default 5).
    #[arg(long)]
    pub boost_min_leaf_weight: Option<f32>,
    /// Hold the booster to the relations known before any data: spikes
    /// likelier with recent volatility, and under the relative label less
    /// likely with the volatility over its lookback, the label's
    /// denominator (`docs/models.md`).
    #[arg(long)]
    pub monotone: bool,
    /// `platt` (Platt scaling of each model's margin, fitted on
    /// validation, so a score is the chance of a spike) or `none` (the
    /// raw score; balanced class weights then overstate it).
    #[arg(long, default_value = "platt")]
    pub calibration: CalibrationMethod,
    /// Alerts per product and market hour the model's alert policy aims
    /// at (the threshold follows the trailing scores of each product;
    /// `docs/models.md`). Default 6.
    #[arg(long)]
    pub alert_budget: Option<f64>,
    /// Trailing window of event time whose scores set the alert threshold.
    /// Default 30m.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub alert_window: Option<Duration>,
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
    /// Start from the defaults before the clock label instead: the
    /// absolute label on tick returns, the tick volatilities as inputs, all
    /// four models (`TrainConfig::tick_label`); `--quantile`, `--split`
    /// and the other flags still apply.
    #[arg(long, conflicts_with_all = ["label_kind", "label_returns", "inputs", "models"])]
    pub tick_label: bool,
    /// Cross-validate instead of training once: `recorder` holds out each
    /// `--features` file in turn (one file per recorder), `day` each UTC
    /// day. Prints every fold and the means, writes `cv.json` to `--out`,
    /// registers nothing.
    #[arg(long, value_enum)]
    pub cv: Option<CvBy>,
}

/// How `volspike train` cuts rows into train, validation and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitBy {
    /// Each `--features` file in time on its own.
    File,
    /// All rows in time together.
    Time,
}

/// What a cross-validation fold holds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CvBy {
    /// Each `--features` file.
    Recorder,
    /// Each UTC day of the rows.
    Day,
}

pub(crate) fn parse_label_kind(s: &str) -> Result<LabelKind, String> {
    match s {
        "absolute" => Ok(LabelKind::Absolute),
        "relative" => Ok(LabelKind::Relative),
        _ => Err(format!(
            "label kind must be `absolute` or `relative`, not `{s}`"
        )),
    }
}

fn parse_label_returns(s: &str) -> Result<LabelReturns, String> {
    match s {
        "clock" => Ok(LabelReturns::Clock),
        "tick" => Ok(LabelReturns::Tick),
        _ => Err(format!(
            "label returns must be `clock` or `tick`, not `{s}`"
        )),
    }
}

/// A clock step: positive, at most half the 60-second horizon (the label
/// needs two returns).
fn parse_step(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(30) {
        return Err(format!("the label step must be in (0, 30s], not `{s}`"));
    }
    Ok(d)
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
    if a.forest_depth == Some(0) || a.boost_depth == Some(0) || a.forest_min_leaf == Some(0) {
        anyhow::bail!("tree depths and the forest's leaf size must be at least 1");
    }
    if a.boost_min_leaf_weight
        .is_some_and(|w| !w.is_finite() || w < 0.0)
    {
        anyhow::bail!("--boost-min-leaf-weight must be a finite number >= 0");
    }
    let defaults = if a.tick_label {
        TrainConfig::tick_label()
    } else {
        TrainConfig::default()
    };
    let (kind, returns, models) = if a.tick_label {
        (
            defaults.label.kind,
            defaults.label.returns,
            defaults.models.clone(),
        )
    } else {
        (a.label_kind, a.label_returns, a.models)
    };
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
            kind,
            quantile: a.quantile,
            lookback: a.lookback,
            returns,
            step: a.label_step,
            ..Default::default()
        },
        models,
        calibration: a.calibration,
        forest: ForestConfig {
            max_depth: a.forest_depth.unwrap_or(defaults.forest.max_depth),
            min_samples_leaf: a
                .forest_min_leaf
                .unwrap_or(defaults.forest.min_samples_leaf),
            ..defaults.forest
        },
        boost: BoostConfig {
            max_depth: a.boost_depth.unwrap_or(defaults.boost.max_depth),
            min_leaf_weight: a
                .boost_min_leaf_weight
                .unwrap_or(defaults.boost.min_leaf_weight),
            monotone: a.monotone,
            ..defaults.boost
        },
        alerts: BudgetConfig {
            per_hour: a.alert_budget.unwrap_or(defaults.alerts.per_hour),
            window: a.alert_window.unwrap_or(defaults.alerts.window),
            ..defaults.alerts
        },
        ..defaults
    };
    if !(cfg.alerts.per_hour > 0.0 && cfg.alerts.per_hour.is_finite()) {
        anyhow::bail!("--alert-budget must be a positive number of alerts per product-hour");
    }
    let started = Instant::now();
    let (registry, model_name) = (a.registry, a.model_name);
    let app = load(loader.overrides(move |c| {
        registry.apply(c);
        if let Some(n) = model_name {
            c.registry.model_name = n;
        }
    }))?;
    if let Some(by) = a.cv {
        return cross_validate(by, &a.features, &cfg, &a.out, started);
    }
    let groups: Vec<Vec<FeatureRow>> = match a.split_by {
        SplitBy::File => super::label_rates::groups_by_file(&a.features)?
            .into_iter()
            .map(|(_, rows)| rows)
            .collect(),
        SplitBy::Time => vec![volspike_replay::parquet::read_files(&a.features)?],
    };
    let groups: Vec<&[FeatureRow]> = groups.iter().map(Vec::as_slice).collect();
    let registry = open_registry(&app)?;
    let reg = Registration {
        name: (!a.no_register).then_some(app.registry.model_name.as_str()),
        experiment: &app.registry.experiment,
        champion_if_none: false,
    };
    let (report, done) = train_pick_register(
        &groups,
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
            // Without any user and password the URI carried.
            volspike_mlflow::client::split_credentials(
                app.registry.mlflow_uri.as_deref().unwrap_or_default()
            )
            .0
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

/// `--cv`: every fold, then the means (best mean PR-AUC first).
fn cross_validate(
    by: CvBy,
    files: &[PathBuf],
    cfg: &TrainConfig,
    out: &std::path::Path,
    started: Instant,
) -> anyhow::Result<()> {
    let (name, groups) = match by {
        CvBy::Recorder => {
            if files.len() < 2 {
                anyhow::bail!("--cv recorder needs one --features file per recorder, at least two");
            }
            ("recorder", super::label_rates::groups_by_file(files)?)
        }
        CvBy::Day => (
            "day",
            cv::by_day(&volspike_replay::parquet::read_files(files)?),
        ),
    };
    let report = cv::cross_validate(name, &groups, cfg)?;
    for f in &report.folds {
        match &f.skipped {
            Some(why) => println!("fold {}: skipped ({why})", f.held_out),
            None => {
                println!(
                    "fold {}: trained on {} rows ({} embargoed), tau {:.4e}",
                    f.held_out,
                    f.train_rows,
                    f.embargoed,
                    f.tau.unwrap_or(f64::NAN)
                );
                for s in &f.scores {
                    println!(
                        "  {:<32} rows {:>7}  base {:.3}  PR-AUC {}  ROC-AUC {}  lift {}",
                        s.name,
                        s.rows,
                        s.base_rate,
                        opt(s.pr_auc),
                        opt(s.roc_auc),
                        opt(s.lift)
                    );
                }
            }
        }
    }
    println!(
        "mean over folds ({name} held out), best PR-AUC first:\n{:<32} {:>5} {:>8} {:>8} {:>6} {:>6}",
        "score", "folds", "PR-AUC", "ROC-AUC", "base", "lift"
    );
    for m in &report.means {
        println!(
            "{:<32} {:>5} {:>8.4} {:>8} {:>6.3} {:>6.2}",
            m.name,
            m.folds,
            m.pr_auc,
            opt(m.roc_auc),
            m.base_rate,
            m.lift
        );
    }
    print!("{}", cv_alert_table(&report, cfg.alerts.per_hour));
    std::fs::create_dir_all(out)?;
    let path = out.join("cv.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    println!(
        "train --cv {name}: {} folds in {:.1} s; {}",
        report.folds.len(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}

/// Each model's alerts on each held-out group, then per model the means
/// over folds: what the alert budget and the policy do on data they were
/// not fitted on.
fn cv_alert_table(report: &cv::CvReport, budget: f64) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "alerts on each held-out {} at a budget of {budget} per product-hour:\n{:<21}{}",
        report.by,
        "held out",
        volspike_train::artifacts::alert_header()
    );
    // model -> (folds with episodes, recall sum, random sum, folds with
    // market hours, of those within 2x of the budget)
    let mut means: std::collections::BTreeMap<&str, (usize, f64, f64, usize, usize)> =
        std::collections::BTreeMap::new();
    for f in &report.folds {
        for sc in &f.scores {
            let Some(m) = &sc.alerts else { continue };
            let held: String = f.held_out.chars().take(20).collect();
            let _ = write!(
                s,
                "{held:<21}{}",
                volspike_train::artifacts::alert_line(&sc.name, m)
            );
            let e = means.entry(&sc.name).or_default();
            if let (Some(r), Some(rr)) = (m.recall, m.random_recall) {
                e.0 += 1;
                e.1 += r;
                e.2 += rr;
            }
            if let Some(rate) = m.alerts_per_hour {
                e.3 += 1;
                e.4 += usize::from(rate >= budget / 2.0 && rate <= budget * 2.0);
            }
        }
    }
    for (name, (n, r, rr, rated, within)) in means {
        let _ = writeln!(
            s,
            "{name}: mean episode recall {:.3} against {:.3} for random alerts at the same rate ({:.2}x) over {n} folds with episodes; alerts per market hour within 2x of the budget in {within} of {rated} folds",
            r / n.max(1) as f64,
            rr / n.max(1) as f64,
            r / rr.max(f64::MIN_POSITIVE)
        );
    }
    s
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
}
