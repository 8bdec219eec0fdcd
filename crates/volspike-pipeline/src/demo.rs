//! `volspike demo`: the system in one process on the embedded Kafka.
//!
//! Exchange simulator -> ingestor (with its journal) -> `ticks.raw` ->
//! featurizer service -> `ticks.features`, all on the embedded Kafka. The
//! simulator serves a simulated market over Coinbase's WebSocket protocol at
//! `speed` times real time; with `--live` the same ingestor reads Coinbase
//! instead. Feature rows are printed as they arrive; at the end the features
//! are written to parquet and checked against `volspike replay` of the
//! ingestor's journal, which must give the very same rows. Before streaming,
//! the demo trains the models on an hour of simulated history and registers
//! the chosen one in the local registry.
//!
//! With the drift worker on (the default), the simulated market changes
//! regime partway through ([`DemoRegime`]): by default how its inputs
//! relate to spikes (bursts now follow a quiet spell), which the champion
//! cannot follow; with `--level-regime` only its level. The worker starts
//! with the training history in its archive, as if it had watched it, so
//! its reference is the champion's training span; it judges one-minute
//! windows, declares drift after two in a row, retrains, gates the
//! challenger against the champion on the most recent holdout (PR-AUC and
//! alerts) and, if it wins, promotes it; the inference server then scores
//! with the new version. Each step is printed as it happens, and the
//! closing summary judges the published alerts against the stream's spike
//! episodes. The worker's settings here are the demo's (minute windows,
//! one retrain per run), not the configuration's, which are sized for days
//! of real data.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use volspike_core::time::{NANOS_PER_SEC, format_timestamp, parse_timestamp};
use volspike_core::{FeatureRow, Feed};
use volspike_runtime::Config;

use volspike_mlflow::AnyRegistry;
use volspike_model::registry::LocalRegistry;
use volspike_replay::{first_difference, replay};
use volspike_sim::{ExchangeSim, MarketConfig, RegimeChange, SimSettings, Speed, simulate_ticks};
use volspike_train::register::{Registration, train_pick_register};

use crate::pipeline::{self, DriftOptions, Input, PipelineOptions, RowObserver};

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Products to follow.
    pub products: Vec<String>,
    /// Seconds of simulated market, or of the live feed with `live`.
    pub seconds: u64,
    /// Pace of the simulated market (ignored with `live`).
    pub speed: Speed,
    /// Read Coinbase (the configured feed and URL) instead of the simulator.
    pub live: bool,
    /// Protocol spoken by the simulator, or feed read with `live`.
    pub feed: Feed,
    /// Where to keep the journal (a temporary directory if `None`).
    pub journal: Option<PathBuf>,
    /// Parquet file to write (a temporary one if `None`).
    pub out: Option<PathBuf>,
    /// Print feature rows as they arrive.
    pub print_rows: bool,
    /// Before streaming, train on an hour of simulated history and register
    /// the chosen model in this local registry (`None`: no training).
    pub train_registry: Option<PathBuf>,
    /// Serve the champion of this local registry while streaming: live
    /// scores, alerts printed as they happen, gRPC on `inference.listen`
    /// (`None`: no inference server).
    pub serve_registry: Option<PathBuf>,
    /// Run the drift worker beside the inference server (see the module
    /// documentation).
    pub drift: bool,
    /// Seconds into the simulated market when its regime changes (`None`:
    /// one regime throughout).
    pub regime_change_at: Option<u64>,
    /// What changes then.
    pub regime: DemoRegime,
    /// What training on the history fits (and so what the drift worker's
    /// challengers fit: the champion's own configuration).
    pub train: volspike_train::train::TrainConfig,
}

/// What changes when the demo's simulated market changes regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoRegime {
    /// How the inputs relate to spikes (the default): 4x the volatility at
    /// 2x the tick rate, and every burst now follows a quiet spell
    /// ([`volspike_sim::Precursor::CALM_BEFORE_THE_STORM`]), so recent calm
    /// comes before a spike where the champion learned recent activity. The
    /// champion cannot follow under the default label; the worker retrains
    /// on the new regime and the gate promotes.
    Relation,
    /// The level only (4x the volatility at 2x the tick rate), which the
    /// default relative label divides out: the gate keeps the champion.
    Level,
}

