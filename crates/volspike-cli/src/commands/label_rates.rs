//! `volspike label-rates`: whether a label means the same on every recorder.
//! Each feature file is one group (a recorder, a month); each group's spike
//! rate is taken with tau from the other groups, under the clock label and
//! the tick label.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use volspike_core::FeatureRow;
use volspike_train::dataset::{LabelConfig, LabelKind, LabelReturns};
use volspike_train::transfer::{GroupRate, leave_one_out_spike_rates, rate_spread};

/// Arguments of `volspike label-rates`.
#[derive(Debug, clap::Args)]
pub struct LabelRatesArgs {
    /// Feature parquet files, one per group (`volspike replay` of one
    /// recorder's recordings); the group is named by the file's stem.
    #[arg(long, required = true, num_args = 2..)]
    pub features: Vec<PathBuf>,
    /// `absolute` or `relative` (forward over trailing volatility).
    #[arg(long, default_value = "relative", value_parser = super::train::parse_label_kind)]
    pub label_kind: LabelKind,
    /// Trailing window of the relative label.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub lookback: Duration,
    /// tau is this quantile of the other groups' targets.
    #[arg(long, default_value_t = 0.9)]
    pub quantile: f64,
    /// Count every labeled row, not only warm ones.
    #[arg(long)]
    pub include_cold: bool,
    /// Groups with fewer labeled rows are shown but left out of the spread.
    #[arg(long, default_value_t = 500)]
    pub min_rows: usize,
}

/// One group per feature file, named by the file's stem (a recorder's
/// rows, as `volspike replay` wrote them).
pub(crate) fn groups_by_file(files: &[PathBuf]) -> anyhow::Result<Vec<(String, Vec<FeatureRow>)>> {
    let mut groups = Vec::new();
    for f in files {
        let rows = volspike_replay::parquet::read_files(std::slice::from_ref(f))?;
        let name = f
            .file_stem()
            .with_context(|| format!("{} has no file name", f.display()))?
            .to_string_lossy()
            .into_owned();
        groups.push((name, rows));
    }
    Ok(groups)
}

/// Prints one line per group and the spread (highest / lowest rate).
pub fn run(a: LabelRatesArgs) -> anyhow::Result<()> {
    let groups = groups_by_file(&a.features)?;
    let label = |returns| LabelConfig {
        returns,
        step: Duration::from_secs(1),
        quantile: a.quantile,
        kind: a.label_kind,
        lookback: a.lookback,
        ..LabelConfig::default()
    };
    let warm_only = !a.include_cold;
    let clock = leave_one_out_spike_rates(&groups, &label(LabelReturns::Clock), warm_only)?;
    let tick = leave_one_out_spike_rates(&groups, &label(LabelReturns::Tick), warm_only)?;
    println!(
        "{:<24} {:>8} {:>12} {:>12}",
        "group", "rows", "clock rate", "tick rate"
    );
    let pct = |g: &GroupRate| {
        g.spike_rate
            .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0))
    };
    for (c, t) in clock.iter().zip(&tick) {
        println!(
            "{:<24} {:>8} {:>12} {:>12}",
            c.group,
            c.rows,
            pct(c),
            pct(t)
        );
    }
    let spread =
        |r: &[GroupRate]| rate_spread(r, a.min_rows).map_or("-".to_owned(), |s| format!("{s:.2}"));
    println!(
        "spread (highest / lowest rate, groups with >= {} rows): clock {}, tick {}",
        a.min_rows,
        spread(&clock),
        spread(&tick)
    );
    Ok(())
}
