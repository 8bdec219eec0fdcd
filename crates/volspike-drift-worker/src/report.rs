//! What the worker publishes on `drift.reports` and serves on its admin
//! listener: one record per closed window and one per retrain decision, as
//! JSON with snake_case names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use volspike_drift::detector::{Severity, Statistic};
use volspike_drift::monitor::WindowReport;
use volspike_drift::outcomes::JoinCounts;
use volspike_drift::performance::{Interval, LivePerformance, PerformanceVerdict};
use volspike_drift::policy::{Blocked, Check, Trigger};
use volspike_drift::watch::{Calibrated, ScoreDrift};
use volspike_model::alerts::AlertMetrics;

/// Version of the records on `drift.reports`.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// A record on `drift.reports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftRecord {
    /// A window of live features closed.
    Window(WindowRecord),
    /// A retrain ran and its challenger was promoted or not.
    Decision(Decision),
}

/// One feature in one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRecord {
    /// Feature name.
    pub name: String,
    /// Values in the window.
    pub values: usize,
    /// The detector's statistic on the window (`None`: no usable value).
    pub statistic: Option<f64>,
    /// Its calibrated threshold.
    pub threshold: Option<f64>,
    /// Over the threshold in this window.
    pub over: bool,
    /// Windows in a row over the threshold.
    pub run: usize,
    /// Drift declared (the run reached k).
    pub drift: bool,
    /// PSI on the reference's decile bins.
    pub psi: Option<f64>,
    /// The PSI sampling alone gives at these sizes.
    pub psi_floor: f64,
    /// Why there is no statistic, if there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The model's scores in one window against its validation scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreRecord {
    /// Scores in the window.
    pub n: u64,
    /// KS distance estimated from the validation quantiles.
    pub ks_estimate: f64,
    /// Most the estimate can be off by.
    pub ks_max_error: f64,
    /// The estimate's one-sample p-value.
    pub ks_pvalue: f64,
    /// PSI on the validation deciles.
    pub psi: f64,
    /// The PSI sampling alone gives at these sizes.
    pub psi_floor: f64,
}

impl From<ScoreDrift> for ScoreRecord {
    fn from(s: ScoreDrift) -> Self {
        ScoreRecord {
            n: s.n,
            ks_estimate: s.ks.statistic,
            ks_max_error: s.ks.max_error,
            ks_pvalue: s.ks.pvalue,
            psi: s.psi,
            psi_floor: s.psi_floor,
        }
    }
}

/// A metric with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IntervalRecord {
    /// On the data itself.
    pub estimate: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl From<Interval> for IntervalRecord {
    fn from(i: Interval) -> Self {
        IntervalRecord {
            estimate: i.estimate,
            lower: i.lower,
            upper: i.upper,
        }
    }
}

/// Live performance of the champion on matured outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceRecord {
    /// Model version judged.
    pub version: String,
    /// Outcomes in the window.
    pub rows: u64,
    /// Spikes among them.
    pub positives: u64,
    /// Spike rate.
    pub base_rate: f64,
    /// PR-AUC with its interval (`None` without spikes).
    pub pr_auc: Option<IntervalRecord>,
    /// Precision at the model's threshold.
    pub precision: f64,
    /// Recall at the model's threshold.
    pub recall: f64,
    /// F1 at the model's threshold.
    pub f1: f64,
    /// The model's test PR-AUC x (1 - tolerance).
    pub limit: Option<f64>,
    /// `too_few_positives`, `holding` or `drift`.
    pub verdict: String,
    /// Alert level: the alerts the champion's policy raised over these
    /// outcomes' event times against their spike episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertMetrics>,
}

impl PerformanceRecord {
    /// The record of `live` judged by `verdict`.
    pub fn new(version: &str, live: &LivePerformance, verdict: Option<PerformanceVerdict>) -> Self {
        let (verdict, limit) = match verdict {
            Some(PerformanceVerdict::Drift { limit, .. }) => ("drift", Some(limit)),
            Some(PerformanceVerdict::Holding { limit, .. }) => ("holding", Some(limit)),
            Some(PerformanceVerdict::TooFewPositives { .. }) => ("too_few_positives", None),
            None => ("no_test_pr_auc", None),
        };
        PerformanceRecord {
            version: version.to_owned(),
            rows: live.rows,
            positives: live.positives,
            base_rate: live.base_rate,
            pr_auc: live.pr_auc.map(Into::into),
            precision: live.precision,
            recall: live.recall,
            f1: live.f1,
            limit,
            verdict: verdict.to_owned(),
            alerts: None,
        }
    }
}

