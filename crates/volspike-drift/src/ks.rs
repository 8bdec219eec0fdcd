//! The two-sample Kolmogorov-Smirnov test as `scipy.stats.ks_2samp`
//! computes it (two-sided): the statistic is the largest distance between
//! the two empirical CDFs; the p-value comes from the exact distribution of
//! the statistic under the null (Hodges' lattice-path count, in Viehmann's
//! numerically stable form for unequal sizes; the alternating series for
//! equal sizes), as scipy's `method='exact'`, which its default
//! `method='auto'` uses whenever max(n1, n2) <= 10,000.
//!
//! Not yet here: scipy's asymptotic path for larger samples (the `kstwo`
//! distribution with n = round(n1 n2 / (n1 + n2))).

use crate::{StatsError, check, sorted};

/// Largest sample size for which scipy's `method='auto'` is exact.
pub const MAX_EXACT_N: usize = 10_000;

/// A test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// sup |F1 - F2|, rounded to the lattice of the exact distribution
    /// (h / lcm(n1, n2)), as scipy returns it.
    pub statistic: f64,
    /// Probability of a statistic at least this large under the null.
    pub pvalue: f64,
}

/// sup over x of |F_a(x) - F_b(x)| for sorted samples; ties are consumed
/// together, as `searchsorted(side='right')` does.
pub fn statistic_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0, 0);
    let (mut max_pos, mut max_neg) = (0.0f64, 0.0f64);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => unreachable!(),
        };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_pos = max_pos.max(diff);
        max_neg = max_neg.max(-diff);
    }
    max_pos.max(max_neg.clamp(0.0, 1.0))
}

/// The two-sided test with the exact null distribution, as
/// `scipy.stats.ks_2samp(a, b, method='exact')`. Samples must be non-empty
/// and finite; sizes up to [`MAX_EXACT_N`] always succeed.
pub fn ks_2samp_exact(a: &[f64], b: &[f64]) -> Result<KsResult, StatsError> {
    check("first", a)?;
    check("second", b)?;
    let (a, b) = (sorted(a), sorted(b));
    let d = statistic_sorted(&a, &b);
    exact_pvalue(a.len(), b.len(), d)
}

/// The exact two-sided p-value of statistic `d` for sizes `n1`, `n2`
/// (scipy's `_attempt_exact_2kssamp`).
pub fn exact_pvalue(n1: usize, n2: usize, d: f64) -> Result<KsResult, StatsError> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) as f64 * n2 as f64;
    let h = (d * lcm).round();
    let statistic = h / lcm;
    if h == 0.0 {
        return Ok(KsResult {
            statistic,
            pvalue: 1.0,
        });
    }
    let h = h as u64;
    let p = if n1 == n2 {
        prob_outside_square(n1 as u64, h)
    } else {
        outer_prob_inside(n1 as u64, n2 as u64, g as u64, h)
    };
    if !(0.0..=1.0).contains(&p) || !p.is_finite() {
        return Err(StatsError::Exact(format!(
            "the exact KS distribution for sizes {n1} and {n2} is out of range ({p})"
        )));
    }
    Ok(KsResult {
        statistic,
        pvalue: p,
    })
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// P(D_{n,n} >= h/n): the alternating series, in Horner form (scipy's
/// `_compute_prob_outside_square`).
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (n / h).floor();
    while k >= 0.0 {
        let mut p1 = 1.0;
        let mut j = 0.0;
        while j < h {
            p1 = (n - k * h - j) * p1 / (n + k * h + j + 1.0);
            j += 1.0;
        }
        p = p1 * (1.0 - p);
        k -= 1.0;
    }
    2.0 * p
}

/// The share of lattice paths from (0, 0) to (m, n) that leave the band
/// |x/m - y/n| < h / lcm(m, n), computed directly as 1 - (paths inside) in
/// Viehmann's stable recursion over a sliding window of one column (scipy's
/// `_compute_outer_prob_inside_method`).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (n, h) = (n as i64, h as i64);
    let ceil_div = |a: i64, b: i64| (a as f64 / b as f64).ceil() as i64;
    let floor_div = |a: i64, b: i64| (a as f64 / b as f64).floor() as i64;
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in a.iter_mut().take(maxj as usize).skip(minj as usize) {
        *v = 0.0;
    }
    for i in 1..=m as i64 {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng * i - h, mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for jj in 0..(maxj - minj) {
            let j = (jj + minj) as f64;
            val = (a[(jj + minj - lastminj) as usize] * fi + val * j) / (fi + j);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let from = ((maxj - minj) as usize).min(a.len());
            let to = (from + (lastlen - curlen) as usize).min(a.len());
            for v in &mut a[from..to] {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_have_statistic_zero_and_pvalue_one() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let r = ks_2samp_exact(&a, &a).unwrap();
        assert_eq!(
            r,
            KsResult {
                statistic: 0.0,
                pvalue: 1.0
            }
        );
    }

    #[test]
    fn disjoint_samples_have_statistic_one() {
        let r = ks_2samp_exact(&[1.0, 2.0, 3.0], &[10.0, 11.0]).unwrap();
        assert_eq!(r.statistic, 1.0);
        // Exactly 2 of the C(5, 2) = 10 orderings are this extreme.
        assert!((r.pvalue - 0.2).abs() < 1e-15, "{r:?}");
    }

    #[test]
    fn bad_input_is_an_error_not_a_number() {
        assert_eq!(ks_2samp_exact(&[], &[1.0]), Err(StatsError::Empty("first")));
        assert_eq!(
            ks_2samp_exact(&[1.0], &[f64::NAN]),
            Err(StatsError::NotFinite("second"))
        );
    }
}
