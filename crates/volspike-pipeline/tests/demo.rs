//! The demo: simulator -> ingestor -> featurizer on the embedded Kafka gives
//! exactly the features of `volspike replay` on the simulated market, and of
//! a replay of the ingestor's journal.

mod common;

use tokio_util::sync::CancellationToken;
use volspike_core::Feed;
use volspike_pipeline::demo::{self, DemoOptions, DemoRegime};
use volspike_replay::first_difference;
use volspike_replay::parquet::canonicalize;
use volspike_sim::Speed;

async fn check_demo(feed: Feed, train: bool) {
    let mut cfg = volspike_runtime::testing::config(2_000);
    // Two demos run at once in this file: each on a free port.
    cfg.inference.listen = "127.0.0.1:0".parse().unwrap();
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
        serve_registry: Some(registry.clone()),
        // The worker has its own test below.
        drift: false,
        ..DemoOptions::default()
    };
    let market = volspike_sim::simulate_ticks(&demo::sim_config(&opts));
    let (mut want, counts) = volspike_replay::replay_ticks(&market, &cfg.features);
    canonicalize(&mut want).unwrap();

    let got = demo::run(cfg.clone(), opts, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(got.sim_ticks, Some(counts.ticks));
    assert_eq!(got.ingest.ticks, counts.ticks, "{:?}", got.ingest);
    assert_eq!(got.ingest.subscriptions, 1, "{:?}", got.ingest);
    assert!(got.ingest.undelivered.is_empty());
    // A clean simulated feed: no message missing, so no sequence break.
    assert!(
        got.ingest.sequence_breaks.is_empty(),
        "{:?}",
        got.ingest.sequence_breaks
    );
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
            local
                .alias(&cfg.registry.model_name, CHAMPION)
                .await
                .unwrap(),
            Some(1)
        );
        assert_eq!(
            local
                .alias(&cfg.registry.model_name, CHALLENGER)
                .await
                .unwrap(),
            Some(1)
        );
        let file = local.load(&cfg.registry.model_name, 1).await.unwrap();
        assert!(file.test.rows > 1000, "{:?}", file.test);
        // The inference server scored every warm row that has the model's
        // inputs (the default model scores warm rows only).
        assert!(file.model.warm_only);
        let i = got.inference.expect("the inference server ran");
        let scorable = got
            .rows
            .iter()
            .filter(|r| r.warm)
            .filter(|r| {
                let v = r.values();
                file.model.feature_names.iter().all(|f| {
                    let at = volspike_core::FEATURE_NAMES
                        .iter()
                        .position(|n| n == f)
                        .unwrap();
                    v[at].is_some()
                })
            })
            .count() as u64;
        assert!(scorable > 100);
        // (More only if the featurizer re-emitted rows: at least once.)
        assert!(
            i.predictions >= scorable && i.predictions <= i.rows,
            "{scorable} {i:?}"
        );
        assert_eq!(i.model.unwrap().version, "1");
    } else {
        assert_eq!(got.trained_version, None);
        // No champion: the server ran and scored nothing.
        let i = got.inference.expect("the inference server ran");
        assert_eq!((i.model, i.predictions), (None, 0));
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

/// What a demo run with the drift worker left to check.
struct DriftDemo {
    cfg: volspike_runtime::Config,
    /// Holds the journal, the features and the registry (`models`).
    dir: tempfile::TempDir,
    change_ns: i64,
    got: demo::DemoReport,
}

/// Runs the demo with the drift worker as `volspike demo` does (regime
/// change included) at 30x, training with `train`, into a temporary
/// registry.
async fn drift_demo(train: volspike_train::train::TrainConfig, regime: DemoRegime) -> DriftDemo {
    let mut cfg = volspike_runtime::testing::config(2_000);
    cfg.inference.listen = "127.0.0.1:0".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("models");
    let (seconds, _, change_at) = regime.timing();
    let opts = DemoOptions {
        seconds,
        regime,
        regime_change_at: Some(change_at),
        speed: Speed::Factor(30.0),
        print_rows: false,
        journal: Some(dir.path().join("journal")),
        out: Some(dir.path().join("features.parquet")),
        train_registry: Some(registry.clone()),
        serve_registry: Some(registry),
        train,
        ..DemoOptions::default()
    };
    assert!(opts.drift);
    let change_ns = demo::sim_config(&opts)
        .regime
        .expect("a regime change")
        .at_ns;
    let got = demo::run(cfg.clone(), opts, CancellationToken::new())
        .await
        .unwrap();
    DriftDemo {
        cfg,
        dir,
        change_ns,
        got,
    }
}

/// The demo with the drift worker, as `volspike demo --tick-label` runs it:
/// the market changes regime 5 minutes in; the worker, calibrated on the
/// champion's training span (the history the demo trained on, in its
/// archive), sees drift only after the change, retrains, the gate promotes
/// a challenger that ranks the new regime's spikes (the forest champion
/// ranks them worse than chance: holdout ROC-AUC 0.35), and the server
/// ends on version 2. The retrain's data ends where the window that made
/// it due ends, so the decision is the same at any speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_on_the_tick_label_retrains_after_the_regime_change_and_promotes() {
    use volspike_drift_worker::report::Verdict;
    use volspike_model::registry::{CHAMPION, LocalRegistry, PREVIOUS, Registry as _};
    let DriftDemo {
        cfg,
        dir,
        change_ns,
        got,
    } = drift_demo(
        volspike_train::train::TrainConfig::tick_label(),
        DemoRegime::Level,
    )
    .await;
    let registry = dir.path().join("models");
    assert_eq!(got.replay_difference, None);
    let drift = got.drift.expect("the worker ran");
    let s = &drift.status;
    assert_eq!(
        s.reference.as_ref().map(|r| r.source.as_str()),
        Some("archive")
    );
    // The features are warm from 300 s, when the market changes, so the
    // first window judged is the one the change starts in; its inputs are
    // still mostly the old regime's and it does not drift. No window
    // before the change drifts; later ones do.
    let first = s.windows.front().expect("windows were judged");
    assert!(
        first.end_ns > change_ns && first.drifting == 0,
        "{:?}",
        s.windows
    );
    assert!(
        s.windows
            .iter()
            .filter(|w| w.end_ns <= change_ns)
            .all(|w| w.drifting == 0),
        "{:?}",
        s.windows
    );
    assert!(s.windows.iter().any(|w| w.drifting > 0), "{:?}", s.windows);
    assert_eq!(drift.summary.retrains, 1);
    let d = s.last_decision.as_ref().expect("a retrain decision");
    assert!(d.triggers.iter().any(|t| t.starts_with("drift")), "{d:#?}");
    assert!(d.at_ns > change_ns, "{d:#?}");
    assert_eq!(d.verdict, Verdict::Promoted, "{d:#?}");
    assert_eq!(d.champion.as_ref().and_then(|c| c.version), Some(1));
    assert_eq!(d.challenger.as_ref().and_then(|c| c.version), Some(2));
    let gain = d.difference.expect("a paired difference");
    assert!(gain.lower > 0.0 && gain.estimate >= d.margin, "{gain:?}");
    // The training data ends at the window that made the retrain due.
    assert!(d.data.as_ref().unwrap().span_ns.1 < d.at_ns, "{d:#?}");
    let local = LocalRegistry::new(&registry);
    let name = &cfg.registry.model_name;
    assert_eq!(local.alias(name, CHAMPION).await.unwrap(), Some(2));
    assert_eq!(local.alias(name, PREVIOUS).await.unwrap(), Some(1));
    assert_eq!(got.inference.unwrap().model.unwrap().version, "2");
    assert!(s.outcomes.join.matured > 1000, "{:?}", s.outcomes);
    assert_eq!(s.outcomes.join.late, 0, "{:?}", s.outcomes);
}

