//! The ingestor service: Coinbase WebSocket -> `ticks.raw` + NDJSON journal.
//!
//! Built so far: the [`journal`]. The connection loop (subscriptions,
//! reconnects, watchdogs, Kafka output) is not written yet.

pub mod journal;
