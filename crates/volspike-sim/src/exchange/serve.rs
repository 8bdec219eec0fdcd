//! Serving one subscribed connection: heartbeats, the pace of recorded
//! time, claiming the next message from the shared cursor, and the faults.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use volspike_core::sequence::{SequenceBreak, SequenceTracker};
use volspike_core::time::now_ns;
use volspike_core::{Feed, Tick};

use super::handshake::{Handshake, handshake};
use super::{ConnectionError, Io, Shared, Speed};
use crate::frames::{self, TickerEvent};

/// How long an idle connection waits before looking again.
const IDLE: Duration = Duration::from_millis(20);

/// A connection's own message numbers, and the breaks in what it sent as
/// the ingestor's tracker would see them.
#[derive(Debug, Default)]
pub(super) struct Numbering {
    next: BTreeMap<&'static str, u64>,
    tracker: SequenceTracker,
    breaks: u64,
}

impl Numbering {
    /// The next Advanced Trade `sequence_num` of a channel the simulator
    /// numbers itself (from 0, per channel).
    pub(super) fn next_on_channel(&mut self, channel: &'static str) -> u64 {
        let slot = self.next.entry(channel).or_default();
        let n = *slot;
        *slot += 1;
        self.advanced_trade(channel, n);
        n
    }

    fn advanced_trade(&mut self, channel: &str, n: u64) {
        let brk = self.tracker.advanced_trade(channel, n);
        self.count(brk);
    }

    fn count(&mut self, brk: Option<SequenceBreak>) {
        self.breaks += u64::from(brk.is_some());
    }

    /// Breaks since the last call.
    fn take_breaks(&mut self) -> u64 {
        std::mem::take(&mut self.breaks)
    }
}

/// When the next recorded message is due: recorded time is anchored at the
/// first message a connection sends and runs `speed` times real time.
#[derive(Debug)]
struct Pacer {
    speed: Speed,
    anchor: Option<(Instant, i64)>,
}

impl Pacer {
    /// How long to wait at `now` before a message of `event_time_ns` is
    /// due; `None` when it is due.
    fn wait(&mut self, event_time_ns: i64, now: Instant) -> Option<Duration> {
        let Speed::Factor(f) = self.speed else {
            return None;
        };
        let (at, t0) = *self.anchor.get_or_insert((now, event_time_ns));
        let due = at + Duration::from_secs_f64((event_time_ns - t0).max(0) as f64 / 1e9 / f);
        (due > now).then(|| due - now)
    }
}

/// The frames of one ticker message, numbered and tracked.
fn ticker_frames(
    feed: Feed,
    ticks: &[&Tick],
    event: TickerEvent,
    numbering: &mut Numbering,
) -> Vec<String> {
    match feed {
        Feed::AdvancedTrade => {
            // The recorded sequence, so the stream decodes to the recorded ticks.
            if let Some(n) = ticks[0].sequence {
                numbering.advanced_trade("ticker", n);
            }
            vec![frames::advanced_trade_ticker(ticks, event)]
        }
        Feed::Exchange => ticks
            .iter()
            .map(|t| {
                if let Some(n) = t.sequence {
                    let brk = numbering.tracker.exchange(&t.product_id, n);
                    numbering.count(brk);
                }
                if let Some(id) = t.trade_id {
                    numbering.tracker.exchange_trade(&t.product_id, id);
                }
                frames::exchange_ticker(t)
            })
            .collect(),
    }
}

/// The heartbeat frames due now: one on Advanced Trade, one per product on
/// Exchange (naming the product's last trade served so far).
fn heartbeat_frames(
    feed: Feed,
    products: &[String],
    counter: u64,
    last_trade: &BTreeMap<String, u64>,
    numbering: &mut Numbering,
) -> Vec<String> {
    let now = now_ns();
    match feed {
        Feed::AdvancedTrade => {
            let n = numbering.next_on_channel("heartbeats");
            let brk = numbering.tracker.heartbeat_counter(counter);
            numbering.count(brk);
            vec![frames::advanced_trade_heartbeat(now, n, counter)]
        }
        Feed::Exchange => products
            .iter()
            .map(|p| {
                let last_trade_id = last_trade.get(p).copied().unwrap_or(0);
                let brk = numbering.tracker.exchange_heartbeat(p, last_trade_id);
                numbering.count(brk);
                frames::exchange_heartbeat(p, counter, last_trade_id, now)
            })
            .collect(),
    }
}

/// Serves connection `id` until it ends; records why in its report.
pub(super) async fn connection(
    stream: impl Io,
    id: u64,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let end = match serve(stream, id, &shared, &stop).await {
        Ok(end) => end,
        Err(e) => format!("error: {e}"),
    };
    tracing::info!(connection = id, %end, "exchange-sim: connection ended");
    shared.update(id, |r| r.end = end);
}

/// The index of the next message for `wanted` products, if any is left.
fn next_message(shared: &Shared, wanted: &BTreeSet<&str>) -> Option<usize> {
    let mut cursor = shared.cursor.lock().expect("cursor lock");
    while *cursor < shared.messages.len()
        && !shared.messages[*cursor]
            .iter()
            .any(|t| wanted.contains(t.product_id.as_str()))
    {
        *cursor += 1;
    }
    (*cursor < shared.messages.len()).then_some(*cursor)
}

