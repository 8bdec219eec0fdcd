//! The models and how they score a row.
//!
//! A [`Model`] is plain data (serde): feature names and order, the scaler,
//! the parameters and the decision threshold, so the inference server scores
//! with this code and no training library. Training lives in
//! `volspike-train`.

use serde::{Deserialize, Serialize};

use crate::boost::Booster;
use crate::calibration::Calibration;
use crate::forest::Tree;

/// Preprocessing fitted on training rows: the log of the scale columns,
/// then standardization z = (v - mean) / scale, with the population
/// standard deviation as scale (scikit-learn's `StandardScaler`), 1 for a
/// constant column.
///
/// Volatilities, ranges, spreads and tick counts are positive and
/// heavy-tailed, and their effect on the chance of a spike is
/// multiplicative: a linear model on their logs ranks the days it was not
/// trained on far better than one on their raw values (`docs/models.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Per column, `Some(floor)` when the column enters as ln(max(x, floor)),
    /// `floor` being its smallest positive training value (so a zero stays
    /// finite); `None` for a column used as it is. Empty (model files from
    /// before the log) means every column as it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_floor: Vec<Option<f64>>,
    /// Column means (after the log).
    pub mean: Vec<f64>,
    /// Column standard deviations (after the log).
    pub scale: Vec<f64>,
}

impl Scaler {
    /// Fits standardization alone on `rows` (row-major, `width` columns).
    pub fn fit(rows: &[f64], width: usize) -> Scaler {
        Scaler::fit_logged(rows, width, &vec![false; width])
    }

    /// Fits on `rows` (row-major, `width` columns), taking the log of the
    /// columns marked in `log_columns` first. A marked column with no
    /// positive training value is used as it is.
    pub fn fit_logged(rows: &[f64], width: usize, log_columns: &[bool]) -> Scaler {
        assert_eq!(log_columns.len(), width, "one flag per column");
        let mut log_floor: Vec<Option<f64>> = vec![None; width];
        for r in rows.chunks_exact(width) {
            for ((floor, &v), &logged) in log_floor.iter_mut().zip(r).zip(log_columns) {
                if logged && v > 0.0 && floor.is_none_or(|f| v < f) {
                    *floor = Some(v);
                }
            }
        }
        if log_floor.iter().all(Option::is_none) {
            log_floor.clear();
        }
        let mut s = Scaler {
            log_floor,
            mean: vec![0.0; width],
            scale: vec![1.0; width],
        };
        let logged = s.transform_rows(rows);
        let n = (rows.len() / width.max(1)).max(1) as f64;
        let mut mean = vec![0.0; width];
        for r in logged.chunks_exact(width) {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; width];
        for r in logged.chunks_exact(width) {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        s.scale = var
            .into_iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 0.0 && sd.is_finite() { sd } else { 1.0 }
            })
            .collect();
        s.mean = mean;
        s
    }

    /// Transforms row-major `rows` (one row per column of the scaler).
    pub fn transform_rows(&self, rows: &[f64]) -> Vec<f64> {
        let mut z = Vec::with_capacity(rows.len());
        let mut row = Vec::with_capacity(self.mean.len());
        for r in rows.chunks_exact(self.mean.len().max(1)) {
            self.transform_into(r, &mut row);
            z.extend_from_slice(&row);
        }
        z
    }

    /// Transforms one row into `out`.
    pub fn transform_into(&self, row: &[f64], out: &mut Vec<f64>) {
        out.clear();
        let standardize = row.iter().zip(&self.mean).zip(&self.scale);
        if self.log_floor.is_empty() {
            out.extend(standardize.map(|((v, m), s)| (v - m) / s));
        } else {
            out.extend(
                standardize
                    .zip(&self.log_floor)
                    .map(|(((v, m), s), floor)| match floor {
                        Some(f) => (v.max(*f).ln() - m) / s,
                        None => (v - m) / s,
                    }),
            );
        }
    }
}

