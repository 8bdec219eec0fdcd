//! The HTTP side: one request helper with retries and auth, and the calls
//! volspike needs, each named after its MLflow endpoint.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng as _;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::batch::{self, KeyValue, Metric};

/// How to authenticate to the tracking server.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer TOKEN` (MLflow's `MLFLOW_TRACKING_TOKEN`).
    Bearer(String),
    /// HTTP basic (`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`).
    Basic {
        /// User.
        user: String,
        /// Password.
        password: String,
    },
}

// Credentials never reach logs.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(<redacted>)",
            Auth::Basic { .. } => "Basic(<redacted>)",
        })
    }
}

/// Where the server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct MlflowConfig {
    /// Tracking URI, e.g. `http://127.0.0.1:5000`.
    pub uri: String,
    /// Credentials.
    pub auth: Auth,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after a 429 or 5xx answer (not after other errors).
    pub max_retries: u32,
    /// First retry delay; doubled each time with full jitter, capped at 10 s.
    pub backoff: Duration,
}

impl MlflowConfig {
    /// Defaults for `uri`: 30 s timeout, 5 retries from 250 ms, and no auth
    /// unless the URI carries a user and password (`http://user:pass@host`):
    /// those become HTTP basic credentials and leave the URI, so that no
    /// message, log line or error (reqwest's name the URL) can show them.
    pub fn new(uri: impl Into<String>) -> MlflowConfig {
        let (uri, credentials) = split_credentials(&uri.into());
        MlflowConfig {
            uri: uri.trim_end_matches('/').to_owned(),
            auth: credentials.map_or(Auth::None, |(user, password)| Auth::Basic {
                user,
                password,
            }),
            timeout: Duration::from_secs(30),
            max_retries: 5,
            backoff: Duration::from_millis(250),
        }
    }
}

/// `uri` without the user and password it may carry, and those
/// (percent-decoded). A URI that does not parse is returned as it is.
pub fn split_credentials(uri: &str) -> (String, Option<(String, String)>) {
    let Ok(mut url) = reqwest::Url::parse(uri) else {
        return (uri.to_owned(), None);
    };
    if url.username().is_empty() && url.password().is_none() {
        return (uri.to_owned(), None);
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let password = decode(url.password().unwrap_or_default());
    // Both calls fail only for URLs that cannot have credentials, which
    // these (with a user already) are not.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    (url.to_string(), Some((user, password)))
}

/// Errors of MLflow calls.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// No connection to the server at all.
    #[error(
        "the MLflow server at {uri} is unreachable ({source}); is `mlflow server` running there?"
    )]
    Unreachable {
        /// Tracking URI.
        uri: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// MLflow answered with an error (`error_code` as MLflow names it,
    /// e.g. `RESOURCE_DOES_NOT_EXIST`).
    #[error("MLflow {endpoint}: {status} {error_code}: {message}")]
    Api {
        /// The endpoint called.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// MLflow's error code (empty if the body had none).
        error_code: String,
        /// MLflow's message or the body.
        message: String,
    },
    /// Transport failure after connecting (timeout, reset, ...).
    #[error("MLflow {endpoint}: {source}")]
    Http {
        /// The endpoint called.
        endpoint: String,
        /// The error.
        source: reqwest::Error,
    },
    /// The answer was not what the API documents.
    #[error("MLflow {endpoint}: unexpected answer: {message}")]
    Decode {
        /// The endpoint called.
        endpoint: String,
        /// What was wrong.
        message: String,
    },
    /// A model version did not become READY.
    #[error("model {name} version {version} is {status}: {message}")]
    Registration {
        /// Registered model.
        name: String,
        /// Version.
        version: u64,
        /// Last status seen.
        status: String,
        /// Status message.
        message: String,
    },
    /// A model file that fails volspike's validation is not registered.
    #[error("refusing to register a malformed model: {0}")]
    Invalid(String),
    /// The credentials in the environment are incomplete.
    #[error("MLflow credentials: {0}")]
    Credentials(String),
    /// The run's artifacts are not served through this tracking server.
    #[error(
        "run artifacts live at `{0}`, which this client cannot reach: start `mlflow server` with artifact proxying (the default, `--serve-artifacts`)"
    )]
    NotProxied(String),
}

