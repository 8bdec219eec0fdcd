//! The `volspike` command line as a library, so tests drive the same code.
//!
//! `main.rs` parses arguments and calls into these modules: [`replay`]
//! (recordings -> features, no Kafka), [`pipeline`] (recordings -> Kafka ->
//! featurizer service -> Kafka -> features), [`simulate`] (synthetic feed),
//! [`demo`] (all of it on the embedded Kafka), [`exchange_sim`] (a local
//! Coinbase WebSocket server with fault injection), [`ingest_check`] and [`bench_input`]. [`input`]
//! reads and decodes recordings in parallel; [`summary`] counts and prints.

pub mod bench_grpc;
pub mod bench_input;
pub mod bench_train;
pub mod compare;
pub mod consume_check;
pub mod demo;
pub mod evaluate;
pub mod exchange_sim;
pub mod ingest_check;
pub mod input;
pub mod models;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod simulate;
pub mod summary;
pub mod train;
