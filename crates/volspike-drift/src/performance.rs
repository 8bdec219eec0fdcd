//! How well the served model does on outcomes that have matured, with an
//! interval that respects time.
//!
//! Consecutive outcomes are not independent: a spike labels every row of
//! its minute. Intervals therefore come from a moving-block bootstrap over
//! the outcomes in time order (blocks of `block` rows, resampled with
//! replacement up to the sample's size), not from resampling single rows,
//! which would make them too narrow.
//!
//! - [`live_performance`]: PR-AUC (scikit-learn's average precision),
//!   precision, recall, F1 and base rate over a window, with the PR-AUC's
//!   interval; [`performance_drift`] compares the interval with the model's
//!   test PR-AUC.
//! - [`paired_difference`]: challenger minus champion PR-AUC on the same
//!   rows, resampling the same blocks for both, for the promotion gate.
//! - [`block_rows`]: how long a block must be for rows whose labels look
//!   a horizon ahead.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use volspike_model::metrics::{Confusion, MetricError, average_precision};

/// How intervals are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Rows per block: at least the span over which outcomes are correlated
    /// (the label horizon's worth of rows).
    pub block: usize,
    /// Resamples drawn.
    pub draws: usize,
    /// Two-sided coverage of the interval, e.g. 0.9.
    pub confidence: f64,
    /// Seed, so an interval can be reproduced.
    pub seed: u64,
}

/// Rows per bootstrap block for `n` rows in time order spanning `span_ns`
/// of event time, whose labels look `horizon_ns` ahead: at least one
/// horizon's worth of rows (rows less than a horizon apart share forward
/// ticks, so their labels move together) and at least √n.
pub fn block_rows(n: usize, span_ns: i64, horizon_ns: i64) -> usize {
    if n == 0 {
        return 1;
    }
    let per_horizon = if span_ns > 0 {
        (n as f64 * horizon_ns.max(0) as f64 / span_ns as f64).ceil() as usize
    } else {
        n
    };
    per_horizon.max((n as f64).sqrt() as usize).clamp(1, n)
}

/// An estimate and its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// On the sample itself.
    pub estimate: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Resamples that had a value (a resample without positives has no
    /// PR-AUC and is left out).
    pub draws_used: usize,
}

/// Live metrics over one window of matured outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivePerformance {
    /// Outcomes in the window.
    pub rows: u64,
    /// Positive outcomes.
    pub positives: u64,
    /// positives / rows.
    pub base_rate: f64,
    /// PR-AUC and its interval; `None` without positives.
    pub pr_auc: Option<Interval>,
    /// Outcomes at the model's decision threshold.
    pub confusion: Confusion,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
}

/// Metrics of `scores` against `labels` (both in time order) at
/// `threshold`, with the PR-AUC's block-bootstrap interval.
pub fn live_performance(
    labels: &[bool],
    scores: &[f64],
    threshold: f64,
    bootstrap: &Bootstrap,
) -> Result<LivePerformance, MetricError> {
    let estimate = average_precision(labels, scores)?;
    let confusion = Confusion::at(labels, scores, threshold);
    let positives = labels.iter().filter(|&&y| y).count() as u64;
    let pr_auc = match estimate {
        None => None,
        Some(estimate) => {
            let mut values = Vec::with_capacity(bootstrap.draws);
            let (mut l, mut s) = (Vec::new(), Vec::new());
            for idx in BlockResampler::new(labels.len(), bootstrap) {
                l.clear();
                s.clear();
                l.extend(idx.iter().map(|&i| labels[i]));
                s.extend(idx.iter().map(|&i| scores[i]));
                if let Some(ap) = average_precision(&l, &s)? {
                    values.push(ap);
                }
            }
            Some(interval(estimate, values, bootstrap.confidence))
        }
    };
    Ok(LivePerformance {
        rows: labels.len() as u64,
        positives,
        base_rate: positives as f64 / labels.len() as f64,
        pr_auc,
        confusion,
        precision: confusion.precision(),
        recall: confusion.recall(),
        f1: confusion.f1(),
    })
}

