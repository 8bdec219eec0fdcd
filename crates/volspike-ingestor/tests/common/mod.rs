//! Helpers shared by the ingestor's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use volspike_core::Tick;
use volspike_runtime::{Config, ConfigLoader};

/// `../shared/data/coinbase` beside the checkout, if present.
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/coinbase");
    if dir.is_dir() {
        Some(dir.canonicalize().expect("canonical path"))
    } else {
        eprintln!(
            "skipping: {} is absent (the shared Coinbase recordings)",
            dir.display()
        );
        None
    }
}

/// Every recording under the shared data folder, as glob-free paths.
pub fn shared_files(dir: &Path) -> Vec<PathBuf> {
    let pattern = format!("{}/**/*.ndjson", dir.display());
    let mut files: Vec<PathBuf> = glob::glob(&pattern)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    files.sort();
    files
}

/// `seconds` of a simulated BTC-USD and ETH-USD market.
pub fn simulated(seconds: u64, seed: u64) -> Vec<Tick> {
    volspike_sim::simulate_ticks(&volspike_sim::MarketConfig {
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        start_ns: 1_767_225_600_000_000_000,
        seconds,
        seed,
    })
}

/// Test configuration: embedded Kafka, no admin server.
pub fn test_config() -> Config {
    let cfg = ConfigLoader::new()
        .set("admin.listen", "")
        .set("log.level", "warn")
        .load()
        .unwrap();
    // RUST_LOG=info shows the services' logs in test output.
    volspike_runtime::telemetry::init_tracing(&cfg.log);
    cfg
}
