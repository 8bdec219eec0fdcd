//! What a spike is: the label definition every model file records, so
//! evaluation, inference and drift label new rows exactly as training did.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a spike is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// Forward volatility >= tau.
    Absolute,
    /// Forward volatility / trailing volatility >= tau: unusually volatile
    /// for current conditions.
    Relative,
}

/// The label definition, recorded with every model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LabelConfig {
    /// `absolute` or `relative`.
    pub kind: LabelKind,
    /// Forward window.
    #[serde(with = "humantime_serde")]
    pub horizon: Duration,
    /// tau is this quantile (0..1) of the training split's targets.
    pub quantile: f64,
    /// Trailing window of the relative label.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
}

impl LabelConfig {
    /// The label target of a row from its forward volatility and, for the
    /// relative label, its trailing volatility: `None` when the relative
    /// label has no positive trailing volatility. The one definition that
    /// training, evaluation and the drift worker's outcome join share.
    pub fn target(&self, forward: f64, trailing: Option<f64>) -> Option<f64> {
        match self.kind {
            LabelKind::Absolute => Some(forward),
            LabelKind::Relative => match trailing {
                Some(tr) if tr > 0.0 => Some(forward / tr),
                _ => None,
            },
        }
    }
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            kind: LabelKind::Absolute,
            horizon: Duration::from_secs(60),
            quantile: 0.9,
            lookback: Duration::from_secs(300),
        }
    }
}
