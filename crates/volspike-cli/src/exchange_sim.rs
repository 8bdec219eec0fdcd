//! `volspike exchange-sim`: a local WebSocket server that speaks Coinbase's
//! Advanced Trade or Exchange protocol, serves recorded (or simulated) ticks
//! and injects the feed's known failure modes on demand.
//!
//! Every recorded ticker message is sent exactly once over the simulator's
//! life, to whichever subscribed connection asks next: a client that
//! reconnects continues where the last connection stopped, so a test can
//! check that what a client stored equals what the simulator sent. Each tick
//! keeps its recorded event time and sequence, and consecutive ticks that
//! shared an Advanced Trade envelope in the recording share one again, so a
//! recording played through the simulator decodes to the same ticks.
//!
//! What it did is kept per connection ([`ConnectionReport`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use volspike_core::time::format_timestamp;
use volspike_core::{Feed, Tick};
use volspike_ingestor::sequence::SequenceTracker;

use crate::input::decode_files;

/// How fast recorded time passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Recorded time divided by this factor (1.0 = real time).
    Factor(f64),
    /// No waiting between messages.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f > 0.0 && f.is_finite() => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "speed must be a positive number or `max`, not `{s}`"
            )),
        }
    }
}

/// Faults to inject (also the `exchange-sim` fault options). Counts are
/// ticker messages sent on one connection.
#[derive(Debug, Clone, clap::Args)]
pub struct Faults {
    /// Close each connection after this many ticker messages ...
    #[arg(long)]
    pub disconnect_every: Option<u64>,
    /// ... at most this many times in total (then behave).
    #[arg(long, default_value_t = u64::MAX)]
    pub max_disconnects: u64,
    /// Go silent (socket open, nothing sent) after this many ticker messages,
    /// on the first connection only.
    #[arg(long)]
    pub silent_after: Option<u64>,
    /// Keep sending heartbeats but no tickers after this many ticker
    /// messages, on the first connection only.
    #[arg(long)]
    pub heartbeats_only_after: Option<u64>,
    /// Lose tickers after this many ticker messages, on the first
    /// connection only: the market goes on (heartbeats report its trades)
    /// but its tickers never reach the client (counted in `lost`).
    #[arg(long)]
    pub lose_tickers_after: Option<u64>,
    /// Send a malformed frame after every this many ticker messages.
    #[arg(long)]
    pub malformed_every: Option<u64>,
    /// Send an error frame after every this many ticker messages.
    #[arg(long)]
    pub error_every: Option<u64>,
    /// Products refused in subscriptions (left out of the acknowledgement
    /// and answered with an error frame), comma-separated.
    #[arg(long = "reject", value_delimiter = ',')]
    pub reject_products: Vec<String>,
    /// Wait this long before acknowledging a subscription, e.g. `3s`.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub ack_delay: Duration,
    /// Drop a connection whose client has not taken a ticker frame within
    /// this long (its socket buffers are full), as Coinbase drops slow
    /// consumers, e.g. `2s`.
    #[arg(long, value_parser = humantime::parse_duration)]
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

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Which protocol to speak.
    pub feed: Feed,
    /// Pace of recorded time.
    pub speed: Speed,
    /// Interval between heartbeats.
    pub heartbeat_interval: Duration,
    /// Faults to inject.
    pub faults: Faults,
    /// Refuse subscribes without a valid token of this key (Advanced
    /// Trade authentication).
    pub require_jwt: Option<volspike_ingestor::auth::JwtVerifier>,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            feed: Feed::AdvancedTrade,
            speed: Speed::Max,
            heartbeat_interval: Duration::from_secs(1),
            faults: Faults::default(),
            require_jwt: None,
        }
    }
}

