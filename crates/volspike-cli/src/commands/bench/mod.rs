//! `volspike bench`: reproducible measurements (method and results in
//! `docs/benchmarks.md`).

pub mod drift;
pub mod grpc;
pub mod logistic;
pub mod make_input;

use std::path::PathBuf;
use std::time::Duration;

use grpc::{BenchOptions, Load};

/// `volspike bench ...`.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Latency and throughput of a running inference server's GetScore and
    /// Score: open loop at `--rate` requests/s, or closed loop with
    /// `--concurrency` requests in flight.
    Grpc {
        /// Server address.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        target: String,
        /// RPC to measure.
        #[arg(long, value_enum, default_value = "score")]
        rpc: grpc::Rpc,
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
    /// The drift worker's cost per window: ten features, each window of
    /// `--rows` values compared with a reference of `--rows` values on every
    /// statistic; exports the samples for scripts/python/bench_drift.py.
    Drift {
        /// Feature parquet files.
        #[arg(long, required = true, num_args = 1..)]
        features: Vec<PathBuf>,
        /// Values per reference and per window.
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Windows to time.
        #[arg(long, default_value_t = 5)]
        windows: usize,
        /// Directory for reference.f64, windows.f64 and meta.json.
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

/// Runs one benchmark and prints its result line.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Drift {
            features,
            rows,
            windows,
            out,
        } => {
            let b = drift::run(&features, rows, windows, &out)?;
            let mut sorted = b.window_seconds.clone();
            sorted.sort_by(f64::total_cmp);
            println!(
                "bench drift: features={} rows={} windows={} prepare={:.1}ms median={:.1}ms/window min={:.1}ms max={:.1}ms out={}",
                b.features.len(),
                b.rows,
                b.windows,
                b.prepare_seconds * 1e3,
                sorted[sorted.len() / 2] * 1e3,
                sorted[0] * 1e3,
                sorted[sorted.len() - 1] * 1e3,
                out.display()
            );
        }
        BenchCommand::Logistic {
            features,
            runs,
            out,
        } => {
            let b = logistic::run(&features, runs, &out)?;
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
        }
        BenchCommand::Grpc {
            target,
            rpc,
            rate,
            concurrency,
            duration,
            warmup,
            connections,
            product,
            token,
        } => {
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
            let r = tokio::task::spawn_blocking(move || grpc::run_on_own_thread(opts)).await??;
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
        }
        BenchCommand::MakeInput {
            raw,
            min_ticks,
            out,
        } => {
            let files = volspike_replay::recordings::expand_globs(&raw)?;
            let (lines, ticks) = make_input::make_input(&files, min_ticks, &out)?;
            println!(
                "bench make-input: lines={lines} ticks={ticks} out={}",
                out.display()
            );
        }
    }
    Ok(())
}
