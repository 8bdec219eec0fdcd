//! Detectors whose false-alarm rate is known.
//!
//! Rolling features are autocorrelated: a 5-minute volatility barely moves
//! from one row to the next. A test that assumes independent values (a KS
//! p-value below 0.05) therefore fires on most windows of a perfectly
//! stable stream. Here each feature's threshold comes from the reference
//! period itself: windows of the live window's size are rebuilt from the
//! reference by a moving-block bootstrap (blocks long enough to keep the
//! autocorrelation), the statistic is computed on each, and the threshold
//! is the quantile that leaves the configured false-alarm rate above it.
//! Drift is declared after `k` windows in a row over the threshold.

use std::ops::Range;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

use crate::compare::Reference;
use crate::{StatsError, check, ks, sorted};

/// What a detector measures on a window against the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Population stability index on the reference's decile bins.
    Psi,
    /// The two-sample KS distance sup |F_ref - F_window|.
    Ks,
    /// Wasserstein-1 over the reference's standard deviation.
    WassersteinNorm,
}

/// How a threshold is found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Values per live window.
    pub window: usize,
    /// Bootstrap block length, in values; at least the span over which the
    /// feature is correlated (e.g. the rows in its longest rolling window).
    pub block: usize,
    /// Bootstrap windows drawn.
    pub draws: usize,
    /// Wanted share of stable windows over the threshold.
    pub false_alarm_rate: f64,
    /// Seed of the bootstrap, so a threshold can be reproduced.
    pub seed: u64,
}

/// One window's verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The statistic on this window.
    pub value: f64,
    /// The calibrated threshold.
    pub threshold: f64,
    /// `value > threshold`.
    pub over: bool,
    /// Windows in a row over the threshold, this one included.
    pub run: usize,
    /// Drift declared: `run >= k`.
    pub drift: bool,
}

/// A calibrated detector for one feature.
#[derive(Debug, Clone)]
pub struct Detector {
    statistic: Statistic,
    reference: Reference,
    threshold: f64,
    k: usize,
    run: usize,
}

impl Detector {
    /// Calibrates on `reference` (in time order, finite values): the
    /// threshold leaves `cal.false_alarm_rate` of bootstrap windows above it.
    /// Drift needs `k` (at least 1) windows over it in a row.
    ///
    /// The reference should span many windows: the threshold is a tail
    /// quantile over what are, in effect, `reference.len() / window`
    /// independent windows, and from 60 of them a 5% threshold's true rate
    /// varies by about 0.03 (in `tests/detectors.rs`, 60 windows gave
    /// 0.09-0.13 where 300 give 0.04-0.07). Blocks as long as the window
    /// keep all of its autocorrelation; shorter blocks cut it at their
    /// seams.
    pub fn calibrate(
        reference: &[f64],
        statistic: Statistic,
        cal: &Calibration,
        k: usize,
    ) -> Result<Detector, StatsError> {
        if cal.window == 0 || cal.block == 0 || cal.draws == 0 || cal.block > reference.len() {
            return Err(StatsError::Calibration(format!(
                "window {}, block {} and draws {} must be positive, and the block at most the reference's {} values",
                cal.window,
                cal.block,
                cal.draws,
                reference.len()
            )));
        }
        let mut detector = Self::uncalibrated(reference, statistic, cal.false_alarm_rate, k)?;
        let mut rng = ChaCha8Rng::seed_from_u64(cal.seed);
        let mut values = Vec::with_capacity(cal.draws);
        let mut window = Vec::with_capacity(cal.window);
        let last_start = reference.len() - cal.block;
        for _ in 0..cal.draws {
            window.clear();
            while window.len() < cal.window {
                let start = rng.random_range(0..=last_start);
                let take = cal.block.min(cal.window - window.len());
                window.extend_from_slice(&reference[start..start + take]);
            }
            values.push(detector.statistic(&window)?);
        }
        detector.threshold = upper_quantile(values, cal.false_alarm_rate);
        Ok(detector)
    }

    /// Calibrates on given windows of `reference` (index ranges, e.g. from
    /// [`time_windows`]): the threshold leaves `false_alarm_rate` of them
    /// above it. For live windows of fixed duration, whose row counts vary
    /// with the market's activity.
    pub fn calibrate_on(
        reference: &[f64],
        statistic: Statistic,
        windows: &[Range<usize>],
        false_alarm_rate: f64,
        k: usize,
    ) -> Result<Detector, StatsError> {
        let mut detector = Self::uncalibrated(reference, statistic, false_alarm_rate, k)?;
        let windows = windows
            .iter()
            .filter(|r| r.start < r.end && r.end <= reference.len());
        let values = if statistic == Statistic::Ks {
            // Windows of the reference against all of it: from ranks, without
            // walking the whole reference for each window.
            let ranked = ks::Ranked::new(reference);
            windows.map(|r| ranked.statistic_of(r.clone())).collect()
        } else {
            windows
                .map(|r| detector.statistic(&reference[r.clone()]))
                .collect::<Result<Vec<f64>, _>>()?
        };
        if values.is_empty() {
            return Err(StatsError::Calibration(
                "no calibration window holds a value".into(),
            ));
        }
        detector.threshold = upper_quantile(values, false_alarm_rate);
        Ok(detector)
    }

    /// A detector on `reference` (non-empty, finite) whose threshold is not
    /// set yet; the rate must be in (0, 1).
    fn uncalibrated(
        reference: &[f64],
        statistic: Statistic,
        false_alarm_rate: f64,
        k: usize,
    ) -> Result<Detector, StatsError> {
        check("reference", reference)?;
        if !(false_alarm_rate > 0.0 && false_alarm_rate < 1.0) {
            return Err(StatsError::Calibration(format!(
                "false-alarm rate {false_alarm_rate} is not in (0, 1)"
            )));
        }
        Ok(Detector {
            statistic,
            reference: Reference::new(reference)?,
            threshold: f64::INFINITY,
            k: k.max(1),
            run: 0,
        })
    }

