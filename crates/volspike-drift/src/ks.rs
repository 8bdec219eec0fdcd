//! The two-sample Kolmogorov-Smirnov test as `scipy.stats.ks_2samp`
//! computes it (two-sided, `method='auto'`): the statistic is the largest
//! distance between the two empirical CDFs. The p-value comes
//! - while max(n1, n2) <= 10,000, from the exact distribution of the
//!   statistic under the null (Hodges' lattice-path count, in Viehmann's
//!   numerically stable form for unequal sizes; the alternating series for
//!   equal sizes), as scipy's `method='exact'`;
//! - for larger samples, from the finite-n one-sample distribution
//!   [`kstwo`](crate::kstwo) at n = round(n1 n2 / (n1 + n2)), as scipy's
//!   `method='asymp'` (not the Kolmogorov limit, which is off by far more
//!   than scipy's digits at these sizes).
//!
//! When only the reference's stored quantiles are at hand (the model file
//! keeps them, not the training rows), [`statistic_from_quantiles`]
//! estimates the statistic against the CDF interpolated through them.

use crate::{StatsError, check, sorted};

/// Largest sample size for which scipy's `method='auto'` is exact.
pub const MAX_EXACT_N: usize = 10_000;

/// A test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// sup |F1 - F2|; on the exact path rounded to the lattice of the exact
    /// distribution (h / lcm(n1, n2)), as scipy returns it.
    pub statistic: f64,
    /// Probability of a statistic at least this large under the null.
    pub pvalue: f64,
    /// Where the p-value came from.
    pub method: KsMethod,
}

/// Which null distribution gave a p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsMethod {
    /// The exact two-sample distribution.
    Exact,
    /// `kstwo` at n = round(n1 n2 / (n1 + n2)).
    Asymptotic,
}

/// The two-sided test as `scipy.stats.ks_2samp(a, b)` (`method='auto'`).
/// Samples must be non-empty and finite.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Result<KsResult, StatsError> {
    check("first", a)?;
    check("second", b)?;
    Ok(ks_2samp_sorted(&sorted(a), &sorted(b)))
}

/// [`ks_2samp`] on samples already sorted ascending, non-empty and finite
/// (a reference sorted once serves every window).
pub fn ks_2samp_sorted(a: &[f64], b: &[f64]) -> KsResult {
    let d = statistic_sorted(a, b);
    auto_pvalue(a.len(), b.len(), d)
}

/// The p-value of statistic `d` for sizes `n1`, `n2` as scipy's
/// `method='auto'` picks it: exact up to [`MAX_EXACT_N`], else asymptotic;
/// an exact computation that fails falls back to the asymptotic one, with
/// the statistic rounded to the lattice, as in scipy.
pub fn auto_pvalue(n1: usize, n2: usize, d: f64) -> KsResult {
    if n1.max(n2) <= MAX_EXACT_N {
        match exact_pvalue(n1, n2, d) {
            Ok(r) => return r,
            Err(_) => {
                let g = gcd(n1, n2);
                let lcm = (n1 / g) as f64 * n2 as f64;
                return asymptotic_pvalue(n1, n2, (d * lcm).round() / lcm);
            }
        }
    }
    asymptotic_pvalue(n1, n2, d)
}

/// The p-value of statistic `d` from `kstwo` at n = round(n1 n2 / (n1 + n2))
/// (scipy's `method='asymp'`, two-sided); the statistic is kept as given.
pub fn asymptotic_pvalue(n1: usize, n2: usize, d: f64) -> KsResult {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    // numpy's round is half-to-even.
    let en = (m * n / (m + n)).round_ties_even() as u64;
    KsResult {
        statistic: d,
        pvalue: crate::kstwo::sf(en, d).clamp(0.0, 1.0),
        method: KsMethod::Asymptotic,
    }
}

/// sup over x of |F_a(x) - F_b(x)| for sorted samples, as scipy computes
/// it: both empirical CDFs (`searchsorted(side='right') / n`) at every data
/// point, the largest |i/n_a - j/n_b|.
///
/// It walks the distinct values of the smaller sample and scans (or
/// gallops, where the steps are long) through the larger one: between two
/// consecutive values of the smaller sample its CDF is constant and the
/// other's only grows, so the extremes of the difference are at the counts
/// just below and at each of its values ([`Supremum`]).
pub fn statistic_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len(), b.len());
    if na == 0 || nb == 0 {
        return if na == nb { 0.0 } else { 1.0 };
    }
    let a_is_big = na >= nb;
    let (big, small) = if a_is_big { (a, b) } else { (b, a) };
    let mut sup = Supremum::new(na, nb, a_is_big);
    let (mut g_left, mut s) = (0usize, 0usize);
    while s < small.len() {
        let w = small[s];
        // Ties are few: a scan, not a search over the rest of the sample.
        let mut s_after = s + 1;
        while s_after < small.len() && small[s_after] <= w {
            s_after += 1;
        }
        g_left = gallop(big, g_left, |x| x < w);
        let g_right = gallop(big, g_left, |x| x <= w);
        sup.value(g_left, g_right, s, s_after);
        g_left = g_right;
        s = s_after;
    }
    sup.statistic()
}

