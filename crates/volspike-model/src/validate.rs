//! The one check of a model file before anything scores with it.
//!
//! A file that parses can still make scoring panic (an index out of range),
//! spin forever (a tree node that is its own child) or give inf and NaN
//! scores (a zero scale). [`ModelFile::from_json`] runs [`validate`] on every
//! file it reads, so the registry, the inference server, `volspike evaluate`,
//! the drift worker and `volspike models promote` all refuse the same files
//! with the same message, and a model that passed scores every row of its
//! width without panicking or looping.

use crate::alerts::ThresholdRule;
use crate::artifact::ModelFile;
use crate::boost::BoostTree;
use crate::calibration::Calibration;
use crate::forest::Tree;
use crate::model::{Model, Params};

/// The largest model file read, bytes: far above any model training writes
/// (a 300-tree forest is a few MB), far below what would exhaust a server.
pub const MAX_MODEL_FILE_BYTES: u64 = 256 << 20;

/// The deepest tree scored. smartcore and forust grow to depth 6 to 12 here;
/// a deeper tree is a broken or hostile file, and the bound keeps scoring's
/// cost per row known.
pub const MAX_TREE_DEPTH: usize = 64;

/// Checks that `file` can be scored: sizes consistent, indices in range,
/// trees acyclic and at most [`MAX_TREE_DEPTH`] deep, parameters finite,
/// scales positive, thresholds in (0, 1). The error names the first problem.
pub fn validate(file: &ModelFile) -> Result<(), String> {
    validate_model(&file.model)?;
    if let Some(policy) = &file.alert_policy {
        match &policy.threshold {
            ThresholdRule::Fixed {
                threshold,
                rearm_ratio,
            } => {
                open_unit("the alert policy's threshold", *threshold)?;
                closed_unit("the alert policy's re-arm ratio", *rearm_ratio)?;
            }
            ThresholdRule::Budget {
                per_hour,
                window,
                refresh,
                fallback,
                fallback_rearm,
                ..
            } => {
                if !(per_hour.is_finite() && *per_hour > 0.0) {
                    return Err(format!(
                        "the alert budget must be a positive number of alerts per hour, not {per_hour}"
                    ));
                }
                if window.is_zero() || refresh.is_zero() {
                    return Err("the alert policy's window and refresh must be positive".into());
                }
                closed_unit("the alert policy's fallback threshold", *fallback)?;
                closed_unit("the alert policy's fallback re-arm level", *fallback_rearm)?;
            }
        }
    }
    Ok(())
}

/// [`validate`] for the model alone.
pub fn validate_model(m: &Model) -> Result<(), String> {
    let width = m.feature_names.len();
    if width == 0 {
        return Err("the model has no inputs".into());
    }
    for (i, name) in m.feature_names.iter().enumerate() {
        if m.feature_names[..i].contains(name) {
            return Err(format!("input `{name}` is listed twice"));
        }
    }
    let s = &m.scaler;
    if s.mean.len() != width || s.scale.len() != width {
        return Err(format!(
            "the scaler has {} means and {} scales for {width} inputs",
            s.mean.len(),
            s.scale.len()
        ));
    }
    if !s.log_floor.is_empty() && s.log_floor.len() != width {
        return Err(format!(
            "the scaler has {} log floors for {width} inputs",
            s.log_floor.len()
        ));
    }
    for (i, (&mean, &scale)) in s.mean.iter().zip(&s.scale).enumerate() {
        let name = &m.feature_names[i];
        if !mean.is_finite() {
            return Err(format!("the scaler's mean of `{name}` is {mean}"));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(format!(
                "the scaler's scale of `{name}` is {scale}; it must be finite and positive"
            ));
        }
    }
    for (floor, name) in s.log_floor.iter().zip(&m.feature_names) {
        if let Some(f) = floor
            && !(f.is_finite() && *f > 0.0)
        {
            return Err(format!(
                "the scaler's log floor of `{name}` is {f}; it must be finite and positive"
            ));
        }
    }
    match &m.params {
        Params::Baseline { feature } => {
            if *feature >= width {
                return Err(format!("the baseline reads input {feature} of {width}"));
            }
        }
        Params::Logistic { coef, intercept } => {
            if coef.len() != width {
                return Err(format!(
                    "the logistic regression has {} weights for {width} inputs",
                    coef.len()
                ));
            }
            if let Some(w) = coef.iter().chain([intercept]).find(|w| !w.is_finite()) {
                return Err(format!("the logistic regression has a weight of {w}"));
            }
        }
        Params::Forest { trees } => {
            if trees.is_empty() {
                return Err("the forest has no trees".into());
            }
            for (k, tree) in trees.iter().enumerate() {
                forest_tree(tree, width).map_err(|e| format!("forest tree {k}: {e}"))?;
            }
        }
        Params::Boosted { booster } => {
            if !booster.base_score.is_finite() {
                return Err(format!(
                    "the booster's base score is {}",
                    booster.base_score
                ));
            }
            for (k, tree) in booster.trees.iter().enumerate() {
                boosted_tree(tree, width).map_err(|e| format!("boosted tree {k}: {e}"))?;
            }
        }
    }
    if let Some(Calibration::Platt { a, b }) = &m.calibration
        && !(a.is_finite() && b.is_finite())
    {
        return Err(format!("the calibration's parameters are {a} and {b}"));
    }
    open_unit("the decision threshold", m.threshold)
}

