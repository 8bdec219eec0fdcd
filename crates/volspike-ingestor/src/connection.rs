//! One feed connection after another: connect (TCP, TLS for `wss://`, the
//! WebSocket upgrade), subscribe, check the acknowledgement, read frames
//! under two watchdogs, and on any failure reconnect with [`Backoff`],
//! forever, until shut down. Each failure is named by its cause (one of
//! [`DISCONNECT_KINDS`]), a TLS one by what the certificate check said.
//!
//! Frames go to a [`FrameSink`] with their receive time and connection id;
//! what happened to the connections goes to it as [`FeedEvent`]s. Kafka and
//! the journal live behind the sink.
//!
//! Every timer (watchdogs, handshake timeout, backoff, rate limits) runs on
//! tokio's clock, so tests drive the loop on paused time with an in-memory
//! [`Connector`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use futures_util::{FutureExt, SinkExt, StreamExt};
use rand::SeedableRng;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use volspike_core::{Control, DecodeError, Feed, LineKind, Tick, decode_frame};

use crate::backoff::Backoff;
use volspike_core::sequence::{SequenceBreak, SequenceTracker};
use volspike_core::time::now_ns;

/// Where and what to subscribe, and the watchdogs' limits.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// WebSocket URL.
    pub url: String,
    /// Protocol.
    pub feed: Feed,
    /// Products for the ticker channel.
    pub products: Vec<String>,
    /// Reconnect when no frame at all arrives for this long.
    pub silence_timeout: Duration,
    /// Reconnect when a product has no ticker for this long while other
    /// frames (heartbeats) keep coming.
    pub stale_timeout: Duration,
    /// Longest wait for connecting and for the subscription acknowledgement.
    pub handshake_timeout: Duration,
    /// First reconnect delay ceiling.
    pub backoff_base: Duration,
    /// Largest reconnect delay.
    pub backoff_cap: Duration,
    /// Id of the first connection; later ones count up from it. The
    /// ingestor continues its journal's numbering so ids stay unique.
    pub first_conn: u64,
    /// Most connection attempts per second (Coinbase allows 8 per IP).
    pub connects_per_second: u32,
    /// Most messages sent per second (Coinbase: 8 unauthenticated on
    /// Advanced Trade, 100 on Exchange).
    pub messages_per_second: u32,
    /// Advanced Trade API key: each subscribe carries a fresh JWT.
    pub auth: Option<crate::auth::CdpKey>,
}

/// One received frame, decoded once for everybody.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Connection id.
    pub conn: u64,
    /// Receive time, ns since the epoch.
    pub receive_time_ns: i64,
    /// The frame's text as received.
    pub text: &'a str,
    /// What the decoder made of it.
    pub decoded: &'a Result<LineKind, DecodeError>,
    /// Its ticks (empty unless `decoded` is a ticker).
    pub ticks: &'a [Tick],
}

/// Every `kind` of [`FeedEvent::Disconnected`]: the label values of the
/// reconnect counter, registered at 0 on start.
pub const DISCONNECT_KINDS: [&str; 13] = [
    "closed",
    "silence",
    "stale",
    "read_error",
    "too_large",
    "connect_failed",
    "handshake_timeout",
    "subscribe_failed",
    "tls_unknown_issuer",
    "tls_wrong_host",
    "tls_bad_certificate",
    "tls_handshake",
    "tls_handshake_timeout",
];

/// Something that happened to a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// Connection `conn` is subscribed to these products.
    Subscribed {
        /// Connection id.
        conn: u64,
        /// Products acknowledged for the ticker channel.
        products: Vec<String>,
    },
    /// Connection `conn` ended; the loop reconnects after `delay`.
    Disconnected {
        /// Connection id.
        conn: u64,
        /// Low-cardinality cause, for metrics: one of [`DISCONNECT_KINDS`].
        kind: &'static str,
        /// Why, in words (`silence: no frame for 5s`, ...).
        reason: String,
        /// Wait before the next attempt.
        delay: Duration,
    },
    /// A sequence on connection `conn` skipped or repeated numbers.
    SequenceBreak {
        /// Connection id.
        conn: u64,
        /// What broke.
        brk: SequenceBreak,
    },
    /// The exchange sent an error frame.
    ExchangeError {
        /// Connection id.
        conn: u64,
        /// Its `message` and `reason`.
        message: String,
    },
}

