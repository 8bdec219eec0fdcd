//! Live scoring on the embedded Kafka: every scorable row of ticks.features
//! gives one prediction, alerts follow the gate, replaying the same features
//! gives identical records, GetScore answers from the latest row, and a
//! models.events message swaps the model.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{config, registry_with_two_versions};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;
use volspike_core::{Alert, FeatureRow, LATENCY_HEADER, ModelEvent, ModelEventKind, Prediction};
use volspike_inference::LoadedModel;
use volspike_inference::live::{LiveAlerts, score_row};
use volspike_model::registry::{LocalRegistry, Registry as _};
use volspike_proto::volspike::v1 as pb;
use volspike_proto::volspike::v1::volatility_service_client::VolatilityServiceClient;
use volspike_runtime::{Config, EmbeddedKafka};

const T0: i64 = 1_763_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

/// Rows of two products, one per second; volatility swings so the score
/// crosses the threshold several times. The first rows lack inputs, as a
/// filling window does.
fn rows() -> Vec<FeatureRow> {
    let mut out = Vec::new();
    for (p, product) in ["BTC-USD", "ETH-USD"].iter().enumerate() {
        for i in 0..400i64 {
            let phase = (i as f64 + 37.0 * p as f64) / 25.0;
            let warm = i >= 5;
            out.push(FeatureRow {
                tie: 0,
                sequence: Some(i as u64),
                segment_start: i == 0,
                warm,
                price: 100.0 + phase.sin(),
                log_return: Some(1e-5),
                price_volatility_1min: warm.then(|| 1e-4 * (1.0 + phase.sin())),
                bid_ask_spread: Some(0.01),
                bid_ask_spread_bps: Some(1.0 + 0.2 * phase.cos()),
                trade_intensity: Some(30.0 + 5.0 * (phase * 0.7).sin()),
                time_since_prev_tick_s: Some(1.0),
                mid_price: Some(100.0),
                ..FeatureRow::bare(product, T0 + i * SECOND, 100.0 + phase.sin())
            });
        }
    }
    out
}

fn kafka_config(kafka: &EmbeddedKafka, group: &str) -> Config {
    let mut cfg = config();
    cfg.kafka.bootstrap = Some(kafka.bootstrap().to_owned());
    cfg.kafka.fetch_max_wait = Duration::from_millis(5);
    cfg.inference.group_id = group.to_owned();
    cfg.inference.start_from = volspike_runtime::config::StartFrom::Earliest;
    // Only the event may trigger the swap in this test.
    cfg.inference.model_poll = Duration::from_secs(3600);
    cfg
}

/// Every record of `topic`: (key, payload, latency header present).
fn read(cfg: &Config, topic: &str) -> Vec<(String, Vec<u8>, bool)> {
    let mut out = Vec::new();
    volspike_runtime::kafka::read_partitions(
        cfg,
        topic,
        |_, low, _| low,
        Duration::from_secs(30),
        |m| {
            use rdkafka::message::Headers as _;
            let has_latency = m
                .headers()
                .is_some_and(|h| h.iter().any(|h| h.key == LATENCY_HEADER));
            out.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                m.payload().unwrap_or_default().to_vec(),
                has_latency,
            ));
        },
    )
    .unwrap();
    out
}

