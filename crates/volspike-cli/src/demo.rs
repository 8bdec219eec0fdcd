//! `volspike demo`: the system in one process on the embedded Kafka.
//!
//! For now: simulate a few minutes of BTC-USD and ETH-USD, send them through
//! `ticks.raw`, the featurizer service and `ticks.features` on the embedded
//! Kafka, write the features to parquet and print what happened.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use volspike_core::FeatureRow;
use volspike_core::time::{NANOS_PER_SEC, format_timestamp, parse_timestamp};
use volspike_runtime::Config;

use crate::pipeline::{self, PipelineOptions};
use crate::simulate::{self, SimConfig};

/// Runs the demo; `out` is the parquet file to write (a temporary one if `None`).
pub async fn run(mut cfg: Config, seconds: u64, out: Option<PathBuf>) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let recording = dir.path().join("simulated.ndjson");
    let products = vec!["BTC-USD".to_owned(), "ETH-USD".to_owned()];
    let sim = SimConfig {
        products: products.clone(),
        start_ns: parse_timestamp("2026-01-01T00:00:00Z").expect("valid start"),
        seconds,
        seed: 42,
    };
    let (lines, ticks) = simulate::write_file(&sim, &recording)
        .with_context(|| format!("writing {}", recording.display()))?;
    println!(
        "demo: simulated {seconds} s of {} -> {lines} messages, {ticks} ticks",
        products.join(", ")
    );

    cfg.kafka.bootstrap = String::new(); // embedded Kafka
    println!("demo: embedded Kafka up; ticks.raw -> featurizer service -> ticks.features");
    let result = pipeline::run(cfg, vec![recording], PipelineOptions::default()).await?;
    let out = out.unwrap_or_else(|| dir.path().join("features.parquet"));
    volspike_runtime::parquet::write_rows(&out, &result.rows)?;
    println!(
        "demo: {}",
        result.counts.summary("pipeline", started.elapsed())
    );
    println!("demo: features written to {}", out.display());
    for p in &products {
        print_product(p, &result.rows);
    }
    Ok(())
}

fn print_product(product: &str, rows: &[FeatureRow]) {
    let rows: Vec<&FeatureRow> = rows.iter().filter(|r| r.product_id == product).collect();
    let warm = rows.iter().filter(|r| r.warm).count();
    // Only warm rows: early in a segment a window of a few ticks gives
    // noisy, meaningless volatility.
    let peak = rows
        .iter()
        .filter(|r| r.warm)
        .filter_map(|r| r.price_volatility_1min.map(|v| (v, r)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => {
            println!("demo: {product}: no rows");
            return;
        }
    };
    println!(
        "demo: {product}: rows={} warm={} price {:.2} -> {:.2} over {:.0} s",
        rows.len(),
        warm,
        first.price,
        last.price,
        (last.event_time_ns - first.event_time_ns) as f64 / NANOS_PER_SEC as f64
    );
    if let Some((v, r)) = peak {
        println!(
            "demo: {product}: highest warm 1-min volatility {:.3e} (per tick) at {}, {:.1}x its 5-min level",
            v,
            format_timestamp(r.event_time_ns),
            r.volatility_ratio.unwrap_or(f64::NAN)
        );
    }
}
