//! `volspike pipeline`: recordings through `ticks.raw`, the featurizer
//! service and `ticks.features` into parquet.

use std::time::{Duration, Instant};

use volspike_pipeline::pipeline::{self, Input, PipelineOptions};
use volspike_replay::parquet;
use volspike_runtime::ConfigLoader;

use super::{InputArgs, bootstrap_flag, load};

/// Arguments of `volspike pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Kafka bootstrap servers; the embedded Kafka when absent.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// In-process featurizer instances; 0 when they run as separate processes.
    #[arg(long, default_value_t = 1)]
    pub featurizers: usize,
    /// Fault injection: drop featurizer 0 without shutdown once this
    /// many input messages are committed, then start a replacement.
    #[arg(long, hide = true)]
    pub crash_after: Option<i64>,
    /// Longest wait for the featurizers, e.g. `10m`.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Runs the pipeline and writes what came out of `ticks.features`.
pub async fn run(a: PipelineArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let cfg = load(loader.overrides(bootstrap_flag(a.bootstrap)))?;
    let files = a.input.files()?;
    let started = Instant::now();
    let opts = PipelineOptions {
        featurizers: a.featurizers,
        crash_after: a.crash_after,
        timeout: a.timeout,
        on_row: None,
        serve: None,
        drift: None,
    };
    let out = pipeline::run(cfg, Input::Recordings(files), opts).await?;
    parquet::write_rows(&a.input.out, &out.rows)?;
    println!(
        "{} dlq={} crashes={}",
        out.counts.summary("pipeline", started.elapsed()),
        out.dlq,
        out.crashes
    );
    Ok(())
}
