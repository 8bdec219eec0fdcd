//! Training: label, split, fit every model on train, choose each decision
//! threshold on validation, report validation and test metrics.
//!
//! Deterministic: rows are put in canonical order (time, product, tie)
//! before anything is fitted, so the input order never matters; the
//! logistic solver has no randomness, and the forest and the booster draw
//! only from their configured seeds (the booster runs serially).

use serde::{Deserialize, Serialize};
use volspike_core::FeatureRow;
use volspike_model::alerts::{AlertMetrics, AlertPolicy, BudgetConfig};
use volspike_model::artifact::{FORMAT_VERSION, ModelFile};
use volspike_model::model::{Model, Params, Scaler};
use volspike_model::reference::{self, Distribution};

use crate::alerting::{self, BudgetPoint, ScoredSplit};
use crate::boost::{BoostConfig, fit_boosted};
use crate::dataset::{
    self, DEFAULT_FEATURES, Dataset, DatasetCounts, LabelConfig, LabelKind, LabelReturns, quantile,
};
use crate::forest::{ForestConfig, fit_forest};
use crate::metrics::{self, Metrics};
use crate::split::{self, SplitConfig, Splits};

/// Which models to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// z-score of one volatility feature.
    Baseline,
    /// Logistic regression (L2, smartcore's LBFGS).
    Logistic,
    /// Random forest (smartcore's trees).
    Forest,
    /// Gradient-boosted trees (forust-ml).
    Boosted,
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "baseline" => Ok(ModelKind::Baseline),
            "logistic" => Ok(ModelKind::Logistic),
            "forest" | "random_forest" => Ok(ModelKind::Forest),
            "boosted" | "gbm" => Ok(ModelKind::Boosted),
            _ => Err(format!(
                "unknown model `{s}` (known: baseline, logistic, forest, boosted)"
            )),
        }
    }
}

/// How the classes are weighted in fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row counts once.
    None,
    /// Each class weighs n / (2 n_class) (scikit-learn's `balanced`).
    Balanced,
}

impl ClassWeight {
    /// The weight of a positive and of a negative row among `positives`
    /// and `negatives`: scikit-learn's `balanced` is n / (2 n_class). The
    /// one place the formula is written; the logistic regression and the
    /// booster weigh rows with it, the forest's leaves with its ratio.
    pub fn weights(self, positives: usize, negatives: usize) -> (f64, f64) {
        let n = (positives + negatives) as f64;
        match self {
            ClassWeight::None => (1.0, 1.0),
            ClassWeight::Balanced => (n / (2.0 * positives as f64), n / (2.0 * negatives as f64)),
        }
    }
}

/// How a model's scores are made probabilities after fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// The parameters' own squashing (a balanced model then overstates
    /// the chance of a spike).
    None,
    /// Platt scaling of the margin, fitted on validation
    /// ([`volspike_model::calibration`]).
    Platt,
}

impl std::str::FromStr for CalibrationMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(CalibrationMethod::None),
            "platt" | "sigmoid" => Ok(CalibrationMethod::Platt),
            _ => Err(format!("unknown calibration `{s}` (known: platt, none)")),
        }
    }
}

/// Everything training needs besides the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrainConfig {
    /// What a spike is.
    pub label: LabelConfig,
    /// Split shares.
    pub split: SplitConfig,
    /// Model inputs, in order.
    pub features: Vec<String>,
    /// Take the log of the scale inputs ([`dataset::SCALE_FEATURES`])
    /// before standardizing (default true).
    #[serde(default = "yes")]
    pub log_scale_inputs: bool,
    /// Keep only warm rows (every feature window complete) for training and
    /// evaluation, and have the model score only warm rows (default true).
    #[serde(default = "yes")]
    pub warm_only: bool,
    /// Models to train.
    pub models: Vec<ModelKind>,
    /// The baseline's feature.
    pub baseline_feature: String,
    /// Logistic regression L2 strength (scikit-learn's 1 / C).
    pub logistic_alpha: f64,
    /// Class weighting of the fitted models.
    pub class_weight: ClassWeight,
    /// How scores become probabilities (default Platt scaling); none in
    /// configurations from before it was recorded, which were not
    /// calibrated.
    #[serde(default = "uncalibrated")]
    pub calibration: CalibrationMethod,
    /// Random forest settings.
    #[serde(default)]
    pub forest: ForestConfig,
    /// Gradient boosting settings.
    #[serde(default)]
    pub boost: BoostConfig,
    /// The alert budget policy (configurations from before it: the
    /// defaults).
    #[serde(default)]
    pub alerts: BudgetConfig,
}