impl MlflowError {
    /// MLflow's `error_code`, if the server sent one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            MlflowError::Api { error_code, .. } if !error_code.is_empty() => Some(error_code),
            _ => None,
        }
    }

    /// True for `RESOURCE_DOES_NOT_EXIST`.
    pub fn is_not_found(&self) -> bool {
        self.error_code() == Some("RESOURCE_DOES_NOT_EXIST")
            || matches!(self, MlflowError::Api { status: 404, error_code, .. } if error_code.is_empty())
    }

    /// True for `RESOURCE_ALREADY_EXISTS`.
    pub fn is_already_exists(&self) -> bool {
        self.error_code() == Some("RESOURCE_ALREADY_EXISTS")
    }
}

/// What `runs/create` returns that we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunInfo {
    /// Run id.
    pub run_id: String,
    /// Experiment id.
    pub experiment_id: String,
    /// Where its artifacts go (`mlflow-artifacts:/...` when proxied).
    pub artifact_uri: String,
}

/// A model version as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModelVersion {
    /// Registered model name.
    pub name: String,
    /// Version number (MLflow sends a string).
    #[serde(deserialize_with = "u64_from_string")]
    pub version: u64,
    /// Model artifacts location.
    #[serde(default)]
    pub source: String,
    /// Run it came from.
    #[serde(default)]
    pub run_id: String,
    /// `PENDING_REGISTRATION`, `READY`, `FAILED_REGISTRATION`.
    #[serde(default)]
    pub status: String,
    /// Why, when not ready.
    #[serde(default)]
    pub status_message: String,
    /// Creation time, ms.
    #[serde(default, deserialize_with = "i64_from_any")]
    pub creation_timestamp: i64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<TagOut>,
    /// Aliases pointing here.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A tag as MLflow returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TagOut {
    /// Name.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

fn u64_from_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("not a u64")),
        v => Err(serde::de::Error::custom(format!("not a version: {v}"))),
    }
}

fn i64_from_any<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("not an i64")),
        _ => Ok(0),
    }
}

/// A client of one MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowClient {
    http: reqwest::Client,
    cfg: MlflowConfig,
}

enum Body {
    None,
    Json(Value),
    Bytes(Bytes),
}

