//! Gradient-boosted trees with `forust-ml`: a pure-Rust, XGBoost-style GBM
//! (histogram splits, L2 leaf regularization, log loss) that builds on
//! stable Rust. Its maintained successor `perpetual` needs a nightly
//! compiler (`#![feature(array_ptr_get)]` in every release up to 2.3.0), so
//! it cannot be built here. The fitted booster is serde data, so it goes
//! into the model file as is.

use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

use crate::train::ClassWeight;

/// Booster settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BoostConfig {
    /// Boosting rounds.
    pub rounds: usize,
    /// Learning rate.
    pub learning_rate: f32,
    /// Depth of each tree.
    pub max_depth: usize,
    /// L2 regularization of leaf weights.
    pub l2: f32,
    /// Smallest hessian sum in a leaf.
    pub min_leaf_weight: f32,
    /// Seed.
    pub seed: u64,
}

impl Default for BoostConfig {
    fn default() -> Self {
        BoostConfig {
            rounds: 200,
            learning_rate: 0.05,
            max_depth: 4,
            l2: 1.0,
            min_leaf_weight: 5.0,
            seed: 42,
        }
    }
}

/// A fitted booster (log loss), scored as the probability of a spike.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct Booster(pub GradientBooster);

impl std::fmt::Debug for Booster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Booster({} trees)", self.0.trees.len())
    }
}

// forust's booster is not `Clone`; its serde form is complete.
impl Clone for Booster {
    fn clone(&self) -> Self {
        let json = serde_json::to_value(&self.0).expect("a booster serializes");
        Booster(serde_json::from_value(json).expect("a booster reads back its own form"))
    }
}

// Equal when their serialized forms are (tests compare whole models).
impl PartialEq for Booster {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(&self.0).ok() == serde_json::to_value(&other.0).ok()
    }
}

impl Booster {
    /// Probabilities for row-major standardized rows.
    pub fn predict_rows(&self, z: &[f64], width: usize) -> Vec<f64> {
        let rows = z.len() / width.max(1);
        let columns = column_major(z, width);
        self.0
            .predict(&Matrix::new(&columns, rows, width), false)
            .into_iter()
            .map(crate::model::sigmoid)
            .collect()
    }
}

/// Row-major rows -> the column-major layout forust's `Matrix` reads.
fn column_major(z: &[f64], width: usize) -> Vec<f64> {
    let rows = z.len() / width.max(1);
    let mut columns = vec![0.0; z.len()];
    for (i, r) in z.chunks_exact(width).enumerate() {
        for (j, v) in r.iter().enumerate() {
            columns[j * rows + i] = *v;
        }
    }
    columns
}

/// Fits on standardized rows `z` (row-major, `width` columns); returns the
/// booster and the gain importance of each input (summing to 1).
pub fn fit_boosted(
    z: &[f64],
    y: &[bool],
    width: usize,
    cfg: &BoostConfig,
    class_weight: ClassWeight,
) -> Result<(Booster, Vec<f64>), String> {
    let n = y.len();
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == n {
        return Err("boosting needs both classes in training".into());
    }
    let columns = column_major(z, width);
    let target: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    let weights: Vec<f64> = match class_weight {
        ClassWeight::None => vec![1.0; n],
        ClassWeight::Balanced => {
            let (wp, wn) = (
                n as f64 / (2.0 * positives as f64),
                n as f64 / (2.0 * (n - positives) as f64),
            );
            y.iter().map(|&v| if v { wp } else { wn }).collect()
        }
    };
    // Serial: parallel histogram sums would make the fit depend on
    // scheduling, and a model must be a function of its data and seed.
    let mut booster = GradientBooster::default()
        .set_objective_type(ObjectiveType::LogLoss)
        .set_iterations(cfg.rounds)
        .set_learning_rate(cfg.learning_rate)
        .set_max_depth(cfg.max_depth)
        .set_l2(cfg.l2)
        .set_min_leaf_weight(cfg.min_leaf_weight)
        .set_seed(cfg.seed)
        .set_parallel(false);
    booster
        .fit(&Matrix::new(&columns, n, width), &target, &weights, None)
        .map_err(|e| e.to_string())?;
    let gains = booster.calculate_feature_importance(ImportanceMethod::TotalGain, true);
    let mut importances = vec![0.0; width];
    for (j, g) in gains {
        if j < width {
            importances[j] = f64::from(g);
        }
    }
    Ok((Booster(booster), importances))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booster_learns_a_threshold_deterministically() {
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..3000 {
            let a = (i % 300) as f64 / 75.0 - 2.0;
            let b = ((i * 7919) % 101) as f64 / 50.0 - 1.0;
            z.extend([a, b]);
            y.push(a > 1.0);
        }
        let cfg = BoostConfig::default();
        let (m, importances) = fit_boosted(&z, &y, 2, &cfg, ClassWeight::Balanced).unwrap();
        let p = m.predict_rows(&[1.8, 0.0, -1.5, 0.0], 2);
        assert!(p[0] > 0.8 && p[1] < 0.2, "{p:?}");
        assert!(importances[0] > importances[1], "{importances:?}");
        let (again, _) = fit_boosted(&z, &y, 2, &cfg, ClassWeight::Balanced).unwrap();
        assert_eq!(m, again);
    }
}
