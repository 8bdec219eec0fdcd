//! The volspike model registry on MLflow's: versions are MLflow model
//! versions whose artifacts hold `model.json`, `champion` and `challenger`
//! are MLflow aliases, and the rollback stack is a registered-model tag.

use std::time::Duration;

use bytes::Bytes;
use volspike_model::artifact::ModelFile;
use volspike_model::registry::{
    CHALLENGER, CHAMPION, PREVIOUS, Promotion, Registry, RegistryError, VersionInfo,
};

use crate::batch::KeyValue;
use crate::client::{Auth, MlflowClient, MlflowConfig, MlflowError, RunInfo};

/// Registered-model tag holding earlier champions, oldest first (`1,3`).
pub const PREVIOUS_CHAMPIONS_TAG: &str = "volspike.previous_champions";
/// Where the model file sits in a version's artifacts.
pub const MODEL_FILE: &str = "model.json";

/// A [`Registry`] on an MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowRegistry {
    client: MlflowClient,
    experiment: String,
    ready_timeout: Duration,
}

fn registry_error(e: MlflowError) -> RegistryError {
    if e.is_not_found() {
        RegistryError::NotFound(e.to_string())
    } else {
        RegistryError::Backend(e.to_string())
    }
}

impl MlflowRegistry {
    /// Registers into `client`'s server; runs made only to register a model
    /// go to `experiment`.
    pub fn new(client: MlflowClient, experiment: impl Into<String>) -> MlflowRegistry {
        MlflowRegistry {
            client,
            experiment: experiment.into(),
            ready_timeout: Duration::from_secs(120),
        }
    }

    /// The client.
    pub fn client(&self) -> &MlflowClient {
        &self.client
    }

    /// Stores `file` under `run`'s artifacts (`model/model.json`), creates a
    /// version of `name` from it, waits until it is READY and points
    /// `challenger` at it.
    pub async fn register_from_run(
        &self,
        name: &str,
        file: &ModelFile,
        run: &RunInfo,
    ) -> Result<u64, MlflowError> {
        volspike_model::validate::validate(file).map_err(MlflowError::Invalid)?;
        let json = serde_json::to_vec_pretty(file).expect("serializable");
        self.client
            .upload_artifact(run, &format!("model/{MODEL_FILE}"), Bytes::from(json))
            .await?;
        self.client.ensure_registered_model(name).await?;
        let source = format!("{}/model", run.artifact_uri);
        let mut tags = vec![KeyValue {
            key: "volspike.kind".into(),
            value: file.name.clone(),
        }];
        if let Some(pr) = file.test.pr_auc {
            tags.push(KeyValue {
                key: "volspike.test_pr_auc".into(),
                value: pr.to_string(),
            });
        }
        let v = self
            .client
            .create_model_version(name, &source, &run.run_id, &tags)
            .await?;
        self.client
            .wait_until_ready(name, v.version, self.ready_timeout)
            .await?;
        self.client.set_alias(name, CHALLENGER, v.version).await?;
        Ok(v.version)
    }

