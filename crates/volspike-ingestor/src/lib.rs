//! The ingestor service: Coinbase WebSocket -> `ticks.raw` + NDJSON journal.
//!
//! Built so far: the [`journal`], the reconnect [`backoff`] and the
//! [`connection`] loop (subscribe, check the acknowledgement, watchdogs,
//! reconnect forever). Not yet: Kafka output, sequence-gap events,
//! rate limits, metrics and the `volspike ingest` command.

pub mod backoff;
pub mod connection;
pub mod journal;