impl TrainConfig {
    /// The configuration `file` was trained with: the one it records, else
    /// (files from before it was recorded) the defaults with the file's
    /// label, inputs, warm-only choice and model kind.
    pub fn of_model(file: &ModelFile) -> Result<TrainConfig, String> {
        if let Some(v) = &file.training {
            return serde_json::from_value(v.clone())
                .map_err(|e| format!("the model file's training configuration: {e}"));
        }
        let kind: ModelKind = file.model.name().parse()?;
        let baseline_feature = match &file.model.params {
            Params::Baseline { feature } => file
                .model
                .feature_names
                .get(*feature)
                .cloned()
                .ok_or("the baseline's feature index is past its inputs")?,
            _ => TrainConfig::default().baseline_feature,
        };
        Ok(TrainConfig {
            label: file.label.clone(),
            features: file.model.feature_names.clone(),
            warm_only: file.model.warm_only,
            models: vec![kind],
            baseline_feature,
            calibration: uncalibrated(),
            ..TrainConfig::default()
        })
    }
}

/// What `volspike train`, the demo and the drift worker's first retrain
/// use unless told otherwise, chosen by leaving each recorder and each day
/// of the shared recordings out (`docs/models.md`): the relative label on
/// 1 s clock returns, the clock volatilities as inputs, the baseline and
/// the logistic regression (the forest and the booster rank a held-out
/// recorder worse), Platt-calibrated.
impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            label: LabelConfig {
                kind: LabelKind::Relative,
                returns: LabelReturns::Clock,
                ..LabelConfig::default()
            },
            split: SplitConfig::default(),
            features: DEFAULT_FEATURES.iter().map(|f| (*f).to_owned()).collect(),
            log_scale_inputs: true,
            warm_only: true,
            models: vec![ModelKind::Baseline, ModelKind::Logistic],
            baseline_feature: "clock_volatility_1min".into(),
            logistic_alpha: 1.0,
            class_weight: ClassWeight::Balanced,
            calibration: CalibrationMethod::Platt,
            forest: ForestConfig::default(),
            boost: BoostConfig::default(),
            alerts: BudgetConfig::default(),
        }
    }
}

/// How an input moves the chance of a spike under `label`, known before
/// any data: +1 (rises with it), -1 (falls) or 0 (not known). Volatility
/// clusters, so every trailing volatility predicts forward volatility: +1
/// under the absolute label. The relative label divides by the trailing
/// volatility over its lookback, so a volatility over that window is its
/// denominator (-1) and one over a shorter window is recent news that the
/// denominator has not caught up with (+1); longer windows are not known.
pub fn known_direction(feature: &str, label: &LabelConfig) -> i8 {
    let window_s = match feature {
        "clock_volatility_10s" => 10,
        "clock_volatility_1min" | "price_volatility_1min" => 60,
        "clock_volatility_5min" | "price_volatility_5min" => 300,
        "clock_volatility_30min" => 1800,
        _ => return 0,
    };
    match label.kind {
        LabelKind::Absolute => 1,
        LabelKind::Relative => match window_s.cmp(&label.lookback.as_secs()) {
            std::cmp::Ordering::Less => 1,
            std::cmp::Ordering::Equal => -1,
            std::cmp::Ordering::Greater => 0,
        },
    }
}

