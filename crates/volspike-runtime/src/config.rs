//! One typed configuration, loaded in layers.
//!
//! Built-in defaults (`config/default.toml`, compiled in) < `--config FILE` <
//! environment variables `VOLSPIKE__SECTION__KEY` (underscores in a key
//! become dashes: `VOLSPIKE__FEATURIZER__GROUP_ID`) < command-line flags,
//! which callers apply to the typed [`Config`] with
//! [`ConfigLoader::overrides`]. Unknown keys are errors, and [`ConfigLoader::load`]
//! lists every problem it finds, not only the first.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use serde::{Deserialize, Serialize};
use volspike_features::EngineConfig;
use volspike_model::registry::ModelRef;

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
    /// The drift and retrain worker.
    pub drift: DriftConfig,
    /// The model registry: where models are registered and served from.
    pub registry: RegistryConfig,
    /// The admin HTTP server (`/metrics`, `/healthz`).
    pub admin: AdminConfig,
    /// Logging.
    pub log: LogConfig,
}

/// Kafka connection settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KafkaConfig {
    /// `host:port[,host:port]`. Unset means the embedded Kafka where the
    /// command can run one (demo, pipeline), an error elsewhere.
    #[serde(default)]
    pub bootstrap: Option<String>,
    /// Client id prefix sent to the broker.
    pub client_id: String,
    /// How the clients talk to the brokers.
    pub security_protocol: SecurityProtocol,
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
    /// The consumer group protocol: `classic`, or `consumer` (KIP-848, the
    /// broker-side protocol of Kafka 4; the broker then owns session and
    /// heartbeat timing, so `featurizer.session-timeout` does not apply).
    pub group_protocol: GroupProtocol,
    /// Extra librdkafka properties, passed through as they are
    /// (e.g. `"socket.keepalive.enable" = "true"`).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// Kafka's consumer group protocol (librdkafka's `group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupProtocol {
    /// The client-side protocol every Kafka version serves.
    Classic,
    /// KIP-848: the broker assigns partitions incrementally (Kafka 4.0 and later).
    Consumer,
}

impl GroupProtocol {
    /// librdkafka's name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }
}

/// Kafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether SASL credentials are needed.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// A command that needs a Kafka broker was given none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} needs a Kafka broker: --bootstrap HOST:PORT, kafka.bootstrap in --config FILE, or VOLSPIKE__KAFKA__BOOTSTRAP"
)]
pub struct NoBroker(pub String);

impl KafkaConfig {
    /// The bootstrap servers, or an error saying that `who` needs them.
    pub fn broker(&self, who: &str) -> Result<&str, NoBroker> {
        self.bootstrap
            .as_deref()
            .ok_or_else(|| NoBroker(who.to_owned()))
    }
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
    /// Predictions joined with their outcomes, keyed by product id.
    pub outcomes: String,
    /// The drift worker's window reports and retrain decisions.
    pub drift_reports: String,
    /// Create missing topics at start (with `partitions` and
    /// `replication-factor`). Off where something else owns the topics
    /// (Strimzi's Topic Operator on Kubernetes): a service then only checks
    /// that its topics exist, and fails naming the missing ones.
    pub create: bool,
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
    /// WebSocket URL; unset means the feed's public Coinbase URL.
    #[serde(default)]
    pub url: Option<String>,
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
    /// Largest WebSocket message (and frame) accepted from the feed, bytes;
    /// a larger one ends the connection (reconnect, `too_large`) and is
    /// neither journaled nor published.
    pub max_message_bytes: usize,
    /// Keep an NDJSON journal of every frame here (and finish, at start,
    /// any delivery a previous run left undone); unset: no journal.
    #[serde(default)]
    pub journal_dir: Option<PathBuf>,
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
    /// to authenticate subscribes with; unset: public, unauthenticated.
    #[serde(default)]
    pub api_key_name: Option<String>,
    /// Advanced Trade: the key's EC private key (PEM); never logged.
    #[serde(default)]
    pub api_key_secret: Option<Secret>,
    /// Advanced Trade: the JSON key file the CDP portal downloads (name and
    /// private key), instead of `api-key-name` and `api-key-secret`.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// `wss://`: also trust the CA certificates in this PEM file (a private
    /// CA, a TLS-inspecting proxy, `volspike exchange-sim --tls`), besides
    /// Mozilla's roots and the system's store.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
}

