//! Cross-validation across groups of rows: leave one recorder (or one day)
//! out, train on the rest, score the held-out group.
//!
//! One time split of a few days says little about tomorrow's data from
//! another recorder: its test split can hold four times its training
//! split's spikes. Here every group is held out once. Each fold trains
//! every model with the full training configuration on the other groups
//! (each split in time on its own: validation, which chooses thresholds and
//! calibrates, holds the end of every group), labels the held-out
//! rows with that tau, and reports PR-AUC, ROC-AUC, base rate and lift
//! (PR-AUC / base rate) for every model and for every single feature used
//! as a score on its own. Training rows within one label horizon of a
//! held-out row are dropped (the embargo), so no label window spans both.

use std::collections::BTreeMap;

use serde::Serialize;
use volspike_core::{FEATURE_NAMES, FeatureRow};
use volspike_model::alerts::AlertMetrics;

use crate::dataset::{self, DatasetError};
use crate::evaluate::{EvaluateError, evaluate};
use crate::metrics::{self, MetricError, Metrics};
use crate::train::{TrainConfig, TrainError, fit_models, prepare_grouped};

/// Errors of a cross-validation run.
#[derive(Debug, thiserror::Error)]
pub enum CvError {
    /// Training a fold failed for another reason than too little data.
    #[error("training without {0}: {1}")]
    Train(String, TrainError),
    /// Scoring a held-out group failed.
    #[error(transparent)]
    Evaluate(#[from] EvaluateError),
    /// Labeling a held-out group failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Metrics failed.
    #[error(transparent)]
    Metrics(#[from] MetricError),
}

/// How one score did on one held-out group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldScore {
    /// A model's name, or `input:<feature>` for a feature used as a score.
    pub name: String,
    /// Held-out rows scored.
    pub rows: u64,
    /// Share of spikes among them.
    pub base_rate: f64,
    /// Average precision; `None` without spikes.
    pub pr_auc: Option<f64>,
    /// ROC-AUC; `None` unless both classes are present.
    pub roc_auc: Option<f64>,
    /// PR-AUC / base rate: 1 is a random ranking.
    pub lift: Option<f64>,
    /// A model's alerts on the held-out rows under its alert policy (the
    /// alerts the server would publish); `None` for a feature alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertMetrics>,
}

impl FoldScore {
    fn of(name: String, m: &Metrics) -> FoldScore {
        FoldScore {
            name,
            rows: m.rows,
            base_rate: m.base_rate,
            pr_auc: m.pr_auc,
            roc_auc: m.roc_auc,
            lift: m
                .pr_auc
                .filter(|_| m.base_rate > 0.0)
                .map(|p| p / m.base_rate),
            alerts: None,
        }
    }
}

/// One held-out group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    /// The held-out group.
    pub held_out: String,
    /// Feature rows the fold trained on (after the embargo).
    pub train_rows: usize,
    /// Training rows dropped by the embargo.
    pub embargoed: usize,
    /// The spike threshold from the training rows.
    pub tau: Option<f64>,
    /// Why the fold was not scored (too few rows to train, no labeled
    /// held-out row); `None` when it was.
    pub skipped: Option<String>,
    /// Every model, then every feature as a score.
    pub scores: Vec<FoldScore>,
}

/// A score's mean over the folds that scored it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeanScore {
    /// As in [`FoldScore::name`].
    pub name: String,
    /// Folds with a PR-AUC.
    pub folds: usize,
    /// Mean PR-AUC.
    pub pr_auc: f64,
    /// Mean ROC-AUC (over folds with one).
    pub roc_auc: Option<f64>,
    /// Mean base rate.
    pub base_rate: f64,
    /// Mean lift.
    pub lift: f64,
}

/// Every fold, and each score's means.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvReport {
    /// `recorder` or `day`, as asked.
    pub by: String,
    /// The folds, in group order.
    pub folds: Vec<Fold>,
    /// Means per score, best mean PR-AUC first.
    pub means: Vec<MeanScore>,
}

/// Groups rows by the UTC day of their event time (`YYYY-MM-DD`).
pub fn by_day(rows: &[FeatureRow]) -> Vec<(String, Vec<FeatureRow>)> {
    const DAY_NS: i64 = 86_400 * 1_000_000_000;
    let mut days: BTreeMap<i64, Vec<FeatureRow>> = BTreeMap::new();
    for r in rows {
        days.entry(r.event_time_ns.div_euclid(DAY_NS))
            .or_default()
            .push(r.clone());
    }
    days.into_iter()
        .map(|(d, rows)| {
            let name = volspike_core::time::format_timestamp(d * DAY_NS);
            (name.chars().take(10).collect(), rows)
        })
        .collect()
}

