//! The ingestor service: Coinbase WebSocket -> `ticks.raw` + NDJSON journal.
//!
//! Built so far: the [`journal`] and the reconnect [`backoff`]. The
//! connection loop (subscriptions, reconnects, watchdogs, Kafka output) is
//! not written yet.

pub mod backoff;
pub mod journal;