impl TrainConfig {
    /// The defaults before the clock label (issue 17): the absolute label
    /// on tick returns, the tick volatilities as inputs, all four models,
    /// the baseline on `price_volatility_1min`. What `volspike demo
    /// --tick-label` and the benchmarks recorded with it train.
    pub fn tick_label() -> Self {
        TrainConfig {
            label: LabelConfig::default(),
            features: [
                "price_volatility_1min",
                "price_volatility_5min",
                "volatility_ratio",
            ]
            .map(String::from)
            .to_vec(),
            models: vec![
                ModelKind::Baseline,
                ModelKind::Logistic,
                ModelKind::Forest,
                ModelKind::Boosted,
            ],
            baseline_feature: "price_volatility_1min".into(),
            ..TrainConfig::default()
        }
    }
}

fn yes() -> bool {
    true
}

fn uncalibrated() -> CalibrationMethod {
    CalibrationMethod::None
}

/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Building the dataset failed.
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    /// Splitting failed.
    #[error(transparent)]
    Split(#[from] split::SplitError),
    /// Metrics failed.
    #[error(transparent)]
    Metrics(#[from] metrics::MetricError),
    /// The baseline feature is not among the inputs.
    #[error("the baseline feature `{0}` is not among the model inputs")]
    BaselineFeature(String),
    /// A split has no spikes (or nothing else).
    #[error("the {0} split has {1} spikes in {2} rows: both classes are needed")]
    OneClass(&'static str, usize, usize),
    /// The solver failed.
    #[error("fitting {0}: {1}")]
    Fit(&'static str, String),
}

/// One trained model and its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// The model; its threshold is the alert policy's fallback.
    pub model: Model,
    /// How its scores become alerts: the budget, with the fixed threshold
    /// that met it on validation as fallback.
    pub alert_policy: AlertPolicy,
    /// Alert-level metrics of the policy on validation.
    pub validation_alerts: AlertMetrics,
    /// Alert-level metrics of the policy on test.
    pub test_alerts: AlertMetrics,
    /// Recall against false alerts per hour on test over budgets.
    pub budget_curve: Vec<BudgetPoint>,
    /// Metrics on validation at that threshold.
    pub validation: Metrics,
    /// Metrics on test at that threshold.
    pub test: Metrics,
    /// How much each input matters, summing to 1: the share of |coef| on
    /// standardized inputs for the logistic regression, the mean decrease
    /// in impurity for the forest, the total split gain for the booster,
    /// all on its feature for the baseline.
    pub importances: Vec<f64>,
    /// The distribution of the model's scores on validation (for drift
    /// checks of the model's output).
    pub score_reference: Distribution,
    /// PR and ROC curves on test, thinned for plotting.
    pub test_curves: Curves,
}

/// Curves for plots: points in order of decreasing threshold, at most
/// [`Curves::MAX_POINTS`] each, and the reliability diagram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// (recall, precision).
    pub pr: Vec<[f64; 2]>,
    /// (false positive rate, true positive rate); empty with one class.
    pub roc: Vec<[f64; 2]>,
    /// Mean score against observed spike rate in
    /// [`metrics::RELIABILITY_BINS`] equal-width bins (those with rows).
    #[serde(default)]
    pub reliability: Vec<metrics::ReliabilityBin>,
}

impl Curves {
    /// Most points kept per curve.
    pub const MAX_POINTS: usize = 500;

    /// The curves of `scores` against `labels`.
    pub fn of(labels: &[bool], scores: &[f64]) -> Result<Curves, metrics::MetricError> {
        let pr = metrics::pr_curve(labels, scores)?;
        let roc = metrics::roc_curve(labels, scores)?;
        Ok(Curves {
            pr: thin(
                pr.recall
                    .iter()
                    .zip(&pr.precision)
                    .map(|(&r, &p)| [r, p])
                    .collect(),
            ),
            roc: roc.map_or_else(Vec::new, |c| {
                thin(c.fpr.iter().zip(&c.tpr).map(|(&f, &t)| [f, t]).collect())
            }),
            reliability: metrics::reliability(labels, scores, metrics::RELIABILITY_BINS)?,
        })
    }
}

/// Every k-th point, plus the last, so a plot keeps its shape.
fn thin(points: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    if points.len() <= Curves::MAX_POINTS {
        return points;
    }
    let step = points.len().div_ceil(Curves::MAX_POINTS - 1);
    let last = *points.last().expect("not empty");
    let mut out: Vec<[f64; 2]> = points.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The configuration used.
    pub config: TrainConfig,
    /// Rows kept and dropped.
    pub counts: DatasetCounts,
    /// Row ranges of the splits (in canonical order).
    pub splits: Splits,
    /// The spike threshold on the target, from the training split.
    pub tau: f64,
    /// Time span of the training rows, ns (first, last).
    pub train_span_ns: (i64, i64),
    /// Spike rate of each split: train, validation, test.
    pub spike_rates: [f64; 3],
    /// The models, in the order asked for.
    pub models: Vec<Trained>,
    /// Every input's distribution on the training rows (for drift checks).
    pub reference: Vec<Distribution>,
}

impl TrainReport {
    /// The model file of one trained model of this report.
    pub fn model_file(&self, trained: &Trained) -> ModelFile {
        ModelFile {
            format_version: FORMAT_VERSION,
            name: trained.model.name().to_owned(),
            model: trained.model.clone(),
            label: self.config.label.clone(),
            tau: self.tau,
            train_span_ns: self.train_span_ns,
            validation: trained.validation.clone(),
            test: trained.test.clone(),
            importances: trained.importances.clone(),
            reference: self.reference.clone(),
            score_reference: Some(trained.score_reference.clone()),
            training: Some(
                serde_json::to_value(&self.config).expect("a training configuration serializes"),
            ),
            alert_policy: Some(trained.alert_policy.clone()),
            validation_alerts: Some(trained.validation_alerts.clone()),
            test_alerts: Some(trained.test_alerts.clone()),
        }
    }

    /// The model to put forward: the highest validation PR-AUC (test
    /// metrics are for reporting only, never for choosing).
    pub fn best(&self) -> Option<&Trained> {
        self.models.iter().max_by(|a, b| {
            let key = |t: &Trained| t.validation.pr_auc.unwrap_or(f64::NEG_INFINITY);
            key(a).total_cmp(&key(b)).then(std::cmp::Ordering::Greater)
        })
    }
}

/// The labeled, split data that models are fitted on.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// All kept rows in canonical order.
    pub data: Dataset,
    /// Row counts.
    pub counts: DatasetCounts,
    /// Splits of `data`.
    pub splits: Splits,
    /// Spike threshold on the target.
    pub tau: f64,
    /// `target >= tau` for every row.
    pub labels: Vec<bool>,
}

