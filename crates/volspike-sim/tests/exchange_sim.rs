//! The exchange simulator speaks both Coinbase protocols faithfully enough
//! that what a client decodes is what was recorded, sends each message once
//! across reconnects, and injects the faults it is asked for.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use volspike_core::{Feed, LineKind, Tick, decode_line};
use volspike_sim::{ExchangeSim, Faults, SimSettings, Speed};

/// What one client connection saw.
#[derive(Debug, Default)]
struct Seen {
    ticks: Vec<Tick>,
    acks: Vec<serde_json::Value>,
    errors: u64,
    heartbeats: u64,
    malformed: u64,
    /// Arrival time of each ticker frame and of each heartbeat.
    ticker_times: Vec<Instant>,
    heartbeat_times: Vec<Instant>,
    /// True when the server ended the connection.
    dropped: bool,
}

async fn subscribe(
    url: &str,
    feed: Feed,
    products: &[&str],
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let msgs = match feed {
        Feed::AdvancedTrade => vec![
            json!({"type": "subscribe", "channel": "ticker", "product_ids": products}),
            json!({"type": "subscribe", "channel": "heartbeats", "product_ids": products}),
        ],
        Feed::Exchange => vec![json!({
            "type": "subscribe", "product_ids": products,
            "channels": ["heartbeat", {"name": "ticker", "product_ids": products}],
        })],
    };
    for m in msgs {
        ws.send(Message::text(m.to_string())).await.unwrap();
    }
    ws
}

/// Reads one connection until the server drops it or nothing but
/// heartbeats arrives for `quiet`.
async fn read(url: &str, feed: Feed, products: &[&str], quiet: Duration) -> Seen {
    let mut ws = subscribe(url, feed, products).await;
    let mut seen = Seen::default();
    let mut last_data = Instant::now();
    loop {
        let left = quiet.saturating_sub(last_data.elapsed());
        let frame = match tokio::time::timeout(left, ws.next()).await {
            Err(_) => break,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                seen.dropped = true;
                break;
            }
            Ok(Some(Ok(f))) => f,
        };
        let Message::Text(text) = frame else { continue };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if v["channel"] != "heartbeats" && v["type"] != "heartbeat" {
            last_data = Instant::now();
        }
        if v["type"] == "error" {
            seen.errors += 1;
            continue;
        }
        if v["channel"] == "subscriptions" || v["type"] == "subscriptions" {
            seen.acks.push(v);
            continue;
        }
        match decode_line(text.as_bytes(), &mut seen.ticks) {
            Ok(LineKind::Ticker(_)) => seen.ticker_times.push(Instant::now()),
            Ok(LineKind::Control(_)) => {
                seen.heartbeats += 1;
                seen.heartbeat_times.push(Instant::now());
            }
            Err(_) => seen.malformed += 1,
        }
    }
    seen
}

/// `seconds` of simulated BTC-USD and ETH-USD.
fn recording(seconds: u64) -> Vec<Tick> {
    volspike_sim::simulate_ticks(&volspike_sim::MarketConfig {
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        start_ns: 1_767_225_600_000_000_000,
        seconds,
        seed: 5,
        regime: None,
    })
}

fn settings(feed: Feed, faults: Faults) -> SimSettings {
    SimSettings {
        feed,
        speed: Speed::Max,
        heartbeat_interval: Duration::from_millis(100),
        faults,
        ..SimSettings::default()
    }
}

async fn start(ticks: Vec<Tick>, s: SimSettings) -> ExchangeSim {
    ExchangeSim::start("127.0.0.1:0".parse().unwrap(), ticks, s)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_sent_once_across_forced_disconnects_and_decodes_as_recorded() {
    let want = recording(180);
    let faults = Faults {
        disconnect_every: Some(40),
        max_disconnects: 20,
        ..Faults::default()
    };
    let sim = start(want.clone(), settings(Feed::AdvancedTrade, faults)).await;
    let mut got = Vec::new();
    let mut drops = 0;
    loop {
        let seen = read(
            &sim.url(),
            Feed::AdvancedTrade,
            &["BTC-USD", "ETH-USD"],
            Duration::from_millis(500),
        )
        .await;
        assert_eq!(seen.acks.len(), 1, "one acknowledgement per connection");
        got.extend(seen.ticks);
        if !seen.dropped {
            break;
        }
        drops += 1;
    }
    assert_eq!(drops, 20);
    assert!(sim.exhausted());
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the client decodes exactly the recorded ticks");
    let reports = sim.stop().await;
    assert_eq!(reports.len(), 21);
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.end == "fault: disconnect")
            .count(),
        20
    );
    let sent: usize = reports.iter().map(|r| r.messages.len()).sum();
    assert_eq!(sent, sim_messages(&want));
}

