//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! The n-th consecutive failed attempt waits a uniformly random time in
//! `[0, min(cap, base * 2^n))` ("full jitter", so that many clients cut off
//! together do not come back together). It never gives up. The caller resets
//! it only once a connection has proven healthy (subscription acknowledged
//! and first data frame received), not merely on a successful TCP connect:
//! a server that accepts and then drops would otherwise be hammered at the
//! base delay forever.

use std::time::Duration;

use rand::Rng;

/// Backoff state for one connection loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Backoff {
    /// Starts at `base`, never exceeds `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// Consecutive failures since the last [`Backoff::reset`].
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        Duration::from_nanos(rng.random_range(0..=ceiling.as_nanos() as u64))
    }

    /// The connection proved healthy: start again from `base`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn ceilings_double_up_to_the_cap_and_never_give_up() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut ceilings = Vec::new();
        for _ in 0..1000 {
            ceilings.push(b.ceiling());
            let d = b.next_delay(&mut rng);
            assert!(d <= *ceilings.last().unwrap());
        }
        assert_eq!(ceilings[0], Duration::from_millis(100));
        assert_eq!(ceilings[1], Duration::from_millis(200));
        assert_eq!(ceilings[8], Duration::from_millis(25_600));
        assert_eq!(ceilings[9], Duration::from_secs(30));
        assert_eq!(*ceilings.last().unwrap(), Duration::from_secs(30));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let cap = Duration::from_secs(10);
        let delays: Vec<Duration> = (0..2000)
            .map(|_| {
                let mut b = Backoff::new(cap, cap);
                b.next_delay(&mut rng)
            })
            .collect();
        let below_half = delays.iter().filter(|d| **d < cap / 2).count();
        // Full jitter: uniform on [0, cap], so about half fall below cap / 2.
        assert!((900..1100).contains(&below_half), "{below_half}");
        assert!(delays.iter().any(|d| *d < cap / 20));
    }
}