/// What a model computes from standardized inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Params {
    /// The z-score of one volatility feature, squashed to (0, 1) by the
    /// logistic function: a ranking rule, not a calibrated probability.
    Baseline {
        /// Index of the feature in the model's inputs.
        feature: usize,
    },
    /// Logistic regression: sigmoid(coef . z + intercept).
    Logistic {
        /// One weight per input.
        coef: Vec<f64>,
        /// Bias.
        intercept: f64,
    },
    /// Random forest: the mean of the trees' leaf values.
    Forest {
        /// The trees.
        trees: Vec<Tree>,
    },
    /// Gradient-boosted trees (fitted with forust-ml, log loss):
    /// sigmoid of the base score plus the trees' leaf weights.
    Boosted {
        /// The fitted booster.
        booster: Box<Booster>,
    },
}

/// A trained model: inputs, scaler, parameters, calibration and decision
/// threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Input feature names, in order.
    pub feature_names: Vec<String>,
    /// Standardization of the inputs.
    pub scaler: Scaler,
    /// Parameters.
    pub params: Params,
    /// The map from [`Model::margin`] to a probability, fitted on
    /// validation; `None` (and model files from before calibration) scores
    /// with the parameters' own squashing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// `score >= threshold` is a spike (chosen on validation, on the
    /// calibrated score when there is a calibration).
    pub threshold: f64,
    /// Trained on warm rows only (every feature window complete), so it
    /// scores only warm rows: a "5-minute" volatility over the first
    /// seconds of a segment is a different quantity. False in model files
    /// from before the flag.
    #[serde(default)]
    pub warm_only: bool,
}

impl Model {
    /// Short name: `baseline`, `logistic`.
    pub fn name(&self) -> &'static str {
        match self.params {
            Params::Baseline { .. } => "baseline",
            Params::Logistic { .. } => "logistic",
            Params::Forest { .. } => "forest",
            Params::Boosted { .. } => "boosted",
        }
    }

    /// Scores of `rows` (row-major, one row per `feature_names.len()` values).
    pub fn score_rows(&self, rows: &[f64]) -> Vec<f64> {
        self.each_standardized(rows, |z| self.score_standardized(z))
    }

    /// The score of one row.
    pub fn score(&self, row: &[f64]) -> f64 {
        let mut z = Vec::with_capacity(row.len());
        self.scaler.transform_into(row, &mut z);
        self.score_standardized(&z)
    }

    /// The margins of `rows` (row-major): what a calibration is fitted on.
    pub fn margin_rows(&self, rows: &[f64]) -> Vec<f64> {
        self.each_standardized(rows, |z| self.margin(z))
    }

    /// `f` of each of `rows` (row-major) after the scaler.
    fn each_standardized(&self, rows: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        let width = self.feature_names.len();
        let mut z = Vec::with_capacity(width);
        rows.chunks_exact(width)
            .map(|r| {
                self.scaler.transform_into(r, &mut z);
                f(&z)
            })
            .collect()
    }

    /// The log-odds the parameters give on standardized inputs `z`: of the
    /// baseline, the logistic regression and the booster as they are; of
    /// the forest's vote share, kept within half a tree's vote of 0 and 1 so
    /// a unanimous forest stays finite (a sigmoid of the share itself fits
    /// a forest's calibration curve poorly).
    pub fn margin(&self, z: &[f64]) -> f64 {
        match &self.params {
            Params::Forest { trees } => {
                let half_vote = 0.5 / trees.len().max(1) as f64;
                let share = forest_share(trees, z).clamp(half_vote, 1.0 - half_vote);
                (share / (1.0 - share)).ln()
            }
            Params::Baseline { feature } => z[*feature],
            Params::Logistic { coef, intercept } => {
                coef.iter().zip(z).map(|(w, v)| w * v).sum::<f64>() + intercept
            }
            Params::Boosted { booster } => booster.log_odds(z),
        }
    }

    fn score_standardized(&self, z: &[f64]) -> f64 {
        match (&self.calibration, &self.params) {
            (Some(c), _) => c.apply(self.margin(z)),
            (None, Params::Forest { trees }) => forest_share(trees, z),
            (None, _) => sigmoid(self.margin(z)),
        }
    }
}