/// The KS statistic from counts at the distinct values of the smaller
/// sample, equal to the double scipy's evaluation at every data point gives.
///
/// Candidates are compared exactly, as the integers i n_b - j n_a, and only
/// the best are divided out as i / n_a - j / n_b. Distinct exact values
/// differ by at least 1 / (n_a n_b), far more than rounding, so the double
/// kept is the one scipy's maximum finds.
pub(crate) struct Supremum {
    na: (i64, f64),
    nb: (i64, f64),
    a_is_big: bool,
    pos: (i64, f64),
    neg: (i64, f64),
}

impl Supremum {
    /// For samples of `na` and `nb` values, the smaller one walked.
    pub(crate) fn new(na: usize, nb: usize, a_is_big: bool) -> Supremum {
        Supremum {
            na: (na as i64, na as f64),
            nb: (nb as i64, nb as f64),
            a_is_big,
            // (0, 0), the difference at the end of both samples.
            pos: (0, 0.0),
            neg: (0, 0.0),
        }
    }

    /// One distinct value of the smaller sample: `g_left` and `g_right`
    /// values of the larger sample are below it and at or below it,
    /// `s_before` and `s_after` of the smaller one.
    pub(crate) fn value(&mut self, g_left: usize, g_right: usize, s_before: usize, s_after: usize) {
        self.consider(g_left, s_before);
        self.consider(g_right, s_after);
    }

    fn consider(&mut self, g: usize, s: usize) {
        let (i, j) = if self.a_is_big { (g, s) } else { (s, g) };
        let key = i as i64 * self.nb.0 - j as i64 * self.na.0;
        let diff = || i as f64 / self.na.1 - j as f64 / self.nb.1;
        if key >= self.pos.0 {
            let d = diff();
            self.pos = (
                key,
                if key > self.pos.0 {
                    d
                } else {
                    self.pos.1.max(d)
                },
            );
        }
        if key <= self.neg.0 {
            let d = -diff();
            self.neg = (
                key,
                if key < self.neg.0 {
                    d
                } else {
                    self.neg.1.max(d)
                },
            );
        }
    }

    /// max(D+, D-).
    pub(crate) fn statistic(&self) -> f64 {
        self.pos.1.max(self.neg.1.clamp(0.0, 1.0))
    }
}

/// A sample that knows, for each of its values, how many of its values
/// are below it and at or below it: the KS distance between a part of it
/// (a calibration window) and the whole then costs a sort of the part,
/// not a walk through the whole. The same double as [`statistic_sorted`].
#[derive(Debug, Clone)]
pub struct Ranked {
    values: Vec<f64>,
    below: Vec<u32>,
    upto: Vec<u32>,
}

impl Ranked {
    /// Ranks `values` (finite, fewer than 2^32), kept in their order.
    pub fn new(values: &[f64]) -> Ranked {
        let n = values.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|&x, &y| values[x as usize].total_cmp(&values[y as usize]));
        let (mut below, mut upto) = (vec![0u32; n], vec![0u32; n]);
        let mut k = 0;
        while k < n {
            let v = values[order[k] as usize];
            let mut e = k + 1;
            while e < n && values[order[e] as usize] == v {
                e += 1;
            }
            for &i in &order[k..e] {
                below[i as usize] = k as u32;
                upto[i as usize] = e as u32;
            }
            k = e;
        }
        Ranked {
            values: values.to_vec(),
            below,
            upto,
        }
    }

    /// The KS statistic of `values[range]` against all values:
    /// `statistic_sorted(sorted(all), sorted(values[range]))`.
    pub fn statistic_of(&self, range: std::ops::Range<usize>) -> f64 {
        let n = self.values.len();
        let mut part: Vec<(f64, u32, u32)> = range
            .map(|i| (self.values[i], self.below[i], self.upto[i]))
            .collect();
        if part.is_empty() || n == 0 {
            return if part.len() == n { 0.0 } else { 1.0 };
        }
        part.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
        let mut sup = Supremum::new(n, part.len(), true);
        let mut s = 0;
        while s < part.len() {
            let (w, g_left, g_right) = part[s];
            let mut s_after = s + 1;
            while s_after < part.len() && part[s_after].0 <= w {
                s_after += 1;
            }
            sup.value(g_left as usize, g_right as usize, s, s_after);
            s = s_after;
        }
        sup.statistic()
    }
}