/// What the simulator did on one connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionReport {
    /// 1 for the first connection.
    pub id: u64,
    /// Products acknowledged for the ticker channel.
    pub subscribed: Vec<String>,
    /// Products refused.
    pub rejected: Vec<String>,
    /// Ticker messages sent, as indexes into the simulator's message list.
    pub messages: Vec<usize>,
    /// Ticks in those messages.
    pub ticks: u64,
    /// Ticker messages taken from the market but lost (fault), as indexes.
    pub lost: Vec<usize>,
    /// Heartbeat frames sent.
    pub heartbeats: u64,
    /// Malformed frames sent.
    pub malformed: u64,
    /// Error frames sent.
    pub errors: u64,
    /// Sequence breaks in what was sent on this connection, as the
    /// ingestor's [`SequenceTracker`] classifies them (recorded sequences
    /// carry the recording's own gaps and repeats).
    pub sequence_breaks: u64,
    /// Tokens (`jwt`) the subscribes carried, in order.
    pub jwts: Vec<String>,
    /// Why the connection ended (`client closed`, `fault: disconnect`, ...).
    pub end: String,
}

/// One ticker message to send: ticks that shared an envelope.
type SimMessage = Vec<Tick>;

struct Shared {
    settings: SimSettings,
    messages: Vec<SimMessage>,
    products: BTreeSet<String>,
    /// Next message to send, over all connections.
    cursor: Mutex<usize>,
    /// Product -> trade id of the last message served (the exchange's
    /// `last_trade_id`, which Exchange heartbeats report).
    last_trade: Mutex<BTreeMap<String, u64>>,
    reports: Mutex<Vec<ConnectionReport>>,
    disconnects: AtomicU64,
}

/// A running simulator; stops when dropped or [`ExchangeSim::stop`]ped.
pub struct ExchangeSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ExchangeSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeSim")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Groups ticks into messages: consecutive ticks with the same event time
/// and sequence came from one envelope.
pub fn group_messages(ticks: Vec<Tick>) -> Vec<SimMessage> {
    let mut out: Vec<SimMessage> = Vec::new();
    for t in ticks {
        match out.last_mut() {
            Some(m)
                if m[0].event_time_ns == t.event_time_ns
                    && m[0].sequence == t.sequence
                    && t.sequence.is_some()
                    && m.iter().all(|x| x.product_id != t.product_id) =>
            {
                m.push(t)
            }
            _ => out.push(vec![t]),
        }
    }
    out
}

/// Reads recordings (anything `volspike replay` reads) into ticks, in order.
pub fn load_ticks(files: &[PathBuf]) -> anyhow::Result<Vec<Tick>> {
    let mut ticks = Vec::new();
    decode_files(files, |chunk| {
        ticks.extend(chunk.ticks);
        Ok(())
    })?;
    Ok(ticks)
}

impl ExchangeSim {
    /// Starts serving `ticks` on `listen` (port 0 picks a free port).
    pub async fn start(
        listen: SocketAddr,
        ticks: Vec<Tick>,
        settings: SimSettings,
    ) -> anyhow::Result<ExchangeSim> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let products = ticks.iter().map(|t| t.product_id.to_string()).collect();
        let shared = Arc::new(Shared {
            settings,
            messages: group_messages(ticks),
            products,
            cursor: Mutex::new(0),
            last_trade: Mutex::new(BTreeMap::new()),
            reports: Mutex::new(Vec::new()),
            disconnects: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stop.clone()));
        Ok(ExchangeSim {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The ticker messages, in the order they are served.
    pub fn messages(&self) -> &[SimMessage] {
        &self.shared.messages
    }

    /// True once every message has been sent.
    pub fn exhausted(&self) -> bool {
        *self.shared.cursor.lock().expect("cursor lock") >= self.shared.messages.len()
    }

    /// Reports of every connection so far (open ones included).
    pub fn reports(&self) -> Vec<ConnectionReport> {
        self.shared.reports.lock().expect("reports lock").clone()
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(mut self) -> Vec<ConnectionReport> {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.reports()
    }
}

impl Drop for ExchangeSim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let mut conns = tokio::task::JoinSet::new();
    let mut next_id = 1;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let id = next_id;
                    next_id += 1;
                    shared.reports.lock().expect("reports lock").push(ConnectionReport {
                        id,
                        ..ConnectionReport::default()
                    });
                    conns.spawn(serve(stream, id, Arc::clone(&shared), stop.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "exchange-sim: accept failed"),
            },
        }
    }
    while conns.join_next().await.is_some() {}
}

