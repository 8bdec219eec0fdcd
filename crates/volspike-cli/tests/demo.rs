//! The demo: simulator -> ingestor -> featurizer on the embedded Kafka gives
//! exactly the features of `volspike replay` on the simulated market, and of
//! a replay of the ingestor's journal.

mod common;

use tokio_util::sync::CancellationToken;
use volspike_cli::compare::first_difference;
use volspike_cli::demo::{self, DemoOptions};
use volspike_cli::exchange_sim::Speed;
use volspike_cli::replay::replay;
use volspike_core::Feed;
use volspike_runtime::parquet::canonicalize;

async fn check_demo(feed: Feed, train: bool) {
    let cfg = common::test_config(2_000);
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("models");
    let opts = DemoOptions {
        seconds: 360,
        speed: Speed::Max,
        feed,
        print_rows: false,
        journal: Some(dir.path().join("journal")),
        out: Some(dir.path().join("features.parquet")),
        train_registry: train.then(|| registry.clone()),
        ..DemoOptions::default()
    };
    let recording = dir.path().join("market.ndjson");
    volspike_cli::simulate::write_file(&demo::sim_config(&opts), &recording).unwrap();
    let (mut want, counts) = replay(std::slice::from_ref(&recording), &cfg.features).unwrap();
    canonicalize(&mut want).unwrap();

    let got = demo::run(cfg, opts, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(got.sim_ticks, Some(counts.ticks));
    assert_eq!(got.ingest.ticks, counts.ticks, "{:?}", got.ingest);
    assert_eq!(got.ingest.subscriptions, 1, "{:?}", got.ingest);
    assert!(got.ingest.undelivered.is_empty());
    assert!(want.iter().filter(|r| r.warm).count() > 100);
    if feed == Feed::AdvancedTrade {
        assert_eq!(first_difference(&got.rows, &want), None);
    } else {
        // Served as Exchange messages, rows name their feed and carry the
        // Exchange sequence; keys and feature values are the same.
        assert_eq!(got.rows.len(), want.len());
        for (g, w) in got.rows.iter().zip(&want) {
            assert_eq!(g.key(), w.key());
            let bits = |r: &volspike_core::FeatureRow| -> Vec<Option<u64>> {
                r.values().iter().map(|v| v.map(f64::to_bits)).collect()
            };
            assert_eq!(bits(g), bits(w), "{:?}", g.key());
        }
    }
    assert_eq!(got.replay_difference, None);
    assert!(dir.path().join("features.parquet").is_file());
    if train {
        // The first demo run registers version 1 as challenger and champion.
        use volspike_model::registry::{CHALLENGER, CHAMPION, LocalRegistry, Registry as _};
        assert_eq!(got.trained_version, Some(1));
        let local = LocalRegistry::new(&registry);
        assert_eq!(
            local.alias(demo::MODEL_NAME, CHAMPION).await.unwrap(),
            Some(1)
        );
        assert_eq!(
            local.alias(demo::MODEL_NAME, CHALLENGER).await.unwrap(),
            Some(1)
        );
        let file = local.load(demo::MODEL_NAME, 1).await.unwrap();
        assert!(file.test.rows > 1000, "{:?}", file.test);
    } else {
        assert_eq!(got.trained_version, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_advanced_trade_gives_the_features_of_the_simulated_market() {
    check_demo(Feed::AdvancedTrade, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_the_exchange_feed_gives_the_features_of_the_simulated_market() {
    check_demo(Feed::Exchange, false).await;
}