impl DemoRegime {
    /// Seconds of market, pace and the change's time that show it in about
    /// a minute: the relation needs a retrain on the new regime alone, so
    /// the run is longer and faster.
    pub fn timing(self) -> (u64, f64, u64) {
        match self {
            DemoRegime::Relation => (2400, 40.0, 120),
            DemoRegime::Level => (900, 20.0, 300),
        }
    }
}

impl Default for DemoOptions {
    fn default() -> Self {
        let (seconds, speed, change_at) = DemoRegime::Relation.timing();
        DemoOptions {
            products: vec!["BTC-USD".to_owned(), "ETH-USD".to_owned()],
            seconds,
            speed: Speed::Factor(speed),
            live: false,
            feed: Feed::AdvancedTrade,
            journal: None,
            out: None,
            print_rows: true,
            train_registry: None,
            serve_registry: None,
            drift: true,
            regime_change_at: Some(change_at),
            regime: DemoRegime::Relation,
            train: volspike_train::train::TrainConfig::default(),
        }
    }
}

/// What the demo did.
#[derive(Debug)]
pub struct DemoReport {
    /// Feature rows read back from `ticks.features`, in canonical order.
    pub rows: Vec<FeatureRow>,
    /// Ticks the simulator sent (`None` with `live`).
    pub sim_ticks: Option<u64>,
    /// What the ingestor did.
    pub ingest: volspike_ingestor::Summary,
    /// The first difference between the live rows and a replay of the
    /// journal; `None` when they are identical.
    pub replay_difference: Option<String>,
    /// The version registered by the training step, if it ran.
    pub trained_version: Option<u64>,
    /// What the inference server did, if it ran.
    pub inference: Option<crate::pipeline::InferenceSummary>,
    /// What the drift worker did, if it ran.
    pub drift: Option<crate::pipeline::DriftSummary>,
}

/// An hour of simulated market before the streamed one (another seed), for
/// training. The simulator's volatility comes in bursts, so an hour's
/// 15-minute validation share often holds no spike under the absolute
/// label (seeds 1, 2 and 4) or only an unrepresentative few (seed 5, which
/// made the demo's champion a forest with test F1 0 and no alerts). Seed 3
/// has spikes in every split; every model's test PR-AUC is 0.62-0.70 at a
/// base rate of 0.30.
pub fn history_config(opts: &DemoOptions) -> MarketConfig {
    let stream = sim_config(opts);
    MarketConfig {
        start_ns: stream.start_ns - 3_600 * NANOS_PER_SEC,
        seconds: 3_600,
        seed: 3,
        regime: None,
        ..stream
    }
}

/// Trains every model on simulated history, prints the comparison, and
/// registers the chosen one as `challenger` in `registry` (and as
/// `champion` when there is none yet). Returns its version and the
/// history's feature rows.
pub async fn train_on_history(
    cfg: &Config,
    opts: &DemoOptions,
    registry: &std::path::Path,
) -> anyhow::Result<(u64, Vec<FeatureRow>)> {
    let started = Instant::now();
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let history = history_config(opts);
    let (rows, _) = volspike_replay::replay_ticks(&simulate_ticks(&history), &cfg.features);
    println!(
        "demo: training on {} s of simulated history before the stream ({} feature rows)",
        history.seconds,
        rows.len()
    );
    let local = AnyRegistry::Local(LocalRegistry::new(registry));
    let reg = Registration {
        name: Some(&cfg.registry.model_name),
        experiment: "",
        champion_if_none: true,
    };
    let (report, done) = train_pick_register(
        &[&rows],
        &opts.train,
        &dir.path().join("model"),
        &local,
        reg,
        |_| {},
    )
    .await?;
    for line in volspike_train::artifacts::table(&report).lines() {
        println!("demo: {line}");
    }
    let version = done.version.context("the demo registers its model")?;
    let promoted = if done.became_champion {
        " and champion (there was none)"
    } else {
        "; promote it with `volspike models promote`"
    };
    println!(
        "demo: {} version {version} ({}, best validation PR-AUC) is the challenger{promoted}, in {} ({:.1} s)",
        cfg.registry.model_name,
        done.chosen.name,
        registry.display(),
        started.elapsed().as_secs_f64()
    );
    Ok((version, rows))
}

