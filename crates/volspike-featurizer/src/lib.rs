//! The featurizer service: `ticks.raw` -> `ticks.features`.
//!
//! [`run`] consumes `ticks.raw` in a consumer group and, for each batch,
//! decodes the messages, feeds the ticks to one [`FeatureEngine`] per
//! partition, produces a feature row per accepted tick to `ticks.features`
//! (keyed by product id), sends unreadable input to `ticks.dlq`, and commits
//! the input offsets in the same Kafka transaction as the output.
//!
//! When a partition arrives without state (start, restart, rebalance), its
//! engine is rebuilt from the span of input just before the committed offset
//! ([`rebuild`]), so the first rows emitted equal those of an uninterrupted
//! run. Output is a pure function of input, so a batch re-emitted after a
//! crash is byte-identical to the first emission and sinks can drop exact
//! duplicates by row key.
//!
//! Start reading at [`worker::Worker::run`].

mod metrics_names;
pub mod rebuild;
mod worker;

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;
use volspike_runtime::Config;
use volspike_runtime::admin::{self, Health};

pub use worker::Worker;

/// Counts of what one run of the service did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input messages consumed and committed.
    pub messages: u64,
    /// Ticks decoded from them.
    pub ticks: u64,
    /// Feature rows produced.
    pub rows: u64,
    /// Ticks the engine skipped, by reason (`duplicate`, `out_of_order`).
    pub engine_skipped: BTreeMap<&'static str, u64>,
    /// Messages skipped as non-ticker control messages, by kind.
    pub control: BTreeMap<&'static str, u64>,
    /// Messages sent to the DLQ, by reason.
    pub dlq: BTreeMap<&'static str, u64>,
    /// Transactions (or offset commits) completed.
    pub commits: u64,
    /// Transactions aborted and replayed.
    pub aborts: u64,
    /// Partitions whose state was rebuilt from earlier input.
    pub rebuilds: u64,
    /// Input offsets the consumer jumped over inside a partition it was
    /// reading: records the broker no longer had (retention, or the embedded
    /// Kafka's size limit) or transaction markers. Never expected with a
    /// non-transactional input producer; logged as a warning.
    pub offsets_skipped: u64,
}

/// Creates the featurizer's topics (input, output, DLQ) on the external
/// broker `cfg.kafka.bootstrap` if they are missing; the embedded Kafka's
/// topics are made by whoever starts it.
pub async fn ensure_topics(cfg: &Config) -> anyhow::Result<()> {
    let t = &cfg.topics;
    volspike_runtime::kafka::ensure_topics(
        cfg,
        &cfg.kafka.bootstrap,
        &[&t.raw, &t.features, &t.dlq],
    )
    .await
}

/// Errors that stop the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Kafka refused or failed in a way that retrying here cannot fix.
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What was being done.
        context: &'static str,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// Configuration that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The worker thread panicked or was lost.
    #[error("featurizer worker: {0}")]
    Worker(String),
}

impl Error {
    fn kafka(context: &'static str) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
        move |source| Error::Kafka { context, source }
    }
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the service until `shutdown` is cancelled, then finishes the current
/// batch, commits and returns its counts.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<Stats> {
    run_until(cfg, shutdown, CancellationToken::new()).await
}

/// Like [`run`], with a second token that stops the worker at once, without
/// committing, aborting or leaving cleanly: a crash, for tests.
pub async fn run_until(
    cfg: Config,
    shutdown: CancellationToken,
    crash: CancellationToken,
) -> Result<Stats> {
    if cfg.kafka.bootstrap.is_empty() {
        return Err(Error::Config(
            "kafka.bootstrap is empty: the featurizer needs a broker".into(),
        ));
    }
    let health = Health::default();
    if let Some(addr) = cfg.admin.addr().map_err(|e| Error::Config(e.to_string()))? {
        admin::serve(addr, health.clone(), shutdown.clone())
            .await
            .map_err(|e| Error::Config(format!("{e:#}")))?;
    }
    tokio::task::spawn_blocking(move || {
        let mut worker = Worker::new(&cfg)?;
        health.set_ready(true);
        let result = worker.run(&shutdown, &crash);
        health.set_ready(false);
        result
    })
    .await
    .map_err(|e| Error::Worker(e.to_string()))?
}