/// The demo as `volspike demo` runs it, with no flag: default label
/// (relative, 1 s clock) and inputs (clock volatilities); 2 minutes in, the
/// market changes how its inputs relate to spikes (bursts now follow a
/// quiet spell). The champion cannot follow; the worker retrains on the new
/// regime, the gate promotes on PR-AUC with alert level no worse, and the
/// server ends on version 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_with_no_flag_retrains_on_the_new_relation_and_promotes() {
    use volspike_drift_worker::report::Verdict;
    use volspike_model::registry::{CHAMPION, LocalRegistry, PREVIOUS, Registry as _};
    let defaults = DemoOptions::default();
    assert_eq!(
        defaults.train,
        volspike_train::train::TrainConfig::default()
    );
    assert_eq!(defaults.regime, DemoRegime::Relation);
    let DriftDemo {
        cfg,
        dir,
        change_ns,
        got,
    } = drift_demo(
        volspike_train::train::TrainConfig::default(),
        DemoRegime::Relation,
    )
    .await;
    let registry = dir.path().join("models");
    assert_eq!(got.replay_difference, None);
    let drift = got.drift.expect("the worker ran");
    let s = &drift.status;
    assert_eq!(drift.summary.retrains, 1);
    let d = s.last_decision.as_ref().expect("a retrain decision");
    assert!(d.triggers.iter().any(|t| t.starts_with("drift")), "{d:#?}");
    // The retrain's data is the new regime's.
    assert!(d.data.as_ref().unwrap().span_ns.0 >= change_ns, "{d:#?}");
    assert_eq!(d.verdict, Verdict::Promoted, "{d:#?}");
    let gain = d.difference.expect("a paired difference");
    assert!(gain.lower > 0.0 && gain.estimate >= d.margin, "{gain:?}");
    assert!(
        d.champion
            .as_ref()
            .and_then(|c| c.alerts.as_ref())
            .is_some()
            && d.challenger
                .as_ref()
                .and_then(|c| c.alerts.as_ref())
                .is_some(),
        "{d:#?}"
    );
    let local = LocalRegistry::new(&registry);
    let name = &cfg.registry.model_name;
    assert_eq!(local.alias(name, CHAMPION).await.unwrap(), Some(2));
    assert_eq!(local.alias(name, PREVIOUS).await.unwrap(), Some(1));
    let inference = got.inference.unwrap();
    assert_eq!(inference.model.unwrap().version, "2");
    assert!(
        inference
            .published_alerts
            .iter()
            .any(|a| a.model.version == "2"),
        "version 2 alerts before the end"
    );
    assert_eq!(s.outcomes.join.late, 0, "{:?}", s.outcomes);
}