    /// The reference it was calibrated on.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Windows in a row over the threshold so far.
    pub fn run(&self) -> usize {
        self.run
    }

    /// The calibrated threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The statistic of `window` (finite values) against the reference.
    pub fn statistic(&self, window: &[f64]) -> Result<f64, StatsError> {
        check("window", window)?;
        let r = &self.reference;
        Ok(match self.statistic {
            Statistic::Psi => r.psi(window)?,
            Statistic::Ks => ks::statistic_sorted(r.sorted(), &sorted(window)),
            Statistic::WassersteinNorm => r.wasserstein_norm_sorted(&sorted(window)),
        })
    }

    /// Judges the next window.
    pub fn observe(&mut self, window: &[f64]) -> Result<Verdict, StatsError> {
        let value = self.statistic(window)?;
        let over = value > self.threshold;
        self.run = if over { self.run + 1 } else { 0 };
        Ok(Verdict {
            value,
            threshold: self.threshold,
            over,
            run: self.run,
            drift: self.run >= self.k,
        })
    }
}

/// The smallest value with at most `rate` of `values` above it.
fn upper_quantile(mut values: Vec<f64>, rate: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let above = (rate * n as f64).floor() as usize;
    values[n - 1 - above.min(n - 1)]
}

/// `draws` windows of `duration_ns` at random places within `times`
/// (ascending ns), as index ranges: the windows [`Detector::calibrate_on`]
/// needs to calibrate for live windows of that duration. Empty when the
/// times span less than one window.
pub fn time_windows(times: &[i64], duration_ns: i64, draws: usize, seed: u64) -> Vec<Range<usize>> {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Vec::new();
    };
    if duration_ns <= 0 || last - first < duration_ns {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..draws)
        .map(|_| {
            let start = rng.random_range(first..=last - duration_ns);
            times.partition_point(|&t| t < start)
                ..times.partition_point(|&t| t < start + duration_ns)
        })
        .collect()
}

/// Overall drift severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// No feature drifts.
    None,
    /// Some drift, small.
    Low,
    /// Worth a retrain.
    Medium,
    /// The inputs no longer look like the training data.
    High,
}

/// One feature's state, for [`severity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureDrift {
    /// Its detector declared drift.
    pub drifting: bool,
    /// PSI of the current window.
    pub psi: f64,
    /// The PSI expected with no drift at these sample sizes
    /// ([`crate::bins::psi_no_drift_floor`]).
    pub psi_floor: f64,
}

/// The PSI band of `excess` (PSI above its no-drift floor): the usual 0.1,
/// 0.2 and 0.3 cut-offs, applied to what sampling alone does not explain.
pub fn psi_band(excess: f64) -> Severity {
    match excess {
        e if e >= 0.3 => Severity::High,
        e if e >= 0.2 => Severity::Medium,
        e if e >= 0.1 => Severity::Low,
        _ => Severity::None,
    }
}

/// Severity over features: the highest PSI band (above the floor) among the
/// drifting features, raised to at least `Low` when any feature drifts and
/// to at least `Medium` when half of them or more do. Features that do not
/// drift count for nothing, however large their PSI: their detector knows
/// that size of PSI from the reference itself.
pub fn severity(features: &[FeatureDrift]) -> Severity {
    let drifting: Vec<&FeatureDrift> = features.iter().filter(|f| f.drifting).collect();
    if drifting.is_empty() {
        return Severity::None;
    }
    let band = drifting
        .iter()
        .map(|f| psi_band(f.psi - f.psi_floor))
        .max()
        .unwrap_or(Severity::None);
    let share = drifting.len() as f64 / features.len() as f64;
    let by_share = if share >= 0.5 {
        Severity::Medium
    } else {
        Severity::Low
    };
    band.max(by_share)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(drifting: bool, psi: f64) -> FeatureDrift {
        FeatureDrift {
            drifting,
            psi,
            psi_floor: 0.02,
        }
    }

    #[test]
    fn severity_counts_only_drifting_features_and_psi_above_its_floor() {
        assert_eq!(
            severity(&[drift(false, 5.0), drift(false, 0.0)]),
            Severity::None
        );
        assert_eq!(
            severity(&[drift(true, 0.05), drift(false, 0.0), drift(false, 0.0)]),
            Severity::Low
        );
        // 0.21 is in the 0.2 band, but only 0.19 of it is not sampling.
        assert_eq!(
            severity(&[drift(true, 0.21), drift(false, 0.0), drift(false, 0.0)]),
            Severity::Low
        );
        assert_eq!(
            severity(&[drift(true, 0.05), drift(true, 0.05)]),
            Severity::Medium
        );
        assert_eq!(
            severity(&[drift(true, 0.4), drift(false, 0.0), drift(false, 0.0)]),
            Severity::High
        );
    }

    #[test]
    fn bad_calibration_is_an_error() {
        let r: Vec<f64> = (0..100).map(f64::from).collect();
        let cal = Calibration {
            window: 10,
            block: 200,
            draws: 100,
            false_alarm_rate: 0.05,
            seed: 1,
        };
        assert!(Detector::calibrate(&r, Statistic::Ks, &cal, 3).is_err());
        let cal = Calibration {
            block: 10,
            false_alarm_rate: 1.0,
            ..cal
        };
        assert!(Detector::calibrate(&r, Statistic::Ks, &cal, 3).is_err());
    }
}
