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
//! Start reading at [`run`], then [`worker::Worker::run`].

pub mod cli;
mod metrics_names;
pub mod rebuild;
mod worker;

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;
use volspike_runtime::admin::{self, Health};
use volspike_runtime::{Config, NoBroker};

use crate::metrics_names as m;

pub use worker::Worker;

/// Counts of what one run of the service did; `Display` gives its one-line
/// summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
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

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "featurize: messages={} ticks={} rows={} dlq={} commits={} aborts={} rebuilds={} offsets_skipped={}",
            self.messages,
            self.ticks,
            self.rows,
            self.dlq.values().sum::<u64>(),
            self.commits,
            self.aborts,
            self.rebuilds,
            self.offsets_skipped
        )
    }
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
    /// No broker configured.
    #[error(transparent)]
    NoBroker(#[from] NoBroker),
    /// The topics could not be listed or created.
    #[error("kafka: creating topics: {0:#}")]
    Topics(anyhow::Error),
    /// The admin server could not start.
    #[error("admin server: {0:#}")]
    Admin(anyhow::Error),
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

/// Registers the counters dashboards and alerts read at 0, with every
/// dead-letter reason, so that they exist before the first batch.
fn register_metrics() {
    for c in [m::MESSAGES_IN, m::TICKS_IN, m::ROWS_OUT, m::COMMITS] {
        metrics::counter!(c).increment(0);
    }
    let refused = volspike_features::Rejection::ALL.map(|r| r.reason());
    for reason in volspike_core::DecodeError::REASONS
        .into_iter()
        .chain(refused)
    {
        metrics::counter!(m::DLQ, "reason" => reason).increment(0);
    }
}

/// Runs the service on the configured broker until `shutdown` is cancelled,
/// then finishes the current batch, commits and returns its counts. Creates
/// its topics (input, output, DLQ) first if they are missing.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<Summary> {
    run_until(cfg, shutdown, CancellationToken::new()).await
}

/// Like [`run`], with a second token that stops the worker at once, without
/// committing, aborting or leaving cleanly: a crash, for tests.
pub async fn run_until(
    cfg: Config,
    shutdown: CancellationToken,
    crash: CancellationToken,
) -> Result<Summary> {
    let bootstrap = cfg.kafka.broker("the featurizer")?;
    let t = &cfg.topics;
    volspike_runtime::kafka::ensure_topics(&cfg, bootstrap, &[&t.raw, &t.features, &t.dlq])
        .await
        .map_err(Error::Topics)?;
    let health = Health::default();
    if let Some(addr) = cfg.admin.listen {
        admin::serve(addr, health.clone(), shutdown.clone())
            .await
            .map_err(Error::Admin)?;
    }
    register_metrics();
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
