//! Coinbase WebSocket messages, written from [`Tick`]s: the one encoder of
//! the market simulator's NDJSON and the exchange simulator's frames.
//!
//! Numbers are written as Coinbase writes them, decimal strings, in the
//! shortest form that parses back to the same `f64`; a field the tick lacks
//! is left out (never invented). Every function returns one JSON text.

use serde_json::{Map, Value, json};
use volspike_core::Tick;
use volspike_core::time::format_timestamp;

/// The `type` of an Advanced Trade ticker event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickerEvent {
    /// The first event of a subscription.
    Snapshot,
    /// Every later event.
    Update,
}

impl TickerEvent {
    fn as_str(self) -> &'static str {
        match self {
            TickerEvent::Snapshot => "snapshot",
            TickerEvent::Update => "update",
        }
    }
}

/// Field names of price, 24h volume, low, high, best bid, best ask, bid
/// quantity and ask quantity in each protocol.
const ADVANCED_TRADE_NAMES: [&str; 8] = [
    "price",
    "volume_24_h",
    "low_24_h",
    "high_24_h",
    "best_bid",
    "best_ask",
    "best_bid_quantity",
    "best_ask_quantity",
];
const EXCHANGE_NAMES: [&str; 8] = [
    "price",
    "volume_24h",
    "low_24h",
    "high_24h",
    "best_bid",
    "best_ask",
    "best_bid_size",
    "best_ask_size",
];

/// Adds a tick's numbers under `names`, leaving out the ones it lacks.
fn insert_numbers(o: &mut Map<String, Value>, t: &Tick, names: &[&str; 8]) {
    let values = [
        Some(t.price),
        t.volume_24h,
        t.low_24h,
        t.high_24h,
        t.best_bid,
        t.best_ask,
        t.best_bid_qty,
        t.best_ask_qty,
    ];
    for (name, v) in names.iter().zip(values) {
        if let Some(v) = v {
            // `{}` of an f64 is its shortest round-trip decimal.
            o.insert((*name).into(), json!(format!("{v}")));
        }
    }
}

/// An Advanced Trade `ticker` message carrying `ticks` (one envelope, as
/// Coinbase batches tickers of several products). Event time and
/// `sequence_num` are the first tick's; a tick without a sequence gives a
/// message without one (an invented number would change the decoded tick).
pub fn advanced_trade_ticker(ticks: &[&Tick], event: TickerEvent) -> String {
    let first = ticks.first().expect("a ticker message carries a tick");
    let tickers: Vec<Value> = ticks
        .iter()
        .map(|t| {
            let mut o = Map::new();
            o.insert("type".into(), json!("ticker"));
            o.insert("product_id".into(), json!(t.product_id.as_str()));
            insert_numbers(&mut o, t, &ADVANCED_TRADE_NAMES);
            Value::Object(o)
        })
        .collect();
    let mut envelope = Map::new();
    envelope.insert("channel".into(), json!("ticker"));
    envelope.insert(
        "timestamp".into(),
        json!(format_timestamp(first.event_time_ns)),
    );
    if let Some(n) = first.sequence {
        envelope.insert("sequence_num".into(), json!(n));
    }
    envelope.insert(
        "events".into(),
        json!([{"type": event.as_str(), "tickers": tickers}]),
    );
    Value::Object(envelope).to_string()
}

/// An Advanced Trade `heartbeats` message at `time_ns`.
pub fn advanced_trade_heartbeat(time_ns: i64, sequence: u64, counter: u64) -> String {
    let time = format_timestamp(time_ns);
    json!({
        "channel": "heartbeats",
        "timestamp": time,
        "sequence_num": sequence,
        "events": [{"current_time": time, "heartbeat_counter": counter}],
    })
    .to_string()
}

/// The Advanced Trade answer to a subscribe: the full current set.
pub fn advanced_trade_subscriptions(
    time_ns: i64,
    sequence: u64,
    products: &[String],
    heartbeats: bool,
) -> String {
    let mut subs = Map::new();
    subs.insert("ticker".into(), json!(products));
    if heartbeats {
        subs.insert("heartbeats".into(), json!(products));
    }
    json!({
        "channel": "subscriptions",
        "timestamp": format_timestamp(time_ns),
        "sequence_num": sequence,
        "events": [{"subscriptions": subs}],
    })
    .to_string()
}

