//! One tick with an absurd event time (2099) among normal ones: the featurizer
//! puts it on the dead-letter topic with its reason and gives the normal ticks
//! exactly the rows they give without it, also across a restart that must
//! rebuild its state from input holding the bad tick.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{featurize_until, one_partition};
use rdkafka::Message;
use rdkafka::message::Headers;
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use volspike_core::{FeatureRow, decode_line};
use volspike_features::{EngineConfig, FeatureEngine, Outcome};
use volspike_runtime::kafka::{
    DeliveryCounter, flush, producer_config, read_partitions, send_with_backpressure,
};

/// 1,000 ticks each of BTC-USD (a recorder with event time only, so the
/// engine judges a jump by the next tick) and ETH-USD (with the recorder's
/// receive time, judged against it), one a second, interleaved.
fn normal_lines() -> Vec<String> {
    (0..1_000)
        .flat_map(|i| {
            let t = format!("2026-01-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60);
            let r = format!(
                "2026-01-01T{:02}:{:02}:{:02}.2Z",
                i / 3600,
                i / 60 % 60,
                i % 60
            );
            [
                format!(
                    r#"{{"product_id":"BTC-USD","price":"{}","timestamp":"{t}"}}"#,
                    67_000.0 + (i * 7919 % 13) as f64
                ),
                format!(
                    r#"{{"product_id":"ETH-USD","price":"{}","ws_timestamp":"{t}","received_at":"{r}"}}"#,
                    3_000.0 + (i * 31 % 11) as f64
                ),
            ]
        })
        .collect()
}

/// What replay gives: the one engine over the decoded lines.
fn replayed(lines: &[String]) -> Vec<FeatureRow> {
    let mut engine = FeatureEngine::new(&EngineConfig::default());
    let mut ticks = Vec::new();
    let mut rows = Vec::new();
    for l in lines {
        ticks.clear();
        decode_line(l.as_bytes(), &mut ticks).unwrap();
        for t in &ticks {
            rows.extend(engine.push(t).filter_map(|o| match o {
                Outcome::Row(r) => Some(r),
                _ => None,
            }));
        }
    }
    rows
}

fn by_key(rows: Vec<FeatureRow>) -> BTreeMap<(String, i64, u32), FeatureRow> {
    rows.into_iter()
        .map(|r| ((r.product_id.to_string(), r.event_time_ns, r.tie), r))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_tick_is_dead_lettered_and_silences_nothing_across_a_restart() {
    let (cfg, _broker) = one_partition(200).await;

    let normal = normal_lines();
    let mut lines = normal.clone();
    // After 500 s of each product: one BTC-USD tick and one ETH-USD tick
    // stamped 2099, the latter received in 2026.
    lines.insert(
        1_000,
        r#"{"product_id":"BTC-USD","price":"1.0","timestamp":"2099-01-01T00:00:00Z"}"#.into(),
    );
    lines.insert(
        1_002,
        r#"{"product_id":"ETH-USD","price":"1.0","ws_timestamp":"2099-01-01T00:00:00Z","received_at":"2026-01-01T00:08:20.5Z"}"#.into(),
    );
    let want = replayed(&normal);
    assert_eq!(want.len(), 2_000);
    assert_eq!(replayed(&lines), want, "replay is not silenced either");

    let producer: ThreadedProducer<DeliveryCounter> =
        producer_config(&cfg.kafka, cfg.kafka.bootstrap.as_deref().unwrap(), "test")
            .create_with_context(DeliveryCounter::default())
            .unwrap();
    let send = |lines: &[String]| {
        for l in lines {
            send_with_backpressure(
                &producer,
                BaseRecord::<[u8], [u8]>::to(&cfg.topics.raw)
                    .partition(0)
                    .payload(l.as_bytes()),
            )
            .unwrap();
        }
        flush(&producer, Duration::from_secs(10)).unwrap();
    };
    // The first featurizer stops right after the bad BTC-USD tick (held,
    // undecided); the second rebuilds from input that holds it.
    let cut = 1_001;
    send(&lines[..cut]);
    let first = featurize_until(&cfg, cut as i64).await;
    send(&lines[cut..]);
    let second = featurize_until(&cfg, lines.len() as i64).await;
    assert_eq!((first.rows, first.dlq.len()), (1_000, 0));
    assert_eq!(second.rebuilds, 1);
    assert_eq!(second.dlq.get("unconfirmed_jump"), Some(&1));
    assert_eq!(second.dlq.get("event_time_ahead"), Some(&1));

    let mut rows = Vec::new();
    let mut dead = Vec::new();
    for (topic, out) in [
        (&cfg.topics.features, &mut rows),
        (&cfg.topics.dlq, &mut dead),
    ] {
        read_partitions(
            &cfg,
            topic,
            |_, low, _| low,
            Duration::from_secs(30),
            |m| {
                let reason = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "dlq.reason"))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned());
                out.push((reason, m.payload().unwrap_or_default().to_vec()));
            },
        )
        .unwrap();
    }
    let rows: Vec<FeatureRow> = rows
        .iter()
        .map(|(_, p)| serde_json::from_slice(p).unwrap())
        .collect();
    assert_eq!(rows.len(), 2_000, "no row lost, none twice");
    assert!(by_key(rows) == by_key(want), "rows differ from the replay");

    let mut reasons: Vec<(String, String)> = dead
        .iter()
        .map(|(r, p)| {
            let mut ticks = Vec::new();
            decode_line(p, &mut ticks).unwrap();
            (r.clone().unwrap(), ticks[0].product_id.to_string())
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("event_time_ahead".to_owned(), "ETH-USD".to_owned()),
            ("unconfirmed_jump".to_owned(), "BTC-USD".to_owned())
        ]
    );
}
