//! Sequence tracking on one connection: which numbers were skipped.
//!
//! Advanced Trade: `sequence_num` counts messages; Coinbase's documentation
//! does not say whether per connection or per channel, so a number is in
//! order when it follows either the connection's previous number or the
//! channel's. The first number of a channel on a connection has nothing to
//! follow. `heartbeat_counter` increases by one per heartbeat.
//!
//! Exchange: a product's `sequence` is shared by all channels, so jumps on
//! the ticker channel are normal and not gaps; only a number that does not
//! increase (a duplicate or reordering) is reported. Lost tickers show in
//! trade ids instead: each heartbeat names the product's `last_trade_id`,
//! and by the next heartbeat a ticker with that trade (or a later one) must
//! have come. (One heartbeat of grace: a ticker may trail the heartbeat
//! that already counts its trade. Tickers batch trades, so their own trade
//! ids jump; only the heartbeat proves a loss.)

use std::collections::BTreeMap;

/// A break in a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceBreak {
    /// `sequence_num:ticker`, `heartbeat_counter`, `sequence:BTC-USD`, ...
    pub stream: String,
    /// The number that was due (previous + 1).
    pub expected: u64,
    /// The number that came.
    pub got: u64,
}

impl SequenceBreak {
    /// Numbers skipped (0 when the sequence went backwards or repeated).
    pub fn missing(&self) -> u64 {
        self.got.saturating_sub(self.expected)
    }
}

/// Per-connection state; make a new one for each connection.
#[derive(Debug, Default)]
pub struct SequenceTracker {
    last_on_connection: Option<u64>,
    last_by_stream: BTreeMap<String, u64>,
    trades: BTreeMap<String, TradeWatch>,
}

/// Exchange: a product's trades seen in tickers against its heartbeats.
#[derive(Debug, Default)]
struct TradeWatch {
    /// Highest trade id of a ticker (or accounted for by an earlier break).
    seen: u64,
    /// `last_trade_id` of the previous heartbeat, due by the next one.
    due: Option<u64>,
}

impl SequenceTracker {
    /// Advanced Trade `sequence_num` of a message on `channel`.
    pub fn advanced_trade(&mut self, channel: &str, n: u64) -> Option<SequenceBreak> {
        let stream = format!("sequence_num:{channel}");
        let follows_connection = self.last_on_connection.map(|l| l.wrapping_add(1)) == Some(n);
        self.last_on_connection = Some(n);
        let last = self.last_by_stream.insert(stream.clone(), n)?;
        if follows_connection || last.wrapping_add(1) == n {
            return None;
        }
        Some(SequenceBreak {
            stream,
            expected: last.wrapping_add(1),
            got: n,
        })
    }

    /// Advanced Trade `heartbeat_counter`.
    pub fn heartbeat_counter(&mut self, n: u64) -> Option<SequenceBreak> {
        self.strictly_next("heartbeat_counter".into(), n)
    }

    /// Exchange per-product `sequence`: only a non-increase is a break.
    pub fn exchange(&mut self, product: &str, n: u64) -> Option<SequenceBreak> {
        let stream = format!("sequence:{product}");
        let last = self.last_by_stream.insert(stream.clone(), n)?;
        (n <= last).then(|| SequenceBreak {
            stream,
            expected: last.wrapping_add(1),
            got: n,
        })
    }

    /// Exchange ticker with `trade_id` (the last trade of its batch).
    pub fn exchange_trade(&mut self, product: &str, trade_id: u64) {
        let w = self.trades.entry(product.to_owned()).or_default();
        w.seen = w.seen.max(trade_id);
    }

    /// Exchange heartbeat naming the product's `last_trade_id`. A break on
    /// stream `trade_id:{product}` runs from the first unseen trade
    /// (`expected`) to one past the last the previous heartbeat named
    /// (`got`), so `missing()` counts the trades no ticker carried. Nothing
    /// is checked before the connection's first ticker with a trade id.
    pub fn exchange_heartbeat(
        &mut self,
        product: &str,
        last_trade_id: u64,
    ) -> Option<SequenceBreak> {
        let w = self.trades.get_mut(product)?;
        let brk = match w.due {
            Some(due) if w.seen < due => {
                let b = SequenceBreak {
                    stream: format!("trade_id:{product}"),
                    // Trade ids come from the feed: u64::MAX must not overflow.
                    expected: w.seen.saturating_add(1),
                    got: due.saturating_add(1),
                };
                w.seen = due;
                Some(b)
            }
            _ => None,
        };
        w.due = (last_trade_id > w.seen).then_some(last_trade_id);
        brk
    }