/// Splits a dataset and picks tau on the training split (step 2 of
/// [`train`]).
pub fn prepare(
    data: Dataset,
    counts: DatasetCounts,
    cfg: &TrainConfig,
) -> Result<Prepared, TrainError> {
    let splits = split::split(
        &data.event_time_ns,
        cfg.split,
        cfg.label.horizon.as_nanos() as i64,
    )?;
    label_splits(data, counts, splits, cfg)
}

/// Picks tau on the training split and labels every row.
fn label_splits(
    data: Dataset,
    counts: DatasetCounts,
    splits: Splits,
    cfg: &TrainConfig,
) -> Result<Prepared, TrainError> {
    let tau = quantile(&data.target[splits.train.clone()], cfg.label.quantile)
        .expect("the train split is not empty");
    let labels: Vec<bool> = data.target.iter().map(|&v| v >= tau).collect();
    // Fitting needs both classes, and so does choosing a threshold; a test
    // split without spikes is reported as such (PR-AUC undefined).
    for (name, r) in [("train", &splits.train), ("validation", &splits.validation)] {
        let spikes = labels[r.clone()].iter().filter(|&&y| y).count();
        if spikes == 0 || spikes == r.len() {
            return Err(TrainError::OneClass(name, spikes, r.len()));
        }
    }
    Ok(Prepared {
        data,
        counts,
        splits,
        tau,
        labels,
    })
}

