//! Random forest: smartcore grows the trees, volspike keeps and scores them.
//!
//! smartcore 0.7's `RandomForestClassifier` grows proper random-forest
//! trees (bootstrap samples, a random subset of features at each split) but
//! only votes for a class: it has no probabilities and keeps its trees
//! private. So the fitted forest is read back through smartcore's own serde
//! form into plain [`Tree`]s (`volspike_model::forest`), and each leaf gets
//! the class-weighted share of spikes among the training rows that reach it.

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use volspike_model::forest::{Tree, TreeNode};

use crate::train::ClassWeight;

/// Forest settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ForestConfig {
    /// Trees.
    pub trees: u16,
    /// Maximum depth of a tree.
    pub max_depth: u16,
    /// Fewest training rows in a leaf.
    pub min_samples_leaf: usize,
    /// Seed of the row sample, the bootstrap samples and feature choices.
    pub seed: u64,
    /// Most rows the trees are grown on (a seeded sample beyond that; leaf
    /// values still use every training row).
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
}

fn default_max_rows() -> usize {
    200_000
}

impl Default for ForestConfig {
    fn default() -> Self {
        ForestConfig {
            trees: 100,
            max_depth: 8,
            min_samples_leaf: 20,
            seed: 42,
            max_rows: default_max_rows(),
        }
    }
}

/// A fitted forest and the impurity-based importance of each input.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedForest {
    /// The trees.
    pub trees: Vec<Tree>,
    /// Mean decrease in Gini impurity per input, summing to 1.
    pub importances: Vec<f64>,
}

/// Fits a forest on standardized rows `z` (row-major, `width` columns).
///
/// With [`ClassWeight::Balanced`] the trees are grown on every row of the
/// rarer class and an equal number of the other drawn with the seed (random undersampling, as
/// in balanced random forests), and leaf values weigh the classes equally.
/// At most `max_rows` rows grow the trees; every training row sets the leaf
/// values.
pub fn fit_forest(
    z: &[f64],
    y: &[bool],
    width: usize,
    cfg: &ForestConfig,
    class_weight: ClassWeight,
) -> Result<FittedForest, String> {
    let n = y.len();
    let positives = y.iter().filter(|&&v| v).count();
    if positives == 0 || positives == n {
        return Err("the forest needs both classes in training".into());
    }
    let negatives = n - positives;
    // Chance of keeping a row of each class.
    let (mut keep_pos, mut keep_neg) = match class_weight {
        ClassWeight::None => (1.0, 1.0),
        ClassWeight::Balanced => {
            let m = positives.min(negatives) as f64;
            (m / positives as f64, m / negatives as f64)
        }
    };
    let expected = positives as f64 * keep_pos + negatives as f64 * keep_neg;
    if expected > cfg.max_rows as f64 {
        let f = cfg.max_rows as f64 / expected;
        keep_pos *= f;
        keep_neg *= f;
    }
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for (i, (r, &spike)) in z.chunks_exact(width).zip(y).enumerate() {
        let keep = if spike { keep_pos } else { keep_neg };
        if keep >= 1.0 || unit(cfg.seed, i as u64) < keep {
            values.extend_from_slice(r);
            labels.push(u32::from(spike));
        }
    }
    let rows = labels.len();
    let x = DenseMatrix::new(rows, width, values, false).map_err(|e| e.to_string())?;
    let params = RandomForestClassifierParameters::default()
        .with_n_trees(cfg.trees)
        .with_max_depth(cfg.max_depth)
        .with_min_samples_leaf(cfg.min_samples_leaf)
        .with_seed(cfg.seed);
    let forest: RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>> =
        RandomForestClassifier::fit(&x, &labels, params).map_err(|e| e.to_string())?;
    drop(x);
    let raw = serde_json::to_value(&forest).map_err(|e| e.to_string())?;
    let (mut trees, importances) = read_trees(&raw, width)?;

    // Leaf values: class-weighted share of spikes among all training rows.
    // Balanced weights scaled so a negative row weighs 1 (the same shares as
    // ClassWeight::weights; these exact values are what model files hold).
    let (w_pos, w_neg) = match class_weight {
        ClassWeight::None => (1.0, 1.0),
        ClassWeight::Balanced => (negatives as f64 / positives as f64, 1.0),
    };
    for tree in &mut trees {
        let mut weight = vec![(0.0f64, 0.0f64); tree.nodes.len()];
        for (r, &spike) in z.chunks_exact(width).zip(y) {
            let w = &mut weight[tree.leaf(r)];
            if spike {
                w.0 += w_pos;
            } else {
                w.1 += w_neg;
            }
        }
        for (node, (pos, neg)) in tree.nodes.iter_mut().zip(weight) {
            if node.left == 0 && pos + neg > 0.0 {
                node.value = pos / (pos + neg);
            }
        }
    }
    Ok(FittedForest { trees, importances })
}

