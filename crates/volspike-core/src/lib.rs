//! Domain types and decoding for volspike, with no I/O.
//!
//! Start with [`decode::decode_line`]: it turns one Coinbase recording line or
//! live WebSocket frame, in any of the shapes recorders have written, into
//! normalized [`Tick`]s. [`FeatureRow`] is what the feature engine emits and
//! what travels on `ticks.features`; [`scoring`] holds what the inference
//! server publishes; [`sequence`] finds gaps in a feed's message numbers.
//! Kafka topic names are configuration (`[topics]` in
//! `config/default.toml`), read by every service from its config.

pub mod decode;
pub mod feature_row;
pub mod scoring;
pub mod sequence;
pub mod tick;
pub mod time;

pub use decode::{
    Control, DecodeError, FieldMap, LineKind, decode_frame, decode_line, decode_line_mapped,
};
pub use feature_row::{FEATURE_NAMES, FEATURE_SCHEMA_VERSION, FeatureRow};
pub use scoring::{
    Alert, LATENCY_HEADER, ModelEvent, ModelEventKind, ModelId, Prediction, PredictionOutcome,
    SCORING_SCHEMA_VERSION, prediction_id,
};
pub use tick::{Feed, ProductId, TICK_SCHEMA_VERSION, Tick, TickSource, write_tick_record};