/// An Exchange `ticker` message: one tick, with its own time, per-product
/// `sequence` and `trade_id` where it has them.
pub fn exchange_ticker(t: &Tick) -> String {
    let mut o = Map::new();
    o.insert("type".into(), json!("ticker"));
    if let Some(n) = t.sequence {
        o.insert("sequence".into(), json!(n));
    }
    o.insert("product_id".into(), json!(t.product_id.as_str()));
    insert_numbers(&mut o, t, &EXCHANGE_NAMES);
    o.insert("time".into(), json!(format_timestamp(t.event_time_ns)));
    if let Some(id) = t.trade_id {
        o.insert("trade_id".into(), json!(id));
    }
    Value::Object(o).to_string()
}

/// An Exchange `heartbeat` for one product.
pub fn exchange_heartbeat(product: &str, counter: u64, last_trade_id: u64, time_ns: i64) -> String {
    json!({
        "type": "heartbeat", "sequence": counter, "last_trade_id": last_trade_id,
        "product_id": product, "time": format_timestamp(time_ns),
    })
    .to_string()
}

/// The Exchange answer to a subscribe.
pub fn exchange_subscriptions(products: &[String], heartbeats: bool) -> String {
    let mut channels = vec![json!({"name": "ticker", "product_ids": products})];
    if heartbeats {
        channels.push(json!({"name": "heartbeat", "product_ids": products}));
    }
    json!({"type": "subscriptions", "channels": channels}).to_string()
}

/// An error message (both feeds use this shape).
pub fn error(message: &str, reason: &str) -> String {
    json!({"type": "error", "message": message, "reason": reason}).to_string()
}

/// A frame cut off mid-message, as a broken connection or recorder leaves.
pub const MALFORMED: &str = "{\"channel\": \"ticker\", \"events\": [{\"tick";

#[cfg(test)]
mod tests {
    use volspike_core::{Feed, decode_line};

    use super::*;

    fn tick(feed: Feed) -> Tick {
        Tick {
            product_id: "BTC-USD".into(),
            event_time_ns: 1_767_225_600_123_456_789,
            receive_time_ns: None,
            price: 67_000.01,
            best_bid: Some(67_000.0),
            best_ask: Some(67_000.01),
            best_bid_qty: Some(0.12345678),
            best_ask_qty: None,
            volume_24h: Some(2_400.5),
            low_24h: Some(65_660.0),
            high_24h: Some(68_340.0),
            sequence: Some(41),
            trade_id: (feed == Feed::Exchange).then_some(900),
            feed,
        }
    }

    #[test]
    fn every_ticker_frame_decodes_to_its_tick() {
        let at = tick(Feed::AdvancedTrade);
        let mut got = Vec::new();
        decode_line(
            advanced_trade_ticker(&[&at], TickerEvent::Snapshot).as_bytes(),
            &mut got,
        )
        .unwrap();
        assert_eq!(got, vec![at]);
        let ex = tick(Feed::Exchange);
        let mut got = Vec::new();
        decode_line(exchange_ticker(&ex).as_bytes(), &mut got).unwrap();
        assert_eq!(got, vec![ex]);
    }

    #[test]
    fn control_frames_decode_as_control_and_malformed_does_not_decode() {
        for frame in [
            advanced_trade_heartbeat(0, 0, 1),
            advanced_trade_subscriptions(0, 0, &["BTC-USD".into()], true),
            exchange_heartbeat("BTC-USD", 3, 900, 0),
            exchange_subscriptions(&["BTC-USD".into()], true),
            error("Failed to subscribe", "X is not a valid product"),
        ] {
            let kind = decode_line(frame.as_bytes(), &mut Vec::new());
            assert!(
                matches!(kind, Ok(volspike_core::LineKind::Control(_))),
                "{frame}: {kind:?}"
            );
        }
        assert!(decode_line(MALFORMED.as_bytes(), &mut Vec::new()).is_err());
    }
}