fn sim_messages(ticks: &[Tick]) -> usize {
    volspike_sim::exchange::group_messages(ticks.to_vec()).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_protocol_carries_the_recorded_ticks() {
    let want = recording(60);
    let sim = start(want.clone(), settings(Feed::Exchange, Faults::default())).await;
    let seen = read(
        &sim.url(),
        Feed::Exchange,
        &["BTC-USD", "ETH-USD"],
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(seen.acks.len(), 1);
    assert_eq!(seen.acks[0]["channels"][0]["name"], "ticker");
    assert!(seen.heartbeats > 0, "heartbeat channel served");
    // The same ticks, marked as coming from the Exchange feed.
    let relabel = |t: &Tick| Tick {
        feed: Feed::Exchange,
        ..t.clone()
    };
    assert!(seen.ticks == want.iter().map(relabel).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_product_gets_an_error_and_is_missing_from_the_acknowledgement() {
    let faults = Faults {
        reject_products: vec!["ETH-USD".into()],
        ack_delay: Duration::from_millis(300),
        ..Faults::default()
    };
    let sim = start(recording(30), settings(Feed::AdvancedTrade, faults)).await;
    let started = Instant::now();
    let mut ws = subscribe(&sim.url(), Feed::AdvancedTrade, &["BTC-USD", "ETH-USD"]).await;
    let mut error = None;
    let ack = loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("connection ended")
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "error" {
            error = Some(v);
        } else if v["channel"] == "subscriptions" {
            break v;
        }
    };
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "delayed ack"
    );
    assert_eq!(
        ack["events"][0]["subscriptions"]["ticker"],
        json!(["BTC-USD"])
    );
    let error = error.expect("an error frame for the rejected product");
    assert!(error["reason"].as_str().unwrap().contains("ETH-USD"));
    let reports = sim.stop().await;
    assert_eq!(reports[0].rejected, vec!["ETH-USD".to_string()]);
}

/// A simulator speaking Advanced Trade with `faults`.
async fn start_at(ticks: &[Tick], faults: Faults) -> ExchangeSim {
    start(ticks.to_vec(), settings(Feed::AdvancedTrade, faults)).await
}

/// [`read`] of both products over Advanced Trade.
async fn read_at(sim: &ExchangeSim, quiet_ms: u64) -> Seen {
    read(
        &sim.url(),
        Feed::AdvancedTrade,
        &["BTC-USD", "ETH-USD"],
        Duration::from_millis(quiet_ms),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_heartbeat_only_and_malformed_faults() {
    let ticks = recording(120);
    let products = ["BTC-USD", "ETH-USD"];

    // Silent: after 10 messages nothing at all, socket open.
    let faults = Faults {
        silent_after: Some(10),
        ..Faults::default()
    };
    let sim = start_at(&ticks, faults).await;
    let seen = read_at(&sim, 600).await;
    assert!(!seen.dropped, "the socket stays open");
    assert_eq!(seen.ticker_times.len(), 10);
    let last_ticker = *seen.ticker_times.last().unwrap();
    assert!(seen.heartbeat_times.iter().all(|&t| t <= last_ticker));
    drop(sim);

    // Heartbeats only: tickers stop, heartbeats go on.
    let faults = Faults {
        heartbeats_only_after: Some(10),
        ..Faults::default()
    };
    let sim = start_at(&ticks, faults).await;
    let mut ws = subscribe(&sim.url(), Feed::AdvancedTrade, &products).await;
    let (mut tickers, mut beats_after) = (0, 0);
    let until = Instant::now() + Duration::from_millis(800);
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout_at(until.into(), ws.next()).await
    {
        let mut out = Vec::new();
        match decode_line(t.as_bytes(), &mut out) {
            Ok(LineKind::Ticker(_)) => tickers += 1,
            Ok(LineKind::Control(_)) if tickers == 10 => beats_after += 1,
            _ => {}
        }
    }
    assert_eq!(tickers, 10);
    assert!(beats_after >= 3, "heartbeats continue ({beats_after})");
    drop(sim);

    // Malformed frames: one after every 7 messages, the rest still decodes.
    let faults = Faults {
        malformed_every: Some(7),
        error_every: Some(50),
        ..Faults::default()
    };
    let sim = start_at(&ticks, faults).await;
    let seen = read_at(&sim, 500).await;
    let messages = sim_messages(&ticks) as u64;
    assert_eq!(seen.malformed, messages / 7);
    assert_eq!(seen.errors, messages / 50);
    assert!(seen.ticks == ticks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped() {
    // An hour of market: far more than the sockets' buffers hold.
    let ticks = recording(3600);
    let faults = Faults {
        drop_slow_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    };
    let sim = start_at(&ticks, faults).await;
    let mut ws = subscribe(&sim.url(), Feed::AdvancedTrade, &["BTC-USD", "ETH-USD"]).await;
    // Take the acknowledgement, then stop reading for a while.
    let _ = ws.next().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reports = sim.stop().await;
    assert_eq!(
        reports[0].end, "fault: slow consumer dropped",
        "{reports:?}"
    );
    assert!((reports[0].messages.len()) < sim_messages(&ticks));
}
