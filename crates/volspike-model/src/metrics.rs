//! The metrics a model file records (validation and test), as data.
//!
//! They are computed in `volspike-train` (`metrics`), exactly as
//! scikit-learn computes them; [`Confusion`] is here because serving and
//! training both count outcomes at a threshold.

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
