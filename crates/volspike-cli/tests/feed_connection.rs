//! The ingestor's connection loop against the exchange simulator: forced
//! disconnects, silence, heartbeat-only streams, refused products and slow
//! acknowledgements.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use volspike_cli::exchange_sim::{ExchangeSim, Faults, SimSettings, Speed, load_ticks};
use volspike_core::{Feed, Tick};
use volspike_ingestor::connection::{FeedConfig, FeedError, FeedEvent, Frame, FrameSink, run};

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
    }
}

async fn start_sim(seconds: u64, faults: Faults) -> (ExchangeSim, Vec<Tick>) {
    let tmp = tempfile::tempdir().unwrap();
    let ticks = load_ticks(&[common::simulated(tmp.path(), seconds, 9)]).unwrap();
    let settings = SimSettings {
        feed: Feed::AdvancedTrade,
        speed: Speed::Max,
        heartbeat_interval: Duration::from_millis(100),
        faults,
    };
    let sim = ExchangeSim::start("127.0.0.1:0".parse().unwrap(), ticks.clone(), settings)
        .await
        .unwrap();
    (sim, ticks)
}

/// Runs the loop until `want` ticks arrived (or 60 s), then shuts it down.
async fn ingest(cfg: FeedConfig, want: usize) -> (Collected, Result<(), FeedError>) {
    let collector = Collector::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (mut sink, shutdown) = (collector.clone(), shutdown.clone());
        tokio::spawn(async move { run(&cfg, &mut sink, &shutdown).await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while collector.0.lock().unwrap().ticks.len() < want
        && Instant::now() < deadline
        && !task.is_finished()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tick_arrives_once_across_100_forced_disconnects() {
    let faults = Faults {
        disconnect_every: Some(10),
        max_disconnects: 100,
        ..Faults::default()
    };
    let (sim, want) = start_sim(300, faults).await;
    let (got, result) = ingest(feed_config(sim.url()), want.len()).await;
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
    let (got, result) = ingest(feed_config(sim.url()), want.len()).await;
    result.unwrap();
    let reasons = reasons(&got);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with(reason), "{reasons:?}");
    assert!(got.ticks == want, "the next connection carries on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_is_dropped_by_the_silence_watchdog() {
    let faults = Faults {
        silent_after: Some(10),
        ..Faults::default()
    };
    one_watchdog_trip(faults, "silence").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_without_tickers_trip_the_stale_watchdog() {
    let faults = Faults {
        heartbeats_only_after: Some(10),
        ..Faults::default()
    };
    one_watchdog_trip(faults, "stale").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_product_stops_with_a_clear_error() {
    let (sim, _) = start_sim(
        30,
        Faults {
            reject_products: vec!["ETH-USD".into()],
            ..Faults::default()
        },
    )
    .await;
    let (_, result) = ingest(feed_config(sim.url()), usize::MAX).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let (got, result) = ingest(feed_config(sim.url()), want.len()).await;
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
        tokio::spawn(async move { run(&cfg, &mut sink, &shutdown).await })
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