/// Receives frames and events, in order.
pub trait FrameSink {
    /// A frame received and decoded.
    fn frame(&mut self, frame: &Frame<'_>) -> anyhow::Result<()>;
    /// A connection event.
    fn event(&mut self, event: FeedEvent) -> anyhow::Result<()>;
    /// Nothing more is waiting on the socket (or a batch is full): write out
    /// what is buffered. Frames come in batches between calls.
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The exchange refused part of the subscription: retrying cannot help.
    #[error("the exchange refused products {rejected:?} (acknowledged: {acknowledged:?}){detail}")]
    Rejected {
        /// Requested but not acknowledged.
        rejected: Vec<String>,
        /// Acknowledged.
        acknowledged: Vec<String>,
        /// The exchange's error message, if it sent one.
        detail: String,
    },
    /// The exchange refused the API key's token: a wrong key or name, or a
    /// clock far off; retrying with the same key cannot help.
    #[error(
        "the exchange refused authentication: {0} (check ingestor.api-key-name/-secret/-file and this machine's clock)"
    )]
    Authentication(String),
    /// The sink (journal, Kafka) failed.
    #[error("output failed: {0:#}")]
    Sink(anyhow::Error),
}

/// How one session ended.
enum End {
    /// Reconnect; `healthy` when it had been acknowledged and sent data.
    Retry {
        kind: &'static str,
        reason: String,
        healthy: bool,
    },
    /// Give up with this error.
    Fatal(FeedError),
    /// Shutdown requested.
    Shutdown,
}

/// Frames handled between two [`FrameSink::flush`] calls at most.
const FLUSH_EVERY: usize = 1024;

/// governor's clock on tokio's time (time since the limiter was made), so
/// rate limits wait on the same clock as every other timer here.
#[derive(Debug, Clone)]
struct TokioClock(Instant);

impl governor::clock::Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

type Limiter = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    TokioClock,
    governor::middleware::NoOpMiddleware<Duration>,
>;

fn limiter(per_second: u32) -> Limiter {
    let n = std::num::NonZeroU32::new(per_second.max(1)).expect("at least 1");
    governor::RateLimiter::direct_with_clock(
        governor::Quota::per_second(n),
        TokioClock(Instant::now()),
    )
}

/// Waits (on tokio's clock) until `limiter` allows one more.
async fn until_ready(limiter: &Limiter) {
    use governor::clock::Clock as _;
    while let Err(not_until) = limiter.check() {
        tokio::time::sleep(not_until.wait_time_from(limiter.clock().now())).await;
    }
}

/// The subscribe messages for `cfg`; with an API key each one carries a
/// token signed now (tokens live two minutes).
fn subscribe_messages(cfg: &FeedConfig) -> Vec<String> {
    let p = &cfg.products;
    match cfg.feed {
        Feed::AdvancedTrade => ["ticker", "heartbeats"]
            .into_iter()
            .map(|channel| {
                let mut m = json!({"type": "subscribe", "channel": channel, "product_ids": p});
                if let Some(key) = &cfg.auth {
                    m["jwt"] = key.jwt(now_ns().div_euclid(1_000_000_000)).into();
                }
                m.to_string()
            })
            .collect(),
        Feed::Exchange => vec![
            json!({
                "type": "subscribe", "product_ids": p,
                "channels": ["heartbeat", {"name": "ticker", "product_ids": p}],
            })
            .to_string(),
        ],
    }
}

