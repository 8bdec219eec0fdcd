//! Training volspike's models: labels, splits, fitting, metrics,
//! evaluation, artifacts and registration.
//!
//! [`dataset`] labels feature rows with their forward volatility (absolute,
//! or relative to trailing volatility) and keeps them in time order;
//! [`split`] cuts them into train, validation and test with an embargo of
//! one label horizon. [`train`] fits the baseline, the logistic regression
//! (smartcore's LBFGS on our objective), the random forest ([`forest`],
//! smartcore's trees) and gradient-boosted trees ([`boost`], forust-ml),
//! calibrates their scores ([`calibrate`]) and chooses each decision
//! threshold on validation. [`metrics`] (from
//! `volspike-model`) computes what scikit-learn computes, to within 1e-9
//! (`tests/sklearn_parity.rs`);
//! [`evaluate`] scores rows a model never saw, labeled as it was trained.
//! [`artifacts`] and [`report`] write the model files, `report.json`,
//! charts, the HTML report and the model card; [`register`] is the one
//! train -> pick -> register, with [`tracking`] logging the run to MLflow.
//!
//! Start reading at [`register::train_pick_register`], then [`train::train`].
//! Models are plain data from `volspike-model`, which is all a server needs.

pub mod alerting;
pub mod artifacts;
pub mod boost;
pub mod calibrate;
pub mod cv;
pub mod dataset;
pub mod evaluate;
pub mod forest;
pub mod register;
pub mod report;
pub mod split;
pub mod tracking;
pub mod train;
pub mod transfer;

pub use volspike_model::metrics;
