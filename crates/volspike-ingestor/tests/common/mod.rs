//! Helpers shared by the ingestor's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use volspike_core::{Feed, Tick};
use volspike_runtime::Config;

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

/// The test configuration of an ingestor reading `url` into `bootstrap`,
/// with short watchdogs and backoff.
pub fn ingest_config(url: String, feed: Feed, products: Vec<String>, bootstrap: &str) -> Config {
    let mut cfg = volspike_runtime::testing::config(1_000);
    cfg.kafka.bootstrap = Some(bootstrap.to_owned());
    cfg.kafka.fetch_max_wait = Duration::from_millis(5);
    let i = &mut cfg.ingestor;
    i.url = Some(url);
    i.feed = feed;
    i.products = products;
    i.silence_timeout = Duration::from_millis(500);
    i.stale_timeout = Duration::from_secs(5);
    i.handshake_timeout = Duration::from_secs(2);
    i.backoff_base = Duration::from_millis(5);
    i.backoff_cap = Duration::from_millis(50);
    i.connects_per_second = 1000;
    i.messages_per_second = 1000;
    cfg
}
