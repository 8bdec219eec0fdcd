//! What integration tests of every crate start from.

use crate::{Config, ConfigLoader};

/// The configuration tests run the services with: the embedded Kafka, no
/// admin server, featurizer batches of `batch` messages and short consumer
/// group timeouts (a first join otherwise waits minutes), logs at `warn`
/// (`RUST_LOG=info` shows the services' logs in test output).
pub fn config(batch: usize) -> Config {
    let cfg = ConfigLoader::new()
        .toml(
            r#"
            admin.listen = "off"
            featurizer.session-timeout = "6s"
            featurizer.max-poll-interval = "10s"
            log.level = "warn"
            "#,
        )
        .overrides(move |c| c.featurizer.batch_max_messages = batch)
        .load()
        .expect("the test configuration is valid");
    crate::telemetry::init_tracing(&cfg.log);
    cfg
}
