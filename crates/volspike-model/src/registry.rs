//! The model registry: numbered versions of a named model, the aliases
//! `champion` (what the inference server loads) and `challenger` (the newest
//! candidate), promotion and rollback.
//!
//! [`Registry`] is the one interface; [`LocalRegistry`] keeps it in a
//! directory (the embedded demo and tests), and `volspike-mlflow`
//! implements it on MLflow's model registry. Semantics shared by both:
//! registering makes a new version and points `challenger` at it; only
//! [`Registry::promote`] moves `champion`, and [`Registry::rollback`] moves it
//! back to the champion before.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::ModelFile;

/// The alias of the model in service.
pub const CHAMPION: &str = "champion";
/// The alias of the newest candidate.
pub const CHALLENGER: &str = "challenger";
/// The alias of the champion before the latest change of champion.
pub const PREVIOUS: &str = "previous";

/// Errors of a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No such model, version or alias.
    #[error("{0}")]
    NotFound(String),
    /// Nothing to roll back to.
    #[error("model `{0}` has no earlier champion to roll back to")]
    NoEarlierChampion(String),
    /// Reading or writing the registry failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A stored file is not what it should be.
    #[error("{0}")]
    Corrupt(String),
    /// The backend (e.g. MLflow) failed.
    #[error("{0}")]
    Backend(String),
}

/// One registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// 1, 2, ...
    pub version: u64,
    /// Registration time, ns since the epoch.
    pub created_ns: i64,
    /// Model kind (`logistic`, ...).
    pub kind: String,
    /// Test PR-AUC recorded at training, if defined.
    pub test_pr_auc: Option<f64>,
}

/// A change of the `champion` alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// Model name.
    pub name: String,
    /// Champion before (`None`: there was none).
    pub from: Option<u64>,
    /// Champion after.
    pub to: u64,
}

/// Versions, aliases and promotions of named models.
pub trait Registry {
    /// Stores `file` as the next version of `name` and points `challenger`
    /// at it; returns the version.
    fn register(
        &self,
        name: &str,
        file: &ModelFile,
    ) -> impl Future<Output = Result<u64, RegistryError>> + Send;

    /// Every version of `name`, oldest first.
    fn versions(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<VersionInfo>, RegistryError>> + Send;

    /// The model file of one version.
    fn load(
        &self,
        name: &str,
        version: u64,
    ) -> impl Future<Output = Result<ModelFile, RegistryError>> + Send;

    /// The version an alias points at, if any.
    fn alias(
        &self,
        name: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<u64>, RegistryError>> + Send;

    /// Makes `version` the champion (remembering the one before).
    fn promote(
        &self,
        name: &str,
        version: u64,
    ) -> impl Future<Output = Result<Promotion, RegistryError>> + Send;

    /// Makes the champion before the current one champion again.
    fn rollback(&self, name: &str)
    -> impl Future<Output = Result<Promotion, RegistryError>> + Send;
}

/// Where a model comes from: a model file, or a registry version by alias
/// or number (MLflow's `models:/NAME@ALIAS` and `models:/NAME/VERSION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model file on disk.
    Path(PathBuf),
    /// `models:/NAME@ALIAS`.
    Alias {
        /// Registered model name.
        name: String,
        /// `champion`, `challenger`, ...
        alias: String,
    },
    /// `models:/NAME/VERSION`.
    Version {
        /// Registered model name.
        name: String,
        /// Version number.
        version: u64,
    },
}

impl std::str::FromStr for ModelRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some(rest) = s.strip_prefix("models:/") else {
            return Ok(ModelRef::Path(PathBuf::from(s)));
        };
        let bad = || format!("`{s}`: expected models:/NAME@ALIAS or models:/NAME/VERSION");
        if let Some((name, alias)) = rest.split_once('@') {
            if name.is_empty() || alias.is_empty() {
                return Err(bad());
            }
            return Ok(ModelRef::Alias {
                name: name.to_owned(),
                alias: alias.to_owned(),
            });
        }
        let (name, version) = rest.split_once('/').ok_or_else(bad)?;
        let version = version.parse().map_err(|_| bad())?;
        if name.is_empty() {
            return Err(bad());
        }
        Ok(ModelRef::Version {
            name: name.to_owned(),
            version,
        })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelRef::Path(p) => write!(f, "{}", p.display()),
            ModelRef::Alias { name, alias } => write!(f, "models:/{name}@{alias}"),
            ModelRef::Version { name, version } => write!(f, "models:/{name}/{version}"),
        }
    }
}

