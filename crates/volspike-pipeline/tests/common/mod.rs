//! Helpers shared by the pipeline's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use volspike_sim::{MarketConfig, write_ndjson_file};

/// A simulated recording of `seconds` of BTC-USD and ETH-USD, in `dir`.
pub fn simulated(dir: &Path, seconds: u64, seed: u64) -> PathBuf {
    let path = dir.join(format!("sim-{seed}.ndjson"));
    let cfg = MarketConfig {
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        start_ns: 1_767_225_600_000_000_000,
        seconds,
        seed,
        regime: None,
    };
    write_ndjson_file(&cfg, &path).unwrap();
    path
}
