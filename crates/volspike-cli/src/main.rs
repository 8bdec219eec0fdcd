//! `volspike`: one command line for every volspike service and tool. This
//! file only parses and dispatches; each subcommand is a module of
//! `volspike_cli::commands`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use volspike_cli::commands::{
    backfill, bench, compare_features, config, consume_check, demo, drift, dump_features, evaluate,
    exchange_sim, featurize, ingest, ingest_check, label_rates, models, pipeline, probe, replay,
    serve, simulate, train,
};
use volspike_runtime::ConfigLoader;

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
    Demo(demo::DemoArgs),
    /// Offline features from recordings with the same engine, no Kafka.
    Replay(replay::ReplayArgs),
    /// Recordings through ticks.raw, the featurizer service and ticks.features into parquet.
    Pipeline(pipeline::PipelineArgs),
    /// The featurizer service: ticks.raw -> ticks.features.
    Featurize(volspike_featurizer::cli::FeaturizeArgs),
    /// The inference service: gRPC scoring (volspike.v1, Open Inference
    /// Protocol v2, health, reflection) and, with a broker, live scoring of
    /// ticks.features into predictions and alerts.volatility.
    Serve(serve::ServeCommandArgs),
    /// Synthetic but realistic Coinbase ticker messages (Advanced Trade shape).
    Simulate(simulate::SimulateArgs),
    /// A local WebSocket server speaking Coinbase's protocol, replaying
    /// recordings (or simulated ticks) with injectable faults.
    ExchangeSim(exchange_sim::ExchangeSimArgs),
    /// The ingestor service: Coinbase WebSocket -> ticks.raw (+ NDJSON journal).
    Ingest(volspike_ingestor::cli::IngestArgs),
    /// Sends journal frames to Kafka: a range the ingestor reported as
    /// undelivered.
    Backfill(backfill::BackfillArgs),
    /// Checks that a topic holds at least N readable (JSON) messages.
    ConsumeCheck(consume_check::ConsumeCheckArgs),
    /// Checks that a topic holds each tick of an ingestor journal exactly once.
    IngestCheck(ingest_check::IngestCheckArgs),
    /// Writes the feature rows of a topic to parquet (canonical order,
    /// re-emissions removed), waiting until it holds `--min-rows`.
    DumpFeatures(dump_features::DumpFeaturesArgs),
    /// Labels feature rows, splits them in time, trains and evaluates models
    /// and writes model files and a report.
    Train(train::TrainArgs),
    /// Scores feature rows with a saved model, labeled with the model's own
    /// label definition and tau, and prints the metrics.
    Evaluate(evaluate::EvaluateArgs),
    /// Each recorder's spike rate with tau from the other recorders, under
    /// the clock and the tick label: does the label transfer?
    LabelRates(label_rates::LabelRatesArgs),
    /// Checks that two feature parquet files hold the same rows, bit for bit.
    CompareFeatures(compare_features::CompareFeaturesArgs),
    /// Drift between feature tables.
    #[command(subcommand)]
    Drift(drift::DriftCommand),
    /// Registered models: list versions, promote, roll back.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Health check of a running service (`/healthz` or grpc.health.v1), for
    /// container healthchecks; exit status 0 when healthy.
    Probe(probe::ProbeArgs),
    /// Checks a configuration and its environment as a service would load
    /// it, naming every unknown key and invalid value.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Reproducible measurements.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
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
        Command::Demo(a) => demo::run(a, loader).await,
        Command::Replay(a) => replay::run(a, loader).await,
        Command::Pipeline(a) => pipeline::run(a, loader).await,
        Command::Featurize(a) => featurize::run(a, loader).await,
        Command::Serve(a) => serve::run(a, loader).await,
        Command::Simulate(a) => simulate::run(a),
        Command::ExchangeSim(a) => exchange_sim::run(a, loader).await,
        Command::Ingest(a) => ingest::run(a, loader).await,
        Command::Backfill(a) => backfill::run(a, loader).await,
        Command::ConsumeCheck(a) => consume_check::run(a, loader).await,
        Command::IngestCheck(a) => ingest_check::run(a, loader).await,
        Command::DumpFeatures(a) => dump_features::run(a, loader).await,
        Command::Train(a) => train::run(a, loader).await,
        Command::Evaluate(a) => evaluate::run(a, loader).await,
        Command::LabelRates(a) => label_rates::run(a),
        Command::CompareFeatures(a) => compare_features::run(a),
        Command::Drift(c) => drift::run(c, loader).await,
        Command::Models(c) => models::run(c, loader).await,
        Command::Bench(c) => bench::run(c).await,
        Command::Probe(a) => probe::run(a).await,
        Command::Config(c) => config::run(c, cli.config.as_deref()).await,
    }
}
