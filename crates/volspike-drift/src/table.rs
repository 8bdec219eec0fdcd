//! Drift between two tables of feature rows, feature by feature: what
//! `volspike drift compare` reports.
//!
//! A feature's sample is its value on warm rows (complete windows, as
//! training uses) where it is defined; rows left out are counted, never
//! dropped silently.

use volspike_core::{FEATURE_NAMES, FeatureRow};

use crate::StatsError;
use crate::compare::{Comparison, Reference, adjust};

/// How many rows of a table one feature's sample used, and why others
/// were left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowsUsed {
    /// Rows in the table.
    pub rows: u64,
    /// Rows left out because their windows were not complete.
    pub not_warm: u64,
    /// Warm rows where the feature is undefined (null).
    pub undefined: u64,
    /// Values used.
    pub used: u64,
}

/// One feature's drift between a reference and a current table.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureComparison {
    /// Feature name.
    pub name: String,
    /// Rows of the reference table.
    pub reference_rows: RowsUsed,
    /// Rows of the current table.
    pub current_rows: RowsUsed,
    /// The statistics, or why there are none (a side without values).
    pub result: Result<Comparison, StatsError>,
    /// KS p-value after Benjamini-Hochberg across the compared features.
    pub ks_pvalue_bh: Option<f64>,
    /// KS p-value after Bonferroni across the compared features.
    pub ks_pvalue_bonferroni: Option<f64>,
}

/// The features whose distribution can stay put over time: every feature
/// but the price levels (`mid_price`, `bid_ask_spread` in dollars), which
/// wander with the market, and the book and volume ones, which many
/// recorders and the simulator leave empty or flat, and
/// `clock_volatility_30min`, which moves so slowly that a few minutes of it
/// are one value repeated: KS, which assumes independent draws, alarms on
/// 12% of the stable simulated windows instead of 5%. What the drift tests,
/// `volspike bench drift` and the worker (unless `drift.inputs` says
/// otherwise) watch.
pub const STATIONARY_FEATURES: [&str; 14] = [
    "log_return",
    "price_return_1min",
    "price_return_5min",
    "price_volatility_1min",
    "price_volatility_5min",
    "volatility_ratio",
    "bid_ask_spread_bps",
    "trade_intensity",
    "tick_count_5min",
    "high_low_range_5min",
    "clock_volatility_10s",
    "clock_volatility_1min",
    "clock_volatility_5min",
    "activity_ratio",
];

/// A feature name that is not one of [`FEATURE_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature {0:?}; features are {names}", names = FEATURE_NAMES.join(", "))]
pub struct UnknownFeature(pub String);

/// The index of `name` in [`FEATURE_NAMES`].
pub fn feature_index(name: &str) -> Result<usize, UnknownFeature> {
    FEATURE_NAMES
        .iter()
        .position(|&n| n == name)
        .ok_or_else(|| UnknownFeature(name.to_owned()))
}

/// Feature `index`'s sample: its values on warm rows where it is defined.
pub fn warm_values(rows: &[FeatureRow], index: usize) -> (Vec<f64>, RowsUsed) {
    let mut used = RowsUsed {
        rows: rows.len() as u64,
        ..RowsUsed::default()
    };
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        if !row.warm {
            used.not_warm += 1;
            continue;
        }
        // Rows never hold NaN (FeatureRow's contract), but a file written
        // by something else might: such a value counts as undefined.
        match row.values()[index] {
            Some(v) if v.is_finite() => values.push(v),
            _ => used.undefined += 1,
        }
    }
    used.used = values.len() as u64;
    (values, used)
}

/// Compares each of `inputs` (all features when empty) between the two
/// tables, and adjusts the KS p-values across the features that have one.
pub fn compare_rows(
    reference: &[FeatureRow],
    current: &[FeatureRow],
    inputs: &[String],
) -> Result<Vec<FeatureComparison>, UnknownFeature> {
    let names: Vec<String> = if inputs.is_empty() {
        FEATURE_NAMES.iter().map(|&n| n.to_owned()).collect()
    } else {
        inputs.to_vec()
    };
    let indices = names
        .iter()
        .map(|n| feature_index(n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: Vec<FeatureComparison> = names
        .into_iter()
        .zip(indices)
        .map(|(name, index)| {
            let (r, reference_rows) = warm_values(reference, index);
            let (c, current_rows) = warm_values(current, index);
            let result = Reference::new(&r).and_then(|r| r.compare(&c));
            FeatureComparison {
                name,
                reference_rows,
                current_rows,
                result,
                ks_pvalue_bh: None,
                ks_pvalue_bonferroni: None,
            }
        })
        .collect();
    let compared: Vec<Comparison> = out.iter().filter_map(|f| f.result.clone().ok()).collect();
    let adjusted = adjust(&compared);
    for (k, f) in out.iter_mut().filter(|f| f.result.is_ok()).enumerate() {
        f.ks_pvalue_bh = Some(adjusted.bh[k]);
        f.ks_pvalue_bonferroni = Some(adjusted.bonferroni[k]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(warm: bool, log_return: Option<f64>, spread: Option<f64>) -> FeatureRow {
        FeatureRow {
            tie: 0,
            segment_start: false,
            warm,
            price: 1.0,
            log_return,
            bid_ask_spread: spread,
            ..FeatureRow::bare("BTC-USD", 0, 1.0)
        }
    }

    #[test]
    fn rows_left_out_are_counted_and_a_side_without_values_is_an_error() {
        let reference: Vec<FeatureRow> = (0..40)
            .map(|i| row(i % 4 != 0, Some(i as f64), (i % 2 == 0).then_some(1.0)))
            .chain([row(true, Some(f64::NAN), None)])
            .collect();
        let current = vec![row(true, Some(3.0), None), row(false, Some(1.0), None)];
        let inputs = ["log_return".to_owned(), "bid_ask_spread".to_owned()];
        let out = compare_rows(&reference, &current, &inputs).unwrap();
        let lr = &out[0];
        assert_eq!(
            lr.reference_rows,
            RowsUsed {
                rows: 41,
                not_warm: 10,
                undefined: 1,
                used: 30
            }
        );
        assert_eq!(lr.current_rows.used, 1);
        assert!(lr.result.is_ok() && lr.ks_pvalue_bh.is_some());
        let spread = &out[1];
        assert_eq!(spread.current_rows.undefined, 1);
        assert_eq!(spread.result, Err(StatsError::Empty("current")));
        assert_eq!(spread.ks_pvalue_bh, None);
        // One feature compared: the adjustments leave its p-value alone.
        assert_eq!(
            lr.ks_pvalue_bonferroni,
            lr.result.as_ref().ok().map(|c| c.ks_pvalue)
        );
        assert_eq!(
            compare_rows(&reference, &current, &["spread".to_owned()]),
            Err(UnknownFeature("spread".to_owned()))
        );
    }
}