impl Serialize for ModelRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModelRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A model loaded from a [`ModelRef`], with its registry version if it came
/// from one.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The model file.
    pub file: ModelFile,
    /// Registry version (`None` for a file on disk).
    pub version: Option<u64>,
}

/// Loads the model `r` names, from disk or from `registry`.
pub async fn resolve<R: Registry + Sync>(
    registry: &R,
    r: &ModelRef,
) -> Result<Resolved, RegistryError> {
    let (name, version) = match r {
        ModelRef::Path(p) => {
            return Ok(Resolved {
                file: ModelFile::load(p).map_err(RegistryError::Corrupt)?,
                version: None,
            });
        }
        ModelRef::Alias { name, alias } => {
            let v = registry.alias(name, alias).await?.ok_or_else(|| {
                RegistryError::NotFound(format!("model `{name}` has no alias `{alias}`"))
            })?;
            (name, v)
        }
        ModelRef::Version { name, version } => (name, *version),
    };
    Ok(Resolved {
        file: registry.load(name, version).await?,
        version: Some(version),
    })
}

/// What a local registry keeps per model (`{root}/{name}/registry.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Index {
    versions: Vec<VersionInfo>,
    aliases: BTreeMap<String, u64>,
    /// Earlier champions, oldest first (the rollback stack).
    previous_champions: Vec<u64>,
}

/// A registry in a directory: `{root}/{name}/registry.json` and
/// `{root}/{name}/v{N}/model.json`. Files are replaced atomically (write,
/// sync, rename); one writer at a time is assumed.
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    root: PathBuf,
}