/// Products of the ticker channel in an acknowledgement, if `v` is one.
fn acknowledged(feed: Feed, v: &Value) -> Option<BTreeSet<String>> {
    let list = |a: &Value| -> BTreeSet<String> {
        a.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect()
    };
    match feed {
        Feed::AdvancedTrade if v["channel"] == "subscriptions" => {
            Some(list(&v["events"][0]["subscriptions"]["ticker"]))
        }
        Feed::Exchange if v["type"] == "subscriptions" => Some(
            v["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["name"] == "ticker")
                .flat_map(|c| list(&c["product_ids"]))
                .collect(),
        ),
        _ => None,
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// Low-cardinality cause, for metrics: one of [`DISCONNECT_KINDS`].
    pub kind: &'static str,
    /// What happened, in words, naming the peer.
    pub reason: String,
}

impl ConnectError {
    fn new(kind: &'static str, reason: impl Into<String>) -> Self {
        ConnectError {
            kind,
            reason: reason.into(),
        }
    }
}

impl From<tungstenite::Error> for ConnectError {
    fn from(e: tungstenite::Error) -> Self {
        ConnectError::new("connect_failed", format!("connect failed: {e}"))
    }
}

/// Opens a connection's WebSocket: [`Network`] in the service, an
/// in-memory pipe in tests.
pub trait Connector: Sync {
    /// The byte stream under the WebSocket.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;
    /// Connects to `url` and completes the WebSocket handshake by
    /// `deadline`.
    fn connect(
        &self,
        url: &str,
        deadline: Instant,
    ) -> impl Future<Output = Result<WebSocketStream<Self::Stream>, ConnectError>> + Send;
}

/// Connections over the network: TCP, then TLS for `wss://` (rustls), then
/// the WebSocket upgrade, each step's failure named.
#[derive(Clone)]
pub struct Network {
    tls: Arc<rustls::ClientConfig>,
    max_message_bytes: usize,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Network")
    }
}

impl Network {
    /// Trusts Mozilla's roots (webpki-roots), the system's store and, if
    /// given, every CA certificate in the PEM file `ca_file` (a private CA,
    /// or a proxy's).
    pub fn new(ca_file: Option<&Path>) -> anyhow::Result<Network> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // The system's store adds what an operator installed there; a
        // machine without one (a scratch image) still has Mozilla's roots.
        let system = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(system.certs);
        if !system.errors.is_empty() {
            tracing::debug!(errors = ?system.errors, "some of the system's certificates were not read");
        }
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("reading ingestor.tls-ca-file {}", path.display()))?;
            anyhow::ensure!(
                !certs.is_empty(),
                "ingestor.tls-ca-file {} holds no certificate",
                path.display()
            );
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("a certificate of {}", path.display()))?;
            }
        }
        tracing::debug!(system = added, total = roots.len(), "TLS roots");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Network {
            tls: Arc::new(config),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        })
    }

    /// Accepts WebSocket messages and frames of at most `bytes`.
    pub fn max_message_bytes(self, bytes: usize) -> Network {
        Network {
            max_message_bytes: bytes,
            ..self
        }
    }
}

/// `ingestor.max-message-bytes` by default: 4 MiB. A ticker is under 1 KiB
/// and a snapshot of every product under 1 MiB; tungstenite alone would take
/// 64 MiB, which the journal would then hold whole.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

impl Connector for Network {
    type Stream = MaybeTlsStream<tokio::net::TcpStream>;
    async fn connect(
        &self,
        url: &str,
        deadline: Instant,
    ) -> Result<WebSocketStream<Self::Stream>, ConnectError> {
        let bad_url =
            |why: String| ConnectError::new("connect_failed", format!("URL {url}: {why}"));
        let request = url
            .into_client_request()
            .map_err(|e| bad_url(e.to_string()))?;
        let uri = request.uri();
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            other => return Err(bad_url(format!("scheme {other:?} is neither ws nor wss"))),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad_url("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let peer = format!("{host}:{port}");
        let tcp = match tokio::time::timeout_at(
            deadline,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        {
            Err(_) => {
                return Err(ConnectError::new(
                    "connect_failed",
                    format!("connecting to {peer} timed out"),
                ));
            }
            Ok(Err(e)) => {
                return Err(ConnectError::new(
                    "connect_failed",
                    format!("connecting to {peer}: {e}"),
                ));
            }
            Ok(Ok(tcp)) => tcp,
        };
        // Ticks are small and latency matters more than packet count.
        let _ = tcp.set_nodelay(true);
        let stream = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| bad_url(format!("host {host}: {e}")))?;
            let handshake =
                tokio_rustls::TlsConnector::from(Arc::clone(&self.tls)).connect(name, tcp);
            match tokio::time::timeout_at(deadline, handshake).await {
                Err(_) => {
                    return Err(ConnectError::new(
                        "tls_handshake_timeout",
                        format!(
                            "TLS to {peer}: no handshake before the deadline (ingestor.handshake-timeout)"
                        ),
                    ));
                }
                Ok(Err(e)) => return Err(tls_error(&peer, &e)),
                Ok(Ok(s)) => MaybeTlsStream::Rustls(s),
            }
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        let ws_config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes));
        let upgrade = tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config));
        match tokio::time::timeout_at(deadline, upgrade).await {
            Err(_) => Err(ConnectError::new(
                "connect_failed",
                format!("WebSocket upgrade with {peer} timed out"),
            )),
            Ok(Err(e)) => Err(ConnectError::new(
                "connect_failed",
                format!("WebSocket upgrade with {peer}: {e}"),
            )),
            Ok(Ok((ws, _))) => Ok(ws),
        }
    }
}

