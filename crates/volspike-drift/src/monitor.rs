//! A set of per-feature detectors judged together, window by window: each
//! feature's verdict, its PSI beside the no-drift floor, and the overall
//! severity. What the drift worker runs on every window of live features.

use std::time::Duration;

use crate::StatsError;
use crate::bins::psi_no_drift_floor;
use crate::detector::{
    Detector, FeatureDrift, Severity, Statistic, Verdict, severity, time_windows,
};

/// How the detectors are built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorConfig {
    /// What each detector measures.
    pub statistic: Statistic,
    /// Live windows' duration; calibration draws reference windows of the
    /// same duration. It should be long against the features' memory (the
    /// longest rolling window, volatility clusters), or every window is a
    /// narrow slice of the reference and windows in a row are not
    /// independent.
    pub window: Duration,
    /// Reference windows drawn.
    pub draws: usize,
    /// Wanted share of stable windows over each feature's threshold.
    pub false_alarm_rate: f64,
    /// Seed of the draws.
    pub seed: u64,
    /// Windows in a row over the threshold before a feature drifts.
    pub k: usize,
}

/// One feature's reference: values and their event times (ascending).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureReference {
    /// Feature name.
    pub name: String,
    /// Values, in time order.
    pub values: Vec<f64>,
    /// Event time of each value, ns.
    pub times: Vec<i64>,
}

/// Detectors for several features.
#[derive(Debug, Clone)]
pub struct Monitor {
    names: Vec<String>,
    detectors: Vec<Detector>,
}

/// One feature in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureWindow {
    /// Feature name.
    pub name: String,
    /// Values in the window.
    pub values: usize,
    /// The detector's verdict; an error when the window had no usable value
    /// (the feature then counts as not drifting, and its run is kept).
    pub verdict: Result<Verdict, StatsError>,
    /// PSI of the window on the reference's bins (NaN without values).
    pub psi: f64,
    /// The PSI sampling alone gives at these sizes.
    pub psi_floor: f64,
}

/// All features in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowReport {
    /// Per feature, in the monitor's order.
    pub features: Vec<FeatureWindow>,
    /// Features whose detector declared drift.
    pub drifting: usize,
    /// The overall severity.
    pub severity: Severity,
}

impl Monitor {
    /// Calibrates one detector per feature on reference windows of the
    /// live window's duration; the error names the feature that could not
    /// be calibrated (e.g. a reference shorter than one window).
    pub fn calibrate(
        references: &[FeatureReference],
        cfg: &MonitorConfig,
    ) -> Result<Monitor, (String, StatsError)> {
        let duration_ns = i64::try_from(cfg.window.as_nanos()).unwrap_or(i64::MAX);
        let mut names = Vec::with_capacity(references.len());
        let mut detectors = Vec::with_capacity(references.len());
        for (i, r) in references.iter().enumerate() {
            let fail = |e| (r.name.clone(), e);
            if r.values.len() != r.times.len() {
                return Err(fail(StatsError::Calibration(format!(
                    "{} values but {} times",
                    r.values.len(),
                    r.times.len()
                ))));
            }
            // Each feature its own draws, reproducible from the seed.
            let windows = time_windows(
                &r.times,
                duration_ns,
                cfg.draws,
                cfg.seed.wrapping_add(i as u64),
            );
            let d = Detector::calibrate_on(
                &r.values,
                cfg.statistic,
                &windows,
                cfg.false_alarm_rate,
                cfg.k,
            )
            .map_err(fail)?;
            names.push(r.name.clone());
            detectors.push(d);
        }
        Ok(Monitor { names, detectors })
    }

    /// Feature names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The detectors, in the order of [`Monitor::names`].
    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// Judges one window: `windows[i]` holds feature i's values (finite).
    pub fn observe(&mut self, windows: &[Vec<f64>]) -> WindowReport {
        let mut features = Vec::with_capacity(self.detectors.len());
        let mut drift = Vec::with_capacity(self.detectors.len());
        for ((name, d), w) in self.names.iter().zip(&mut self.detectors).zip(windows) {
            let verdict = d.observe(w);
            let psi = d.reference().psi(w).unwrap_or(f64::NAN);
            let psi_floor = psi_no_drift_floor(
                d.reference().edges().len() + 1,
                d.reference().len() as u64,
                w.len() as u64,
            );
            drift.push(FeatureDrift {
                drifting: verdict.as_ref().is_ok_and(|v| v.drift),
                psi: if psi.is_finite() { psi } else { 0.0 },
                psi_floor,
            });
            features.push(FeatureWindow {
                name: name.clone(),
                values: w.len(),
                verdict,
                psi,
                psi_floor,
            });
        }
        WindowReport {
            drifting: drift.iter().filter(|f| f.drifting).count(),
            severity: severity(&drift),
            features,
        }
    }
}
