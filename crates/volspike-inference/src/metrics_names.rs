//! Prometheus metric names of the inference service.

/// Requests by `rpc` and gRPC `code`.
pub const REQUESTS: &str = "volspike_inference_requests_total";
/// Request handling time by `rpc`, seconds.
pub const REQUEST_SECONDS: &str = "volspike_inference_request_seconds";
/// Rows scored by `ScoreBatch` and `ModelInfer`.
pub const ROWS_SCORED: &str = "volspike_inference_rows_scored_total";
/// Predictions published to the prediction log.
pub const PREDICTIONS_PUBLISHED: &str = "volspike_inference_predictions_published_total";
/// Alerts published.
pub const ALERTS_PUBLISHED: &str = "volspike_inference_alerts_published_total";
/// Live rows not scored, by `reason` (`no_model`, `missing_input`, `cold`).
pub const ROWS_UNSCORED: &str = "volspike_inference_rows_unscored_total";
/// Records on the features topic that are not feature rows.
pub const ROWS_UNREADABLE: &str = "volspike_inference_rows_unreadable_total";
/// The served model's registry version (0 for a file).
pub const MODEL_VERSION: &str = "volspike_inference_model_version";
/// Model loads by `outcome` (`swapped`, `unchanged`, `failed`).
pub const MODEL_LOADS: &str = "volspike_inference_model_loads_total";
/// Watchers dropped for falling behind.
pub const WATCHERS_LAGGED: &str = "volspike_inference_watchers_lagged_total";
/// Restarts of live scoring after it failed (broker, delivery, panic).
pub const LIVE_RESTARTS: &str = "volspike_inference_live_restarts_total";
/// Errors reading the features topic (librdkafka retries them).
pub const CONSUMER_ERRORS: &str = "volspike_inference_consumer_errors_total";
