//! The `volspike` command line as a library, so tests drive the same code.
//!
//! `main.rs` parses arguments and dispatches to [`commands`], one module per
//! subcommand (its clap arguments and its `run`). The crate holds wiring
//! only: the pipeline and the demo live in `volspike-pipeline`, replay in
//! `volspike-replay`, the simulators in `volspike-sim`, training in
//! `volspike-train`, the services in their own crates.

pub mod commands;
pub mod progress;
