//! The ingestor's connection loop against the exchange simulator: forced
//! disconnects, silence, heartbeat-only streams, refused products and slow
//! acknowledgements.
//!
//! On tokio's paused clock: the loop reaches the simulator over in-memory
//! pipes, so watchdogs, timeouts and backoff run in virtual time and no
//! test waits for them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use volspike_core::{Feed, Tick};
use volspike_ingestor::auth::CdpKey;
use volspike_ingestor::connection::{
    ConnectError, Connector, FeedConfig, FeedError, FeedEvent, Frame, FrameSink, run_with,
};
use volspike_sim::{ExchangeSim, Faults, InMemory, SimSettings, Speed};

/// Connections to the simulator over in-memory pipes.
struct SimConnector(InMemory);

impl Connector for SimConnector {
    type Stream = DuplexStream;
    async fn connect(
        &self,
        url: &str,
        _deadline: Instant,
    ) -> Result<WebSocketStream<DuplexStream>, ConnectError> {
        let stream = self.0.connect();
        Ok(tokio_tungstenite::client_async(url, stream)
            .await
            .map(|(ws, _)| ws)?)
    }
}

#[derive(Default)]
struct Collected {
    ticks: Vec<Tick>,
    events: Vec<(Instant, FeedEvent)>,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Collected>>);

impl FrameSink for Collector {
    fn frame(&mut self, f: &Frame<'_>) -> anyhow::Result<()> {
        let mut c = self.0.lock().unwrap();
        // The simulator's recording has no receive times; compare without them.
        c.ticks.extend(f.ticks.iter().map(|t| Tick {
            receive_time_ns: None,
            ..t.clone()
        }));
        Ok(())
    }
    fn event(&mut self, event: FeedEvent) -> anyhow::Result<()> {
        self.0.lock().unwrap().events.push((Instant::now(), event));
        Ok(())
    }
}

fn feed_config(url: String) -> FeedConfig {
    FeedConfig {
        url,
        feed: Feed::AdvancedTrade,
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        silence_timeout: Duration::from_millis(500),
        stale_timeout: Duration::from_millis(500),
        handshake_timeout: Duration::from_secs(2),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(100),
        first_conn: 1,
        connects_per_second: 1000,
        messages_per_second: 1000,
        auth: None,
    }
}

async fn start_sim(seconds: u64, faults: Faults) -> (ExchangeSim, Vec<Tick>) {
    let ticks = common::simulated(seconds, 9);
    let settings = SimSettings {
        feed: Feed::AdvancedTrade,
        speed: Speed::Max,
        heartbeat_interval: Duration::from_millis(100),
        faults,
        ..SimSettings::default()
    };
    let sim = ExchangeSim::start("127.0.0.1:0".parse().unwrap(), ticks.clone(), settings)
        .await
        .unwrap();
    (sim, ticks)
}

/// Runs the loop until `want` ticks arrived (or 60 s), then shuts it down.
async fn ingest(
    sim: &ExchangeSim,
    cfg: FeedConfig,
    want: usize,
) -> (Collected, Result<(), FeedError>) {
    ingest_while(sim, cfg, |c| c.ticks.len() < want, Duration::ZERO).await
}

/// Runs the loop until the simulator has served every message (and half a
/// second more for the last to arrive), then shuts it down.
async fn ingest_until_served(
    cfg: FeedConfig,
    sim: &ExchangeSim,
) -> (Collected, Result<(), FeedError>) {
    ingest_while(sim, cfg, |_| !sim.exhausted(), Duration::from_millis(500)).await
}