/// A number in [0, 1) from (seed, i): splitmix64, so the sample depends only
/// on the seed and the row's place in canonical order.
fn unit(seed: u64, i: u64) -> f64 {
    let mut x = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// smartcore's serde form of a fitted forest -> our trees and the mean
/// decrease in impurity per input. Fails loudly if the layout changes.
fn read_trees(raw: &serde_json::Value, width: usize) -> Result<(Vec<Tree>, Vec<f64>), String> {
    let layout = |what: &str| format!("smartcore's forest layout changed: {what}");
    let classes: Vec<u32> =
        serde_json::from_value(raw["classes"].clone()).map_err(|_| layout("no `classes`"))?;
    let spike_class = classes
        .iter()
        .position(|&c| c == 1)
        .ok_or_else(|| layout("no class 1"))?;
    let raw_trees = raw["trees"]
        .as_array()
        .ok_or_else(|| layout("no `trees`"))?;
    let mut importances = vec![0.0; width];
    let mut trees = Vec::with_capacity(raw_trees.len());
    for t in raw_trees {
        #[derive(Deserialize)]
        struct RawNode {
            output: usize,
            n_node_samples: usize,
            split_feature: usize,
            split_value: Option<f64>,
            true_child: Option<usize>,
            false_child: Option<usize>,
            impurity: Option<f64>,
        }
        let nodes: Vec<RawNode> = serde_json::from_value(t["nodes"].clone())
            .map_err(|e| layout(&format!("tree nodes: {e}")))?;
        let mut tree_importance = vec![0.0; width];
        let mut out = Vec::with_capacity(nodes.len());
        for n in &nodes {
            match (n.true_child, n.false_child, n.split_value) {
                (Some(l), Some(r), Some(threshold)) => {
                    if n.split_feature >= width || l == 0 || r == 0 {
                        return Err(layout("a split outside the inputs"));
                    }
                    let imp = |m: &RawNode| m.n_node_samples as f64 * m.impurity.unwrap_or(0.0);
                    tree_importance[n.split_feature] += imp(n) - imp(&nodes[l]) - imp(&nodes[r]);
                    out.push(TreeNode {
                        feature: n.split_feature as u32,
                        threshold,
                        left: l as u32,
                        right: r as u32,
                        value: 0.0,
                    });
                }
                _ => out.push(TreeNode {
                    feature: 0,
                    threshold: 0.0,
                    left: 0,
                    right: 0,
                    value: if n.output == spike_class { 1.0 } else { 0.0 },
                }),
            }
        }
        let total: f64 = tree_importance.iter().sum();
        if total > 0.0 {
            for (a, b) in importances.iter_mut().zip(&tree_importance) {
                *a += b / total;
            }
        }
        trees.push(Tree { nodes: out });
    }
    let total: f64 = importances.iter().sum();
    if total > 0.0 {
        importances.iter_mut().for_each(|v| *v /= total);
    }
    Ok((trees, importances))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forest_learns_a_threshold_and_is_deterministic() {
        // Spike when the first input is above 1; the second is noise.
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..2000 {
            let a = (i % 200) as f64 / 50.0 - 2.0;
            let b = ((i * 7919) % 101) as f64 / 50.0 - 1.0;
            z.extend([a, b]);
            y.push(a > 1.0);
        }
        let cfg = ForestConfig {
            trees: 20,
            ..ForestConfig::default()
        };
        let f = fit_forest(&z, &y, 2, &cfg, ClassWeight::Balanced).unwrap();
        let score = |r: &[f64]| f.trees.iter().map(|t| t.predict(r)).sum::<f64>() / 20.0;
        assert!(score(&[1.8, 0.0]) > 0.9, "{}", score(&[1.8, 0.0]));
        assert!(score(&[-1.5, 0.0]) < 0.1);
        assert!(f.importances[0] > 0.9, "{:?}", f.importances);
        assert!((f.importances.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let again = fit_forest(&z, &y, 2, &cfg, ClassWeight::Balanced).unwrap();
        assert_eq!(f, again);
    }
}