/// Takes message `index` if no other connection took it first, and notes
/// its trades as the market's last.
fn claim(shared: &Shared, index: usize) -> bool {
    let mut cursor = shared.cursor.lock().expect("cursor lock");
    if *cursor != index {
        return false;
    }
    *cursor += 1;
    let mut last_trade = shared.last_trade.lock().expect("trade lock");
    for t in &shared.messages[index] {
        if let Some(id) = t.trade_id {
            last_trade.insert(t.product_id.to_string(), id);
        }
    }
    true
}

async fn serve(
    stream: impl Io,
    id: u64,
    shared: &Shared,
    stop: &CancellationToken,
) -> Result<String, ConnectionError> {
    let settings = &shared.settings;
    let faults = &settings.faults;
    let feed = settings.feed;
    let mut ws = tokio_tungstenite::accept_async(stream)
        .await
        .map_err(ConnectionError::Handshake)?;
    let mut numbering = Numbering::default();
    let sub = match handshake(&mut ws, id, shared, stop, &mut numbering).await? {
        Handshake::Subscribed(sub) => sub,
        Handshake::Ended(end) => return Ok(end),
    };

    let wanted: BTreeSet<&str> = sub.products.iter().map(String::as_str).collect();
    let first_connection = id == 1;
    let mut sent = 0u64;
    let mut heartbeat_counter = 0u64;
    let mut next_heartbeat = Instant::now() + settings.heartbeat_interval;
    let mut pacer = Pacer {
        speed: settings.speed,
        anchor: None,
    };
    let mut silent = false;
    let mut tickers_stopped = false;
    loop {
        // Client messages (close, more subscribes) and shutdown.
        let incoming = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                let _ = ws.send(Message::Close(None)).await;
                return Ok("simulator stopped".into());
            }
            m = ws.next() => Some(m),
            _ = std::future::ready(()) => None,
        };
        match incoming {
            Some(Some(Ok(Message::Close(_))) | None) => return Ok("client closed".into()),
            Some(Some(Err(e))) => return Ok(format!("client error: {e}")),
            Some(Some(Ok(_))) | None => {}
        }
        if silent {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        if sub.heartbeats && Instant::now() >= next_heartbeat {
            next_heartbeat += settings.heartbeat_interval;
            heartbeat_counter += 1;
            let last_trade = shared.last_trade.lock().expect("trade lock").clone();
            let frames = heartbeat_frames(
                feed,
                &sub.products,
                heartbeat_counter,
                &last_trade,
                &mut numbering,
            );
            let breaks = numbering.take_breaks();
            for frame in frames {
                ws.send(Message::text(frame)).await?;
                shared.update(id, |r| r.heartbeats += 1);
            }
            shared.update(id, |r| r.sequence_breaks += breaks);
        }
        if tickers_stopped {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let Some(index) = next_message(shared, &wanted) else {
            // Everything was sent; keep the connection (and heartbeats) alive.
            tokio::time::sleep(IDLE).await;
            continue;
        };
        let msg = &shared.messages[index];
        if let Some(wait) = pacer.wait(msg[0].event_time_ns, Instant::now()) {
            tokio::time::sleep(wait.min(IDLE)).await;
            continue;
        }
        // Only the connection that moves the cursor sends the message.
        if !claim(shared, index) {
            continue;
        }
        if faults.loses(first_connection, sent) {
            shared.update(id, |r| r.lost.push(index));
            continue;
        }
        let ticks: Vec<&Tick> = msg
            .iter()
            .filter(|t| wanted.contains(t.product_id.as_str()))
            .collect();
        let event = if sent == 0 {
            TickerEvent::Snapshot
        } else {
            TickerEvent::Update
        };
        let frames = ticker_frames(feed, &ticks, event, &mut numbering);
        let breaks = numbering.take_breaks();
        for frame in frames {
            let send = ws.send(Message::text(frame));
            match faults.drop_slow_after {
                Some(limit) => match tokio::time::timeout(limit, send).await {
                    Ok(sent) => sent?,
                    Err(_) => return Ok("fault: slow consumer dropped".into()),
                },
                None => send.await?,
            }
        }
        sent += 1;
        shared.update(id, |r| {
            r.messages.push(index);
            r.ticks += ticks.len() as u64;
            r.sequence_breaks += breaks;
        });

        let due = faults.after_message(first_connection, sent, &shared.disconnects);
        if due.malformed {
            ws.send(Message::text(frames::MALFORMED)).await?;
            shared.update(id, |r| r.malformed += 1);
        }
        if due.error {
            ws.send(Message::text(frames::error(
                "simulated error",
                "fault injection",
            )))
            .await?;
            shared.update(id, |r| r.errors += 1);
        }
        silent |= due.go_silent;
        tickers_stopped |= due.stop_tickers;
        if due.disconnect {
            // An abrupt end, as a dropped connection: no close frame.
            return Ok("fault: disconnect".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_runs_recorded_time_at_its_speed() {
        let mut pacer = Pacer {
            speed: Speed::Factor(2.0),
            anchor: None,
        };
        let (start, t0) = (Instant::now(), 1_000_000_000_000);
        assert_eq!(pacer.wait(t0, start), None, "the first message anchors");
        // Four recorded seconds later at 2x: due two seconds after the anchor.
        let later = t0 + 4_000_000_000;
        assert_eq!(pacer.wait(later, start), Some(Duration::from_secs(2)));
        let one_s = start + Duration::from_secs(1);
        assert_eq!(pacer.wait(later, one_s), Some(Duration::from_secs(1)));
        assert_eq!(pacer.wait(later, start + Duration::from_secs(2)), None);
        let mut max = Pacer {
            speed: Speed::Max,
            anchor: None,
        };
        assert_eq!(max.wait(later, start), None);
    }
}
