//! `volspike models`: list versions, promote, roll back; promotions and
//! rollbacks are announced on `models.events` when a broker is configured.

use anyhow::{Context as _, anyhow};
use volspike_core::{ModelEvent, ModelEventKind};
use volspike_mlflow::AnyRegistry;
use volspike_model::registry::{CHALLENGER, CHAMPION, Promotion, Registry};
use volspike_runtime::{Config, ConfigLoader};

use super::{RegistryArgs, bootstrap_flag, load, open_registry};

/// `volspike models ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Every version with its aliases.
    List {
        /// Registered model name (default `registry.model-name`).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Makes a version the `champion` (default: the `challenger`).
    Promote {
        /// Registered model name (default `registry.model-name`).
        #[arg(long)]
        name: Option<String>,
        /// Version to promote.
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Kafka bootstrap servers: announce the change on models.events so
        /// running inference servers swap to the new champion at once.
        #[arg(long)]
        bootstrap: Option<String>,
    },
    /// Makes the champion before the current one champion again.
    Rollback {
        /// Registered model name (default `registry.model-name`).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Kafka bootstrap servers: announce the change on models.events.
        #[arg(long)]
        bootstrap: Option<String>,
    },
}

/// Runs one `models` command.
pub async fn run(cmd: ModelsCommand, loader: ConfigLoader) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::List { name, registry } => {
            let (_, r, name) = open(loader, registry, None, name)?;
            print!("{}", list(&r, &name).await?);
        }
        ModelsCommand::Promote {
            name,
            version,
            registry,
            bootstrap,
        } => {
            let (cfg, r, name) = open(loader, registry, bootstrap, name)?;
            let version = match version {
                Some(v) => v,
                None => r.alias(&name, CHALLENGER).await?.ok_or_else(|| {
                    anyhow!("`{name}` has no challenger in the {r}; pass --version")
                })?,
            };
            // The same check every reader of a model makes: a file that
            // would not load must not become the champion servers load.
            r.load(&name, version)
                .await
                .with_context(|| format!("refusing to promote {name} version {version}"))?;
            let p = r.promote(&name, version).await?;
            println!("promote: {name} champion {} in the {r}", change(&p));
            announce(&cfg, ModelEventKind::Promoted, &p).await?;
        }
        ModelsCommand::Rollback {
            name,
            registry,
            bootstrap,
        } => {
            let (cfg, r, name) = open(loader, registry, bootstrap, name)?;
            let p = r.rollback(&name).await?;
            println!("rollback: {name} champion {} in the {r}", change(&p));
            announce(&cfg, ModelEventKind::RolledBack, &p).await?;
        }
    }
    Ok(())
}

/// The configuration with the flags applied, its registry, and the model
/// name (`--name`, else `registry.model-name`).
fn open(
    loader: ConfigLoader,
    registry: RegistryArgs,
    bootstrap: Option<String>,
    name: Option<String>,
) -> anyhow::Result<(Config, AnyRegistry, String)> {
    let cfg = load(
        loader
            .overrides(bootstrap_flag(bootstrap))
            .overrides(move |c| registry.apply(c)),
    )?;
    let r = open_registry(&cfg)?;
    let name = name.unwrap_or_else(|| cfg.registry.model_name.clone());
    Ok((cfg, r, name))
}

/// `FROM -> TO` of a champion change.
fn change(p: &Promotion) -> String {
    format!(
        "{} -> {}",
        p.from.map_or("none".into(), |v| v.to_string()),
        p.to
    )
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
    let Some(bootstrap) = cfg.kafka.bootstrap.as_deref() else {
        return Ok(());
    };
    let topic = &cfg.topics.model_events;
    let event = ModelEvent {
        kind,
        name: p.name.clone(),
        from: p.from,
        to: p.to,
        at_ns: volspike_core::time::now_ns(),
    };
    volspike_runtime::kafka::publish_model_event(cfg, bootstrap, &event).await?;
    println!("announced on {topic}: {kind:?} {}", change(p));
    Ok(())
}