fn open_unit(what: &str, v: f64) -> Result<(), String> {
    if v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(format!("{what} is {v}; it must lie in (0, 1)"))
    }
}

fn closed_unit(what: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{what} is {v}; it must lie in [0, 1]"))
    }
}

/// Walks a tree from its root: every child in range, every node reached at
/// most once (so no cycle and no shared subtree), depth bounded.
/// `children(i)` is `None` for a leaf.
fn walk(
    len: usize,
    mut children: impl FnMut(usize) -> Result<Option<Vec<usize>>, String>,
) -> Result<(), String> {
    if len == 0 {
        return Err("the tree has no nodes".into());
    }
    let mut seen = vec![false; len];
    let mut stack = vec![(0usize, 0usize)];
    seen[0] = true;
    while let Some((i, depth)) = stack.pop() {
        let Some(kids) = children(i)? else { continue };
        if depth + 1 > MAX_TREE_DEPTH {
            return Err(format!("deeper than {MAX_TREE_DEPTH} levels"));
        }
        for c in kids {
            if c >= len {
                return Err(format!("node {i} points at node {c} of {len}"));
            }
            if std::mem::replace(&mut seen[c], true) {
                return Err(format!(
                    "node {i} points at node {c}, which is already reached: a cycle or a shared node"
                ));
            }
            stack.push((c, depth + 1));
        }
    }
    Ok(())
}

fn forest_tree(tree: &Tree, width: usize) -> Result<(), String> {
    walk(tree.nodes.len(), |i| {
        let n = &tree.nodes[i];
        if n.left == 0 {
            if !(0.0..=1.0).contains(&n.value) {
                return Err(format!("leaf {i} has value {}", n.value));
            }
            return Ok(None);
        }
        if n.feature as usize >= width {
            return Err(format!("node {i} tests input {} of {width}", n.feature));
        }
        if n.threshold.is_nan() {
            return Err(format!("node {i} has a NaN threshold"));
        }
        Ok(Some(vec![n.left as usize, n.right as usize]))
    })
}