/// Like [`build_dataset`] then [`prepare`], but each group of rows (a
/// recorder's file, a day) is labeled and split in time on its own, and the
/// groups' train, validation and test parts are put end to end. Validation
/// and test then hold the end of every group rather than only the latest
/// group's, which on recordings of different days may hold no spike at all.
/// A group too short to split (or empty after labeling) goes to training
/// whole. tau is the quantile of all groups' training targets.
pub fn prepare_grouped(
    groups: &[&[FeatureRow]],
    cfg: &TrainConfig,
) -> Result<Prepared, TrainError> {
    let horizon = i64::try_from(cfg.label.horizon.as_nanos()).unwrap_or(i64::MAX);
    let mut parts: Vec<(Dataset, Option<Splits>)> = Vec::new();
    let mut counts = DatasetCounts::default();
    for rows in groups {
        let (data, c) = build_dataset(rows, cfg)?;
        counts.add(&c);
        let splits = split::split(&data.event_time_ns, cfg.split, horizon).ok();
        parts.push((data, splits));
    }
    let mut data = Dataset {
        feature_names: cfg.features.clone(),
        ..Dataset::default()
    };
    let mut embargoed = 0;
    let mut ends = [0usize; 3];
    for (k, end) in ends.iter_mut().enumerate() {
        for (d, splits) in &parts {
            let range = match (splits, k) {
                (Some(s), 0) => s.train.clone(),
                (Some(s), 1) => s.validation.clone(),
                (Some(s), _) => s.test.clone(),
                (None, 0) => 0..d.len(),
                (None, _) => 0..0,
            };
            data.extend_from(d, range);
        }
        *end = data.len();
    }
    for s in parts.iter().filter_map(|(_, s)| s.as_ref()) {
        embargoed += s.embargoed;
    }
    let splits = Splits {
        train: 0..ends[0],
        validation: ends[0]..ends[1],
        test: ends[1]..ends[2],
        embargoed,
    };
    for (name, r) in [
        ("train", &splits.train),
        ("validation", &splits.validation),
        ("test", &splits.test),
    ] {
        if r.is_empty() {
            return Err(split::SplitError::Empty(name, data.len()).into());
        }
    }
    label_splits(data, counts, splits, cfg)
}

/// Trains every configured model on `rows`.
pub fn train(rows: &[FeatureRow], cfg: &TrainConfig) -> Result<TrainReport, TrainError> {
    let (data, counts) = build_dataset(rows, cfg)?;
    fit_models(prepare(data, counts, cfg)?, cfg, |_| {})
}

/// Labels `rows` and keeps the usable ones (step 1 of [`train`]).
pub fn build_dataset(
    rows: &[FeatureRow],
    cfg: &TrainConfig,
) -> Result<(Dataset, DatasetCounts), TrainError> {
    let names: Vec<&str> = cfg.features.iter().map(String::as_str).collect();
    Ok(dataset::build(rows, &names, &cfg.label, cfg.warm_only)?)
}

