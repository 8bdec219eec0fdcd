//! Metric names of the drift worker (counters unless noted).

/// Feature rows read.
pub(crate) const ROWS_IN: &str = "volspike_drift_rows_in_total";
/// Warm feature rows that came after their drift window was judged (a product
/// more than `drift.allowed-lateness` behind the others).
pub(crate) const ROWS_LATE: &str = "volspike_drift_rows_late_total";
/// Predictions read.
pub(crate) const PREDICTIONS_IN: &str = "volspike_drift_predictions_in_total";
/// Records on the input topics that are not what they should be.
pub(crate) const UNREADABLE: &str = "volspike_drift_unreadable_total";
/// Predictions by fate (`matured`, `incomplete`, `late`, `unmatched`,
/// `duplicate`, `expired`, `unknown_model`), label `fate`.
pub(crate) const OUTCOMES: &str = "volspike_drift_outcomes_total";
/// Gauge: predictions waiting for their forward window.
pub(crate) const OUTCOMES_PENDING: &str = "volspike_drift_outcomes_pending";
/// Windows closed, label `severity`.
pub(crate) const WINDOWS: &str = "volspike_drift_windows_total";
/// Gauge: the latest window's statistic per feature, label `feature`.
pub(crate) const FEATURE_STATISTIC: &str = "volspike_drift_feature_statistic";
/// Gauge: a feature's calibrated threshold, label `feature`.
pub(crate) const FEATURE_THRESHOLD: &str = "volspike_drift_feature_threshold";
/// Gauge: 1 while a feature's detector declares drift, label `feature`.
pub(crate) const FEATURE_DRIFT: &str = "volspike_drift_feature_drifting";
/// Gauge: the latest severity, 0 none .. 3 high.
pub(crate) const SEVERITY: &str = "volspike_drift_severity";
/// Gauge: the champion's live PR-AUC estimate.
pub(crate) const LIVE_PR_AUC: &str = "volspike_drift_live_pr_auc";
/// Gauge: the champion's version being watched.
pub(crate) const CHAMPION_VERSION: &str = "volspike_drift_champion_version";
/// Retrains finished, label `verdict`.
pub(crate) const RETRAINS: &str = "volspike_drift_retrains_total";
/// Gauge: rows held in memory by the archive's open hours, and files written.
pub(crate) const ARCHIVE_FILES: &str = "volspike_drift_archive_files_written_total";
