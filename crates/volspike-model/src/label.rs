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

/// Which returns the volatility of a label is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelReturns {
    /// The last price on a clock of `step`: the same quantity whatever
    /// share of the ticker messages a recorder kept.
    Clock,
    /// Tick to tick (the default, and what model files written before the
    /// clock label mean): larger where a recorder kept fewer messages.
    Tick,
}

fn tick_returns() -> LabelReturns {
    LabelReturns::Tick
}

fn one_second() -> Duration {
    Duration::from_secs(1)
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
    /// `clock` or `tick` returns (absent in older files: `tick`).
    #[serde(default = "tick_returns")]
    pub returns: LabelReturns,
    /// The clock's step.
    #[serde(default = "one_second", with = "humantime_serde")]
    pub step: Duration,
}

impl LabelConfig {
    /// The returns in words, for reports: `1s clock returns`, `tick returns`.
    pub fn returns_text(&self) -> String {
        match self.returns {
            LabelReturns::Tick => "tick returns".to_owned(),
            LabelReturns::Clock => {
                format!(
                    "{} clock returns",
                    humantime_serde::re::humantime::format_duration(self.step)
                )
            }
        }
    }

    /// The returns the labeler measures volatility on.
    pub fn measured_on(&self) -> volspike_features::Returns {
        match self.returns {
            LabelReturns::Tick => volspike_features::Returns::Tick,
            LabelReturns::Clock => volspike_features::Returns::Clock(
                i64::try_from(self.step.as_nanos()).unwrap_or(i64::MAX),
            ),
        }
    }

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
            returns: LabelReturns::Tick,
            step: one_second(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_without_the_returns_field_keep_the_tick_label() {
        let old = r#"{"kind": "absolute", "horizon": "60s", "quantile": 0.9, "lookback": "5m"}"#;
        let l: LabelConfig = serde_json::from_str(old).unwrap();
        assert_eq!(l.returns, LabelReturns::Tick);
        assert_eq!(l.measured_on(), volspike_features::Returns::Tick);
        let clock = LabelConfig {
            returns: LabelReturns::Clock,
            ..LabelConfig::default()
        };
        let back: LabelConfig =
            serde_json::from_str(&serde_json::to_string(&clock).unwrap()).unwrap();
        assert_eq!(back, clock);
        assert_eq!(
            back.measured_on(),
            volspike_features::Returns::Clock(1_000_000_000)
        );
    }
}
