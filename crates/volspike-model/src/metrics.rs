//! Binary classification metrics, computed as scikit-learn computes them.
//!
//! - [`pr_curve`] and [`average_precision`]: `precision_recall_curve` and
//!   `average_precision_score` (the step-wise sum of precision times the
//!   recall gained at each distinct score, no interpolation).
//! - [`roc_curve`] and [`roc_auc`]: `roc_curve` and `roc_auc_score`
//!   (trapezoids between the points of each distinct score).
//! - [`brier`] is `brier_score_loss`.
//! - [`Confusion`]: `confusion_matrix`, `precision_score`, `recall_score`
//!   and `f1_score` with `zero_division=0`, for the decision
//!   `score >= threshold`.
//!
//! Scores are tied when equal; each distinct score is one point of a curve.
//!
//! They live here, beside the [`Metrics`] a model file records, because
//! training, evaluation and the drift worker's live performance all compute
//! them, and none of them needs a training library to do so.

use serde::{Deserialize, Serialize};

/// Counts of the four outcomes at one threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Negatives scored below the threshold.
    pub tn: u64,
    /// Negatives at or above it.
    pub fp: u64,
    /// Positives below it.
    pub fn_: u64,
    /// Positives at or above it.
    pub tp: u64,
}

impl Confusion {
    /// Counts for the decision `score >= threshold`.
    pub fn at(labels: &[bool], scores: &[f64], threshold: f64) -> Confusion {
        let mut c = Confusion::default();
        for (&y, &s) in labels.iter().zip(scores) {
            match (y, s >= threshold) {
                (false, false) => c.tn += 1,
                (false, true) => c.fp += 1,
                (true, false) => c.fn_ += 1,
                (true, true) => c.tp += 1,
            }
        }
        c
    }

    /// tp / (tp + fp); 0 when nothing is predicted positive.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 0 when there are no positives.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// 2 tp / (2 tp + fp + fn); 0 when all three are 0.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

/// a / b, and 0 when b is 0 (scikit-learn's `zero_division=0`).
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Every metric of one evaluation, at one decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Rows evaluated.
    pub rows: u64,
    /// Share of positive rows.
    pub base_rate: f64,
    /// Average precision (PR-AUC); `None` without positives.
    pub pr_auc: Option<f64>,
    /// ROC-AUC; `None` unless both classes are present.
    pub roc_auc: Option<f64>,
    /// Brier score of the scores taken as probabilities.
    pub brier: f64,
    /// Expected calibration error over [`RELIABILITY_BINS`] equal-width
    /// bins ([`expected_calibration_error`]); `None` in files from before
    /// it was measured.
    #[serde(default)]
    pub ece: Option<f64>,
    /// The decision threshold: `score >= threshold` is a spike.
    pub threshold: f64,
    /// Outcomes at the threshold.
    pub confusion: Confusion,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
}

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// Labels and scores differ in length.
    #[error("{labels} labels but {scores} scores")]
    Length {
        /// Number of labels.
        labels: usize,
        /// Number of scores.
        scores: usize,
    },
    /// Nothing to evaluate.
    #[error("no rows to evaluate")]
    Empty,
    /// A score is NaN or infinite.
    #[error("score {index} is {value}, not a finite number")]
    NotFinite {
        /// Row index.
        index: usize,
        /// The value.
        value: f64,
    },
}

/// Cumulative counts at each distinct score, highest score first.
#[derive(Debug, Clone, PartialEq)]
struct Steps {
    /// The distinct scores, descending.
    thresholds: Vec<f64>,
    /// Positives scored at or above each.
    tps: Vec<u64>,
    /// Negatives scored at or above each.
    fps: Vec<u64>,
}