/// Whether live performance has fallen below what the model was trained to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PerformanceVerdict {
    /// Too few positive outcomes have matured to judge.
    TooFewPositives {
        /// Positives in the window.
        have: u64,
        /// Positives needed.
        need: u64,
    },
    /// The interval reaches the limit: no evidence of decline.
    Holding {
        /// The interval's upper bound.
        upper: f64,
        /// test PR-AUC x (1 - tolerance).
        limit: f64,
    },
    /// Even the interval's upper bound is below the limit.
    Drift {
        /// The interval's upper bound.
        upper: f64,
        /// test PR-AUC x (1 - tolerance).
        limit: f64,
    },
}

/// Performance drift: the live PR-AUC interval's upper bound below
/// `test_pr_auc` x (1 - `tolerance`), judged only once `min_positives`
/// positive outcomes are in the window.
pub fn performance_drift(
    live: &LivePerformance,
    test_pr_auc: f64,
    tolerance: f64,
    min_positives: u64,
) -> PerformanceVerdict {
    let limit = test_pr_auc * (1.0 - tolerance);
    match live.pr_auc {
        Some(i) if live.positives >= min_positives => {
            if i.upper < limit {
                PerformanceVerdict::Drift {
                    upper: i.upper,
                    limit,
                }
            } else {
                PerformanceVerdict::Holding {
                    upper: i.upper,
                    limit,
                }
            }
        }
        _ => PerformanceVerdict::TooFewPositives {
            have: live.positives,
            need: min_positives,
        },
    }
}

/// PR-AUC of `challenger` minus PR-AUC of `champion` on the same `labels`
/// (time order), with a paired block-bootstrap interval: each resample
/// takes the same rows for both models. `None` without positives.
pub fn paired_difference(
    labels: &[bool],
    challenger: &[f64],
    champion: &[f64],
    bootstrap: &Bootstrap,
) -> Result<Option<Interval>, MetricError> {
    if challenger.len() != champion.len() {
        return Err(MetricError::Length {
            labels: challenger.len(),
            scores: champion.len(),
        });
    }
    let (Some(a), Some(b)) = (
        average_precision(labels, challenger)?,
        average_precision(labels, champion)?,
    ) else {
        return Ok(None);
    };
    let mut values = Vec::with_capacity(bootstrap.draws);
    let (mut l, mut sa, mut sb) = (Vec::new(), Vec::new(), Vec::new());
    for idx in BlockResampler::new(labels.len(), bootstrap) {
        l.clear();
        sa.clear();
        sb.clear();
        l.extend(idx.iter().map(|&i| labels[i]));
        sa.extend(idx.iter().map(|&i| challenger[i]));
        sb.extend(idx.iter().map(|&i| champion[i]));
        if let (Some(x), Some(y)) = (average_precision(&l, &sa)?, average_precision(&l, &sb)?) {
            values.push(x - y);
        }
    }
    Ok(Some(interval(a - b, values, bootstrap.confidence)))
}

/// The percentile interval of `values` around `estimate`; the estimate
/// itself when no resample had a value.
fn interval(estimate: f64, mut values: Vec<f64>, confidence: f64) -> Interval {
    if values.is_empty() {
        return Interval {
            estimate,
            lower: estimate,
            upper: estimate,
            draws_used: 0,
        };
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence.clamp(0.0, 1.0)) / 2.0;
    let at = |q: f64| volspike_model::reference::quantile_sorted(&values, q);
    Interval {
        estimate,
        lower: at(tail),
        upper: at(1.0 - tail),
        draws_used: values.len(),
    }
}

/// Index sets of a moving-block bootstrap: each is `n` indices made of
/// runs of `block` consecutive rows starting at random places.
struct BlockResampler {
    n: usize,
    block: usize,
    left: usize,
    rng: ChaCha8Rng,
    idx: Vec<usize>,
}

impl BlockResampler {
    fn new(n: usize, b: &Bootstrap) -> Self {
        BlockResampler {
            n,
            block: b.block.clamp(1, n.max(1)),
            left: if n == 0 { 0 } else { b.draws },
            rng: ChaCha8Rng::seed_from_u64(b.seed),
            idx: Vec::with_capacity(n),
        }
    }
}