impl LocalRegistry {
    /// A registry rooted at `root` (created on first registration).
    pub fn new(root: impl Into<PathBuf>) -> LocalRegistry {
        LocalRegistry { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn model_dir(&self, name: &str) -> Result<PathBuf, RegistryError> {
        let ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !ok {
            return Err(RegistryError::NotFound(format!(
                "`{name}` is not a valid model name (letters, digits, - _ .)"
            )));
        }
        Ok(self.root.join(name))
    }

    fn read_index(&self, name: &str) -> Result<Index, RegistryError> {
        let path = self.model_dir(name)?.join("registry.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                RegistryError::Corrupt(format!("{} is not a registry index: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(source) => Err(RegistryError::Io {
                context: format!("reading {}", path.display()),
                source,
            }),
        }
    }

    fn write_index(&self, name: &str, index: &Index) -> Result<(), RegistryError> {
        let path = self.model_dir(name)?.join("registry.json");
        write_atomically(
            &path,
            &serde_json::to_vec_pretty(index).expect("serializable"),
        )
    }

    fn known(index: &Index, name: &str, version: u64) -> Result<(), RegistryError> {
        if index.versions.iter().any(|v| v.version == version) {
            Ok(())
        } else {
            Err(RegistryError::NotFound(format!(
                "model `{name}` has no version {version}"
            )))
        }
    }

    fn register_now(&self, name: &str, file: &ModelFile) -> Result<u64, RegistryError> {
        crate::validate::validate(file)
            .map_err(|e| RegistryError::Corrupt(format!("refusing to register `{name}`: {e}")))?;
        let mut index = self.read_index(name)?;
        let version = index.versions.last().map_or(1, |v| v.version + 1);
        let dir = self.model_dir(name)?.join(format!("v{version}"));
        let json = serde_json::to_vec_pretty(file).expect("serializable");
        write_atomically(&dir.join("model.json"), &json)?;
        index.versions.push(VersionInfo {
            version,
            created_ns: volspike_core::time::now_ns(),
            kind: file.name.clone(),
            test_pr_auc: file.test.pr_auc,
        });
        index.aliases.insert(CHALLENGER.to_owned(), version);
        self.write_index(name, &index)?;
        Ok(version)
    }

    fn load_now(&self, name: &str, version: u64) -> Result<ModelFile, RegistryError> {
        Self::known(&self.read_index(name)?, name, version)?;
        let path = self
            .model_dir(name)?
            .join(format!("v{version}"))
            .join("model.json");
        ModelFile::load(&path).map_err(RegistryError::Corrupt)
    }

    fn promote_now(&self, name: &str, version: u64) -> Result<Promotion, RegistryError> {
        let mut index = self.read_index(name)?;
        Self::known(&index, name, version)?;
        let from = index.aliases.insert(CHAMPION.to_owned(), version);
        if let Some(prev) = from.filter(|&p| p != version) {
            index.previous_champions.push(prev);
            index.aliases.insert(PREVIOUS.to_owned(), prev);
        }
        self.write_index(name, &index)?;
        Ok(Promotion {
            name: name.to_owned(),
            from,
            to: version,
        })
    }

    fn rollback_now(&self, name: &str) -> Result<Promotion, RegistryError> {
        let mut index = self.read_index(name)?;
        let to = index
            .previous_champions
            .pop()
            .ok_or_else(|| RegistryError::NoEarlierChampion(name.to_owned()))?;
        let from = index.aliases.insert(CHAMPION.to_owned(), to);
        if let Some(prev) = from {
            index.aliases.insert(PREVIOUS.to_owned(), prev);
        }
        self.write_index(name, &index)?;
        Ok(Promotion {
            name: name.to_owned(),
            from,
            to,
        })
    }
}

impl Registry for LocalRegistry {
    async fn register(&self, name: &str, file: &ModelFile) -> Result<u64, RegistryError> {
        self.register_now(name, file)
    }

    async fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, RegistryError> {
        Ok(self.read_index(name)?.versions)
    }

    async fn load(&self, name: &str, version: u64) -> Result<ModelFile, RegistryError> {
        self.load_now(name, version)
    }

    async fn alias(&self, name: &str, alias: &str) -> Result<Option<u64>, RegistryError> {
        Ok(self.read_index(name)?.aliases.get(alias).copied())
    }

    async fn promote(&self, name: &str, version: u64) -> Result<Promotion, RegistryError> {
        self.promote_now(name, version)
    }

    async fn rollback(&self, name: &str) -> Result<Promotion, RegistryError> {
        self.rollback_now(name)
    }
}

/// Writes `path` so that readers see the old or the new content, never a
/// mix: a synced temporary file in the same directory, renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    use std::io::Write as _;
    let io = |context: String| move |source| RegistryError::Io { context, source };
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("renaming to {}", path.display())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::label::LabelConfig;
    use crate::metrics::{Confusion, Metrics};
    use crate::model::{Model, Params, Scaler};

    /// A valid logistic model file on one input.
    pub(crate) fn file(kind_threshold: f64) -> ModelFile {
        let confusion = Confusion {
            tn: 1,
            fp: 0,
            fn_: 0,
            tp: 1,
        };
        let m = Metrics {
            rows: 2,
            base_rate: 0.5,
            pr_auc: Some(1.0),
            roc_auc: Some(1.0),
            brier: 0.01,
            ece: None,
            threshold: 0.5,
            confusion,
            precision: 1.0,
            recall: 1.0,
            f1: 1.0,
        };
        ModelFile {
            format_version: crate::artifact::FORMAT_VERSION,
            name: "logistic".into(),
            model: Model {
                feature_names: vec!["a".into()],
                scaler: Scaler {
                    mean: vec![0.0],
                    scale: vec![1.0],
                    ..Scaler::default()
                },
                params: Params::Logistic {
                    coef: vec![1.0],
                    intercept: 0.0,
                },
                calibration: None,
                threshold: kind_threshold,
                warm_only: false,
            },
            label: LabelConfig::default(),
            tau: 1e-4,
            train_span_ns: (0, 1),
            validation: m.clone(),
            test: m,
            importances: vec![1.0],
            reference: Vec::new(),
            score_reference: None,
            training: None,
            alert_policy: None,
            validation_alerts: None,
            test_alerts: None,
        }
    }

    fn block<T>(f: impl Future<Output = T>) -> T {
        // The local registry never awaits anything; a no-op waker drives it.
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("the local registry does not wait"),
        }
    }

