//! Shared by the inference tests: model files, a registry, a server.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use volspike_inference::Running;
use volspike_model::artifact::{FORMAT_VERSION, ModelFile};
use volspike_model::label::LabelConfig;
use volspike_model::model::{Model, Params, Scaler};
use volspike_model::registry::{LocalRegistry, Registry};
use volspike_runtime::Config;
use volspike_train::metrics::evaluate;

/// The inputs of the test models.
pub const INPUTS: [&str; 3] = [
    "price_volatility_1min",
    "trade_intensity",
    "bid_ask_spread_bps",
];

/// A logistic model on [`INPUTS`].
pub fn logistic(coef: [f64; 3], intercept: f64, threshold: f64) -> ModelFile {
    let m = evaluate(
        &[true, false, true, false],
        &[0.9, 0.1, 0.6, 0.4],
        threshold,
    )
    .unwrap();
    ModelFile {
        format_version: FORMAT_VERSION,
        name: "logistic".into(),
        model: Model {
            feature_names: INPUTS.iter().map(|s| s.to_string()).collect(),
            scaler: Scaler {
                mean: vec![1e-4, 30.0, 1.0],
                scale: vec![5e-5, 10.0, 0.5],
                ..Scaler::default()
            },
            params: Params::Logistic {
                coef: coef.to_vec(),
                intercept,
            },
            calibration: None,
            threshold,
            warm_only: false,
        },
        label: LabelConfig::default(),
        tau: 1e-4,
        train_span_ns: (1_700_000_000_000_000_000, 1_700_000_600_000_000_000),
        validation: m.clone(),
        test: m,
        importances: vec![0.5, 0.3, 0.2],
        reference: Vec::new(),
        score_reference: None,
        training: None,
        alert_policy: None,
        validation_alerts: None,
        test_alerts: None,
    }
}

/// Version 1 (champion) and 2 (challenger) of `volspike` in a new local
/// registry under `dir`.
pub async fn registry_with_two_versions(dir: &Path) -> LocalRegistry {
    let r = LocalRegistry::new(dir);
    r.register("volspike", &logistic([1.5, 0.5, -0.3], -1.0, 0.5))
        .await
        .unwrap();
    r.register("volspike", &logistic([0.2, 2.0, 0.1], 0.3, 0.6))
        .await
        .unwrap();
    r.promote("volspike", 1).await.unwrap();
    r
}

/// Configuration for a test server on a free port, no admin server.
pub fn config() -> Config {
    let mut cfg = Config::defaults();
    // Also the shutdown grace for open streams.
    cfg.inference.request_timeout = Duration::from_secs(2);
    cfg.inference.listen = "127.0.0.1:0".parse().unwrap();
    cfg.inference.model_poll = Duration::from_millis(200);
    cfg.admin.listen = None;
    cfg
}

/// Starts a server without a broker.
pub async fn start(cfg: Config, registry: LocalRegistry) -> (Running, CancellationToken) {
    let stop = CancellationToken::new();
    let running = volspike_inference::start_with(cfg, registry, stop.clone())
        .await
        .expect("server starts");
    (running, stop)
}

/// `http://ADDR`.
pub fn url(r: &Running) -> String {
    format!("http://{}", r.grpc_addr)
}
