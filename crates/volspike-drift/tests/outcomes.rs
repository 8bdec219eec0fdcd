//! The outcome join against `volspike evaluate`: on random multi-product
//! streams (ties, gaps, segments, predictions arriving before or long after
//! their rows, redeliveries, ids with no row), no outcome is published
//! before its own product has passed the forward window, and every joined
//! label and target equals the batch evaluation's on the same row.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use proptest::prelude::*;
use volspike_core::{
    FeatureRow, ModelId, Prediction, PredictionOutcome, SCORING_SCHEMA_VERSION, prediction_id,
};
use volspike_drift::outcomes::{Joiner, Labeling};
use volspike_model::artifact::{FORMAT_VERSION, ModelFile};
use volspike_model::label::{LabelConfig, LabelKind, LabelReturns};
use volspike_model::model::{Model, Params, Scaler};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

/// One product's rows from (seconds to the next tick, return in 1e-4,
/// whether a gap comes first) steps; a step of 0 s makes a tie.
fn series(product: &str, steps: &[(i64, i32, bool)]) -> Vec<FeatureRow> {
    let mut rows: Vec<FeatureRow> = Vec::new();
    let (mut t, mut price) = (T0, 100.0_f64);
    for (k, &(dt, dr, gap)) in steps.iter().enumerate() {
        let starts = k == 0 || gap;
        t += if gap { 45 * S + dt * S } else { dt * S };
        let tie = match rows.last() {
            Some(p) if p.event_time_ns == t => p.tie + 1,
            _ => 0,
        };
        let lr = f64::from(dr) * 1e-4;
        price *= lr.exp();
        rows.push(FeatureRow {
            tie,
            segment_start: starts,
            log_return: (!starts).then_some(lr),
            mid_price: Some(price),
            ..FeatureRow::bare(product, t, price)
        });
    }
    rows
}

/// A model on `mid_price` that labels with `label` and `tau`.
fn model_file(label: LabelConfig, tau: f64) -> ModelFile {
    let m = volspike_model::metrics::evaluate(&[true, false], &[0.9, 0.1], 0.5).unwrap();
    ModelFile {
        format_version: FORMAT_VERSION,
        name: "logistic".into(),
        model: Model {
            feature_names: vec!["mid_price".into()],
            scaler: Scaler {
                mean: vec![100.0],
                scale: vec![1.0],
                ..Scaler::default()
            },
            params: Params::Logistic {
                coef: vec![1.0],
                intercept: 0.0,
            },
            calibration: None,
            threshold: 0.5,
            warm_only: false,
        },
        label,
        tau,
        train_span_ns: (0, 1),
        validation: m.clone(),
        test: m,
        importances: vec![1.0],
        reference: Vec::new(),
        score_reference: None,
        training: None,
        alert_policy: None,
        validation_alerts: None,
        test_alerts: None,
    }
}

fn prediction(row: &FeatureRow, model: &ModelId) -> Prediction {
    Prediction {
        schema_version: SCORING_SCHEMA_VERSION,
        prediction_id: prediction_id(&row.product_id, row.event_time_ns, row.tie, model),
        product_id: row.product_id.to_string(),
        event_time_ns: row.event_time_ns,
        tie: row.tie,
        features: BTreeMap::new(),
        probability: 0.5,
        spike: true,
        threshold: 0.5,
        model: model.clone(),
    }
}

/// What arrives at the worker, in order.
// Test data, not a hot path: the size of a row is fine.
#[allow(clippy::large_enum_variant)]
enum Event {
    Row(FeatureRow),
    Prediction(Prediction),
}

type Key = (String, i64, u32);

