//! `volspike evaluate --alerts-out` writes exactly the alerts `volspike
//! serve` publishes for the same rows: a model with an alert budget serves
//! rows through the embedded Kafka, and the alerts read back from
//! `alerts.volatility` equal those `volspike_train::evaluate::alerts` (the
//! function behind `--alerts-out`) computes offline, field for field.

mod common;

use std::time::Duration;

use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;
use volspike_core::{Alert, FeatureRow};
use volspike_model::alerts::{BudgetConfig, Levels};
use volspike_model::registry::{LocalRegistry, Registry as _};
use volspike_runtime::EmbeddedKafka;
use volspike_train::evaluate::AlertRecord;

const T0: i64 = 1_763_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// Two products over 40 minutes, a row every 700 ms with now and then a
/// second row at the same time (a tie), volatility that drifts in level
/// and bursts at random, cold rows at the start and a row lacking an input.
fn rows() -> Vec<FeatureRow> {
    let mut out = Vec::new();
    let mut seed: u64 = 20_261_207;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for (p, product) in ["BTC-USD", "ETH-USD"].iter().enumerate() {
        let mut level = 1e-4;
        let mut burst = 0;
        for i in 0..3400i64 {
            level = (level * (1.0 + 0.05 * (next() - 0.5))).clamp(2e-5, 5e-4);
            if burst == 0 && next() < 0.004 {
                burst = 15;
            }
            burst = i32::max(burst - 1, 0);
            let vol = level * if burst > 0 { 4.0 } else { 1.0 } * (1.0 + 0.2 * next());
            let t = T0 + i * 700 * MS + p as i64 * 123 * MS;
            let ties = if next() < 0.05 { 2 } else { 1 };
            for tie in 0..ties {
                out.push(FeatureRow {
                    tie,
                    warm: i >= 20,
                    log_return: Some(1e-5),
                    price_volatility_1min: (i != 500).then_some(vol * (1.0 + 0.1 * f64::from(tie))),
                    bid_ask_spread_bps: Some(1.0 + 0.3 * next()),
                    trade_intensity: Some(30.0 + 10.0 * next()),
                    ..FeatureRow::bare(product, t, 100.0)
                });
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_alerts_are_the_alerts_serve_publishes() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let mut cfg = common::config();
    cfg.kafka.bootstrap = Some(kafka.bootstrap().to_owned());
    cfg.kafka.fetch_max_wait = Duration::from_millis(5);
    cfg.inference.start_from = volspike_runtime::config::StartFrom::Earliest;
    for t in [
        &cfg.topics.features,
        &cfg.topics.predictions,
        &cfg.topics.alerts,
        &cfg.topics.model_events,
    ] {
        kafka.create_topic(t, 3).unwrap();
    }

    // A model whose alerts follow a budget (fast refresh, short history,
    // so 40 minutes exercise the window, the refresh and the fallback).
    let mut file = common::logistic([1.5, 0.3, -0.2], -1.0, 0.5);
    file.model.warm_only = true;
    file.alert_policy = Some(
        BudgetConfig {
            per_hour: 20.0,
            window: Duration::from_secs(600),
            refresh: Duration::from_secs(20),
            min_history: Duration::from_secs(90),
            ..BudgetConfig::default()
        }
        .policy(Levels {
            threshold: 0.9,
            rearm: 0.5,
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::new(dir.path());
    registry.register("volspike", &file).await.unwrap();
    registry.promote("volspike", 1).await.unwrap();

    let rows = rows();
    let (want, scored) = volspike_train::evaluate::alerts(&file, &rows).unwrap();
    assert!(scored > 6000, "{scored}");
    assert!(
        want.len() >= 10,
        "the rows must raise alerts, got {}",
        want.len()
    );
    assert!(
        want.iter().any(|a| a.threshold != 0.9) && want.iter().any(|a| a.threshold == 0.9),
        "alerts at the fallback and at budget thresholds"
    );

    let producer: FutureProducer =
        volspike_runtime::kafka::producer_config(&cfg.kafka, kafka.bootstrap(), "test")
            .create()
            .unwrap();
    // Queued all at once, then awaited: one partition per product keeps
    // each product's rows in order.
    let payloads: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap())
        .collect();
    let sends: Vec<_> = rows
        .iter()
        .zip(&payloads)
        .map(|(row, payload)| {
            producer
                .send_result(
                    FutureRecord::to(&cfg.topics.features)
                        .key(row.product_id.as_str())
                        .payload(payload),
                )
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    for s in sends {
        s.await.unwrap().unwrap();
    }
    let stop = CancellationToken::new();
    let server = volspike_inference::start_with(cfg.clone(), registry, stop.clone())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut got: Vec<AlertRecord> = Vec::new();
    while std::time::Instant::now() < deadline {
        let (c, topic) = (cfg.clone(), cfg.topics.alerts.clone());
        got = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            volspike_runtime::kafka::read_partitions(
                &c,
                &topic,
                |_, low, _| low,
                Duration::from_secs(30),
                |m| {
                    let a: Alert = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
                    out.push(AlertRecord {
                        product_id: a.product_id,
                        event_time_ns: a.event_time_ns,
                        tie: a.tie,
                        probability: a.probability,
                        threshold: a.threshold,
                    });
                },
            )
            .unwrap();
            out
        })
        .await
        .unwrap();
        if got.len() >= want.len()
            && server
                .state
                .counts
                .rows
                .load(std::sync::atomic::Ordering::Relaxed)
                >= rows.len() as u64
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    server.wait().await.unwrap();
    got.sort_by(|a, b| {
        (a.event_time_ns, &a.product_id, a.tie).cmp(&(b.event_time_ns, &b.product_id, b.tie))
    });
    assert_eq!(got, want);
}
