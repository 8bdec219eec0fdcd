//! volspike in one process, for `volspike pipeline`, `volspike demo` and
//! the integration tests of the whole path.
//!
//! [`pipeline::run`] feeds recordings (or runs the ingestor) into
//! `ticks.raw` on the embedded Kafka or a real broker, runs featurizer
//! services (and optionally the inference server and the drift worker)
//! in-process, reads `ticks.features` back while it runs, and returns when
//! every input record has been featurized. [`demo::run`] is that pipeline behind the exchange
//! simulator (or Coinbase), after training on simulated history. Start
//! reading at [`pipeline::run`].

pub mod demo;
pub mod drift_printer;
pub mod pipeline;