/// A failed TLS handshake, named by what the certificate check said.
fn tls_error(peer: &str, e: &std::io::Error) -> ConnectError {
    use rustls::{CertificateError, Error as Tls};
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>());
    let (kind, what) = match tls {
        Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)) => (
            "tls_unknown_issuer",
            "the server's certificate is signed by no CA this ingestor trusts \
             (for a private CA, set ingestor.tls-ca-file)"
                .to_owned(),
        ),
        Some(Tls::InvalidCertificate(
            c @ (CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. }),
        )) => (
            "tls_wrong_host",
            format!("the server's certificate is for another host: {c}"),
        ),
        Some(Tls::InvalidCertificate(c)) => (
            "tls_bad_certificate",
            format!("the server's certificate is refused: {c}"),
        ),
        Some(other) => ("tls_handshake", format!("handshake failed: {other}")),
        None => ("tls_handshake", format!("handshake failed: {e}")),
    };
    ConnectError::new(kind, format!("TLS to {peer}: {what}"))
}

/// Runs connections opened by `connector` until `shutdown`; returns an
/// error only for what a reconnect cannot fix (a refused product, a failing
/// sink).
pub async fn run_with(
    cfg: &FeedConfig,
    connector: &impl Connector,
    sink: &mut impl FrameSink,
    shutdown: &CancellationToken,
) -> Result<(), FeedError> {
    let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_cap);
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let limits = (
        limiter(cfg.connects_per_second),
        limiter(cfg.messages_per_second),
    );
    let mut conn = cfg.first_conn;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = until_ready(&limits.0) => {}
        }
        let (kind, reason, healthy) =
            match session(cfg, connector, conn, &limits.1, sink, shutdown).await {
                End::Shutdown => return sink.flush().map_err(FeedError::Sink),
                End::Fatal(e) => {
                    let _ = sink.flush();
                    return Err(e);
                }
                End::Retry {
                    kind,
                    reason,
                    healthy,
                } => (kind, reason, healthy),
            };
        if healthy {
            backoff.reset();
        }
        let delay = backoff.next_delay(&mut rng);
        tracing::warn!(conn, %reason, ?delay, "feed connection ended; reconnecting");
        let event = FeedEvent::Disconnected {
            conn,
            kind,
            reason,
            delay,
        };
        if let Err(e) = sink.event(event).and_then(|()| sink.flush()) {
            return Err(FeedError::Sink(e));
        }
        conn += 1;
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// State of one connection after the handshake.
struct Session {
    conn: u64,
    acked: bool,
    error_detail: String,
    last_frame: Instant,
    last_ticker: BTreeMap<String, Instant>,
    got_data: bool,
    sequences: SequenceTracker,
}

