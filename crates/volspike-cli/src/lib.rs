//! The `volspike` command line as a library, so tests drive the same code.
//!
//! `main.rs` parses arguments and calls into these modules: [`commands`]
//! (one module per subcommand, as they move there), [`evaluate`] and
//! [`models`] (scoring and the registry), [`ingest_check`],
//! [`consume_check`] and the benchmarks. The pipeline and the demo live in
//! `volspike-pipeline`, replay in `volspike-replay`, the simulators in
//! `volspike-sim`, training in `volspike-train`.

pub mod bench_grpc;
pub mod bench_input;
pub mod bench_train;
pub mod commands;
pub mod consume_check;
pub mod evaluate;
pub mod ingest_check;
pub mod models;
pub mod progress;
