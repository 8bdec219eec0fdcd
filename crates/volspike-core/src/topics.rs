//! Kafka topic names shared by every service.

/// Normalized or raw ticks, keyed by product id.
pub const TICKS_RAW: &str = "ticks.raw";
/// Feature rows, keyed by product id.
pub const TICKS_FEATURES: &str = "ticks.features";
/// Input nobody could read, with the reason and where it came from.
pub const TICKS_DLQ: &str = "ticks.dlq";
/// The prediction log: one record per scored feature row, keyed by product.
pub const PREDICTIONS: &str = "predictions";
/// Volatility spike alerts, keyed by product.
pub const ALERTS_VOLATILITY: &str = "alerts.volatility";
/// Model promotions and rollbacks, keyed by model name.
pub const MODELS_EVENTS: &str = "models.events";