fn steps() -> impl Strategy<Value = Vec<(i64, i32, bool)>> {
    proptest::collection::vec(
        (
            prop_oneof![Just(0i64), 1i64..8, 8i64..40],
            -30i32..30,
            proptest::bool::weighted(0.02),
        ),
        1..260,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn outcomes_are_mature_of_their_own_product_and_equal_evaluate(
        a in steps(),
        b in steps(),
        relative in any::<bool>(),
        clock in any::<bool>(),
        tau_e5 in 1u32..40,
        order_seed in any::<u64>(),
        lags in proptest::collection::vec(-20i64..120, 600),
        picks in proptest::collection::vec(0u8..10, 600),
    ) {
        let label = LabelConfig {
            kind: if relative { LabelKind::Relative } else { LabelKind::Absolute },
            horizon: Duration::from_secs(60),
            quantile: 0.9,
            lookback: Duration::from_secs(120),
            returns: if clock { LabelReturns::Clock } else { LabelReturns::Tick },
            step: Duration::from_secs(1),
        };
        let tau = if relative { f64::from(tau_e5) / 10.0 } else { f64::from(tau_e5) * 1e-5 };
        let file = model_file(label.clone(), tau);
        let labeling = Labeling { label: label.clone(), tau };
        let horizon = 60 * S;
        let model = ModelId { name: "volspike".into(), version: "7".into(), kind: "logistic".into() };

        let streams = [series("BTC-USD", &a), series("ETH-USD", &b)];
        // A random merge that keeps each product's order, as two partitions
        // read by one consumer.
        let mut merged: Vec<&FeatureRow> = Vec::new();
        let (mut i, mut j, mut seed) = (0, 0, order_seed);
        while i < streams[0].len() || j < streams[1].len() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let take_a = j == streams[1].len() || (i < streams[0].len() && (seed >> 33) & 1 == 0);
            if take_a { merged.push(&streams[0][i]); i += 1; } else { merged.push(&streams[1][j]); j += 1; }
        }
        let last_of: HashMap<&str, i64> = streams.iter()
            .filter_map(|s| s.last().map(|r| (r.product_id.as_str(), r.event_time_ns)))
            .collect();
        let mut ghosts_due = 0u64;
        let mut predicted: std::collections::HashSet<Key> = std::collections::HashSet::new();
        // Predictions for most rows (some twice, some for rows that do not
        // exist), each arriving some rows before or after its row.
        let mut arrivals: Vec<(i64, usize, Prediction)> = Vec::new();
        for (pos, row) in merged.iter().enumerate() {
            let pick = picks[pos % picks.len()];
            let lag = lags[pos % lags.len()];
            if pick == 0 { continue; }
            let p = prediction(row, &model);
            predicted.insert((p.product_id.clone(), p.event_time_ns, p.tie));
            if pick == 1 {
                arrivals.push((pos as i64 + lag + 7, 1, p.clone()));
            }
            if pick == 2 {
                ghosts_due += u64::from(last_of[row.product_id.as_str()] > row.event_time_ns + horizon);
                let mut ghost = p.clone();
                ghost.tie += 50;
                ghost.prediction_id = prediction_id(&ghost.product_id, ghost.event_time_ns, ghost.tie, &model);
                arrivals.push((pos as i64 + lag, 2, ghost));
            }
            arrivals.push((pos as i64 + lag, 0, p));
        }
        arrivals.sort_by_key(|(at, n, _)| (*at, *n));
        let mut events: Vec<Event> = Vec::new();
        let mut next = arrivals.into_iter().peekable();
        for (pos, row) in merged.iter().enumerate() {
            while let Some((_, _, p)) = next.next_if(|(at, _, _)| *at < pos as i64) {
                events.push(Event::Prediction(p));
            }
            events.push(Event::Row((*row).clone()));
        }
        events.extend(next.map(|(_, _, p)| Event::Prediction(p)));

        // Stream them through the joiner, checking each outcome as it comes.
        let mut joiner = Joiner::new(Duration::from_secs(86_400));
        let mut last_time: HashMap<String, i64> = HashMap::new();
        let mut outcomes: Vec<PredictionOutcome> = Vec::new();
        let mut sent = 0u64;
        for e in events {
            match e {
                Event::Row(r) => {
                    last_time.insert(r.product_id.to_string(), r.event_time_ns);
                    for o in joiner.push_row(&r) {
                        prop_assert_eq!(&o.product_id, r.product_id.as_str(), "matured by another product's row");
                        prop_assert_eq!(o.matured_at_ns, r.event_time_ns);
                        prop_assert!(o.matured_at_ns > o.event_time_ns + horizon, "immature");
                        outcomes.push(o);
                    }
                }
                Event::Prediction(p) => {
                    sent += 1;
                    let product = p.product_id.clone();
                    if let Some(o) = joiner.push_prediction(p, &labeling) {
                        let seen = last_time.get(&product).copied().unwrap_or(i64::MIN);
                        prop_assert!(o.matured_at_ns > o.event_time_ns + horizon, "immature");
                        prop_assert!(o.matured_at_ns <= seen, "matured by a row not yet seen");
                        outcomes.push(o);
                    }
                }
            }
        }

        // The batch evaluation of the same rows with the same model file.
        let all: Vec<FeatureRow> = merged.iter().map(|r| (*r).clone()).collect();
        let eval = volspike_train::evaluate::evaluate(&file, &all).unwrap();
        let batch: HashMap<Key, (f64, bool)> = eval
            .predictions
            .iter()
            .map(|p| ((p.product_id.clone(), p.event_time_ns, p.tie), (p.target, p.label)))
            .collect();

        let c = joiner.counts();
        prop_assert_eq!(c.predictions, sent);
        prop_assert_eq!(c.late, 0);
        prop_assert_eq!(c.expired, 0);
        prop_assert_eq!(
            c.matured + c.incomplete + c.late + c.unmatched + c.duplicates + c.expired + joiner.pending() as u64,
            c.predictions
        );
        prop_assert_eq!(c.matured, outcomes.len() as u64);
        let mut joined: HashMap<Key, &PredictionOutcome> = HashMap::new();
        for o in &outcomes {
            let k = (o.product_id.clone(), o.event_time_ns, o.tie);
            prop_assert!(joined.insert(k.clone(), o).is_none(), "two outcomes for {:?}", k);
            let &(target, label) = batch.get(&k).expect("evaluate labels every joined row");
            prop_assert_eq!(o.target.to_bits(), target.to_bits(), "target of {:?}", k);
            prop_assert_eq!(o.label, label);
            prop_assert_eq!(o.tau, tau);
        }
        // Every predicted row the batch labels and whose window the stream
        // passed has its outcome: nothing is lost.
        for r in &all {
            let k = (r.product_id.to_string(), r.event_time_ns, r.tie);
            if predicted.contains(&k) && batch.contains_key(&k) && last_of[r.product_id.as_str()] > r.event_time_ns + horizon {
                prop_assert!(joined.contains_key(&k), "no outcome for {:?}", k);
            }
        }
        // The ids with no row are unmatched once their window passed.
        prop_assert_eq!(c.unmatched, ghosts_due);
    }
}

