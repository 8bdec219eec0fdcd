//! One module per `volspike` subcommand: its clap arguments and its `run`.
//! `main.rs` only parses and dispatches. What several commands share is
//! here: loading the configuration, `--bootstrap`, the registry flags and
//! the recordings input.

pub mod backfill;
pub mod bench;
pub mod compare_features;
pub mod config;
pub mod consume_check;
pub mod demo;
pub mod drift;
pub mod drift_report;
pub mod dump_features;
pub mod evaluate;
pub mod exchange_sim;
pub mod featurize;
pub mod ingest;
pub mod ingest_check;
pub mod label_rates;
pub mod models;
pub mod pipeline;
pub mod probe;
pub mod replay;
pub mod serve;
pub mod simulate;
pub mod train;

use std::path::PathBuf;

use volspike_runtime::{Config, ConfigLoader, telemetry};

/// Loads the configuration and sets up tracing (stderr) and metrics.
pub fn load(loader: ConfigLoader) -> anyhow::Result<Config> {
    let cfg = loader.load()?;
    telemetry::init_tracing(&cfg.log);
    telemetry::prometheus();
    Ok(cfg)
}

/// `--bootstrap HOST:PORT`, applied over the other configuration layers.
pub fn bootstrap_flag(bootstrap: Option<String>) -> impl FnOnce(&mut Config) + Send + 'static {
    move |c| {
        if let Some(b) = bootstrap {
            c.kafka.bootstrap = Some(b);
        }
    }
}

/// Which model registry to use (over `[registry]` in the configuration).
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// MLflow tracking URI (e.g. http://127.0.0.1:5000); without it the
    /// local registry directory is used. Credentials come from
    /// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub mlflow_uri: Option<String>,
    /// Local registry directory (default `registry.dir`, data/models).
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// MLflow experiment of training runs (default `registry.experiment`).
    #[arg(long)]
    pub experiment: Option<String>,
}

impl RegistryArgs {
    /// The flags given, applied over the other configuration layers.
    pub fn apply(self, c: &mut Config) {
        if let Some(u) = self.mlflow_uri {
            c.registry.mlflow_uri = Some(u);
        }
        if let Some(d) = self.registry {
            c.registry.dir = d;
        }
        if let Some(e) = self.experiment {
            c.registry.experiment = e;
        }
    }
}

/// The registry of `cfg.registry`.
pub fn open_registry(cfg: &Config) -> anyhow::Result<volspike_mlflow::AnyRegistry> {
    let r = &cfg.registry;
    Ok(volspike_mlflow::AnyRegistry::open(
        r.mlflow_uri.as_deref(),
        &r.dir,
        &r.experiment,
    )?)
}

/// Recordings in, parquet out.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Recordings: files or glob patterns (`.gz` and `.zst` are decompressed).
    #[arg(long, required = true, num_args = 1..)]
    pub raw: Vec<String>,
    /// Output parquet file.
    #[arg(long)]
    pub out: PathBuf,
}

impl InputArgs {
    /// The recordings, expanded and ordered by their first tick.
    pub fn files(&self) -> anyhow::Result<Vec<PathBuf>> {
        volspike_replay::recordings::order_by_first_tick(volspike_replay::recordings::expand_globs(
            &self.raw,
        )?)
    }
}