fn update(shared: &Shared, id: u64, f: impl FnOnce(&mut ConnectionReport)) {
    let mut reports = shared.reports.lock().expect("reports lock");
    if let Some(r) = reports.iter_mut().find(|r| r.id == id) {
        f(r);
    }
}

async fn serve(stream: TcpStream, id: u64, shared: Arc<Shared>, stop: CancellationToken) {
    let end = match serve_inner(stream, id, &shared, &stop).await {
        Ok(end) => end,
        Err(e) => format!("error: {e:#}"),
    };
    tracing::info!(connection = id, %end, "exchange-sim: connection ended");
    update(&shared, id, |r| r.end = end);
}

/// Subscriptions requested so far on a connection.
#[derive(Default)]
struct Requested {
    ticker: BTreeSet<String>,
    heartbeats: bool,
    /// Subscribe messages read.
    messages: usize,
    /// Their `jwt` fields.
    jwts: Vec<String>,
}

/// Reads one client message; returns the products and channels it asks for.
fn parse_subscribe(feed: Feed, text: &str, req: &mut Requested) -> anyhow::Result<()> {
    let v: Value = serde_json::from_str(text).context("subscribe is not JSON")?;
    anyhow::ensure!(
        v["type"] == "subscribe",
        "expected a subscribe message, got {text}"
    );
    req.messages += 1;
    if let Some(t) = v["jwt"].as_str() {
        req.jwts.push(t.to_owned());
    }
    let products = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    match feed {
        Feed::AdvancedTrade => match v["channel"].as_str() {
            Some("ticker") => req.ticker.extend(products(&v["product_ids"])),
            Some("heartbeats") => req.heartbeats = true,
            other => anyhow::bail!("unsupported channel {other:?}"),
        },
        Feed::Exchange => {
            let top = products(&v["product_ids"]);
            for ch in v["channels"].as_array().into_iter().flatten() {
                match (ch.as_str(), ch["name"].as_str()) {
                    (Some("heartbeat"), _) | (_, Some("heartbeat")) => req.heartbeats = true,
                    (Some("ticker"), _) => req.ticker.extend(top.iter().cloned()),
                    (_, Some("ticker")) => {
                        let own = products(&ch["product_ids"]);
                        req.ticker
                            .extend(if own.is_empty() { top.clone() } else { own });
                    }
                    _ => anyhow::bail!("unsupported channel {ch}"),
                }
            }
        }
    }
    Ok(())
}