async fn session(
    cfg: &FeedConfig,
    connector: &impl Connector,
    conn: u64,
    messages: &Limiter,
    sink: &mut impl FrameSink,
    shutdown: &CancellationToken,
) -> End {
    let retry = |kind, reason: String| End::Retry {
        kind,
        reason,
        healthy: false,
    };
    // The connector names what timed out; the outer limit holds one that
    // does not look at the deadline.
    let deadline = Instant::now() + cfg.handshake_timeout;
    let connect = tokio::time::timeout_at(deadline, connector.connect(&cfg.url, deadline));
    let mut ws = tokio::select! {
        _ = shutdown.cancelled() => return End::Shutdown,
        r = connect => match r {
            Err(_) => return retry("connect_failed", "connect timed out".into()),
            Ok(Err(e)) => return retry(e.kind, e.reason),
            Ok(Ok(ws)) => ws,
        },
    };
    for m in subscribe_messages(cfg) {
        until_ready(messages).await;
        if let Err(e) = ws.send(Message::text(m)).await {
            return retry("subscribe_failed", format!("subscribe failed: {e}"));
        }
    }
    let handshake_deadline = Instant::now() + cfg.handshake_timeout;
    let mut s = Session {
        conn,
        acked: false,
        error_detail: String::new(),
        last_frame: Instant::now(),
        last_ticker: BTreeMap::new(),
        got_data: false,
        sequences: SequenceTracker::default(),
    };
    let mut ticks = Vec::new();
    let mut since_flush = 0;
    loop {
        if shutdown.is_cancelled() {
            let _ = ws.close(None).await;
            return End::Shutdown;
        }
        let deadline = if s.acked {
            s.last_frame + cfg.silence_timeout
        } else {
            handshake_deadline
        };
        // Take what is already received without waiting; before waiting (or
        // after a full batch) let the sink write its batch out.
        let ready = ws.next().now_or_never();
        if ready.is_none() || since_flush >= FLUSH_EVERY {
            if let Err(e) = sink.flush() {
                return End::Fatal(FeedError::Sink(e));
            }
            since_flush = 0;
        }
        let next = match ready {
            Some(r) => Ok(r),
            None => tokio::select! {
                _ = shutdown.cancelled() => {
                    // A normal close (1000), as Coinbase expects.
                    let _ = ws.close(None).await;
                    return End::Shutdown;
                }
                r = tokio::time::timeout_at(deadline, ws.next()) => r,
            },
        };
        let healthy = s.acked && s.got_data;
        let frame = match next {
            Err(_) if !s.acked => {
                return retry(
                    "handshake_timeout",
                    format!(
                        "no subscription acknowledgement within {:?}",
                        cfg.handshake_timeout
                    ),
                );
            }
            Err(_) => {
                return End::Retry {
                    kind: "silence",
                    reason: format!("silence: no frame for {:?}", cfg.silence_timeout),
                    healthy,
                };
            }
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                return End::Retry {
                    kind: "closed",
                    reason: "closed by server".into(),
                    healthy,
                };
            }
            Ok(Some(Err(e))) => {
                // A message over ingestor.max-message-bytes: named, so an
                // operator sees why the feed keeps dropping.
                let kind = if matches!(e, tungstenite::Error::Capacity(_)) {
                    "too_large"
                } else {
                    "read_error"
                };
                return End::Retry {
                    kind,
                    reason: format!("read failed: {e}"),
                    healthy,
                };
            }
            Ok(Some(Ok(f))) => f,
        };
        let text: std::borrow::Cow<'_, str> = match &frame {
            Message::Text(t) => t.as_str().into(),
            // Coinbase sends text; anything else is kept (and will not decode).
            Message::Binary(b) => String::from_utf8_lossy(b),
            _ => continue,
        };
        since_flush += 1;
        let now = Instant::now();
        s.last_frame = now;
        ticks.clear();
        let receive_time_ns = now_ns();
        let decoded = decode_frame(text.as_bytes(), receive_time_ns, &mut ticks);
        let f = Frame {
            conn,
            receive_time_ns,
            text: &text,
            decoded: &decoded,
            ticks: &ticks,
        };
        if let Err(e) = sink.frame(&f) {
            return End::Fatal(FeedError::Sink(e));
        }
        match s.observe(cfg, &f, now, sink) {
            Ok(None) => {}
            Ok(Some(end)) => return end,
            Err(e) => return End::Fatal(FeedError::Sink(e)),
        }
    }
}

