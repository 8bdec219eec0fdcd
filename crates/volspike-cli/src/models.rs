//! Which registry a command uses, and `volspike models` (list, promote,
//! rollback).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use volspike_core::{ModelEvent, ModelEventKind};
use volspike_mlflow::{AnyRegistry, Auth, MlflowClient, MlflowConfig, MlflowRegistry};
use volspike_model::registry::{CHALLENGER, CHAMPION, LocalRegistry, Promotion, Registry};
use volspike_runtime::Config;

/// MLflow when `mlflow_uri` is given (credentials from MLflow's own
/// environment variables `MLFLOW_TRACKING_TOKEN`, or
/// `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`), else the local
/// directory `local`.
pub fn open(
    mlflow_uri: Option<&str>,
    local: &Path,
    experiment: &str,
) -> anyhow::Result<AnyRegistry> {
    let Some(uri) = mlflow_uri.filter(|u| !u.is_empty()) else {
        return Ok(AnyRegistry::Local(LocalRegistry::new(local)));
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let auth = match (
        env("MLFLOW_TRACKING_TOKEN"),
        env("MLFLOW_TRACKING_USERNAME"),
        env("MLFLOW_TRACKING_PASSWORD"),
    ) {
        (Some(token), _, _) => Auth::Bearer(token),
        (None, Some(user), Some(password)) => Auth::Basic { user, password },
        (None, Some(_), None) => {
            anyhow::bail!("MLFLOW_TRACKING_USERNAME is set but MLFLOW_TRACKING_PASSWORD is not")
        }
        _ => Auth::None,
    };
    let cfg = MlflowConfig {
        auth,
        timeout: Duration::from_secs(60),
        ..MlflowConfig::new(uri)
    };
    Ok(AnyRegistry::Mlflow(MlflowRegistry::new(
        MlflowClient::new(cfg)?,
        experiment,
    )))
}

/// The versions of `name` with their aliases, one line each.
pub async fn list(registry: &AnyRegistry, name: &str) -> anyhow::Result<String> {
    let versions = registry.versions(name).await?;
    anyhow::ensure!(
        !versions.is_empty(),
        "{registry} has no versions of `{name}`"
    );
    let champion = registry.alias(name, CHAMPION).await?;
    let challenger = registry.alias(name, CHALLENGER).await?;
    let mut out = String::new();
    for v in versions {
        let mut aliases = Vec::new();
        if champion == Some(v.version) {
            aliases.push(CHAMPION);
        }
        if challenger == Some(v.version) {
            aliases.push(CHALLENGER);
        }
        out.push_str(&format!(
            "{name} version {} kind {} test PR-AUC {} {}\n",
            v.version,
            v.kind,
            v.test_pr_auc.map_or("-".into(), |p| format!("{p:.4}")),
            if aliases.is_empty() {
                String::new()
            } else {
                format!("@{}", aliases.join(" @"))
            }
        ));
    }
    Ok(out)
}

/// Publishes a champion change on the model events topic, when a broker is
/// configured, so running inference servers reload at once (they also
/// re-read the registry every `inference.model-poll`).
pub async fn announce(cfg: &Config, kind: ModelEventKind, p: &Promotion) -> anyhow::Result<()> {
    if cfg.kafka.bootstrap.is_empty() {
        return Ok(());
    }
    let topic = &cfg.topics.model_events;
    volspike_runtime::kafka::ensure_topics(cfg, &cfg.kafka.bootstrap, &[topic]).await?;
    let producer: FutureProducer =
        volspike_runtime::kafka::producer_config(&cfg.kafka, &cfg.kafka.bootstrap, "models")
            .create()
            .context("creating the model events producer")?;
    let event = ModelEvent {
        kind,
        name: p.name.clone(),
        from: p.from,
        to: p.to,
        at_ns: volspike_core::time::now_ns(),
    };
    let payload = serde_json::to_vec(&event)?;
    producer
        .send(
            FutureRecord::to(topic).key(&p.name).payload(&payload),
            cfg.kafka.request_timeout,
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("publishing to {topic}: {e}"))?;
    println!(
        "announced on {topic}: {kind:?} {} -> {}",
        p.from.map_or("none".into(), |v| v.to_string()),
        p.to
    );
    Ok(())
}
