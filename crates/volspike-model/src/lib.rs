//! What serving a volspike model needs, and nothing that training needs.
//!
//! [`artifact::ModelFile`] is the model file: the [`model::Model`] (inputs
//! in order, [`model::Scaler`], parameters, [`calibration`], decision
//! threshold), the
//! [`label::LabelConfig`] and tau it was trained for, its [`metrics`] (and
//! the scikit-learn-exact functions that compute them), and
//! [`reference`] distributions of its inputs and scores for drift checks.
//! Every model kind scores from plain data: logistic weights, random-forest
//! trees ([`forest`]) and boosted trees ([`boost`]), so a server links no
//! training library. [`registry`] holds the registry trait (versions,
//! `champion` and `challenger`, promotion and rollback) and its
//! local-directory implementation. Start reading at [`model::Model::score`].
//!
//! [`alerts`] turns scores into alerts (the operating point stored in the
//! model file, the gate) and measures alerts against spike episodes.
//!
//! Fitting, labeling and splitting live in `volspike-train`.

pub mod alerts;
pub mod artifact;
pub mod boost;
pub mod calibration;
pub mod forest;
pub mod label;
pub mod metrics;
pub mod model;
pub mod reference;
pub mod registry;
pub mod validate;
