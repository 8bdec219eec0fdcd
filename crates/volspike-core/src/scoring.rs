//! What scoring publishes: the prediction log, alerts, and model events.
//!
//! Records on `predictions` and `alerts.volatility` hold only what the
//! features and the model determine, so scoring the same features with the
//! same model twice gives byte-identical records (the scoring latency travels
//! in a Kafka header, not in the record). The JSON shapes are documented in
//! the README.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the prediction and alert records.
pub const SCORING_SCHEMA_VERSION: u32 = 1;

/// Header on `predictions` records: microseconds from receiving the feature
/// row to handing the prediction to the producer.
pub const LATENCY_HEADER: &str = "volspike-latency-us";

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    /// Registered name, e.g. `volspike`.
    pub name: String,
    /// Registry version, or `file` for a model file loaded from disk.
    pub version: String,
    /// `baseline`, `logistic`, `forest` or `boosted`.
    pub kind: String,
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} ({})", self.name, self.version, self.kind)
    }
}

/// One scored feature row (a record on `predictions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// [`SCORING_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Deterministic: product, feature time, tie and model version.
    pub prediction_id: String,
    /// Product.
    pub product_id: String,
    /// Event time of the feature row, ns since the epoch.
    pub event_time_ns: i64,
    /// The row's tie index (see `FeatureRow::tie`).
    pub tie: u32,
    /// The model inputs that were scored, by name.
    pub features: BTreeMap<String, f64>,
    /// Spike probability.
    pub probability: f64,
    /// `probability >= threshold`.
    pub spike: bool,
    /// The model's decision threshold.
    pub threshold: f64,
    /// The model that scored the row.
    pub model: ModelId,
}

/// A volatility spike alert (a record on `alerts.volatility`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// [`SCORING_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Deterministic: the prediction id of the row that raised it.
    pub alert_id: String,
    /// Product.
    pub product_id: String,
    /// Event time of the row that raised the alert, ns since the epoch.
    pub event_time_ns: i64,
    /// The row's tie index.
    pub tie: u32,
    /// The probability that crossed the threshold.
    pub probability: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// The model that raised it.
    pub model: ModelId,
}

/// A prediction joined with what happened (a record on
/// `predictions.outcomes`): its row's label under the scoring model's own
/// label definition and tau, published once the product's forward window
/// has passed. Like predictions, it holds no wall-clock data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionOutcome {
    /// [`SCORING_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The prediction's id.
    pub prediction_id: String,
    /// Product.
    pub product_id: String,
    /// Event time of the scored row, ns since the epoch.
    pub event_time_ns: i64,
    /// The row's tie index.
    pub tie: u32,
    /// The model that scored the row.
    pub model: ModelId,
    /// The predicted spike probability.
    pub probability: f64,
    /// The model's decision (`probability >= threshold`).
    pub spike: bool,
    /// The label target: forward volatility, or its ratio to trailing
    /// volatility for the relative label.
    pub target: f64,
    /// The model's spike threshold on the target.
    pub tau: f64,
    /// `target >= tau`: whether a spike followed.
    pub label: bool,
    /// Event time of the product's first row after the forward window, the
    /// row that completed the label, ns since the epoch.
    pub matured_at_ns: i64,
}

/// Ids shared by a prediction and the alert it raises:
/// `{product}/{event_time_ns}/{tie}/{model}/{version}`.
pub fn prediction_id(product: &str, event_time_ns: i64, tie: u32, model: &ModelId) -> String {
    format!(
        "{product}/{event_time_ns}/{tie}/{}/{}",
        model.name, model.version
    )
}

/// What happened to a model's `champion` alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelEventKind {
    /// A version was promoted to champion.
    Promoted,
    /// The champion was rolled back to the one before.
    RolledBack,
}

/// A change of a model's champion (a record on `models.events`, keyed by the
/// model name). Servers reload the champion from the registry when they see
/// one, so the registry stays the one source of truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelEvent {
    /// Promotion or rollback.
    pub kind: ModelEventKind,
    /// Registered model name.
    pub name: String,
    /// Champion before, if there was one.
    pub from: Option<u64>,
    /// Champion after.
    pub to: u64,
    /// When it happened, ns since the epoch.
    pub at_ns: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_the_row_and_the_model_version() {
        let m = ModelId {
            name: "volspike".into(),
            version: "3".into(),
            kind: "logistic".into(),
        };
        assert_eq!(
            prediction_id("BTC-USD", 1_700_000_000_000_000_000, 2, &m),
            "BTC-USD/1700000000000000000/2/volspike/3"
        );
        let e = ModelEvent {
            kind: ModelEventKind::RolledBack,
            name: "volspike".into(),
            from: Some(3),
            to: 2,
            at_ns: 5,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"kind\":\"rolled_back\""), "{json}");
        assert_eq!(serde_json::from_str::<ModelEvent>(&json).unwrap(), e);
    }
}
