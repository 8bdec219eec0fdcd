//! Feature rows -> a labeled, time-ordered dataset.
//!
//! Each row's target is its forward realized volatility over (t, t +
//! horizon] (same product, never across a gap), or for the relative label
//! that divided by the trailing volatility over (t - lookback, t]. Rows whose
//! forward (or trailing) window is incomplete, and rows missing a model
//! input, are dropped and counted. The spike threshold `tau` is not chosen
//! here: it is a percentile of the training split's targets
//! ([`crate::split`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use volspike_core::{FEATURE_NAMES, FeatureRow};
use volspike_features::label::SeriesRef;
use volspike_features::{forward, trailing};
pub use volspike_model::label::{LabelConfig, LabelKind, LabelReturns};
pub use volspike_model::reference::quantile;

/// Model inputs by default: the trailing volatilities of the price path on
/// a 1 s clock over 10 s, 1 and 5 minutes, the same quantity on every
/// recorder. Leaving each recorder and each day of the shared recordings
/// out, they rank the relative clock label's spikes better than the tick
/// volatilities did (logistic regression, mean PR-AUC 0.486 against 0.442
/// and 0.573 against 0.501) and better than with `activity_ratio` or the
/// spread added (`docs/models.md`). The 30-minute one is left out: most
/// recordings are shorter than its window, so it would drop their rows.
///
/// The other features describe the product and the recorder as much as the
/// market: in the shared recordings ETH ticks at about 3/4 of BTC's rate,
/// with 1.2-1.6x its per-tick volatility and 30x its spread in basis
/// points, and recorders keep different subsets of the ticker messages.
/// Trained on one day, a model learns those
/// differences and they turn around on the next: on the shared recordings
/// `trade_intensity` ranks spikes with ROC-AUC 0.40 in training and 0.95 on
/// validation, `bid_ask_spread_bps` 0.59 and 0.15. `--inputs` adds them when
/// the training data spans the products and feeds the model will see
/// (`docs/models.md` has the measurements). Price levels (`mid_price`, the
/// spread in dollars) and `order_book_imbalance` (undefined without book
/// quantities, which most recorders drop) are never defaults.
pub const DEFAULT_FEATURES: [&str; 3] = [
    "clock_volatility_10s",
    "clock_volatility_1min",
    "clock_volatility_5min",
];

/// Features that are positive scales (volatilities, ranges, spreads, tick
/// rates, gaps, prices): models take their log (see
/// [`volspike_model::model::Scaler`]). Returns, the book imbalance and the 24 h
/// volume change are signed and enter as they are.
pub const SCALE_FEATURES: [&str; 15] = [
    "price_volatility_1min",
    "price_volatility_5min",
    "volatility_ratio",
    "bid_ask_spread",
    "bid_ask_spread_bps",
    "trade_intensity",
    "tick_count_5min",
    "high_low_range_5min",
    "time_since_prev_tick_s",
    "mid_price",
    "clock_volatility_10s",
    "clock_volatility_1min",
    "clock_volatility_5min",
    "clock_volatility_30min",
    "activity_ratio",
];

/// Labeled rows in time order (ties broken by product), features row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// Model inputs, in column order.
    pub feature_names: Vec<String>,
    /// Product of each row.
    pub product: Vec<String>,
    /// Event time of each row, ns.
    pub event_time_ns: Vec<i64>,
    /// Tie index of each row (with product and time, the row's key).
    pub tie: Vec<u32>,
    /// rows x features, row-major.
    pub x: Vec<f64>,
    /// Forward volatility, or its ratio to trailing volatility.
    pub target: Vec<f64>,
}

impl Dataset {
    /// Rows.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f64] {
        let f = self.feature_names.len();
        &self.x[i * f..(i + 1) * f]
    }

    /// Appends `other`'s rows in `rows` (same inputs).
    pub fn extend_from(&mut self, other: &Dataset, rows: std::ops::Range<usize>) {
        assert_eq!(self.feature_names, other.feature_names, "same inputs");
        let f = self.feature_names.len();
        self.product.extend_from_slice(&other.product[rows.clone()]);
        self.event_time_ns
            .extend_from_slice(&other.event_time_ns[rows.clone()]);
        self.tie.extend_from_slice(&other.tie[rows.clone()]);
        self.x
            .extend_from_slice(&other.x[rows.start * f..rows.end * f]);
        self.target.extend_from_slice(&other.target[rows]);
    }
}

