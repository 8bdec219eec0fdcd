//! `volspike bench logistic`: times the logistic regression fit on the
//! training split of a feature file and exports that exact standardized
//! matrix, so `scripts/python/bench_logistic.py` can time scikit-learn on
//! the same numbers (`scripts/bench-train.sh` runs both).

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use volspike_model::model::{Params, Scaler};
use volspike_train::train::{self, TrainConfig, fit_logistic};

/// The benchmark's inputs: every feature but the price levels and the
/// book and volume ones (eleven, where the default inputs are three), as
/// when the results in `docs/benchmarks.md` were first recorded.
pub fn bench_inputs() -> Vec<String> {
    const LEFT_OUT: [&str; 9] = [
        "bid_ask_spread",
        "order_book_imbalance",
        "volume_24h_pct_change",
        "mid_price",
        // Added by feature schema 2, after the results were recorded.
        "clock_volatility_10s",
        "clock_volatility_1min",
        "clock_volatility_5min",
        "clock_volatility_30min",
        "activity_ratio",
    ];
    volspike_core::FEATURE_NAMES
        .iter()
        .filter(|f| !LEFT_OUT.contains(f))
        .map(|f| (*f).to_owned())
        .collect()
}

/// What one benchmark run measured.
#[derive(Debug, serde::Serialize)]
pub struct LogisticBench {
    /// Training rows.
    pub rows: usize,
    /// Inputs per row.
    pub width: usize,
    /// L2 strength (1 / C).
    pub alpha: f64,
    /// Seconds of each fit.
    pub seconds: Vec<f64>,
    /// Coefficients of the last fit.
    pub coef: Vec<f64>,
    /// Intercept of the last fit.
    pub intercept: f64,
}

/// Fits `runs` times on the training split of `files`; writes `out/z.f64`
/// (row-major little-endian f64), `out/y.u8` and `out/meta.json`.
pub fn run(files: &[std::path::PathBuf], runs: usize, out: &Path) -> anyhow::Result<LogisticBench> {
    let rows = volspike_replay::parquet::read_files(files)?;
    // The label the results were recorded with: absolute, tick returns.
    let cfg = TrainConfig {
        features: bench_inputs(),
        ..TrainConfig::tick_label()
    };
    let (data, counts) = train::build_dataset(&rows, &cfg)?;
    let p = train::prepare(data, counts, &cfg)?;
    let width = p.data.feature_names.len();
    let r = p.splits.train.clone();
    let x = &p.data.x[r.start * width..r.end * width];
    let y = &p.labels[r.clone()];
    let scaler = Scaler::fit(x, width);
    let z = scaler.transform_rows(x);
    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let params = fit_logistic(&z, y, width, cfg.logistic_alpha, cfg.class_weight)?;
        seconds.push(started.elapsed().as_secs_f64());
        last = Some(params);
    }
    let Some(Params::Logistic { coef, intercept }) = last else {
        anyhow::bail!("the fit returned no logistic model");
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut zf = std::io::BufWriter::new(std::fs::File::create(out.join("z.f64"))?);
    for v in &z {
        zf.write_all(&v.to_le_bytes())?;
    }
    zf.flush()?;
    std::fs::write(
        out.join("y.u8"),
        y.iter().map(|&b| u8::from(b)).collect::<Vec<u8>>(),
    )?;
    let bench = LogisticBench {
        rows: y.len(),
        width,
        alpha: cfg.logistic_alpha,
        seconds,
        coef,
        intercept,
    };
    std::fs::write(out.join("meta.json"), serde_json::to_vec_pretty(&bench)?)?;
    Ok(bench)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_benchmark_fits_the_eleven_inputs_it_was_recorded_with() {
        let inputs = super::bench_inputs();
        assert_eq!(inputs.len(), 11);
        assert_eq!(inputs[0], "log_return");
        assert_eq!(inputs[10], "time_since_prev_tick_s");
    }
}
