//! Training on a simulated market: deterministic, independent of row order,
//! and leak-free across splits.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use volspike_features::EngineConfig;
use volspike_train::dataset::LabelKind;
use volspike_train::train::{TrainConfig, train};

/// Feature rows of `minutes` of a simulated BTC-USD and ETH-USD market.
fn simulated_rows(minutes: u64) -> Vec<volspike_core::FeatureRow> {
    simulated_market(minutes, 5, 1_767_225_600_000_000_000)
}

/// Feature rows of `minutes` of the simulated market `seed` from `start_ns`.
fn simulated_market(minutes: u64, seed: u64, start_ns: i64) -> Vec<volspike_core::FeatureRow> {
    let ticks = volspike_sim::simulate_ticks(&volspike_sim::MarketConfig {
        products: vec!["BTC-USD".into(), "ETH-USD".into()],
        start_ns,
        seconds: minutes * 60,
        seed,
        regime: None,
    });
    volspike_replay::replay_ticks(&ticks, &EngineConfig::default()).0
}

#[test]
fn shuffled_input_gives_the_same_models_and_no_label_crosses_a_split() {
    let rows = simulated_rows(90);
    let cfg = TrainConfig::default();
    assert_eq!(cfg.label.kind, LabelKind::Relative);
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

#[test]
fn no_test_label_window_overlaps_a_training_row() {
    let rows = simulated_rows(60);
    let cfg = TrainConfig::default();
    let (data, counts) = volspike_train::train::build_dataset(&rows, &cfg).unwrap();
    let p = volspike_train::train::prepare(data, counts, &cfg).unwrap();
    let h = cfg.label.horizon.as_nanos() as i64;
    let t = &p.data.event_time_ns;
    let train = &t[p.splits.train.clone()];
    let last_train = *train.last().unwrap();
    // Every later split starts more than one horizon after the last
    // training row, so no training row is inside a later row's window
    // (t, t + h] and no training label reads a later row's ticks.
    for later in [&p.splits.validation, &p.splits.test] {
        assert!(last_train + h < t[later.start]);
        for &ti in &t[later.clone()] {
            assert!(train.iter().all(|&tr| tr <= ti || tr > ti + h));
        }
    }
    assert!(t[p.splits.validation.end - 1] + h < t[p.splits.test.start]);
}

#[test]
fn evaluate_labels_new_rows_with_the_models_own_tau() {
    let rows = simulated_rows(60);
    // The absolute label: the rows of the test period alone label every
    // test row (the relative one needs 5 minutes before each).
    let cfg = TrainConfig::tick_label();
    let report = train(&rows, &cfg).unwrap();
    let (data, _) = volspike_train::train::build_dataset(&rows, &cfg).unwrap();
    let test_start = data.event_time_ns[report.splits.test.start];
    // The rows of the test period alone, as a user would hand them over.
    let later: Vec<_> = rows
        .iter()
        .filter(|r| r.event_time_ns >= test_start)
        .cloned()
        .collect();
    for trained in &report.models {
        let file = report.model_file(trained);
        let e = volspike_train::evaluate::evaluate(&file, &later).unwrap();
        assert_eq!(e.predictions.len(), report.splits.test.len());
        assert_eq!(
            e.metrics.as_ref(),
            Some(&trained.test),
            "{}: evaluate reproduces the test metrics of training",
            trained.model.name()
        );
    }
}

/// Platt scaling changes what a score means, not how it ranks: PR-AUC and
/// ROC-AUC stay, and validation scores move to the observed spike rate
/// (the balanced class weights put them far above it).
#[test]
fn calibration_keeps_the_ranking_and_brings_scores_to_the_spike_rate() {
    use volspike_train::train::CalibrationMethod;
    let rows = simulated_rows(60);
    let raw = train(
        &rows,
        &TrainConfig {
            calibration: CalibrationMethod::None,
            ..TrainConfig::tick_label()
        },
    )
    .unwrap();
    let calibrated = train(&rows, &TrainConfig::tick_label()).unwrap();
    for (r, c) in raw.models.iter().zip(&calibrated.models) {
        let name = c.model.name();
        assert!(r.model.calibration.is_none(), "{name}");
        assert!(c.model.calibration.is_some(), "{name} is calibrated");
        for (a, b) in [(&r.validation, &c.validation), (&r.test, &c.test)] {
            let (pa, pb) = (a.pr_auc.unwrap(), b.pr_auc.unwrap());
            assert!((pa - pb).abs() < 1e-9, "{name}: PR-AUC {pa} -> {pb}");
            assert_eq!(a.confusion, b.confusion, "{name}: the same decisions");
        }
        let (ea, eb) = (r.validation.ece.unwrap(), c.validation.ece.unwrap());
        eprintln!(
            "{name}: validation ECE {ea:.4} -> {eb:.4}, test {:.4} -> {:.4}",
            r.test.ece.unwrap(),
            c.test.ece.unwrap()
        );
        assert!(eb < ea && eb < 0.05, "{name}: validation ECE {ea} -> {eb}");
        // The mean calibrated score is near the validation spike rate.
        let mean = c.score_reference.mean;
        let rate = c.validation.base_rate;
        assert!(
            (mean - rate).abs() < 0.02,
            "{name}: mean score {mean}, rate {rate}"
        );
    }
}

/// Grouped preparation splits each group in time on its own: validation
/// and test hold rows of every group, tau comes from every group's training
/// rows, and no label window crosses a split within a group.
#[test]
fn grouped_splits_hold_the_end_of_every_group() {
    let start = 1_767_225_600_000_000_000;
    let first = simulated_market(60, 5, start);
    let second = simulated_market(60, 6, start + 86_400 * 1_000_000_000);
    let cfg = TrainConfig::default();
    let p = volspike_train::train::prepare_grouped(&[&first, &second], &cfg).unwrap();
    let t = &p.data.event_time_ns;
    let h = cfg.label.horizon.as_nanos() as i64;
    let second_start = second[0].event_time_ns - h;
    for (name, r) in [
        ("train", &p.splits.train),
        ("validation", &p.splits.validation),
        ("test", &p.splits.test),
    ] {
        let times = &t[r.clone()];
        assert!(
            times.iter().any(|&x| x < second_start),
            "{name}: first group"
        );
        assert!(
            times.iter().any(|&x| x >= second_start),
            "{name}: second group"
        );
    }
    // Within a group, training ends more than a horizon before its
    // validation starts.
    let in_first = |x: &i64| *x < second_start;
    let last_train = t[p.splits.train.clone()]
        .iter()
        .copied()
        .filter(in_first)
        .max();
    let first_val = t[p.splits.validation.clone()]
        .iter()
        .copied()
        .filter(in_first)
        .min();
    assert!(last_train.unwrap() + h < first_val.unwrap());
    let train_targets = &p.data.target[p.splits.train.clone()];
    let tau = volspike_train::dataset::quantile(train_targets, cfg.label.quantile).unwrap();
    assert_eq!(p.tau, tau);
}
