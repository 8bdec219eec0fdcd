//! The runtime every volspike service shares.
//!
//! [`config`] loads the layered configuration; [`telemetry`] sets up tracing
//! and the Prometheus recorder; [`admin`] serves `/metrics` and `/healthz`;
//! [`shutdown`] turns SIGINT/SIGTERM into a cancellation token; [`kafka`]
//! builds rdkafka clients and offers the embedded Kafka (librdkafka's mock
//! cluster) used by `volspike demo`, `volspike pipeline` and the tests;
//! [`service::main`] is the body of every service binary;
//! [`testing`] is the configuration integration tests start from.

pub mod admin;
pub mod config;
pub mod kafka;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod testing;

pub use config::{Config, ConfigError, ConfigLoader, NoBroker};
pub use kafka::{Broker, EmbeddedKafka};
