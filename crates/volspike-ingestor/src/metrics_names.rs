//! Metric names of the ingestor (counters unless noted).

pub(crate) const FRAMES: &str = "volspike_ingestor_frames_total";
/// Label `product`.
pub(crate) const TICKS: &str = "volspike_ingestor_ticks_total";
/// Label `reason` (`closed`, `silence`, `stale`, ...).
pub(crate) const RECONNECTS: &str = "volspike_ingestor_reconnects_total";
/// Label `kind` (`silence`, `stale`).
pub(crate) const WATCHDOG_TRIPS: &str = "volspike_ingestor_watchdog_trips_total";
/// Label `stream`.
pub(crate) const SEQUENCE_BREAKS: &str = "volspike_ingestor_sequence_breaks_total";
pub(crate) const MISSING: &str = "volspike_ingestor_sequence_missing_total";
/// Gauge, label `product`: seconds since the product's last ticker.
pub(crate) const STALENESS: &str = "volspike_ingestor_staleness_seconds";
/// Histogram: receive time minus exchange time, seconds.
pub(crate) const LATENCY: &str = "volspike_ingestor_receive_latency_seconds";
/// Gauge: records waiting in the producer.
pub(crate) const QUEUE_DEPTH: &str = "volspike_ingestor_producer_queue_depth";
pub(crate) const DELIVERED: &str = "volspike_ingestor_delivered_total";
/// Label `topic`.
pub(crate) const DELIVERY_ERRORS: &str = "volspike_ingestor_delivery_errors_total";
/// Label `cause` (`queue_full`, `produce_error`).
pub(crate) const UNDELIVERED: &str = "volspike_ingestor_undelivered_total";
/// Label `reason`.
pub(crate) const DLQ: &str = "volspike_ingestor_dlq_total";
pub(crate) const JOURNAL_FRAMES: &str = "volspike_ingestor_journal_frames_total";
