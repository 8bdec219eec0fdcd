//! Training on a simulated market: deterministic, independent of row order,
//! and leak-free across splits.

mod common;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use volspike_cli::replay::replay;
use volspike_model::dataset::{LabelConfig, LabelKind};
use volspike_model::train::{TrainConfig, train};

fn simulated_rows(minutes: u64) -> Vec<volspike_core::FeatureRow> {
    let dir = tempfile::tempdir().unwrap();
    let file = common::simulated(dir.path(), minutes * 60, 5);
    let cfg = volspike_runtime::Config::defaults();
    replay(&[file], &cfg.features).unwrap().0
}

#[test]
fn shuffled_input_gives_the_same_models_and_no_label_crosses_a_split() {
    let rows = simulated_rows(90);
    let cfg = TrainConfig {
        label: LabelConfig {
            kind: LabelKind::Relative,
            ..LabelConfig::default()
        },
        ..TrainConfig::default()
    };
    let a = train(&rows, &cfg).unwrap();
    let mut shuffled = rows.clone();
    shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let b = train(&shuffled, &cfg).unwrap();
    assert_eq!(a, b, "the same models, bit for bit, whatever the row order");

    assert!(a.counts.rows_out > 10_000, "{:?}", a.counts);
    assert!(a.splits.embargoed > 0);
    assert!((a.spike_rates[0] - 0.1).abs() < 0.01, "{:?}", a.spike_rates);
    // The relative label rewards volatility that is new, so the baseline's
    // rule (high 1-minute volatility) can rank worse than chance here; the
    // logistic regression learns the direction and must beat chance.
    let logistic = a
        .models
        .iter()
        .find(|m| m.model.name() == "logistic")
        .unwrap();
    for metrics in [&logistic.validation, &logistic.test] {
        let pr = metrics.pr_auc.unwrap();
        assert!(pr > 1.5 * metrics.base_rate, "{metrics:?}");
    }
}