/// Version 1 of `volspike` and its labeling (the absolute label, which
/// needs no trailing history, tau 1e-4).
fn model_one() -> (ModelId, Labeling) {
    let model = ModelId {
        name: "volspike".into(),
        version: "1".into(),
        kind: "logistic".into(),
    };
    let labeling = Labeling {
        label: LabelConfig {
            kind: LabelKind::Absolute,
            ..LabelConfig::default()
        },
        tau: 1e-4,
    };
    (model, labeling)
}

#[test]
fn predictions_older_than_the_history_kept_are_late_and_quiet_products_expire() {
    let rows = series("BTC-USD", &[(1, 1, false); 400]);
    let (model, labeling) = model_one();
    let mut j = Joiner::new(Duration::from_secs(120));
    for r in &rows {
        j.push_row(r);
    }
    // Row 0 is 400 s back, beyond the 120 s kept.
    assert!(
        j.push_prediction(prediction(&rows[0], &model), &labeling)
            .is_none()
    );
    assert_eq!(j.counts().late, 1);
    // Row 300 is kept and its window has passed: joined at once.
    let o = j
        .push_prediction(prediction(&rows[300], &model), &labeling)
        .expect("joined");
    assert_eq!(o.matured_at_ns, rows[361].event_time_ns);
    // A redelivery of it is a duplicate.
    assert!(
        j.push_prediction(prediction(&rows[300], &model), &labeling)
            .is_none()
    );
    assert_eq!(j.counts().duplicates, 1);
    // The last row's window never passes; once another product is far
    // ahead, it expires.
    assert!(
        j.push_prediction(prediction(&rows[399], &model), &labeling)
            .is_none()
    );
    assert_eq!(j.pending(), 1);
    let far = series("ETH-USD", &[(1, 1, false)])[0].event_time_ns + 3600 * S;
    assert_eq!(j.expire(far), 1);
    let c = j.counts();
    assert_eq!(
        (c.predictions, c.matured, c.late, c.duplicates, c.expired),
        (4, 1, 1, 1, 1)
    );
}

#[test]
fn rows_that_run_ahead_of_the_predictions_are_kept_until_they_catch_up() {
    // 400 rows a second apart, read long before their predictions (a
    // consumer catching up), with a retention of 120 s.
    let rows = series("BTC-USD", &[(1, 1, false); 400]);
    let (model, labeling) = model_one();
    let mut j = Joiner::new(Duration::from_secs(120));
    let mut outcomes = Vec::new();
    outcomes.extend(j.push_prediction(prediction(&rows[0], &model), &labeling));
    for r in &rows {
        outcomes.extend(j.push_row(r));
    }
    for r in &rows[1..] {
        outcomes.extend(j.push_prediction(prediction(r, &model), &labeling));
    }
    let c = j.counts();
    assert_eq!(c.late, 0);
    // Every row with 60 s of future after it is joined; the rest wait.
    assert_eq!(c.matured, 339);
    assert_eq!(outcomes.len(), 339);
    assert_eq!(j.pending(), 61);
}
