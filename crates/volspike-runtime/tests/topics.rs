//! `topics.create = false`: where something else owns the topics (Strimzi's
//! Topic Operator), a service checks them and names the missing ones.

use volspike_runtime::kafka::{Broker, ensure_topics};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_creation_off_missing_topics_are_named_and_not_created() {
    let mut cfg = volspike_runtime::testing::config(100);
    let broker = Broker::external_or_embedded(None).unwrap();
    broker.ensure_topics(&cfg, &["present"]).await.unwrap();
    cfg.topics.create = false;
    ensure_topics(&cfg, broker.bootstrap(), &["present"])
        .await
        .expect("an existing topic passes the check");
    let err = ensure_topics(&cfg, broker.bootstrap(), &["present", "absent"])
        .await
        .expect_err("a missing topic fails the check")
        .to_string();
    assert!(err.contains("missing topics absent on"), "{err}");
    assert!(err.contains("topics.create is off"), "{err}");
    // Still missing: the check created nothing.
    let again = ensure_topics(&cfg, broker.bootstrap(), &["absent"]).await;
    assert!(again.is_err());
}