/// Rows dropped while building a dataset, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetCounts {
    /// Feature rows read.
    pub rows_in: u64,
    /// Rows kept.
    pub rows_out: u64,
    /// Forward window incomplete (end of a segment or of the data) or with
    /// fewer than two returns.
    pub incomplete_forward: u64,
    /// Relative label: trailing window incomplete or too few returns, or zero.
    pub incomplete_trailing: u64,
    /// A model input was undefined (early in a segment, no book).
    pub missing_feature: u64,
    /// The row was not warm (its segment is younger than the feature
    /// windows) and only warm rows were asked for.
    #[serde(default)]
    pub cold: u64,
}

impl DatasetCounts {
    /// Adds `other`'s counts (datasets built from several groups of rows).
    pub fn add(&mut self, other: &DatasetCounts) {
        self.rows_in += other.rows_in;
        self.rows_out += other.rows_out;
        self.incomplete_forward += other.incomplete_forward;
        self.incomplete_trailing += other.incomplete_trailing;
        self.missing_feature += other.missing_feature;
        self.cold += other.cold;
    }
}

/// Errors building a dataset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasetError {
    /// A requested feature does not exist.
    #[error("unknown feature `{0}` (known: {known})", known = FEATURE_NAMES.join(", "))]
    UnknownFeature(String),
}