/// The mean of the trees' leaf values: the forest's vote share.
fn forest_share(trees: &[Tree], z: &[f64]) -> f64 {
    trees.iter().map(|t| t.predict(z)).sum::<f64>() / trees.len().max(1) as f64
}

/// 1 / (1 + e^-x), without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_matches_standard_scaler() {
        // sklearn StandardScaler().fit([[1, 5], [3, 5], [5, 5]]):
        // mean_ [3, 5], scale_ [1.632993161855452, 1.0]
        let s = Scaler::fit(&[1.0, 5.0, 3.0, 5.0, 5.0, 5.0], 2);
        assert_eq!(s.mean, vec![3.0, 5.0]);
        assert!((s.scale[0] - 1.632_993_161_855_452).abs() < 1e-15);
        assert_eq!(s.scale[1], 1.0);
        assert!(s.log_floor.is_empty());
    }

    #[test]
    fn logged_columns_are_standardized_logs_and_zero_maps_to_the_floor() {
        // Column 0 logged: ln [1, e, e^2] = [0, 1, 2]; column 1 as it is.
        let e = std::f64::consts::E;
        let rows = [1.0, 4.0, e, 5.0, e * e, 6.0];
        let s = Scaler::fit_logged(&rows, 2, &[true, false]);
        assert_eq!(s.log_floor, vec![Some(1.0), None]);
        assert!((s.mean[0] - 1.0).abs() < 1e-15 && s.mean[1] == 5.0);
        let mut z = Vec::new();
        s.transform_into(&[e * e, 6.0], &mut z);
        assert!((z[0] - 1.0 / s.scale[0]).abs() < 1e-12, "{z:?}");
        // Below the smallest training value (and zero): the floor's log.
        s.transform_into(&[0.0, 5.0], &mut z);
        assert!(
            (z[0] + 1.0 / s.scale[0]).abs() < 1e-12 && z[1] == 0.0,
            "{z:?}"
        );
        // A logged column without a positive value stays as it is.
        let s = Scaler::fit_logged(&[0.0, 0.0], 1, &[true]);
        assert!(s.log_floor.is_empty());
        // Model files from before the log read as "no column logged".
        let old: Scaler = serde_json::from_str(r#"{"mean":[1.0],"scale":[2.0]}"#).unwrap();
        assert!(old.log_floor.is_empty());
    }

    #[test]
    fn logistic_scores_are_probabilities_of_the_linear_form() {
        let m = Model {
            feature_names: vec!["a".into(), "b".into()],
            scaler: Scaler {
                mean: vec![1.0, 0.0],
                scale: vec![2.0, 1.0],
                ..Scaler::default()
            },
            params: Params::Logistic {
                coef: vec![0.5, -1.0],
                intercept: 0.25,
            },
            calibration: None,
            threshold: 0.5,
            warm_only: false,
        };
        // z = [(3 - 1) / 2, 1] = [1, 1]; 0.5 - 1 + 0.25 = -0.25.
        assert!((m.score(&[3.0, 1.0]) - 1.0 / (1.0 + 0.25f64.exp())).abs() < 1e-15);
        assert_eq!(m.score_rows(&[3.0, 1.0, 3.0, 1.0]).len(), 2);
        assert_eq!(m.margin_rows(&[3.0, 1.0]), vec![-0.25]);
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(1000.0) <= 1.0);
        // A calibration replaces the squashing: 1 / (1 + e^(a m + b)).
        let calibrated = Model {
            calibration: Some(Calibration::Platt { a: -2.0, b: 1.0 }),
            ..m
        };
        let want = 1.0 / (1.0 + (-2.0f64 * -0.25 + 1.0).exp());
        assert!((calibrated.score(&[3.0, 1.0]) - want).abs() < 1e-15);
        // Model files from before calibration read as uncalibrated.
        let mut json = serde_json::to_value(&calibrated).unwrap();
        json.as_object_mut().unwrap().remove("calibration");
        let old: Model = serde_json::from_value(json).unwrap();
        assert_eq!(old.calibration, None);
    }
}
