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
//! log-odds, [`crate::model::Model::margin`]), fitted by
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

    /// Fits Platt scaling of `margins` to `labels`. `None` when it cannot
    /// map higher margins to higher probabilities: one class only, or a
    /// constant margin, or a fitted slope that does not rise (the margins
    /// rank spikes no better than chance on these rows), since a falling
    /// map would reverse the model's ranking.
    pub fn fit_platt(margins: &[f64], labels: &[bool]) -> Option<Calibration> {
        assert_eq!(margins.len(), labels.len(), "one label per margin");
        let prior1 = labels.iter().filter(|&&y| y).count() as f64;
        let prior0 = labels.len() as f64 - prior1;
        let constant = margins.windows(2).all(|w| w[0] == w[1]);
        if prior1 == 0.0 || prior0 == 0.0 || constant || margins.iter().any(|m| !m.is_finite()) {
            return None;
        }
        // Platt's targets: the labels moved towards the prior by one
        // pseudo-observation each way, so the fit never asks for 0 or 1.
        let hi = (prior1 + 1.0) / (prior1 + 2.0);
        let lo = 1.0 / (prior0 + 2.0);
        let targets: Vec<f64> = labels.iter().map(|&y| if y { hi } else { lo }).collect();
        let loss = |a: f64, b: f64| -> f64 {
            margins
                .iter()
                .zip(&targets)
                .map(|(&m, &t)| {
                    // -t ln p - (1 - t) ln(1 - p), p = 1 / (1 + e^z), stably.
                    let z = a * m + b;
                    if z >= 0.0 {
                        t * z + (-z).exp().ln_1p()
                    } else {
                        (t - 1.0) * z + z.exp().ln_1p()
                    }
                })
                .sum()
        };
        let (mut a, mut b) = (0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln());
        let mut value = loss(a, b);
        for _ in 0..100 {
            // Gradient and Hessian of the loss in (a, b); the small ridge
            // keeps the Hessian invertible when the margins barely vary.
            let (mut h11, mut h22, mut h21, mut g1, mut g2) = (1e-12, 1e-12, 0.0, 0.0, 0.0);
            for (&m, &t) in margins.iter().zip(&targets) {
                let p = crate::model::sigmoid(-(a * m + b));
                let d2 = p * (1.0 - p);
                h11 += m * m * d2;
                h22 += d2;
                h21 += m * d2;
                let d1 = t - p;
                g1 += m * d1;
                g2 += d1;
            }
            let det = h11 * h22 - h21 * h21;
            let da = -(h22 * g1 - h21 * g2) / det;
            let db = -(-h21 * g1 + h11 * g2) / det;
            let slope = g1 * da + g2 * db;
            if !slope.is_finite() || slope >= 0.0 {
                break; // at the optimum to rounding
            }
            let mut step = 1.0;
            let mut moved = false;
            while step >= 1e-10 {
                let (na, nb) = (a + step * da, b + step * db);
                let nv = loss(na, nb);
                if nv < value + 1e-4 * step * slope {
                    (a, b, value, moved) = (na, nb, nv, true);
                    break;
                }
                step /= 2.0;
            }
            if !moved {
                break;
            }
        }
        (a < 0.0 && a.is_finite() && b.is_finite()).then_some(Calibration::Platt { a, b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_maps_a_rising_margin_to_the_observed_rate() {
        // Labels whose chance rises with the margin (row i is a spike
        // with a share of about i / 200): the map rises.
        let margins: Vec<f64> = (0..200).map(|i| f64::from(i) / 20.0 - 5.0).collect();
        let labels: Vec<bool> = (0..200).map(|i| (i * 7919) % 200 < i).collect();
        let c = Calibration::fit_platt(&margins, &labels).expect("fits");
        let Calibration::Platt { a, .. } = c;
        assert!(a < 0.0, "{c:?}");
        assert!(c.apply(-5.0) < c.apply(0.0) && c.apply(0.0) < c.apply(5.0));
        // The fitted mean probability is close to the base rate (a
        // property of the maximum-likelihood fit with an intercept).
        let rate = labels.iter().filter(|&&y| y).count() as f64 / 200.0;
        let mean = margins.iter().map(|&m| c.apply(m)).sum::<f64>() / 200.0;
        assert!((mean - rate).abs() < 0.01, "mean {mean}, rate {rate}");
    }

    #[test]
    fn platt_refuses_what_it_cannot_calibrate() {
        assert_eq!(Calibration::fit_platt(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(Calibration::fit_platt(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(
            Calibration::fit_platt(&[0.1, f64::NAN], &[false, true]),
            None
        );
        // Higher margins less often spikes: refused rather than reversed.
        let margins: Vec<f64> = (0..100).map(f64::from).collect();
        let labels: Vec<bool> = (0..100).map(|i| i < 30).collect();
        assert_eq!(Calibration::fit_platt(&margins, &labels), None);
        // Constant margins: nothing to rank by.
        assert_eq!(
            Calibration::fit_platt(
                &[1.0; 10],
                &[
                    true, false, false, false, false, true, false, false, false, false
                ]
            ),
            None
        );
    }
}
