//! Helpers shared by the ingestor's integration tests.
#![allow(dead_code, unreachable_pub)]

use volspike_core::Tick;

/// `seconds` of a simulated BTC-USD and ETH-USD market.
pub fn simulated(seconds: u64, seed: u64) -> Vec<Tick> {
    volspike_sim::simulate_ticks(&volspike_sim::MarketConfig {
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        start_ns: 1_767_225_600_000_000_000,
        seconds,
        seed,
        regime: None,
    })
}
