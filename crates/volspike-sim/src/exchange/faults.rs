//! Which of the feed's failure modes to inject, and when.
//!
//! Counts are ticker messages sent on one connection. After each message the
//! connection asks [`Faults::after_message`] what to do next; whether a
//! message is lost instead of sent is [`Faults::loses`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Faults to inject. With the `clap` feature these are also the
/// `exchange-sim` command's options.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Faults {
    /// Close each connection after this many ticker messages ...
    #[cfg_attr(feature = "clap", arg(long))]
    pub disconnect_every: Option<u64>,
    /// ... at most this many times in total (then behave).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = u64::MAX))]
    pub max_disconnects: u64,
    /// Go silent (socket open, nothing sent) after this many ticker
    /// messages, on the first connection only.
    #[cfg_attr(feature = "clap", arg(long))]
    pub silent_after: Option<u64>,
    /// Keep sending heartbeats but no tickers after this many ticker
    /// messages, on the first connection only.
    #[cfg_attr(feature = "clap", arg(long))]
    pub heartbeats_only_after: Option<u64>,
    /// Lose tickers after this many ticker messages, on the first
    /// connection only: the market goes on (heartbeats report its trades)
    /// but its tickers never reach the client (reported as `lost`).
    #[cfg_attr(feature = "clap", arg(long))]
    pub lose_tickers_after: Option<u64>,
    /// Send a malformed frame after every this many ticker messages.
    #[cfg_attr(feature = "clap", arg(long))]
    pub malformed_every: Option<u64>,
    /// Send an error frame after every this many ticker messages.
    #[cfg_attr(feature = "clap", arg(long))]
    pub error_every: Option<u64>,
    /// Products refused in subscriptions (left out of the acknowledgement
    /// and answered with an error frame), comma-separated.
    #[cfg_attr(feature = "clap", arg(long = "reject", value_delimiter = ','))]
    pub reject_products: Vec<String>,
    /// Wait this long before acknowledging a subscription, e.g. `3s`.
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value = "0s", value_parser = humantime::parse_duration)
    )]
    pub ack_delay: Duration,
    /// Drop a connection whose client has not taken a ticker frame within
    /// this long (its socket buffers are full), as Coinbase drops slow
    /// consumers, e.g. `2s`.
    #[cfg_attr(feature = "clap", arg(long, value_parser = humantime::parse_duration))]
    pub drop_slow_after: Option<Duration>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            disconnect_every: None,
            max_disconnects: u64::MAX,
            silent_after: None,
            heartbeats_only_after: None,
            lose_tickers_after: None,
            malformed_every: None,
            error_every: None,
            reject_products: Vec::new(),
            ack_delay: Duration::ZERO,
            drop_slow_after: None,
        }
    }
}

/// What a connection does after its `sent`-th ticker message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct AfterMessage {
    /// Send a malformed frame.
    pub(super) malformed: bool,
    /// Send an error frame.
    pub(super) error: bool,
    /// From now on send nothing at all.
    pub(super) go_silent: bool,
    /// From now on send heartbeats only.
    pub(super) stop_tickers: bool,
    /// End the connection abruptly (no close frame).
    pub(super) disconnect: bool,
}

fn every(n: Option<u64>, sent: u64) -> bool {
    n.is_some_and(|n| sent.is_multiple_of(n))
}

impl Faults {
    /// True when the ticker message after `sent` others is lost instead of
    /// sent.
    pub(super) fn loses(&self, first_connection: bool, sent: u64) -> bool {
        first_connection && self.lose_tickers_after.is_some_and(|n| sent >= n)
    }

    /// The faults due once `sent` ticker messages went out on a connection.
    /// `disconnects` counts disconnect faults over all connections, so that
    /// `max_disconnects` holds across them.
    pub(super) fn after_message(
        &self,
        first_connection: bool,
        sent: u64,
        disconnects: &AtomicU64,
    ) -> AfterMessage {
        let disconnect = every(self.disconnect_every, sent)
            && disconnects
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |done| {
                    (done < self.max_disconnects).then_some(done + 1)
                })
                .is_ok();
        AfterMessage {
            malformed: every(self.malformed_every, sent),
            error: every(self.error_every, sent),
            go_silent: first_connection && self.silent_after == Some(sent),
            stop_tickers: first_connection && self.heartbeats_only_after == Some(sent),
            disconnect,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnects_stop_at_the_cap_across_connections() {
        let f = Faults {
            disconnect_every: Some(2),
            max_disconnects: 2,
            ..Faults::default()
        };
        let done = AtomicU64::new(0);
        let hits: Vec<bool> = (1..=8)
            .map(|sent| f.after_message(false, sent, &done).disconnect)
            .collect();
        assert_eq!(hits, [false, true, false, true, false, false, false, false]);
    }

    #[test]
    fn first_connection_faults_only_hit_the_first_connection() {
        let f = Faults {
            silent_after: Some(3),
            heartbeats_only_after: Some(3),
            lose_tickers_after: Some(3),
            ..Faults::default()
        };
        let done = AtomicU64::new(0);
        let first = f.after_message(true, 3, &done);
        assert!(first.go_silent && first.stop_tickers);
        assert_eq!(f.after_message(false, 3, &done), AfterMessage::default());
        assert!(!f.loses(true, 2) && f.loses(true, 3) && !f.loses(false, 9));
    }
}
