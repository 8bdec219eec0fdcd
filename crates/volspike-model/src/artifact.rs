//! The model file: everything needed to score and to explain a model.
//!
//! JSON, versioned by `format_version`. It holds the model (inputs in order,
//! scaler, parameters, decision threshold), the label definition and tau it
//! was trained for, the training span and its metrics, so `volspike
//! evaluate` can label new data exactly as training did, and reference
//! distributions of the inputs and scores for drift checks.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::alerts::{AlertMetrics, AlertPolicy};
use crate::label::LabelConfig;
use crate::metrics::Metrics;
use crate::model::Model;
use crate::reference::Distribution;
use crate::validate::{MAX_MODEL_FILE_BYTES, validate};

/// The current model file format. 2: the model may carry a calibration and
/// the label a clock; a build that reads only 1 would score such a file
/// without them (and against a threshold chosen on calibrated scores), so it
/// refuses the file instead. 3: the file may carry an alert policy; a build
/// that reads only 2 would alert on the fixed fallback threshold, which on
/// another period may never alert.
pub const FORMAT_VERSION: u32 = 3;

/// A saved model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// `baseline`, `logistic`, ...
    pub name: String,
    /// The model.
    pub model: Model,
    /// What a spike is.
    pub label: LabelConfig,
    /// Spike threshold on the label target, from the training split.
    pub tau: f64,
    /// First and last event time of the training rows, ns.
    pub train_span_ns: (i64, i64),
    /// Metrics on validation.
    pub validation: Metrics,
    /// Metrics on test.
    pub test: Metrics,
    /// How much each input matters (sums to 1), in input order.
    #[serde(default)]
    pub importances: Vec<f64>,
    /// Every input's distribution on the training rows.
    #[serde(default)]
    pub reference: Vec<Distribution>,
    /// The scores' distribution on validation.
    #[serde(default)]
    pub score_reference: Option<Distribution>,
    /// The training configuration that produced the model (volspike-train's
    /// `TrainConfig`), so the drift worker trains its challengers the same
    /// way; absent from files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
    /// How scores become alerts; `None` in files from before the policy,
    /// which alert at the model's threshold ([`ModelFile::alert_policy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_policy: Option<AlertPolicy>,
    /// Alert-level metrics of the policy on validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_alerts: Option<AlertMetrics>,
    /// Alert-level metrics of the policy on test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_alerts: Option<AlertMetrics>,
}

impl ModelFile {
    /// For each model input, its index in [`volspike_core::FEATURE_NAMES`]:
    /// how live rows are fed to the model. An error names an input the
    /// featurizer does not compute, so the model cannot be served.
    pub fn live_index(&self) -> Result<Vec<usize>, String> {
        self.model
            .feature_names
            .iter()
            .map(|f| {
                volspike_core::FEATURE_NAMES
                    .iter()
                    .position(|n| n == f)
                    .ok_or_else(|| format!("model input `{f}` is not a feature volspike computes"))
            })
            .collect()
    }

    /// The alert policy: the file's own, else (files from before the
    /// policy) the model's fixed threshold behind the historical gate.
    pub fn alert_policy(&self) -> AlertPolicy {
        self.alert_policy
            .clone()
            .unwrap_or_else(|| AlertPolicy::fixed(self.model.threshold))
    }

    /// Writes the file (pretty JSON).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }

    /// Reads a file, refusing files over [`MAX_MODEL_FILE_BYTES`] before
    /// reading them, then as [`ModelFile::from_json`].
    pub fn load(path: &Path) -> Result<ModelFile, String> {
        use std::io::Read as _;
        let origin = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| format!("reading {origin}: {e}"))?;
        let mut bytes = Vec::new();
        // One byte past the limit is enough to know it is too large.
        file.take(MAX_MODEL_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading {origin}: {e}"))?;
        ModelFile::from_json(&bytes, &origin)
    }

    /// Parses a model file's bytes (`origin` names them in errors), refusing
    /// files over [`MAX_MODEL_FILE_BYTES`], formats newer than this build
    /// knows and any file [`validate`] finds malformed. Every model file
    /// volspike reads comes through here.
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<ModelFile, String> {
        if bytes.len() as u64 > MAX_MODEL_FILE_BYTES {
            return Err(format!(
                "{origin} is larger than {} MiB; no model volspike trains is",
                MAX_MODEL_FILE_BYTES >> 20
            ));
        }
        let f: ModelFile = serde_json::from_slice(bytes)
            .map_err(|e| format!("{origin} is not a volspike model file: {e}"))?;
        if f.format_version > FORMAT_VERSION {
            return Err(format!(
                "{origin} has model format {}; this build reads up to {FORMAT_VERSION}",
                f.format_version
            ));
        }
        validate(&f).map_err(|e| format!("{origin} is malformed: {e}"))?;
        Ok(f)
    }
}
