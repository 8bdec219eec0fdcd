//! The forward-looking labeler: realized volatility over (t, t + horizon].
//!
//! For the row of a tick at time t, the forward volatility is the sample
//! standard deviation (ddof = 1) of the log returns of the same product's
//! ticks with event time in (t, t + horizon], in the same segment. The window
//! is complete only if the segment goes on to a tick at or after t + horizon;
//! incomplete windows and windows with fewer than two returns give `None`, so
//! a label never spans a gap and never guesses about the unseen future.

use crate::window::ReturnSums;

/// One product's rows in time order, as columns.
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    /// Event times, ns, non-decreasing.
    pub event_time_ns: &'a [i64],
    /// Log return of each tick from the previous one (`None` at segment starts).
    pub log_return: &'a [Option<f64>],
    /// Whether each tick starts a segment.
    pub segment_start: &'a [bool],
}

/// Forward realized volatility for every row of one product. O(n).
pub fn forward_volatility(s: SeriesRef<'_>, horizon_ns: i64) -> Vec<Option<f64>> {
    let n = s.event_time_ns.len();
    assert!(
        s.log_return.len() == n && s.segment_start.len() == n,
        "columns differ in length"
    );
    let mut out = vec![None; n];
    let mut seg_begin = 0;
    while seg_begin < n {
        let mut seg_end = seg_begin + 1;
        while seg_end < n && !s.segment_start[seg_end] {
            seg_end += 1;
        }
        label_segment(s, seg_begin, seg_end, horizon_ns, &mut out);
        seg_begin = seg_end;
    }
    out
}

/// Two pointers over one segment [begin, end): the window of row i holds rows
/// (i, j) whose time is at most t_i + horizon.
fn label_segment(
    s: SeriesRef<'_>,
    begin: usize,
    end: usize,
    horizon_ns: i64,
    out: &mut [Option<f64>],
) {
    let t = s.event_time_ns;
    let last_time = t[end - 1];
    let mut sums = ReturnSums::default();
    let mut j = begin + 1; // first row not yet in the window
    for i in begin..end {
        // Row i leaves the window's left edge (its return was r_{i}, which
        // belongs to row i-1's window only).
        if i > begin
            && i < j
            && let Some(r) = s.log_return[i]
        {
            let mut one = ReturnSums::default();
            one.add_return(r);
            sums.sub(&one);
        }
        if j < i + 1 {
            j = i + 1;
            sums = ReturnSums::default();
        }
        let limit = t[i].saturating_add(horizon_ns);
        while j < end && t[j] <= limit {
            if let Some(r) = s.log_return[j] {
                sums.add_return(r);
            }
            j += 1;
        }
        if last_time >= limit {
            out[i] = sums.std_dev();
        }
    }
}

/// Trailing realized volatility for every row of one product: the sample
/// standard deviation of the log returns of the row's own tick and the
/// earlier ticks of its segment with time in (t - lookback, t]. `None` until
/// the segment has lasted `lookback` (the window would be short) and with
/// fewer than two returns. O(n). The relative label divides forward by
/// trailing volatility.
pub fn trailing_volatility(s: SeriesRef<'_>, lookback_ns: i64) -> Vec<Option<f64>> {
    let n = s.event_time_ns.len();
    assert!(
        s.log_return.len() == n && s.segment_start.len() == n,
        "columns differ in length"
    );
    let t = s.event_time_ns;
    let mut out = vec![None; n];
    let mut sums = ReturnSums::default();
    let (mut seg_begin, mut left) = (0, 0);
    for i in 0..n {
        if i == 0 || s.segment_start[i] {
            (seg_begin, left) = (i, i);
            sums = ReturnSums::default();
        }
        if let (false, Some(r)) = (i == seg_begin, s.log_return[i]) {
            sums.add_return(r);
        }
        let edge = t[i].saturating_sub(lookback_ns);
        while left <= i && t[left] <= edge {
            if let (false, Some(r)) = (left == seg_begin, s.log_return[left]) {
                let mut one = ReturnSums::default();
                one.add_return(r);
                sums.sub(&one);
            }
            left += 1;
        }
        if t[seg_begin] <= edge {
            out[i] = sums.std_dev();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(t: &[i64], r: &[Option<f64>], seg: &[bool], h: i64) -> Vec<Option<f64>> {
        (0..t.len())
            .map(|i| {
                let mut seg_last = i;
                while seg_last + 1 < t.len() && !seg[seg_last + 1] {
                    seg_last += 1;
                }
                if t[seg_last] < t[i] + h {
                    return None;
                }
                let xs: Vec<f64> = (i + 1..=seg_last)
                    .filter(|&j| t[j] <= t[i] + h)
                    .filter_map(|j| r[j])
                    .collect();
                if xs.len() < 2 {
                    return None;
                }
                let n = xs.len() as f64;
                let m = xs.iter().sum::<f64>() / n;
                Some((xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
            })
            .collect()
    }

    fn brute_trailing(t: &[i64], r: &[Option<f64>], seg: &[bool], l: i64) -> Vec<Option<f64>> {
        (0..t.len())
            .map(|i| {
                let mut first = i;
                while !seg[first] {
                    first -= 1;
                }
                if t[first] > t[i] - l {
                    return None;
                }
                let xs: Vec<f64> = (first + 1..=i)
                    .filter(|&j| t[j] > t[i] - l)
                    .filter_map(|j| r[j])
                    .collect();
                if xs.len() < 2 {
                    return None;
                }
                let n = xs.len() as f64;
                let m = xs.iter().sum::<f64>() / n;
                Some((xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
            })
            .collect()
    }

    /// A series from (time step, return in 1e-4, gap when 0) triples.
    fn series(steps: &[(i64, i32, u8)]) -> (Vec<i64>, Vec<Option<f64>>, Vec<bool>) {
        let (mut t, mut r, mut seg) = (Vec::new(), Vec::new(), Vec::new());
        let mut now = 0;
        for (k, &(dt, dp, g)) in steps.iter().enumerate() {
            now += dt;
            let starts = k == 0 || g == 0;
            t.push(now);
            seg.push(starts);
            r.push(if starts {
                None
            } else {
                Some(f64::from(dp) * 1e-4)
            });
        }
        (t, r, seg)
    }

    fn same(got: &[Option<f64>], want: &[Option<f64>]) -> Result<(), TestCaseError> {
        for (g, w) in got.iter().zip(want) {
            match (g, w) {
                (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 1e-12, "{} vs {}", a, b),
                _ => prop_assert_eq!(g.is_some(), w.is_some()),
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn trailing_matches_brute_force(steps in proptest::collection::vec((0i64..30, -50i32..50, 0u8..20), 1..300)) {
            let (t, r, seg) = series(&steps);
            let got = trailing_volatility(SeriesRef { event_time_ns: &t, log_return: &r, segment_start: &seg }, 90);
            same(&got, &brute_trailing(&t, &r, &seg, 90))?;
        }

        #[test]
        fn matches_brute_force(steps in proptest::collection::vec((0i64..30, -50i32..50, 0u8..20), 1..300)) {
            let (t, r, seg) = series(&steps);
            let got = forward_volatility(SeriesRef { event_time_ns: &t, log_return: &r, segment_start: &seg }, 60);
            same(&got, &brute(&t, &r, &seg, 60))?;
        }
    }
}
