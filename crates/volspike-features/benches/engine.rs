//! Feature engine cost per tick (ns per tick), with realistic spacing.
//!
//! Run with `cargo bench -p volspike-features --bench engine`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use volspike_core::{Feed, Tick};
use volspike_features::{EngineConfig, FeatureEngine};

fn ticks(n: usize, spacing_ms: i64) -> Vec<Tick> {
    let mut price = 67_000.0f64;
    (0..n)
        .map(|i| {
            // Deterministic wiggle, no RNG needed for a cost benchmark.
            price *= 1.0 + (((i * 2_654_435_761) % 17) as f64 - 8.0) * 1e-5;
            Tick {
                product_id: "BTC-USD".into(),
                event_time_ns: i as i64 * spacing_ms * 1_000_000,
                receive_time_ns: None,
                price,
                best_bid: Some(price - 0.01),
                best_ask: Some(price + 0.01),
                best_bid_qty: Some(0.5),
                best_ask_qty: Some(0.25),
                volume_24h: Some(2400.0),
                low_24h: None,
                high_24h: None,
                sequence: Some(i as u64),
                trade_id: None,
                feed: Feed::AdvancedTrade,
            }
        })
        .collect()
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("feature_engine");
    for spacing_ms in [10i64, 250] {
        let input = ticks(100_000, spacing_ms);
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(format!("push_spacing_{spacing_ms}ms"), |b| {
            b.iter_batched(
                || FeatureEngine::new(&EngineConfig::default()),
                |mut e| {
                    for t in &input {
                        black_box(e.push(t));
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