/// Fits every configured model on prepared data (step 3 of [`train`]),
/// calling `progress` with each model's name before fitting it.
pub fn fit_models(
    p: Prepared,
    cfg: &TrainConfig,
    mut progress: impl FnMut(&str),
) -> Result<TrainReport, TrainError> {
    let width = p.data.feature_names.len();
    let s = &p.splits;
    let train_x = &p.data.x[s.train.start * width..s.train.end * width];
    let train_y = &p.labels[s.train.clone()];
    let log_columns: Vec<bool> = p
        .data
        .feature_names
        .iter()
        .map(|f| cfg.log_scale_inputs && dataset::SCALE_FEATURES.contains(&f.as_str()))
        .collect();
    let scaler = Scaler::fit_logged(train_x, width, &log_columns);
    let mut models = Vec::new();
    let horizon_ns = i64::try_from(cfg.label.horizon.as_nanos()).unwrap_or(i64::MAX);
    let val_order = alerting::stream_order(&p.data, s.validation.clone());
    let test_order = alerting::stream_order(&p.data, s.test.clone());
    // Standardized training rows, made once for the models that need them.
    let standardized = std::cell::OnceCell::new();
    let standardized = || standardized.get_or_init(|| scaler.transform_rows(train_x));
    for kind in &cfg.models {
        let (params, importances) = match kind {
            ModelKind::Baseline => {
                progress("baseline");
                let feature = cfg
                    .features
                    .iter()
                    .position(|f| *f == cfg.baseline_feature)
                    .ok_or_else(|| TrainError::BaselineFeature(cfg.baseline_feature.clone()))?;
                let mut importances = vec![0.0; width];
                importances[feature] = 1.0;
                (Params::Baseline { feature }, importances)
            }
            ModelKind::Logistic => {
                progress("logistic");
                let params = fit_logistic(
                    standardized(),
                    train_y,
                    width,
                    cfg.logistic_alpha,
                    cfg.class_weight,
                )?;
                let Params::Logistic { coef, .. } = &params else {
                    unreachable!("fit_logistic returns logistic parameters")
                };
                let total: f64 = coef.iter().map(|c| c.abs()).sum();
                let importances = coef
                    .iter()
                    .map(|c| c.abs() / total.max(f64::MIN_POSITIVE))
                    .collect();
                (params, importances)
            }
            ModelKind::Forest => {
                progress("forest");
                let fitted = fit_forest(
                    standardized(),
                    train_y,
                    width,
                    &cfg.forest,
                    cfg.class_weight,
                )
                .map_err(|e| TrainError::Fit("forest", e))?;
                (
                    Params::Forest {
                        trees: fitted.trees,
                    },
                    fitted.importances,
                )
            }
            ModelKind::Boosted => {
                progress("boosted");
                let directions: Vec<i8> = cfg
                    .features
                    .iter()
                    .map(|f| known_direction(f, &cfg.label))
                    .collect();
                let (booster, importances) = fit_boosted(
                    standardized(),
                    train_y,
                    width,
                    &cfg.boost,
                    cfg.class_weight,
                    &directions,
                )
                .map_err(|e| TrainError::Fit("boosted", e))?;
                (
                    Params::Boosted {
                        booster: Box::new(booster),
                    },
                    importances,
                )
            }
        };
        let mut model = Model {
            feature_names: p.data.feature_names.clone(),
            scaler: scaler.clone(),
            params,
            calibration: None,
            threshold: 0.5,
            warm_only: cfg.warm_only,
        };
        let rows_of = |r: &std::ops::Range<usize>| &p.data.x[r.start * width..r.end * width];
        let val_y = &p.labels[s.validation.clone()];
        // Fitted on validation, as scikit-learn's prefit calibration: the
        // training rows' scores are too good, and test is for reporting.
        if cfg.calibration == CalibrationMethod::Platt {
            model.calibration =
                crate::calibrate::fit_platt(&model.margin_rows(rows_of(&s.validation)), val_y);
        }
        let val_scores = model.score_rows(rows_of(&s.validation));
        let test_scores = model.score_rows(rows_of(&s.test));
        // The operating point: the alert budget, its fallback the fixed
        // threshold that met the budget on validation (also the threshold
        // of the row-level metrics).
        let val_split = ScoredSplit {
            order: &val_order,
            scores: &val_scores,
            offset: s.validation.start,
        };
        let test_split = ScoredSplit {
            order: &test_order,
            scores: &test_scores,
            offset: s.test.start,
        };
        let alert_policy =
            alerting::fit_policy(&cfg.alerts, &p.data, &val_order, |i| val_split.score(i));
        model.threshold = alert_policy.initial_threshold();
        let alerts_of = |split: ScoredSplit<'_>| {
            let alerts =
                alerting::alerts_on(&alert_policy, &p.data, split.order, |i| split.score(i));
            alerting::metrics_of(&p.data, split.order, &p.labels, &alerts, horizon_ns)
        };
        let validation_alerts = alerts_of(val_split);
        let test_alerts = alerts_of(test_split);
        let budget_curve = alerting::budget_curve(
            &cfg.alerts,
            &p.data,
            &p.labels,
            val_split,
            test_split,
            horizon_ns,
        );
        let validation = metrics::evaluate(val_y, &val_scores, model.threshold)?;
        let test = metrics::evaluate(&p.labels[s.test.clone()], &test_scores, model.threshold)?;
        models.push(Trained {
            model,
            alert_policy,
            validation_alerts,
            test_alerts,
            budget_curve,
            validation,
            test,
            importances,
            score_reference: Distribution::of("score", &val_scores),
            test_curves: Curves::of(&p.labels[s.test.clone()], &test_scores)?,
        });
    }
    let rate = |r: &std::ops::Range<usize>| {
        p.labels[r.clone()].iter().filter(|&&y| y).count() as f64 / r.len() as f64
    };
    Ok(TrainReport {
        config: cfg.clone(),
        counts: p.counts.clone(),
        splits: s.clone(),
        tau: p.tau,
        // The first and last training times (rows of grouped data are in
        // time order within each group only).
        train_span_ns: p.data.event_time_ns[s.train.clone()]
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t))),
        spike_rates: [rate(&s.train), rate(&s.validation), rate(&s.test)],
        models,
        reference: reference::of_columns(&p.data.feature_names, train_x),
    })
}

