//! The forward-looking labeler: realized volatility over (t, t + horizon].
//!
//! For the row of a tick at time t, the forward volatility is the sample
//! standard deviation (ddof = 1) of the same product's log returns over
//! (t, t + horizon], in the same segment, measured one of two ways
//! ([`Returns`]):
//!
//! - **on a clock** ([`forward_clock_volatility`]): the returns of the
//!   price between whole steps of event time (whole seconds), K = horizon /
//!   step of them: from the row's own price to the last price before the
//!   next whole step, then from each whole step to the next. A recorder that
//!   kept fewer of the ticker messages still has the last price of each
//!   second, so the label measures the market, not the recorder;
//! - **tick to tick** ([`forward_volatility`]): the returns of the ticks in
//!   the window. Fewer messages kept means larger returns between them, so
//!   the same market gives a larger label.
//!
//! The window is complete only if the segment goes on to a tick at or after
//! t + horizon; incomplete windows and windows with fewer than two returns
//! give `None`, so a label never spans a gap and never guesses about the
//! unseen future.

use crate::window::ReturnSums;

/// Which returns a label's volatility is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// Tick to tick.
    Tick,
    /// The last price before each whole step (ns) of event time.
    Clock(i64),
}

/// Forward volatility for every row of one product, on `returns`.
pub fn forward(s: SeriesRef<'_>, horizon_ns: i64, returns: Returns) -> Vec<Option<f64>> {
    match returns {
        Returns::Tick => forward_volatility(s, horizon_ns),
        Returns::Clock(step_ns) => forward_clock_volatility(s, horizon_ns, step_ns),
    }
}

/// Trailing volatility for every row of one product, on `returns`.
pub fn trailing(s: SeriesRef<'_>, lookback_ns: i64, returns: Returns) -> Vec<Option<f64>> {
    match returns {
        Returns::Tick => trailing_volatility(s, lookback_ns),
        Returns::Clock(step_ns) => trailing_clock_volatility(s, lookback_ns, step_ns),
    }
}

fn assert_columns(s: SeriesRef<'_>) {
    let n = s.event_time_ns.len();
    assert!(
        s.log_return.len() == n && s.segment_start.len() == n,
        "columns differ in length"
    );
}

/// Calls `f(begin, end)` for each segment [begin, end) of a series.
fn for_each_segment(s: SeriesRef<'_>, mut f: impl FnMut(usize, usize)) {
    assert_columns(s);
    let n = s.event_time_ns.len();
    let mut begin = 0;
    while begin < n {
        let mut end = begin + 1;
        while end < n && !s.segment_start[end] {
            end += 1;
        }
        f(begin, end);
        begin = end;
    }
}

/// Forward volatility on a clock for every row of one product: the sample
/// standard deviation of K = horizon / step returns. With s = t rounded
/// down to a whole step, the first is from the row's price (after every
/// tick at t) to the last price before s + step, the k-th from the last
/// price before s + (k−1)·step to the last before s + k·step: the window is
/// (t, s + K·step), within (t, t + horizon]. Whole steps make the label the
/// same on a recorder that kept only the last ticker of each second. Each
/// step's return is the sum of the tick returns inside it, added in the
/// fixed point of the feature windows, so a row's label depends only on the
/// ticks of its window: the drift worker's outcome join, which sees a slice
/// of the stream, gets the same bits. `None` for incomplete windows and
/// when K < 2. O(K + ticks in the window) per row.
pub fn forward_clock_volatility(
    s: SeriesRef<'_>,
    horizon_ns: i64,
    step_ns: i64,
) -> Vec<Option<f64>> {
    let mut out = vec![None; s.event_time_ns.len()];
    if step_ns <= 0 || horizon_ns / step_ns < 2 {
        assert_columns(s);
        return out;
    }
    let steps = horizon_ns / step_ns;
    let t = s.event_time_ns;
    for_each_segment(s, |begin, end| {
        let last_time = t[end - 1];
        for i in begin..end {
            if last_time < t[i].saturating_add(horizon_ns) {
                continue;
            }
            // Ticks at t itself come before the first step's start.
            let mut j = i + 1;
            while j < end && t[j] <= t[i] {
                j += 1;
            }
            let whole = t[i].div_euclid(step_ns);
            let mut sums = ReturnSums::default();
            for k in 1..=steps {
                let edge = (whole + k).saturating_mul(step_ns);
                let mut q = 0i128;
                while j < end && t[j] < edge {
                    if let Some(r) = s.log_return[j] {
                        q = q.wrapping_add(ReturnSums::quantize(r));
                    }
                    j += 1;
                }
                sums.add_quantized(q);
            }
            out[i] = sums.std_dev();
        }
    });
    out
}

