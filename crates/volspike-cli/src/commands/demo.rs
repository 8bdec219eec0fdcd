//! `volspike demo`: the whole system in one process on the embedded Kafka.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use volspike_pipeline::demo::{self, DemoOptions};
use volspike_runtime::{ConfigLoader, shutdown, telemetry};

/// Arguments of `volspike demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Seconds of simulated market to run through the system (over 5
    /// minutes, so the 5-minute windows fill); with `--live`, seconds of
    /// the live feed. Default 2400 (900 with `--level-regime`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub seconds: Option<u64>,
    /// Pace of the simulated market: times real time, or `max`. Default 40
    /// (20 with `--level-regime`): about a minute.
    #[arg(long)]
    pub speed: Option<volspike_sim::Speed>,
    /// Read Coinbase's live feed instead of the exchange simulator.
    #[arg(long)]
    pub live: bool,
    /// Product to follow (repeat for more).
    #[arg(long = "pair", default_values = ["BTC-USD", "ETH-USD"])]
    pub pairs: Vec<String>,
    /// Protocol: `advanced-trade` or `exchange`.
    #[arg(long, default_value = "advanced-trade", value_parser = volspike_ingestor::cli::parse_feed)]
    pub feed: volspike_core::Feed,
    /// Keep the ingestor's journal here (default: a temporary directory).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Where to write the features (default: a temporary directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Local model registry the demo trains into.
    #[arg(long, default_value = "data/models")]
    pub registry: PathBuf,
    /// Skip training on simulated history before streaming.
    #[arg(long)]
    pub no_train: bool,
    /// Run without the drift worker.
    #[arg(long)]
    pub no_drift: bool,
    /// Seconds into the simulated market when its regime changes: 4x the
    /// volatility at 2x the tick rate, and every burst then follows a quiet
    /// spell, so the champion's relation of inputs to spikes no longer
    /// holds; the drift worker notices, retrains and the gate promotes.
    /// Default 120 (300 with `--level-regime`).
    #[arg(long, conflicts_with = "no_regime_change",
          value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub regime_change_at: Option<u64>,
    /// Keep the simulated market in one regime.
    #[arg(long)]
    pub no_regime_change: bool,
    /// Change only the level (4x the volatility at 2x the tick rate), which
    /// the default relative label divides out: the worker retrains and the
    /// gate keeps the champion.
    #[arg(long)]
    pub level_regime: bool,
    /// Train with the defaults from before the clock label: the absolute
    /// label on tick returns, tick volatilities as inputs, all four
    /// models. Its spikes are the regime's level, so with `--level-regime`
    /// the champion is out of date after the change and the worker
    /// promotes a challenger, where the default (relative, clock) label
    /// carries over and the gate keeps the champion.
    #[arg(long)]
    pub tick_label: bool,
    /// Where the services' logs go (the terminal shows the demo's own
    /// lines).
    #[arg(long, default_value = "data/logs/demo.log")]
    pub log_file: PathBuf,
}

/// Runs the demo; fails if the live features differ from a replay of the
/// journal.
pub async fn run(a: DemoArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = loader.load()?;
    telemetry::init_tracing_to_file(&cfg.log, &a.log_file)
        .with_context(|| format!("opening the log file {}", a.log_file.display()))?;
    telemetry::prometheus();
    println!("demo: service logs go to {}", a.log_file.display());
    let regime = if a.level_regime {
        demo::DemoRegime::Level
    } else {
        demo::DemoRegime::Relation
    };
    let (seconds, speed, change_at) = regime.timing();
    let opts = DemoOptions {
        products: a.pairs,
        seconds: a.seconds.unwrap_or(seconds),
        speed: a.speed.unwrap_or(volspike_sim::Speed::Factor(speed)),
        live: a.live,
        feed: a.feed,
        journal: a.journal,
        out: a.out,
        print_rows: true,
        train_registry: (!a.no_train).then(|| a.registry.clone()),
        serve_registry: Some(a.registry),
        drift: !a.no_drift,
        regime_change_at: (!a.no_regime_change).then_some(a.regime_change_at.unwrap_or(change_at)),
        regime,
        train: if a.tick_label {
            volspike_train::train::TrainConfig::tick_label()
        } else {
            volspike_train::train::TrainConfig::default()
        },
    };
    let report = demo::run(cfg, opts, shutdown::on_signals()).await?;
    match report.replay_difference {
        None => Ok(()),
        Some(d) => bail!("live features differ from a replay of the journal: {d}"),
    }
}
