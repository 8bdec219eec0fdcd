//! Helpers shared by the pipeline's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use volspike_runtime::{Config, ConfigLoader};
use volspike_sim::{MarketConfig, write_ndjson_file};

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

/// A simulated recording of `seconds` of BTC-USD and ETH-USD.
pub fn simulated(dir: &Path, seconds: u64, seed: u64) -> PathBuf {
    let path = dir.join(format!("sim-{seed}.ndjson"));
    let cfg = MarketConfig {
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        start_ns: 1_767_225_600_000_000_000,
        seconds,
        seed,
    };
    write_ndjson_file(&cfg, &path).unwrap();
    path
}

/// Test configuration: embedded Kafka, no admin server, short group timeouts.
pub fn test_config(batch: usize) -> Config {
    let cfg = ConfigLoader::new()
        .set("admin.listen", "")
        .set("featurizer.batch-max-messages", batch)
        .set("featurizer.session-timeout", "6s")
        .set("featurizer.max-poll-interval", "10s")
        .set("log.level", "warn")
        .load()
        .unwrap();
    // RUST_LOG=info shows the services' logs in test output.
    volspike_runtime::telemetry::init_tracing(&cfg.log);
    cfg
}