impl Session {
    /// Updates the connection state with one frame: acknowledgement,
    /// sequences, watchdogs. `Some` ends the session.
    fn observe(
        &mut self,
        cfg: &FeedConfig,
        f: &Frame<'_>,
        now: Instant,
        sink: &mut impl FrameSink,
    ) -> anyhow::Result<Option<End>> {
        let conn = self.conn;
        let mut breaks = Vec::new();
        match f.decoded {
            Ok(LineKind::Ticker(_)) => {
                self.got_data = true;
                for t in f.ticks {
                    if let Some(last) = self.last_ticker.get_mut(t.product_id.as_str()) {
                        *last = now;
                    }
                    if cfg.feed == Feed::Exchange {
                        if let Some(n) = t.sequence {
                            breaks.extend(self.sequences.exchange(&t.product_id, n));
                        }
                        if let Some(id) = t.trade_id {
                            self.sequences.exchange_trade(&t.product_id, id);
                        }
                    }
                }
                if let (Feed::AdvancedTrade, Some(n)) =
                    (cfg.feed, f.ticks.first().and_then(|t| t.sequence))
                {
                    breaks.extend(self.sequences.advanced_trade("ticker", n));
                }
            }
            Ok(LineKind::Control(c)) => {
                let v: Value = serde_json::from_str(f.text).unwrap_or(Value::Null);
                if cfg.feed == Feed::AdvancedTrade
                    && let (Some(ch), Some(n)) = (v["channel"].as_str(), as_u64(&v["sequence_num"]))
                {
                    breaks.extend(self.sequences.advanced_trade(ch, n));
                }
                match c {
                    Control::Heartbeat => {
                        if let Some(n) = as_u64(&v["events"][0]["heartbeat_counter"]) {
                            breaks.extend(self.sequences.heartbeat_counter(n));
                        }
                        if let (Some(p), Some(id)) =
                            (v["product_id"].as_str(), as_u64(&v["last_trade_id"]))
                        {
                            breaks.extend(self.sequences.exchange_heartbeat(p, id));
                        }
                    }
                    Control::ErrorMessage => {
                        let message = format!(
                            "{} {}",
                            v["message"].as_str().unwrap_or(""),
                            v["reason"].as_str().unwrap_or("")
                        );
                        tracing::warn!(conn, %message, "error frame from the exchange");
                        self.error_detail = format!(": {message}");
                        let auth = message.to_ascii_lowercase().contains("authentication");
                        sink.event(FeedEvent::ExchangeError {
                            conn,
                            message: message.clone(),
                        })?;
                        if auth && !self.acked {
                            return Ok(Some(End::Fatal(FeedError::Authentication(message))));
                        }
                    }
                    Control::Subscriptions if !self.acked => {
                        if let Some(end) = self.acknowledge(cfg, &v, now, sink)? {
                            return Ok(Some(end));
                        }
                    }
                    _ => {}
                }
            }
            Err(_) => {}
        }
        for brk in breaks {
            tracing::debug!(conn, ?brk, "sequence break");
            sink.event(FeedEvent::SequenceBreak { conn, brk })?;
        }
        if let Some((p, _)) = self
            .last_ticker
            .iter()
            .find(|(_, t)| now.duration_since(**t) > cfg.stale_timeout)
        {
            return Ok(Some(End::Retry {
                kind: "stale",
                reason: format!(
                    "stale: no {p} ticker for {:?} while other frames arrive",
                    cfg.stale_timeout
                ),
                healthy: self.acked && self.got_data,
            }));
        }
        Ok(None)
    }

    fn acknowledge(
        &mut self,
        cfg: &FeedConfig,
        v: &Value,
        now: Instant,
        sink: &mut impl FrameSink,
    ) -> anyhow::Result<Option<End>> {
        let Some(products) = acknowledged(cfg.feed, v) else {
            return Ok(None);
        };
        let requested: BTreeSet<String> = cfg.products.iter().cloned().collect();
        let rejected: Vec<String> = requested.difference(&products).cloned().collect();
        if !rejected.is_empty() {
            return Ok(Some(End::Fatal(FeedError::Rejected {
                rejected,
                acknowledged: products.into_iter().collect(),
                detail: std::mem::take(&mut self.error_detail),
            })));
        }
        sink.event(FeedEvent::Subscribed {
            conn: self.conn,
            products: products.iter().cloned().collect(),
        })?;
        self.last_ticker = requested.into_iter().map(|p| (p, now)).collect();
        self.acked = true;
        Ok(None)
    }
}

/// An integer written as a number or a string (`heartbeat_counter` is both).
fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}