impl IngestorConfig {
    /// The URL to connect to.
    pub fn url(&self) -> &str {
        match (&self.url, self.feed) {
            (Some(url), _) => url,
            (None, volspike_core::Feed::AdvancedTrade) => "wss://advanced-trade-ws.coinbase.com",
            (None, volspike_core::Feed::Exchange) => "wss://ws-feed.exchange.coinbase.com",
        }
    }
}

/// The inference service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InferenceConfig {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// The model to serve: `models:/NAME@ALIAS`, `models:/NAME/VERSION` or a
    /// file; unset: the champion of `registry.model-name`.
    #[serde(default)]
    pub model: Option<ModelRef>,
    /// Score `ticks.features` as it arrives.
    pub score_live: bool,
    /// Consumer group on `ticks.features`.
    pub group_id: String,
    /// Where a new consumer group starts.
    pub start_from: StartFrom,
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

impl InferenceConfig {
    /// The model to serve: `inference.model`, else the champion of
    /// `registry.model-name`.
    pub fn model_ref(&self, registry: &RegistryConfig) -> ModelRef {
        self.model.clone().unwrap_or_else(|| ModelRef::Alias {
            name: registry.model_name.clone(),
            alias: volspike_model::registry::CHAMPION.to_owned(),
        })
    }
}

/// The drift and retrain worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DriftConfig {
    /// Consumer group on `ticks.features` and `predictions`.
    pub group_id: String,
    /// Where a new consumer group starts.
    pub start_from: StartFrom,
    /// The worker's own data: the hourly feature archive it retrains on,
    /// and the model files it trains.
    pub data_dir: PathBuf,
    /// Days of archived features kept.
    pub archive_days: u32,
    /// Features watched for drift; empty: the stationary features
    /// (returns, volatilities, ratios, spreads in bps, activity), not price
    /// levels, which drift by nature.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// What each feature's detector measures: `ks`, `psi` or
    /// `wasserstein_norm`.
    pub statistic: volspike_drift::detector::Statistic,
    /// Live windows' duration of event time.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Event time of warm rows the reference spans: the champion's training
    /// span when the archive holds it, else the first rows the worker sees.
    #[serde(with = "humantime_serde")]
    pub reference: Duration,
    /// How long past a window's end (in the stream's event time) the
    /// worker waits for a product whose rows are behind the others' before
    /// it judges the window; that product's rows arriving later are counted
    /// as late and left out.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// Wanted share of stable windows over each feature's threshold.
    pub false_alarm_rate: f64,
    /// Windows in a row over the threshold before a feature drifts.
    pub consecutive: usize,
    /// Reference windows drawn to calibrate each threshold.
    pub draws: usize,
    /// Seed of every random draw (calibration, bootstrap).
    pub seed: u64,
    /// Event time of each product's rows kept for the outcome join; at
    /// least the longest horizon plus lookback of the models seen.
    #[serde(with = "humantime_serde")]
    pub outcome_retention: Duration,
    /// Matured outcomes live performance is measured on (event time).
    #[serde(with = "humantime_serde")]
    pub performance_window: Duration,
    /// Performance drift when live PR-AUC's upper bound falls below the
    /// model's test PR-AUC x (1 - tolerance).
    pub performance_tolerance: f64,
    /// Positive outcomes needed before performance is judged.
    pub min_positives: u64,
    /// Bootstrap resamples of every interval.
    pub bootstrap_draws: usize,
    /// Coverage of every interval.
    pub confidence: f64,
    /// When to retrain and promote.
    pub retrain: RetrainConfig,
    /// The bearer token `POST /retrain/execute` requires (better from
    /// `VOLSPIKE__DRIFT__RETRAIN_TOKEN`); unset, manual retrains are off.
    /// Its own, not the inference server's: whoever may score may not
    /// thereby retrain and promote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain_token: Option<Secret>,
}

