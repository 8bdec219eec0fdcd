//! Shared by the featurizer's tests.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use volspike_runtime::Config;
use volspike_runtime::kafka::{Broker, consumer_config};

/// Runs one featurizer until the group has committed `until` on partition 0.
pub async fn featurize_until(cfg: &Config, until: i64) -> volspike_featurizer::Summary {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(volspike_featurizer::run_until(
        cfg.clone(),
        shutdown.clone(),
        CancellationToken::new(),
    ));
    let progress: BaseConsumer = consumer_config(
        &cfg.kafka,
        cfg.kafka.bootstrap.as_deref().unwrap(),
        "test-progress",
        &cfg.featurizer.group_id,
    )
    .create()
    .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&cfg.topics.raw, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = progress
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .unwrap();
        if c.elements()[0].offset() == Offset::Offset(until) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "featurizer did not commit {until}: {:?}",
            c.elements()[0].offset()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap()
}

/// A test configuration (featurizer batches of `batch`) on the embedded
/// Kafka with one partition per topic and the featurizer's topics made;
/// the broker lives as long as the returned value.
pub async fn one_partition(batch: usize) -> (Config, Broker) {
    let mut cfg = volspike_runtime::testing::config(batch);
    cfg.topics.partitions = 1;
    let broker = Broker::external_or_embedded(None).unwrap();
    cfg.kafka.bootstrap = Some(broker.bootstrap().to_owned());
    cfg.kafka.fetch_max_wait = Duration::from_millis(5);
    // The embedded Kafka (librdkafka's mock cluster) has no transactions.
    cfg.featurizer.transactions = false;
    broker
        .ensure_topics(
            &cfg,
            &[&cfg.topics.raw, &cfg.topics.features, &cfg.topics.dlq],
        )
        .await
        .unwrap();
    (cfg, broker)
}