/// Fits an L2 logistic regression on standardized rows `z` (row-major,
/// `width` columns) with smartcore's
/// LBFGS optimizer. The objective is ours: sample-weighted (balanced classes
/// need no repeated rows) and computed in one pass over a flat row-major
/// matrix, in fixed chunks summed in order (the same bits on any number of
/// cores). It is scikit-learn's: sum_i w_i logloss_i + alpha / 2 |coef|^2
/// with an unpenalized intercept (alpha = 1 / C), divided by the total
/// weight, which does not move the minimum.
pub fn fit_logistic(
    z: &[f64],
    y: &[bool],
    width: usize,
    alpha: f64,
    class_weight: ClassWeight,
) -> Result<Params, TrainError> {
    use smartcore::optimization::FunctionOrder;
    use smartcore::optimization::first_order::FirstOrderOptimizer as _;
    use smartcore::optimization::first_order::lbfgs::LBFGS;
    use smartcore::optimization::line_search::Backtracking;

    let n = y.len();
    let positives = y.iter().filter(|&&v| v).count();
    let (w_pos, w_neg) = class_weight.weights(positives, n - positives);
    let objective = LogisticObjective {
        z,
        y,
        weights: (w_pos, w_neg),
        width,
        alpha,
        total_weight: w_pos * positives as f64 + w_neg * (n - positives) as f64,
    };
    // Every evaluation computes the loss and the gradient in one pass and
    // keeps both: smartcore's LBFGS asks for f and df separately at the same
    // point (df(x), f(x) at each step, f(x'), df(x') after it), so one pass
    // per point is enough.
    // (point, loss, gradient) of the last evaluation.
    type Evaluation = Option<(Vec<f64>, f64, Vec<f64>)>;
    let last: std::cell::RefCell<Evaluation> = Default::default();
    let eval = |wb: &Vec<f64>| -> (f64, std::cell::Ref<'_, Vec<f64>>) {
        let hit = matches!(&*last.borrow(), Some((x, _, _)) if x == wb);
        if !hit {
            let mut g = Vec::new();
            let loss = objective.loss_and_gradient(wb, Some(&mut g));
            *last.borrow_mut() = Some((wb.clone(), loss, g));
        }
        let cached = std::cell::Ref::map(last.borrow(), |c| c.as_ref().expect("just filled"));
        (cached.1, std::cell::Ref::map(cached, |c| &c.2))
    };
    let f = |wb: &Vec<f64>| eval(wb).0;
    let df = |g: &mut Vec<f64>, wb: &Vec<f64>| g.clone_from(&eval(wb).1);
    let ls: Backtracking<f64> = Backtracking {
        order: FunctionOrder::THIRD,
        ..Default::default()
    };
    let optimizer = LBFGS {
        g_atol: 1e-7,
        ..LBFGS::default()
    };
    let result = optimizer.optimize(&f, &df, &vec![0.0; width + 1], &ls);
    if !result.f_x.is_finite() {
        return Err(TrainError::Fit(
            "logistic",
            format!("loss is {}", result.f_x),
        ));
    }
    Ok(Params::Logistic {
        coef: result.x[..width].to_vec(),
        intercept: result.x[width],
    })
}