    #[test]
    fn register_promote_and_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let r = LocalRegistry::new(dir.path());
        let name = "volatility";
        assert_eq!(block(r.register(name, &file(0.1))).unwrap(), 1);
        assert_eq!(block(r.alias(name, CHALLENGER)).unwrap(), Some(1));
        assert_eq!(
            block(r.alias(name, CHAMPION)).unwrap(),
            None,
            "only promotion moves it"
        );
        let p = block(r.promote(name, 1)).unwrap();
        assert_eq!((p.from, p.to), (None, 1));
        assert_eq!(block(r.register(name, &file(0.2))).unwrap(), 2);
        assert_eq!(block(r.alias(name, CHALLENGER)).unwrap(), Some(2));
        assert_eq!(block(r.alias(name, CHAMPION)).unwrap(), Some(1));
        block(r.promote(name, 2)).unwrap();
        assert_eq!(block(r.load(name, 2)).unwrap().model.threshold, 0.2);
        let back = block(r.rollback(name)).unwrap();
        assert_eq!((back.from, back.to), (Some(2), 1));
        assert!(matches!(
            block(r.rollback(name)),
            Err(RegistryError::NoEarlierChampion(_))
        ));
        // A fresh handle on the same directory sees the same state.
        let again = LocalRegistry::new(dir.path());
        assert_eq!(block(again.alias(name, CHAMPION)).unwrap(), Some(1));
        assert_eq!(block(again.versions(name)).unwrap().len(), 2);
    }

    #[test]
    fn unknown_versions_and_bad_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let r = LocalRegistry::new(dir.path());
        assert!(matches!(
            block(r.promote("m", 3)),
            Err(RegistryError::NotFound(_))
        ));
        assert!(matches!(
            block(r.load("m", 1)),
            Err(RegistryError::NotFound(_))
        ));
        assert!(matches!(
            block(r.register("../escape", &file(0.1))),
            Err(RegistryError::NotFound(_))
        ));
    }

    #[test]
    fn model_references_parse_like_mlflow_uris() {
        use std::str::FromStr;
        assert_eq!(
            ModelRef::from_str("models:/volspike@champion").unwrap(),
            ModelRef::Alias {
                name: "volspike".into(),
                alias: "champion".into()
            }
        );
        assert_eq!(
            ModelRef::from_str("models:/volspike/3").unwrap(),
            ModelRef::Version {
                name: "volspike".into(),
                version: 3
            }
        );
        assert_eq!(
            ModelRef::from_str("out/logistic.json").unwrap(),
            ModelRef::Path("out/logistic.json".into())
        );
        for bad in ["models:/x", "models:/@a", "models:/x@", "models:/x/y"] {
            assert!(ModelRef::from_str(bad).is_err(), "{bad}");
        }
        let r = ModelRef::from_str("models:/v@challenger").unwrap();
        assert_eq!(r.to_string(), "models:/v@challenger");
    }
}
