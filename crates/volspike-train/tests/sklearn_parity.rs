//! Every metric equals scikit-learn's on the same labels and scores, to 1e-9.
//! The fixtures come from `scripts/python/make_metric_fixtures.py` (run it
//! to regenerate them; its versions are pinned in
//! `scripts/python/requirements.txt`).

use serde_json::Value;
use volspike_train::metrics::{
    Confusion, RELIABILITY_BINS, evaluate, pr_curve, reliability, roc_curve,
};

const TOLERANCE: f64 = 1e-9;

fn fixtures() -> Value {
    let text = include_str!("fixtures/sklearn_metrics.json");
    serde_json::from_str(text).expect("fixture is JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// 0/1 labels as booleans.
fn labels(v: &Value) -> Vec<bool> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("0 or 1") == 1)
        .collect()
}

fn close(name: &str, what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOLERANCE,
        "{name}: {what} is {got}, scikit-learn says {want} (difference {:e})",
        (got - want).abs()
    );
}

fn close_all(name: &str, what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: {what} lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(name, &format!("{what}[{i}]"), *g, *w);
    }
}

#[test]
fn metrics_match_scikit_learn() {
    let doc = fixtures();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 7);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let y = labels(&c["y"]);
        let s = floats(&c["score"]);

        let pr = pr_curve(&y, &s).unwrap();
        close_all(
            name,
            "precision",
            &pr.precision,
            &floats(&c["pr_curve"]["precision"]),
        );
        close_all(
            name,
            "recall",
            &pr.recall,
            &floats(&c["pr_curve"]["recall"]),
        );
        close_all(
            name,
            "pr thresholds",
            &pr.thresholds,
            &floats(&c["pr_curve"]["thresholds"]),
        );
        let bins = reliability(&y, &s, RELIABILITY_BINS).unwrap();
        let diagram = &c["reliability"];
        let got = |f: fn(&volspike_train::metrics::ReliabilityBin) -> f64| -> Vec<f64> {
            bins.iter().map(f).collect()
        };
        close_all(
            name,
            "observed",
            &got(|b| b.observed),
            &floats(&diagram["observed"]),
        );
        close_all(
            name,
            "mean score",
            &got(|b| b.mean_score),
            &floats(&diagram["mean_score"]),
        );
        close_all(
            name,
            "bin rows",
            &got(|b| b.rows as f64),
            &floats(&diagram["rows"]),
        );

        let roc = roc_curve(&y, &s).unwrap().unwrap();
        close_all(name, "fpr", &roc.fpr, &floats(&c["roc_curve"]["fpr"]));
        close_all(name, "tpr", &roc.tpr, &floats(&c["roc_curve"]["tpr"]));
        close_all(
            name,
            "roc thresholds",
            &roc.thresholds,
            &floats(&c["roc_curve"]["thresholds"]),
        );

        for at in c["at_threshold"].as_array().unwrap() {
            let t = at["threshold"].as_f64().unwrap();
            let m = evaluate(&y, &s, t).unwrap();
            close(
                name,
                "average precision",
                m.pr_auc.unwrap(),
                c["average_precision"].as_f64().unwrap(),
            );
            close(
                name,
                "roc auc",
                m.roc_auc.unwrap(),
                c["roc_auc"].as_f64().unwrap(),
            );
            close(name, "brier", m.brier, c["brier"].as_f64().unwrap());
            close(
                name,
                "ece",
                m.ece.unwrap(),
                diagram["ece"].as_f64().unwrap(),
            );
            close(
                name,
                "base rate",
                m.base_rate,
                c["base_rate"].as_f64().unwrap(),
            );
            let what = |m: &str| format!("{m} at {t}");
            close(
                name,
                &what("precision"),
                m.precision,
                at["precision"].as_f64().unwrap(),
            );
            close(
                name,
                &what("recall"),
                m.recall,
                at["recall"].as_f64().unwrap(),
            );
            close(name, &what("f1"), m.f1, at["f1"].as_f64().unwrap());
            let cm = &at["confusion"];
            let want = Confusion {
                tn: cm["tn"].as_u64().unwrap(),
                fp: cm["fp"].as_u64().unwrap(),
                fn_: cm["fn"].as_u64().unwrap(),
                tp: cm["tp"].as_u64().unwrap(),
            };
            assert_eq!(m.confusion, want, "{name}: confusion at {t}");
        }
    }
}

