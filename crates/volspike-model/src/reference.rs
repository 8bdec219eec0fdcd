//! Reference distributions kept in the model file, so drift can be measured
//! against what the model was trained on: every input feature on the
//! training rows, and the model's scores on validation.

use serde::{Deserialize, Serialize};

/// The quantile levels kept.
pub const LEVELS: [f64; 13] = [
    0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0,
];

/// A summary of one variable's distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Variable name (a feature, or `score`).
    pub name: String,
    /// Values summarized.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Quantiles at [`LEVELS`] (numpy's linear interpolation).
    pub quantiles: Vec<f64>,
    /// Decile edges (the 0.1 .. 0.9 quantiles): population stability index
    /// bins, each holding a tenth of the reference.
    pub decile_edges: Vec<f64>,
}

impl Distribution {
    /// Summarizes `values` (finite values only).
    pub fn of(name: &str, values: &[f64]) -> Distribution {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len().max(1) as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let std = (finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        let q = |p: f64| quantile(&finite, p).unwrap_or(f64::NAN);
        Distribution {
            name: name.to_owned(),
            count: finite.len() as u64,
            mean,
            std,
            quantiles: LEVELS.iter().map(|&p| q(p)).collect(),
            decile_edges: (1..10).map(|i| q(i as f64 / 10.0)).collect(),
        }
    }
}

/// The `q` quantile of `values` with linear interpolation between order
/// statistics (numpy's default). `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(quantile_sorted(&v, q))
}

/// [`quantile`] of values already sorted ascending (non-empty).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// One [`Distribution`] per column of row-major `rows`.
pub fn of_columns(names: &[String], rows: &[f64]) -> Vec<Distribution> {
    let width = names.len();
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let col: Vec<f64> = rows.chunks_exact(width).map(|r| r[j]).collect();
            Distribution::of(name, &col)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], 0.9) == 3.7
        assert!((quantile(&[4.0, 1.0, 3.0, 2.0], 0.9).unwrap() - 3.7).abs() < 1e-12);
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[5.0], 0.9), Some(5.0));
    }

    #[test]
    fn deciles_and_moments_of_a_uniform_grid() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        let d = Distribution::of("x", &v);
        assert_eq!(d.count, 101);
        assert_eq!(d.mean, 50.0);
        assert_eq!(
            d.decile_edges,
            (1..10).map(|i| f64::from(i) * 10.0).collect::<Vec<_>>()
        );
        assert_eq!(d.quantiles.first(), Some(&0.0));
        assert_eq!(d.quantiles.last(), Some(&100.0));
        let cols = of_columns(&["a".into(), "b".into()], &[1.0, 10.0, 3.0, 30.0]);
        assert_eq!((cols[0].mean, cols[1].mean), (2.0, 20.0));
    }
}
