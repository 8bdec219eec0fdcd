//! `wss://`: the ingestor against the exchange simulator serving TLS with a
//! certificate from a CA it made (`volspike exchange-sim --tls`). On real
//! time and real sockets: TLS does not run on tokio's paused clock.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use volspike_core::{Feed, Tick};
use volspike_ingestor::RunOptions;
use volspike_ingestor::connection::{FeedConfig, FeedEvent, Frame, FrameSink, Network, run_with};
use volspike_runtime::kafka::Broker;
use volspike_sim::{ExchangeSim, SimSettings, SimTls, Speed};

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<(Vec<Tick>, Vec<FeedEvent>)>>);

impl FrameSink for Collector {
    fn frame(&mut self, f: &Frame<'_>) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap()
            .0
            .extend(f.ticks.iter().map(|t| Tick {
                receive_time_ns: None,
                ..t.clone()
            }));
        Ok(())
    }
    fn event(&mut self, event: FeedEvent) -> anyhow::Result<()> {
        self.0.lock().unwrap().1.push(event);
        Ok(())
    }
}

/// A simulator serving `ticks` over TLS with a certificate for `names`, and
/// the file holding its CA.
async fn tls_sim(ticks: Vec<Tick>, names: &[&str]) -> (ExchangeSim, tempfile::NamedTempFile) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let tls = SimTls::generate(&names).unwrap();
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), &tls.ca_pem).unwrap();
    let settings = SimSettings {
        feed: Feed::AdvancedTrade,
        speed: Speed::Max,
        heartbeat_interval: Duration::from_millis(100),
        tls: Some(tls),
        ..SimSettings::default()
    };
    let sim = ExchangeSim::start("127.0.0.1:0".parse().unwrap(), ticks, settings)
        .await
        .unwrap();
    (sim, ca)
}

fn feed_config(url: String) -> FeedConfig {
    FeedConfig {
        url,
        feed: Feed::AdvancedTrade,
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        silence_timeout: Duration::from_secs(2),
        stale_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_millis(500),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(50),
        first_conn: 1,
        connects_per_second: 1000,
        messages_per_second: 1000,
        auth: None,
    }
}

/// Runs the connection loop with `network` until `done` holds (at most
/// 20 s), then stops it.
async fn run_until(
    url: String,
    network: Network,
    done: impl Fn(&(Vec<Tick>, Vec<FeedEvent>)) -> bool,
) -> (Vec<Tick>, Vec<FeedEvent>) {
    let collector = Collector::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (mut sink, shutdown, cfg) = (collector.clone(), shutdown.clone(), feed_config(url));
        tokio::spawn(async move { run_with(&cfg, &network, &mut sink, &shutdown).await })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&collector.0.lock().unwrap()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    std::mem::take(&mut *collector.0.lock().unwrap())
}

