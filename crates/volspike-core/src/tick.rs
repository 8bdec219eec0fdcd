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

/// Where a tick on `ticks.raw` came from: the ingestor's connection, its
/// frame number (position in the journal) and the frame itself.
#[derive(Debug, Clone, Copy)]
pub struct TickSource<'a> {
    /// Connection id; unique across the ingestor's restarts.
    pub conn: u64,
    /// Frame number, increasing across restarts; the journal line of the frame.
    pub frame: u64,
    /// The frame as received (JSON).
    pub raw: &'a serde_json::value::RawValue,
}

/// The record the ingestor publishes on `ticks.raw`: the original system's
/// fields (`timestamp, product_id, price, volume_24h, low_24h, high_24h,
/// best_bid, best_ask, raw`) plus every field of [`Tick`] and the source.
/// `decode_line` reads it back to exactly the same [`Tick`]
/// (`schema_version` marks it; its flat fields are authoritative).
#[derive(Serialize)]
struct TickRecord<'a> {
    schema_version: u32,
    /// Event time, RFC 3339 with nanoseconds (UTC).
    timestamp: String,
    #[serde(flatten)]
    tick: &'a Tick,
    conn: u64,
    frame: u64,
    raw: &'a serde_json::value::RawValue,
}

/// Appends the `ticks.raw` JSON record of `tick` to `out`.
pub fn write_tick_record(
    out: &mut Vec<u8>,
    tick: &Tick,
    source: TickSource<'_>,
) -> serde_json::Result<()> {
    serde_json::to_writer(
        out,
        &TickRecord {
            schema_version: TICK_SCHEMA_VERSION,
            timestamp: crate::time::format_timestamp(tick.event_time_ns),
            tick,
            conn: source.conn,
            frame: source.frame,
            raw: source.raw,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_frame, decode_line};

    #[test]
    fn a_tick_record_decodes_to_the_same_tick() {
        let frames = [
            r#"{"channel":"ticker","timestamp":"2026-04-04T21:13:43.291084825Z","sequence_num":7,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"67223.5","volume_24_h":"2401.16054813","low_24_h":"66770.64","high_24_h":"67535.2","best_bid":"67223.49","best_ask":"67223.5","best_bid_quantity":"0.56309243","best_ask_quantity":"0.1"}]}]}"#,
            r#"{"type":"ticker","sequence":115498669093,"product_id":"ETH-USD","price":"3001.17","volume_24h":"1.5","best_bid":"3001.1","best_ask":"3001.2","time":"2025-11-12T07:20:11.615272Z","trade_id":900701309}"#,
            r#"{"type":"ticker","product_id":"ETH-USD","price":"0.1","time":"0001-01-01T00:00:00Z"}"#,
        ];
        for (i, frame) in frames.iter().enumerate() {
            let mut ticks = Vec::new();
            decode_frame(frame.as_bytes(), 1_775_337_223_123_456_789, &mut ticks).unwrap();
            let raw: &serde_json::value::RawValue = serde_json::from_str(frame).unwrap();
            let mut record = Vec::new();
            let source = TickSource {
                conn: 3,
                frame: 40 + i as u64,
                raw,
            };
            write_tick_record(&mut record, &ticks[0], source).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&record).unwrap();
            assert_eq!(v["frame"], 40 + i as u64);
            assert!(v["timestamp"].is_string() && v["raw"].is_object());
            let mut back = Vec::new();
            decode_line(&record, &mut back).unwrap();
            assert_eq!(back, ticks, "record {}", String::from_utf8_lossy(&record));
        }
    }
}
