//! Gradient-boosted trees as plain data, scored without the library that
//! fitted them.
//!
//! Training fits with forust-ml (`volspike-train`); the model file keeps the
//! booster in forust's own serde layout, field for field and in its order,
//! so files are byte-identical to what forust writes and forust can read
//! them back. Only the fields scoring needs are interpreted (the trees, the
//! base score, the missing-value marker and the prediction cut-off); the
//! rest are kept as they came. Scoring follows forust's `predict`: the base
//! score plus each tree's leaf weight, summed in tree order, as log odds.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One node of a boosted tree, as forust writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostNode {
    /// Index of this node in its tree.
    pub num: usize,
    /// Leaf output (log odds), or the node's weight for a split.
    pub weight_value: f32,
    /// Sum of hessians of the training rows here.
    pub hessian_sum: f32,
    /// Depth (the root is 0).
    pub depth: usize,
    /// `z[split_feature] < split_value` goes left.
    pub split_value: f64,
    /// Input index the split tests.
    pub split_feature: usize,
    /// Gain of the split.
    pub split_gain: f32,
    /// Child for a missing value.
    pub missing_node: usize,
    /// Left child.
    pub left_child: usize,
    /// Right child.
    pub right_child: usize,
    /// A leaf (no children).
    pub is_leaf: bool,
}

/// One boosted tree: nodes, the root first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostTree {
    /// The nodes.
    pub nodes: Vec<BoostNode>,
}

impl BoostTree {
    /// The leaf weight for standardized inputs `z`.
    fn leaf_weight(&self, z: &[f64], missing: f64) -> f32 {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf {
                return n.weight_value;
            }
            let v = z[n.split_feature];
            let is_missing = if missing.is_nan() {
                v.is_nan()
            } else {
                v == missing
            };
            i = if is_missing {
                n.missing_node
            } else if v < n.split_value {
                n.left_child
            } else {
                n.right_child
            };
        }
    }
}

fn null_is_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Option::<f64>::deserialize(d).map(|v| v.unwrap_or(f64::NAN))
}

/// A fitted booster (log loss) in forust-ml 0.8's layout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Booster {
    /// Loss (`LogLoss`).
    pub objective_type: Value,
    /// Boosting rounds.
    pub iterations: usize,
    /// Learning rate.
    pub learning_rate: f32,
    /// Depth of each tree.
    pub max_depth: usize,
    /// Most leaves of a tree.
    pub max_leaves: usize,
    /// L1 regularization.
    pub l1: f32,
    /// L2 regularization.
    pub l2: f32,
    /// Smallest gain of a split.
    pub gamma: f32,
    /// Largest step of a leaf.
    pub max_delta_step: f32,
    /// Smallest hessian sum in a leaf.
    pub min_leaf_weight: f32,
    /// Starting log odds of every row.
    pub base_score: f64,
    /// Histogram bins.
    pub nbins: u16,
    /// Fitted in parallel.
    pub parallel: bool,
    /// Splits may send missing values their own way.
    pub allow_missing_splits: bool,
    /// Monotone constraints per input, if any.
    pub monotone_constraints: Value,
    /// Row subsample per tree.
    pub subsample: f32,
    /// GOSS top rate.
    pub top_rate: f64,
    /// GOSS other rate.
    pub other_rate: f64,
    /// Column subsample per tree.
    pub colsample_bytree: f64,
    /// Seed.
    pub seed: u64,
    /// The value that marks a missing input (NaN, written as `null`).
    #[serde(deserialize_with = "null_is_nan")]
    pub missing: f64,
    /// Missing values got their own branch.
    pub create_missing_branch: bool,
    /// Row sampling method.
    pub sample_method: Value,
    /// How trees grow.
    pub grow_policy: Value,
    /// Early-stopping metric.
    pub evaluation_metric: Value,
    /// Early-stopping patience.
    pub early_stopping_rounds: Option<usize>,
    /// The base score was fitted.
    pub initialize_base_score: bool,
    /// Inputs whose missing values end a branch.
    pub terminate_missing_features: Vec<usize>,
    /// Metric per round, if kept.
    pub evaluation_history: Value,
    /// Best round by the early-stopping metric.
    pub best_iteration: Option<usize>,
    /// Rounds used to predict (all when `None`).
    pub prediction_iteration: Option<usize>,
    /// How missing-value nodes were weighted.
    pub missing_node_treatment: Value,
    /// Logging interval of the fit.
    pub log_iterations: usize,
    /// Children's weights bounded by the parent's.
    pub force_children_to_bound_parent: bool,
    /// Threads of the fit.
    pub num_threads: Option<usize>,
    /// Histogram layout of the fit.
    pub tiled_histograms: bool,
    /// The trees.
    pub trees: Vec<BoostTree>,
    /// forust's free-form metadata.
    pub metadata: BTreeMap<String, String>,
}

// Equal when their serialized forms are: `missing` is NaN, which a
// field-wise comparison never finds equal (tests compare whole models).
impl PartialEq for Booster {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

impl Booster {
    /// Log odds of a spike for standardized inputs `z`.
    pub fn log_odds(&self, z: &[f64]) -> f64 {
        let used = self
            .prediction_iteration
            .unwrap_or(self.trees.len())
            .min(self.trees.len());
        let mut s = self.base_score;
        for tree in &self.trees[..used] {
            s += f64::from(tree.leaf_weight(z, self.missing));
        }
        s
    }
}