/// The drift worker's retraining policy and promotion gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetrainConfig {
    /// Drift severity that counts towards a retrain: `low`, `medium` or
    /// `high`.
    pub severity: volspike_drift::detector::Severity,
    /// Windows in a row at or above `severity` before retraining.
    pub windows: usize,
    /// Retrain at least this often; `off` for no schedule.
    #[serde(with = "off_or_duration")]
    pub schedule: Option<Duration>,
    /// Event time of archived features a challenger trains on.
    #[serde(with = "humantime_serde")]
    pub training_window: Duration,
    /// Labeled rows needed to retrain.
    pub min_rows: u64,
    /// Spikes needed to retrain.
    pub min_positives: u64,
    /// Least time between two retrains.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// Most promotions in any 24 hours.
    pub max_promotions_per_day: u32,
    /// PR-AUC the challenger must gain over the champion on the holdout.
    pub margin: f64,
}

/// An optional duration written as a humantime span or `off`.
pub mod off_or_duration {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    /// `None` is written `off`.
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_str("off"),
        }
    }

    /// `off` or a span such as `24h`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// `off` or a span (for flags).
    pub fn parse(s: &str) -> Result<Option<Duration>, String> {
        if s == "off" {
            return Ok(None);
        }
        humantime::parse_duration(s)
            .map(Some)
            .map_err(|e| format!("`{s}` is neither `off` nor a duration such as 24h ({e})"))
    }
}

/// Where a consumer group without committed offsets starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// Only what arrives from now on.
    Latest,
    /// Everything the topic still holds.
    Earliest,
}

impl StartFrom {
    /// librdkafka's `auto.offset.reset` value.
    pub fn as_str(self) -> &'static str {
        match self {
            StartFrom::Latest => "latest",
            StartFrom::Earliest => "earliest",
        }
    }
}

impl std::str::FromStr for StartFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "latest" => Ok(StartFrom::Latest),
            "earliest" => Ok(StartFrom::Earliest),
            _ => Err(format!("`{s}`: expected `latest` or `earliest`")),
        }
    }
}

/// The model registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistryConfig {
    /// MLflow tracking URI (e.g. `http://127.0.0.1:5000`); unset: the local
    /// directory `dir` is the registry. Credentials come from MLflow's own
    /// variables `MLFLOW_TRACKING_TOKEN` or `MLFLOW_TRACKING_USERNAME` and
    /// `MLFLOW_TRACKING_PASSWORD`.
    #[serde(default)]
    pub mlflow_uri: Option<String>,
    /// The local registry directory (without `mlflow-uri`).
    pub dir: PathBuf,
    /// Registered model name: what training registers and serving loads.
    pub model_name: String,
    /// MLflow experiment of training runs.
    pub experiment: String,
}

/// The admin HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    /// Address to serve `/metrics` and `/healthz` on; `"off"` disables it.
    #[serde(with = "off_or_addr")]
    pub listen: Option<SocketAddr>,
}

/// A flag value: `host:port`, or `off` to disable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffOrAddr(pub Option<SocketAddr>);

impl std::str::FromStr for OffOrAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        off_or_addr::parse(s).map(OffOrAddr)
    }
}

/// An optional address written as `host:port` or `off`, so that a later
/// layer (environment, flag) can switch off what an earlier one set.
pub mod off_or_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize as _, Deserializer, Serializer};

    /// `None` is written `off`.
    pub fn serialize<S: Serializer>(v: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.collect_str(a),
            None => s.serialize_str("off"),
        }
    }

    /// `off` or an address.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// `off` or an address (for flags).
    pub fn parse(s: &str) -> Result<Option<SocketAddr>, String> {
        if s == "off" {
            return Ok(None);
        }
        s.parse()
            .map(Some)
            .map_err(|e| format!("`{s}` is neither `off` nor host:port ({e})"))
    }
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `volspike_featurizer=debug,info`;
    /// `RUST_LOG` wins when set.
    pub level: String,
    /// Line format.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A string that never appears in logs, errors or `Debug` output.
