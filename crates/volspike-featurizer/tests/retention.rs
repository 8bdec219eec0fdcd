//! A featurizer that finds its committed offset gone (the broker dropped
//! the records after it) counts and reports the records it jumped over
//! instead of carrying on silently.

mod common;

use std::time::Duration;

use common::{featurize_until, one_partition};
use rand::{RngCore, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use volspike_runtime::kafka::{
    DeliveryCounter, consumer_config, flush, producer_config, send_with_backpressure,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_dropped_after_the_committed_offset_are_counted() {
    let (cfg, _broker) = one_partition(1_000).await;
    let producer: ThreadedProducer<DeliveryCounter> =
        producer_config(&cfg.kafka, cfg.kafka.bootstrap.as_deref().unwrap(), "test")
            .create_with_context(DeliveryCounter::default())
            .unwrap();
    let send = |payload: &[u8]| {
        send_with_backpressure(
            &producer,
            BaseRecord::<[u8], [u8]>::to(&cfg.topics.raw)
                .partition(0)
                .payload(payload),
        )
        .unwrap();
    };

    for i in 0..10 {
        let line = format!(
            r#"{{"product_id": "BTC-USD", "price": "{}", "timestamp": "2026-01-01T00:00:{i:02}Z"}}"#,
            67_000 + i
        );
        send(line.as_bytes());
    }
    flush(&producer, Duration::from_secs(10)).unwrap();
    let first = featurize_until(&cfg, 10).await;
    assert_eq!((first.rows, first.offsets_skipped), (10, 0));

    // 7 MiB of incompressible records while no featurizer runs: the embedded
    // Kafka keeps about 5 MB per partition, so the oldest are dropped,
    // including those right after the committed offset 10.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut junk = vec![0u8; 1024];
    for _ in 0..7_000 {
        rng.fill_bytes(&mut junk);
        send(&junk);
    }
    flush(&producer, Duration::from_secs(30)).unwrap();
    let (low, high) = {
        let c: BaseConsumer = consumer_config(
            &cfg.kafka,
            cfg.kafka.bootstrap.as_deref().unwrap(),
            "test-wm",
            "wm",
        )
        .create()
        .unwrap();
        c.fetch_watermarks(&cfg.topics.raw, 0, Duration::from_secs(5))
            .unwrap()
    };
    assert!(
        low > 10,
        "the broker dropped records after offset 10 (log start {low})"
    );

    let second = featurize_until(&cfg, high).await;
    assert_eq!(second.offsets_skipped, (low - 10) as u64);
    assert_eq!(second.messages, (high - low) as u64);
}
