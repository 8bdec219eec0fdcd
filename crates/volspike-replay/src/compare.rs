//! Comparing two sets of feature rows exactly.

use volspike_core::{FEATURE_NAMES, FeatureRow};

/// The first difference between two canonical row lists, described for a
/// person, or `None` when they are identical (every float compared by bits).
pub fn first_difference(left: &[FeatureRow], right: &[FeatureRow]) -> Option<String> {
    for (i, (l, r)) in left.iter().zip(right).enumerate() {
        if l.key() != r.key() {
            return Some(format!("row {i}: key {:?} vs {:?}", l.key(), r.key()));
        }
        for ((name, a), b) in FEATURE_NAMES.iter().zip(l.values()).zip(r.values()) {
            if a.map(f64::to_bits) != b.map(f64::to_bits) {
                return Some(format!("row {i} {:?}: {name} {a:?} vs {b:?}", l.key()));
            }
        }
        if l != r {
            return Some(format!("row {i} {:?}: {l:?} vs {r:?}", l.key()));
        }
    }
    (left.len() != right.len()).then(|| format!("{} rows vs {} rows", left.len(), right.len()))
}