    async fn previous_champions(&self, name: &str) -> Result<Vec<u64>, MlflowError> {
        let tags = self.client.registered_model_tags(name).await?;
        Ok(tags
            .iter()
            .find(|t| t.key == PREVIOUS_CHAMPIONS_TAG)
            .map(|t| {
                t.value
                    .split(',')
                    .filter_map(|v| v.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn set_previous_champions(&self, name: &str, stack: &[u64]) -> Result<(), MlflowError> {
        let value = stack
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        self.client
            .set_registered_model_tag(name, PREVIOUS_CHAMPIONS_TAG, &value)
            .await
    }

    async fn register_now(&self, name: &str, file: &ModelFile) -> Result<u64, MlflowError> {
        let exp = self
            .client
            .get_or_create_experiment(&self.experiment)
            .await?;
        let tags = [KeyValue {
            key: "mlflow.runName".into(),
            value: format!("register {name}"),
        }];
        let run = self
            .client
            .create_run(&exp, &format!("register {name}"), &tags)
            .await?;
        let result = self.register_from_run(name, file, &run).await;
        self.client.finish_run(&run.run_id, result.is_ok()).await?;
        result
    }

    async fn promote_now(&self, name: &str, version: u64) -> Result<Promotion, MlflowError> {
        self.client.get_model_version(name, version).await?;
        let from = self.client.get_alias(name, CHAMPION).await?;
        if let Some(prev) = from.filter(|&p| p != version) {
            let mut stack = self.previous_champions(name).await?;
            stack.push(prev);
            self.set_previous_champions(name, &stack).await?;
            self.client.set_alias(name, PREVIOUS, prev).await?;
        }
        self.client.set_alias(name, CHAMPION, version).await?;
        Ok(Promotion {
            name: name.to_owned(),
            from,
            to: version,
        })
    }
}

impl Registry for MlflowRegistry {
    async fn register(&self, name: &str, file: &ModelFile) -> Result<u64, RegistryError> {
        self.register_now(name, file).await.map_err(registry_error)
    }

    async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, RegistryError> {
        let versions = self
            .client
            .search_model_versions(name)
            .await
            .map_err(registry_error)?;
        Ok(versions
            .into_iter()
            .map(|v| {
                let tag = |k: &str| v.tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
                VersionInfo {
                    version: v.version,
                    created_ns: v.creation_timestamp.saturating_mul(1_000_000),
                    kind: tag("volspike.kind").unwrap_or_default(),
                    test_pr_auc: tag("volspike.test_pr_auc").and_then(|s| s.parse().ok()),
                }
            })
            .collect())
    }

    async fn load(&self, name: &str, version: u64) -> Result<ModelFile, RegistryError> {
        let v = self
            .client
            .get_model_version(name, version)
            .await
            .map_err(registry_error)?;
        let bytes = self
            .client
            .download_artifact(&v.source, MODEL_FILE)
            .await
            .map_err(registry_error)?;
        let origin = format!("{name} version {version} ({}/{MODEL_FILE})", v.source);
        ModelFile::from_json(&bytes, &origin).map_err(RegistryError::Corrupt)
    }

    async fn alias(&self, name: &str, alias: &str) -> Result<Option<u64>, RegistryError> {
        self.client
            .get_alias(name, alias)
            .await
            .map_err(registry_error)
    }

    async fn promote(&self, name: &str, version: u64) -> Result<Promotion, RegistryError> {
        self.promote_now(name, version)
            .await
            .map_err(registry_error)
    }

    async fn rollback(&self, name: &str) -> Result<Promotion, RegistryError> {
        let run = async {
            let mut stack = self.previous_champions(name).await?;
            let Some(to) = stack.pop() else {
                return Ok(None);
            };
            let from = self.client.get_alias(name, CHAMPION).await?;
            self.client.set_alias(name, CHAMPION, to).await?;
            self.set_previous_champions(name, &stack).await?;
            if let Some(prev) = from {
                self.client.set_alias(name, PREVIOUS, prev).await?;
            }
            Ok(Some(Promotion {
                name: name.to_owned(),
                from,
                to,
            }))
        };
        run.await
            .map_err(registry_error)?
            .ok_or_else(|| RegistryError::NoEarlierChampion(name.to_owned()))
    }
}

/// The registry a command was pointed at: MLflow when a tracking URI is
/// given, the local directory otherwise.
#[derive(Debug, Clone)]
pub enum AnyRegistry {
    /// A directory (`data/models`).
    Local(volspike_model::registry::LocalRegistry),
    /// An MLflow tracking server.
    Mlflow(MlflowRegistry),
}

impl AnyRegistry {
    /// MLflow at `mlflow_uri` when given, else the local directory `dir`.
    /// MLflow credentials come from MLflow's own environment variables:
    /// `MLFLOW_TRACKING_TOKEN`, or `MLFLOW_TRACKING_USERNAME` and
    /// `MLFLOW_TRACKING_PASSWORD`.
    pub fn open(
        mlflow_uri: Option<&str>,
        dir: &std::path::Path,
        experiment: &str,
    ) -> Result<AnyRegistry, MlflowError> {
        let Some(uri) = mlflow_uri.filter(|u| !u.is_empty()) else {
            return Ok(AnyRegistry::Local(
                volspike_model::registry::LocalRegistry::new(dir),
            ));
        };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        // Credentials in the URI itself come out of it here (basic auth);
        // MLflow's variables win over them.
        let base = MlflowConfig::new(uri);
        let auth = match (
            env("MLFLOW_TRACKING_TOKEN"),
            env("MLFLOW_TRACKING_USERNAME"),
            env("MLFLOW_TRACKING_PASSWORD"),
        ) {
            (Some(token), _, _) => Auth::Bearer(token),
            (None, Some(user), Some(password)) => Auth::Basic { user, password },
            (None, Some(_), None) => {
                return Err(MlflowError::Credentials(
                    "MLFLOW_TRACKING_USERNAME is set but MLFLOW_TRACKING_PASSWORD is not".into(),
                ));
            }
            _ => base.auth.clone(),
        };
        let cfg = MlflowConfig {
            auth,
            timeout: Duration::from_secs(60),
            ..base
        };
        Ok(AnyRegistry::Mlflow(MlflowRegistry::new(
            MlflowClient::new(cfg)?,
            experiment,
        )))
    }
}

impl std::fmt::Display for AnyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyRegistry::Local(r) => write!(f, "local registry {}", r.root().display()),
            AnyRegistry::Mlflow(r) => write!(f, "MLflow registry at {}", r.client().uri()),
        }
    }
}

impl Registry for AnyRegistry {
    async fn register(&self, name: &str, file: &ModelFile) -> Result<u64, RegistryError> {
        match self {
            AnyRegistry::Local(r) => r.register(name, file).await,
            AnyRegistry::Mlflow(r) => r.register(name, file).await,
        }
    }

    async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, RegistryError> {
        match self {
            AnyRegistry::Local(r) => r.versions(name).await,
            AnyRegistry::Mlflow(r) => r.versions(name).await,
        }
    }

    async fn load(&self, name: &str, version: u64) -> Result<ModelFile, RegistryError> {
        match self {
            AnyRegistry::Local(r) => r.load(name, version).await,
            AnyRegistry::Mlflow(r) => r.load(name, version).await,
        }
    }

    async fn alias(&self, name: &str, alias: &str) -> Result<Option<u64>, RegistryError> {
        match self {
            AnyRegistry::Local(r) => r.alias(name, alias).await,
            AnyRegistry::Mlflow(r) => r.alias(name, alias).await,
        }
    }

    async fn promote(&self, name: &str, version: u64) -> Result<Promotion, RegistryError> {
        match self {
            AnyRegistry::Local(r) => r.promote(name, version).await,
            AnyRegistry::Mlflow(r) => r.promote(name, version).await,
        }
    }

    async fn rollback(&self, name: &str) -> Result<Promotion, RegistryError> {
        match self {
            AnyRegistry::Local(r) => r.rollback(name).await,
            AnyRegistry::Mlflow(r) => r.rollback(name).await,
        }
    }
}
