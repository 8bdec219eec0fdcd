//! One module per `volspike` subcommand: its clap arguments and its `run`.
//! (Subcommands still defined in `main.rs` move here one by one.)

pub mod exchange_sim;
pub mod simulate;
