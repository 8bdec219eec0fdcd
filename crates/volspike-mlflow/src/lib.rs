//! MLflow over its REST API (reqwest), for volspike.
//!
//! [`client::MlflowClient`] makes the calls: experiments, runs, batched
//! logging split within MLflow's limits ([`batch`]), artifacts through the
//! tracking server's proxy (`/api/2.0/mlflow-artifacts/artifacts/...`) and
//! the model registry. It retries only on 429 and 5xx, with capped, jittered
//! backoff; errors keep MLflow's `error_code`. [`registry::MlflowRegistry`]
//! implements volspike's [`volspike_model::registry::Registry`] on it.
//! Logging a whole training run is `volspike-train`'s `tracking`.

pub mod batch;
pub mod client;
pub mod registry;

pub use client::{Auth, MlflowClient, MlflowConfig, MlflowError, RunInfo};
pub use registry::{AnyRegistry, MlflowRegistry};