/// The logistic regression reaches scikit-learn's solution (same objective:
/// L2 on the coefficients, unpenalized intercept, balanced weights
/// n / (2 n_class)). Both solvers stop at a tolerance, so coefficients agree
/// to 1e-5, not to the last bit.
#[test]
fn logistic_regression_matches_scikit_learn() {
    use volspike_model::model::Params;
    use volspike_train::train::{ClassWeight, fit_logistic};

    let doc: Value =
        serde_json::from_str(include_str!("fixtures/sklearn_logistic.json")).expect("JSON");
    let rows: Vec<Vec<f64>> = doc["x"].as_array().unwrap().iter().map(floats).collect();
    let width = rows[0].len();
    let z: Vec<f64> = rows.concat();
    let y: Vec<bool> = doc["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() == 1)
        .collect();
    for c in doc["cases"].as_array().unwrap() {
        let weight = match c["class_weight"].as_str().unwrap() {
            "balanced" => ClassWeight::Balanced,
            _ => ClassWeight::None,
        };
        let alpha = c["alpha"].as_f64().unwrap();
        let Params::Logistic { coef, intercept } =
            fit_logistic(&z, &y, width, alpha, weight).unwrap()
        else {
            panic!("not a logistic model")
        };
        let what = format!("alpha {alpha} {weight:?}");
        for (j, (g, w)) in coef.iter().zip(floats(&c["coef"])).enumerate() {
            assert!(
                (g - w).abs() < 1e-5,
                "{what}: coef[{j}] {g} vs scikit-learn {w}"
            );
        }
        let want = c["intercept"].as_f64().unwrap();
        assert!(
            (intercept - want).abs() < 1e-5,
            "{what}: intercept {intercept} vs {want}"
        );
    }
}

/// Platt scaling reaches scikit-learn's `_sigmoid_calibration` (what
/// `CalibratedClassifierCV(method="sigmoid")` fits): the same smoothed
/// targets and loss, solved by Newton's method here and by L-BFGS-B there.
/// The fits agree to 1e-5, and ours is never the worse optimum.
#[test]
fn platt_scaling_matches_scikit_learn() {
    use volspike_model::calibration::Calibration;
    use volspike_train::calibrate::fit_platt;

    let doc = fixtures();
    let cases = doc["platt"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let y = labels(&c["y"]);
        let margins = floats(&c["margin"]);
        let fitted = fit_platt(&margins, &y).expect("calibrates");
        let Calibration::Platt { a, b } = fitted;
        let (want_a, want_b) = (c["a"].as_f64().unwrap(), c["b"].as_f64().unwrap());
        let near = |got: f64, want: f64| (got - want).abs() <= 1e-5 * want.abs().max(1.0);
        assert!(near(a, want_a), "{name}: a {a} vs scikit-learn {want_a}");
        assert!(near(b, want_b), "{name}: b {b} vs scikit-learn {want_b}");
        for (i, (&m, want)) in margins.iter().zip(floats(&c["probability"])).enumerate() {
            let got = fitted.apply(m);
            assert!(
                (got - want).abs() < 1e-6,
                "{name}: probability[{i}] {got} vs scikit-learn {want}"
            );
        }
        // The same loss as the fixture's, at our solution: no larger.
        let (p1, n) = (y.iter().filter(|&&v| v).count() as f64, y.len() as f64);
        let (hi, lo) = ((p1 + 1.0) / (p1 + 2.0), 1.0 / (n - p1 + 2.0));
        let loss: f64 = margins
            .iter()
            .zip(&y)
            .map(|(&m, &v)| {
                let (t, p) = (if v { hi } else { lo }, fitted.apply(m));
                -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
            })
            .sum();
        let want_loss = c["loss"].as_f64().unwrap();
        assert!(
            loss <= want_loss + 1e-9 * want_loss,
            "{name}: loss {loss} above scikit-learn's {want_loss}"
        );
    }
}
