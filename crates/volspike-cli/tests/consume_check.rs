//! `consume-check` counts what a topic holds, readable or not.

use std::time::Duration;

use rdkafka::producer::{BaseRecord, ThreadedProducer};
use volspike_cli::commands::consume_check::{TopicCounts, count};
use volspike_runtime::kafka::{
    Broker, DeliveryCounter, flush, producer_config, send_with_backpressure,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_readable_and_unreadable_messages_on_every_partition() {
    let mut cfg = volspike_runtime::testing::config(100);
    let broker = Broker::external_or_embedded(None).unwrap();
    cfg.kafka.bootstrap = Some(broker.bootstrap().to_owned());
    broker.ensure_topics(&cfg, &["checked"]).await.unwrap();
    let producer: ThreadedProducer<DeliveryCounter> =
        producer_config(&cfg.kafka, cfg.kafka.bootstrap.as_deref().unwrap(), "test")
            .create_with_context(DeliveryCounter::default())
            .unwrap();
    for i in 0..30 {
        let payload = if i % 10 == 9 {
            b"\x00 not json".to_vec()
        } else {
            format!(r#"{{"n": {i}}}"#).into_bytes()
        };
        let key = format!("k{i}");
        send_with_backpressure(
            &producer,
            BaseRecord::to("checked").key(&key).payload(&payload),
        )
        .unwrap();
    }
    flush(&producer, Duration::from_secs(10)).unwrap();
    let counts =
        tokio::task::spawn_blocking(move || count(&cfg, "checked", Duration::from_secs(30)))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        counts,
        TopicCounts {
            messages: 30,
            readable: 27
        }
    );
}
