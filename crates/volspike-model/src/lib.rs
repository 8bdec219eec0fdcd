//! volspike's models: labels, splits, training and evaluation.
//!
//! `metrics` computes what scikit-learn computes (average precision, ROC-AUC,
//! Brier score, precision, recall and F1 at a threshold) to within 1e-9;
//! `tests/sklearn_parity.rs` checks it against fixtures written by
//! `scripts/python/make_metric_fixtures.py`.

pub mod metrics;
