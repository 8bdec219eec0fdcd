//! The whole loop on the embedded Kafka, with the inference server scoring
//! live and the worker watching:
//! - the simulated market changes regime; the worker sees the drift,
//!   retrains, the gate passes a challenger that beats a poor champion, the
//!   promotion goes out on `models.events` and the inference server serves
//!   the new version;
//! - a worse challenger (asked for by hand through `POST /retrain/execute`)
//!   is not promoted, and the decision is on `drift.reports`;
//! - a broken challenger file is refused by the probe and the champion
//!   keeps serving.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;
use volspike_core::{FeatureRow, ModelEvent, Prediction, PredictionOutcome};
use volspike_drift_worker::report::{DriftRecord, Verdict};
use volspike_features::engine::{EngineConfig, FeatureEngine, Outcome};
use volspike_mlflow::AnyRegistry;
use volspike_model::artifact::ModelFile;
use volspike_model::model::Params;
use volspike_model::registry::{CHAMPION, LocalRegistry, Registry as _};
use volspike_runtime::config::StartFrom;
use volspike_runtime::{Config, EmbeddedKafka};
use volspike_sim::{MarketConfig, RegimeChange, simulate_ticks};
use volspike_train::train::{ModelKind, TrainConfig};

const SECOND: i64 = 1_000_000_000;
const START: i64 = 1_767_225_600 * SECOND;
const TOKEN: &str = "test-token";

/// Feature rows of the simulated market: `minutes` of BTC-USD, changing
/// regime (4x volatility, 2x tick rate) after `change_after` minutes.
fn market(minutes: u64, change_after: Option<u64>, seed: u64) -> Vec<FeatureRow> {
    market_from(START, minutes, change_after, seed)
}

