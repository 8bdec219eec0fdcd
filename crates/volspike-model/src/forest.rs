//! Random-forest trees as plain data: what the model file holds and how a
//! row is scored.
//!
//! Training (`volspike-train`) grows the trees with smartcore and reads them
//! back into [`Tree`]s whose leaves hold the class-weighted share of spikes
//! among the training rows that reach them. The score is the mean of the
//! leaves over the trees, like scikit-learn's `predict_proba`, so the model
//! file needs neither smartcore nor its format to be scored.

use serde::{Deserialize, Serialize};

/// One node of a [`Tree`]: a split (`left != 0`) or a leaf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    /// Input index the split tests.
    pub feature: u32,
    /// `z[feature] <= threshold` goes left.
    pub threshold: f64,
    /// Left child (0: this is a leaf; the root is never a child).
    pub left: u32,
    /// Right child.
    pub right: u32,
    /// Leaf: the class-weighted share of spikes among training rows here.
    pub value: f64,
}

/// A binary decision tree on standardized inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Nodes, the root first.
    pub nodes: Vec<TreeNode>,
}

impl Tree {
    /// The index of the leaf `z` lands in.
    pub fn leaf(&self, z: &[f64]) -> usize {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.left == 0 {
                return i;
            }
            // smartcore sends NaN right (`x <= NaN` is false); so do we.
            i = if z[n.feature as usize] <= n.threshold {
                n.left as usize
            } else {
                n.right as usize
            };
        }
    }

    /// The leaf value for `z`.
    pub fn predict(&self, z: &[f64]) -> f64 {
        self.nodes[self.leaf(z)].value
    }
}
