//! Metric names of the featurizer (all counters unless noted).

pub(crate) const MESSAGES_IN: &str = "volspike_featurizer_messages_in_total";
pub(crate) const TICKS_IN: &str = "volspike_featurizer_ticks_in_total";
pub(crate) const ROWS_OUT: &str = "volspike_featurizer_rows_out_total";
pub(crate) const SKIPPED: &str = "volspike_featurizer_skipped_total";
pub(crate) const DLQ: &str = "volspike_featurizer_dlq_total";
pub(crate) const COMMITS: &str = "volspike_featurizer_commits_total";
pub(crate) const ABORTS: &str = "volspike_featurizer_aborts_total";
pub(crate) const REBUILDS: &str = "volspike_featurizer_rebuilds_total";
/// Input offsets jumped over inside a partition (see `Summary::offsets_skipped`).
pub(crate) const OFFSETS_SKIPPED: &str = "volspike_featurizer_input_offsets_skipped_total";
/// Gauge: messages between the committed position and the end of each partition.
pub(crate) const LAG: &str = "volspike_featurizer_lag_messages";
/// Histogram: seconds per committed batch.
pub(crate) const BATCH_SECONDS: &str = "volspike_featurizer_batch_seconds";
