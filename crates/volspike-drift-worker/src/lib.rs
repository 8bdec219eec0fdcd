//! volspike's drift and retrain worker: the service that closes the loop.
//!
//! - [`service::run`] runs it until shutdown on the broker and registry of
//!   the configuration; [`service::start_with`] takes any registry and a
//!   test hook on challengers.
//! - [`worker`]: what it does with each record: archive and watch the
//!   features ([`archive`], `volspike_drift::watch`), join predictions with
//!   their outcomes (`volspike_drift::outcomes`), judge windows, measure the
//!   champion's live performance, and ask the retraining policy.
//! - [`retrain`]: train a challenger with the champion's configuration,
//!   probe it through the serving code, gate it on the holdout, register,
//!   promote, announce on `models.events`, tag in MLflow.
//! - [`report`]: the records on `drift.reports`; [`http`]: the admin
//!   endpoints and the HTML page.
//!
//! The statistics are in `volspike-drift` (pure, no I/O).

pub mod archive;
pub mod cli;
pub mod http;
mod metrics_names;
pub mod report;
pub mod retrain;
pub mod service;
pub mod worker;

pub use service::{Error, Running, Summary, run, start, start_with, topics};
