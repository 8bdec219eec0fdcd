//! Does a label mean the same on another recorder? Each group's spike rate
//! (a recorder, a month) with tau taken from the other groups.
//!
//! A label that measures the market gives every group about the quantile's
//! share of spikes (10% at the 0.9 quantile), up to the market itself being
//! calmer or wilder there. A label that measures the recorder (tick-to-tick
//! returns, where recorders keep different shares of the ticker messages)
//! gives far more spikes on some groups than on others.

use serde::Serialize;
use volspike_core::FeatureRow;

use crate::dataset::{self, DatasetError, LabelConfig};
use volspike_model::reference::quantile;

/// One group's spike rate under tau from the other groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRate {
    /// The group's name.
    pub group: String,
    /// The group's labeled rows.
    pub rows: usize,
    /// `label.quantile` of the other groups' targets (`None` when they have none).
    pub tau: Option<f64>,
    /// Share of the group's labeled rows at or above `tau`.
    pub spike_rate: Option<f64>,
}

/// For each group, tau is `label.quantile` of the targets of every other
/// group's labeled rows (with `warm_only`, only warm rows), and its spike
/// rate the share of its own labeled rows at or above tau.
pub fn leave_one_out_spike_rates(
    groups: &[(String, Vec<FeatureRow>)],
    label: &LabelConfig,
    warm_only: bool,
) -> Result<Vec<GroupRate>, DatasetError> {
    let targets: Vec<Vec<f64>> = groups
        .iter()
        .map(|(_, rows)| dataset::build(rows, &[], label, warm_only).map(|(d, _)| d.target))
        .collect::<Result<_, _>>()?;
    Ok(groups
        .iter()
        .enumerate()
        .map(|(g, (name, _))| {
            let others: Vec<f64> = targets
                .iter()
                .enumerate()
                .filter(|&(o, _)| o != g)
                .flat_map(|(_, t)| t.iter().copied())
                .collect();
            let tau = quantile(&others, label.quantile);
            let own = &targets[g];
            let spike_rate = match tau {
                Some(tau) if !own.is_empty() => {
                    Some(own.iter().filter(|&&y| y >= tau).count() as f64 / own.len() as f64)
                }
                _ => None,
            };
            GroupRate {
                group: name.clone(),
                rows: own.len(),
                tau,
                spike_rate,
            }
        })
        .collect())
}

/// Highest over lowest spike rate among the groups with at least `min_rows`
/// labeled rows; `None` with fewer than two such groups or a rate of 0.
pub fn rate_spread(rates: &[GroupRate], min_rows: usize) -> Option<f64> {
    let r: Vec<f64> = rates
        .iter()
        .filter(|g| g.rows >= min_rows)
        .filter_map(|g| g.spike_rate)
        .collect();
    if r.len() < 2 {
        return None;
    }
    let hi = r.iter().copied().fold(f64::MIN, f64::max);
    let lo = r.iter().copied().fold(f64::MAX, f64::min);
    (lo > 0.0).then(|| hi / lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(group: &str, rows: usize, spike_rate: Option<f64>) -> GroupRate {
        GroupRate {
            group: group.into(),
            rows,
            tau: Some(1.0),
            spike_rate,
        }
    }

    #[test]
    fn spread_counts_only_groups_with_enough_rows() {
        let rates = [
            rate("a", 1000, Some(0.05)),
            rate("b", 1000, Some(0.2)),
            rate("tiny", 10, Some(0.9)),
            rate("none", 1000, None),
        ];
        assert_eq!(rate_spread(&rates, 100), Some(4.0));
        assert_eq!(rate_spread(&rates[..1], 100), None);
        assert_eq!(
            rate_spread(&[rate("z", 100, Some(0.0)), rate("y", 100, Some(0.1))], 1),
            None
        );
    }
}