/// The simulated market the demo serves.
pub fn sim_config(opts: &DemoOptions) -> MarketConfig {
    let start_ns = parse_timestamp("2026-01-01T00:00:00Z").expect("valid start");
    MarketConfig {
        products: opts.products.clone(),
        start_ns,
        seconds: opts.seconds,
        seed: 42,
        regime: opts.regime_change_at.map(|at| RegimeChange {
            at_ns: start_ns + at as i64 * NANOS_PER_SEC,
            volatility: 4.0,
            tick_rate: 2.0,
            precursor: (opts.regime == DemoRegime::Relation)
                .then_some(volspike_sim::Precursor::CALM_BEFORE_THE_STORM),
        }),
    }
}

/// The worker's settings for the demo: minute windows, drift after two in
/// a row, one retrain per run, on a temporary data directory.
fn configure_worker(
    cfg: &mut Config,
    data_dir: &std::path::Path,
    opts: &DemoOptions,
    history: bool,
) {
    let d = &mut cfg.drift;
    d.data_dir = data_dir.to_owned();
    d.window = Duration::from_secs(60);
    // Without the training history in the archive (live, or --no-train),
    // the reference is the first third of the run.
    d.reference = Duration::from_secs(if history {
        3_600
    } else {
        (opts.seconds / 3).max(120)
    });
    d.consecutive = 2;
    // Retrain after four windows at high severity (or when live PR-AUC
    // falls), on the last hour. Measured on this market (windows are
    // deterministic, so these repeat):
    // - default label (relative, clock): live PR-AUC dips at the change
    //   and the worker retrains at 00:07; the challenger ranks the
    //   holdout worse (gain -0.054) and the gate keeps the champion. On
    //   the last 30 minutes the validation split had no spike and
    //   training failed;
    // - `--tick-label` (absolute, tick): drift for four windows, a retrain
    //   at 00:10, promoted with a PR-AUC gain of +0.140 (interval +0.008
    //   to +0.222). On 30 minutes the gain was +0.447; after six windows
    //   the train split's tau is the old regime's, every holdout row is a
    //   spike and the gate refuses.
    d.retrain.windows = 4;
    d.retrain.min_rows = 500;
    d.retrain.min_positives = 10;
    d.retrain.training_window = Duration::from_secs(60 * 60);
    d.retrain.cooldown = Duration::from_secs(24 * 3_600);
    if opts.regime == DemoRegime::Relation && opts.regime_change_at.is_some() {
        // The new relation must be learned from the new regime alone, and
        // the relative label needs 5 minutes of trailing returns and each
        // split a minute's embargo: retrain after 26 drifting windows on
        // the last 30 minutes (about 24 of them labeled; on 15, validation
        // kept 170 rows after its embargo and no spike). Live performance
        // is judged and shown but does not trigger, so the retrain cannot
        // come early, on the old regime.
        d.retrain.windows = 26;
        d.retrain.training_window = Duration::from_secs(30 * 60);
        d.min_positives = u64::MAX;
    }
}

