//! The feature row: what the engine emits per tick and `ticks.features` carries.
//!
//! Definitions of every feature are in `docs/features.md`.

use serde::{Deserialize, Serialize};

use crate::tick::{Feed, ProductId};

/// Version of the feature set and of the `ticks.features` record.
///
/// 2 added the clock features (`clock_volatility_*`, `activity_ratio`);
/// version-1 records read with them absent.
pub const FEATURE_SCHEMA_VERSION: u32 = 2;

/// Names of the numeric features, in the order of [`FeatureRow::values`].
pub const FEATURE_NAMES: [&str; 20] = [
    "log_return",
    "price_return_1min",
    "price_return_5min",
    "price_volatility_1min",
    "price_volatility_5min",
    "volatility_ratio",
    "bid_ask_spread",
    "bid_ask_spread_bps",
    "order_book_imbalance",
    "volume_24h_pct_change",
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

/// Features of one tick. Numeric features are `None` where they are not
/// defined (no previous tick, no book, window with too few returns); never NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRow {
    /// [`FEATURE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Product, e.g. `BTC-USD`.
    pub product_id: ProductId,
    /// Event time of the tick, ns since the epoch.
    pub event_time_ns: i64,
    /// Index of this tick among the product's ticks with the same event time
    /// (0 for the first); with product and time it identifies the row.
    pub tie: u32,
    /// Sequence number of the tick, if the feed gave one.
    pub sequence: Option<u64>,
    /// Trade id of the tick, if the feed gave one.
    pub trade_id: Option<u64>,
    /// Feed the tick came from.
    pub feed: Feed,
    /// True when this tick starts a segment: the first tick of the product, or
    /// the first after a gap longer than the configured limit.
    pub segment_start: bool,
    /// True when every window is complete: the segment covers the full 5 minutes.
    pub warm: bool,
    /// Last trade price.
    pub price: f64,
    /// ln(price / previous price) in the segment.
    pub log_return: Option<f64>,
    /// price / (last price before the 1-minute window) - 1.
    pub price_return_1min: Option<f64>,
    /// price / (last price before the 5-minute window) - 1.
    pub price_return_5min: Option<f64>,
    /// Sample standard deviation of tick log returns in the 1-minute window.
    pub price_volatility_1min: Option<f64>,
    /// Sample standard deviation of tick log returns in the 5-minute window.
    pub price_volatility_5min: Option<f64>,
    /// price_volatility_1min / price_volatility_5min.
    pub volatility_ratio: Option<f64>,
    /// best_ask - best_bid.
    pub bid_ask_spread: Option<f64>,
    /// Spread over mid, in basis points.
    pub bid_ask_spread_bps: Option<f64>,
    /// (bid qty - ask qty) / (bid qty + ask qty).
    pub order_book_imbalance: Option<f64>,
    /// volume_24h / (volume_24h before the 1-minute window) - 1.
    pub volume_24h_pct_change: Option<f64>,
    /// Ticks in the 1-minute window, per minute.
    pub trade_intensity: Option<f64>,
    /// Ticks in the 5-minute window.
    pub tick_count_5min: Option<f64>,
    /// (max - min) / price over the 5-minute window.
    pub high_low_range_5min: Option<f64>,
    /// Seconds since the previous tick of the product in the segment.
    pub time_since_prev_tick_s: Option<f64>,
    /// (best_bid + best_ask) / 2.
    pub mid_price: Option<f64>,
    /// Sample standard deviation of the 1 s clock returns of the last 10 s.
    #[serde(default)]
    pub clock_volatility_10s: Option<f64>,
    /// The same over the last minute.
    #[serde(default)]
    pub clock_volatility_1min: Option<f64>,
    /// The same over the last 5 minutes: the relative label's trailing
    /// volatility on the clock.
    #[serde(default)]
    pub clock_volatility_5min: Option<f64>,
    /// The same over the last 30 minutes.
    #[serde(default)]
    pub clock_volatility_30min: Option<f64>,
    /// Ticks in the last minute over the mean minute of the last 30 (or of
    /// the segment, once it has lasted 5 minutes): activity relative to the
    /// product's own level on this recorder.
    #[serde(default)]
    pub activity_ratio: Option<f64>,
}

impl FeatureRow {
    /// Numeric features in the order of [`FEATURE_NAMES`].
    pub fn values(&self) -> [Option<f64>; FEATURE_NAMES.len()] {
        [
            self.log_return,
            self.price_return_1min,
            self.price_return_5min,
            self.price_volatility_1min,
            self.price_volatility_5min,
            self.volatility_ratio,
            self.bid_ask_spread,
            self.bid_ask_spread_bps,
            self.order_book_imbalance,
            self.volume_24h_pct_change,
            self.trade_intensity,
            self.tick_count_5min,
            self.high_low_range_5min,
            self.time_since_prev_tick_s,
            self.mid_price,
            self.clock_volatility_10s,
            self.clock_volatility_1min,
            self.clock_volatility_5min,
            self.clock_volatility_30min,
            self.activity_ratio,
        ]
    }

    /// A warm row of `product` at `event_time_ns` (tie 0, Advanced Trade)
    /// with last price `price` and no feature defined: where tests and
    /// tools start, setting the fields they need with `..`.
    pub fn bare(product: &str, event_time_ns: i64, price: f64) -> FeatureRow {
        FeatureRow {
            schema_version: FEATURE_SCHEMA_VERSION,
            product_id: product.into(),
            event_time_ns,
            tie: 0,
            sequence: None,
            trade_id: None,
            feed: Feed::AdvancedTrade,
            segment_start: false,
            warm: true,
            price,
            log_return: None,
            price_return_1min: None,
            price_return_5min: None,
            price_volatility_1min: None,
            price_volatility_5min: None,
            volatility_ratio: None,
            bid_ask_spread: None,
            bid_ask_spread_bps: None,
            order_book_imbalance: None,
            volume_24h_pct_change: None,
            trade_intensity: None,
            tick_count_5min: None,
            high_low_range_5min: None,
            time_since_prev_tick_s: None,
            mid_price: None,
            clock_volatility_10s: None,
            clock_volatility_1min: None,
            clock_volatility_5min: None,
            clock_volatility_30min: None,
            activity_ratio: None,
        }
    }

    /// The key that identifies a row across runs: product, event time, tie.
    pub fn key(&self) -> (&str, i64, u32) {
        (&self.product_id, self.event_time_ns, self.tie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_record_reads_with_the_clock_features_absent() {
        let v2 = FeatureRow {
            clock_volatility_1min: Some(1e-4),
            activity_ratio: Some(1.5),
            ..FeatureRow::bare("BTC-USD", 1, 100.0)
        };
        let mut v1 = serde_json::to_value(&v2).unwrap();
        let fields = v1.as_object_mut().unwrap();
        for name in &FEATURE_NAMES[15..] {
            fields.remove(*name);
        }
        fields.insert("schema_version".into(), 1.into());
        let read: FeatureRow = serde_json::from_value(v1).unwrap();
        assert_eq!(read.values()[..15], v2.values()[..15]);
        assert!(read.values()[15..].iter().all(Option::is_none));
    }
}