fn steps(labels: &[bool], scores: &[f64]) -> Result<Steps, MetricError> {
    check(labels, scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = Steps {
        thresholds: Vec::new(),
        tps: Vec::new(),
        fps: Vec::new(),
    };
    let (mut tp, mut fp) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_value = order
            .get(k + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_value {
            out.thresholds.push(scores[i]);
            out.tps.push(tp);
            out.fps.push(fp);
        }
    }
    Ok(out)
}

fn check(labels: &[bool], scores: &[f64]) -> Result<(), MetricError> {
    if labels.len() != scores.len() {
        return Err(MetricError::Length {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if labels.is_empty() {
        return Err(MetricError::Empty);
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(MetricError::NotFinite { index, value });
    }
    Ok(())
}

/// Precision and recall at each distinct score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrCurve {
    /// Precision; the first point is (recall 0, precision 1), then one per
    /// threshold, highest first.
    pub precision: Vec<f64>,
    /// Recall, same points.
    pub recall: Vec<f64>,
    /// The threshold of each point after the first.
    pub thresholds: Vec<f64>,
}

/// The precision-recall curve (scikit-learn's `precision_recall_curve`,
/// reversed: highest threshold first). With no positives, recall is 1
/// everywhere, as scikit-learn sets it.
pub fn pr_curve(labels: &[bool], scores: &[f64]) -> Result<PrCurve, MetricError> {
    let s = steps(labels, scores)?;
    let positives = *s.tps.last().expect("not empty");
    let mut c = PrCurve {
        precision: vec![1.0],
        recall: vec![0.0],
        thresholds: s.thresholds,
    };
    for (&tp, &fp) in s.tps.iter().zip(&s.fps) {
        c.precision.push(ratio(tp, tp + fp));
        c.recall.push(if positives == 0 {
            1.0
        } else {
            tp as f64 / positives as f64
        });
    }
    Ok(c)
}

/// Average precision (scikit-learn's `average_precision_score`): the sum
/// over thresholds of precision times the recall gained there. `None` when
/// there are no positives (scikit-learn warns and returns a meaningless 0).
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<Option<f64>, MetricError> {
    if !labels.iter().any(|&y| y) {
        check(labels, scores)?;
        return Ok(None);
    }
    let c = pr_curve(labels, scores)?;
    let ap = c
        .recall
        .windows(2)
        .zip(&c.precision[1..])
        .map(|(r, &p)| (r[1] - r[0]) * p)
        .sum();
    Ok(Some(ap))
}

/// False and true positive rates at each distinct score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// False positive rate; the first point is (0, 0), then one per
    /// threshold, highest first.
    pub fpr: Vec<f64>,
    /// True positive rate, same points.
    pub tpr: Vec<f64>,
    /// The threshold of each point after the first.
    pub thresholds: Vec<f64>,
}

/// The ROC curve (scikit-learn's `roc_curve` with
/// `drop_intermediate=False`). `None` unless both classes are present.
pub fn roc_curve(labels: &[bool], scores: &[f64]) -> Result<Option<RocCurve>, MetricError> {
    let s = steps(labels, scores)?;
    let (p, n) = (
        *s.tps.last().expect("not empty"),
        *s.fps.last().expect("not empty"),
    );
    if p == 0 || n == 0 {
        return Ok(None);
    }
    let mut c = RocCurve {
        fpr: vec![0.0],
        tpr: vec![0.0],
        thresholds: s.thresholds,
    };
    for (&tp, &fp) in s.tps.iter().zip(&s.fps) {
        c.fpr.push(fp as f64 / n as f64);
        c.tpr.push(tp as f64 / p as f64);
    }
    Ok(Some(c))
}

/// Area under the ROC curve (scikit-learn's `roc_auc_score`), by
/// trapezoids. `None` unless both classes are present (scikit-learn raises).
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<Option<f64>, MetricError> {
    Ok(roc_curve(labels, scores)?.map(|c| {
        c.fpr
            .windows(2)
            .zip(c.tpr.windows(2))
            .map(|(x, y)| (x[1] - x[0]) * (y[1] + y[0]) / 2.0)
            .sum()
    }))
}

/// Mean squared difference between probability and outcome
/// (scikit-learn's `brier_score_loss`).
pub fn brier(labels: &[bool], scores: &[f64]) -> Result<f64, MetricError> {
    check(labels, scores)?;
    let sum: f64 = labels
        .iter()
        .zip(scores)
        .map(|(&y, &p)| (f64::from(u8::from(y)) - p).powi(2))
        .sum();
    Ok(sum / labels.len() as f64)
}

/// Bins of the reliability diagram and of the expected calibration error.
pub const RELIABILITY_BINS: usize = 10;

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Mean score of the bin's rows.
    pub mean_score: f64,
    /// Share of the bin's rows that are positive.
    pub observed: f64,
    /// Rows in the bin.
    pub rows: u64,
}

/// The reliability diagram: the scores cut into `bins` equal-width bins of
/// [0, 1] (a score on an inner edge goes to the lower bin, one below 0 or
/// above 1 to the end bins), and for each bin that has rows, its mean score
/// and observed rate. scikit-learn's `calibration_curve(strategy=
/// "uniform")`, with the rows per bin.
pub fn reliability(
    labels: &[bool],
    scores: &[f64],
    bins: usize,
) -> Result<Vec<ReliabilityBin>, MetricError> {
    check(labels, scores)?;
    let bins = bins.max(1);
    // numpy's linspace(0, 1, bins + 1): edge k is k * (1 / bins).
    let step = 1.0 / bins as f64;
    let inner: Vec<f64> = (1..bins).map(|k| k as f64 * step).collect();
    let (mut sums, mut positives, mut rows) = (vec![0.0; bins], vec![0u64; bins], vec![0u64; bins]);
    for (&y, &p) in labels.iter().zip(scores) {
        let b = inner.partition_point(|&edge| edge < p);
        sums[b] += p;
        positives[b] += u64::from(y);
        rows[b] += 1;
    }
    Ok((0..bins)
        .filter(|&b| rows[b] > 0)
        .map(|b| ReliabilityBin {
            mean_score: sums[b] / rows[b] as f64,
            observed: positives[b] as f64 / rows[b] as f64,
            rows: rows[b],
        })
        .collect())
}

/// Expected calibration error: the rows-weighted mean, over the
/// [`reliability`] bins, of |observed rate - mean score|. 0 for scores that
/// are the spike rate of their bin; it does not see ranking.
pub fn expected_calibration_error(
    labels: &[bool],
    scores: &[f64],
    bins: usize,
) -> Result<f64, MetricError> {
    let n = labels.len() as f64;
    Ok(reliability(labels, scores, bins)?
        .iter()
        .map(|b| b.rows as f64 / n * (b.observed - b.mean_score).abs())
        .sum())
}

/// All metrics of `scores` against `labels` at `threshold`.
pub fn evaluate(labels: &[bool], scores: &[f64], threshold: f64) -> Result<Metrics, MetricError> {
    let confusion = Confusion::at(labels, scores, threshold);
    let positives = labels.iter().filter(|&&y| y).count();
    Ok(Metrics {
        rows: labels.len() as u64,
        base_rate: positives as f64 / labels.len().max(1) as f64,
        pr_auc: average_precision(labels, scores)?,
        roc_auc: roc_auc(labels, scores)?,
        brier: brier(labels, scores)?,
        ece: Some(expected_calibration_error(
            labels,
            scores,
            RELIABILITY_BINS,
        )?),
        threshold,
        confusion,
        precision: confusion.precision(),
        recall: confusion.recall(),
        f1: confusion.f1(),
    })
}

/// The threshold among the scores' distinct values with the highest F1 (the
/// highest such threshold on ties), for choosing a decision threshold on
/// validation data. `None` without positives.
pub fn best_f1_threshold(labels: &[bool], scores: &[f64]) -> Result<Option<f64>, MetricError> {
    let s = steps(labels, scores)?;
    let positives = *s.tps.last().expect("not empty");
    if positives == 0 {
        return Ok(None);
    }
    let mut best: Option<(f64, f64)> = None;
    for ((&t, &tp), &fp) in s.thresholds.iter().zip(&s.tps).zip(&s.fps) {
        let f1 = ratio(2 * tp, tp + fp + positives);
        if best.is_none_or(|(b, _)| f1 > b) {
            best = Some((f1, t));
        }
    }
    Ok(best.map(|(_, t)| t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            evaluate(&[true], &[0.1, 0.2], 0.5).unwrap_err(),
            MetricError::Length {
                labels: 1,
                scores: 2
            }
        );
        assert_eq!(evaluate(&[], &[], 0.5).unwrap_err(), MetricError::Empty);
        assert!(matches!(
            evaluate(&[true, false], &[0.1, f64::NAN], 0.5).unwrap_err(),
            MetricError::NotFinite { index: 1, .. }
        ));
    }

    #[test]
    fn one_class_leaves_the_undefined_metrics_out() {
        let m = evaluate(&[false, false], &[0.2, 0.7], 0.5).unwrap();
        assert_eq!((m.pr_auc, m.roc_auc), (None, None));
        assert_eq!(m.confusion.fp, 1);
        let m = evaluate(&[true, true], &[0.2, 0.7], 0.5).unwrap();
        assert_eq!((m.pr_auc, m.roc_auc), (Some(1.0), None));
    }

    #[test]
    fn reliability_bins_put_an_edge_in_the_lower_bin() {
        // Bins of 0.5: 0.5 is on the inner edge, so in the first bin.
        let y = [false, true, true, false];
        let s = [0.1, 0.5, 0.9, 0.7];
        let r = reliability(&y, &s, 2).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].rows, r[0].observed), (2, 0.5));
        assert!((r[0].mean_score - 0.3).abs() < 1e-15);
        assert_eq!((r[1].rows, r[1].observed), (2, 0.5));
        // |0.5 - 0.3| / 2 + |0.5 - 0.8| / 2.
        let ece = expected_calibration_error(&y, &s, 2).unwrap();
        assert!((ece - 0.25).abs() < 1e-15, "{ece}");
        // Scores equal to their bin's rate: no error.
        assert_eq!(
            expected_calibration_error(&[true, false], &[0.5, 0.5], 10).unwrap(),
            0.0
        );
    }

    #[test]
    fn best_f1_threshold_is_a_score_with_the_highest_f1() {
        let y = [false, true, false, true, true, false];
        let s = [0.2, 0.8, 0.8, 0.4, 0.2, 0.1];
        // At 0.2: tp 3, fp 2 -> F1 6/8; at 0.4: tp 2, fp 1 -> 4/6; 0.8: 2/4.
        assert_eq!(best_f1_threshold(&y, &s).unwrap(), Some(0.2));
        assert_eq!(best_f1_threshold(&[false], &[0.3]).unwrap(), None);
    }
}