    fn strictly_next(&mut self, stream: String, n: u64) -> Option<SequenceBreak> {
        let last = self.last_by_stream.insert(stream.clone(), n)?;
        (last.wrapping_add(1) != n).then(|| SequenceBreak {
            stream,
            expected: last.wrapping_add(1),
            got: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_connection_numbering_has_no_false_gaps() {
        let mut t = SequenceTracker::default();
        for (i, ch) in [
            "subscriptions",
            "ticker",
            "heartbeats",
            "ticker",
            "ticker",
            "heartbeats",
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(t.advanced_trade(ch, i as u64), None);
        }
    }

    #[test]
    fn trade_ids_at_the_top_of_the_range_do_not_overflow() {
        let mut t = SequenceTracker::default();
        t.exchange_trade("BTC-USD", u64::MAX - 1);
        assert_eq!(t.exchange_heartbeat("BTC-USD", u64::MAX), None);
        let b = t.exchange_heartbeat("BTC-USD", u64::MAX).unwrap();
        assert_eq!((b.expected, b.got), (u64::MAX, u64::MAX));
        assert_eq!(t.exchange("BTC-USD", u64::MAX), None);
        assert!(t.exchange("BTC-USD", u64::MAX).is_some());
    }

    #[test]
    fn per_channel_numbering_has_no_false_gaps_and_finds_real_ones() {
        let mut t = SequenceTracker::default();
        assert_eq!(t.advanced_trade("subscriptions", 0), None);
        assert_eq!(
            t.advanced_trade("ticker", 1500),
            None,
            "first of its channel"
        );
        assert_eq!(t.advanced_trade("heartbeats", 0), None);
        assert_eq!(t.advanced_trade("ticker", 1501), None);
        assert_eq!(t.advanced_trade("heartbeats", 1), None);
        let gap = t.advanced_trade("ticker", 1505).unwrap();
        assert_eq!((gap.expected, gap.got, gap.missing()), (1502, 1505, 3));
        let back = t.advanced_trade("ticker", 3).unwrap();
        assert_eq!(back.missing(), 0);
    }

    #[test]
    fn heartbeat_counter_and_exchange_sequences() {
        let mut t = SequenceTracker::default();
        assert_eq!(t.heartbeat_counter(10), None);
        assert_eq!(t.heartbeat_counter(11), None);
        assert_eq!(t.heartbeat_counter(13).unwrap().missing(), 1);
        assert_eq!(t.exchange("BTC-USD", 100), None);
        assert_eq!(t.exchange("BTC-USD", 180), None, "jumps are normal");
        assert_eq!(t.exchange("ETH-USD", 5), None);
        assert_eq!(t.exchange("BTC-USD", 180).unwrap().got, 180);
    }

    #[test]
    fn exchange_trades_missing_by_the_next_heartbeat_are_a_break() {
        let mut t = SequenceTracker::default();
        assert_eq!(t.exchange_heartbeat("BTC-USD", 50), None, "no ticker yet");
        t.exchange_trade("BTC-USD", 100);
        // The heartbeat counts trade 103 before its ticker came: grace.
        assert_eq!(t.exchange_heartbeat("BTC-USD", 103), None);
        t.exchange_trade("BTC-USD", 103);
        assert_eq!(t.exchange_heartbeat("BTC-USD", 110), None);
        // Tickers up to 104 only; trades 105..=110 never came.
        t.exchange_trade("BTC-USD", 104);
        let gap = t.exchange_heartbeat("BTC-USD", 112).unwrap();
        assert_eq!(
            (gap.stream.as_str(), gap.expected, gap.got, gap.missing()),
            ("trade_id:BTC-USD", 105, 111, 6)
        );
        // Reported once; then 111..=112 must come by the next heartbeat.
        t.exchange_trade("BTC-USD", 112);
        assert_eq!(t.exchange_heartbeat("BTC-USD", 112), None);
        assert_eq!(t.exchange_heartbeat("ETH-USD", 7), None, "another product");
    }
}
