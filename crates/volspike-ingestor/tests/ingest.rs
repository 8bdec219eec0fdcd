//! The ingestor service end to end on the embedded Kafka: exchange
//! simulator -> ingestor -> `ticks.raw`, `ticks.dlq` and the journal.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rdkafka::message::Message as _;
use tokio_util::sync::CancellationToken;
use volspike_core::{Feed, Tick, decode_line};
use volspike_ingestor::journal::journal_files;
use volspike_ingestor::{RunOptions, Summary};
use volspike_runtime::Config;
use volspike_runtime::kafka::{Broker, read_partitions};
use volspike_sim::{ConnectionReport, ExchangeSim, Faults, SimSettings, Speed};

/// What one run produced.
struct Ingested {
    report: Summary,
    sim: Vec<ConnectionReport>,
}

/// The ingestor's topics, made ahead as the embedded Kafka has no
/// CreateTopics API.
async fn create_topics(cfg: &Config, broker: &Broker) {
    let t = &cfg.topics;
    broker
        .ensure_topics(cfg, &[&t.raw, &t.dlq, &t.events])
        .await
        .unwrap();
}

/// Plays `ticks` through the simulator into the ingestor until every tick
/// arrived; the journal goes to `journal`.
async fn ingest(
    ticks: Vec<Tick>,
    feed: Feed,
    faults: Faults,
    journal: &Path,
    broker: &Broker,
) -> (Config, Ingested) {
    let products: Vec<String> = ticks
        .iter()
        .map(|t| t.product_id.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let want = ticks.len() as u64;
    let settings = SimSettings {
        feed,
        speed: Speed::Max,
        heartbeat_interval: Duration::from_millis(100),
        faults,
        ..SimSettings::default()
    };
    let sim = ExchangeSim::start("127.0.0.1:0".parse().unwrap(), ticks, settings)
        .await
        .unwrap();
    let mut cfg = common::ingest_config(sim.url(), feed, products, broker.bootstrap());
    cfg.ingestor.journal_dir = Some(journal.to_owned());
    create_topics(&cfg, broker).await;
    let opts = RunOptions {
        duration: Some(Duration::from_secs(120)),
        stop_after_ticks: Some(want),
    };
    let report = volspike_ingestor::run_with(cfg.clone(), opts, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        report.ticks, want,
        "every tick arrived within the time limit"
    );
    let sim = sim.stop().await;
    (cfg, Ingested { report, sim })
}

/// A record's payload and key.
type Record = (Vec<u8>, Option<String>);

/// Every record of `topic`, per partition in offset order.
fn read_topic(cfg: &Config, topic: &str) -> BTreeMap<i32, Vec<Record>> {
    let mut out: BTreeMap<i32, Vec<_>> = BTreeMap::new();
    let mut first_offsets = BTreeMap::new();
    read_partitions(
        cfg,
        topic,
        |_, low, _| low,
        Duration::from_secs(60),
        |m| {
            first_offsets.entry(m.partition()).or_insert(m.offset());
            out.entry(m.partition()).or_default().push((
                m.payload().unwrap_or_default().to_vec(),
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            ));
        },
    )
    .unwrap();
    assert!(
        first_offsets.values().all(|&o| o == 0),
        "{topic}: the broker dropped early records ({first_offsets:?})"
    );
    out
}

/// Ticks without receive time (the simulator's recording has none).
fn without_receive_time(ticks: impl IntoIterator<Item = Tick>) -> Vec<Tick> {
    ticks
        .into_iter()
        .map(|t| Tick {
            receive_time_ns: None,
            ..t
        })
        .collect()
}

/// Per product, in order.
fn by_product(ticks: &[Tick]) -> BTreeMap<String, Vec<Tick>> {
    let mut out: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    for t in ticks {
        out.entry(t.product_id.to_string())
            .or_default()
            .push(t.clone());
    }
    out
}

/// The ticks of every journal line, in journal order.
fn journal_ticks(dir: &Path) -> Vec<Tick> {
    let mut ticks = Vec::new();
    for f in journal_files(dir).unwrap() {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let _ = decode_line(line.as_bytes(), &mut ticks);
        }
    }
    ticks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ticker_lands_once_in_kafka_and_the_journal_across_100_disconnects() {
    let tmp = tempfile::tempdir().unwrap();
    let want = common::simulated(240, 5);
    let broker = Broker::external_or_embedded(None).unwrap();
    let journal = tmp.path().join("journal");
    let faults = Faults {
        disconnect_every: Some(10),
        max_disconnects: 100,
        ..Faults::default()
    };
    let (cfg, run) = ingest(want.clone(), Feed::AdvancedTrade, faults, &journal, &broker).await;
    let r = &run.report;

    // Reconnects and resubscriptions match what the simulator did.
    let forced = run
        .sim
        .iter()
        .filter(|c| c.end == "fault: disconnect")
        .count();
    assert_eq!(forced, 100);
    // (The simulator drops the TCP connection without a close frame.)
    assert_eq!(r.disconnects.values().sum::<u64>(), 100, "{r:?}");
    assert_eq!(r.subscriptions, 101);
    assert!(run.sim.iter().all(|c| c.subscribed.len() == 2));
    // Recorded gaps match too: the simulator counts the breaks in the
    // sequences it sent on each connection, the ingestor those it received.
    let sent_breaks: u64 = run.sim.iter().map(|c| c.sequence_breaks).sum();
    assert_eq!(
        r.sequence_breaks.values().sum::<u64>(),
        sent_breaks,
        "{r:?}"
    );

    // ticks.raw: each ticker once, per product in order, keyed by product.
    let raw = read_topic(&cfg, &cfg.topics.raw);
    let mut from_kafka = Vec::new();
    for records in raw.values() {
        for (payload, key) in records {
            let n = from_kafka.len();
            decode_line(payload, &mut from_kafka).unwrap();
            assert_eq!(key.as_deref(), Some(from_kafka[n].product_id.as_str()));
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            for field in [
                "timestamp",
                "product_id",
                "price",
                "volume_24h",
                "best_bid",
                "best_ask",
                "raw",
                "receive_time_ns",
                "conn",
                "frame",
                "sequence",
            ] {
                assert!(v.get(field).is_some(), "{field} missing in {v}");
            }
        }
    }
    assert_eq!(from_kafka.len(), want.len());
    assert!(
        by_product(&without_receive_time(from_kafka)) == by_product(&want),
        "ticks.raw holds each ticker once, in order per product"
    );

    // The journal: every ticker once, in the order sent.
    let journaled = journal_ticks(&journal);
    assert!(without_receive_time(journaled) == want);
    assert_eq!(r.frames, r.frame_range.map_or(0, |(a, b)| b - a + 1));
    assert!(r.undelivered.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_go_to_the_dlq_and_ingestion_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let want = common::simulated(60, 6);
    let broker = Broker::external_or_embedded(None).unwrap();
    let journal = tmp.path().join("journal");
    let faults = Faults {
        malformed_every: Some(25),
        error_every: Some(40),
        ..Faults::default()
    };
    let (cfg, run) = ingest(want.clone(), Feed::AdvancedTrade, faults, &journal, &broker).await;
    let malformed: u64 = run.sim.iter().map(|c| c.malformed).sum();
    let errors: u64 = run.sim.iter().map(|c| c.errors).sum();
    assert!(malformed > 5, "{malformed}");
    assert_eq!(run.report.dlq.values().sum::<u64>(), malformed);
    assert_eq!(run.report.exchange_errors, errors);
    assert!(run.report.disconnects.is_empty(), "{:?}", run.report);
    let dlq = read_topic(&cfg, &cfg.topics.dlq);
    let records: Vec<&Vec<u8>> = dlq.values().flatten().map(|(p, _)| p).collect();
    assert_eq!(records.len() as u64, malformed);
    assert!(
        records
            .iter()
            .all(|p| p.starts_with(b"{\"channel\": \"ticker\", \"events\""))
    );
    let raw = read_topic(&cfg, &cfg.topics.raw);
    assert_eq!(raw.values().map(Vec::len).sum::<usize>(), want.len());
}

/// Acceptance: each shared recording played through `exchange-sim --speed
/// max`, the ingestor and its journal replays to exactly the features of the
/// recording itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shared_recording_replays_identically_from_the_journal() {
    let Some(files) = volspike_replay::recordings::shared_recordings(env!("CARGO_MANIFEST_DIR"))
    else {
        return;
    };
    let broker = Broker::external_or_embedded(None).unwrap();
    let engine = volspike_features::EngineConfig::default();
    assert!(files.len() > 100);
    for file in &files {
        let ticks = volspike_replay::load_ticks(std::slice::from_ref(file)).unwrap();
        let feed = ticks[0].feed;
        assert!(ticks.iter().all(|t| t.feed == feed), "{}", file.display());
        let tmp = tempfile::tempdir().unwrap();
        let journal = tmp.path().join("journal");
        ingest(ticks, feed, Faults::default(), &journal, &broker).await;

        let (mut expected, _) =
            volspike_replay::replay(std::slice::from_ref(file), &engine).unwrap();
        let (mut replayed, _) =
            volspike_replay::replay(&journal_files(&journal).unwrap(), &engine).unwrap();
        volspike_replay::parquet::canonicalize(&mut expected).unwrap();
        volspike_replay::parquet::canonicalize(&mut replayed).unwrap();
        assert!(!expected.is_empty());
        if let Some(diff) = volspike_replay::first_difference(&expected, &replayed) {
            panic!("{}: journal replay differs: {diff}", file.display());
        }
    }
}

/// Runs the ingestor on a paced stream and takes the broker away for
/// `outage` in the middle; returns the run and the ticks sent.
async fn ingest_through_outage(
    max_pending: u32,
    journal: &Path,
    broker: std::sync::Arc<Broker>,
) -> (Config, Summary, Vec<Tick>) {
    let want = common::simulated(120, 8);
    let settings = SimSettings {
        feed: Feed::AdvancedTrade,
        // 120 s of market in about 6 s.
        speed: Speed::Factor(20.0),
        heartbeat_interval: Duration::from_millis(100),
        faults: Faults::default(),
        ..SimSettings::default()
    };
    let sim = ExchangeSim::start("127.0.0.1:0".parse().unwrap(), want.clone(), settings)
        .await
        .unwrap();
    let mut cfg = common::ingest_config(
        sim.url(),
        Feed::AdvancedTrade,
        vec!["BTC-USD".into(), "ETH-USD".into()],
        broker.bootstrap(),
    );
    cfg.ingestor.max_pending = max_pending;
    cfg.ingestor.journal_dir = Some(journal.to_owned());
    create_topics(&cfg, &broker).await;
    let opts = RunOptions {
        duration: Some(Duration::from_secs(120)),
        stop_after_ticks: Some(want.len() as u64),
    };
    let task = tokio::spawn(volspike_ingestor::run_with(
        cfg.clone(),
        opts,
        CancellationToken::new(),
    ));
    let Broker::Embedded(kafka) = &*broker else {
        unreachable!()
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kafka.set_brokers_up(false).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    kafka.set_brokers_up(true).unwrap();
    let report = task.await.unwrap().unwrap();
    assert_eq!(report.ticks, want.len() as u64);
    assert!(
        report.disconnects.is_empty(),
        "the socket was read throughout: {report:?}"
    );
    sim.stop().await;
    (cfg, report, want)
}

fn kafka_ticks(cfg: &Config) -> Vec<Tick> {
    let mut ticks = Vec::new();
    for (payload, _) in read_topic(cfg, &cfg.topics.raw).into_values().flatten() {
        decode_line(&payload, &mut ticks).unwrap();
    }
    without_receive_time(ticks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_buffer_the_ingestor_names_the_frames_and_backfill_restores_them() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let broker = std::sync::Arc::new(Broker::external_or_embedded(None).unwrap());
    let (cfg, report, want) = ingest_through_outage(20, &journal, broker.clone()).await;
    let ranges = report.undelivered.ranges();
    assert!(
        !ranges.is_empty(),
        "a 20-record buffer overflowed in a 2 s outage"
    );
    assert!(
        without_receive_time(journal_ticks(&journal)) == want,
        "the journal has everything"
    );
    let before = kafka_ticks(&cfg);
    assert!(before.len() < want.len());
    let mut output = volspike_ingestor::make_output(&cfg, broker.bootstrap())
        .await
        .unwrap();
    for (from, to) in ranges {
        volspike_ingestor::recover::backfill(&cfg, &journal, from, to, &mut output).unwrap();
    }
    // Every ticker exactly once (the backfilled ones arrive later, so
    // compare as sorted lists).
    let key = |t: &Tick| {
        (
            t.product_id.clone(),
            t.event_time_ns,
            t.sequence,
            t.price.to_bits(),
        )
    };
    let mut got = kafka_ticks(&cfg);
    let mut expected = want.clone();
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
}