impl Iterator for BlockResampler {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.idx.clear();
        while self.idx.len() < self.n {
            let start = self.rng.random_range(0..=self.n - self.block);
            let take = self.block.min(self.n - self.idx.len());
            self.idx.extend(start..start + take);
        }
        Some(self.idx.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap() -> Bootstrap {
        Bootstrap {
            block: 20,
            draws: 200,
            confidence: 0.9,
            seed: 3,
        }
    }

    /// Outcomes in runs of 20 (a spike lasts), scored with some skill.
    fn sample(n: usize, skill: f64, seed: u64) -> (Vec<bool>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut labels = Vec::with_capacity(n);
        let mut scores = Vec::with_capacity(n);
        let mut spike = false;
        for i in 0..n {
            if i % 20 == 0 {
                spike = rng.random_bool(0.1);
            }
            labels.push(spike);
            let noise: f64 = rng.random();
            scores.push(skill * f64::from(u8::from(spike)) + noise);
        }
        (labels, scores)
    }

    #[test]
    fn blocks_hold_a_horizon_of_rows_and_at_least_the_square_root() {
        const S: i64 = 1_000_000_000;
        // 2,450 rows over 218 s with a 60 s horizon: 675 rows a block.
        assert_eq!(block_rows(2450, 218 * S, 60 * S), 675);
        // Over days, the square root is the longer.
        assert_eq!(block_rows(1_000_000, 86_400 * S, 60 * S), 1000);
        // A span shorter than the horizon is one block; no rows, no span.
        assert_eq!(block_rows(500, 30 * S, 60 * S), 500);
        assert_eq!(block_rows(500, 0, 60 * S), 500);
        assert_eq!(block_rows(0, 0, 60 * S), 1);
    }

    #[test]
    fn the_interval_holds_the_estimate_and_narrows_with_more_outcomes() {
        let (l, s) = sample(2_000, 0.5, 1);
        let small = live_performance(&l, &s, 0.9, &bootstrap()).unwrap();
        let i = small.pr_auc.unwrap();
        assert!(i.lower <= i.estimate && i.estimate <= i.upper, "{i:?}");
        let (l, s) = sample(20_000, 0.5, 1);
        let large = live_performance(&l, &s, 0.9, &bootstrap()).unwrap();
        let j = large.pr_auc.unwrap();
        assert!(j.upper - j.lower < (i.upper - i.lower) * 0.6, "{i:?} {j:?}");
        assert_eq!(large.rows, 20_000);
        assert!((large.base_rate - 0.1).abs() < 0.03);
    }

    #[test]
    fn drift_needs_enough_positives_and_an_upper_bound_below_the_limit() {
        let (l, s) = sample(5_000, 0.2, 2);
        let weak = live_performance(&l, &s, 0.9, &bootstrap()).unwrap();
        let upper = weak.pr_auc.unwrap().upper;
        assert!(matches!(
            performance_drift(&weak, upper * 2.0, 0.1, 30),
            PerformanceVerdict::Drift { .. }
        ));
        assert!(matches!(
            performance_drift(&weak, upper, 0.1, 30),
            PerformanceVerdict::Holding { .. }
        ));
        assert_eq!(
            performance_drift(&weak, upper * 2.0, 0.1, weak.positives + 1),
            PerformanceVerdict::TooFewPositives {
                have: weak.positives,
                need: weak.positives + 1
            }
        );
    }

    #[test]
    fn a_better_challenger_has_a_positive_paired_lower_bound() {
        let (l, good) = sample(10_000, 1.0, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let poor: Vec<f64> = l
            .iter()
            .map(|&y| 0.2 * f64::from(u8::from(y)) + rng.random::<f64>())
            .collect();
        let d = paired_difference(&l, &good, &poor, &bootstrap())
            .unwrap()
            .unwrap();
        assert!(d.lower > 0.0, "{d:?}");
        let same = paired_difference(&l, &poor, &poor, &bootstrap())
            .unwrap()
            .unwrap();
        assert_eq!((same.lower, same.estimate, same.upper), (0.0, 0.0, 0.0));
        assert_eq!(
            paired_difference(&[false, false], &[0.1, 0.2], &[0.3, 0.4], &bootstrap()).unwrap(),
            None
        );
    }
}