/// The kinds of the disconnects in `events`.
fn disconnects(events: &[FeedEvent]) -> Vec<(&'static str, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            FeedEvent::Disconnected { kind, reason, .. } => Some((*kind, reason.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_server_whose_ca_is_configured_is_ingested_whole() {
    let ticks = common::simulated(60, 5);
    let (sim, ca) = tls_sim(ticks.clone(), &["localhost", "127.0.0.1"]).await;
    assert!(sim.url().starts_with("wss://127.0.0.1:"), "{}", sim.url());
    let network = Network::new(Some(ca.path())).unwrap();
    let want = ticks.len();
    let (got, events) = run_until(sim.url(), network, |(t, _)| t.len() >= want).await;
    assert_eq!(got, ticks, "every tick, in order, over TLS");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, FeedEvent::Subscribed { .. }))
    );
    // By name too: the certificate is for localhost as well.
    let (sim, ca) = tls_sim(common::simulated(5, 6), &["localhost"]).await;
    let url = sim.url().replace("127.0.0.1", "localhost");
    let network = Network::new(Some(ca.path())).unwrap();
    let (got, _) = run_until(url, network, |(t, _)| !t.is_empty()).await;
    assert!(!got.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_refused_and_retried() {
    let (sim, _ca) = tls_sim(common::simulated(5, 5), &["127.0.0.1"]).await;
    // Mozilla's roots and the system's, but not the simulator's CA.
    let network = Network::new(None).unwrap();
    let (got, events) = run_until(sim.url(), network, |(_, e)| disconnects(e).len() >= 3).await;
    assert!(got.is_empty(), "nothing is read from an untrusted server");
    let d = disconnects(&events);
    assert!(d.len() >= 3, "retried: {d:?}");
    for (kind, reason) in &d {
        assert_eq!(*kind, "tls_unknown_issuer", "{reason}");
        assert!(reason.contains("ingestor.tls-ca-file"), "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_is_refused() {
    let (sim, ca) = tls_sim(common::simulated(5, 5), &["feed.example.com"]).await;
    let network = Network::new(Some(ca.path())).unwrap();
    let (got, events) = run_until(sim.url(), network, |(_, e)| disconnects(e).len() >= 2).await;
    assert!(got.is_empty());
    for (kind, reason) in disconnects(&events) {
        assert_eq!(kind, "tls_wrong_host", "{reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_the_tls_handshake_times_out_by_name() {
    // Accepts TCP connections and says nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let network = Network::new(None).unwrap();
    let (_, events) = run_until(format!("wss://{addr}"), network, |(_, e)| {
        !disconnects(e).is_empty()
    })
    .await;
    let (kind, reason) = disconnects(&events).remove(0);
    assert_eq!(kind, "tls_handshake_timeout", "{reason}");
    held.abort();
}

#[test]
fn a_ca_file_without_a_certificate_is_an_error_at_start() {
    let empty = tempfile::NamedTempFile::new().unwrap();
    let err = Network::new(Some(empty.path())).unwrap_err().to_string();
    assert!(err.contains("holds no certificate"), "{err}");
    let err = Network::new(Some(std::path::Path::new("/nonexistent/ca.pem")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ingestor.tls-ca-file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_run_against_an_untrusted_feed_fails_naming_the_last_error() {
    let broker = Broker::external_or_embedded(None).unwrap();
    let (sim, _ca) = tls_sim(common::simulated(5, 5), &["127.0.0.1"]).await;
    let mut cfg = service_config(sim.url(), &broker).await;
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    cfg.admin.listen = Some(admin);
    let run = tokio::spawn(bounded_run(cfg, Duration::from_secs(3)));
    // Running, but never subscribed: alive and not ready.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(http_status(admin, "/healthz").await, 503);
    assert_eq!(http_status(admin, "/livez").await, 200);
    let err = run.await.unwrap().unwrap_err().to_string();
    assert!(err.contains("no frame from wss://127.0.0.1:"), "{err}");
    assert!(
        err.contains("last connection error: TLS to 127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("signed by no CA this ingestor trusts"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_run_against_an_unreachable_feed_fails() {
    let broker = Broker::external_or_embedded(None).unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = service_config(format!("wss://127.0.0.1:{port}"), &broker).await;
    let err = bounded_run(cfg, Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("connecting to 127.0.0.1:{port}")),
        "{err}"
    );
}

/// The status code of `GET path` on `addr`.
async fn http_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The ingestor service's configuration for `url` on `broker`, its topics made.
async fn service_config(url: String, broker: &Broker) -> volspike_runtime::Config {
    let cfg = common::ingest_config(
        url,
        Feed::AdvancedTrade,
        vec!["BTC-USD".into()],
        broker.bootstrap(),
    );
    let t = &cfg.topics;
    broker
        .ensure_topics(&cfg, &[&t.raw, &t.dlq, &t.events])
        .await
        .unwrap();
    cfg
}

/// Runs the ingestor service for `duration`.
async fn bounded_run(
    cfg: volspike_runtime::Config,
    duration: Duration,
) -> Result<volspike_ingestor::Summary, volspike_ingestor::Error> {
    let opts = RunOptions {
        duration: Some(duration),
        stop_after_ticks: None,
    };
    volspike_ingestor::run_with(cfg, opts, CancellationToken::new()).await
}
