//! Simulated markets and a local Coinbase exchange, so every part of
//! volspike runs and is tested with no network and no recordings at hand.
//!
//! [`market`] generates a realistic ticker stream (clustered arrivals and
//! volatility spikes) as [`volspike_core::Tick`]s; [`exchange`] serves ticks
//! (simulated or recorded) over Coinbase's Advanced Trade or Exchange
//! WebSocket protocol and injects the feed's failure modes on demand
//! ([`exchange::Faults`]). Both write their messages with one encoder,
//! [`frames`]. Start reading at [`market::simulate_ticks`], then
//! [`exchange::ExchangeSim::start`].
//!
//! With [`SimTls`] the exchange serves `wss://` with a certificate signed by
//! a CA it makes at start.
//!
//! Messages are numbered per channel (Advanced Trade) or per product
//! (Exchange), so a clean simulated feed shows no sequence break.

pub mod exchange;
pub mod frames;
pub mod market;
pub mod tls;

pub use exchange::{
    ConnectionReport, ExchangeSim, Faults, InMemory, SimSettings, Speed, TokenCheck,
};
pub use market::{
    MarketConfig, Precursor, RegimeChange, simulate_ticks, write_ndjson, write_ndjson_file,
};
pub use tls::SimTls;
