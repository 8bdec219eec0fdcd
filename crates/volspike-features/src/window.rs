//! Whole-second buckets and sliding windows over them.
//!
//! Sums of log returns are kept in fixed point (`i128`) so that adding a
//! bucket and later removing it is exact: a window's value depends only on
//! the ticks inside it, never on how long the engine has been running. That
//! is what lets a restarted featurizer rebuild its state from a short span of
//! input and emit bit-identical features.

use std::collections::VecDeque;

/// Log returns are summed as integers q = round(r * 2^50) (resolution about
/// 9e-16): sums of q and q^2 are then exact, and so is the numerator
/// n*sum(q^2) - sum(q)^2 of the variance, which has no cancellation error.
const SCALE: f64 = 1_125_899_906_842_624.0; // 2^50

/// Exact running sums of log returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReturnSums {
    pub(crate) n: u64,
    s1: i128,
    s2: i128,
}

impl ReturnSums {
    pub(crate) fn add_return(&mut self, r: f64) {
        // `as` saturates on absurd values; wrapping arithmetic keeps add and
        // remove exact inverses even then.
        self.add_quantized(Self::quantize(r));
    }

    /// A return in the fixed point the sums use; quantized returns add
    /// exactly, so a sum of them does not depend on where it started.
    pub(crate) fn quantize(r: f64) -> i128 {
        (r * SCALE).round() as i64 as i128
    }

    /// Adds one return already in fixed point (e.g. the sum of the quantized
    /// tick returns of one step of a clock).
    pub(crate) fn add_quantized(&mut self, q: i128) {
        self.n += 1;
        self.s1 = self.s1.wrapping_add(q);
        self.s2 = self.s2.wrapping_add(q.wrapping_mul(q));
    }

    /// Removes one return added with [`Self::add_quantized`].
    pub(crate) fn sub_quantized(&mut self, q: i128) {
        self.n -= 1;
        self.s1 = self.s1.wrapping_sub(q);
        self.s2 = self.s2.wrapping_sub(q.wrapping_mul(q));
    }

    pub(crate) fn add(&mut self, o: &ReturnSums) {
        self.n += o.n;
        self.s1 = self.s1.wrapping_add(o.s1);
        self.s2 = self.s2.wrapping_add(o.s2);
    }

    pub(crate) fn sub(&mut self, o: &ReturnSums) {
        self.n -= o.n;
        self.s1 = self.s1.wrapping_sub(o.s1);
        self.s2 = self.s2.wrapping_sub(o.s2);
    }

    /// Sample standard deviation (ddof = 1); `None` with fewer than 2 returns.
    pub(crate) fn std_dev(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as i128;
        let exact = n
            .checked_mul(self.s2)
            .and_then(|a| a.checked_sub(self.s1.checked_mul(self.s1)?));
        let var = match exact {
            Some(num) => num as f64 / (n * (n - 1)) as f64 / (SCALE * SCALE),
            // Only returns far beyond any market's (|r| ~ 1 on every tick) get here.
            None => {
                let (nf, s1, s2) = (
                    n as f64,
                    self.s1 as f64 / SCALE,
                    self.s2 as f64 / (SCALE * SCALE),
                );
                (s2 - s1 * s1 / nf) / (nf - 1.0)
            }
        };
        Some(var.max(0.0).sqrt())
    }
}

/// The ticks of one product in one whole second of event time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub(crate) sec: i64,
    pub(crate) ticks: u64,
    pub(crate) returns: ReturnSums,
    pub(crate) close: f64,
    pub(crate) close_volume: Option<f64>,
    pub(crate) high: f64,
    pub(crate) low: f64,
}

impl Bucket {
    pub(crate) fn empty(sec: i64) -> Self {
        Bucket {
            sec,
            ticks: 0,
            returns: ReturnSums::default(),
            close: f64::NAN,
            close_volume: None,
            high: f64::NEG_INFINITY,
            low: f64::INFINITY,
        }
    }

    pub(crate) fn add_tick(
        &mut self,
        price: f64,
        volume_24h: Option<f64>,
        log_return: Option<f64>,
    ) {
        self.ticks += 1;
        if let Some(r) = log_return {
            self.returns.add_return(r);
        }
        self.close = price;
        self.close_volume = volume_24h;
        self.high = self.high.max(price);
        self.low = self.low.min(price);
    }
}

/// A sliding window of `secs` whole seconds over completed buckets. The
/// current, still-filling second is combined in by the caller.
#[derive(Debug)]
pub(crate) struct Window {
    secs: i64,
    buckets: VecDeque<Bucket>,
    pub(crate) ticks: u64,
    pub(crate) returns: ReturnSums,
    /// Close price and 24h volume of the last bucket before the window, in
    /// this segment. `None` until the segment is older than the window.
    pub(crate) reference: Option<(f64, Option<f64>)>,
    /// Monotonic queues of (second, high) and (second, low) for the range.
    highs: VecDeque<(i64, f64)>,
    lows: VecDeque<(i64, f64)>,
}