///
/// Read from any scalar: an environment variable `..._TOKEN=1234567890` is
/// a number to the environment layer, and a type error would print it.
#[derive(Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a secret (a string)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
            fn visit_char<E: serde::de::Error>(self, v: char) -> Result<Secret, E> {
                Ok(Secret(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The keys whose values are [`Secret`]s: the environment layer keeps
/// their text exactly (`0123` stays `0123`, not the number 123).
pub const SECRET_KEYS: [&str; 4] = [
    "kafka.sasl-password",
    "ingestor.api-key-secret",
    "inference.auth-token",
    "drift.retrain-token",
];

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

/// A typed change to a loaded [`Config`]: how command-line flags override
/// the other layers.
pub type Override = Box<dyn FnOnce(&mut Config) + Send>;

/// Builds a [`Config`] from its layers.
pub struct ConfigLoader {
    figment: Figment,
    overrides: Vec<Override>,
}

impl fmt::Debug for ConfigLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigLoader")
            .field("figment", &self.figment)
            .field("overrides", &self.overrides.len())
            .finish()
    }
}

impl Default for ConfigLoader {
    fn default() -> Self {
        Self::new()
    }
}

/// Most problems [`ConfigLoader::load`] collects before giving up.
const MAX_PROBLEMS: usize = 64;

impl ConfigLoader {
    /// Defaults only.
    pub fn new() -> Self {
        ConfigLoader {
            figment: Figment::from(Toml::string(DEFAULT_TOML)),
            overrides: Vec::new(),
        }
    }

    /// Adds a TOML file over what is there.
    pub fn file(mut self, path: Option<&Path>) -> Self {
        if let Some(p) = path {
            self.figment = self.figment.merge(Toml::file_exact(p));
        }
        self
    }

    /// Adds TOML text over what is there (tests, embedded configurations).
    pub fn toml(mut self, text: &str) -> Self {
        self.figment = self.figment.merge(Toml::string(text));
        self
    }

    /// Adds `VOLSPIKE__SECTION__KEY` environment variables (those whose
    /// name or value is not Unicode are not ours and are left out).
    pub fn env(self) -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        self.vars(&format!("`{ENV_PREFIX}` environment variable(s)"), vars)
    }

    /// Adds `VOLSPIKE__SECTION__KEY` variables given as pairs (an env file,
    /// a compose service's `environment:`), read exactly as [`Self::env`]
    /// reads the process's; `source` names them in error messages. Other
    /// variables are left out.
    pub fn vars(mut self, source: &str, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = vars
            .into_iter()
            .filter_map(|(k, v)| Some((env_key(&k)?, v)))
            .collect();
        self.figment = self.figment.merge(VarsProvider {
            source: source.to_owned(),
            vars,
        });
        self
    }

    /// Changes the typed configuration after the other layers, before it is
    /// checked: command-line flags.
    pub fn overrides(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.overrides.push(Box::new(f));
        self
    }

    /// Extracts and checks the configuration, reporting every problem found:
    /// each key that is unknown or has a value of the wrong kind (with the
    /// layer it came from), then every cross-field rule broken.
    pub fn load(self) -> Result<Config, ConfigError> {
        let mut data: Dict = self
            .figment
            .extract()
            .map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
        let defaults: Dict = Figment::from(Toml::string(DEFAULT_TOML))
            .extract()
            .expect("built-in defaults are valid TOML");
        let mut problems = Vec::new();
        // serde stops at the first bad value, so each one found is noted,
        // replaced by its default (or removed) and the rest tried again.
        let mut cfg = loop {
            match Figment::from(Serialized::defaults(&data)).extract::<Config>() {
                Ok(cfg) => break Some(cfg),
                Err(e) if problems.len() < MAX_PROBLEMS => {
                    let mut progressed = false;
                    for e in e {
                        let (key, fixed) = repair(&mut data, &defaults, &e);
                        let origin = self
                            .figment
                            .find_metadata(&key)
                            .map(|m| format!(" (from {})", origin(m)))
                            .unwrap_or_default();
                        problems.push(format!("{key}: {}{origin}", e.kind));
                        progressed |= fixed;
                    }
                    if !progressed {
                        break None;
                    }
                }
                Err(e) => {
                    problems.extend(e.into_iter().map(|e| e.to_string()));
                    break None;
                }
            }
        };
        if let Some(cfg) = cfg.as_mut() {
            for f in self.overrides {
                f(cfg);
            }
            if let Err(e) = cfg.validate() {
                problems.extend(e.0);
            }
        }
        match cfg {
            Some(cfg) if problems.is_empty() => Ok(cfg),
            _ => Err(ConfigError(problems)),
        }
    }
}

