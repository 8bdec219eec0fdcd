//! `volspike bench drift`: the drift worker's per-window cost. Ten features,
//! each a reference of `rows` values and windows of `rows` values taken in
//! time order from a feature file; every window is compared with its
//! reference on every statistic (KS with scipy's p-value, PSI, normalized
//! Wasserstein, Jensen-Shannon), as `volspike_drift::compare::compare_all`
//! does live: features in parallel over the machine's cores.
//! The exact samples and results are exported, so
//! `scripts/python/bench_drift.py` can time numpy/scipy on the same numbers
//! and check that both computed the same thing (`scripts/bench-drift.sh`
//! runs both).

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};
use volspike_drift::compare::{Reference, compare_all};
use volspike_drift::table::{STATIONARY_FEATURES, feature_index, warm_values};

/// What one benchmark run measured.
#[derive(Debug, serde::Serialize)]
pub struct DriftBench {
    /// Features.
    pub features: Vec<String>,
    /// Values per reference and per window.
    pub rows: usize,
    /// Windows compared.
    pub windows: usize,
    /// Seconds to prepare the ten references (sort, bins, std), once.
    pub prepare_seconds: f64,
    /// Seconds per window (all features).
    pub window_seconds: Vec<f64>,
    /// Per window, per feature: ks_statistic, ks_pvalue, psi,
    /// wasserstein_norm, js.
    pub results: Vec<Vec<[f64; 5]>>,
}

/// Times `windows` windows of `rows` values per feature from `files`;
/// writes `out/reference.f64` and `out/windows.f64` (little-endian,
/// feature-major) and `out/meta.json`.
pub fn run(
    files: &[std::path::PathBuf],
    rows: usize,
    windows: usize,
    out: &Path,
) -> anyhow::Result<DriftBench> {
    if rows == 0 || windows == 0 {
        bail!("--rows and --windows must be at least 1");
    }
    let table = volspike_replay::parquet::read_files(files)?;
    let mut references = Vec::new();
    let mut series = Vec::new();
    for name in STATIONARY_FEATURES {
        let (values, used) = warm_values(&table, feature_index(name)?);
        let need = rows * (windows + 1);
        if values.len() < need {
            bail!(
                "{name} has {} usable values ({} rows, {} not warm, {} undefined); \
                 {windows} windows of {rows} need {need}",
                values.len(),
                used.rows,
                used.not_warm,
                used.undefined
            );
        }
        references.push(values[..rows].to_vec());
        series.push(values[rows..need].to_vec());
    }
    let started = Instant::now();
    let prepared = references
        .iter()
        .map(|r| Reference::new(r))
        .collect::<Result<Vec<_>, _>>()?;
    let prepare_seconds = started.elapsed().as_secs_f64();
    let mut window_seconds = Vec::with_capacity(windows);
    let mut results = Vec::with_capacity(windows);
    for w in 0..windows {
        let started = Instant::now();
        let windows: Vec<&[f64]> = series
            .iter()
            .map(|s| &s[w * rows..(w + 1) * rows])
            .collect();
        let compared = compare_all(&prepared, &windows)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        window_seconds.push(started.elapsed().as_secs_f64());
        results.push(
            compared
                .iter()
                .map(|c| {
                    [
                        c.ks_statistic,
                        c.ks_pvalue,
                        c.psi,
                        c.wasserstein_norm.unwrap_or(f64::NAN),
                        c.js,
                    ]
                })
                .collect(),
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_f64(&out.join("reference.f64"), references.iter().flatten())?;
    write_f64(&out.join("windows.f64"), series.iter().flatten())?;
    let bench = DriftBench {
        features: STATIONARY_FEATURES.iter().map(|&f| f.to_owned()).collect(),
        rows,
        windows,
        prepare_seconds,
        window_seconds,
        results,
    };
    std::fs::write(out.join("meta.json"), serde_json::to_vec_pretty(&bench)?)?;
    Ok(bench)
}

fn write_f64<'a>(path: &Path, values: impl Iterator<Item = &'a f64>) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for v in values {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()?;
    Ok(())
}
