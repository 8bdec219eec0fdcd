//! The normalized tick: one ticker update for one product.

use serde::{Deserialize, Serialize};

/// A product id such as `BTC-USD`: kept inline (no heap allocation) up to
/// 24 bytes, which every Coinbase product id fits, so decoding a tick and
/// emitting its row allocate nothing for it.
pub type ProductId = compact_str::CompactString;

/// Version of the normalized tick record published on `ticks.raw`.
pub const TICK_SCHEMA_VERSION: u32 = 1;

/// Which Coinbase feed a tick came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// `wss://advanced-trade-ws.coinbase.com` (`channel: ticker`).
    AdvancedTrade,
    /// `wss://ws-feed.exchange.coinbase.com` (`type: ticker`).
    Exchange,
}

impl Feed {
    /// The name used in configuration, records and parquet.
    pub fn as_str(self) -> &'static str {
        match self {
            Feed::AdvancedTrade => "advanced_trade",
            Feed::Exchange => "exchange",
        }
    }
}

/// One ticker update, normalized from any feed or recording shape.
///
/// Times are nanoseconds since the Unix epoch, UTC. Optional fields are
/// `None` when the source did not carry them; they are never invented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// Product, e.g. `BTC-USD`.
    pub product_id: ProductId,
    /// Exchange time where the message has one, else the recorder's time.
    pub event_time_ns: i64,
    /// When the recorder or ingestor received the message, if known.
    pub receive_time_ns: Option<i64>,
    /// Last trade price.
    pub price: f64,
    /// Best bid price.
    pub best_bid: Option<f64>,
    /// Best ask price.
    pub best_ask: Option<f64>,
    /// Quantity at the best bid.
    pub best_bid_qty: Option<f64>,
    /// Quantity at the best ask.
    pub best_ask_qty: Option<f64>,
    /// Rolling 24-hour volume in base units.
    pub volume_24h: Option<f64>,
    /// Rolling 24-hour low.
    pub low_24h: Option<f64>,
    /// Rolling 24-hour high.
    pub high_24h: Option<f64>,
    /// Advanced Trade `sequence_num` or Exchange per-product `sequence`.
    pub sequence: Option<u64>,
    /// Exchange `trade_id` (Advanced Trade tickers carry none).
    pub trade_id: Option<u64>,
    /// The feed the tick came from.
    pub feed: Feed,
}

impl Tick {
    /// Mid price when both sides of the book are known and positive.
    pub fn mid(&self) -> Option<f64> {
        match (self.best_bid, self.best_ask) {
            (Some(b), Some(a)) if b > 0.0 && a > 0.0 => Some((b + a) / 2.0),
            _ => None,
        }
    }
}
