//! Decoding cost per line for each recording shape (ns per line).
//!
//! Run with `cargo bench -p volspike-core --bench decode`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use volspike_core::decode_line;

const SHAPES: [(&str, &str); 4] = [
    (
        "at_envelope",
        r#"{"channel": "ticker", "timestamp": "2026-04-04T21:13:43.52889452Z", "sequence_num": 2, "events": [{"type": "update", "tickers": [{"type": "ticker", "product_id": "BTC-USD", "price": "67223.5", "volume_24_h": "2401.16054813", "low_24_h": "66770.64", "high_24_h": "67535.2", "low_52_w": "60001", "high_52_w": "126296", "price_percent_chg_24_h": "0.54672614199923", "best_bid": "67223.49", "best_ask": "67223.5", "best_bid_quantity": "0.56309243", "best_ask_quantity": "0.25094342"}]}]}"#,
    ),
    (
        "at_flat",
        r#"{"product_id": "BTC-USD", "price": "67377.24", "best_bid": "67377.23", "best_ask": "67377.24", "volume_24_h": "2415.76930637", "timestamp": "2026-04-04T22:54:57.175677226Z"}"#,
    ),
    (
        "at_flat_multi",
        r#"{"product_id": "ETH-USD", "price": "2050.83", "best_bid": "2050.82", "best_bid_qty": "1.79447853", "best_ask": "2050.83", "best_ask_qty": "2.54150181", "volume_24h": "51644.2478257", "low_24h": "2041.4", "high_24h": "2081.74", "price_pct_chg_24h": "-0.17328744785557", "ws_timestamp": "2026-04-04T03:19:18.995321953Z", "sequence_num": 4, "event_type": "update", "received_at": "2026-04-04T03:19:18.994890+00:00"}"#,
    ),
    (
        "exchange_string",
        r#"{"ts":1762932013.5493498,"pair":"BTC-USD","raw":"{\"type\":\"ticker\",\"sequence\":115498669849,\"product_id\":\"BTC-USD\",\"price\":\"103472.28\",\"open_24h\":\"104763.2\",\"volume_24h\":\"5461.74223395\",\"low_24h\":\"102422.43\",\"high_24h\":\"105504.83\",\"volume_30d\":\"222137.61171083\",\"best_bid\":\"103472.27\",\"best_bid_size\":\"0.04145138\",\"best_ask\":\"103472.28\",\"best_ask_size\":\"0.15698839\",\"side\":\"buy\",\"time\":\"2025-11-12T07:20:13.536490Z\",\"trade_id\":900701310,\"last_size\":\"0.00095678\"}"}"#,
    ),
];

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_line");
    group.throughput(Throughput::Elements(1));
    for (name, line) in SHAPES {
        let mut out = Vec::with_capacity(4);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(decode_line(black_box(line.as_bytes()), &mut out)).ok();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