/// The first index at or after `from` where `below` stops holding (it holds
/// for every index before `from` and is monotone). A short linear scan
/// first, since the answer is usually a few values on (sequential reads the
/// prefetcher hides); exponential steps and a binary search beyond, for the
/// long jumps of a small sample through a large one.
fn gallop(v: &[f64], from: usize, below: impl Fn(f64) -> bool) -> usize {
    const SCAN: usize = 64;
    let end = (from + SCAN).min(v.len());
    let mut i = from;
    while i < end {
        if !below(v[i]) {
            return i;
        }
        i += 1;
    }
    if i == v.len() {
        return i;
    }
    let from = i;
    let mut bound = 1;
    while from + bound <= v.len() && below(v[from + bound - 1]) {
        bound *= 2;
    }
    let lo = from + bound / 2;
    let hi = (from + bound).min(v.len());
    lo + v[lo..hi].partition_point(|&x| below(x))
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
            method: KsMethod::Exact,
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
        method: KsMethod::Exact,
    })
}

/// An estimate of the KS distance from a reference known only by its
/// quantiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsEstimate {
    /// sup |F_ref - F_current| with F_ref interpolated linearly through the
    /// quantiles (0 below the first, 1 above the last).
    pub statistic: f64,
    /// The widest gap between consecutive quantile levels: the most the
    /// interpolated CDF can be off between two knots, hence a bound on the
    /// estimate's error for any reference distribution.
    pub max_error: f64,
    /// The one-sample p-value of `statistic` (`kstwo` at the current
    /// sample's size), treating the interpolated reference as the true
    /// distribution: an estimate, as the statistic is.
    pub pvalue: f64,
}

