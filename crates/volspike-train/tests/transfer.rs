//! The label on the shared recordings of six recorders
//! (`../shared/data/coinbase`, one folder per recorder). Skips, saying so,
//! when `../shared` is absent (a user's clone).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use volspike_core::{FeatureRow, Tick};
use volspike_features::EngineConfig;
use volspike_model::reference::quantile;
use volspike_replay::recordings::{decode_files, expand_globs, order_by_first_tick};
use volspike_replay::replay::{replay, replay_ticks};
use volspike_train::dataset::{self, LabelConfig, LabelKind, LabelReturns};
use volspike_train::train::{TrainConfig, fit_models, prepare_grouped};
use volspike_train::transfer::{GroupRate, leave_one_out_spike_rates, rate_spread};

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/coinbase");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

fn recorders() -> Option<Vec<(String, Vec<FeatureRow>)>> {
    let dir = shared()?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Some(
        names
            .into_iter()
            .map(|name| {
                let pattern = format!("{}/{name}/**/*.ndjson", dir.display());
                let files = order_by_first_tick(expand_globs(&[pattern]).unwrap()).unwrap();
                let (rows, _) = replay(&files, &EngineConfig::default()).unwrap();
                (name, rows)
            })
            .collect(),
    )
}

fn show(title: &str, rates: &[GroupRate]) {
    eprintln!("{title}");
    for g in rates {
        eprintln!(
            "  {:<22} {:>7} rows  rate {:?}",
            g.group, g.rows, g.spike_rate
        );
    }
}

/// Each recorder's spike rate with tau from the other recorders. The
/// recordings are of different days, and the market's level differs up to
/// 5x between them (a calm Saturday morning, a wild Sunday evening): under
/// the absolute label no definition transfers (0% to 87% spikes, printed).
/// The relative label divides by the trailing volatility: on either
/// returns its rates spread less than half as much as the absolute tick
/// label's (the old default). The new default, relative on clock returns,
/// is one of the two.
#[test]
fn the_relative_label_spreads_less_across_recorders_than_the_absolute_one() {
    let Some(groups) = recorders() else { return };
    let mut spread = HashMap::new();
    for kind in [LabelKind::Absolute, LabelKind::Relative] {
        for returns in [LabelReturns::Clock, LabelReturns::Tick] {
            let rates = leave_one_out_spike_rates(&groups, &label(kind, returns), true).unwrap();
            show(&format!("{kind:?} label on {returns:?} returns"), &rates);
            let s = rate_spread(&rates, 500);
            eprintln!("  spread (highest / lowest): {s:?}");
            spread.insert(format!("{kind:?} {returns:?}"), s);
        }
    }
    let old = spread["Absolute Tick"].unwrap();
    for returns in ["Clock", "Tick"] {
        let s = spread[&format!("Relative {returns}")].unwrap();
        assert!(
            s < old / 2.0,
            "relative {returns} spread {s} against the absolute tick label's {old}"
        );
    }
}

fn label(kind: LabelKind, returns: LabelReturns) -> LabelConfig {
    LabelConfig {
        kind,
        returns,
        step: Duration::from_secs(1),
        ..LabelConfig::default()
    }
}