async fn serve_inner(
    stream: TcpStream,
    id: u64,
    shared: &Shared,
    stop: &CancellationToken,
) -> anyhow::Result<String> {
    let settings = &shared.settings;
    let faults = &settings.faults;
    let feed = settings.feed;
    let ws = tokio_tungstenite::accept_async(stream)
        .await
        .context("WebSocket handshake")?;
    let (mut tx, mut rx) = ws.split();

    // Subscribe: Advanced Trade sends one message per channel, Exchange one
    // with every channel; wait briefly for the second after the first.
    let mut req = Requested::default();
    let first = tokio::select! {
        _ = stop.cancelled() => return Ok("simulator stopped".into()),
        m = rx.next() => m,
    };
    match first {
        Some(Ok(Message::Text(t))) => parse_subscribe(feed, &t, &mut req)?,
        Some(Ok(Message::Close(_))) | None => return Ok("client closed before subscribing".into()),
        Some(Ok(other)) => anyhow::bail!("unexpected first frame {other:?}"),
        Some(Err(e)) => return Err(e.into()),
    }
    // (Both channels asked for: no need to wait for more.)
    if feed == Feed::AdvancedTrade {
        while (!req.heartbeats || req.ticker.is_empty())
            && let Ok(Some(Ok(Message::Text(t)))) =
                tokio::time::timeout(Duration::from_millis(200), rx.next()).await
        {
            parse_subscribe(feed, &t, &mut req)?;
        }
    }
    let (subscribed, rejected): (Vec<String>, Vec<String>) = req
        .ticker
        .iter()
        .cloned()
        .partition(|p| !faults.reject_products.contains(p) && shared.products.contains(p));
    update(shared, id, |r| {
        r.subscribed = subscribed.clone();
        r.rejected = rejected.clone();
        r.jwts = req.jwts.clone();
    });
    if let Some(verifier) = &settings.require_jwt {
        let now = now_ns().div_euclid(1_000_000_000);
        let problem = if req.jwts.len() < req.messages {
            Some("a subscribe carries no jwt".to_owned())
        } else {
            req.jwts
                .iter()
                .find_map(|t| verifier.verify(t, now).err().map(|e| format!("{e:#}")))
        };
        if let Some(reason) = problem {
            tx.send(text(json!({
                "type": "error",
                "message": "authentication failure",
                "reason": reason,
            })))
            .await?;
            let _ = tx.send(Message::Close(None)).await;
            return Ok(format!("fault: authentication failure ({reason})"));
        }
    }
    tokio::time::sleep(faults.ack_delay).await;
    for p in &rejected {
        tx.send(text(json!({
            "type": "error",
            "message": "Failed to subscribe",
            "reason": format!("{p} is not a valid product"),
        })))
        .await?;
    }
    // Advanced Trade numbers each channel on its own (as recordings of the
    // ticker channel show); tickers carry their recorded number.
    let mut seq = Numbering::default();
    let ack = match feed {
        Feed::AdvancedTrade => {
            let mut subs = serde_json::Map::new();
            subs.insert("ticker".into(), json!(subscribed));
            if req.heartbeats {
                subs.insert("heartbeats".into(), json!(subscribed));
            }
            json!({
                "channel": "subscriptions",
                "timestamp": format_timestamp(now_ns()),
                "sequence_num": seq.observe(&["subscriptions", "0"], 0),
                "events": [{"subscriptions": subs}],
            })
        }
        Feed::Exchange => {
            let mut channels = vec![json!({"name": "ticker", "product_ids": subscribed})];
            if req.heartbeats {
                channels.push(json!({"name": "heartbeat", "product_ids": subscribed}));
            }
            json!({"type": "subscriptions", "channels": channels})
        }
    };
    tx.send(text(ack)).await?;

    let wanted: BTreeSet<&str> = subscribed.iter().map(String::as_str).collect();
    let first_connection = id == 1;
    let mut sent = 0u64;
    let mut heartbeat_counter = 0u64;
    let mut next_heartbeat = Instant::now() + settings.heartbeat_interval;
    // Recorded time is anchored at the first message this connection sends.
    let mut anchor: Option<(Instant, i64)> = None;
    let mut silent = false;
    let mut tickers_stopped = false;
    loop {
        // Client messages (close, more subscribes) and shutdown.
        let incoming = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                let _ = tx.send(Message::Close(None)).await;
                return Ok("simulator stopped".into());
            }
            m = rx.next() => Some(m),
            _ = std::future::ready(()) => None,
        };
        if let Some(m) = incoming {
            match m {
                Some(Ok(Message::Close(_))) | None => return Ok("client closed".into()),
                Some(Err(e)) => return Ok(format!("client error: {e}")),
                Some(Ok(_)) => {}
            }
        }
        if silent {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        if req.heartbeats && Instant::now() >= next_heartbeat {
            next_heartbeat += settings.heartbeat_interval;
            heartbeat_counter += 1;
            let last_trade = shared.last_trade.lock().expect("trade lock").clone();
            let frames =
                heartbeat_frames(feed, &subscribed, heartbeat_counter, &last_trade, &mut seq);
            let breaks = std::mem::take(&mut seq.breaks);
            for frame in frames {
                tx.send(frame).await?;
                update(shared, id, |r| r.heartbeats += 1);
            }
            update(shared, id, |r| r.sequence_breaks += breaks);
        }
        if tickers_stopped {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // The next message for this connection's products.
        let index = {
            let mut cursor = shared.cursor.lock().expect("cursor lock");
            while *cursor < shared.messages.len()
                && !shared.messages[*cursor]
                    .iter()
                    .any(|t| wanted.contains(t.product_id.as_str()))
            {
                *cursor += 1;
            }
            if *cursor >= shared.messages.len() {
                None
            } else {
                Some(*cursor)
            }
        };
        let Some(index) = index else {
            // Everything was sent; keep the connection (and heartbeats) alive.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let msg = &shared.messages[index];
        if let Speed::Factor(f) = settings.speed {
            let (at, t0) = *anchor.get_or_insert((Instant::now(), msg[0].event_time_ns));
            let due =
                at + Duration::from_secs_f64((msg[0].event_time_ns - t0).max(0) as f64 / 1e9 / f);
            if due > Instant::now() {
                tokio::time::sleep((due - Instant::now()).min(Duration::from_millis(20))).await;
                continue;
            }
        }
        // Claim it: only the connection that moves the cursor sends it.
        {
            let mut cursor = shared.cursor.lock().expect("cursor lock");
            if *cursor != index {
                continue;
            }
            *cursor += 1;
            let mut last_trade = shared.last_trade.lock().expect("trade lock");
            for t in msg {
                if let Some(id) = t.trade_id {
                    last_trade.insert(t.product_id.to_string(), id);
                }
            }
        }
        if first_connection && faults.lose_tickers_after.is_some_and(|n| sent >= n) {
            update(shared, id, |r| r.lost.push(index));
            continue;
        }
        let ticks: Vec<&Tick> = msg
            .iter()
            .filter(|t| wanted.contains(t.product_id.as_str()))
            .collect();
        let frames = ticker_frames(feed, &ticks, sent == 0, &mut seq);
        let breaks = std::mem::take(&mut seq.breaks);
        for frame in frames {
            match faults.drop_slow_after {
                Some(limit) => match tokio::time::timeout(limit, tx.send(frame)).await {
                    Ok(sent) => sent?,
                    Err(_) => return Ok("fault: slow consumer dropped".into()),
                },
                None => tx.send(frame).await?,
            }
        }
        sent += 1;
        update(shared, id, |r| {
            r.messages.push(index);
            r.ticks += ticks.len() as u64;
            r.sequence_breaks += breaks;
        });

        if faults
            .malformed_every
            .is_some_and(|n| sent.is_multiple_of(n))
        {
            tx.send(Message::text(
                "{\"channel\": \"ticker\", \"events\": [{\"tick",
            ))
            .await?;
            update(shared, id, |r| r.malformed += 1);
        }
        if faults.error_every.is_some_and(|n| sent.is_multiple_of(n)) {
            tx.send(text(
                json!({"type": "error", "message": "simulated error", "reason": "fault injection"}),
            ))
            .await?;
            update(shared, id, |r| r.errors += 1);
        }
        if first_connection && faults.silent_after == Some(sent) {
            silent = true;
        }
        if first_connection && faults.heartbeats_only_after == Some(sent) {
            tickers_stopped = true;
        }
        if faults
            .disconnect_every
            .is_some_and(|n| sent.is_multiple_of(n))
        {
            let counted =
                shared
                    .disconnects
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |done| {
                        (done < faults.max_disconnects).then_some(done + 1)
                    });
            if counted.is_ok() {
                // An abrupt end, as a dropped connection: no close frame.
                return Ok("fault: disconnect".into());
            }
        }
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn text(v: Value) -> Message {
    Message::text(v.to_string())
}

/// A number as Coinbase writes it: a decimal string that parses back to the
/// same f64.
fn num(x: f64) -> String {
    format!("{x}")
}

/// Field names of price, 24h volume, low, high, best bid, best ask, bid
/// quantity and ask quantity in each protocol.
const AT_NAMES: [&str; 8] = [
    "price",
    "volume_24_h",
    "low_24_h",
    "high_24_h",
    "best_bid",
    "best_ask",
    "best_bid_quantity",
    "best_ask_quantity",
];
const EXCHANGE_NAMES: [&str; 8] = [
    "price",
    "volume_24h",
    "low_24h",
    "high_24h",
    "best_bid",
    "best_ask",
    "best_bid_size",
    "best_ask_size",
];

/// Adds a tick's numbers under `names`, leaving out the ones it lacks.
fn insert_numbers(o: &mut serde_json::Map<String, Value>, t: &Tick, names: &[&str; 8]) {
    let values = [
        Some(t.price),
        t.volume_24h,
        t.low_24h,
        t.high_24h,
        t.best_bid,
        t.best_ask,
        t.best_bid_qty,
        t.best_ask_qty,
    ];
    for (name, v) in names.iter().zip(values) {
        if let Some(v) = v {
            o.insert((*name).into(), json!(num(v)));
        }
    }
}

/// A connection's sequence numbers, and the breaks in what it sent.
#[derive(Default)]
struct Numbering {
    heartbeats: u64,
    tracker: SequenceTracker,
    breaks: u64,
}

impl Numbering {
    /// Records that `n` is sent on `stream` (`[channel]`, `["exchange",
    /// product]`, or `["subscriptions", _]` / `["heartbeat_counter"]`); returns `n`.
    fn observe(&mut self, stream: &[&str], n: u64) -> u64 {
        let brk = match stream {
            ["exchange", product] => self.tracker.exchange(product, n),
            ["heartbeat_counter"] => self.tracker.heartbeat_counter(n),
            [channel, ..] => self.tracker.advanced_trade(channel, n),
            [] => None,
        };
        self.breaks += u64::from(brk.is_some());
        n
    }
}

fn ticker_frames(feed: Feed, ticks: &[&Tick], first: bool, seq: &mut Numbering) -> Vec<Message> {
    match feed {
        Feed::AdvancedTrade => {
            let tickers: Vec<Value> = ticks
                .iter()
                .map(|t| {
                    let mut o = serde_json::Map::new();
                    o.insert("type".into(), json!("ticker"));
                    o.insert("product_id".into(), json!(t.product_id.as_str()));
                    insert_numbers(&mut o, t, &AT_NAMES);
                    Value::Object(o)
                })
                .collect();
            // The recorded sequence, so the stream decodes to the recorded
            // ticks; a recording without one gets none (an invented number
            // would change the ticks and their feature rows).
            let mut envelope = serde_json::Map::new();
            envelope.insert("channel".into(), json!("ticker"));
            envelope.insert(
                "timestamp".into(),
                json!(format_timestamp(ticks[0].event_time_ns)),
            );
            if let Some(n) = ticks[0].sequence {
                envelope.insert("sequence_num".into(), json!(seq.observe(&["ticker"], n)));
            }
            envelope.insert(
                "events".into(),
                json!([{"type": if first { "snapshot" } else { "update" }, "tickers": tickers}]),
            );
            vec![text(Value::Object(envelope))]
        }
        Feed::Exchange => ticks
            .iter()
            .map(|t| {
                let mut o = serde_json::Map::new();
                o.insert("type".into(), json!("ticker"));
                if let Some(n) = t.sequence {
                    let n = seq.observe(&["exchange", &t.product_id], n);
                    o.insert("sequence".into(), json!(n));
                }
                o.insert("product_id".into(), json!(t.product_id.as_str()));
                insert_numbers(&mut o, t, &EXCHANGE_NAMES);
                o.insert("time".into(), json!(format_timestamp(t.event_time_ns)));
                if let Some(id) = t.trade_id {
                    seq.tracker.exchange_trade(&t.product_id, id);
                    o.insert("trade_id".into(), json!(id));
                }
                text(Value::Object(o))
            })
            .collect(),
    }
}

fn heartbeat_frames(
    feed: Feed,
    products: &[String],
    counter: u64,
    last_trade: &BTreeMap<String, u64>,
    seq: &mut Numbering,
) -> Vec<Message> {
    let now = format_timestamp(now_ns());
    match feed {
        Feed::AdvancedTrade => {
            let n = seq.observe(&["heartbeats"], seq.heartbeats);
            seq.heartbeats += 1;
            seq.observe(&["heartbeat_counter"], counter);
            vec![text(json!({
                "channel": "heartbeats",
                "timestamp": now,
                "sequence_num": n,
                "events": [{"current_time": now, "heartbeat_counter": counter}],
            }))]
        }
        Feed::Exchange => products
            .iter()
            .map(|p| {
                let last_trade_id = last_trade.get(p).copied().unwrap_or(0);
                let brk = seq.tracker.exchange_heartbeat(p, last_trade_id);
                seq.breaks += u64::from(brk.is_some());
                text(json!({
                    "type": "heartbeat", "sequence": counter, "last_trade_id": last_trade_id,
                    "product_id": p, "time": now,
                }))
            })
            .collect(),
    }
}
