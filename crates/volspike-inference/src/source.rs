//! Where the served model comes from, and reloading it: at start, on every
//! `models.events` message about it, and every `inference.model-poll` (so a
//! missed event or a registry that was down at start heals on its own).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use volspike_core::ModelEvent;
use volspike_model::registry::{ModelRef, Registry, resolve};
use volspike_runtime::Config;
use volspike_runtime::kafka::client_config;

use crate::metrics_names as m;
use crate::model::{LoadedModel, ModelSlot};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// A different version is served now.
    Swapped {
        /// The version served before, if any.
        from: Option<String>,
        /// The version served now.
        to: String,
    },
    /// The registry still names the version being served.
    Unchanged,
}

/// The model reference and the registry it is resolved in.
#[derive(Debug)]
pub struct ModelSource<R> {
    registry: R,
    model: ModelRef,
}

impl<R: Registry + Send + Sync> ModelSource<R> {
    /// A source for `model` in `registry`.
    pub fn new(registry: R, model: ModelRef) -> ModelSource<R> {
        ModelSource { registry, model }
    }

    /// The registered name, if the model comes from a registry.
    pub fn registered_name(&self) -> Option<&str> {
        match &self.model {
            ModelRef::Alias { name, .. } | ModelRef::Version { name, .. } => Some(name),
            ModelRef::Path(_) => None,
        }
    }

    /// Resolves the reference and swaps the model in if it is not the one
    /// being served.
    pub async fn reload(&self, slot: &ModelSlot) -> Result<Reload, String> {
        // The cheap check first: a model file is read (and parsed, which
        // takes milliseconds for a forest) only when the reference moved.
        // A file or a fixed version never moves once loaded.
        if let Some(current) = slot.current() {
            let unchanged = match &self.model {
                ModelRef::Path(_) | ModelRef::Version { .. } => true,
                ModelRef::Alias { name, alias } => {
                    let now = self
                        .registry
                        .alias(name, alias)
                        .await
                        .map_err(|e| format!("reading {}: {e}", self.model))?;
                    match now {
                        Some(v) => v.to_string() == current.id.version,
                        None => {
                            return Err(format!(
                                "{} is no longer set; still serving version {}",
                                self.model, current.id.version
                            ));
                        }
                    }
                }
            };
            if unchanged {
                metrics::counter!(m::MODEL_LOADS, "outcome" => "unchanged").increment(1);
                return Ok(Reload::Unchanged);
            }
        }
        let resolved = resolve(&self.registry, &self.model)
            .await
            .map_err(|e| format!("loading {}: {e}", self.model))?;
        let (name, alias) = match &self.model {
            ModelRef::Alias { name, alias } => (name.clone(), alias.clone()),
            ModelRef::Version { name, .. } => (name.clone(), String::new()),
            ModelRef::Path(p) => (
                p.file_stem()
                    .map_or_else(|| "model".to_owned(), |s| s.to_string_lossy().into_owned()),
                String::new(),
            ),
        };
        let loaded = LoadedModel::new(resolved.file, &name, resolved.version, &alias)?;
        let to = loaded.id.version.clone();
        tracing::info!(model = %loaded.id, threshold = loaded.threshold(), "serving model");
        let before = slot.swap(loaded);
        metrics::counter!(m::MODEL_LOADS, "outcome" => "swapped").increment(1);
        metrics::gauge!(m::MODEL_VERSION).set(resolved.version.map_or(0.0, |v| v as f64));
        Ok(Reload::Swapped {
            from: before.map(|b| b.id.version.clone()),
            to,
        })
    }

    /// Reloads and logs a failure instead of returning it (a registry that
    /// is down must not stop a server that has a model).
    pub async fn reload_logged(&self, slot: &ModelSlot) -> Option<Reload> {
        match self.reload(slot).await {
            Ok(r) => Some(r),
            Err(e) => {
                metrics::counter!(m::MODEL_LOADS, "outcome" => "failed").increment(1);
                tracing::warn!(error = %e, "model reload failed; serving what is loaded");
                None
            }
        }
    }
}

/// Reloads on `models.events` messages about our model (when a broker is
/// given) and every `poll`, until `shutdown`; `on_reload` hears of each
/// swap.
pub async fn watch<R: Registry + Send + Sync>(
    cfg: &Config,
    bootstrap: Option<&str>,
    source: Arc<ModelSource<R>>,
    slot: Arc<ModelSlot>,
    poll: Duration,
    on_swap: impl Fn(&Reload) + Send,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let consumer = match (bootstrap, source.registered_name()) {
        (Some(b), Some(_)) => Some(events_consumer(cfg, b).await?),
        _ => None,
    };
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        let reload = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => true,
            m = recv(consumer.as_ref()) => {
                let m = m.context("reading models.events")?;
                match serde_json::from_slice::<ModelEvent>(m.payload().unwrap_or_default()) {
                    Ok(e) if Some(e.name.as_str()) == source.registered_name() => {
                        tracing::info!(kind = ?e.kind, from = ?e.from, to = e.to, "model event");
                        true
                    }
                    Ok(_) => false,
                    Err(e) => {
                        tracing::warn!(offset = m.offset(), error = %e, "skipping a models.events record that is not a model event");
                        false
                    }
                }
            }
        };
        if reload && let Some(r @ Reload::Swapped { .. }) = source.reload_logged(&slot).await {
            on_swap(&r);
        }
    }
}

async fn recv(
    c: Option<&StreamConsumer>,
) -> rdkafka::error::KafkaResult<rdkafka::message::BorrowedMessage<'_>> {
    match c {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

/// A consumer of every partition of the model events topic from its end: each
/// server instance must see every event, so it joins no consumer group.
async fn events_consumer(cfg: &Config, bootstrap: &str) -> anyhow::Result<StreamConsumer> {
    let mut c = client_config(&cfg.kafka, bootstrap, "inference-events");
    c.set("enable.auto.commit", "false")
        .set("group.id", "volspike-inference-events-unused")
        .set(
            "fetch.wait.max.ms",
            cfg.kafka.fetch_max_wait.as_millis().max(1).to_string(),
        );
    let consumer: StreamConsumer = c.create().context("creating the models.events consumer")?;
    let topic = cfg.topics.model_events.clone();
    let timeout = cfg.kafka.request_timeout;
    let consumer = tokio::task::spawn_blocking(move || -> anyhow::Result<StreamConsumer> {
        let md = consumer
            .fetch_metadata(Some(&topic), timeout)
            .with_context(|| format!("reading metadata of {topic}"))?;
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(&topic, p.id(), Offset::End)?;
            }
        }
        if tpl.count() == 0 {
            anyhow::bail!("topic {topic} has no partitions");
        }
        consumer.assign(&tpl).context("assigning models.events")?;
        Ok(consumer)
    })
    .await??;
    Ok(consumer)
}