/// The same market through a recorder that kept only the last ticker of
/// each second (as recorders that sample or drop messages do). Under tau
/// from the full recording, the kept rows' clock labels make as many
/// spikes as the full recording's labels of the same rows; the tick
/// label's do not.
#[test]
fn a_recorder_that_keeps_one_ticker_a_second_gets_the_spikes_of_the_full_one() {
    let Some(dir) = shared() else { return };
    let files = [dir.join("at-flat-multi/BTC-ETH_20260404_031918_2h.ndjson")];
    let mut ticks: Vec<Tick> = Vec::new();
    decode_files(&files, |chunk| {
        ticks.extend(chunk.ticks);
        Ok(())
    })
    .unwrap();
    let mut last: HashMap<(String, i64), usize> = HashMap::new();
    for (i, t) in ticks.iter().enumerate() {
        last.insert(
            (
                t.product_id.to_string(),
                t.event_time_ns.div_euclid(1_000_000_000),
            ),
            i,
        );
    }
    let mut kept: Vec<usize> = last.into_values().collect();
    kept.sort_unstable();
    let thin: Vec<Tick> = kept.iter().map(|&i| ticks[i].clone()).collect();
    let (full_rows, _) = replay_ticks(&ticks, &EngineConfig::default());
    let (thin_rows, _) = replay_ticks(&thin, &EngineConfig::default());
    eprintln!("ticks: {} full, {} kept", ticks.len(), thin.len());
    let mut gaps = HashMap::new();
    for returns in [LabelReturns::Clock, LabelReturns::Tick] {
        for kind in [LabelKind::Absolute, LabelKind::Relative] {
            let l = label(kind, returns);
            let (full, _) = dataset::build(&full_rows, &[], &l, true).unwrap();
            let (thinned, _) = dataset::build(&thin_rows, &[], &l, true).unwrap();
            let tau = quantile(&full.target, 0.9).unwrap();
            // The full recording's label of each kept row (the last row at
            // its time: rows are in time order, ties last).
            let mut full_at: HashMap<(&str, i64), f64> = HashMap::new();
            for i in 0..full.len() {
                full_at.insert(
                    (full.product[i].as_str(), full.event_time_ns[i]),
                    full.target[i],
                );
            }
            let (mut same_rows, mut full_spikes, mut thin_spikes) = (0usize, 0usize, 0usize);
            for i in 0..thinned.len() {
                if let Some(&y) =
                    full_at.get(&(thinned.product[i].as_str(), thinned.event_time_ns[i]))
                {
                    same_rows += 1;
                    full_spikes += usize::from(y >= tau);
                    thin_spikes += usize::from(thinned.target[i] >= tau);
                }
            }
            let (full_rate, thin_rate) = (
                full_spikes as f64 / same_rows as f64,
                thin_spikes as f64 / same_rows as f64,
            );
            eprintln!(
                "{kind:?} {returns:?}: {same_rows} kept rows, spikes {full_rate:.3} in the full recording, {thin_rate:.3} in the thinned one"
            );
            gaps.insert(
                format!("{kind:?} {returns:?}"),
                (thin_rate - full_rate).abs(),
            );
        }
    }
    // The clock's whole seconds see the same last prices in both
    // recordings: the kept rows' clock labels are the full recording's (to
    // the fixed point's rounding), and so are their spikes. The absolute
    // tick label more than doubles them.
    for kind in [LabelKind::Absolute, LabelKind::Relative] {
        let clock = gaps[&format!("{kind:?} Clock")];
        assert!(
            clock < 0.001,
            "{kind:?}: thinning moves the clock label's spike rate by {clock}"
        );
    }
    let tick = gaps["Absolute Tick"];
    assert!(
        tick > 0.1,
        "thinning moves the absolute tick label's spike rate by only {tick}"
    );

    // The inputs too: at each kept row (the last of its second) the clock
    // volatilities are the full recording's, to the rounding of the fixed
    // point, except where the two segments start differently (the first
    // second's return runs from the segment's first tick, which the thinned
    // recording dropped) for the window's length; the tick volatilities
    // differ everywhere.
    let full_at: HashMap<(&str, i64), &FeatureRow> = full_rows
        .iter()
        .map(|r| ((r.product_id.as_str(), r.event_time_ns), r))
        .collect();
    let rel = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some((a - b).abs() / a),
        _ => None,
    };
    let (mut clock_same, mut clock_all, mut tick) = (0usize, 0usize, Vec::new());
    for r in &thin_rows {
        let f = full_at[&(r.product_id.as_str(), r.event_time_ns)];
        for (a, b) in [
            (f.clock_volatility_10s, r.clock_volatility_10s),
            (f.clock_volatility_1min, r.clock_volatility_1min),
            (f.clock_volatility_5min, r.clock_volatility_5min),
        ] {
            if let Some(d) = rel(a, b) {
                clock_all += 1;
                clock_same += usize::from(d < 1e-6);
            }
        }
        tick.extend(rel(f.price_volatility_1min, r.price_volatility_1min));
    }
    tick.sort_by(f64::total_cmp);
    let tick_median = tick[tick.len() / 2];
    let same = clock_same as f64 / clock_all as f64;
    eprintln!(
        "kept rows: {:.1}% of clock volatilities within 1e-6 of the full recording's; 1-min tick volatility off by {:.0}% (median)",
        100.0 * same,
        100.0 * tick_median
    );
    assert!(same > 0.95, "{same}");
    assert!(tick_median > 0.1, "{tick_median}");
}

/// Acceptance of the default model (`docs/models.md`): trained on the
/// shared recordings with every default, each recording split in time on
/// its own (what `volspike train` does with one file per recorder), the
/// logistic regression ranks the test split's spikes better than the
/// baseline, is the one training puts forward, and its calibrated scores
/// are within 0.05 of the observed spike rates (expected calibration error).
#[test]
fn the_default_model_beats_the_baseline_and_is_calibrated_on_test() {
    let Some(groups) = recorders() else { return };
    let cfg = TrainConfig::default();
    let parts: Vec<&[FeatureRow]> = groups.iter().map(|(_, rows)| rows.as_slice()).collect();
    let prepared = prepare_grouped(&parts, &cfg).unwrap();
    let r = fit_models(prepared, &cfg, |_| {}).unwrap();
    let test = |name: &str| {
        &r.models
            .iter()
            .find(|m| m.model.name() == name)
            .unwrap()
            .test
    };
    let (logistic, baseline) = (test("logistic"), test("baseline"));
    eprintln!("logistic test {logistic:?}\nbaseline test {baseline:?}");
    assert!(logistic.pr_auc.unwrap() > baseline.pr_auc.unwrap());
    assert_eq!(r.best().unwrap().model.name(), "logistic");
    let ece = logistic.ece.unwrap();
    assert!(ece <= 0.05, "test ECE {ece}");
}