fn boosted_tree(tree: &BoostTree, width: usize) -> Result<(), String> {
    walk(tree.nodes.len(), |i| {
        let n = &tree.nodes[i];
        if n.is_leaf {
            if !n.weight_value.is_finite() {
                return Err(format!("leaf {i} has weight {}", n.weight_value));
            }
            return Ok(None);
        }
        if n.split_feature >= width {
            return Err(format!(
                "node {i} tests input {} of {width}",
                n.split_feature
            ));
        }
        if n.split_value.is_nan() {
            return Err(format!("node {i} has a NaN split value"));
        }
        // forust may send missing values to one of the two children or to
        // a node of their own; each is a distinct child.
        let mut kids = vec![n.left_child, n.right_child];
        if n.missing_node != n.left_child && n.missing_node != n.right_child {
            kids.push(n.missing_node);
        }
        Ok(Some(kids))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boost::BoostNode;
    use crate::forest::TreeNode;

    fn base() -> ModelFile {
        crate::registry::tests::file(0.5)
    }

    fn refused(f: &ModelFile) -> String {
        validate(f).expect_err("refused")
    }

    fn node(feature: u32, left: u32, right: u32, value: f64) -> TreeNode {
        TreeNode {
            feature,
            threshold: 0.0,
            left,
            right,
            value,
        }
    }

    fn forest(nodes: Vec<TreeNode>) -> ModelFile {
        let mut f = base();
        f.model.params = Params::Forest {
            trees: vec![Tree { nodes }],
        };
        f
    }

    #[test]
    fn a_valid_file_passes_and_each_kind_of_damage_is_named() {
        assert_eq!(validate(&base()), Ok(()));
        let good_tree = vec![node(0, 1, 2, 0.0), node(0, 0, 0, 0.1), node(0, 0, 0, 0.9)];
        assert_eq!(validate(&forest(good_tree.clone())), Ok(()));

        let mut f = base();
        f.model.feature_names.clear();
        assert!(refused(&f).contains("no inputs"));
        let mut f = base();
        f.model.scaler.scale = vec![0.0];
        assert!(refused(&f).contains("scale of `a` is 0"), "{}", refused(&f));
        let mut f = base();
        f.model.scaler.mean = vec![0.0, 1.0];
        assert!(refused(&f).contains("2 means and 1 scales for 1 inputs"));
        let mut f = base();
        f.model.params = Params::Logistic {
            coef: vec![1.0, 2.0],
            intercept: 0.0,
        };
        assert!(refused(&f).contains("2 weights for 1 inputs"));
        let mut f = base();
        f.model.params = Params::Logistic {
            coef: vec![f64::NAN],
            intercept: 0.0,
        };
        assert!(refused(&f).contains("weight of NaN"));
        let mut f = base();
        f.model.params = Params::Baseline { feature: 3 };
        assert!(refused(&f).contains("input 3 of 1"));
        for t in [0.0, 1.0, 1.5, f64::NAN] {
            let mut f = base();
            f.model.threshold = t;
            assert!(refused(&f).contains("decision threshold"), "{t}");
        }

        // Trees: a node that is its own child, a child out of range, a
        // child shared by two parents, a split on a missing input.
        let mut t = good_tree.clone();
        t[2] = node(0, 2, 1, 0.0);
        assert!(refused(&forest(t)).contains("node 2 points at node 2"));
        let mut t = good_tree.clone();
        t[0].right = 9;
        assert!(refused(&forest(t)).contains("node 0 points at node 9 of 3"));
        let mut t = good_tree.clone();
        t[0].right = 1;
        assert!(refused(&forest(t)).contains("already reached"));
        let mut t = good_tree;
        t[0].feature = 4;
        assert!(refused(&forest(t)).contains("tests input 4 of 1"));
        assert!(refused(&forest(Vec::new())).contains("no nodes"));
        let mut f = base();
        f.model.params = Params::Forest { trees: Vec::new() };
        assert!(refused(&f).contains("no trees"));
    }

    #[test]
    fn trees_deeper_than_the_bound_are_refused() {
        // A chain of splits: node 2k splits into leaf 2k+1 and node 2k+2.
        let chain = |splits: u32| {
            let mut nodes = Vec::new();
            for k in 0..splits {
                nodes.push(node(0, 2 * k + 1, 2 * k + 2, 0.0));
                nodes.push(node(0, 0, 0, 0.5));
            }
            nodes.push(node(0, 0, 0, 0.5));
            forest(nodes)
        };
        assert_eq!(validate(&chain(MAX_TREE_DEPTH as u32)), Ok(()));
        assert!(refused(&chain(MAX_TREE_DEPTH as u32 + 1)).contains("deeper than 64"));
    }

    #[test]
    fn boosted_trees_are_walked_with_their_missing_branch() {
        let boost_node = |num, leaf: bool, left, right, missing| BoostNode {
            num,
            weight_value: 0.1,
            hessian_sum: 1.0,
            depth: 0,
            split_value: 0.0,
            split_feature: 0,
            split_gain: 0.0,
            missing_node: missing,
            left_child: left,
            right_child: right,
            is_leaf: leaf,
        };
        let tree = |nodes| BoostTree { nodes };
        let ok = tree(vec![
            boost_node(0, false, 1, 2, 1),
            boost_node(1, true, 0, 0, 0),
            boost_node(2, true, 0, 0, 0),
        ]);
        assert_eq!(boosted_tree(&ok, 1), Ok(()));
        let looping = tree(vec![
            boost_node(0, false, 1, 2, 0),
            boost_node(1, true, 0, 0, 0),
            boost_node(2, true, 0, 0, 0),
        ]);
        assert!(
            boosted_tree(&looping, 1)
                .unwrap_err()
                .contains("node 0 points at node 0")
        );
    }

    #[test]
    fn oversized_and_malformed_bytes_are_refused_before_use() {
        let big = vec![b' '; MAX_MODEL_FILE_BYTES as usize + 1];
        assert!(
            ModelFile::from_json(&big, "big.json")
                .unwrap_err()
                .contains("larger than 256 MiB")
        );
        let mut f = base();
        f.model.scaler.scale = vec![-1.0];
        let bytes = serde_json::to_vec(&f).unwrap();
        let e = ModelFile::from_json(&bytes, "m.json").unwrap_err();
        assert!(
            e.starts_with("m.json is malformed: the scaler's scale of `a`"),
            "{e}"
        );
    }
}
