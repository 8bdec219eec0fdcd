//! The alert policy and the alert-level metrics equal an independent Python
//! implementation of their definitions (`scripts/python/alert_reference.py`)
//! on fixture predictions: the same alerts (product, time, tie, score,
//! threshold, bit for bit) and the same metrics to 1e-9.
//!
//! Fixtures: `tests/fixtures/alerts/shared.csv` (held-out predictions of a
//! leave-one-recorder-out logistic regression on the shared `at-flat-multi`
//! recording, its first 75 minutes), `synthetic.csv` (made by the script,
//! fixed seed) and `expected.json` (what the script computes). Rerun the
//! script after changing either side.

use std::time::Duration;

use serde_json::Value;
use volspike_model::alerts::{
    AlertAt, AlertEngine, AlertMetrics, BudgetConfig, LabeledRow, Levels, evaluate_alerts,
};

const TOLERANCE: f64 = 1e-9;
const HORIZON_NS: i64 = 60_000_000_000;

struct Row {
    product: String,
    event_time_ns: i64,
    tie: u32,
    score: f64,
    /// `None`: scored but not labeled.
    label: Option<bool>,
}

fn read(name: &str) -> Vec<Row> {
    let path = format!(
        "{}/tests/fixtures/alerts/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                product: f[0].to_owned(),
                event_time_ns: f[1].parse().expect("time"),
                tie: f[2].parse().expect("tie"),
                score: f[3].parse().expect("score"),
                label: (!f[4].is_empty()).then(|| matches!(f[4], "true" | "True" | "1")),
            }
        })
        .collect()
}

fn secs(v: &Value) -> Duration {
    Duration::from_secs(v.as_u64().expect("seconds"))
}

fn close(case: &str, what: &str, got: Option<f64>, want: &Value) {
    match (got, want.as_f64()) {
        (None, None) => {}
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= TOLERANCE * w.abs().max(1.0),
            "{case}: {what} is {g}, the reference says {w}"
        ),
        (g, _) => panic!("{case}: {what} is {g:?}, the reference says {want}"),
    }
}

fn check_metrics(case: &str, m: &AlertMetrics, want: &Value) {
    for (what, got) in [
        ("episodes", m.episodes),
        ("caught", m.caught),
        ("alerts", m.alerts),
        ("false_alerts", m.false_alerts),
    ] {
        assert_eq!(Some(got), want[what].as_u64(), "{case}: {what}");
    }
    close(case, "recall", m.recall, &want["recall"]);
    close(
        case,
        "market_hours",
        Some(m.market_hours),
        &want["market_hours"],
    );
    close(
        case,
        "alerts_per_hour",
        m.alerts_per_hour,
        &want["alerts_per_hour"],
    );
    close(
        case,
        "false_alerts_per_hour",
        m.false_alerts_per_hour,
        &want["false_alerts_per_hour"],
    );
    close(
        case,
        "alerts_per_caught_episode",
        m.alerts_per_caught_episode,
        &want["alerts_per_caught_episode"],
    );
    close(
        case,
        "random_recall",
        m.random_recall,
        &want["random_recall"],
    );
    let lead = &want["lead_time"];
    close(
        case,
        "lead median",
        m.lead_time.map(|l| l.median_s),
        &lead["median_s"],
    );
    close(
        case,
        "lead p10",
        m.lead_time.map(|l| l.p10_s),
        &lead["p10_s"],
    );
    close(
        case,
        "lead p90",
        m.lead_time.map(|l| l.p90_s),
        &lead["p90_s"],
    );
}

#[test]
fn alerts_and_alert_metrics_equal_the_python_reference() {
    let expected: Value = serde_json::from_str(include_str!("fixtures/alerts/expected.json"))
        .expect("expected.json is JSON");
    let cases = expected.as_array().expect("a list of cases");
    assert!(cases.len() >= 3);
    for case in cases {
        let file = case["file"].as_str().expect("file");
        let p = &case["policy"];
        let name = format!("{file} at {} per hour", p["per_hour"]);
        let cfg = BudgetConfig {
            per_hour: p["per_hour"].as_f64().expect("budget"),
            window: secs(&p["window_s"]),
            refresh: secs(&p["refresh_s"]),
            min_history: secs(&p["min_history_s"]),
            cooldown: secs(&p["cooldown_s"]),
        };
        let mut rows = read(file);
        let mut engine = AlertEngine::new(
            cfg.policy(Levels {
                threshold: case["fallback"].as_f64().expect("fallback"),
                rearm: case["fallback_rearm"]
                    .as_f64()
                    .expect("fallback re-arm level"),
            }),
        );
        rows.sort_by(|a, b| {
            (a.event_time_ns, &a.product, a.tie).cmp(&(b.event_time_ns, &b.product, b.tie))
        });
        let mut alerts = Vec::new();
        for r in &rows {
            let d = engine.observe(&r.product, r.event_time_ns, r.score);
            if d.alert {
                alerts.push((
                    r.product.as_str(),
                    r.event_time_ns,
                    r.tie,
                    r.score,
                    d.threshold,
                ));
            }
        }
        // The reference lists alerts product by product.
        alerts.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let want = case["alerts"].as_array().expect("alerts");
        assert_eq!(alerts.len(), want.len(), "{name}: alert count");
        for (got, w) in alerts.iter().zip(want) {
            let w = (
                w["product_id"].as_str().expect("product"),
                w["event_time_ns"].as_i64().expect("time"),
                u32::try_from(w["tie"].as_u64().expect("tie")).expect("tie"),
                w["probability"].as_f64().expect("score"),
                w["threshold"].as_f64().expect("threshold"),
            );
            assert_eq!(*got, w, "{name}: an alert");
        }
        let labeled: Vec<LabeledRow<'_>> = rows
            .iter()
            .filter_map(|r| {
                Some(LabeledRow {
                    product: &r.product,
                    event_time_ns: r.event_time_ns,
                    spike: r.label?,
                })
            })
            .collect();
        let at: Vec<AlertAt<'_>> = alerts
            .iter()
            .map(|a| AlertAt {
                product: a.0,
                event_time_ns: a.1,
            })
            .collect();
        let m = evaluate_alerts(&labeled, &at, HORIZON_NS);
        check_metrics(&name, &m, &case["metrics"]);
        assert!(
            m.caught > 0 && m.false_alerts > 0,
            "{name}: a case that tests both"
        );
    }
}
