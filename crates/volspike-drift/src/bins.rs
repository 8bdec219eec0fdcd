//! Fixed bins and the statistics on them: the population stability index
//! (PSI) and the Jensen-Shannon distance.
//!
//! The bins come from the reference alone: its decile edges (the 0.1 ... 0.9
//! quantiles a model file stores) split the line into ten bins, the first
//! and last open-ended, so a bin never moves with the current data (a
//! common complaint about tools that bin on the union of both samples) and
//! values beyond the reference's range still land in a tail bin. A value
//! equal to an edge goes to the bin above it (numpy's
//! `searchsorted(side='right')`).

use crate::StatsError;

/// The proportion put in place of an empty bin's zero in PSI, so a bin that
/// one sample lacks adds a large but finite term (Evidently's choice).
pub const PSI_EPSILON: f64 = 1e-4;

/// How many values of `values` fall in each bin of `edges` (ascending):
/// `edges.len() + 1` counts. Values that are not finite are not counted.
pub fn counts(edges: &[f64], values: &[f64]) -> Vec<u64> {
    let mut out = vec![0u64; edges.len() + 1];
    for &v in values.iter().filter(|v| v.is_finite()) {
        out[edges.partition_point(|&e| e <= v)] += 1;
    }
    out
}

/// [`counts`] of values already sorted ascending (and finite): a binary
/// search per edge instead of one per value.
pub fn counts_sorted(edges: &[f64], sorted: &[f64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(edges.len() + 1);
    let mut below = 0;
    for &e in edges {
        let upto = sorted.partition_point(|&v| v < e);
        out.push((upto - below) as u64);
        below = upto;
    }
    out.push((sorted.len() - below) as u64);
    out
}

fn proportions(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&c| c as f64 / total.max(1) as f64)
        .collect()
}

fn check_bins(reference: &[u64], current: &[u64]) -> Result<(), StatsError> {
    if reference.len() != current.len() || reference.is_empty() {
        return Err(StatsError::Bins(reference.len(), current.len()));
    }
    if reference.iter().sum::<u64>() == 0 {
        return Err(StatsError::Empty("reference"));
    }
    if current.iter().sum::<u64>() == 0 {
        return Err(StatsError::Empty("current"));
    }
    Ok(())
}

/// PSI = sum over bins of (c - r) ln(c / r), with r and c the reference's
/// and the current sample's proportions and an empty bin's proportion taken
/// as [`PSI_EPSILON`].
pub fn psi(reference: &[u64], current: &[u64]) -> Result<f64, StatsError> {
    check_bins(reference, current)?;
    let fix = |p: f64| if p == 0.0 { PSI_EPSILON } else { p };
    Ok(proportions(reference)
        .into_iter()
        .zip(proportions(current))
        .map(|(r, c)| {
            let (r, c) = (fix(r), fix(c));
            (c - r) * (c / r).ln()
        })
        .sum())
}

/// The PSI expected from sampling alone when nothing drifted, for `bins`
/// bins, a reference of `n_reference` values and a current sample of
/// `n_current`: about (B - 1)(1/n + 1/N). PSI is a chi-square-like sum,
/// so small samples show PSI well above zero with no drift at all; a band
/// (0.1, 0.2, ...) means something only well above this floor.
pub fn psi_no_drift_floor(bins: usize, n_reference: u64, n_current: u64) -> f64 {
    let inv = |n: u64| 1.0 / n.max(1) as f64;
    bins.saturating_sub(1) as f64 * (inv(n_reference) + inv(n_current))
}

/// The Jensen-Shannon distance (natural log, so at most sqrt(ln 2)) between
/// the two bin distributions, as `scipy.spatial.distance.jensenshannon`.
pub fn jensen_shannon(reference: &[u64], current: &[u64]) -> Result<f64, StatsError> {
    check_bins(reference, current)?;
    let (p, q) = (proportions(reference), proportions(current));
    // rel_entr(x, y) = x ln(x / y), 0 when x = 0.
    let rel_entr = |x: f64, y: f64| if x == 0.0 { 0.0 } else { x * (x / y).ln() };
    let (mut left, mut right) = (0.0, 0.0);
    for (&pi, &qi) in p.iter().zip(&q) {
        let m = (pi + qi) / 2.0;
        left += rel_entr(pi, m);
        right += rel_entr(qi, m);
    }
    Ok(((left + right) / 2.0).max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_sorted_values_gives_the_same_bins() {
        // Ties on edges, tied edges, values beyond both ends.
        let edges = [1.0, 2.0, 2.0, 3.5];
        let mut values = vec![0.0, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.5, 9.0, -4.0];
        values.sort_by(f64::total_cmp);
        assert_eq!(counts_sorted(&edges, &values), counts(&edges, &values));
        assert_eq!(counts_sorted(&edges, &[]), vec![0; 5]);
    }

    #[test]
    fn values_on_an_edge_go_to_the_bin_above_and_tails_are_open() {
        let edges = [1.0, 2.0];
        assert_eq!(
            counts(&edges, &[-5.0, 1.0, 1.5, 2.0, 99.0, f64::NAN]),
            vec![1, 2, 2]
        );
    }

    #[test]
    fn identical_bins_give_zero_and_the_floor_shrinks_with_samples() {
        assert_eq!(psi(&[5, 5, 5], &[10, 10, 10]).unwrap(), 0.0);
        assert_eq!(jensen_shannon(&[5, 5], &[1, 1]).unwrap(), 0.0);
        assert!(psi_no_drift_floor(10, 100, 100) > psi_no_drift_floor(10, 10_000, 10_000));
        assert!((psi_no_drift_floor(10, 1000, 1000) - 0.018).abs() < 1e-15);
    }

    #[test]
    fn mismatched_or_empty_bins_are_errors() {
        assert!(psi(&[1, 2], &[1, 2, 3]).is_err());
        assert!(psi(&[0, 0], &[1, 2]).is_err());
        assert!(jensen_shannon(&[], &[]).is_err());
    }
}