/// What became of the predictions read, so far: the joiner's counts
/// (matured, incomplete, late, unmatched, duplicates, expired; the rows
/// read) with the worker's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    /// The joiner's counts.
    #[serde(flatten)]
    pub join: JoinCounts,
    /// Made by a model version the registry could not give.
    pub unknown_model: u64,
    /// Waiting for their window.
    pub pending: u64,
}

impl OutcomeCounts {
    /// From the joiner's counts, with the worker's own.
    pub fn new(join: JoinCounts, pending: usize, unknown_model: u64) -> Self {
        OutcomeCounts {
            join,
            unknown_model,
            pending: pending as u64,
        }
    }
}

/// The retraining policy's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Active triggers (`drift`, `performance`, `schedule`, `manual`).
    pub triggers: Vec<String>,
    /// What holds an automatic retrain back, in words.
    pub blocked: Vec<String>,
    /// Windows in a row at or above the retrain severity.
    pub drift_run: usize,
    /// A retrain is due.
    pub retrain: bool,
}

impl CheckRecord {
    /// From the policy's check.
    pub fn new(c: &Check, drift_run: usize) -> Self {
        CheckRecord {
            triggers: c.triggers.iter().map(|t| t.name().to_owned()).collect(),
            blocked: c.blocked.iter().map(blocked_text).collect(),
            drift_run,
            retrain: c.retrain,
        }
    }
}

/// A guard in words.
pub fn blocked_text(b: &Blocked) -> String {
    match b {
        Blocked::TooFewRows { have, need } => format!("{have} matured outcomes, {need} needed"),
        Blocked::TooFewPositives { have, need } => {
            format!("{have} matured spikes, {need} needed")
        }
        Blocked::Cooldown { remaining } => {
            format!("cooling down for {} more", fmt_duration(*remaining))
        }
        Blocked::PromotionCap { promotions, cap } => {
            format!("{promotions} promotions in the last 24 h, cap {cap}")
        }
    }
}

/// A trigger in words.
pub fn trigger_text(t: &Trigger) -> String {
    match t {
        Trigger::Drift { severity, windows } => {
            format!("drift at {severity:?} for {windows} windows").to_lowercase()
        }
        Trigger::Performance { upper, limit } => {
            format!("live PR-AUC upper bound {upper:.4} under {limit:.4}")
        }
        Trigger::Schedule { since } => format!("scheduled, {} since", fmt_duration(*since)),
        Trigger::Manual => "asked for by hand".to_owned(),
    }
}

fn fmt_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

/// One closed window of live features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowRecord {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Window start, inclusive, ns of event time.
    pub start_ns: i64,
    /// Window end, exclusive.
    pub end_ns: i64,
    /// Warm rows in it.
    pub rows: u64,
    /// The champion being watched (`NAME/VERSION`), if any.
    pub model: Option<String>,
    /// Each detector's statistic.
    pub statistic: Statistic,
    /// Overall severity.
    pub severity: Severity,
    /// Features whose detector declared drift.
    pub drifting: usize,
    /// Per feature.
    pub features: Vec<FeatureRecord>,
    /// The champion's scores in the window against its validation scores.
    pub score: Option<ScoreRecord>,
    /// Live performance over the performance window.
    pub performance: Option<PerformanceRecord>,
    /// The outcome join so far.
    pub outcomes: OutcomeCounts,
    /// The retraining policy after this window.
    pub policy: CheckRecord,
}

impl WindowRecord {
    /// Per-feature records of a monitor's window report.
    pub fn features(report: &WindowReport, thresholds: &[(String, f64)]) -> Vec<FeatureRecord> {
        report
            .features
            .iter()
            .zip(thresholds)
            .map(|(f, (_, threshold))| {
                let (statistic, over, run, drift, error) = match &f.verdict {
                    Ok(v) => (Some(v.value), v.over, v.run, v.drift, None),
                    Err(e) => (None, false, 0, false, Some(e.to_string())),
                };
                FeatureRecord {
                    name: f.name.clone(),
                    values: f.values,
                    statistic,
                    threshold: Some(*threshold),
                    over,
                    run,
                    drift,
                    psi: f.psi.is_finite().then_some(f.psi),
                    psi_floor: f.psi_floor,
                    error,
                }
            })
            .collect()
    }
}

