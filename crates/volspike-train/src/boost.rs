//! Gradient-boosted trees with `forust-ml`: a pure-Rust, XGBoost-style GBM
//! (histogram splits, L2 leaf regularization, log loss) that builds on
//! stable Rust. Its maintained successor `perpetual` needs a nightly
//! compiler (`#![feature(array_ptr_get)]` in every release up to 2.3.0), so
//! it cannot be built here. The fitted booster goes into the model file in
//! forust's own serde layout, read into `volspike_model::boost::Booster`
//! (plain data that scores without forust).

use forust_ml::constraints::{Constraint, ConstraintMap};
use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};
use volspike_model::boost::Booster;

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
    /// Hold each input whose relation to a spike is known before any data
    /// ([`crate::train::known_direction`]) to that direction: a tree cannot
    /// then learn a recorder's quirk that reverses it.
    #[serde(default)]
    pub monotone: bool,
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
            monotone: false,
        }
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
/// `directions` (one per input: +1, -1, 0 for none; empty for none at all)
/// constrain the fit when `cfg.monotone` is set.
pub fn fit_boosted(
    z: &[f64],
    y: &[bool],
    width: usize,
    cfg: &BoostConfig,
    class_weight: ClassWeight,
    directions: &[i8],
) -> Result<(Booster, Vec<f64>), String> {
    let n = y.len();
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == n {
        return Err("boosting needs both classes in training".into());
    }
    let columns = column_major(z, width);
    let target: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
    let (wp, wn) = class_weight.weights(positives, n - positives);
    let weights: Vec<f64> = y.iter().map(|&v| if v { wp } else { wn }).collect();
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
    if cfg.monotone && directions.iter().any(|&d| d != 0) {
        let constraints: ConstraintMap = directions
            .iter()
            .enumerate()
            .filter_map(|(j, &d)| match d {
                1 => Some((j, Constraint::Positive)),
                -1 => Some((j, Constraint::Negative)),
                _ => None,
            })
            .collect();
        booster = booster.set_monotone_constraints(Some(constraints));
    }
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
    Ok((plain(&booster)?, importances))
}

/// forust's booster as the model file's plain [`Booster`], through forust's
/// own serde form (the bytes a model file holds).
fn plain(booster: &GradientBooster) -> Result<Booster, String> {
    let json = serde_json::to_vec(booster).map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| format!("forust's booster layout changed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3000 rows of two inputs a in [-2, 2) and b in [-1, 1], spikes where
    /// `spike(a, b)`.
    fn data_where(spike: impl Fn(f64, f64) -> bool) -> (Vec<f64>, Vec<bool>) {
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..3000 {
            let a = (i % 300) as f64 / 75.0 - 2.0;
            let b = ((i * 7919) % 101) as f64 / 50.0 - 1.0;
            z.extend([a, b]);
            y.push(spike(a, b));
        }
        (z, y)
    }

    fn data() -> (Vec<f64>, Vec<bool>) {
        data_where(|a, _| a > 1.0)
    }

    #[test]
    fn a_booster_learns_a_threshold_deterministically() {
        let (z, y) = data();
        let cfg = BoostConfig::default();
        let (m, importances) = fit_boosted(&z, &y, 2, &cfg, ClassWeight::Balanced, &[]).unwrap();
        let p = |r: &[f64]| volspike_model::model::sigmoid(m.log_odds(r));
        assert!(p(&[1.8, 0.0]) > 0.8 && p(&[-1.5, 0.0]) < 0.2);
        assert!(importances[0] > importances[1], "{importances:?}");
        let (again, _) = fit_boosted(&z, &y, 2, &cfg, ClassWeight::Balanced, &[]).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn a_monotone_booster_keeps_the_known_direction() {
        // Spikes where a > 1, and also where a < -1.5 and b > 0: not
        // monotone in a. Constrained to rise with a, the fit must.
        let (z, y) = data_where(|a, b| a > 1.0 || (a < -1.5 && b > 0.0));
        let free = BoostConfig::default();
        let tied = BoostConfig {
            monotone: true,
            ..free
        };
        let along_a = |m: &Booster| -> Vec<f64> {
            (0..40)
                .map(|k| m.log_odds(&[k as f64 / 10.0 - 2.0, 0.5]))
                .collect()
        };
        let (m, _) = fit_boosted(&z, &y, 2, &free, ClassWeight::Balanced, &[1, 0]).unwrap();
        let s = along_a(&m);
        assert!(
            s[0] > s[20],
            "unconstrained, the fit learns the low band: {s:?}"
        );
        let (m, _) = fit_boosted(&z, &y, 2, &tied, ClassWeight::Balanced, &[1, 0]).unwrap();
        let s = along_a(&m);
        assert!(s.windows(2).all(|w| w[0] <= w[1]), "{s:?}");
        assert!(s[39] > s[0]);
    }

    #[test]
    fn the_plain_booster_scores_and_serializes_exactly_as_forust() {
        let (z, y) = data();
        let cfg = BoostConfig {
            rounds: 40,
            ..BoostConfig::default()
        };
        // The same fit as fit_boosted, kept as forust's own booster.
        let columns = column_major(&z, 2);
        let target: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v))).collect();
        let mut forust = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(cfg.rounds)
            .set_max_depth(cfg.max_depth)
            .set_parallel(false);
        forust
            .fit(
                &Matrix::new(&columns, y.len(), 2),
                &target,
                &vec![1.0; y.len()],
                None,
            )
            .unwrap();
        let ours = plain(&forust).unwrap();
        // Scores: forust's predict (log odds) to the bit, on rows and on
        // values exactly at and around split points.
        let mut probe = z.clone();
        for t in &ours.trees {
            for n in t.nodes.iter().filter(|n| !n.is_leaf) {
                let mut r = vec![0.0; 2];
                r[n.split_feature] = n.split_value;
                probe.extend(&r);
                r[n.split_feature] = n.split_value - 1e-9;
                probe.extend(&r);
            }
        }
        let rows = probe.len() / 2;
        let want = forust.predict(&Matrix::new(&column_major(&probe, 2), rows, 2), false);
        for (i, w) in want.iter().enumerate() {
            let got = ours.log_odds(&probe[i * 2..i * 2 + 2]);
            assert_eq!(got.to_bits(), w.to_bits(), "row {i}: {got} vs {w}");
        }
        // The model file's bytes: forust's own serialization, pretty or not.
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&forust).unwrap()
        );
        assert_eq!(
            serde_json::to_string_pretty(&ours).unwrap(),
            serde_json::to_string_pretty(&forust).unwrap()
        );
    }
}