/// Runs the demo until the simulated market is through (or, with `live`,
/// `seconds` have passed or `shutdown` is cancelled).
pub async fn run(
    mut cfg: Config,
    opts: DemoOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<DemoReport> {
    let trained = match &opts.train_registry {
        Some(registry) if !opts.live => Some(train_on_history(&cfg, &opts, registry).await?),
        _ => None,
    };
    let trained_version = trained.as_ref().map(|t| t.0);
    let started = Instant::now();
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    cfg.kafka.bootstrap = None; // embedded Kafka
    cfg.ingestor.products = opts.products.clone();
    cfg.ingestor.feed = opts.feed;
    cfg.ingestor.journal_dir = Some(
        opts.journal
            .clone()
            .unwrap_or_else(|| dir.path().join("journal")),
    );

    let (sim, ingest_opts, timeout) = if opts.live {
        let url = cfg.ingestor.url().to_owned();
        println!(
            "demo: live: reading {} from {url} for {} s (Ctrl-C stops earlier)",
            opts.products.join(", "),
            opts.seconds
        );
        let ingest_opts = volspike_ingestor::RunOptions {
            duration: Some(Duration::from_secs(opts.seconds)),
            stop_after_ticks: None,
        };
        (None, ingest_opts, Duration::from_secs(opts.seconds + 600))
    } else {
        let ticks = simulate_ticks(&sim_config(&opts));
        let total = ticks.len() as u64;
        let settings = SimSettings {
            feed: opts.feed,
            speed: opts.speed,
            ..SimSettings::default()
        };
        let sim =
            ExchangeSim::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), ticks, settings).await?;
        cfg.ingestor.url = Some(sim.url());
        let wall = match opts.speed {
            Speed::Factor(f) => Duration::from_secs_f64(opts.seconds as f64 / f),
            Speed::Max => Duration::ZERO,
        };
        println!(
            "demo: exchange simulator on {} serving {} s of simulated {} ({total} ticks) at {} -> ingestor -> ticks.raw -> featurizer -> ticks.features, on the embedded Kafka",
            sim.url(),
            opts.seconds,
            opts.products.join(", "),
            match opts.speed {
                Speed::Factor(f) => format!("{f}x real time (about {} s)", wall.as_secs()),
                Speed::Max => "full speed".to_owned(),
            }
        );
        let ingest_opts = volspike_ingestor::RunOptions {
            duration: None,
            // The ingestor stops once it has every tick the simulator serves.
            stop_after_ticks: Some(total),
        };
        (
            Some((sim, total)),
            ingest_opts,
            wall + Duration::from_secs(600),
        )
    };

    if let Some(addr) = cfg.admin.listen {
        println!("demo: the ingestor's metrics: http://{addr}/metrics");
    }
    let serve = opts.serve_registry.clone().map(|registry| {
        println!(
            "demo: inference server on {} (volspike.v1, Open Inference Protocol v2, health, reflection) serving {} from {}; alerts print as they happen",
            cfg.inference.listen,
            cfg.inference.model_ref(&cfg.registry),
            registry.display()
        );
        crate::pipeline::ServeOptions {
            registry,
            print_events: true,
        }
    });
    let drift = match (&opts.serve_registry, opts.drift) {
        (Some(registry), true) => {
            configure_worker(
                &mut cfg,
                &dir.path().join("drift"),
                &opts,
                trained.is_some(),
            );
            if let Some((_, history)) = &trained {
                seed_archive(&cfg, history)?;
            }
            println!(
                "demo: drift worker watching ticks.features and predictions{}; windows of {} s, drift after {} in a row, a retrain after {} at severity {} or more on the last {} min, then the gate promotes the challenger or keeps the champion",
                match opts.regime_change_at {
                    Some(at) if !opts.live && at < opts.seconds => match opts.regime {
                        DemoRegime::Relation => format!(
                            "; {at} s in the market turns 4x more volatile at 2x the tick rate, and every burst now follows 30 s of calm (recent calm, not activity, comes before a spike)"
                        ),
                        DemoRegime::Level => format!(
                            "; the market turns 4x more volatile at 2x the tick rate {at} s in"
                        ),
                    },
                    _ => String::new(),
                },
                cfg.drift.window.as_secs(),
                cfg.drift.consecutive,
                cfg.drift.retrain.windows,
                format!("{:?}", cfg.drift.retrain.severity).to_lowercase(),
                cfg.drift.retrain.training_window.as_secs() / 60
            );
            Some(DriftOptions {
                registry: registry.clone(),
                admin: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
                print: true,
            })
        }
        _ => None,
    };
    let pipeline_opts = PipelineOptions {
        timeout,
        on_row: opts.print_rows.then(row_printer),
        serve,
        drift,
        ..PipelineOptions::default()
    };
    let input = Input::Ingestor {
        opts: ingest_opts,
        shutdown,
    };
    let result = pipeline::run(cfg.clone(), input, pipeline_opts).await?;
    let ingest = result
        .ingest
        .clone()
        .context("the ingestor's report is missing")?;
    let sim_ticks = match sim {
        Some((sim, total)) => {
            sim.stop().await;
            Some(total)
        }
        None => None,
    };
    println!("demo: {ingest}");
    println!(
        "demo: {}",
        result.counts.summary("pipeline", started.elapsed())
    );

    if let Some(i) = &result.inference {
        match &i.model {
            Some(m) => println!(
                "demo: inference ({m}) read {} feature rows, published {} predictions and {} alerts",
                i.rows, i.predictions, i.alerts
            ),
            None => println!(
                "demo: inference had no champion to serve (train one: drop --no-train, or `volspike models promote`)"
            ),
        }
    }
    if let (Some(i), Some(registry)) = (&result.inference, &opts.serve_registry) {
        print_alert_summary(registry, i, &result.rows).await;
    }
    if let Some(d) = &result.drift {
        println!("demo: {}", d.summary);
        let verdicts: Vec<String> = d
            .status
            .decisions
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        let o = &d.status.outcomes;
        println!(
            "demo: drift worker: {} windows judged; decisions: {}; outcomes matured {}, incomplete {}, late {}, unmatched {}, pending {}",
            d.status.windows_closed,
            if verdicts.is_empty() {
                "none".to_owned()
            } else {
                verdicts.join(", ")
            },
            o.join.matured,
            o.join.incomplete,
            o.join.late,
            o.join.unmatched,
            o.pending
        );
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| dir.path().join("features.parquet"));
    volspike_replay::parquet::write_rows(&out, &result.rows)?;
    println!("demo: features written to {}", out.display());
    for p in &opts.products {
        print_product(p, &result.rows);
    }

    let files = ingest.journal_files.clone();
    let engine_cfg = cfg.features.clone();
    let (mut replayed, _) =
        tokio::task::spawn_blocking(move || replay::replay(&files, &engine_cfg)).await??;
    volspike_replay::parquet::canonicalize(&mut replayed)?;
    let replay_difference = first_difference(&result.rows, &replayed);
    match &replay_difference {
        None => println!(
            "demo: replay of the journal ({}) gives the same {} feature rows, bit for bit",
            cfg.ingestor
                .journal_dir
                .as_deref()
                .unwrap_or(std::path::Path::new("?"))
                .display(),
            replayed.len()
        ),
        Some(d) => println!("demo: replay of the journal DIFFERS from the live features: {d}"),
    }
    Ok(DemoReport {
        rows: result.rows,
        sim_ticks,
        ingest,
        replay_difference,
        trained_version,
        inference: result.inference,
        drift: result.drift,
    })
}

