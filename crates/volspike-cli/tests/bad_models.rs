//! Malformed model files (a tree node that is its own child, an input index
//! out of range, no inputs at all): `volspike evaluate` refuses each at once
//! with an error naming the problem, and `volspike models promote` refuses to
//! make one champion.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use volspike_model::artifact::{FORMAT_VERSION, ModelFile};
use volspike_model::forest::{Tree, TreeNode};
use volspike_model::label::LabelConfig;
use volspike_model::model::{Model, Params, Scaler};
use volspike_model::registry::{CHAMPION, LocalRegistry, Registry};

const INPUTS: [&str; 3] = [
    "price_volatility_1min",
    "trade_intensity",
    "bid_ask_spread_bps",
];

/// Runs `volspike ARGS`, killed after 20 s; the output and how long it took.
fn volspike(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_volspike"))
        .args(args)
        .env("VOLSPIKE__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn valid() -> ModelFile {
    let metrics =
        volspike_train::metrics::evaluate(&[true, false, true, false], &[0.9, 0.1, 0.6, 0.4], 0.5)
            .unwrap();
    ModelFile {
        format_version: FORMAT_VERSION,
        name: "forest".into(),
        model: Model {
            feature_names: INPUTS.iter().map(|s| s.to_string()).collect(),
            scaler: Scaler {
                mean: vec![1e-4, 30.0, 1.0],
                scale: vec![5e-5, 10.0, 0.5],
                ..Scaler::default()
            },
            params: Params::Forest {
                trees: vec![Tree {
                    nodes: vec![
                        split(0, 1, 2),
                        leaf(0.2),
                        split(1, 3, 4),
                        leaf(0.5),
                        leaf(0.9),
                    ],
                }],
            },
            calibration: None,
            threshold: 0.5,
            warm_only: false,
        },
        label: LabelConfig::default(),
        tau: 1e-4,
        train_span_ns: (1_700_000_000_000_000_000, 1_700_000_600_000_000_000),
        validation: metrics.clone(),
        test: metrics,
        importances: vec![0.5, 0.3, 0.2],
        reference: Vec::new(),
        score_reference: None,
        training: None,
        alert_policy: None,
        validation_alerts: None,
        test_alerts: None,
    }
}

fn split(feature: u32, left: u32, right: u32) -> TreeNode {
    TreeNode {
        feature,
        threshold: 0.0,
        left,
        right,
        value: 0.0,
    }
}

fn leaf(value: f64) -> TreeNode {
    TreeNode {
        feature: 0,
        threshold: 0.0,
        left: 0,
        right: 0,
        value,
    }
}

/// The three broken files and the words their refusal must contain.
fn broken() -> Vec<(&'static str, ModelFile, &'static str)> {
    let mut cycle = valid();
    let mut out_of_range = valid();
    let mut no_inputs = valid();
    if let Params::Forest { trees } = &mut cycle.model.params {
        // Node 2 sends rows left to itself: scoring would never end.
        trees[0].nodes[2].left = 2;
    }
    if let Params::Forest { trees } = &mut out_of_range.model.params {
        trees[0].nodes[2].feature = 7;
    }
    no_inputs.model.feature_names.clear();
    no_inputs.model.scaler = Scaler::default();
    vec![
        ("cycle", cycle, "node 2 points at node 2"),
        ("out_of_range", out_of_range, "tests input 7 of 3"),
        ("no_inputs", no_inputs, "no inputs"),
    ]
}

/// Ten simulated minutes as a features file.
fn features(dir: &Path) -> String {
    let raw = dir.join("sim.ndjson");
    let parquet = dir.join("features.parquet");
    let (sim, _) = volspike(&[
        "simulate",
        "--minutes",
        "10",
        "--seed",
        "1",
        "--out",
        raw.to_str().unwrap(),
    ]);
    assert!(sim.status.success(), "{sim:?}");
    let (replay, _) = volspike(&[
        "replay",
        "--raw",
        raw.to_str().unwrap(),
        "--out",
        parquet.to_str().unwrap(),
    ]);
    assert!(replay.status.success(), "{replay:?}");
    parquet.to_str().unwrap().to_owned()
}

#[test]
fn evaluate_refuses_malformed_models_at_once_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let features = features(dir.path());
    let good = dir.path().join("good.json");
    valid().save(&good).unwrap();
    let (out, _) = volspike(&[
        "evaluate",
        "--model",
        good.to_str().unwrap(),
        "--features",
        &features,
    ]);
    assert!(out.status.success(), "the valid model evaluates: {out:?}");

    for (name, file, problem) in broken() {
        let path = dir.path().join(format!("{name}.json"));
        file.save(&path).unwrap();
        let (out, took) = volspike(&[
            "evaluate",
            "--model",
            path.to_str().unwrap(),
            "--features",
            &features,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted");
        assert!(
            took < Duration::from_secs(1),
            "{name}: refused after {took:?}"
        );
        assert!(stderr.contains(problem), "{name}: {stderr}");
    }
}

#[tokio::test]
async fn promote_refuses_a_malformed_model() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::new(dir.path());
    registry.register("volspike", &valid()).await.unwrap();
    registry.promote("volspike", 1).await.unwrap();
    for (version, (name, file, problem)) in (2u64..).zip(broken()) {
        // Registered as a valid file, then overwritten: how a file broken on
        // disk, or written by another tool, reaches the registry.
        registry.register("volspike", &valid()).await.unwrap();
        file.save(&dir.path().join(format!("volspike/v{version}/model.json")))
            .unwrap();
        let (out, _) = volspike(&[
            "models",
            "promote",
            "--version",
            &version.to_string(),
            "--registry",
            dir.path().to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: promoted");
        assert!(stderr.contains(problem), "{name}: {stderr}");
        assert_eq!(
            registry.alias("volspike", CHAMPION).await.unwrap(),
            Some(1),
            "{name}: the champion moved"
        );
    }
}
