//! Corrections for testing many features at once: with 10 features at a 5%
//! level, some feature "drifts" in 40% of stable windows unless p-values are
//! adjusted.

/// Benjamini-Hochberg adjusted p-values (false discovery rate), in the
/// input's order, as `scipy.stats.false_discovery_control(p, method='bh')`:
/// p_(i) m / i, made monotone from the largest down, capped at 1.
pub fn benjamini_hochberg(pvalues: &[f64]) -> Vec<f64> {
    let m = pvalues.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| pvalues[a].total_cmp(&pvalues[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = f64::INFINITY;
    for (rank, &i) in order.iter().enumerate().rev() {
        // p (m / i), in scipy's order of operations.
        running = running.min(pvalues[i] * (m as f64 / (rank + 1) as f64));
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

/// Bonferroni adjusted p-values: min(1, m p).
pub fn bonferroni(pvalues: &[f64]) -> Vec<f64> {
    let m = pvalues.len() as f64;
    pvalues.iter().map(|p| (p * m).min(1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bh_is_monotone_in_the_pvalues_and_never_below_them() {
        let p = [0.01, 0.04, 0.03, 0.5];
        let a = benjamini_hochberg(&p);
        assert!(a.iter().zip(&p).all(|(a, p)| a >= p));
        assert_eq!(a, vec![0.04, 0.04 * (4.0 / 3.0), 0.04 * (4.0 / 3.0), 0.5]);
        assert_eq!(bonferroni(&[0.2, 0.3]), vec![0.4, 0.6]);
    }
}
