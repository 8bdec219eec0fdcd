//! What integration tests of every crate start from.

use crate::{Config, ConfigLoader};

/// The configuration tests run the services with: the embedded Kafka, no
/// admin server, featurizer batches of `batch` messages and short consumer
/// group timeouts (a first join otherwise waits minutes), logs at `warn`
/// (`RUST_LOG=info` shows the services' logs in test output).
pub fn config(batch: usize) -> Config {
    let cfg = ConfigLoader::new()
        .set("admin.listen", "")
        .set("featurizer.batch-max-messages", batch)
        .set("featurizer.session-timeout", "6s")
        .set("featurizer.max-poll-interval", "10s")
        .set("log.level", "warn")
        .load()
        .expect("the test configuration is valid");
    crate::telemetry::init_tracing(&cfg.log);
    cfg
}
