//! The flags of `volspike drift serve` and `volspike-drift` (one
//! definition for both), as a typed override of the configuration.

use std::path::PathBuf;

use volspike_runtime::Config;
use volspike_runtime::config::OffOrAddr;

/// `volspike drift serve` / `volspike-drift`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Admin server address (`/metrics`, `/healthz`, `/drift/...`,
    /// `/retrain/...`), or `off`.
    #[arg(long)]
    pub admin_listen: Option<OffOrAddr>,
    /// The worker's data directory (archive, challengers).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// MLflow tracking URI (else the local registry directory).
    #[arg(long)]
    pub mlflow_uri: Option<String>,
}

impl ServeArgs {
    /// The flags given, applied over the other configuration layers.
    pub fn apply(self, c: &mut Config) {
        if let Some(b) = self.bootstrap {
            c.kafka.bootstrap = Some(b);
        }
        if let Some(OffOrAddr(listen)) = self.admin_listen {
            c.admin.listen = listen;
        }
        if let Some(d) = self.data_dir {
            c.drift.data_dir = d;
        }
        if let Some(u) = self.mlflow_uri {
            c.registry.mlflow_uri = Some(u);
        }
    }
}