/// Labels `rows` (any order; each product's rows are sorted by time) and
/// keeps the rows that have a complete label and every feature in
/// `features`, and with `warm_only` only the warm ones.
pub fn build(
    rows: &[FeatureRow],
    features: &[&str],
    label: &LabelConfig,
    warm_only: bool,
) -> Result<(Dataset, DatasetCounts), DatasetError> {
    let columns: Vec<usize> = features
        .iter()
        .map(|f| {
            FEATURE_NAMES
                .iter()
                .position(|n| n == f)
                .ok_or_else(|| DatasetError::UnknownFeature((*f).to_owned()))
        })
        .collect::<Result<_, _>>()?;
    let mut counts = DatasetCounts {
        rows_in: rows.len() as u64,
        ..DatasetCounts::default()
    };
    let mut by_product: BTreeMap<&str, Vec<&FeatureRow>> = BTreeMap::new();
    for r in rows {
        by_product.entry(r.product_id.as_str()).or_default().push(r);
    }
    let horizon = label.horizon.as_nanos() as i64;
    let lookback = label.lookback.as_nanos() as i64;
    // (time, product, tie, features, target) of the kept rows.
    let mut kept: Vec<(i64, &str, u32, Vec<f64>, f64)> = Vec::new();
    for (product, mut series) in by_product {
        series.sort_by_key(|r| (r.event_time_ns, r.tie));
        let t: Vec<i64> = series.iter().map(|r| r.event_time_ns).collect();
        let ret: Vec<Option<f64>> = series.iter().map(|r| r.log_return).collect();
        let seg: Vec<bool> = series.iter().map(|r| r.segment_start).collect();
        let s = SeriesRef {
            event_time_ns: &t,
            log_return: &ret,
            segment_start: &seg,
        };
        let fwd_vol = forward(s, horizon, label.measured_on());
        let trailing_vol = match label.kind {
            LabelKind::Absolute => Vec::new(),
            LabelKind::Relative => trailing(s, lookback, label.measured_on()),
        };
        for (i, r) in series.iter().enumerate() {
            let Some(fwd) = fwd_vol[i] else {
                counts.incomplete_forward += 1;
                continue;
            };
            let Some(target) = label.target(fwd, trailing_vol.get(i).copied().flatten()) else {
                counts.incomplete_trailing += 1;
                continue;
            };
            if warm_only && !r.warm {
                counts.cold += 1;
                continue;
            }
            let values = r.values();
            let Some(x) = columns
                .iter()
                .map(|&c| values[c])
                .collect::<Option<Vec<f64>>>()
            else {
                counts.missing_feature += 1;
                continue;
            };
            kept.push((r.event_time_ns, product, r.tie, x, target));
        }
    }
    kept.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let mut d = Dataset {
        feature_names: features.iter().map(|f| (*f).to_owned()).collect(),
        ..Dataset::default()
    };
    for (t, p, tie, x, y) in kept {
        d.event_time_ns.push(t);
        d.tie.push(tie);
        d.product.push(p.to_owned());
        d.x.extend(x);
        d.target.push(y);
    }
    counts.rows_out = d.len() as u64;
    Ok((d, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(product: &str, t_s: i64, price: f64, prev: Option<f64>) -> FeatureRow {
        let lr = prev.map(|p: f64| (price / p).ln());
        FeatureRow {
            tie: 0,
            segment_start: prev.is_none(),
            warm: true,
            price,
            log_return: lr,
            price_return_1min: Some(0.0),
            price_return_5min: Some(0.0),
            price_volatility_1min: Some(1e-4),
            price_volatility_5min: Some(1e-4),
            volatility_ratio: Some(1.0),
            bid_ask_spread: Some(0.01),
            bid_ask_spread_bps: Some(1.0),
            order_book_imbalance: Some(0.0),
            trade_intensity: Some(10.0),
            tick_count_5min: Some(50.0),
            high_low_range_5min: Some(0.001),
            time_since_prev_tick_s: prev.map(|_| 10.0),
            mid_price: Some(price),
            clock_volatility_10s: Some(1e-4),
            clock_volatility_1min: Some(1e-4),
            clock_volatility_5min: Some(1e-4),
            ..FeatureRow::bare(product, t_s * 1_000_000_000, price)
        }
    }

    fn series(product: &str, n: i64, step_s: i64) -> Vec<FeatureRow> {
        let mut out = Vec::new();
        let mut prev = None;
        for i in 0..n {
            let price = 100.0 * (1.0 + 0.001 * ((i * 7) % 5) as f64);
            out.push(row(product, i * step_s, price, prev));
            prev = Some(price);
        }
        out
    }

    #[test]
    fn rows_without_a_full_forward_window_or_a_feature_are_dropped_and_counted() {
        let mut rows = series("BTC-USD", 30, 10); // 0..290 s
        rows.extend(series("ETH-USD", 30, 10));
        let inputs = [
            "log_return",
            "price_volatility_1min",
            "time_since_prev_tick_s",
        ];
        let (d, c) = build(&rows, &inputs, &LabelConfig::default(), false).unwrap();
        // The first row of each product lacks log_return and
        // time_since_prev; the last rows of each lack 60 s of future (t >
        // 230 s: 6 rows each).
        assert_eq!(c.missing_feature, 2);
        assert_eq!(c.incomplete_forward, 12);
        assert_eq!(c.rows_out, 60 - 14);
        assert_eq!(d.len(), 46);
        assert!(d.event_time_ns.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(d.row(0).len(), inputs.len());
        let e = build(&rows, &["nope"], &LabelConfig::default(), false).unwrap_err();
        assert_eq!(e, DatasetError::UnknownFeature("nope".into()));
    }

    #[test]
    fn cold_rows_are_dropped_and_counted_only_when_warm_rows_are_asked_for() {
        let mut rows = series("BTC-USD", 30, 10);
        for r in &mut rows[..12] {
            r.warm = false;
        }
        let cfg = LabelConfig::default();
        let (all, c) = build(&rows, &DEFAULT_FEATURES, &cfg, false).unwrap();
        assert_eq!((all.len(), c.cold), (24, 0));
        let (warm, c) = build(&rows, &DEFAULT_FEATURES, &cfg, true).unwrap();
        // Rows 0..12 are cold; rows 24.. lack 60 s of future either way.
        assert_eq!((warm.len(), c.cold, c.incomplete_forward), (12, 12, 6));
    }

    #[test]
    fn the_relative_label_needs_the_trailing_window_too() {
        let rows = series("BTC-USD", 60, 10); // 0..590 s
        let cfg = LabelConfig {
            kind: LabelKind::Relative,
            ..LabelConfig::default()
        };
        let (d, c) = build(&rows, &DEFAULT_FEATURES, &cfg, false).unwrap();
        // Trailing 300 s complete from t = 300 s; forward complete to 530 s.
        assert_eq!(c.incomplete_forward, 6);
        assert_eq!(c.incomplete_trailing, 30);
        assert_eq!(d.len(), 24);
        assert!(d.target.iter().all(|&v| v > 0.0));
    }
}