/// Rows per chunk of the loss sum; fixed so results do not depend on cores.
const CHUNK_ROWS: usize = 16_384;

struct LogisticObjective<'a> {
    /// Standardized rows, row-major.
    z: &'a [f64],
    y: &'a [bool],
    /// Weight of a positive and of a negative row.
    weights: (f64, f64),
    width: usize,
    alpha: f64,
    total_weight: f64,
}

impl LogisticObjective<'_> {
    /// The loss at `wb` (coefficients, then intercept), and its gradient
    /// into `grad` when given.
    fn loss_and_gradient(&self, wb: &[f64], grad: Option<&mut Vec<f64>>) -> f64 {
        let p = self.width;
        let chunks: Vec<(usize, usize)> = (0..self.y.len())
            .step_by(CHUNK_ROWS)
            .map(|s| (s, (s + CHUNK_ROWS).min(self.y.len())))
            .collect();
        let want_grad = grad.is_some();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Each chunk's (loss, gradient), computed in parallel, summed in order.
        let mut parts: Vec<(f64, Vec<f64>)> = vec![(0.0, Vec::new()); chunks.len()];
        std::thread::scope(|scope| {
            let per = chunks.len().div_ceil(threads.max(1)).max(1);
            for (ck, out) in chunks.chunks(per).zip(parts.chunks_mut(per)) {
                scope.spawn(move || {
                    for (&(a, b), slot) in ck.iter().zip(out.iter_mut()) {
                        *slot = self.chunk(wb, a, b, want_grad);
                    }
                });
            }
        });
        let mut loss = 0.0;
        let mut g = vec![0.0; p + 1];
        for (l, cg) in &parts {
            loss += l;
            for (gi, c) in g.iter_mut().zip(cg) {
                *gi += c;
            }
        }
        let penalty: f64 = wb[..p].iter().map(|w| w * w).sum::<f64>() * 0.5 * self.alpha;
        if let Some(out) = grad {
            for j in 0..p {
                g[j] += self.alpha * wb[j];
            }
            out.clear();
            out.extend(g.iter().map(|v| v / self.total_weight));
        }
        (loss + penalty) / self.total_weight
    }

    fn chunk(&self, wb: &[f64], a: usize, b: usize, want_grad: bool) -> (f64, Vec<f64>) {
        let p = self.width;
        let mut loss = 0.0;
        let mut g = if want_grad {
            vec![0.0; p + 1]
        } else {
            Vec::new()
        };
        for i in a..b {
            let row = &self.z[i * p..(i + 1) * p];
            let s = row.iter().zip(wb).map(|(x, w)| x * w).sum::<f64>() + wb[p];
            let (label, w) = if self.y[i] {
                (1.0, self.weights.0)
            } else {
                (0.0, self.weights.1)
            };
            // ln(1 + e^s) - y s, without overflow.
            loss += w * (s.max(0.0) + (-s.abs()).exp().ln_1p() - label * s);
            if want_grad {
                let d = w * (volspike_model::model::sigmoid(s) - label);
                for (gj, x) in g.iter_mut().zip(row) {
                    *gj += d * x;
                }
                g[p] += d;
            }
        }
        (loss, g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_directions_follow_the_label() {
        let inputs = [
            "clock_volatility_10s",
            "clock_volatility_1min",
            "clock_volatility_5min",
            "clock_volatility_30min",
            "bid_ask_spread_bps",
        ];
        let relative = TrainConfig::default().label;
        assert_eq!(
            inputs.map(|f| known_direction(f, &relative)),
            [1, 1, -1, 0, 0]
        );
        let over_30m = LabelConfig {
            lookback: std::time::Duration::from_secs(1800),
            ..relative
        };
        assert_eq!(
            inputs.map(|f| known_direction(f, &over_30m)),
            [1, 1, 1, -1, 0]
        );
        assert_eq!(
            inputs.map(|f| known_direction(f, &LabelConfig::default())),
            [1, 1, 1, 1, 0]
        );
    }
}