/// The prefix of the variables that configure volspike.
pub const ENV_PREFIX: &str = "VOLSPIKE__";

/// `section__some_key` (after the prefix) as the key path `section.some-key`.
fn env_key_path(k: &str) -> String {
    k.replace("__", ".").replace('_', "-")
}

/// Whether `var` configures volspike: its name starts with [`ENV_PREFIX`],
/// in any case (as figment's `Env` matches it).
pub fn is_config_var(var: &str) -> bool {
    var.get(..ENV_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
}

/// The key path a variable sets, `None` when it is not one of ours.
fn env_key(var: &str) -> Option<String> {
    is_config_var(var).then(|| env_key_path(&var[ENV_PREFIX.len()..].to_ascii_lowercase()))
}

/// Variables given as pairs, as figment's `Env` reads the process's.
struct VarsProvider {
    source: String,
    /// (key path, raw value).
    vars: Vec<(String, String)>,
}

impl figment::Provider for VarsProvider {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(self.source.clone())
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, raw) in &self.vars {
            let value: Value = if SECRET_KEYS.contains(&key.as_str()) {
                Value::from(raw.clone())
            } else {
                raw.parse().expect("parsing a value is infallible")
            };
            let parts: Vec<&str> = key.split('.').collect();
            let Some((last, parents)) = parts.split_last() else {
                continue;
            };
            let mut at = &mut dict;
            for p in parents {
                let entry = at
                    .entry((*p).to_owned())
                    .or_insert_with(|| Value::from(Dict::new()));
                if !matches!(entry, Value::Dict(..)) {
                    *entry = Value::from(Dict::new());
                }
                let Value::Dict(_, d) = entry else {
                    unreachable!("made a dict above")
                };
                at = d;
            }
            at.insert((*last).to_owned(), value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Where a value came from, for error messages.
fn origin(m: &figment::Metadata) -> String {
    match &m.source {
        Some(figment::Source::File(p)) => p.display().to_string(),
        _ => m.name.to_string(),
    }
}

/// Takes the key `e` is about out of `data`: an unknown key is removed, a
/// bad value is replaced by its default (removed when it has none). Returns
/// the dotted key and whether `data` changed.
fn repair(data: &mut Dict, defaults: &Dict, e: &figment::Error) -> (String, bool) {
    let mut path: Vec<String> = e.path.clone();
    // figment names an unknown key by its path already, serde by the field.
    if let figment::error::Kind::UnknownField(field, _) = &e.kind
        && path.last() != Some(field)
    {
        path.push(field.clone());
    }
    let key = path.join(".");
    let Some((last, parents)) = path.split_last() else {
        return (key, false);
    };
    let default = parents
        .iter()
        .try_fold(defaults, |d, k| match d.get(k) {
            Some(Value::Dict(_, d)) => Some(d),
            _ => None,
        })
        .and_then(|d| d.get(last))
        .cloned();
    let mut dict = data;
    for k in parents {
        match dict.get_mut(k) {
            Some(Value::Dict(_, d)) => dict = d,
            _ => return (key, false),
        }
    }
    let changed = match default {
        Some(v) if dict.get(last) != Some(&v) => {
            dict.insert(last.clone(), v);
            true
        }
        Some(_) => false,
        None => dict.remove(last).is_some(),
    };
    (key, changed)
}

impl Config {
    /// Defaults only; for tests and embedded use.
    pub fn defaults() -> Config {
        ConfigLoader::new()
            .load()
            .expect("built-in defaults are valid")
    }

    /// Loads defaults < file < environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        ConfigLoader::new().file(path).env().load()
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
            &self.topics.outcomes,
            &self.topics.drift_reports,
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
        if self
            .kafka
            .bootstrap
            .as_deref()
            .is_some_and(|b| b.trim().is_empty())
        {
            errors
                .push("kafka.bootstrap must not be empty when set (leave it out for none)".into());
        }
        if self.kafka.security_protocol.uses_sasl() && self.kafka.sasl_password.is_none() {
            errors.push("kafka.sasl-password is required with a SASL security protocol".into());
        }
        let i = &self.ingestor;
        if i.url
            .as_deref()
            .is_some_and(|u| !(u.starts_with("ws://") || u.starts_with("wss://")))
        {
            errors.push(format!(
                "ingestor.url `{}` is not a WebSocket URL (ws:// or wss://)",
                i.url.as_deref().unwrap_or_default()
            ));
        }
        let (named, secret, file) = (
            i.api_key_name.is_some(),
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
        let d = &self.drift;
        if !(d.false_alarm_rate > 0.0 && d.false_alarm_rate < 1.0) {
            errors.push("drift.false-alarm-rate must be in (0, 1)".into());
        }
        if !(d.confidence > 0.0 && d.confidence < 1.0) {
            errors.push("drift.confidence must be in (0, 1)".into());
        }
        if !(0.0..1.0).contains(&d.performance_tolerance) {
            errors.push("drift.performance-tolerance must be in [0, 1)".into());
        }
        if d.consecutive == 0 || d.draws == 0 || d.bootstrap_draws == 0 {
            errors.push(
                "drift.consecutive, drift.draws and drift.bootstrap-draws must be at least 1"
                    .into(),
            );
        }
        if d.window.is_zero() || d.reference < d.window * 2 {
            errors.push("drift.reference must span at least two drift.window".into());
        }
        if d.group_id.is_empty() {
            errors.push("drift.group-id must not be empty".into());
        }
        if let Some(bad) = d
            .inputs
            .iter()
            .find(|f| !volspike_core::FEATURE_NAMES.contains(&f.as_str()))
        {
            errors.push(format!(
                "drift.inputs: `{bad}` is not a feature (known: {})",
                volspike_core::FEATURE_NAMES.join(", ")
            ));
        }
        if d.retrain.severity == volspike_drift::detector::Severity::None {
            errors.push("drift.retrain.severity must be low, medium or high".into());
        }
        if d.retrain.windows == 0 {
            errors.push("drift.retrain.windows must be at least 1".into());
        }
        if !(d.retrain.margin >= 0.0 && d.retrain.margin < 1.0) {
            errors.push("drift.retrain.margin must be in [0, 1)".into());
        }
        if self.registry.model_name.is_empty() {
            errors.push("registry.model-name must not be empty".into());
        }
        if self
            .registry
            .mlflow_uri
            .as_deref()
            .is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            errors.push("registry.mlflow-uri must be an http:// or https:// URL".into());
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
    fn numeric_secrets_load_exactly_and_are_never_printed() {
        let c = ConfigLoader::new()
            .vars(
                "env",
                [
                    (
                        "VOLSPIKE__INFERENCE__AUTH_TOKEN".into(),
                        "0123456789".into(),
                    ),
                    ("VOLSPIKE__KAFKA__SASL_PASSWORD".into(), "1234567890".into()),
                ],
            )
            .load()
            .unwrap();
        let token = c.inference.auth_token.as_ref().unwrap();
        assert_eq!(token.expose(), "0123456789");
        assert_eq!(
            c.kafka.sasl_password.as_ref().unwrap().expose(),
            "1234567890"
        );
        let shown = format!("{c:?} {token}");
        assert!(!shown.contains("123456789"), "{shown}");
        // From a file, a number is a secret too; a table is refused without
        // showing what it held.
        let c = ConfigLoader::new()
            .toml("inference.auth-token = 1234567890")
            .load()
            .unwrap();
        assert_eq!(c.inference.auth_token.unwrap().expose(), "1234567890");
        let e = ConfigLoader::new()
            .toml("inference.auth-token = { hidden = 987654321 }")
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("inference.auth-token") && !e.contains("987654321"),
            "{e}"
        );
    }

    #[test]
    fn defaults_load() {
        let c = Config::defaults();
        assert_eq!(c.topics.raw, "ticks.raw");
        assert_eq!(c.features.long_window, Duration::from_secs(300));
        assert_eq!(c.kafka.bootstrap, None);
        assert_eq!(c.admin.listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(
            c.inference.model_ref(&c.registry).to_string(),
            "models:/volspike@champion"
        );
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
            .overrides(|c| c.kafka.bootstrap = Some("flag:9092".into()))
            .load()
            .unwrap();
        assert_eq!(c.kafka.bootstrap.as_deref(), Some("flag:9092"));
        assert_eq!(c.featurizer.group_id, "g-file");

        std::fs::write(&file, "[kafka]\nbootsrap = \"typo:9092\"\n").unwrap();
        let err = ConfigLoader::new().file(Some(&file)).load().unwrap_err();
        assert!(err.to_string().contains("kafka.bootsrap"), "{err}");
        assert!(err.to_string().contains("c.toml"), "{err}");
    }

    #[test]
    fn variables_given_as_pairs_read_as_the_environment_and_name_bad_keys() {
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let c = ConfigLoader::new()
            .vars(
                "prod.env",
                vars(&[
                    ("VOLSPIKE__KAFKA__BOOTSTRAP", "kafka:9092"),
                    ("VOLSPIKE__TOPICS__PARTITIONS", "6"),
                    ("VOLSPIKE__DRIFT__RETRAIN__MIN_ROWS", "10"),
                    ("VOLSPIKE__INGESTOR__PRODUCTS", "[\"BTC-USD\", \"ETH-USD\"]"),
                    ("volspike__admin__listen", "off"),
                    ("GF_SECURITY_ADMIN_PASSWORD", "not ours"),
                ]),
            )
            .load()
            .unwrap();
        assert_eq!(c.kafka.bootstrap.as_deref(), Some("kafka:9092"));
        assert_eq!(c.topics.partitions, 6);
        assert_eq!(c.drift.retrain.min_rows, 10);
        assert_eq!(c.ingestor.products.len(), 2);
        assert_eq!(
            c.admin.listen, None,
            "the prefix in any case, as env() reads it"
        );
        let err = ConfigLoader::new()
            .vars(
                "prod.env",
                vars(&[("VOLSPIKE__INFERENCE__AUTH_TOKN", "secret")]),
            )
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("inference.auth-tokn"), "{err}");
        assert!(err.contains("prod.env"), "{err}");
    }

    #[test]
    fn every_bad_value_is_listed_with_where_it_came_from() {
        let err = ConfigLoader::new()
            .toml(
                r#"
                [kafka]
                security-protocol = "tls"
                request-timeout = "soon"
                [inference]
                listen = "localhost"
                start-from = "beginning"
                model = "models:/volspike@"
                [admin]
                listen = ""
                [log]
                format = "yaml"
                [ingestor]
                feed = "binance"
                colour = "blue"
                "#,
            )
            .load()
            .unwrap_err();
        for key in [
            "kafka.security-protocol",
            "kafka.request-timeout",
            "inference.listen",
            "inference.start-from",
            "inference.model",
            "admin.listen",
            "log.format",
            "ingestor.feed",
            "ingestor.colour",
        ] {
            assert!(
                err.0.iter().any(|p| p.starts_with(&format!("{key}:"))),
                "{key} missing from {err}"
            );
        }
        assert_eq!(err.0.len(), 9, "{err}");
    }

    #[test]
    fn every_cross_field_error_is_reported_and_secrets_are_redacted() {
        let err = ConfigLoader::new()
            .toml("[topics]\npartitions = 0\n[features]\nshort-window = \"10m\"\n[kafka]\nsecurity-protocol = \"sasl_ssl\"\n")
            .load()
            .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        let c = ConfigLoader::new()
            .toml("[kafka]\nsasl-password = \"hunter2\"\n")
            .load()
            .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_later_layer_can_switch_the_admin_server_off() {
        let c = ConfigLoader::new()
            .toml("[admin]\nlisten = \"off\"\n")
            .load()
            .unwrap();
        assert_eq!(c.admin.listen, None);
    }

    #[test]
    fn a_command_without_a_broker_says_how_to_give_one() {
        let c = Config::defaults();
        let e = c.kafka.broker("the featurizer").unwrap_err();
        assert!(e.to_string().contains("--bootstrap"), "{e}");
    }

    #[test]
    fn api_keys_come_whole_and_only_for_advanced_trade() {
        let load = |toml: &str| ConfigLoader::new().toml(toml).load();
        let half = load("[ingestor]\napi-key-name = \"organizations/o/apiKeys/k\"\n").unwrap_err();
        assert!(half.to_string().contains("go together"), "{half}");
        let both = load(
            "[ingestor]\napi-key-name = \"organizations/o/apiKeys/k\"\napi-key-secret = \"-----BEGIN EC PRIVATE KEY-----\"\napi-key-file = \"/k.json\"\n",
        )
        .unwrap_err();
        assert!(both.to_string().contains("one or the other"), "{both}");
        let exchange =
            load("[ingestor]\nfeed = \"exchange\"\napi-key-file = \"/k.json\"\n").unwrap_err();
        assert!(
            exchange.to_string().contains("Advanced Trade"),
            "{exchange}"
        );
        let c = load(
            "[ingestor]\napi-key-name = \"organizations/o/apiKeys/k\"\napi-key-secret = \"-----BEGIN EC PRIVATE KEY-----xyz\"\n",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("xyz"));
    }

    #[test]
    fn drift_settings_are_typed_and_checked() {
        let load = |toml: &str| ConfigLoader::new().toml(toml).load();
        let c =
            load("[drift]\nstatistic = \"psi\"\n[drift.retrain]\nschedule = \"24h\"\n").unwrap();
        assert_eq!(c.drift.statistic, volspike_drift::detector::Statistic::Psi);
        assert_eq!(c.drift.retrain.schedule, Some(Duration::from_secs(86_400)));
        assert_eq!(Config::defaults().drift.retrain.schedule, None);
        let bad = load(
            "[drift]\nfalse-alarm-rate = 1.5\nreference = \"10m\"\ninputs = [\"vibes\"]\n[drift.retrain]\nseverity = \"none\"\nschedule = \"sometimes\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("schedule"), "{bad}");
        let bad = load(
            "[drift]\nfalse-alarm-rate = 1.5\nreference = \"10m\"\ninputs = [\"vibes\"]\n[drift.retrain]\nseverity = \"none\"\n",
        )
        .unwrap_err()
        .to_string();
        for wanted in [
            "drift.false-alarm-rate",
            "drift.reference",
            "`vibes` is not a feature",
            "drift.retrain.severity",
        ] {
            assert!(bad.contains(wanted), "{wanted} missing from {bad}");
        }
    }
}