/// Where the reference came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRecord {
    /// `archive` (the champion's training span) or `stream` (the first rows
    /// the worker saw).
    pub source: String,
    /// First and last event time, ns.
    pub span_ns: (i64, i64),
    /// Warm rows.
    pub rows: u64,
    /// Thresholds per feature.
    pub thresholds: BTreeMap<String, f64>,
    /// Features left out, with the reason.
    pub excluded: BTreeMap<String, String>,
}

impl ReferenceRecord {
    /// From a calibration.
    pub fn new(source: &str, c: &Calibrated) -> Self {
        ReferenceRecord {
            source: source.to_owned(),
            span_ns: c.span_ns,
            rows: c.rows,
            thresholds: c.thresholds.iter().cloned().collect(),
            excluded: c
                .excluded
                .iter()
                .map(|e| (e.name.clone(), e.reason.clone()))
                .collect(),
        }
    }
}

/// A model's holdout metrics in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contender {
    /// Registry version (`None`: the challenger was never registered).
    pub version: Option<u64>,
    /// Model kind.
    pub kind: String,
    /// Holdout PR-AUC with its interval.
    pub pr_auc: Option<IntervalRecord>,
    /// Holdout ROC-AUC.
    pub roc_auc: Option<f64>,
    /// F1 at the model's threshold.
    pub f1: Option<f64>,
    /// sha256 of the model file, hex.
    pub sha256: Option<String>,
    /// Alert level on the holdout: its own alert policy's alerts against
    /// the holdout's spike episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertMetrics>,
}

/// How a retrain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The challenger is the champion now.
    Promoted,
    /// The challenger did not beat the champion by the margin with
    /// confidence.
    RefusedGate,
    /// The challenger's file did not load or scored NaN or out of range.
    RefusedProbe,
    /// The challenger won but the promotion cap is reached.
    RefusedCap,
    /// Training or evaluation failed.
    Failed,
}

impl Verdict {
    /// Every verdict, in declaration order.
    pub const ALL: [Verdict; 5] = [
        Verdict::Promoted,
        Verdict::RefusedGate,
        Verdict::RefusedProbe,
        Verdict::RefusedCap,
        Verdict::Failed,
    ];

    /// The snake_case name (metrics label).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Promoted => "promoted",
            Verdict::RefusedGate => "refused_gate",
            Verdict::RefusedProbe => "refused_probe",
            Verdict::RefusedCap => "refused_cap",
            Verdict::Failed => "failed",
        }
    }
}

/// The data a challenger trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataWindow {
    /// First and last event time of the rows read, ns.
    pub span_ns: (i64, i64),
    /// Rows read.
    pub rows: u64,
    /// First and last event time of the holdout, ns.
    pub holdout_span_ns: Option<(i64, i64)>,
    /// Holdout rows both models scored.
    pub holdout_rows: u64,
    /// Next offset of each `ticks.features` partition read when the retrain
    /// started.
    pub offsets: Vec<PartitionOffset>,
}

/// Where the worker had read a partition to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOffset {
    /// Partition.
    pub partition: i32,
    /// Next offset to read.
    pub next: i64,
}

/// One retrain: trigger, data, both models, verdict and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Sequence number of the retrain since the worker started.
    pub retrain: u64,
    /// Event time (the stream's latest) when it was decided, ns.
    pub at_ns: i64,
    /// Why it ran, in words.
    pub triggers: Vec<String>,
    /// What it trained and judged on.
    pub data: Option<DataWindow>,
    /// The champion on the holdout.
    pub champion: Option<Contender>,
    /// The challenger on the holdout.
    pub challenger: Option<Contender>,
    /// Challenger PR-AUC minus champion PR-AUC with its paired interval.
    pub difference: Option<IntervalRecord>,
    /// The margin asked for.
    pub margin: f64,
    /// How it ended.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}
