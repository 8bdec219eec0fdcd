//! volspike's models: labels, splits, training and evaluation.
//!
//! `dataset` labels feature rows (forward volatility, absolute or relative
//! to trailing volatility) and keeps them in time order; `split` cuts them
//! into train, validation and test with an embargo of one label horizon.
//!
//! `metrics` computes what scikit-learn computes (average precision, ROC-AUC,
//! Brier score, precision, recall and F1 at a threshold) to within 1e-9;
//! `tests/sklearn_parity.rs` checks it against fixtures written by
//! `scripts/python/make_metric_fixtures.py`.

pub mod artifact;
pub mod boost;
pub mod dataset;
pub mod evaluate;
pub mod forest;
pub mod metrics;
pub mod model;
pub mod reference;
pub mod registry;
pub mod split;
pub mod train;