impl MlflowClient {
    /// A client for `cfg`.
    pub fn new(cfg: MlflowConfig) -> Result<MlflowClient, MlflowError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| MlflowError::Http {
                endpoint: "client".into(),
                source,
            })?;
        Ok(MlflowClient { http, cfg })
    }

    /// The tracking URI.
    pub fn uri(&self) -> &str {
        &self.cfg.uri
    }

    /// One call, retried with capped, fully jittered exponential backoff on
    /// 429 and 5xx only (honouring `Retry-After` on 429).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body,
    ) -> Result<Bytes, MlflowError> {
        let url = format!("{}{}", self.cfg.uri, path);
        let endpoint = path.to_owned();
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url).query(query);
            req = match &self.cfg.auth {
                Auth::None => req,
                Auth::Bearer(t) => req.bearer_auth(t),
                Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            };
            req = match &body {
                Body::None => req,
                Body::Json(v) => req.json(v),
                Body::Bytes(b) => req
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(b.clone()),
            };
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    return Err(MlflowError::Unreachable {
                        uri: self.cfg.uri.clone(),
                        source: e,
                    });
                }
                Err(source) => return Err(MlflowError::Http { endpoint, source }),
            };
            let status = resp.status();
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && attempt < self.cfg.max_retries {
                let cap = self
                    .cfg
                    .backoff
                    .saturating_mul(1 << attempt.min(16))
                    .min(Duration::from_secs(10));
                let mut delay = cap.mul_f64(rand::rng().random::<f64>());
                if let Some(after) = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    delay = delay.max(Duration::from_secs(after.min(60)));
                }
                tracing::warn!(%endpoint, %status, attempt, ?delay, "MLflow call failed; retrying");
                attempt += 1;
                tokio::time::sleep(delay).await;
                continue;
            }
            let bytes = resp.bytes().await.map_err(|source| MlflowError::Http {
                endpoint: endpoint.clone(),
                source,
            })?;
            if status.is_success() {
                return Ok(bytes);
            }
            #[derive(Deserialize)]
            struct ApiError {
                #[serde(default)]
                error_code: String,
                #[serde(default)]
                message: String,
            }
            let (error_code, message) = match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(e) => (e.error_code, e.message),
                Err(_) => (String::new(), String::from_utf8_lossy(&bytes).into_owned()),
            };
            return Err(MlflowError::Api {
                endpoint,
                status: status.as_u16(),
                error_code,
                message,
            });
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<T, MlflowError> {
        let body = body.map_or(Body::None, Body::Json);
        let bytes = self.send(method, path, query, body).await?;
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map_err(|e| MlflowError::Decode {
            endpoint: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The id of experiment `name`, creating it if needed.
    pub async fn get_or_create_experiment(&self, name: &str) -> Result<String, MlflowError> {
        #[derive(Deserialize)]
        struct Exp {
            experiment_id: String,
        }
        #[derive(Deserialize)]
        struct Got {
            experiment: Exp,
        }
        #[derive(Deserialize)]
        struct Created {
            experiment_id: String,
        }
        let get = || async {
            self.call::<Got>(
                Method::GET,
                "/api/2.0/mlflow/experiments/get-by-name",
                &[("experiment_name", name)],
                None,
            )
            .await
        };
        match get().await {
            Ok(g) => return Ok(g.experiment.experiment_id),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        match self
            .call::<Created>(
                Method::POST,
                "/api/2.0/mlflow/experiments/create",
                &[],
                Some(json!({ "name": name })),
            )
            .await
        {
            Ok(c) => Ok(c.experiment_id),
            // Created by someone else in between.
            Err(e) if e.is_already_exists() => Ok(get().await?.experiment.experiment_id),
            Err(e) => Err(e),
        }
    }

    /// Starts a run.
    pub async fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        tags: &[KeyValue],
    ) -> Result<RunInfo, MlflowError> {
        #[derive(Deserialize)]
        struct Run {
            info: RunInfo,
        }
        #[derive(Deserialize)]
        struct Created {
            run: Run,
        }
        let c: Created = self
            .call(
                Method::POST,
                "/api/2.0/mlflow/runs/create",
                &[],
                Some(json!({
                    "experiment_id": experiment_id,
                    "run_name": run_name,
                    "start_time": now_ms(),
                    "tags": tags,
                })),
            )
            .await?;
        Ok(c.run.info)
    }

    /// Logs metrics, params and tags in as few `runs/log-batch` calls as
    /// MLflow's limits allow; returns the number of calls.
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<KeyValue>,
        tags: Vec<KeyValue>,
    ) -> Result<usize, MlflowError> {
        let batches = batch::split(metrics, params, tags);
        for b in &batches {
            let mut body = serde_json::to_value(b).expect("serializable");
            body["run_id"] = json!(run_id);
            self.call::<Value>(
                Method::POST,
                "/api/2.0/mlflow/runs/log-batch",
                &[],
                Some(body),
            )
            .await?;
        }
        Ok(batches.len())
    }

    /// Ends a run as `FINISHED` or `FAILED`.
    pub async fn finish_run(&self, run_id: &str, ok: bool) -> Result<(), MlflowError> {
        self.call::<Value>(
            Method::POST,
            "/api/2.0/mlflow/runs/update",
            &[],
            Some(json!({
                "run_id": run_id,
                "status": if ok { "FINISHED" } else { "FAILED" },
                "end_time": now_ms(),
            })),
        )
        .await?;
        Ok(())
    }

    /// Uploads `bytes` as `path` (relative, `/`-separated) under the run's
    /// artifact root, through the server's artifact proxy.
    pub async fn upload_artifact(
        &self,
        run: &RunInfo,
        path: &str,
        bytes: Bytes,
    ) -> Result<(), MlflowError> {
        let root = proxied_path(&run.artifact_uri)?;
        let url = format!("/api/2.0/mlflow-artifacts/artifacts/{root}/{path}");
        self.send(Method::PUT, &url, &[], Body::Bytes(bytes))
            .await?;
        Ok(())
    }

    /// Downloads `path` under an artifact URI (`mlflow-artifacts:/...`).
    pub async fn download_artifact(&self, uri: &str, path: &str) -> Result<Bytes, MlflowError> {
        let root = proxied_path(uri)?;
        let url = format!("/api/2.0/mlflow-artifacts/artifacts/{root}/{path}");
        self.send(Method::GET, &url, &[], Body::None).await
    }

    /// Creates registered model `name` unless it exists.
    pub async fn ensure_registered_model(&self, name: &str) -> Result<(), MlflowError> {
        match self
            .call::<Value>(
                Method::POST,
                "/api/2.0/mlflow/registered-models/create",
                &[],
                Some(json!({ "name": name })),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_already_exists() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates a model version from `source` of `run_id`.
    pub async fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: &str,
        tags: &[KeyValue],
    ) -> Result<ModelVersion, MlflowError> {
        #[derive(Deserialize)]
        struct Created {
            model_version: ModelVersion,
        }
        let c: Created = self
            .call(
                Method::POST,
                "/api/2.0/mlflow/model-versions/create",
                &[],
                Some(json!({ "name": name, "source": source, "run_id": run_id, "tags": tags })),
            )
            .await?;
        Ok(c.model_version)
    }

    /// One model version.
    pub async fn get_model_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<ModelVersion, MlflowError> {
        #[derive(Deserialize)]
        struct Got {
            model_version: ModelVersion,
        }
        let v = version.to_string();
        let g: Got = self
            .call(
                Method::GET,
                "/api/2.0/mlflow/model-versions/get",
                &[("name", name), ("version", &v)],
                None,
            )
            .await?;
        Ok(g.model_version)
    }

    /// Waits until a version is `READY` (or fails, or `timeout` passes).
    pub async fn wait_until_ready(
        &self,
        name: &str,
        version: u64,
        timeout: Duration,
    ) -> Result<ModelVersion, MlflowError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            let v = self.get_model_version(name, version).await?;
            match v.status.as_str() {
                "READY" => return Ok(v),
                "PENDING_REGISTRATION" if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                _ => {
                    return Err(MlflowError::Registration {
                        name: name.to_owned(),
                        version,
                        status: v.status,
                        message: v.status_message,
                    });
                }
            }
        }
    }

    /// Every version of `name`.
    pub async fn search_model_versions(
        &self,
        name: &str,
    ) -> Result<Vec<ModelVersion>, MlflowError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            model_versions: Vec<ModelVersion>,
            #[serde(default)]
            next_page_token: Option<String>,
        }
        let filter = format!("name='{}'", name.replace('\'', "\\'"));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("filter", filter.as_str()), ("max_results", "1000")];
            if let Some(t) = &token {
                q.push(("page_token", t.as_str()));
            }
            let p: Page = self
                .call(
                    Method::GET,
                    "/api/2.0/mlflow/model-versions/search",
                    &q,
                    None,
                )
                .await?;
            out.extend(p.model_versions);
            match p.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort_by_key(|v| v.version);
        Ok(out)
    }

    /// Points `alias` at `version`.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: u64,
    ) -> Result<(), MlflowError> {
        self.call::<Value>(
            Method::POST,
            "/api/2.0/mlflow/registered-models/alias",
            &[],
            Some(json!({ "name": name, "alias": alias, "version": version.to_string() })),
        )
        .await?;
        Ok(())
    }

    /// The version `alias` points at; `None` if the alias (or model) does
    /// not exist.
    pub async fn get_alias(&self, name: &str, alias: &str) -> Result<Option<u64>, MlflowError> {
        #[derive(Deserialize)]
        struct Got {
            model_version: ModelVersion,
        }
        match self
            .call::<Got>(
                Method::GET,
                "/api/2.0/mlflow/registered-models/alias",
                &[("name", name), ("alias", alias)],
                None,
            )
            .await
        {
            Ok(g) => Ok(Some(g.model_version.version)),
            Err(e) if e.is_not_found() || e.error_code() == Some("INVALID_PARAMETER_VALUE") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A registered model's tags.
    pub async fn registered_model_tags(&self, name: &str) -> Result<Vec<TagOut>, MlflowError> {
        #[derive(Deserialize)]
        struct Model {
            #[serde(default)]
            tags: Vec<TagOut>,
        }
        #[derive(Deserialize)]
        struct Got {
            registered_model: Model,
        }
        let g: Got = self
            .call(
                Method::GET,
                "/api/2.0/mlflow/registered-models/get",
                &[("name", name)],
                None,
            )
            .await?;
        Ok(g.registered_model.tags)
    }

    /// Sets a tag on a model version.
    pub async fn set_model_version_tag(
        &self,
        name: &str,
        version: u64,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        self.call::<Value>(
            Method::POST,
            "/api/2.0/mlflow/model-versions/set-tag",
            &[],
            Some(
                json!({ "name": name, "version": version.to_string(), "key": key, "value": value }),
            ),
        )
        .await?;
        Ok(())
    }

    /// Sets a tag on a run.
    pub async fn set_run_tag(
        &self,
        run_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        self.call::<Value>(
            Method::POST,
            "/api/2.0/mlflow/runs/set-tag",
            &[],
            Some(json!({ "run_id": run_id, "key": key, "value": value })),
        )
        .await?;
        Ok(())
    }

    /// Sets a tag on a registered model.
    pub async fn set_registered_model_tag(
        &self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        self.call::<Value>(
            Method::POST,
            "/api/2.0/mlflow/registered-models/set-tag",
            &[],
            Some(json!({ "name": name, "key": key, "value": value })),
        )
        .await?;
        Ok(())
    }
}

/// `mlflow-artifacts:/1/abc/artifacts` or
/// `mlflow-artifacts://host:port/1/abc/artifacts` -> `1/abc/artifacts`.
pub fn proxied_path(uri: &str) -> Result<String, MlflowError> {
    let rest = uri
        .strip_prefix("mlflow-artifacts:")
        .ok_or_else(|| MlflowError::NotProxied(uri.to_owned()))?;
    let path = match rest.strip_prefix("//") {
        Some(with_authority) => with_authority.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Ok(path.trim_matches('/').to_owned())
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    volspike_core::time::now_ns().div_euclid(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_uri_become_basic_auth_and_leave_it() {
        let cfg = MlflowConfig::new("http://ann:s3cr%40t@mlflow.internal:5000/");
        assert_eq!(cfg.uri, "http://mlflow.internal:5000");
        match &cfg.auth {
            Auth::Basic { user, password } => {
                assert_eq!((user.as_str(), password.as_str()), ("ann", "s3cr@t"))
            }
            other => panic!("{other:?}"),
        }
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cr") && !shown.contains("ann"), "{shown}");
        let plain = MlflowConfig::new("http://127.0.0.1:5000");
        assert_eq!(plain.uri, "http://127.0.0.1:5000");
        assert!(matches!(plain.auth, Auth::None));
    }

    #[test]
    fn artifact_uris_map_to_proxy_paths() {
        assert_eq!(
            proxied_path("mlflow-artifacts:/1/abc/artifacts").unwrap(),
            "1/abc/artifacts"
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://127.0.0.1:5000/1/abc/artifacts/model").unwrap(),
            "1/abc/artifacts/model"
        );
        assert!(matches!(
            proxied_path("/tmp/mlruns/1/abc/artifacts"),
            Err(MlflowError::NotProxied(_))
        ));
    }

    #[test]
    fn credentials_are_not_printed() {
        let a = Auth::Bearer("secret-token".into());
        assert!(!format!("{a:?}").contains("secret"));
    }
}
