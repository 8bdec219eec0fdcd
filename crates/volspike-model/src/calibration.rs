//! Turning a model's score into a probability.
//!
//! Class weights and regularization move a model's raw score away from the
//! chance of a spike: a balanced logistic regression says 0.5 where spikes
//! are 10% of rows. A [`Calibration`] fitted on validation rows maps the
//! model's margin (its log-odds) to the observed
//! rate, so that "0.8" means 80% and the drift worker's live estimates
//! compare with what the model says. It is stored in the model file and
//! applied by [`crate::model::Model::score`], so every scorer uses it.
//!
//! Platt scaling, as scikit-learn's `CalibratedClassifierCV(method=
//! "sigmoid")`: p = 1 / (1 + exp(a m + b)) on the margin m (the model's
//! log-odds, [`crate::model::Model::margin`]), fitted (in
//! `volspike-train`'s `calibrate`) by
//! maximum likelihood on Platt's smoothed targets. Fitted by Newton's
//! method with a backtracking line search (Lin, Lin and Weng, "A note on
//! Platt's probabilistic outputs for support vector machines", 2007); the
//! optimum is scikit-learn's, which stops its L-BFGS earlier
//! (`crates/volspike-train/tests/sklearn_parity.rs`). It is strictly
//! monotone, so a calibrated model ranks rows exactly as the raw one does:
//! PR-AUC and ROC-AUC do not change.

use serde::{Deserialize, Serialize};

/// A fitted map from a model's margin to a probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// p = 1 / (1 + exp(a m + b)), scikit-learn's sign convention (a < 0
    /// when the score rises with the chance of a spike).
    Platt {
        /// Slope.
        a: f64,
        /// Intercept.
        b: f64,
    },
}

impl Calibration {
    /// The probability for margin `m`.
    pub fn apply(&self, m: f64) -> f64 {
        match *self {
            Calibration::Platt { a, b } => crate::model::sigmoid(-(a * m + b)),
        }
    }
}
