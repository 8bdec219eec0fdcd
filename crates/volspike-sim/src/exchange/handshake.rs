//! The start of a connection: read the subscribes, check their tokens,
//! refuse unknown or rejected products, and acknowledge.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use volspike_core::Feed;
use volspike_core::time::now_ns;

use super::Io;
use super::serve::Numbering;
use super::{ConnectionError, Shared};
use crate::frames;

/// Subscriptions requested so far on a connection.
#[derive(Debug, Default)]
struct Requested {
    ticker: BTreeSet<String>,
    heartbeats: bool,
    /// Subscribe messages read.
    messages: usize,
    /// Their `jwt` fields.
    jwts: Vec<String>,
}

/// A connection that subscribed and was acknowledged.
#[derive(Debug)]
pub(super) struct Subscribed {
    /// Products acknowledged for the ticker channel.
    pub(super) products: Vec<String>,
    /// Whether heartbeats were asked for.
    pub(super) heartbeats: bool,
}

/// How the handshake ended.
#[derive(Debug)]
pub(super) enum Handshake {
    /// Subscribed; serve it.
    Subscribed(Subscribed),
    /// The connection is over, for this reason.
    Ended(String),
}

fn protocol(msg: String) -> ConnectionError {
    ConnectionError::Protocol(msg)
}

/// Reads one client message into `req`.
fn parse_subscribe(feed: Feed, text: &str, req: &mut Requested) -> Result<(), ConnectionError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| protocol(format!("subscribe is not JSON: {e}")))?;
    if v["type"] != "subscribe" {
        return Err(protocol(format!(
            "expected a subscribe message, got {text}"
        )));
    }
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
            other => return Err(protocol(format!("unsupported channel {other:?}"))),
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
                    _ => return Err(protocol(format!("unsupported channel {ch}"))),
                }
            }
        }
    }
    Ok(())
}

/// Reads the subscribes: Advanced Trade sends one message per channel,
/// Exchange one with every channel; after the first, wait briefly for more.
async fn read_subscribes(
    feed: Feed,
    ws: &mut WebSocketStream<impl Io>,
    stop: &CancellationToken,
) -> Result<Result<Requested, String>, ConnectionError> {
    let mut req = Requested::default();
    let first = tokio::select! {
        _ = stop.cancelled() => return Ok(Err("simulator stopped".into())),
        m = ws.next() => m,
    };
    match first {
        Some(Ok(Message::Text(t))) => parse_subscribe(feed, &t, &mut req)?,
        Some(Ok(Message::Close(_))) | None => {
            return Ok(Err("client closed before subscribing".into()));
        }
        Some(Ok(other)) => return Err(protocol(format!("unexpected first frame {other:?}"))),
        Some(Err(e)) => return Err(e.into()),
    }
    // (Both channels asked for: no need to wait for more.)
    if feed == Feed::AdvancedTrade {
        while (!req.heartbeats || req.ticker.is_empty())
            && let Ok(Some(Ok(Message::Text(t)))) =
                tokio::time::timeout(Duration::from_millis(200), ws.next()).await
        {
            parse_subscribe(feed, &t, &mut req)?;
        }
    }
    Ok(Ok(req))
}

/// Why the subscribes' tokens are refused, if they are.
fn token_problem(shared: &Shared, req: &Requested) -> Option<String> {
    let check = shared.settings.require_jwt.as_ref()?;
    if req.jwts.len() < req.messages {
        return Some("a subscribe carries no jwt".to_owned());
    }
    let now_s = now_ns().div_euclid(1_000_000_000);
    req.jwts.iter().find_map(|t| check(t, now_s).err())
}

/// Runs the handshake of connection `id`; numbers the acknowledgement.
pub(super) async fn handshake(
    ws: &mut WebSocketStream<impl Io>,
    id: u64,
    shared: &Shared,
    stop: &CancellationToken,
    numbering: &mut Numbering,
) -> Result<Handshake, ConnectionError> {
    let settings = &shared.settings;
    let feed = settings.feed;
    let req = match read_subscribes(feed, ws, stop).await? {
        Ok(req) => req,
        Err(end) => return Ok(Handshake::Ended(end)),
    };
    let (subscribed, rejected): (Vec<String>, Vec<String>) =
        req.ticker.iter().cloned().partition(|p| {
            !settings.faults.reject_products.contains(p) && shared.products.contains(p)
        });
    shared.update(id, |r| {
        r.subscribed = subscribed.clone();
        r.rejected = rejected.clone();
        r.jwts = req.jwts.clone();
    });
    if let Some(reason) = token_problem(shared, &req) {
        ws.send(Message::text(frames::error(
            "authentication failure",
            &reason,
        )))
        .await?;
        let _ = ws.send(Message::Close(None)).await;
        return Ok(Handshake::Ended(format!(
            "fault: authentication failure ({reason})"
        )));
    }
    tokio::time::sleep(settings.faults.ack_delay).await;
    for p in &rejected {
        let reason = format!("{p} is not a valid product");
        ws.send(Message::text(frames::error("Failed to subscribe", &reason)))
            .await?;
    }
    let ack = match feed {
        Feed::AdvancedTrade => {
            let n = numbering.next_on_channel("subscriptions");
            frames::advanced_trade_subscriptions(now_ns(), n, &subscribed, req.heartbeats)
        }
        Feed::Exchange => frames::exchange_subscriptions(&subscribed, req.heartbeats),
    };
    ws.send(Message::text(ack)).await?;
    Ok(Handshake::Subscribed(Subscribed {
        products: subscribed,
        heartbeats: req.heartbeats,
    }))
}
