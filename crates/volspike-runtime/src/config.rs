//! One typed configuration, loaded in layers.
//!
//! Built-in defaults (`config/default.toml`, compiled in) < `--config FILE` <
//! environment variables `VOLSPIKE__SECTION__KEY` (underscores in a key
//! become dashes: `VOLSPIKE__FEATURIZER__GROUP_ID`) < command-line flags,
//! which callers merge with [`ConfigLoader::set`]. Unknown keys are errors.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use volspike_features::EngineConfig;

/// The compiled-in defaults.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Everything volspike can be configured with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Kafka connection.
    pub kafka: KafkaConfig,
    /// Topic names and how to create them.
    pub topics: TopicsConfig,
    /// Feature engine windows.
    pub features: EngineConfig,
    /// The featurizer service.
    pub featurizer: FeaturizerConfig,
    /// The ingestor service.
    pub ingestor: IngestorConfig,
    /// The inference service.
    pub inference: InferenceConfig,
    /// The admin HTTP server (`/metrics`, `/healthz`).
    pub admin: AdminConfig,
    /// Logging.
    pub log: LogConfig,
}

/// Kafka connection settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KafkaConfig {
    /// `host:port[,host:port]`. Empty means the embedded Kafka where the
    /// command can run one (demo, pipeline), an error elsewhere.
    pub bootstrap: String,
    /// Client id prefix sent to the broker.
    pub client_id: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// SASL mechanism (e.g. `PLAIN`, `SCRAM-SHA-512`) when SASL is used.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// SASL password; never logged.
    #[serde(default)]
    pub sasl_password: Option<Secret>,
    /// Timeout of requests to the broker (metadata, commits, transactions).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a broker may hold a fetch that finds no new data
    /// (`fetch.wait.max.ms`). Kafka answers as soon as data arrives, so this
    /// only bounds idle polls; the embedded Kafka holds the fetch for the whole
    /// time, so commands that run it lower this to a few milliseconds.
    #[serde(with = "humantime_serde")]
    pub fetch_max_wait: Duration,
    /// Extra librdkafka properties, passed through as they are
    /// (e.g. `"socket.keepalive.enable" = "true"`).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// Topic names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TopicsConfig {
    /// Input ticks, keyed by product id.
    pub raw: String,
    /// Feature rows, keyed by product id.
    pub features: String,
    /// Undecodable input with its reason and source.
    pub dlq: String,
    /// The ingestor's connection lifecycle and sequence-break events.
    pub events: String,
    /// The prediction log: every live score.
    pub predictions: String,
    /// Volatility spike alerts.
    pub alerts: String,
    /// Model promotions and rollbacks.
    pub model_events: String,
    /// Partitions for topics volspike creates.
    pub partitions: i32,
    /// Replication factor for topics volspike creates.
    pub replication_factor: i32,
}

/// The featurizer service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FeaturizerConfig {
    /// Consumer group of all featurizer instances.
    pub group_id: String,
    /// Prefix of the transactional id; the instance id is appended so that a
    /// restarted instance fences its previous incarnation.
    pub transactional_id: String,
    /// This instance's id, unique among running instances and stable across
    /// its restarts (transactional id = `{transactional-id}-{instance-id}`).
    pub instance_id: String,
    /// Use Kafka transactions (consume-transform-produce with offsets in the
    /// transaction). Off: produce, wait for delivery, then commit offsets.
    pub transactions: bool,
    /// Most input messages per transaction.
    pub batch_max_messages: usize,
    /// Longest time spent collecting one batch. A batch takes what has been
    /// fetched already and closes as soon as nothing more is waiting, so
    /// this only bounds collection under a sustained backlog.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// Consumer group session timeout.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Consumer group max poll interval.
    #[serde(with = "humantime_serde")]
    pub max_poll_interval: Duration,
    /// Broker-side timeout of one transaction.
    #[serde(with = "humantime_serde")]
    pub transaction_timeout: Duration,
}