/// Leaves each group out once: trains `cfg` on the others and scores the
/// held-out group with every model and every feature alone. A fold whose
/// training fails for lack of data is reported as skipped; other errors end
/// the run.
pub fn cross_validate(
    by: &str,
    groups: &[(String, Vec<FeatureRow>)],
    cfg: &TrainConfig,
) -> Result<CvReport, CvError> {
    let horizon = i64::try_from(cfg.label.horizon.as_nanos()).unwrap_or(i64::MAX);
    let mut folds = Vec::new();
    for (g, (name, held)) in groups.iter().enumerate() {
        let mut held_times: Vec<i64> = held.iter().map(|r| r.event_time_ns).collect();
        held_times.sort_unstable();
        let near_held = |t: i64| {
            let i = held_times.partition_point(|&h| h < t);
            let after = held_times.get(i).is_some_and(|&h| h - t < horizon);
            let before = i > 0 && t - held_times[i - 1] < horizon;
            after || before
        };
        let mut rest: Vec<Vec<FeatureRow>> = Vec::new();
        let mut embargoed = 0;
        for (o, (_, rows)) in groups.iter().enumerate() {
            if o == g {
                continue;
            }
            let kept: Vec<FeatureRow> = rows
                .iter()
                .filter(|r| !near_held(r.event_time_ns))
                .cloned()
                .collect();
            embargoed += rows.len() - kept.len();
            rest.push(kept);
        }
        let mut fold = Fold {
            held_out: name.clone(),
            train_rows: rest.iter().map(Vec::len).sum(),
            embargoed,
            tau: None,
            skipped: None,
            scores: Vec::new(),
        };
        // Each training group is split in time on its own, so validation
        // (thresholds, calibration) sees the end of every group.
        let rest: Vec<&[FeatureRow]> = rest.iter().map(Vec::as_slice).collect();
        let report = match prepare_grouped(&rest, cfg).and_then(|p| fit_models(p, cfg, |_| {})) {
            Ok(r) => r,
            Err(e @ (TrainError::Split(_) | TrainError::OneClass(..))) => {
                fold.skipped = Some(format!("training: {e}"));
                folds.push(fold);
                continue;
            }
            Err(e) => return Err(CvError::Train(name.clone(), e)),
        };
        fold.tau = Some(report.tau);
        for t in &report.models {
            let file = report.model_file(t);
            let ev = evaluate(&file, held)?;
            if let Some(m) = &ev.metrics {
                fold.scores.push(FoldScore {
                    alerts: ev.alert_metrics.clone(),
                    ..FoldScore::of(t.model.name().to_owned(), m)
                });
            }
        }
        for feature in FEATURE_NAMES {
            let (data, _) = dataset::build(held, &[feature], &cfg.label, cfg.warm_only)?;
            let labels: Vec<bool> = data.target.iter().map(|&y| y >= report.tau).collect();
            if labels.is_empty() {
                continue;
            }
            let m = metrics::evaluate(&labels, &data.x, f64::INFINITY)?;
            fold.scores
                .push(FoldScore::of(format!("input:{feature}"), &m));
        }
        if fold.scores.is_empty() {
            fold.skipped = Some("no held-out row could be labeled".to_owned());
        }
        folds.push(fold);
    }
    let means = means(&folds);
    Ok(CvReport {
        by: by.to_owned(),
        folds,
        means,
    })
}

fn means(folds: &[Fold]) -> Vec<MeanScore> {
    let mut by_name: BTreeMap<&str, Vec<&FoldScore>> = BTreeMap::new();
    for f in folds {
        for s in &f.scores {
            by_name.entry(&s.name).or_default().push(s);
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let mut out: Vec<MeanScore> = by_name
        .into_iter()
        .filter_map(|(name, scores)| {
            let scored: Vec<&FoldScore> =
                scores.into_iter().filter(|s| s.pr_auc.is_some()).collect();
            let pr: Vec<f64> = scored.iter().filter_map(|s| s.pr_auc).collect();
            let roc: Vec<f64> = scored.iter().filter_map(|s| s.roc_auc).collect();
            let base: Vec<f64> = scored.iter().map(|s| s.base_rate).collect();
            let lift: Vec<f64> = scored.iter().filter_map(|s| s.lift).collect();
            Some(MeanScore {
                name: name.to_owned(),
                folds: pr.len(),
                pr_auc: mean(&pr)?,
                roc_auc: mean(&roc),
                base_rate: mean(&base)?,
                lift: mean(&lift)?,
            })
        })
        .collect();
    out.sort_by(|a, b| b.pr_auc.total_cmp(&a.pr_auc).then(a.name.cmp(&b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(name: &str, pr: Option<f64>, base: f64) -> FoldScore {
        FoldScore {
            name: name.into(),
            rows: 100,
            base_rate: base,
            pr_auc: pr,
            roc_auc: pr,
            lift: pr.map(|p| p / base),
            alerts: None,
        }
    }

    fn fold(scores: Vec<FoldScore>) -> Fold {
        Fold {
            held_out: "g".into(),
            train_rows: 10,
            embargoed: 0,
            tau: Some(1.0),
            skipped: None,
            scores,
        }
    }

    #[test]
    fn means_skip_folds_without_a_pr_auc_and_sort_best_first() {
        let folds = [
            fold(vec![score("a", Some(0.2), 0.1), score("b", Some(0.6), 0.2)]),
            fold(vec![score("a", Some(0.4), 0.1), score("b", None, 0.0)]),
        ];
        let m = means(&folds);
        assert_eq!(m[0].name, "b");
        assert_eq!(m[0].folds, 1);
        assert!((m[0].lift - 3.0).abs() < 1e-12);
        assert_eq!(m[1].name, "a");
        assert!((m[1].pr_auc - 0.3).abs() < 1e-12);
        assert!((m[1].lift - 3.0).abs() < 1e-12);
    }

    #[test]
    fn days_are_utc_calendar_days() {
        let a = FeatureRow::bare("BTC-USD", 86_400 * 1_000_000_000 - 1, 100.0);
        let b = FeatureRow::bare("BTC-USD", 86_400 * 1_000_000_000, 100.0);
        let days = by_day(&[a, b]);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].0, "1970-01-01");
        assert_eq!(days[1].0, "1970-01-02");
    }
}
