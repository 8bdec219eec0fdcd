//! Fitting the calibration of a model's scores
//! ([`volspike_model::calibration`]): Platt scaling of the margin on
//! validation rows, as scikit-learn's `CalibratedClassifierCV(method=
//! "sigmoid")`, by Newton's method with a backtracking line search (Lin, Lin
//! and Weng, 2007). `tests/sklearn_parity.rs` compares it with scikit-learn.

use volspike_model::calibration::Calibration;
use volspike_model::model::sigmoid;

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
            let p = sigmoid(-(a * m + b));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_maps_a_rising_margin_to_the_observed_rate() {
        // Labels whose chance rises with the margin (row i is a spike
        // with a share of about i / 200): the map rises.
        let margins: Vec<f64> = (0..200).map(|i| f64::from(i) / 20.0 - 5.0).collect();
        let labels: Vec<bool> = (0..200).map(|i| (i * 7919) % 200 < i).collect();
        let c = fit_platt(&margins, &labels).expect("fits");
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
        assert_eq!(fit_platt(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(fit_platt(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(fit_platt(&[0.1, f64::NAN], &[false, true]), None);
        // Higher margins less often spikes: refused rather than reversed.
        let margins: Vec<f64> = (0..100).map(f64::from).collect();
        let labels: Vec<bool> = (0..100).map(|i| i < 30).collect();
        assert_eq!(fit_platt(&margins, &labels), None);
        // Constant margins: nothing to rank by.
        assert_eq!(
            fit_platt(
                &[1.0; 10],
                &[
                    true, false, false, false, false, true, false, false, false, false
                ]
            ),
            None
        );
    }
}
