//! The command-line flags of `volspike featurize` and `volspike-featurizer`
//! (one definition for both), as a typed override of the configuration.

use volspike_runtime::Config;
use volspike_runtime::config::OffOrAddr;

/// `volspike featurize` / `volspike-featurizer`.
#[derive(Debug, Clone, clap::Args)]
pub struct FeaturizeArgs {
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Input topic (default `topics.raw`).
    #[arg(long)]
    pub topic_in: Option<String>,
    /// Output topic (default `topics.features`).
    #[arg(long)]
    pub topic_out: Option<String>,
    /// This instance's id (stable across its restarts).
    #[arg(long)]
    pub instance_id: Option<String>,
    /// Admin server address (`/metrics`, `/healthz`), or `off`.
    #[arg(long)]
    pub admin_listen: Option<OffOrAddr>,
}

impl FeaturizeArgs {
    /// The flags given, applied over the other configuration layers.
    pub fn apply(self, c: &mut Config) {
        if let Some(b) = self.bootstrap {
            c.kafka.bootstrap = Some(b);
        }
        if let Some(t) = self.topic_in {
            c.topics.raw = t;
        }
        if let Some(t) = self.topic_out {
            c.topics.features = t;
        }
        if let Some(id) = self.instance_id {
            c.featurizer.instance_id = id;
        }
        if let Some(OffOrAddr(listen)) = self.admin_listen {
            c.admin.listen = listen;
        }
    }
}