/// `volspike demo --level-regime`: the regime change is a change of level,
/// which the default label divides out: live performance dips while the
/// trailing windows catch up, the worker retrains (on the last hour,
/// mostly the old regime), and the gate keeps the champion. The server
/// ends on version 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_with_a_level_change_keeps_its_champion() {
    use volspike_drift_worker::report::Verdict;
    use volspike_model::registry::{CHAMPION, LocalRegistry, Registry as _};
    let DriftDemo {
        cfg,
        dir,
        change_ns,
        got,
    } = drift_demo(
        volspike_train::train::TrainConfig::default(),
        DemoRegime::Level,
    )
    .await;
    let registry = dir.path().join("models");
    assert_eq!(got.replay_difference, None);
    let drift = got.drift.expect("the worker ran");
    let s = &drift.status;
    assert_eq!(drift.summary.retrains, 1);
    let d = s.last_decision.as_ref().expect("a retrain decision");
    assert!(d.at_ns > change_ns, "{d:#?}");
    assert_eq!(d.verdict, Verdict::RefusedGate, "{d:#?}");
    let gain = d.difference.expect("a paired difference");
    assert!(gain.estimate < d.margin || gain.lower <= 0.0, "{gain:?}");
    // Both models' alerts on the holdout are in the decision.
    assert!(
        d.champion
            .as_ref()
            .and_then(|c| c.alerts.as_ref())
            .is_some()
            && d.challenger
                .as_ref()
                .and_then(|c| c.alerts.as_ref())
                .is_some(),
        "{d:#?}"
    );
    let local = LocalRegistry::new(&registry);
    let name = &cfg.registry.model_name;
    assert_eq!(local.alias(name, CHAMPION).await.unwrap(), Some(1));
    assert_eq!(got.inference.unwrap().model.unwrap().version, "1");
    assert!(s.outcomes.join.matured > 1000, "{:?}", s.outcomes);
    assert_eq!(s.outcomes.join.late, 0, "{:?}", s.outcomes);
}