impl Window {
    pub(crate) fn new(secs: i64) -> Self {
        Window {
            secs,
            buckets: VecDeque::with_capacity(secs as usize + 1),
            ticks: 0,
            returns: ReturnSums::default(),
            reference: None,
            highs: VecDeque::new(),
            lows: VecDeque::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buckets.clear();
        self.ticks = 0;
        self.returns = ReturnSums::default();
        self.reference = None;
        self.highs.clear();
        self.lows.clear();
    }

    pub(crate) fn push(&mut self, b: Bucket) {
        self.ticks += b.ticks;
        self.returns.add(&b.returns);
        while self.highs.back().is_some_and(|&(_, h)| h <= b.high) {
            self.highs.pop_back();
        }
        self.highs.push_back((b.sec, b.high));
        while self.lows.back().is_some_and(|&(_, l)| l >= b.low) {
            self.lows.pop_back();
        }
        self.lows.push_back((b.sec, b.low));
        self.buckets.push_back(b);
    }

    /// Moves the window so that it covers seconds `now - secs + 1 ..= now`.
    pub(crate) fn advance(&mut self, now: i64) {
        let oldest_kept = now - self.secs + 1;
        while let Some(b) = self.buckets.front().filter(|b| b.sec < oldest_kept) {
            self.ticks -= b.ticks;
            self.returns.sub(&b.returns);
            self.reference = Some((b.close, b.close_volume));
            self.buckets.pop_front();
        }
        while self.highs.front().is_some_and(|&(s, _)| s < oldest_kept) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(|&(s, _)| s < oldest_kept) {
            self.lows.pop_front();
        }
    }

    pub(crate) fn high(&self) -> f64 {
        self.highs.front().map_or(f64::NEG_INFINITY, |&(_, h)| h)
    }

    pub(crate) fn low(&self) -> f64 {
        self.lows.front().map_or(f64::INFINITY, |&(_, l)| l)
    }
}

/// A clock of whole seconds over the last `secs` seconds of a segment: each
/// completed second's return (the sum of its tick returns, i.e. the log
/// return from the previous second's close to its own; 0 for a second
/// without ticks) and its tick count. The current, still-filling second is
/// combined in by the caller.
#[derive(Debug)]
pub(crate) struct ClockWindow {
    secs: i64,
    /// (second, its return in fixed point, its ticks), non-empty seconds only.
    seconds: VecDeque<(i64, i128, u64)>,
    returns: ReturnSums,
    pub(crate) ticks: u64,
}

impl ClockWindow {
    pub(crate) fn new(secs: i64) -> Self {
        ClockWindow {
            secs,
            seconds: VecDeque::new(),
            returns: ReturnSums::default(),
            ticks: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.seconds.clear();
        self.returns = ReturnSums::default();
        self.ticks = 0;
    }

    pub(crate) fn push(&mut self, b: &Bucket) {
        let q = b.returns.s1;
        self.returns.add_quantized(q);
        self.ticks += b.ticks;
        self.seconds.push_back((b.sec, q, b.ticks));
    }

    /// Moves the window so that it covers seconds `now - secs + 1 ..= now`.
    pub(crate) fn advance(&mut self, now: i64) {
        let oldest_kept = now - self.secs + 1;
        while let Some(&(_, q, ticks)) = self.seconds.front().filter(|s| s.0 < oldest_kept) {
            self.returns.sub_quantized(q);
            self.ticks -= ticks;
            self.seconds.pop_front();
        }
    }

    /// Sample standard deviation of the window's `secs` clock returns, the
    /// current second's `current` (fixed point) among them: seconds without
    /// ticks count as zero returns.
    pub(crate) fn std_dev(&self, current: &ReturnSums) -> Option<f64> {
        let mut all = self.returns;
        all.add_quantized(current.s1);
        all.n = self.secs as u64;
        all.std_dev()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Adding then removing any set of returns leaves the sums exactly as
        /// if only the remaining returns had been added.
        #[test]
        fn sums_are_history_independent(before in proptest::collection::vec(-0.1f64..0.1, 0..50),
                                        kept in proptest::collection::vec(-0.1f64..0.1, 0..50)) {
            let mut a = ReturnSums::default();
            let mut gone = ReturnSums::default();
            for &r in &before { a.add_return(r); gone.add_return(r); }
            for &r in &kept { a.add_return(r); }
            a.sub(&gone);
            let mut b = ReturnSums::default();
            for &r in &kept { b.add_return(r); }
            prop_assert_eq!(a, b);
        }

        #[test]
        fn std_dev_matches_two_pass(xs in proptest::collection::vec(-0.01f64..0.01, 2..200)) {
            let mut s = ReturnSums::default();
            for &r in &xs { s.add_return(r); }
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let got = s.std_dev().unwrap();
            prop_assert!((got - var.sqrt()).abs() <= 1e-9 * var.sqrt().max(1e-12), "{} vs {}", got, var.sqrt());
        }
    }
}