/// The closing alert summary: the alerts users got, judged against the
/// stream's spike episodes under the label of the model served at the end
/// (`docs/models.md`, "Alerts"), overall and per model version.
async fn print_alert_summary(
    registry: &std::path::Path,
    inference: &crate::pipeline::InferenceSummary,
    rows: &[FeatureRow],
) {
    use volspike_model::alerts::{AlertAt, LabeledRow, evaluate_alerts};
    use volspike_model::registry::Registry as _;
    let Some(model) = &inference.model else {
        return;
    };
    let Ok(version) = model.version.parse::<u64>() else {
        return;
    };
    let file = match LocalRegistry::new(registry)
        .load(&model.name, version)
        .await
    {
        Ok(f) => f,
        Err(e) => {
            println!("demo: alerts: cannot judge them, reading {model}: {e}");
            return;
        }
    };
    let names: Vec<&str> = file
        .model
        .feature_names
        .iter()
        .map(String::as_str)
        .collect();
    let Ok((data, _)) =
        volspike_train::dataset::build(rows, &names, &file.label, file.model.warm_only)
    else {
        return;
    };
    let labeled: Vec<LabeledRow<'_>> = (0..data.len())
        .map(|i| LabeledRow {
            product: &data.product[i],
            event_time_ns: data.event_time_ns[i],
            spike: data.target[i] >= file.tau,
        })
        .collect();
    let horizon = i64::try_from(file.label.horizon.as_nanos()).unwrap_or(i64::MAX);
    let judge = |version: Option<&str>| {
        let at: Vec<AlertAt<'_>> = inference
            .published_alerts
            .iter()
            .filter(|a| version.is_none_or(|v| a.model.version == v))
            .map(|a| AlertAt {
                product: &a.product_id,
                event_time_ns: a.event_time_ns,
            })
            .collect();
        evaluate_alerts(&labeled, &at, horizon)
    };
    let m = judge(None);
    let num = |v: Option<f64>, d: usize| v.map_or("-".to_owned(), |v| format!("{v:.d$}"));
    println!(
        "demo: alerts: {} published; against the stream's spike episodes ({} label, tau of {model}): caught {} of {} (recall {}, random alerts at the same rate {}), lead time median {} s (p10 {} s, p90 {} s), {} false alerts per market hour over {:.2} h",
        inference.published_alerts.len(),
        format!("{:?}", file.label.kind).to_lowercase(),
        m.caught,
        m.episodes,
        num(m.recall, 2),
        num(m.random_recall, 2),
        num(m.lead_time.map(|l| l.median_s), 1),
        num(m.lead_time.map(|l| l.p10_s), 1),
        num(m.lead_time.map(|l| l.p90_s), 1),
        num(m.false_alerts_per_hour, 1),
        m.market_hours
    );
    let mut versions: Vec<&str> = inference
        .published_alerts
        .iter()
        .map(|a| a.model.version.as_str())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.len() > 1 {
        for v in versions {
            let m = judge(Some(v));
            let published = inference
                .published_alerts
                .iter()
                .filter(|a| a.model.version == v)
                .count();
            println!(
                "demo: alerts of version {v}: {published} published, {} within the labeled hours: {} catching an episode, {} false",
                m.alerts,
                m.alerts - m.false_alerts,
                m.false_alerts
            );
        }
    }
}

