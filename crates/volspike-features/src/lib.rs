//! The streaming feature engine and the forward-looking labeler, with no I/O.
//!
//! [`FeatureEngine`] turns ticks into [`volspike_core::FeatureRow`]s, one per
//! accepted tick, with per-product state. The featurizer service, `volspike
//! replay` and the demo all drive this one engine, which is why live and
//! replayed features are bit-identical. Start with [`engine`]; the exact
//! definitions are in `docs/features.md`. [`label`] computes the forward
//! realized volatility that training uses as its target.

mod window;

pub mod engine;
pub mod label;

pub use engine::{
    EngineConfig, EventTimeBounds, FeatureEngine, Outcome, Outcomes, Rejected, Rejection,
    judge_event_time,
};
pub use label::{Returns, forward, forward_volatility, trailing, trailing_volatility};