/// The ingestor service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestorConfig {
    /// `advanced_trade` or `exchange`.
    pub feed: volspike_core::Feed,
    /// WebSocket URL; empty means the feed's public Coinbase URL.
    pub url: String,
    /// Products to subscribe to.
    pub products: Vec<String>,
    /// Reconnect when no frame at all arrives for this long.
    #[serde(with = "humantime_serde")]
    pub silence_timeout: Duration,
    /// Reconnect when a product has had no ticker for this long while
    /// heartbeats keep coming.
    #[serde(with = "humantime_serde")]
    pub stale_timeout: Duration,
    /// Longest wait to connect and to get the subscription acknowledgement.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Reconnect delay: full jitter up to base * 2^attempt ...
    #[serde(with = "humantime_serde")]
    pub backoff_base: Duration,
    /// ... capped here.
    #[serde(with = "humantime_serde")]
    pub backoff_cap: Duration,
    /// Most connection attempts per second (Coinbase: 8 per IP).
    pub connects_per_second: u32,
    /// Most messages sent per second (Coinbase: 8 unauthenticated on
    /// Advanced Trade, 100 on Exchange).
    pub messages_per_second: u32,
    /// Journal directory when `--save-disk` is given without one.
    pub journal_dir: PathBuf,
    /// Start a new journal file after this many bytes.
    pub journal_max_bytes: u64,
    /// Start a new journal file after this long.
    #[serde(with = "humantime_serde")]
    pub journal_max_age: Duration,
    /// Records the producer may hold while the broker is slow or away
    /// (`queue.buffering.max.messages`); past it, frames are listed as
    /// undelivered (the journal keeps them for backfill).
    pub max_pending: u32,
    /// How long a record may wait for the broker before it counts as
    /// undelivered (`message.timeout.ms`).
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Advanced Trade: CDP API key name (`organizations/.../apiKeys/...`)
    /// to authenticate subscribes with; empty: public, unauthenticated.
    #[serde(default)]
    pub api_key_name: String,
    /// Advanced Trade: the key's EC private key (PEM); never logged.
    #[serde(default)]
    pub api_key_secret: Option<Secret>,
    /// Advanced Trade: the JSON key file the CDP portal downloads (name and
    /// private key), instead of `api-key-name` and `api-key-secret`.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
}

impl IngestorConfig {
    /// The URL to connect to.
    pub fn url(&self) -> &str {
        match (self.url.is_empty(), self.feed) {
            (false, _) => &self.url,
            (true, volspike_core::Feed::AdvancedTrade) => "wss://advanced-trade-ws.coinbase.com",
            (true, volspike_core::Feed::Exchange) => "wss://ws-feed.exchange.coinbase.com",
        }
    }
}

/// The inference service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InferenceConfig {
    /// gRPC listen address.
    pub listen: String,
    /// The model to serve: `models:/NAME@ALIAS`, `models:/NAME/VERSION` or a file.
    pub model: String,
    /// Score `ticks.features` as it arrives.
    pub score_live: bool,
    /// Consumer group on `ticks.features`.
    pub group_id: String,
    /// Where a new consumer group starts: `latest` or `earliest`.
    pub start_from: String,
    /// Event time after an alert before the product can alert again.
    #[serde(with = "humantime_serde")]
    pub alert_cooldown: Duration,
    /// An alerted product re-arms when its probability falls below
    /// threshold times this.
    pub alert_rearm_ratio: f64,
    /// How often the served alias is re-read from the registry.
    #[serde(with = "humantime_serde")]
    pub model_poll: Duration,
    /// Most rows in one `ScoreBatch` or `ModelInfer`.
    pub max_batch: usize,
    /// Largest request message, bytes.
    pub max_message_bytes: usize,
    /// Most concurrent streams (requests) per HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Longest a request may take; also how long open streams may run on
    /// after shutdown begins.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Bearer token clients must send; none: no authentication.
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// PEM certificate chain for TLS (with `tls-key`).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with `tls-cert`).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

/// The admin HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    /// Address to serve `/metrics` and `/healthz` on; empty disables it.
    pub listen: String,
}

impl AdminConfig {
    /// The parsed listen address, `None` when disabled.
    pub fn addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        self.listen
            .parse()
            .map(Some)
            .map_err(|e| ConfigError(vec![format!("admin.listen `{}`: {e}", self.listen)]))
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `volspike_featurizer=debug,info`;
    /// `RUST_LOG` wins when set.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

/// A string that never appears in logs or `Debug` output.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for handing to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

/// Every problem found in a configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// Builds a [`Config`] from its layers.
#[derive(Debug)]
pub struct ConfigLoader {
    figment: Figment,
}

impl Default for ConfigLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigLoader {
    /// Defaults only.
    pub fn new() -> Self {
        ConfigLoader {
            figment: Figment::from(Toml::string(DEFAULT_TOML)),
        }
    }

