//! Drift statistics: how far a live sample of a feature (or of the model's
//! scores) is from its reference, each computed as scipy, numpy or Evidently
//! compute it, so numbers can be checked against the tools people know.
//!
//! - [`ks`]: the two-sample Kolmogorov-Smirnov test, exactly as
//!   `scipy.stats.ks_2samp` (two-sided, `method='auto'`), on
//!   [`kstwo`], the finite-n distribution of the one-sample statistic.
//! - [`bins`]: fixed bins from the reference's decile edges with open tails,
//!   the population stability index on them with its no-drift floor, and
//!   the Jensen-Shannon distance.
//! - [`wasserstein`]: Wasserstein-1 normalized by the reference's standard
//!   deviation (Evidently's `wasserstein_distance_norm`).
//! - [`multiple`]: Benjamini-Hochberg and Bonferroni across features.
//! - [`compare`]: a reference prepared once and compared with a sample on
//!   all of the above; [`table`]: the same per feature between two tables
//!   of feature rows.
//! - [`detector`]: per-feature detectors whose threshold comes from the
//!   reference itself (block bootstrap at a chosen false-alarm rate), drift
//!   declared after k windows in a row, and the overall severity;
//!   [`monitor`] runs one per feature and grades each window.
//! - [`watch`]: the monitor on a stream of rows: its reference from the
//!   stream or from archived rows, tumbling windows of event time closed on
//!   the [`watermark`] over products, and the model's scores against their
//!   validation quantiles.
//! - [`performance`]: live PR-AUC and friends on matured outcomes with
//!   block-bootstrap intervals, performance drift against the model's test
//!   PR-AUC, and the paired challenger-vs-champion difference.
//! - [`outcomes`]: each prediction joined with its row's label (the
//!   scoring model's definition and tau) once its product's forward window
//!   has passed, with every other fate counted.
//! - [`policy`]: when to retrain (drift, performance, schedule, by hand)
//!   and what holds it back (data, cooldown, promotions per day).
//!
//! Pure functions on slices; no I/O. Golden tests against a committed
//! scipy script are in `tests/scipy_parity.rs`.

pub mod bins;
pub mod compare;
pub mod detector;
pub mod ks;
pub mod kstwo;
pub mod monitor;
pub mod multiple;
pub mod outcomes;
pub mod performance;
pub mod policy;
pub mod table;
pub mod wasserstein;
pub mod watch;
pub mod watermark;

/// Errors of the statistics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A sample was empty.
    #[error("{0} sample is empty")]
    Empty(&'static str),
    /// A sample held NaN or an infinity.
    #[error("{0} sample holds a value that is not finite")]
    NotFinite(&'static str),
    /// Bin counts of different lengths, or no bins.
    #[error("bin counts differ in length ({0} vs {1}) or are empty")]
    Bins(usize, usize),
    /// The exact distribution could not be computed (sizes too large).
    #[error("{0}")]
    Exact(String),
    /// Calibration settings that cannot work.
    #[error("calibration: {0}")]
    Calibration(String),
}

/// Checks that `values` is non-empty and finite.
pub(crate) fn check(which: &'static str, values: &[f64]) -> Result<(), StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty(which));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite(which));
    }
    Ok(())
}

/// `values` sorted ascending (finite values), by radix sort: a window of
/// 100,000 values sorts several times faster than by comparisons, and
/// sorting is most of a drift window's cost.
pub(crate) fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    radsort::sort(&mut v);
    v
}
