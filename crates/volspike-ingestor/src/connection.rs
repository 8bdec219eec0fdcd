//! One feed connection after another: connect, subscribe, check the
//! acknowledgement, read frames under two watchdogs, and on any failure
//! reconnect with [`Backoff`], forever, until shut down.
//!
//! Frames go to a [`FrameSink`] with their receive time and connection id;
//! what happened to the connections goes to it as [`FeedEvent`]s. Kafka and
//! the journal live behind the sink.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use volspike_core::Feed;

use crate::backoff::Backoff;

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
}

/// Something that happened to a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// Connection `conn` is subscribed to these products.
    Subscribed {
        /// Connection id (1, 2, ...).
        conn: u64,
        /// Products acknowledged for the ticker channel.
        products: Vec<String>,
    },
    /// Connection `conn` ended; the loop reconnects after `delay`.
    Disconnected {
        /// Connection id.
        conn: u64,
        /// Why (`closed by server`, `silence: no frame for 5s`, ...).
        reason: String,
        /// Wait before the next attempt.
        delay: Duration,
    },
}

/// Receives frames and events, in order.
pub trait FrameSink {
    /// A text frame received on `conn` at `receive_time_ns` (ns since the epoch).
    fn frame(&mut self, conn: u64, receive_time_ns: i64, text: &str);
    /// A connection event.
    fn event(&mut self, event: FeedEvent);
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
}

/// How one session ended.
enum End {
    /// Reconnect; `healthy` when it had been acknowledged and sent data.
    Retry { reason: String, healthy: bool },
    /// Give up with this error.
    Fatal(FeedError),
    /// Shutdown requested.
    Shutdown,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The subscribe messages for `cfg`.
fn subscribe_messages(cfg: &FeedConfig) -> Vec<String> {
    let p = &cfg.products;
    match cfg.feed {
        Feed::AdvancedTrade => vec![
            json!({"type": "subscribe", "channel": "ticker", "product_ids": p}).to_string(),
            json!({"type": "subscribe", "channel": "heartbeats", "product_ids": p}).to_string(),
        ],
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

/// Products a ticker frame carries (empty for other frames).
fn ticker_products(feed: Feed, v: &Value) -> Vec<String> {
    match feed {
        Feed::AdvancedTrade if v["channel"] == "ticker" => v["events"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| e["tickers"].as_array().into_iter().flatten())
            .filter_map(|t| t["product_id"].as_str().map(str::to_owned))
            .collect(),
        Feed::Exchange if v["type"] == "ticker" => v["product_id"]
            .as_str()
            .map(|p| vec![p.to_owned()])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Runs connections until `shutdown`; returns an error only for what a
/// reconnect cannot fix (a refused product).
pub async fn run(
    cfg: &FeedConfig,
    sink: &mut impl FrameSink,
    shutdown: &CancellationToken,
) -> Result<(), FeedError> {
    let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_cap);
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut conn = 0;
    loop {
        conn += 1;
        let (reason, healthy) = match session(cfg, conn, sink, shutdown).await {
            End::Shutdown => return Ok(()),
            End::Fatal(e) => return Err(e),
            End::Retry { reason, healthy } => (reason, healthy),
        };
        if healthy {
            backoff.reset();
        }
        let delay = backoff.next_delay(&mut rng);
        tracing::warn!(conn, %reason, ?delay, "feed connection ended; reconnecting");
        sink.event(FeedEvent::Disconnected {
            conn,
            reason,
            delay,
        });
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn session(
    cfg: &FeedConfig,
    conn: u64,
    sink: &mut impl FrameSink,
    shutdown: &CancellationToken,
) -> End {
    let retry = |reason: String| End::Retry {
        reason,
        healthy: false,
    };
    let connect = tokio::time::timeout(
        cfg.handshake_timeout,
        tokio_tungstenite::connect_async(&cfg.url),
    );
    let mut ws = tokio::select! {
        _ = shutdown.cancelled() => return End::Shutdown,
        r = connect => match r {
            Err(_) => return retry("connect timed out".into()),
            Ok(Err(e)) => return retry(format!("connect failed: {e}")),
            Ok(Ok((ws, _))) => ws,
        },
    };
    for m in subscribe_messages(cfg) {
        if let Err(e) = ws.send(Message::text(m)).await {
            return retry(format!("subscribe failed: {e}"));
        }
    }
    let requested: BTreeSet<String> = cfg.products.iter().cloned().collect();
    let mut acked: Option<BTreeSet<String>> = None;
    let mut error_detail = String::new();
    let handshake_deadline = Instant::now() + cfg.handshake_timeout;
    let mut last_frame = Instant::now();
    let mut last_ticker: BTreeMap<String, Instant> = BTreeMap::new();
    let mut got_data = false;
    loop {
        let deadline = if acked.is_none() {
            handshake_deadline
        } else {
            last_frame + cfg.silence_timeout
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = ws.close(None).await;
                return End::Shutdown;
            }
            r = tokio::time::timeout_at(deadline.into(), ws.next()) => r,
        };
        let healthy = acked.is_some() && got_data;
        let frame = match next {
            Err(_) if acked.is_none() => {
                return retry(format!(
                    "no subscription acknowledgement within {:?}",
                    cfg.handshake_timeout
                ));
            }
            Err(_) => {
                return End::Retry {
                    reason: format!("silence: no frame for {:?}", cfg.silence_timeout),
                    healthy,
                };
            }
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                return End::Retry {
                    reason: "closed by server".into(),
                    healthy,
                };
            }
            Ok(Some(Err(e))) => {
                return End::Retry {
                    reason: format!("read failed: {e}"),
                    healthy,
                };
            }
            Ok(Some(Ok(f))) => f,
        };
        let now = Instant::now();
        last_frame = now;
        let text = match &frame {
            Message::Text(t) => t.as_str(),
            _ => continue,
        };
        sink.frame(conn, now_ns(), text);
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        if v["type"] == "error" {
            error_detail = format!(
                ": {} {}",
                v["message"].as_str().unwrap_or(""),
                v["reason"].as_str().unwrap_or("")
            );
            continue;
        }
        if acked.is_none() {
            if let Some(products) = acknowledged(cfg.feed, &v) {
                let rejected: Vec<String> = requested.difference(&products).cloned().collect();
                if !rejected.is_empty() {
                    return End::Fatal(FeedError::Rejected {
                        rejected,
                        acknowledged: products.into_iter().collect(),
                        detail: error_detail,
                    });
                }
                sink.event(FeedEvent::Subscribed {
                    conn,
                    products: products.iter().cloned().collect(),
                });
                last_ticker = products.into_iter().map(|p| (p, now)).collect();
                acked = Some(requested.clone());
            }
            continue;
        }
        for p in ticker_products(cfg.feed, &v) {
            got_data = true;
            last_ticker.insert(p, now);
        }
        if let Some((p, _)) = last_ticker
            .iter()
            .find(|(_, t)| now.duration_since(**t) > cfg.stale_timeout)
        {
            return End::Retry {
                reason: format!(
                    "stale: no {p} ticker for {:?} while other frames arrive",
                    cfg.stale_timeout
                ),
                healthy: acked.is_some() && got_data,
            };
        }
    }
}