    /// Adds a TOML file over what is there.
    pub fn file(mut self, path: Option<&Path>) -> Self {
        if let Some(p) = path {
            self.figment = self.figment.merge(Toml::file_exact(p));
        }
        self
    }

    /// Adds `VOLSPIKE__SECTION__KEY` environment variables.
    pub fn env(mut self) -> Self {
        self.figment = self.figment.merge(
            Env::prefixed("VOLSPIKE__")
                .map(|k| k.as_str().replace("__", ".").replace('_', "-").into()),
        );
        self
    }

    /// Sets one key (dotted path, e.g. `kafka.bootstrap`) from a flag.
    pub fn set<T: Serialize>(mut self, key: &str, value: T) -> Self {
        self.figment = self.figment.merge(Serialized::default(key, value));
        self
    }

    /// Sets a key only when the flag was given.
    pub fn set_opt<T: Serialize>(self, key: &str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Extracts and checks the configuration, reporting every error found.
    pub fn load(self) -> Result<Config, ConfigError> {
        let cfg: Config = self
            .figment
            .extract()
            .map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
        cfg.validate()?;
        Ok(cfg)
    }
}

impl Config {
    /// Defaults only; for tests and embedded use.
    pub fn defaults() -> Config {
        ConfigLoader::new()
            .load()
            .expect("built-in defaults are valid")
    }

    /// Loads defaults < file < environment.
    pub fn load(path: Option<&PathBuf>) -> Result<Config, ConfigError> {
        ConfigLoader::new()
            .file(path.map(PathBuf::as_path))
            .env()
            .load()
    }

    /// Cross-field rules; every violation is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        if let Err(e) = self.features.validate() {
            errors.push(e.to_string());
        }
        if self.topics.partitions < 1 {
            errors.push("topics.partitions must be at least 1".into());
        }
        if self.topics.replication_factor < 1 {
            errors.push("topics.replication-factor must be at least 1".into());
        }
        let names = [
            &self.topics.raw,
            &self.topics.features,
            &self.topics.dlq,
            &self.topics.events,
            &self.topics.predictions,
            &self.topics.alerts,
            &self.topics.model_events,
        ];
        if names.iter().any(|n| n.is_empty()) {
            errors.push("topic names must not be empty".into());
        }
        if self.topics.raw == self.topics.features
            || self.topics.raw == self.topics.dlq
            || self.topics.features == self.topics.dlq
        {
            errors.push("topics.raw, topics.features and topics.dlq must differ".into());
        }
        if self.featurizer.batch_max_messages == 0 {
            errors.push("featurizer.batch-max-messages must be at least 1".into());
        }
        if self.featurizer.group_id.is_empty() || self.featurizer.transactional_id.is_empty() {
            errors.push(
                "featurizer.group-id and featurizer.transactional-id must not be empty".into(),
            );
        }
        let protocols = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
        if !protocols.contains(&self.kafka.security_protocol.as_str()) {
            errors.push(format!(
                "kafka.security-protocol must be one of {protocols:?}"
            ));
        }
        if self.kafka.security_protocol.starts_with("sasl") && self.kafka.sasl_password.is_none() {
            errors.push("kafka.sasl-password is required with a SASL security protocol".into());
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            errors.push("log.format must be `text` or `json`".into());
        }
        let i = &self.ingestor;
        let (named, secret, file) = (
            !i.api_key_name.is_empty(),
            i.api_key_secret.is_some(),
            i.api_key_file.is_some(),
        );
        if named != secret {
            errors.push(
                "ingestor.api-key-name and ingestor.api-key-secret go together: set both or neither"
                    .into(),
            );
        }
        if file && (named || secret) {
            errors.push(
                "ingestor.api-key-file replaces ingestor.api-key-name and -secret: set one or the other"
                    .into(),
            );
        }
        if (named || secret || file) && i.feed != volspike_core::Feed::AdvancedTrade {
            errors.push(
                "ingestor API keys (JWT) are for the Advanced Trade feed; the Exchange feed's market data is public".into(),
            );
        }
        if self.ingestor.products.is_empty() {
            errors.push("ingestor.products must name at least one product".into());
        }
        if self.ingestor.max_pending == 0 || self.ingestor.connects_per_second == 0 {
            errors.push(
                "ingestor.max-pending and ingestor.connects-per-second must be at least 1".into(),
            );
        }
        if self.ingestor.backoff_cap < self.ingestor.backoff_base {
            errors.push("ingestor.backoff-cap must not be below ingestor.backoff-base".into());
        }
        let inf = &self.inference;
        if inf.listen.parse::<SocketAddr>().is_err() {
            errors.push(format!(
                "inference.listen `{}` is not an address (host:port)",
                inf.listen
            ));
        }
        if !["latest", "earliest"].contains(&inf.start_from.as_str()) {
            errors.push("inference.start-from must be `latest` or `earliest`".into());
        }
        if !(inf.alert_rearm_ratio > 0.0 && inf.alert_rearm_ratio <= 1.0) {
            errors.push("inference.alert-rearm-ratio must be in (0, 1]".into());
        }
        if inf.max_batch == 0 || inf.max_message_bytes == 0 || inf.max_concurrent_streams == 0 {
            errors.push(
                "inference.max-batch, -max-message-bytes and -max-concurrent-streams must be at least 1"
                    .into(),
            );
        }
        if inf.tls_cert.is_some() != inf.tls_key.is_some() {
            errors.push("inference.tls-cert and inference.tls-key go together".into());
        }
        if inf
            .auth_token
            .as_ref()
            .is_some_and(|t| t.expose().is_empty())
        {
            errors.push("inference.auth-token must not be empty when set".into());
        }
        if let Err(e) = self.admin.addr() {
            errors.extend(e.0);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load() {
        let c = Config::defaults();
        assert_eq!(c.topics.raw, "ticks.raw");
        assert_eq!(c.features.long_window, Duration::from_secs(300));
    }

    #[test]
    fn layers_override_in_order_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[kafka]\nbootstrap = \"file:9092\"\n[featurizer]\ngroup-id = \"g-file\"\n",
        )
        .unwrap();
        let c = ConfigLoader::new()
            .file(Some(&file))
            .set("kafka.bootstrap", "flag:9092")
            .load()
            .unwrap();
        assert_eq!(c.kafka.bootstrap, "flag:9092");
        assert_eq!(c.featurizer.group_id, "g-file");