/// Runs the loop while `more` holds (at most 60 s), `grace` longer, then
/// shuts it down.
async fn ingest_while(
    sim: &ExchangeSim,
    cfg: FeedConfig,
    more: impl Fn(&Collected) -> bool,
    grace: Duration,
) -> (Collected, Result<(), FeedError>) {
    let collector = Collector::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (mut sink, shutdown) = (collector.clone(), shutdown.clone());
        let connector = SimConnector(sim.in_memory());
        tokio::spawn(async move { run_with(&cfg, &connector, &mut sink, &shutdown).await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while more(&collector.0.lock().unwrap()) && Instant::now() < deadline && !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(grace).await;
    shutdown.cancel();
    let result = task.await.unwrap();
    let collected = std::mem::take(&mut *collector.0.lock().unwrap());
    (collected, result)
}

fn reasons(c: &Collected) -> Vec<String> {
    c.events
        .iter()
        .filter_map(|(_, e)| match e {
            FeedEvent::Disconnected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_tick_arrives_once_across_100_forced_disconnects() {
    let faults = Faults {
        disconnect_every: Some(10),
        max_disconnects: 100,
        ..Faults::default()
    };
    let (sim, want) = start_sim(300, faults).await;
    let (got, result) = ingest(&sim, feed_config(sim.url()), want.len()).await;
    result.unwrap();
    assert_eq!(got.ticks.len(), want.len());
    assert!(got.ticks == want, "each tick once, in order, as recorded");
    let reasons = reasons(&got);
    assert_eq!(reasons.len(), 100, "{reasons:?}");
    let subscribed = got
        .events
        .iter()
        .filter(|(_, e)| matches!(e, FeedEvent::Subscribed { .. }))
        .count();
    assert_eq!(subscribed, 101, "resubscribed after every reconnect");
    let reports = sim.stop().await;
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.end == "fault: disconnect")
            .count(),
        100
    );
}

/// One connection is dropped by a watchdog (reason starting with
/// `reason`); the next one carries on and every tick arrives.
async fn one_watchdog_trip(faults: Faults, reason: &str) {
    let (sim, want) = start_sim(60, faults).await;
    let (got, result) = ingest(&sim, feed_config(sim.url()), want.len()).await;
    result.unwrap();
    let reasons = reasons(&got);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with(reason), "{reasons:?}");
    assert!(got.ticks == want, "the next connection carries on");
}

#[tokio::test(start_paused = true)]
async fn a_silent_socket_is_dropped_by_the_silence_watchdog() {
    let faults = Faults {
        silent_after: Some(10),
        ..Faults::default()
    };
    one_watchdog_trip(faults, "silence").await;
}

#[tokio::test(start_paused = true)]
async fn heartbeats_without_tickers_trip_the_stale_watchdog() {
    let faults = Faults {
        heartbeats_only_after: Some(10),
        ..Faults::default()
    };
    one_watchdog_trip(faults, "stale").await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_product_stops_with_a_clear_error() {
    let (sim, _) = start_sim(
        30,
        Faults {
            reject_products: vec!["ETH-USD".into()],
            ..Faults::default()
        },
    )
    .await;
    let (_, result) = ingest(&sim, feed_config(sim.url()), usize::MAX).await;
    let err = result.unwrap_err();
    let FeedError::Rejected {
        rejected, detail, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(rejected, &vec!["ETH-USD".to_string()]);
    assert!(detail.contains("not a valid product"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_acknowledgement_is_waited_for_or_retried() {
    // Slower than usual but within the handshake timeout: no reconnect.
    let (sim, want) = start_sim(
        30,
        Faults {
            ack_delay: Duration::from_millis(700),
            ..Faults::default()
        },
    )
    .await;
    let (got, result) = ingest(&sim, feed_config(sim.url()), want.len()).await;
    result.unwrap();
    assert!(reasons(&got).is_empty());
    assert!(got.ticks == want);

    // Past the handshake timeout: reconnect, and keep trying.
    let (sim, _) = start_sim(
        30,
        Faults {
            ack_delay: Duration::from_millis(700),
            ..Faults::default()
        },
    )
    .await;
    let cfg = FeedConfig {
        handshake_timeout: Duration::from_millis(300),
        ..feed_config(sim.url())
    };
    let collector = Collector::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (mut sink, shutdown) = (collector.clone(), shutdown.clone());
        let connector = SimConnector(sim.in_memory());
        tokio::spawn(async move { run_with(&cfg, &connector, &mut sink, &shutdown).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let got = std::mem::take(&mut *collector.0.lock().unwrap());
    let reasons = reasons(&got);
    assert!(reasons.len() >= 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("no subscription acknowledgement")),
        "{reasons:?}"
    );
}

/// A CDP API key made for the test (fixed private scalar).
fn api_key(byte: u8) -> CdpKey {
    let secret = p256::SecretKey::from_slice(&[byte; 32]).unwrap();
    let pem = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap();
    CdpKey::from_pem("organizations/test/apiKeys/k1", &pem).unwrap()
}

async fn start_authenticating_sim(key: &CdpKey) -> (ExchangeSim, Vec<Tick>) {
    let ticks = common::simulated(60, 9);
    let settings = SimSettings {
        speed: Speed::Max,
        heartbeat_interval: Duration::from_millis(100),
        require_jwt: Some({
            let verifier = key.verifier();
            std::sync::Arc::new(move |token: &str, now_s: i64| {
                verifier
                    .verify(token, now_s)
                    .map(|_| ())
                    .map_err(|e| format!("{e:#}"))
            })
        }),
        ..SimSettings::default()
    };
    let sim = ExchangeSim::start("127.0.0.1:0".parse().unwrap(), ticks.clone(), settings)
        .await
        .unwrap();
    (sim, ticks)
}

#[tokio::test(start_paused = true)]
async fn with_an_api_key_every_subscribe_carries_a_fresh_valid_token() {
    let key = api_key(7);
    let (sim, want) = start_authenticating_sim(&key).await;
    let cfg = FeedConfig {
        auth: Some(key.clone()),
        ..feed_config(sim.url())
    };
    let (got, result) = ingest(&sim, cfg, want.len()).await;
    result.unwrap();
    assert_eq!(got.ticks, want);
    let reports = sim.stop().await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    // One token per subscribe (ticker, heartbeats), each with its own nonce.
    let jwts = &reports[0].jwts;
    assert_eq!(jwts.len(), 2, "{reports:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let nonces: Vec<String> = jwts
        .iter()
        .map(|t| {
            let (header, _) = key.verifier().verify(t, now).unwrap();
            header["nonce"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_ne!(nonces[0], nonces[1]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_stops_the_loop_with_a_clear_error() {
    let (sim, _) = start_authenticating_sim(&api_key(7)).await;
    // Signed by another key under the same name.
    let cfg = FeedConfig {
        auth: Some(api_key(9)),
        ..feed_config(sim.url())
    };
    let (got, result) = ingest(&sim, cfg, usize::MAX).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, FeedError::Authentication(_)),
        "expected an authentication error, got {err}"
    );
    assert!(err.to_string().contains("api-key"), "{err}");
    assert!(got.ticks.is_empty());
    let reports = sim.stop().await;
    assert_eq!(reports.len(), 1, "no retry with a refused key: {reports:?}");
    assert!(
        reports[0].end.contains("authentication failure"),
        "{reports:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn exchange_trades_the_feed_never_delivered_are_recorded_as_gaps() {
    let mut ticks = common::simulated(60, 9);
    // An Exchange market: every tick is a trade with its product's next id.
    let mut next_id = std::collections::HashMap::new();
    for t in ticks.iter_mut() {
        let id = next_id.entry(t.product_id.clone()).or_insert(1_000u64);
        *id += 1;
        t.trade_id = Some(*id);
        t.feed = Feed::Exchange;
    }
    let settings = SimSettings {
        feed: Feed::Exchange,
        // 60 s of market in 6 s, so heartbeats come while tickers are lost.
        speed: Speed::Factor(10.0),
        heartbeat_interval: Duration::from_millis(100),
        faults: Faults {
            lose_tickers_after: Some(100),
            ..Faults::default()
        },
        ..SimSettings::default()
    };
    let sim = ExchangeSim::start("127.0.0.1:0".parse().unwrap(), ticks.clone(), settings)
        .await
        .unwrap();
    let cfg = FeedConfig {
        feed: Feed::Exchange,
        ..feed_config(sim.url())
    };
    let messages = sim.messages().to_vec();
    let (got, result) = ingest_until_served(cfg, &sim).await;
    result.unwrap();
    let reports = sim.stop().await;
    let lost: Vec<usize> = reports.iter().flat_map(|r| r.lost.clone()).collect();
    assert!(!lost.is_empty(), "{reports:?}");
    let sent: Vec<Tick> = reports
        .iter()
        .flat_map(|r| r.messages.iter().flat_map(|&i| messages[i].clone()))
        .map(|t| Tick {
            receive_time_ns: None,
            ..t
        })
        .collect();
    assert_eq!(got.ticks, sent, "every delivered ticker, once");
    let gaps: Vec<_> = got
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            FeedEvent::SequenceBreak { brk, .. } if brk.stream.starts_with("trade_id:") => {
                Some(brk.clone())
            }
            _ => None,
        })
        .collect();
    assert!(!gaps.is_empty(), "no trade gap recorded: {:?}", got.events);
    let missing: u64 = gaps.iter().map(|g| g.missing()).sum();
    assert!(
        missing <= lost.len() as u64,
        "{missing} trades reported missing, {} lost",
        lost.len()
    );
    let sim_breaks: u64 = reports.iter().map(|r| r.sequence_breaks).sum();
    assert!(gaps.len() as u64 <= sim_breaks, "{gaps:?} vs {reports:?}");
    assert!(reasons(&got).iter().any(|r| r.starts_with("stale")));
}