/// Trailing volatility on a clock for every row of one product: K =
/// lookback / step returns. With s = t rounded down to a whole step, the
/// first is from the last price before s to the row's own price, the k-th
/// (k >= 2) from the last price before s − (k−1)·step to the last before
/// s − (k−2)·step. `None` until the segment has lasted `lookback`, and when K < 2.
/// O(K + ticks in the window) per row.
pub fn trailing_clock_volatility(
    s: SeriesRef<'_>,
    lookback_ns: i64,
    step_ns: i64,
) -> Vec<Option<f64>> {
    let mut out = vec![None; s.event_time_ns.len()];
    if step_ns <= 0 || lookback_ns / step_ns < 2 {
        assert_columns(s);
        return out;
    }
    let steps = lookback_ns / step_ns;
    let t = s.event_time_ns;
    for_each_segment(s, |begin, end| {
        for i in begin..end {
            if t[begin] > t[i].saturating_sub(lookback_ns) {
                continue;
            }
            // Tick m's return moves the price at t_m; the segment's first
            // tick has none.
            let whole = t[i].div_euclid(step_ns);
            let mut m = i;
            let mut sums = ReturnSums::default();
            for k in 1..=steps {
                let edge = (whole - (k - 1)).saturating_mul(step_ns);
                let mut q = 0i128;
                while m > begin && t[m] >= edge {
                    if let Some(r) = s.log_return[m] {
                        q = q.wrapping_add(ReturnSums::quantize(r));
                    }
                    m -= 1;
                }
                sums.add_quantized(q);
            }
            out[i] = sums.std_dev();
        }
    });
    out
}

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
    let mut out = vec![None; s.event_time_ns.len()];
    for_each_segment(s, |begin, end| {
        label_segment(s, begin, end, horizon_ns, &mut out)
    });
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
    assert_columns(s);
    let n = s.event_time_ns.len();
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

    /// The clock labels from prices: the log price after the last tick at or
    /// before each clock time, in plain floating point.
    fn brute_clock(
        t: &[i64],
        r: &[Option<f64>],
        seg: &[bool],
        h: i64,
        step: i64,
        forward: bool,
    ) -> Vec<Option<f64>> {
        (0..t.len())
            .map(|i| {
                let (mut first, mut last) = (i, i);
                while !seg[first] {
                    first -= 1;
                }
                while last + 1 < t.len() && !seg[last + 1] {
                    last += 1;
                }
                let complete = if forward {
                    t[last] >= t[i] + h
                } else {
                    t[first] <= t[i] - h
                };
                let k = h / step;
                if !complete || k < 2 {
                    return None;
                }
                // Log price after the last tick of the segment before `at`
                // (trailing: not after row i); the row's own price is after
                // every tick at its time (trailing: up to row i).
                let upto = if forward { last } else { i };
                let before = |at: i64| -> f64 {
                    (first + 1..=upto)
                        .filter(|&m| t[m] < at)
                        .filter_map(|m| r[m])
                        .sum()
                };
                let own: f64 = (first + 1..=upto)
                    .filter(|&m| t[m] <= t[i])
                    .filter_map(|m| r[m])
                    .sum();
                let whole = t[i].div_euclid(step) * step;
                let xs: Vec<f64> = (1..=k)
                    .map(|j| {
                        if forward {
                            let from = if j == 1 {
                                own
                            } else {
                                before(whole + (j - 1) * step)
                            };
                            before(whole + j * step) - from
                        } else {
                            let to = if j == 1 {
                                own
                            } else {
                                before(whole - (j - 2) * step)
                            };
                            to - before(whole - (j - 1) * step)
                        }
                    })
                    .collect();
                let n = xs.len() as f64;
                let m = xs.iter().sum::<f64>() / n;
                Some((xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
            })
            .collect()
    }

    #[test]
    fn a_recorder_that_keeps_fewer_ticks_gets_the_same_clock_label() {
        // Ticks every 100 ms for 3 minutes, a random walk of +-1e-4 steps
        // (xorshift signs); the thinned recording keeps the last tick of each
        // second, its returns the sums of the ones it skipped.
        let n = 1800;
        let t: Vec<i64> = (0..n).map(|i| i * 100).collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut r = vec![None];
        for _ in 1..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r.push(Some(if x & 1 == 0 { 1e-4 } else { -1e-4 }));
        }
        let seg: Vec<bool> = (0..n).map(|i| i == 0).collect();
        let keep: Vec<usize> = (0..n as usize).filter(|&i| i % 10 == 9).collect();
        let (mut tt, mut rr, mut ss) = (Vec::new(), Vec::new(), Vec::new());
        let mut from = 0;
        for (k, &i) in keep.iter().enumerate() {
            tt.push(t[i]);
            ss.push(k == 0);
            rr.push((k > 0).then(|| r[from + 1..=i].iter().flatten().sum::<f64>()));
            from = i;
        }
        let full = SeriesRef {
            event_time_ns: &t,
            log_return: &r,
            segment_start: &seg,
        };
        let thin = SeriesRef {
            event_time_ns: &tt,
            log_return: &rr,
            segment_start: &ss,
        };
        let clock_full = forward_clock_volatility(full, 60_000, 1000);
        let clock_thin = forward_clock_volatility(thin, 60_000, 1000);
        let tick_full = forward_volatility(full, 60_000);
        let tick_thin = forward_volatility(thin, 60_000);
        for (k, &i) in keep.iter().enumerate().take(100) {
            let (a, b) = (clock_full[i].unwrap(), clock_thin[k].unwrap());
            // Equal but for the fixed point of summed returns (about 1e-15 each).
            assert!((a - b).abs() <= 1e-9 * a, "clock {a} vs {b}");
            let (a, b) = (tick_full[i].unwrap(), tick_thin[k].unwrap());
            assert!(
                b > 2.0 * a,
                "tick {a} vs {b}: thinning should inflate the tick label"
            );
        }
    }

    #[test]
    fn clock_labels_need_two_steps_and_a_positive_step() {
        let t = [0, 1000, 2000, 3000];
        let r = [None, Some(1e-4), Some(-1e-4), Some(2e-4)];
        let seg = [true, false, false, false];
        let s = SeriesRef {
            event_time_ns: &t,
            log_return: &r,
            segment_start: &seg,
        };
        assert_eq!(forward_clock_volatility(s, 1500, 1000), vec![None; 4]);
        assert_eq!(forward_clock_volatility(s, 2000, 0), vec![None; 4]);
        assert!(forward_clock_volatility(s, 2000, 1000)[0].is_some());
        assert_eq!(trailing_clock_volatility(s, 2000, -5), vec![None; 4]);
    }

    proptest! {
        #[test]
        fn forward_clock_matches_prices(steps in proptest::collection::vec((0i64..30, -50i32..50, 0u8..20), 1..300), step in 5i64..40) {
            let (t, r, seg) = series(&steps);
            let got = forward_clock_volatility(SeriesRef { event_time_ns: &t, log_return: &r, segment_start: &seg }, 120, step);
            same(&got, &brute_clock(&t, &r, &seg, 120, step, true))?;
        }

        #[test]
        fn trailing_clock_matches_prices(steps in proptest::collection::vec((0i64..30, -50i32..50, 0u8..20), 1..300), step in 5i64..40) {
            let (t, r, seg) = series(&steps);
            let got = trailing_clock_volatility(SeriesRef { event_time_ns: &t, log_return: &r, segment_start: &seg }, 120, step);
            same(&got, &brute_clock(&t, &r, &seg, 120, step, false))?;
        }

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