        std::fs::write(&file, "[kafka]\nbootsrap = \"typo:9092\"\n").unwrap();
        let err = ConfigLoader::new().file(Some(&file)).load().unwrap_err();
        assert!(err.to_string().contains("bootsrap"), "{err}");
    }

    #[test]
    fn every_cross_field_error_is_reported_and_secrets_are_redacted() {
        let err = ConfigLoader::new()
            .set("topics.partitions", 0)
            .set("features.short-window", "10m")
            .set("kafka.security-protocol", "sasl_ssl")
            .load()
            .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        let c = ConfigLoader::new()
            .set("kafka.sasl-password", "hunter2")
            .load()
            .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn api_keys_come_whole_and_only_for_advanced_trade() {
        let half = ConfigLoader::new()
            .set("ingestor.api-key-name", "organizations/o/apiKeys/k")
            .load()
            .unwrap_err();
        assert!(half.to_string().contains("go together"), "{half}");
        let both = ConfigLoader::new()
            .set("ingestor.api-key-name", "organizations/o/apiKeys/k")
            .set("ingestor.api-key-secret", "-----BEGIN EC PRIVATE KEY-----")
            .set("ingestor.api-key-file", "/k.json")
            .load()
            .unwrap_err();
        assert!(both.to_string().contains("one or the other"), "{both}");
        let exchange = ConfigLoader::new()
            .set("ingestor.feed", "exchange")
            .set("ingestor.api-key-file", "/k.json")
            .load()
            .unwrap_err();
        assert!(
            exchange.to_string().contains("Advanced Trade"),
            "{exchange}"
        );
        let c = ConfigLoader::new()
            .set("ingestor.api-key-name", "organizations/o/apiKeys/k")
            .set(
                "ingestor.api-key-secret",
                "-----BEGIN EC PRIVATE KEY-----xyz",
            )
            .load()
            .unwrap();
        assert!(!format!("{c:?}").contains("xyz"));
    }
}