/// Puts the training history in the worker's archive, as if the worker had
/// watched it: its reference is then the champion's training span, and its
/// challengers train on the history and the stream.
fn seed_archive(cfg: &Config, history: &[FeatureRow]) -> anyhow::Result<()> {
    volspike_drift_worker::archive::Archive::open(
        &cfg.drift.data_dir.join("archive"),
        cfg.drift.archive_days,
    )?
    .import(history.iter().cloned())?;
    Ok(())
}

/// Prints a product's latest row at most every two seconds of wall time.
fn row_printer() -> RowObserver {
    let last: Mutex<HashMap<String, Instant>> = Mutex::new(HashMap::new());
    RowObserver(Arc::new(move |row: &FeatureRow| {
        let mut last = last.lock().expect("printer lock");
        let now = Instant::now();
        match last.get(row.product_id.as_str()) {
            Some(t) if now.duration_since(*t) < Duration::from_secs(2) => return,
            _ => {}
        }
        last.insert(row.product_id.to_string(), now);
        println!(
            "demo: {} {:<8} price {:>12.2}  1-min volatility {:>9}  vs 5-min {:>6}{}",
            format_timestamp(row.event_time_ns),
            row.product_id,
            row.price,
            row.price_volatility_1min
                .map_or("-".to_owned(), |v| format!("{v:.3e}")),
            row.volatility_ratio
                .map_or("-".to_owned(), |r| format!("{r:.2}x")),
            if row.warm { "" } else { "  (warming up)" }
        );
    }))
}

fn print_product(product: &str, rows: &[FeatureRow]) {
    let rows: Vec<&FeatureRow> = rows.iter().filter(|r| r.product_id == product).collect();
    let warm = rows.iter().filter(|r| r.warm).count();
    // Only warm rows: early in a segment a window of a few ticks gives
    // noisy, meaningless volatility.
    let peak = rows
        .iter()
        .filter(|r| r.warm)
        .filter_map(|r| r.price_volatility_1min.map(|v| (v, r)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => {
            println!("demo: {product}: no rows");
            return;
        }
    };
    println!(
        "demo: {product}: rows={} warm={} price {:.2} -> {:.2} over {:.0} s",
        rows.len(),
        warm,
        first.price,
        last.price,
        (last.event_time_ns - first.event_time_ns) as f64 / NANOS_PER_SEC as f64
    );
    if let Some((v, r)) = peak {
        println!(
            "demo: {product}: highest warm 1-min volatility {:.3e} (per tick) at {}, {:.1}x its 5-min level",
            v,
            format_timestamp(r.event_time_ns),
            r.volatility_ratio.unwrap_or(f64::NAN)
        );
    }
}
