//! Helpers shared by the featurizer's integration tests.
#![allow(dead_code, unreachable_pub)]

use volspike_runtime::{Config, ConfigLoader};

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
