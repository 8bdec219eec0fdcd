//! volspike's inference service: spike probabilities over gRPC, live scoring
//! of `ticks.features` into the prediction log and alerts, and model hot swap.
//!
//! - [`run`] runs everything until shutdown: the gRPC services, the admin
//!   server, live scoring ([`live`]) and model reloads ([`source`]), with the
//!   registry and broker of the configuration. [`start`] returns once it is
//!   serving; [`server::start_with`] takes any registry (tests).
//! - [`volatility`] is volspike's own API (`proto/volspike/v1`), [`oip`] the
//!   Open Inference Protocol v2 (`proto/inference`).
//! - [`model::ModelSlot`] holds the served model; every request takes one
//!   snapshot of it, so a swap never fails or mixes a request.

pub mod cli;
pub mod live;
pub mod metrics_names;
pub mod model;
mod observe;
pub mod oip;
pub mod rows;
pub mod server;
pub mod source;
pub mod volatility;

pub use model::{LoadedModel, ModelSlot};
pub use server::{Error, Running, Summary, run, start, start_with, topics};
