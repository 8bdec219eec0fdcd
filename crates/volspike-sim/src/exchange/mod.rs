//! A local WebSocket server that speaks Coinbase's Advanced Trade or
//! Exchange protocol, serves recorded (or simulated) ticks and injects the
//! feed's known failure modes on demand.
//!
//! Every ticker message is sent exactly once over the simulator's life, to
//! whichever subscribed connection asks next: a client that reconnects
//! continues where the last connection stopped, so a test can check that
//! what a client stored equals what the simulator sent. Each tick keeps its
//! recorded event time and sequence, and consecutive ticks that shared an
//! Advanced Trade envelope in the recording share one again, so a recording
//! played through the simulator decodes to the same ticks.
//!
//! A connection goes through [`handshake`] (subscribe, authentication,
//! acknowledgement), then [`serve`] (heartbeats, pacing of recorded time,
//! claiming the next message), with [`faults`] deciding after each message
//! what goes wrong. What it did is kept per connection ([`ConnectionReport`]).

mod faults;
mod handshake;
mod serve;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use volspike_core::{Feed, Tick};

pub use faults::Faults;

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

/// Checks a subscribe's token (Advanced Trade authentication): given the
/// token and the time in seconds since the epoch, `Err(reason)` refuses it.
/// The ingestor's `JwtVerifier` is the real check; the simulator only asks.
pub type TokenCheck = Arc<dyn Fn(&str, i64) -> Result<(), String> + Send + Sync>;

/// Simulator settings.
#[derive(Clone)]
pub struct SimSettings {
    /// Which protocol to speak.
    pub feed: Feed,
    /// Pace of recorded time.
    pub speed: Speed,
    /// Interval between heartbeats.
    pub heartbeat_interval: Duration,
    /// Faults to inject.
    pub faults: Faults,
    /// Refuse subscribes whose tokens this check refuses (or that carry none).
    pub require_jwt: Option<TokenCheck>,
    /// Serve `wss://` with this certificate (network connections only).
    pub tls: Option<crate::tls::SimTls>,
}

impl std::fmt::Debug for SimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSettings")
            .field("feed", &self.feed)
            .field("speed", &self.speed)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("faults", &self.faults)
            .field("require_jwt", &self.require_jwt.is_some())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            feed: Feed::AdvancedTrade,
            speed: Speed::Max,
            heartbeat_interval: Duration::from_secs(1),
            faults: Faults::default(),
            require_jwt: None,
            tls: None,
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
    /// ingestor's [`volspike_core::sequence::SequenceTracker`] classifies
    /// them (recorded sequences carry the recording's own gaps and repeats).
    pub sequence_breaks: u64,
    /// Tokens (`jwt`) the subscribes carried, in order.
    pub jwts: Vec<String>,
    /// Why the connection ended (`client closed`, `fault: disconnect`, ...).
    pub end: String,
}

impl std::fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connection {}: subscribed={:?} rejected={:?} messages={} ticks={} heartbeats={} malformed={} errors={} sequence_breaks={} end={}",
            self.id,
            self.subscribed,
            self.rejected,
            self.messages.len(),
            self.ticks,
            self.heartbeats,
            self.malformed,
            self.errors,
            self.sequence_breaks,
            self.end
        )
    }
}

/// One ticker message to send: ticks that shared an envelope.
pub type SimMessage = Vec<Tick>;

/// State every connection shares.
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
    /// Disconnect faults injected so far, over all connections.
    disconnects: AtomicU64,
    /// The id of the next connection.
    next_id: AtomicU64,
}

/// A byte stream a connection is served on: TCP, or an in-memory pipe.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Shared {
    /// Numbers a new connection and opens its report.
    fn open_connection(&self) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.reports
            .lock()
            .expect("reports lock")
            .push(ConnectionReport {
                id,
                ..ConnectionReport::default()
            });
        id
    }

    /// Changes connection `id`'s report.
    fn update(&self, id: u64, f: impl FnOnce(&mut ConnectionReport)) {
        let mut reports = self.reports.lock().expect("reports lock");
        if let Some(r) = reports.iter_mut().find(|r| r.id == id) {
            f(r);
        }
    }
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

impl ExchangeSim {
    /// Starts serving `ticks` on `listen` (port 0 picks a free port).
    pub async fn start(
        listen: SocketAddr,
        ticks: Vec<Tick>,
        settings: SimSettings,
    ) -> std::io::Result<ExchangeSim> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("exchange simulator binding {listen}: {e}"),
            )
        })?;
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
            next_id: AtomicU64::new(1),
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

    /// A handle that opens client connections without the network.
    pub fn in_memory(&self) -> InMemory {
        InMemory {
            shared: Arc::clone(&self.shared),
            stop: self.stop.clone(),
        }
    }

    /// `ws://127.0.0.1:PORT`, or `wss://` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.shared.settings.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}", self.addr)
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

/// Opens connections to an [`ExchangeSim`] over in-memory pipes, served
/// like accepted TCP connections. Tests on tokio's paused clock use it:
/// with real sockets the paused clock jumps ahead while data is in flight.
#[derive(Clone)]
pub struct InMemory {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl std::fmt::Debug for InMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InMemory")
    }
}

impl InMemory {
    /// A new connection: the client's end of the pipe.
    pub fn connect(&self) -> DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let id = self.shared.open_connection();
        tokio::spawn(serve::connection(
            server,
            id,
            Arc::clone(&self.shared),
            self.stop.clone(),
        ));
        client
    }
}

impl Drop for ExchangeSim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match shared.settings.tls.clone() {
                    None => {
                        let id = shared.open_connection();
                        conns.spawn(serve::connection(stream, id, Arc::clone(&shared), stop.clone()));
                    }
                    // The TLS handshake runs in the connection's own task (a
                    // slow client must not hold up the accept loop); a
                    // client that refuses the certificate never becomes a
                    // connection of the report.
                    Some(tls) => {
                        let (shared, stop) = (Arc::clone(&shared), stop.clone());
                        conns.spawn(async move {
                            let handshake = tokio::time::timeout(
                                Duration::from_secs(10),
                                tls.acceptor.accept(stream),
                            );
                            match handshake.await {
                                Ok(Ok(stream)) => {
                                    let id = shared.open_connection();
                                    serve::connection(stream, id, shared, stop).await;
                                }
                                Ok(Err(e)) => tracing::info!(%peer, error = %e, "exchange-sim: TLS handshake failed"),
                                Err(_) => tracing::info!(%peer, "exchange-sim: TLS handshake timed out"),
                            }
                        });
                    }
                },
                Err(e) => tracing::warn!(error = %e, "exchange-sim: accept failed"),
            },
        }
    }
    while conns.join_next().await.is_some() {}
}

/// Why serving a connection failed (as opposed to ending normally).
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("WebSocket handshake: {0}")]
    Handshake(tokio_tungstenite::tungstenite::Error),
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("{0}")]
    Protocol(String),
}
