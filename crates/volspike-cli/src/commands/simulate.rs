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
    /// Minutes of market to simulate.
    #[arg(long, default_value_t = 10)]
    pub minutes: u64,
    /// Random seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Start time (RFC 3339).
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    pub start: String,
    /// Output NDJSON file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the recording and prints the summary line.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let start_ns = parse_timestamp(&args.start).map_err(|e| anyhow::anyhow!("--start: {e}"))?;
    let cfg = MarketConfig {
        products: args.products,
        start_ns,
        seconds: args.minutes * 60,
        seed: args.seed,
        regime: None,
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