async fn wait_for(cfg: &Config, topic: &str, n: usize) -> Vec<(String, Vec<u8>, bool)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (c, t) = (cfg.clone(), topic.to_owned());
        let got = tokio::task::spawn_blocking(move || read(&c, &t))
            .await
            .unwrap();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_features_give_identical_predictions_and_alerts_and_events_swap_the_model() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let cfg = kafka_config(&kafka, "inference-a");
    for t in [
        &cfg.topics.features,
        &cfg.topics.predictions,
        &cfg.topics.alerts,
        &cfg.topics.model_events,
    ] {
        kafka.create_topic(t, 3).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = registry_with_two_versions(dir.path()).await;

    // What the records must be: the rows scored offline with version 1.
    let v1 = LoadedModel::new(
        registry.load("volspike", 1).await.unwrap(),
        "volspike",
        Some(1),
        "champion",
    )
    .unwrap();
    let mut gate = LiveAlerts::default();
    let (mut want_predictions, mut want_alerts) = (Vec::new(), Vec::new());
    let rows = rows();
    for row in &rows {
        if let Ok((p, a)) = score_row(&v1, &mut gate, row) {
            want_predictions.push(p);
            want_alerts.extend(a);
        }
    }
    assert_eq!(want_predictions.len(), 2 * 395);
    assert!(
        want_alerts.len() >= 4,
        "the rows must raise several alerts, got {}",
        want_alerts.len()
    );

    let producer: FutureProducer =
        volspike_runtime::kafka::producer_config(&cfg.kafka, kafka.bootstrap(), "test")
            .create()
            .unwrap();
    for row in &rows {
        let payload = serde_json::to_vec(row).unwrap();
        producer
            .send(
                FutureRecord::to(&cfg.topics.features)
                    .key(row.product_id.as_str())
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    // An unreadable record is counted and skipped, not fatal.
    producer
        .send(
            FutureRecord::to(&cfg.topics.features)
                .key("BTC-USD")
                .payload("not json"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let run = |cfg: Config, registry: LocalRegistry| async move {
        let stop = CancellationToken::new();
        let server = volspike_inference::start_with(cfg, registry, stop.clone())
            .await
            .unwrap();
        (server, stop)
    };

    // First pass.
    let (server, stop) = run(cfg.clone(), registry.clone()).await;
    let first = wait_for(&cfg, &cfg.topics.predictions, want_predictions.len()).await;
    let first_alerts = wait_for(&cfg, &cfg.topics.alerts, want_alerts.len()).await;
    assert_eq!(
        first.len(),
        want_predictions.len(),
        "one prediction per scorable row"
    );
    assert!(
        first.iter().all(|(_, _, latency)| *latency),
        "every prediction carries its latency header"
    );
    let mut got: Vec<Prediction> = first
        .iter()
        .map(|(_, p, _)| serde_json::from_slice(p).unwrap())
        .collect();
    got.sort_by(|a, b| a.prediction_id.cmp(&b.prediction_id));
    want_predictions.sort_by(|a, b| a.prediction_id.cmp(&b.prediction_id));
    assert_eq!(got, want_predictions);
    let mut got_alerts: Vec<Alert> = first_alerts
        .iter()
        .map(|(_, a, _)| serde_json::from_slice(a).unwrap())
        .collect();
    got_alerts.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
    want_alerts.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
    assert_eq!(got_alerts, want_alerts);

    // GetScore answers from the latest live row of the product.
    let mut api = VolatilityServiceClient::connect(format!("http://{}", server.grpc_addr))
        .await
        .unwrap();
    let s = api
        .get_score(pb::GetScoreRequest {
            product_id: "ETH-USD".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let last = rows.iter().rfind(|r| r.product_id == "ETH-USD").unwrap();
    assert_eq!(s.feature_time.unwrap().seconds, last.event_time_ns / SECOND);
    let inputs = volspike_inference::live::live_inputs(&v1, &last.values(), last.warm).unwrap();
    assert_eq!(s.probability, v1.score(&inputs));

    // A promotion announced on models.events swaps the model.
    registry.promote("volspike", 2).await.unwrap();
    let event = ModelEvent {
        kind: ModelEventKind::Promoted,
        name: "volspike".into(),
        from: Some(1),
        to: 2,
        at_ns: 0,
    };
    producer
        .send(
            FutureRecord::to(&cfg.topics.model_events)
                .key("volspike")
                .payload(&serde_json::to_vec(&event).unwrap()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let m = api
            .get_model(pb::GetModelRequest {})
            .await
            .unwrap()
            .into_inner();
        if m.model.unwrap().version == "2" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no swap within 30 s of the event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    server.wait().await.unwrap();

    // Second pass over the same features, as a new consumer group, with the
    // same model: the same records again.
    registry.promote("volspike", 1).await.unwrap();
    let cfg_b = kafka_config(&kafka, "inference-b");
    let (server, stop) = run(cfg_b.clone(), registry).await;
    let both = wait_for(
        &cfg_b,
        &cfg_b.topics.predictions,
        2 * want_predictions.len(),
    )
    .await;
    let both_alerts = wait_for(&cfg_b, &cfg_b.topics.alerts, 2 * want_alerts.len()).await;
    stop.cancel();
    server.wait().await.unwrap();
    let by_key = |records: &[(String, Vec<u8>, bool)]| -> BTreeMap<Vec<u8>, usize> {
        let mut m = BTreeMap::new();
        for (_, payload, _) in records {
            *m.entry(payload.clone()).or_insert(0) += 1;
        }
        m
    };
    assert_eq!(both.len(), 2 * want_predictions.len());
    assert_eq!(both_alerts.len(), 2 * want_alerts.len());
    // Every record appears exactly twice: once per pass, byte for byte.
    assert!(
        by_key(&both).values().all(|&n| n == 2),
        "predictions differ between the passes"
    );
    assert!(
        by_key(&both_alerts).values().all(|&n| n == 2),
        "alerts differ between the passes"
    );
}

#[test]
fn a_model_trained_on_warm_rows_scores_no_cold_row() {
    use volspike_inference::live::Unscored;
    let mut file = common::logistic([1.0, 0.5, -0.5], 0.0, 0.5);
    let mut row = rows().swap_remove(10);
    assert!(row.warm);
    let mut gate = LiveAlerts::default();
    let any = LoadedModel::new(file.clone(), "volspike", Some(1), "champion").unwrap();
    file.model.warm_only = true;
    let warm_only = LoadedModel::new(file, "volspike", Some(1), "champion").unwrap();
    assert!(score_row(&warm_only, &mut gate, &row).is_ok());
    row.warm = false;
    assert_eq!(
        score_row(&warm_only, &mut gate, &row).unwrap_err(),
        Unscored::Cold
    );
    assert!(score_row(&any, &mut gate, &row).is_ok());
    assert_eq!(Unscored::Cold.reason(), "cold");
}
