//! Wasserstein-1 (earth mover's) distance between two samples, and the same
//! divided by the reference's standard deviation so that features of every
//! scale share one threshold (Evidently's `wasserstein_distance_norm`).

use crate::{StatsError, check, sorted};

/// The integral of |F_u - F_v| over the line, as
/// `scipy.stats.wasserstein_distance(u, v)`.
pub fn wasserstein(u: &[f64], v: &[f64]) -> Result<f64, StatsError> {
    check("first", u)?;
    check("second", v)?;
    Ok(wasserstein_sorted(&sorted(u), &sorted(v)))
}

/// [`wasserstein`] of samples already sorted (and finite): one merge of
/// the two, adding |F_u - F_v| times each gap between consecutive values
/// of the union (scipy's sum, in merge order rather than pairwise).
pub fn wasserstein_sorted(u: &[f64], v: &[f64]) -> f64 {
    let (inv_u, inv_v) = (1.0 / u.len() as f64, 1.0 / v.len() as f64);
    // i and j count the values of u and v at or below x, the current value
    // of the union; the next value of the union ends the gap.
    let (mut i, mut j) = (0usize, 0usize);
    let next = |i: usize, j: usize| match (u.get(i), v.get(j)) {
        (Some(&a), Some(&b)) => Some(a.min(b)),
        (Some(&a), None) => Some(a),
        (None, Some(&b)) => Some(b),
        (None, None) => None,
    };
    let mut total = 0.0;
    let Some(mut x) = next(0, 0) else {
        return 0.0;
    };
    loop {
        while i < u.len() && u[i] <= x {
            i += 1;
        }
        while j < v.len() && v[j] <= x {
            j += 1;
        }
        let Some(y) = next(i, j) else {
            return total;
        };
        total += (i as f64 * inv_u - j as f64 * inv_v).abs() * (y - x);
        x = y;
    }
}

/// The population standard deviation (numpy's `std`, ddof 0).
pub fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}

/// [`wasserstein`] divided by the population standard deviation of
/// `reference`; `None` when the reference is constant.
pub fn wasserstein_norm(reference: &[f64], current: &[f64]) -> Result<Option<f64>, StatsError> {
    let w = wasserstein(reference, current)?;
    let std = population_std(reference);
    Ok((std > 0.0).then(|| w / std))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_moves_the_distance_by_the_shift() {
        let u = [0.0, 1.0, 2.0, 3.0];
        let v: Vec<f64> = u.iter().map(|x| x + 0.5).collect();
        assert!((wasserstein(&u, &v).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(wasserstein_norm(&[1.0, 1.0], &[2.0]).unwrap(), None);
    }
}