fn market_from(start: i64, minutes: u64, change_after: Option<u64>, seed: u64) -> Vec<FeatureRow> {
    let ticks = simulate_ticks(&MarketConfig {
        products: vec!["BTC-USD".into()],
        start_ns: start,
        seconds: minutes * 60,
        seed,
        regime: change_after.map(|m| RegimeChange {
            at_ns: start + m as i64 * 60 * SECOND,
            volatility: 4.0,
            tick_rate: 2.0,
            precursor: None,
        }),
    });
    let mut engine = FeatureEngine::new(&EngineConfig::default());
    ticks
        .iter()
        .flat_map(|t| engine.push(t))
        .filter_map(|o| match o {
            Outcome::Row(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Four hours of the market before the tests' streams: what champions
/// were trained on.
fn history() -> Vec<FeatureRow> {
    static HISTORY: std::sync::OnceLock<Vec<FeatureRow>> = std::sync::OnceLock::new();
    HISTORY
        .get_or_init(|| market_from(START - 4 * 3600 * SECOND, 240, None, 99))
        .clone()
}

/// A logistic champion trained on `rows`; `flip` negates its weights, so
/// it ranks spikes last.
fn champion(rows: &[FeatureRow], flip: bool) -> ModelFile {
    // The default label (relative, on 1 s clock returns) means the same in
    // both regimes, so a challenger trained across the change has both
    // classes in every split.
    let cfg = TrainConfig {
        models: vec![ModelKind::Logistic],
        ..TrainConfig::default()
    };
    let report = volspike_train::train::train(rows, &cfg).expect("the champion trains");
    let mut file = report.model_file(report.best().unwrap());
    if flip {
        negate(&mut file);
    }
    file
}

fn negate(file: &mut ModelFile) {
    match &mut file.model.params {
        Params::Logistic { coef, intercept } => {
            coef.iter_mut().for_each(|c| *c = -*c);
            *intercept = -*intercept;
        }
        other => panic!("not a logistic model: {other:?}"),
    }
}

fn configs(kafka: &EmbeddedKafka, dir: &Path) -> (Config, Config) {
    let mut cfg = Config::defaults();
    cfg.kafka.bootstrap = Some(kafka.bootstrap().to_owned());
    cfg.kafka.fetch_max_wait = Duration::from_millis(5);
    cfg.registry.dir = dir.join("models");
    cfg.drift.retrain_token = Some(serde_json::from_value(serde_json::json!(TOKEN)).unwrap());
    let mut inference = cfg.clone();
    inference.inference.listen = "127.0.0.1:0".parse().unwrap();
    inference.inference.start_from = StartFrom::Earliest;
    // Only models.events may make the server swap.
    inference.inference.model_poll = Duration::from_secs(3600);
    inference.admin.listen = None;
    let mut worker = cfg;
    worker.admin.listen = Some("127.0.0.1:0".parse().unwrap());
    worker.inference.model_poll = Duration::from_millis(500);
    let d = &mut worker.drift;
    d.start_from = StartFrom::Earliest;
    d.data_dir = dir.join("drift");
    d.window = Duration::from_secs(300);
    d.reference = Duration::from_secs(3600);
    d.consecutive = 2;
    d.draws = 200;
    d.bootstrap_draws = 100;
    // Performance drift has its tests in volspike-drift; here retrains
    // come from input drift or by hand.
    d.performance_tolerance = 0.99;
    // Half an hour of the new regime before a retrain, so the holdout
    // holds enough label horizons for the gate's bootstrap (blocks of a
    // minute of rows) to tell a better challenger.
    d.retrain.windows = 6;
    d.retrain.min_rows = 200;
    d.retrain.min_positives = 5;
    d.retrain.cooldown = Duration::from_secs(24 * 3600);
    d.retrain.training_window = Duration::from_secs(24 * 3600);
    (inference, worker)
}

/// Sends `rows` to `ticks.features` in chunks, each once the inference
/// server and the worker have read what came before: librdkafka's mock
/// cluster keeps only the newest few megabytes of a partition (about
/// 19,000 rows here), and a reader that falls further behind a flood loses
/// rows to it (`auto.offset.reset` then skips to the log's start).
async fn produce(l: &Loop, rows: &[FeatureRow]) {
    const CHUNK: usize = 5_000;
    let cfg = &l.inference_cfg;
    let producer: FutureProducer = volspike_runtime::kafka::producer_config(
        &cfg.kafka,
        cfg.kafka.bootstrap.as_deref().unwrap(),
        "test",
    )
    .create()
    .unwrap();
    let counts = &l.inference.state.counts;
    let rows_before = counts.rows.load(Ordering::Relaxed);
    let worker_rows_before = l.worker.shared.snapshot().rows;
    for (k, chunk) in rows.chunks(CHUNK).enumerate() {
        let sent = (k * CHUNK) as u64;
        until(Duration::from_secs(120), "the readers to keep up", || {
            let predictions = counts.predictions.load(Ordering::Relaxed);
            let s = l.worker.shared.snapshot();
            (counts.rows.load(Ordering::Relaxed) - rows_before >= sent
                && s.rows - worker_rows_before >= sent
                && s.outcomes.join.predictions + CHUNK as u64 >= predictions)
                .then_some(())
        })
        .await;
        let mut pending = Vec::new();
        for r in chunk {
            let payload = serde_json::to_vec(r).unwrap();
            pending.push(
                producer
                    .send_result(
                        FutureRecord::to(&cfg.topics.features)
                            .key(r.product_id.as_str())
                            .payload(&payload),
                    )
                    .map_err(|(e, _)| e)
                    .unwrap(),
            );
        }
        for p in pending {
            p.await.unwrap().unwrap();
        }
    }
}

/// Every record on `topic` that the broker still holds, decoded. The
/// embedded Kafka keeps only the newest ~5 MB of a partition: while the
/// services still write, the start of the log can be dropped between
/// reading its offset and fetching it, and the read starts over.
fn read_all<T: serde::de::DeserializeOwned>(cfg: &Config, topic: &str) -> Vec<T> {
    let mut tries = 0;
    loop {
        let mut out = Vec::new();
        match volspike_runtime::kafka::read_partitions(
            cfg,
            topic,
            |_, low, _| low,
            Duration::from_secs(30),
            |m| out.push(serde_json::from_slice(m.payload().unwrap()).unwrap()),
        ) {
            Ok(_) => return out,
            Err(e) if tries < 5 && format!("{e:#}").contains("dropped by the broker") => tries += 1,
            Err(e) => panic!("reading {topic}: {e:#}"),
        }
    }
}

/// Waits until `f` gives something, at most `limit`.
async fn until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct Loop {
    _kafka: EmbeddedKafka,
    _dir: tempfile::TempDir,
    inference_cfg: Config,
    worker_cfg: Config,
    inference: volspike_inference::Running,
    worker: volspike_drift_worker::Running,
    stop: CancellationToken,
}

/// Registers `champion` as version 1 and champion, puts the history it was
/// trained on in the worker's archive (so the worker's reference is the
/// champion's training span), starts the inference server and the worker
/// (with `hook` on challengers), and sends `rows`.
async fn start(
    champion: &ModelFile,
    hook: Option<volspike_drift_worker::retrain::ChallengerHook>,
    rows: &[FeatureRow],
) -> Loop {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (inference_cfg, worker_cfg) = configs(&kafka, dir.path());
    // RUST_LOG=volspike_drift_worker=info shows the worker's log.
    volspike_runtime::telemetry::init_tracing(&volspike_runtime::config::LogConfig {
        level: "warn".into(),
        format: volspike_runtime::config::LogFormat::Text,
    });
    // The embedded Kafka does not create topics on request.
    let t = &worker_cfg.topics;
    for topic in [
        &t.features,
        &t.predictions,
        &t.alerts,
        &t.outcomes,
        &t.drift_reports,
        &t.model_events,
    ] {
        kafka.create_topic(topic, t.partitions).unwrap();
    }
    let mut archive = volspike_drift_worker::archive::Archive::open(
        &worker_cfg.drift.data_dir.join("archive"),
        worker_cfg.drift.archive_days,
    )
    .unwrap();
    for r in history() {
        archive.push(r);
    }
    archive.flush().unwrap();
    let local = LocalRegistry::new(&inference_cfg.registry.dir);
    local.register("volspike", champion).await.unwrap();
    local.promote("volspike", 1).await.unwrap();
    let stop = CancellationToken::new();
    let inference = volspike_inference::start_with(
        inference_cfg.clone(),
        LocalRegistry::new(&inference_cfg.registry.dir),
        stop.clone(),
    )
    .await
    .unwrap();
    let registry = AnyRegistry::open(None, &worker_cfg.registry.dir, "test").unwrap();
    let worker =
        volspike_drift_worker::start_with(worker_cfg.clone(), registry, hook, stop.clone())
            .await
            .unwrap();
    let l = Loop {
        _kafka: kafka,
        _dir: dir,
        inference_cfg,
        worker_cfg,
        inference,
        worker,
        stop,
    };
    produce(&l, rows).await;
    l
}

fn decisions(cfg: &Config) -> Vec<volspike_drift_worker::report::Decision> {
    read_all::<DriftRecord>(cfg, &cfg.topics.drift_reports)
        .into_iter()
        .filter_map(|r| match r {
            DriftRecord::Decision(d) => Some(d),
            DriftRecord::Window(_) => None,
        })
        .collect()
}

fn served_version(l: &Loop) -> Option<String> {
    l.inference
        .state
        .slot
        .current()
        .map(|m| m.id.version.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_retrains_and_promotes_a_better_challenger_that_the_server_then_serves() {
    // 60 minutes of reference, then 90 of the new regime.
    let rows = market(150, Some(60), 21);
    let mut flipped = champion(&history(), true);
    // Judged by live performance, this champion would be retrained at
    // once; the test is about input drift.
    flipped.test.pr_auc = Some(0.0);
    let l = start(&flipped, None, &rows).await;
    let cfg = &l.worker_cfg;
    let decision = until(Duration::from_secs(240), "a retrain decision", || {
        decisions(cfg).into_iter().next()
    })
    .await;
    assert_eq!(decision.verdict, Verdict::Promoted, "{decision:#?}");
    assert!(
        decision.triggers.iter().any(|t| t.starts_with("drift")),
        "{decision:#?}"
    );
    assert!(
        decision.at_ns > START + 60 * 60 * SECOND,
        "the retrain came before the regime change"
    );
    let diff = decision.difference.expect("a paired difference");
    assert!(diff.estimate >= cfg.drift.retrain.margin && diff.lower > 0.0);
    assert_eq!(decision.challenger.as_ref().unwrap().version, Some(2));
    assert_eq!(decision.champion.as_ref().unwrap().version, Some(1));
    // The windows that led to it are on drift.reports too.
    let windows: Vec<_> = read_all::<DriftRecord>(cfg, &cfg.topics.drift_reports)
        .into_iter()
        .filter_map(|r| match r {
            DriftRecord::Window(w) => Some(w),
            DriftRecord::Decision(_) => None,
        })
        .collect();
    assert!(windows.iter().any(|w| w.drifting > 0));
    // models.events announced it, and the server swapped on the event.
    let events: Vec<ModelEvent> = read_all(cfg, &cfg.topics.model_events);
    assert_eq!(events.last().map(|e| (e.from, e.to)), Some((Some(1), 2)));
    until(
        Duration::from_secs(30),
        "the server to serve version 2",
        || (served_version(&l).as_deref() == Some("2")).then_some(()),
    )
    .await;
    let registry = LocalRegistry::new(&l.inference_cfg.registry.dir);
    assert_eq!(registry.alias("volspike", CHAMPION).await.unwrap(), Some(2));
    assert_eq!(
        registry.alias("volspike", "previous").await.unwrap(),
        Some(1)
    );
    // New rows are scored by version 2.
    let more = market(165, Some(60), 21)
        .into_iter()
        .filter(|r| r.event_time_ns > rows.last().unwrap().event_time_ns)
        .collect::<Vec<_>>();
    produce(&l, &more).await;
    until(Duration::from_secs(60), "predictions by version 2", || {
        read_all::<Prediction>(cfg, &cfg.topics.predictions)
            .iter()
            .any(|p| p.model.version == "2")
            .then_some(())
    })
    .await;
    // Outcomes were joined and published, each labeled by the model that
    // scored it.
    let outcomes: Vec<PredictionOutcome> = read_all(cfg, &cfg.topics.outcomes);
    assert!(outcomes.len() > 1000, "{} outcomes", outcomes.len());
    assert!(
        outcomes
            .iter()
            .all(|o| o.matured_at_ns > o.event_time_ns + 60 * SECOND)
    );
    l.stop.cancel();
    let summary = l.worker.wait().await.unwrap();
    assert_eq!(summary.promotions, 1);
    l.inference.wait().await.unwrap();
}

/// POST /retrain/execute with the token; the reply's status and body.
async fn execute(l: &Loop, token: Option<&str>) -> (u16, serde_json::Value) {
    let url = format!(
        "http://{}/retrain/execute",
        l.worker.admin_addr.expect("admin listener")
    );
    let client = reqwest::Client::new();
    let mut req = client.post(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Waits until the worker has matured enough outcomes to retrain.
async fn ready_to_retrain(l: &Loop) {
    let shared = l.worker.shared.clone();
    until(Duration::from_secs(120), "matured outcomes", || {
        let s = shared.snapshot();
        (s.outcomes.join.matured > 2_000).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worse_challenger_asked_for_by_hand_is_not_promoted_and_is_recorded() {
    let rows = market(100, None, 22);
    let worse: volspike_drift_worker::retrain::ChallengerHook = Arc::new(|mut f: ModelFile| {
        negate(&mut f);
        serde_json::to_vec(&f).unwrap()
    });
    let l = start(&champion(&history(), false), Some(worse), &rows).await;
    ready_to_retrain(&l).await;
    // Without the token: refused.
    let (status, _) = execute(&l, None).await;
    assert_eq!(status, 401);
    let (status, body) = execute(&l, Some(TOKEN)).await;
    assert_eq!(status, 202, "{body}");
    let cfg = &l.worker_cfg;
    let d = until(Duration::from_secs(120), "the decision", || {
        decisions(cfg).into_iter().next()
    })
    .await;
    assert_eq!(d.verdict, Verdict::RefusedGate, "{d:#?}");
    assert_eq!(d.triggers, ["asked for by hand"]);
    assert!(d.difference.unwrap().estimate < 0.0, "{d:#?}");
    // Registered and tagged with its verdict, but not champion.
    assert_eq!(d.challenger.as_ref().unwrap().version, Some(2));
    let registry = LocalRegistry::new(&l.inference_cfg.registry.dir);
    assert_eq!(registry.alias("volspike", CHAMPION).await.unwrap(), Some(1));
    assert_eq!(served_version(&l).as_deref(), Some("1"));
    let status = l.worker.shared.snapshot();
    assert_eq!(status.decisions.get("refused_gate"), Some(&1));
    l.stop.cancel();
    assert_eq!(l.worker.wait().await.unwrap().promotions, 0);
    l.inference.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_challenger_file_is_refused_and_the_champion_keeps_serving() {
    let rows = market(100, None, 23);
    // NaN weights: JSON has no NaN, so the file does not load.
    let broken: volspike_drift_worker::retrain::ChallengerHook = Arc::new(|mut f: ModelFile| {
        if let Params::Logistic { coef, .. } = &mut f.model.params {
            coef[0] = f64::NAN;
        }
        serde_json::to_vec(&f).unwrap()
    });
    let l = start(&champion(&history(), false), Some(broken), &rows).await;
    ready_to_retrain(&l).await;
    let (status, body) = execute(&l, Some(TOKEN)).await;
    assert_eq!(status, 202, "{body}");
    let cfg = &l.worker_cfg;
    let d = until(Duration::from_secs(120), "the decision", || {
        decisions(cfg).into_iter().next()
    })
    .await;
    assert_eq!(d.verdict, Verdict::RefusedProbe, "{d:#?}");
    assert!(
        d.reason.contains("not a volspike model file"),
        "{}",
        d.reason
    );
    // Never registered; the champion serves on.
    assert_eq!(d.challenger.as_ref().unwrap().version, None);
    let registry = LocalRegistry::new(&l.inference_cfg.registry.dir);
    assert_eq!(registry.versions("volspike").await.unwrap().len(), 1);
    assert_eq!(served_version(&l).as_deref(), Some("1"));
    l.stop.cancel();
    l.worker.wait().await.unwrap();
    l.inference.wait().await.unwrap();
}
