//! The command-line flags of `volspike serve` and `volspike-inference` (one
//! definition for both), as a typed override of the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use volspike_model::registry::ModelRef;
use volspike_runtime::Config;
use volspike_runtime::config::{OffOrAddr, StartFrom};

/// `volspike serve` / `volspike-inference`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Kafka bootstrap servers; without one, only request/response scoring.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// gRPC listen address (default `inference.listen`, 127.0.0.1:50051).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Model to serve: `models:/NAME@ALIAS`, `models:/NAME/VERSION` or a
    /// model file (default: the champion of `registry.model-name`).
    #[arg(long)]
    pub model: Option<ModelRef>,
    /// Where a new consumer group starts on ticks.features: `latest` or
    /// `earliest`.
    #[arg(long)]
    pub start_from: Option<StartFrom>,
    /// Consumer group on ticks.features.
    #[arg(long)]
    pub group_id: Option<String>,
    /// Admin server address (`/metrics`, `/healthz`), or `off`.
    #[arg(long)]
    pub admin_listen: Option<OffOrAddr>,
    /// MLflow tracking URI of the registry (default `registry.mlflow-uri`;
    /// without one, the local registry directory).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub mlflow_uri: Option<String>,
    /// Local registry directory (default `registry.dir`, data/models).
    #[arg(long)]
    pub registry: Option<PathBuf>,
}

impl ServeArgs {
    /// The flags given, applied over the other configuration layers.
    pub fn apply(self, c: &mut Config) {
        if let Some(b) = self.bootstrap {
            c.kafka.bootstrap = Some(b);
        }
        if let Some(l) = self.listen {
            c.inference.listen = l;
        }
        if let Some(m) = self.model {
            c.inference.model = Some(m);
        }
        if let Some(s) = self.start_from {
            c.inference.start_from = s;
        }
        if let Some(g) = self.group_id {
            c.inference.group_id = g;
        }
        if let Some(OffOrAddr(listen)) = self.admin_listen {
            c.admin.listen = listen;
        }
        if let Some(u) = self.mlflow_uri {
            c.registry.mlflow_uri = Some(u);
        }
        if let Some(d) = self.registry {
            c.registry.dir = d;
        }
    }
}