/// Estimates the KS distance between `current` and a reference known by
/// `quantiles` at `levels` (both ascending; levels from 0 to 1, e.g.
/// `volspike_model::reference::LEVELS`). `None` when they do not fit
/// together or `current` is empty or not finite.
pub fn statistic_from_quantiles(
    levels: &[f64],
    quantiles: &[f64],
    current: &[f64],
) -> Option<KsEstimate> {
    let knots_ok = levels.len() == quantiles.len()
        && levels.len() >= 2
        && quantiles.iter().all(|q| q.is_finite())
        && levels.windows(2).all(|w| w[0] <= w[1])
        && quantiles.windows(2).all(|w| w[0] <= w[1]);
    if !knots_ok || check("current", current).is_err() {
        return None;
    }
    // F_ref(x): the largest level among knots at x or below when x is on a
    // tie, else linear between the knots around x.
    let cdf = |x: f64, left: bool| -> f64 {
        let below = |q: f64| if left { q < x } else { q <= x };
        let k = quantiles.partition_point(|&q| below(q));
        if k == 0 {
            return 0.0;
        }
        if k == quantiles.len() {
            return 1.0;
        }
        let (q0, q1, l0, l1) = (quantiles[k - 1], quantiles[k], levels[k - 1], levels[k]);
        if q1 > q0 {
            l0 + (l1 - l0) * (x - q0) / (q1 - q0)
        } else {
            l0
        }
    };
    let cur = sorted(current);
    let n = cur.len() as f64;
    let ecdf = |x: f64, left: bool| {
        let k = if left {
            cur.partition_point(|&v| v < x)
        } else {
            cur.partition_point(|&v| v <= x)
        };
        k as f64 / n
    };
    // Both functions are monotone and the reference's is piecewise linear,
    // so the largest gap is at a current value or a knot, from either side.
    let mut d = 0.0f64;
    for &x in cur.iter().chain(quantiles) {
        for left in [true, false] {
            d = d.max((cdf(x, left) - ecdf(x, left)).abs());
        }
    }
    let max_error = levels.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    Some(KsEstimate {
        statistic: d,
        max_error,
        pvalue: crate::kstwo::sf(cur.len() as u64, d),
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
        let r = ks_2samp(&a, &a).unwrap();
        assert_eq!(
            r,
            KsResult {
                statistic: 0.0,
                pvalue: 1.0,
                method: KsMethod::Exact,
            }
        );
    }

    #[test]
    fn disjoint_samples_have_statistic_one() {
        let r = ks_2samp(&[1.0, 2.0, 3.0], &[10.0, 11.0]).unwrap();
        assert_eq!(r.statistic, 1.0);
        // Exactly 2 of the C(5, 2) = 10 orderings are this extreme.
        assert!((r.pvalue - 0.2).abs() < 1e-15, "{r:?}");
    }

    #[test]
    fn the_estimate_from_quantiles_is_near_the_exact_statistic() {
        // A smooth reference (the logistic distribution's quantiles) and a
        // wider, shifted current sample.
        let reference: Vec<f64> = (1..=20_000)
            .map(|i| {
                let p = i as f64 / 20_001.0;
                (p / (1.0 - p)).ln()
            })
            .collect();
        let current: Vec<f64> = (1..=3_000)
            .map(|i| {
                let p = i as f64 / 3_001.0;
                (p / (1.0 - p)).ln() * 1.3 + 0.4
            })
            .collect();
        let levels = [
            0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0,
        ];
        let quantiles: Vec<f64> = levels
            .iter()
            .map(|&q| {
                let pos = q * (reference.len() - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                reference[lo] + (reference[hi] - reference[lo]) * (pos - lo as f64)
            })
            .collect();
        let exact = statistic_sorted(&reference, &current);
        let est = statistic_from_quantiles(&levels, &quantiles, &current).unwrap();
        assert!((est.statistic - exact).abs() < 0.01, "{est:?} vs {exact}");
        assert!((est.max_error - 0.2).abs() < 1e-15);
        // A shift this large in 3,000 rows is far beyond chance.
        assert!(est.pvalue < 1e-6, "{est:?}");
        assert_eq!(
            statistic_from_quantiles(&levels, &quantiles[1..], &current),
            None
        );
    }

    /// scipy's evaluation, literally: both CDFs at every data point.
    fn statistic_everywhere(a: &[f64], b: &[f64]) -> f64 {
        let (n1, n2) = (a.len() as f64, b.len() as f64);
        let (mut max_pos, mut max_neg) = (0.0f64, 0.0f64);
        for &x in a.iter().chain(b) {
            let i = a.partition_point(|&v| v <= x);
            let j = b.partition_point(|&v| v <= x);
            let diff = i as f64 / n1 - j as f64 / n2;
            max_pos = max_pos.max(diff);
            max_neg = max_neg.max(-diff);
        }
        max_pos.max(max_neg.clamp(0.0, 1.0))
    }

    #[test]
    fn galloping_gives_the_same_double_as_evaluating_everywhere() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for case in 0..2_000 {
            let (n, m) = (rng.random_range(1..400), rng.random_range(1..60));
            // Few distinct values in some cases, so ties cross the samples.
            let levels = if case % 3 == 0 { 7.0 } else { 1e9 };
            let shift: f64 = rng.random_range(-0.3..0.3);
            let mut a: Vec<f64> = (0..n)
                .map(|_| (rng.random::<f64>() * levels).floor())
                .collect();
            let mut b: Vec<f64> = (0..m)
                .map(|_| ((rng.random::<f64>() + shift) * levels).floor())
                .collect();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let want = statistic_everywhere(&a, &b);
            assert_eq!(
                statistic_sorted(&a, &b).to_bits(),
                want.to_bits(),
                "{a:?} {b:?}"
            );
            assert_eq!(
                statistic_sorted(&b, &a).to_bits(),
                statistic_everywhere(&b, &a).to_bits()
            );
        }
    }

    #[test]
    fn a_part_against_the_whole_from_ranks_equals_the_merge() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let whole: Vec<f64> = (0..5_000)
            .map(|i| (rng.random::<f64>() * 50.0).floor() + f64::from(i / 1_000))
            .collect();
        let ranked = Ranked::new(&whole);
        let mut sorted_whole = whole.clone();
        sorted_whole.sort_by(f64::total_cmp);
        for _ in 0..300 {
            let start = rng.random_range(0..whole.len());
            let end = rng.random_range(start + 1..=whole.len());
            let mut part = whole[start..end].to_vec();
            part.sort_by(f64::total_cmp);
            assert_eq!(
                ranked.statistic_of(start..end).to_bits(),
                statistic_sorted(&sorted_whole, &part).to_bits(),
                "{start}..{end}"
            );
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_number() {
        assert_eq!(ks_2samp(&[], &[1.0]), Err(StatsError::Empty("first")));
        assert_eq!(
            ks_2samp(&[1.0], &[f64::NAN]),
            Err(StatsError::NotFinite("second"))
        );
    }
}
