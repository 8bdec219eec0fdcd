//! `volspike`: one command line for every volspike service and tool.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use volspike_cli::bench_input;
use volspike_cli::commands::{exchange_sim, simulate};
use volspike_pipeline::demo;
use volspike_pipeline::pipeline::{self, Input, PipelineOptions};
use volspike_replay::{compare, parquet, recordings as input, replay};
use volspike_runtime::{Config, ConfigLoader, shutdown, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "volspike",
    version,
    about = "Real-time detection of short-term volatility spikes in crypto markets"
)]
struct Cli {
    /// Configuration file (TOML) over the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole system in one process on the embedded Kafka (simulator,
    /// ingestor, featurizer, inference with gRPC on 127.0.0.1:50051); needs
    /// nothing installed.
    Demo {
        /// Seconds of simulated market to run through the system (over 5
        /// minutes, so the 5-minute windows fill); with `--live`, seconds of
        /// the live feed.
        #[arg(long, default_value_t = 900)]
        seconds: u64,
        /// Pace of the simulated market: times real time, or `max`.
        #[arg(long, default_value = "20")]
        speed: volspike_sim::Speed,
        /// Read Coinbase's live feed instead of the exchange simulator.
        #[arg(long)]
        live: bool,
        /// Product to follow (repeat for more).
        #[arg(long = "pair", default_values = ["BTC-USD", "ETH-USD"])]
        pairs: Vec<String>,
        /// Protocol: `advanced-trade` or `exchange`.
        #[arg(long, default_value = "advanced-trade", value_parser = parse_feed)]
        feed: volspike_core::Feed,
        /// Keep the ingestor's journal here (default: a temporary directory).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Where to write the features (default: a temporary directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Local model registry the demo trains into.
        #[arg(long, default_value = "data/models")]
        registry: PathBuf,
        /// Skip training on simulated history before streaming.
        #[arg(long)]
        no_train: bool,
        /// Where the services' logs go (the terminal shows the demo's own
        /// lines).
        #[arg(long, default_value = "data/logs/demo.log")]
        log_file: PathBuf,
    },
    /// Offline features from recordings with the same engine, no Kafka.
    Replay {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Recordings through ticks.raw, the featurizer service and ticks.features into parquet.
    Pipeline {
        #[command(flatten)]
        input: InputArgs,
        /// Kafka bootstrap servers; the embedded Kafka when absent.
        #[arg(long)]
        bootstrap: Option<String>,
        /// In-process featurizer instances; 0 when they run as separate processes.
        #[arg(long, default_value_t = 1)]
        featurizers: usize,
        /// Fault injection: drop featurizer 0 without shutdown once this
        /// many input messages are committed, then start a replacement.
        #[arg(long, hide = true)]
        crash_after: Option<i64>,
        /// Longest wait for the featurizers, e.g. `10m`.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// The featurizer service: ticks.raw -> ticks.features.
    Featurize {
        /// Kafka bootstrap servers.
        #[arg(long)]
        bootstrap: Option<String>,
        /// Input topic.
        #[arg(long)]
        topic_in: Option<String>,
        /// Output topic.
        #[arg(long)]
        topic_out: Option<String>,
        /// This instance's id (stable across its restarts).
        #[arg(long)]
        instance_id: Option<String>,
        /// Admin server address (`/metrics`, `/healthz`); empty to disable.
        #[arg(long)]
        admin_listen: Option<String>,
    },
    /// The inference service: gRPC scoring (volspike.v1, Open Inference
    /// Protocol v2, health, reflection) and, with a broker, live scoring of
    /// ticks.features into predictions and alerts.volatility.
    Serve {
        /// Kafka bootstrap servers; without one, only request/response scoring.
        #[arg(long)]
        bootstrap: Option<String>,
        /// gRPC listen address (default 127.0.0.1:50051).
        #[arg(long)]
        listen: Option<String>,
        /// Model to serve: `models:/NAME@ALIAS`, `models:/NAME/VERSION` or a
        /// model file (default `models:/volspike@champion`).
        #[arg(long)]
        model: Option<String>,
        /// Where a new consumer group starts on ticks.features: latest or earliest.
        #[arg(long)]
        start_from: Option<String>,
        /// Consumer group on ticks.features.
        #[arg(long)]
        group_id: Option<String>,
        /// Admin server address (`/metrics`, `/healthz`); empty to disable.
        #[arg(long)]
        admin_listen: Option<String>,
        /// Fill the latest row per product from a feature parquet file at
        /// start (GetScore answers before live rows arrive; benchmarks).
        #[arg(long)]
        warm_from: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Synthetic but realistic Coinbase ticker messages (Advanced Trade shape).
    Simulate(simulate::SimulateArgs),
    /// A local WebSocket server speaking Coinbase's protocol, replaying
    /// recordings (or simulated ticks) with injectable faults.
    ExchangeSim(exchange_sim::ExchangeSimArgs),
    /// The ingestor service: Coinbase WebSocket -> ticks.raw (+ NDJSON journal).
    Ingest(volspike_ingestor::cli::IngestArgs),
    /// Sends journal frames to Kafka: a range the ingestor reported as
    /// undelivered.
    Backfill {
        /// The ingestor's journal directory.
        #[arg(long)]
        journal: PathBuf,
        /// First frame number to send.
        #[arg(long)]
        from_frame: u64,
        /// Last frame number to send (inclusive).
        #[arg(long)]
        to_frame: u64,
        /// Kafka bootstrap servers.
        #[arg(long)]
        bootstrap: Option<String>,
    },
    /// Checks that a topic holds at least N readable (JSON) messages.
    ConsumeCheck {
        /// Kafka bootstrap servers.
        #[arg(long)]
        bootstrap: Option<String>,
        /// Topic to read from its start.
        #[arg(long)]
        topic: String,
        /// Fewest readable messages that pass.
        #[arg(long)]
        min: u64,
        /// Longest time to read the topic.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Checks that a topic holds each tick of an ingestor journal exactly once.
    IngestCheck {
        /// Kafka bootstrap servers.
        #[arg(long)]
        bootstrap: Option<String>,
        /// The ingestor's journal directory.
        #[arg(long)]
        journal: PathBuf,
        /// Topic (default `topics.raw`).
        #[arg(long)]
        topic: Option<String>,
    },
    /// Writes the feature rows of a topic to parquet (canonical order,
    /// re-emissions removed), waiting until it holds `--min-rows`.
    DumpFeatures {
        /// Kafka bootstrap servers.
        #[arg(long)]
        bootstrap: Option<String>,
        /// Topic (default `topics.features`).
        #[arg(long)]
        topic: Option<String>,
        /// Wait until at least this many distinct rows are there.
        #[arg(long, default_value_t = 0)]
        min_rows: usize,
        /// Longest wait.
        #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Output parquet file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Labels feature rows, splits them in time, trains and evaluates models
    /// and writes model files and a report.
    Train {
        /// Feature parquet files (`volspike replay` output).
        #[arg(long, required = true, num_args = 1..)]
        features: Vec<PathBuf>,
        /// `absolute` (forward volatility >= tau) or `relative` (forward over
        /// trailing volatility >= tau).
        #[arg(long, default_value = "absolute", value_parser = parse_label_kind)]
        label_kind: volspike_train::dataset::LabelKind,
        /// Quantile of the training targets that sets tau.
        #[arg(long, default_value_t = 0.9)]
        quantile: f64,
        /// Trailing window of the relative label, e.g. `5m` or `30m`.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        lookback: Duration,
        /// Model inputs, comma-separated feature names (default: the
        /// trailing volatilities; see `docs/models.md`).
        #[arg(long, value_delimiter = ',')]
        inputs: Vec<String>,
        /// Standardize the inputs as they are, without first taking the log
        /// of the scale features (volatilities, ranges, spreads, counts).
        #[arg(long)]
        raw_inputs: bool,
        /// Also train on (and have the model score) rows whose feature
        /// windows are still filling; by default only warm rows are used.
        #[arg(long)]
        include_cold: bool,
        /// Shares of the rows (in time order) for training and validation;
        /// test gets the rest.
        #[arg(long, default_value = "0.7,0.15", value_parser = parse_split)]
        split: volspike_train::split::SplitConfig,
        /// Models, comma-separated: baseline, logistic, forest, boosted.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "baseline,logistic,forest,boosted"
        )]
        models: Vec<volspike_train::train::ModelKind>,
        /// Directory for the model files and the report.
        #[arg(long, default_value = "data/models/latest")]
        out: PathBuf,
        /// Registered model name of the chosen model (highest validation
        /// PR-AUC); it becomes the `challenger`.
        #[arg(long, default_value = "volspike")]
        model_name: String,
        /// Write the local files (and log the MLflow run) without
        /// registering a version.
        #[arg(long)]
        no_register: bool,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Scores feature rows with a saved model, labeled with the model's own
    /// label definition and tau, and prints the metrics.
    Evaluate {
        /// A model file, or `models:/NAME@ALIAS` / `models:/NAME/VERSION` in
        /// the registry.
        #[arg(long)]
        model: volspike_model::registry::ModelRef,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Feature parquet files (`volspike replay` output).
        #[arg(long, required = true, num_args = 1..)]
        features: Vec<PathBuf>,
        /// Also write one row per scored feature row (product, feature time,
        /// target, label, score, decision) to this parquet file.
        #[arg(long)]
        predictions_out: Option<PathBuf>,
    },
    /// Checks that two feature parquet files hold the same rows, bit for bit.
    CompareFeatures {
        /// Expected (e.g. `volspike replay` output).
        left: PathBuf,
        /// Actual (e.g. `volspike pipeline` output).
        right: PathBuf,
    },
    /// Registered models: list versions, promote, roll back.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Reproducible measurements.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// Which model registry to use.
#[derive(Debug, Args)]
struct RegistryArgs {
    /// MLflow tracking URI (e.g. http://127.0.0.1:5000); without it the
    /// local registry directory is used. Credentials come from
    /// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    mlflow_uri: Option<String>,
    /// Local registry directory.
    #[arg(long, default_value = "data/models")]
    registry: PathBuf,
    /// MLflow experiment of training runs.
    #[arg(long, default_value = "crypto-volatility-detection")]
    experiment: String,
}

impl RegistryArgs {
    fn open(&self) -> anyhow::Result<volspike_mlflow::AnyRegistry> {
        volspike_cli::models::open(self.mlflow_uri.as_deref(), &self.registry, &self.experiment)
    }
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Every version with its aliases.
    List {
        /// Registered model name.
        #[arg(long, default_value = "volspike")]
        name: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Makes a version the `champion` (default: the `challenger`).
    Promote {
        /// Registered model name.
        #[arg(long, default_value = "volspike")]
        name: String,
        /// Version to promote.
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Kafka bootstrap servers: announce the change on models.events so
        /// running inference servers swap to the new champion at once.
        #[arg(long)]
        bootstrap: Option<String>,
    },
    /// Makes the champion before the current one champion again.
    Rollback {
        /// Registered model name.
        #[arg(long, default_value = "volspike")]
        name: String,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Kafka bootstrap servers: announce the change on models.events.
        #[arg(long)]
        bootstrap: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Latency and throughput of a running inference server's GetScore and
    /// Score: open loop at `--rate` requests/s, or closed loop with
    /// `--concurrency` requests in flight.
    Grpc {
        /// Server address.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        target: String,
        /// RPC to measure.
        #[arg(long, value_enum, default_value = "score")]
        rpc: volspike_cli::bench_grpc::Rpc,
        /// Open loop: requests per second on a fixed schedule.
        #[arg(long, conflicts_with = "concurrency")]
        rate: Option<f64>,
        /// Closed loop: requests in flight (the default, with 64).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Measured time.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Unmeasured time first.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        warmup: Duration,
        /// HTTP/2 connections.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Product for GetScore.
        #[arg(long, default_value = "BTC-USD")]
        product: String,
        /// Bearer token.
        #[arg(long, env = "VOLSPIKE_TOKEN")]
        token: Option<String>,
    },
    /// Builds a large replay input by repeating recordings with shifted times.
    MakeInput {
        /// Recordings to repeat (globs).
        #[arg(long, required = true, num_args = 1..)]
        raw: Vec<String>,
        /// At least this many ticks.
        #[arg(long, default_value_t = 1_000_000)]
        min_ticks: u64,
        /// Output NDJSON file (`.gz`/`.zst` are not written here).
        #[arg(long)]
        out: PathBuf,
    },
    /// Times the logistic regression fit on a feature file's training split
    /// and exports that matrix for scripts/python/bench_logistic.py.
    Logistic {
        /// Feature parquet files.
        #[arg(long, required = true, num_args = 1..)]
        features: Vec<PathBuf>,
        /// Fits to time.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Directory for z.f64, y.u8 and meta.json.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
struct InputArgs {
    /// Recordings: files or glob patterns (`.gz` and `.zst` are decompressed).
    #[arg(long, required = true, num_args = 1..)]
    raw: Vec<String>,
    /// Output parquet file.
    #[arg(long)]
    out: PathBuf,
}

use volspike_ingestor::cli::parse_feed;

fn parse_label_kind(s: &str) -> Result<volspike_train::dataset::LabelKind, String> {
    match s {
        "absolute" => Ok(volspike_train::dataset::LabelKind::Absolute),
        "relative" => Ok(volspike_train::dataset::LabelKind::Relative),
        _ => Err(format!(
            "label kind must be `absolute` or `relative`, not `{s}`"
        )),
    }
}

/// `TRAIN,VALIDATION` shares of the rows, e.g. `0.7,0.15`.
fn parse_split(s: &str) -> Result<volspike_train::split::SplitConfig, String> {
    let shares: Vec<f64> = s
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|e| format!("`{v}`: {e}")))
        .collect::<Result<_, _>>()?;
    match shares[..] {
        [train, validation] => volspike_train::split::SplitConfig { train, validation }
            .check()
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "split must be two shares TRAIN,VALIDATION (test gets the rest), not `{s}`"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let loader = ConfigLoader::new().file(cli.config.as_deref()).env();
    match cli.command {
        Command::Demo {
            seconds,
            speed,
            live,
            pairs,
            feed,
            journal,
            out,
            registry,
            no_train,
            log_file,
        } => {
            let cfg = loader.load()?;
            telemetry::init_tracing_to_file(&cfg.log, &log_file)
                .with_context(|| format!("opening the log file {}", log_file.display()))?;
            telemetry::prometheus();
            println!("demo: service logs go to {}", log_file.display());
            let opts = demo::DemoOptions {
                products: pairs,
                seconds,
                speed,
                live,
                feed,
                journal,
                out,
                print_rows: true,
                train_registry: (!no_train).then(|| registry.clone()),
                serve_registry: Some(registry),
            };
            let report = demo::run(cfg, opts, shutdown::on_signals()).await?;
            match report.replay_difference {
                None => Ok(()),
                Some(d) => bail!("live features differ from a replay of the journal: {d}"),
            }
        }
        Command::Replay { input } => {
            let cfg = load(loader)?;
            let files = input::order_by_first_tick(input::expand_globs(&input.raw)?)?;
            let started = Instant::now();
            let engine_cfg = cfg.features.clone();
            let (rows, mut counts) =
                tokio::task::spawn_blocking(move || replay::replay(&files, &engine_cfg)).await??;
            tracing::debug!(elapsed = ?started.elapsed(), "features computed");
            let (written, _) = parquet::write_rows(&input.out, &rows)?;
            counts.rows = written as u64;
            println!("{}", counts.summary("replay", started.elapsed()));
            Ok(())
        }
        Command::Pipeline {
            input,
            bootstrap,
            featurizers,
            crash_after,
            timeout,
        } => {
            let cfg = load(loader.set_opt("kafka.bootstrap", bootstrap))?;
            let files = input::order_by_first_tick(input::expand_globs(&input.raw)?)?;
            let started = Instant::now();
            let opts = PipelineOptions {
                featurizers,
                crash_after,
                timeout,
                on_row: None,
                serve: None,
            };
            let out = pipeline::run(cfg, Input::Recordings(files), opts).await?;
            parquet::write_rows(&input.out, &out.rows)?;
            println!(
                "{} dlq={} crashes={}",
                out.counts.summary("pipeline", started.elapsed()),
                out.dlq,
                out.crashes
            );
            Ok(())
        }
        Command::Featurize {
            bootstrap,
            topic_in,
            topic_out,
            instance_id,
            admin_listen,
        } => {
            let cfg = load(
                loader
                    .set_opt("kafka.bootstrap", bootstrap)
                    .set_opt("topics.raw", topic_in)
                    .set_opt("topics.features", topic_out)
                    .set_opt("featurizer.instance-id", instance_id)
                    .set_opt("admin.listen", admin_listen),
            )?;
            if cfg.kafka.bootstrap.is_empty() {
                bail!("featurize needs a broker: --bootstrap HOST:PORT or kafka.bootstrap");
            }
            volspike_featurizer::ensure_topics(&cfg).await?;
            let stats = volspike_featurizer::run(cfg, shutdown::on_signals()).await?;
            println!(
                "featurize: messages={} ticks={} rows={} dlq={} commits={} aborts={} rebuilds={} offsets_skipped={}",
                stats.messages,
                stats.ticks,
                stats.rows,
                stats.dlq.values().sum::<u64>(),
                stats.commits,
                stats.aborts,
                stats.rebuilds,
                stats.offsets_skipped
            );
            Ok(())
        }
        Command::ExchangeSim(args) => {
            let _cfg = load(loader)?;
            exchange_sim::run(args).await
        }
        Command::Simulate(args) => simulate::run(args),
        Command::Ingest(args) => {
            let cfg = load(args.apply(loader))?;
            if cfg.kafka.bootstrap.is_empty() {
                bail!("ingest needs a broker: --bootstrap HOST:PORT or kafka.bootstrap");
            }
            let opts = args.options(&cfg);
            let broker = volspike_runtime::kafka::Broker::External(cfg.kafka.bootstrap.clone());
            let report =
                volspike_ingestor::run(&cfg, &broker, opts, shutdown::on_signals()).await?;
            println!("{}", volspike_ingestor::cli::summary(&report));
            Ok(())
        }
        Command::Backfill {
            journal,
            from_frame,
            to_frame,
            bootstrap,
        } => {
            let cfg = load(loader.set_opt("kafka.bootstrap", bootstrap))?;
            if cfg.kafka.bootstrap.is_empty() {
                bail!("backfill needs a broker: --bootstrap HOST:PORT or kafka.bootstrap");
            }
            let broker = volspike_runtime::kafka::Broker::External(cfg.kafka.bootstrap.clone());
            let mut output = volspike_ingestor::make_output(&cfg, &broker).await?;
            let resent = tokio::task::spawn_blocking(move || {
                volspike_ingestor::recover::backfill(
                    &cfg,
                    &journal,
                    from_frame,
                    to_frame,
                    &mut output,
                )
            })
            .await??;
            println!(
                "backfill: frames={} records={}",
                resent.frames_read, resent.records
            );
            Ok(())
        }
        Command::ConsumeCheck {
            bootstrap,
            topic,
            min,
            timeout,
        } => {
            let cfg = load(loader.set_opt("kafka.bootstrap", bootstrap))?;
            if cfg.kafka.bootstrap.is_empty() {
                bail!("consume-check needs a broker: --bootstrap HOST:PORT or kafka.bootstrap");
            }
            let c = tokio::task::spawn_blocking(move || {
                volspike_cli::consume_check::count(&cfg, &topic, timeout).map(|c| (c, topic))
            })
            .await??;
            let (c, topic) = c;
            println!(
                "consume-check: topic={topic} messages={} readable={} unreadable={}",
                c.messages,
                c.readable,
                c.messages - c.readable
            );
            if c.readable < min {
                bail!(
                    "{topic} holds {} readable messages, fewer than {min}",
                    c.readable
                );
            }
            Ok(())
        }
        Command::IngestCheck {
            bootstrap,
            journal,
            topic,
        } => {
            let cfg = load(loader.set_opt("kafka.bootstrap", bootstrap))?;
            let topic = topic.unwrap_or_else(|| cfg.topics.raw.clone());
            let c = tokio::task::spawn_blocking(move || {
                volspike_cli::ingest_check::journal_vs_topic(&cfg, &journal, &topic)
            })
            .await??;
            println!(
                "ingest-check: journal_ticks={} topic_ticks={} missing={} extra={}",
                c.journal_ticks, c.topic_ticks, c.missing, c.extra
            );
            if c.missing + c.extra > 0 {
                bail!("the topic does not hold each journal tick exactly once");
            }
            Ok(())
        }
        Command::DumpFeatures {
            bootstrap,
            topic,
            min_rows,
            timeout,
            out,
        } => {
            let cfg = load(loader.set_opt("kafka.bootstrap", bootstrap))?;
            let topic = topic.unwrap_or_else(|| cfg.topics.features.clone());
            let rows = tokio::task::spawn_blocking(move || {
                volspike_cli::ingest_check::features_of_topic(&cfg, &topic, min_rows, timeout)
            })
            .await??;
            parquet::write_rows(&out, &rows)?;
            println!("dump-features: rows={} out={}", rows.len(), out.display());
            Ok(())
        }
        Command::Train {
            features,
            label_kind,
            quantile,
            lookback,
            inputs,
            raw_inputs,
            include_cold,
            split,
            models,
            out,
            model_name,
            no_register,
            registry,
        } => {
            let defaults = volspike_train::train::TrainConfig::default();
            let cfg = volspike_train::train::TrainConfig {
                features: if inputs.is_empty() {
                    defaults.features.clone()
                } else {
                    inputs
                },
                log_scale_inputs: !raw_inputs,
                warm_only: !include_cold,
                split,
                label: volspike_train::dataset::LabelConfig {
                    kind: label_kind,
                    quantile,
                    lookback,
                    ..Default::default()
                },
                models,
                ..defaults
            };
            let started = Instant::now();
            let rows = volspike_replay::parquet::read_files(&features)?;
            let registry_handle = registry.open()?;
            let reg = volspike_train::register::Registration {
                name: (!no_register).then_some(model_name.as_str()),
                experiment: &registry.experiment,
                champion_if_none: false,
            };
            let (report, done) = volspike_train::register::train_pick_register(
                &rows,
                &cfg,
                &out,
                &registry_handle,
                reg,
                volspike_cli::progress::training(cfg.models.len()),
            )
            .await?;
            println!("{}", volspike_train::artifacts::table(&report));
            println!(
                "train: models written to {} in {:.1} s",
                out.display(),
                started.elapsed().as_secs_f64()
            );
            if let Some(logged) = &done.logged {
                println!(
                    "mlflow: experiment {} run {} ({} log-batch calls, {} artifacts) at {}",
                    logged.experiment_id,
                    logged.run_id,
                    logged.batches,
                    logged.artifacts,
                    registry.mlflow_uri.as_deref().unwrap_or_default()
                );
            }
            if let (Some(name), Some(version)) = (reg.name, done.version) {
                let place = match &registry_handle {
                    volspike_mlflow::AnyRegistry::Mlflow(_) => String::new(),
                    local => format!(" in the {local}"),
                };
                println!(
                    "registry: {name} version {version} ({}) is the challenger{place}",
                    done.chosen.name
                );
            }
            Ok(())
        }
        Command::Models(cmd) => {
            use volspike_core::ModelEventKind;
            use volspike_model::registry::{CHALLENGER, Registry as _};
            match cmd {
                ModelsCommand::List { name, registry } => {
                    let r = registry.open()?;
                    print!("{}", volspike_cli::models::list(&r, &name).await?);
                }
                ModelsCommand::Promote {
                    name,
                    version,
                    registry,
                    bootstrap,
                } => {
                    let cfg = load(loader.set_opt("kafka.bootstrap", bootstrap))?;
                    let r = registry.open()?;
                    let version = match version {
                        Some(v) => v,
                        None => r.alias(&name, CHALLENGER).await?.ok_or_else(|| {
                            anyhow!("`{name}` has no challenger in the {r}; pass --version")
                        })?,
                    };
                    let p = r.promote(&name, version).await?;
                    println!(
                        "promote: {name} champion {} -> {} in the {r}",
                        p.from.map_or("none".into(), |v| v.to_string()),
                        p.to
                    );
                    volspike_cli::models::announce(&cfg, ModelEventKind::Promoted, &p).await?;
                }
                ModelsCommand::Rollback {
                    name,
                    registry,
                    bootstrap,
                } => {
                    let cfg = load(loader.set_opt("kafka.bootstrap", bootstrap))?;
                    let r = registry.open()?;
                    let p = r.rollback(&name).await?;
                    println!(
                        "rollback: {name} champion {} -> {} in the {r}",
                        p.from.map_or("none".into(), |v| v.to_string()),
                        p.to
                    );
                    volspike_cli::models::announce(&cfg, ModelEventKind::RolledBack, &p).await?;
                }
            }
            Ok(())
        }
        Command::Serve {
            bootstrap,
            listen,
            model,
            start_from,
            group_id,
            admin_listen,
            warm_from,
            registry,
        } => {
            let cfg = load(
                loader
                    .set_opt("kafka.bootstrap", bootstrap)
                    .set_opt("inference.listen", listen)
                    .set_opt("inference.model", model)
                    .set_opt("inference.start-from", start_from)
                    .set_opt("inference.group-id", group_id)
                    .set_opt("admin.listen", admin_listen),
            )?;
            let bootstrap = Some(cfg.kafka.bootstrap.clone()).filter(|b| !b.is_empty());
            match &bootstrap {
                Some(b) => {
                    volspike_runtime::kafka::ensure_topics(
                        &cfg,
                        b,
                        &volspike_inference::topics(&cfg),
                    )
                    .await?;
                }
                None => tracing::warn!(
                    "no broker (--bootstrap): serving requests only, no live scoring"
                ),
            }
            let running =
                volspike_inference::start(cfg, registry.open()?, bootstrap, shutdown::on_signals())
                    .await?;
            if let Some(path) = warm_from {
                let rows = parquet::read_rows(&path)?;
                for row in &rows {
                    running.state.latest.update(row);
                }
                println!(
                    "serve: latest rows of {} products from {} ({} rows)",
                    running.state.latest.products().len(),
                    path.display(),
                    rows.len()
                );
            }
            println!("serve: gRPC on {}", running.grpc_addr);
            running.wait().await
        }
        Command::Evaluate {
            model,
            registry,
            features,
            predictions_out,
        } => {
            let registry = registry.open()?;
            let (resolved, eval) =
                volspike_cli::evaluate::run(&model, &registry, &features).await?;
            let f = &resolved.file;
            let c = &eval.counts;
            println!(
                "model: {model} ({}{}), label {:?} horizon {:?}, tau = {:.6e}, threshold {:.4}",
                f.name,
                resolved
                    .version
                    .map_or(String::new(), |v| format!(" version {v}")),
                f.label.kind,
                f.label.horizon,
                f.tau,
                f.model.threshold
            );
            println!(
                "rows: {} in, {} labeled (dropped: {} without a full forward window, {} without the trailing window, {} cold, {} missing a feature)",
                c.rows_in,
                c.rows_out,
                c.incomplete_forward,
                c.incomplete_trailing,
                c.cold,
                c.missing_feature
            );
            if let Some(path) = &predictions_out {
                volspike_train::evaluate::write_predictions(path, &eval.predictions)?;
                println!(
                    "predictions: {} rows written to {}",
                    eval.predictions.len(),
                    path.display()
                );
            }
            let m = eval
                .metrics
                .ok_or_else(|| anyhow!("no row of {features:?} could be labeled for this model"))?;
            print!("{}", volspike_train::artifacts::metrics_header());
            print!("{}", volspike_train::artifacts::metrics_line(&f.name, &m));
            println!(
                "(base rate {:.4}; confusion tp {} fp {} fn {} tn {})",
                m.base_rate, m.confusion.tp, m.confusion.fp, m.confusion.fn_, m.confusion.tn
            );
            Ok(())
        }
        Command::CompareFeatures { left, right } => {
            let (l, r) = (parquet::read_rows(&left)?, parquet::read_rows(&right)?);
            if let Some(diff) = compare::first_difference(&l, &r) {
                bail!("{} and {} differ: {diff}", left.display(), right.display());
            }
            println!("compare-features: identical rows={}", l.len());
            Ok(())
        }
        Command::Bench(BenchCommand::Logistic {
            features,
            runs,
            out,
        }) => {
            let b = volspike_cli::bench_train::run(&features, runs, &out)?;
            let mut sorted = b.seconds.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "bench logistic: rows={} width={} fits={} median={:.3}s min={:.3}s out={}",
                b.rows,
                b.width,
                sorted.len(),
                sorted[sorted.len() / 2],
                sorted[0],
                out.display()
            );
            Ok(())
        }
        Command::Bench(BenchCommand::Grpc {
            target,
            rpc,
            rate,
            concurrency,
            duration,
            warmup,
            connections,
            product,
            token,
        }) => {
            use volspike_cli::bench_grpc::{BenchOptions, Load};
            let load = match rate {
                Some(rate) => Load::Open { rate },
                None => Load::Closed {
                    concurrency: concurrency.unwrap_or(64),
                },
            };
            let opts = BenchOptions {
                target,
                rpc,
                load,
                duration,
                warmup,
                connections,
                product,
                token,
            };
            let r = tokio::task::spawn_blocking(move || {
                volspike_cli::bench_grpc::run_on_own_thread(opts)
            })
            .await??;
            let mode = match load {
                Load::Open { rate } => format!("open rate={rate}/s"),
                Load::Closed { concurrency } => format!("closed concurrency={concurrency}"),
            };
            println!(
                "bench grpc: rpc={rpc:?} {mode} requests={} errors={} throughput={:.0}/s p50={}us p90={}us p99={}us p99.9={}us max={}us",
                r.requests,
                r.errors,
                r.throughput(),
                r.p50_us,
                r.p90_us,
                r.p99_us,
                r.p999_us,
                r.max_us
            );
            if let Some(e) = r.first_error {
                println!("bench grpc: first error: {e}");
            }
            Ok(())
        }
        Command::Bench(BenchCommand::MakeInput {
            raw,
            min_ticks,
            out,
        }) => {
            let files = input::expand_globs(&raw)?;
            let (lines, ticks) = bench_input::make_input(&files, min_ticks, &out)?;
            println!(
                "bench make-input: lines={lines} ticks={ticks} out={}",
                out.display()
            );
            Ok(())
        }
    }
}

fn load(loader: ConfigLoader) -> anyhow::Result<Config> {
    let cfg = loader.load()?;
    telemetry::init_tracing(&cfg.log);
    telemetry::prometheus();
    Ok(cfg)
}
