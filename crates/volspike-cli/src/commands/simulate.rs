//! `volspike simulate`: a simulated market written as an Advanced Trade
//! NDJSON recording.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use volspike_core::time::parse_timestamp;
use volspike_sim::MarketConfig;

/// Arguments of `volspike simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Products, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "BTC-USD,ETH-USD")]
    pub products: Vec<String>,
    /// Minutes of market to simulate (at most a year).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=525_600))]
    pub minutes: u64,
    /// Random seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Start time (RFC 3339).
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    pub start: String,
    /// Minutes in when the market changes regime (more volatile, more
    /// ticks); none by default.
    #[arg(long)]
    pub regime_change_after: Option<u64>,
    /// Volatility of the new regime, times the old.
    #[arg(long, default_value_t = 4.0, requires = "regime_change_after")]
    pub regime_volatility: f64,
    /// Tick rate of the new regime, times the old.
    #[arg(long, default_value_t = 2.0, requires = "regime_change_after")]
    pub regime_tick_rate: f64,
    /// From the change on, each volatility burst follows a quiet spell
    /// (the demo's regime: a burst every 2 minutes after 30 s of calm), so
    /// recent calm, not recent activity, comes before a spike.
    #[arg(long, requires = "regime_change_after")]
    pub regime_precursor: bool,
    /// Output NDJSON file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the recording and prints the summary line.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let start_ns = parse_timestamp(&args.start).map_err(|e| anyhow::anyhow!("--start: {e}"))?;
    if let Some(m) = args.regime_change_after {
        anyhow::ensure!(
            m < args.minutes,
            "--regime-change-after {m} is not inside the {} simulated minutes",
            args.minutes
        );
    }
    for (name, v) in [
        ("--regime-volatility", args.regime_volatility),
        ("--regime-tick-rate", args.regime_tick_rate),
    ] {
        anyhow::ensure!(
            v.is_finite() && v > 0.0,
            "{name} must be a positive factor, not {v}"
        );
    }
    let cfg = MarketConfig {
        products: args.products,
        start_ns,
        seconds: args.minutes * 60,
        seed: args.seed,
        regime: args
            .regime_change_after
            .map(|m| volspike_sim::RegimeChange {
                at_ns: start_ns + m as i64 * 60 * 1_000_000_000,
                volatility: args.regime_volatility,
                tick_rate: args.regime_tick_rate,
                precursor: args
                    .regime_precursor
                    .then_some(volspike_sim::Precursor::CALM_BEFORE_THE_STORM),
            }),
    };
    let started = Instant::now();
    let (lines, ticks) = volspike_sim::write_ndjson_file(&cfg, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "simulate: lines={lines} ticks={ticks} out={} elapsed={secs:.3}s rate={:.0} ticks/s",
        args.out.display(),
        ticks as f64 / secs.max(1e-9)
    );
    Ok(())
}
