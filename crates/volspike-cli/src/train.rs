//! `volspike train`: features -> labeled splits -> models -> metrics and
//! model files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use volspike_core::time::format_timestamp;
use volspike_model::artifact::ModelFile;
use volspike_model::dataset::DatasetCounts;
use volspike_model::train::{TrainConfig, TrainReport};

/// Reads every parquet file, trains, writes `DIR/{model}.json`,
/// `DIR/report.json` and the charts and reports, and returns the report.
pub fn run(files: &[PathBuf], cfg: &TrainConfig, out: &Path) -> anyhow::Result<TrainReport> {
    run_rows(&read_features(files)?, cfg, out)
}

/// Every row of the feature parquet files; an error if there are none.
pub fn read_features(files: &[PathBuf]) -> anyhow::Result<Vec<volspike_core::FeatureRow>> {
    let mut rows = Vec::new();
    for f in files {
        rows.extend(volspike_replay::parquet::read_rows(f)?);
    }
    anyhow::ensure!(!rows.is_empty(), "no feature rows in {files:?}");
    Ok(rows)
}

/// [`run`] on rows already in memory.
pub fn run_rows(
    rows: &[volspike_core::FeatureRow],
    cfg: &TrainConfig,
    out: &Path,
) -> anyhow::Result<TrainReport> {
    let bar = indicatif::ProgressBar::new(cfg.models.len() as u64 + 1);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    bar.set_message("labeling and splitting");
    let (data, counts) = volspike_model::train::build_dataset(rows, cfg)?;
    bar.suspend(|| eprintln!("{}", counts_line(&counts, cfg)));
    let prepared = volspike_model::train::prepare(data, counts, cfg)?;
    let report = volspike_model::train::fit_models(prepared, cfg, |name| {
        bar.inc(1);
        bar.set_message(format!("fitting {name}"));
    })?;
    bar.finish_and_clear();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for m in &report.models {
        let path = out.join(format!("{}.json", m.model.name()));
        ModelFile::new(&report, m)
            .save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // The report without model parameters (trees make it megabytes); those
    // are in the model files next to it.
    let mut summary = serde_json::to_value(&report)?;
    for m in summary["models"].as_array_mut().into_iter().flatten() {
        if let Some(model) = m["model"].as_object_mut() {
            model.remove("params");
        }
    }
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let chosen = report.best().context("no model was trained")?;
    crate::report::write_all(&report, chosen, out)?;
    Ok(report)
}

fn counts_line(c: &DatasetCounts, cfg: &TrainConfig) -> String {
    format!(
        "rows: {} in, {} labeled (dropped: {} without a full {:?} forward window, {} without the trailing window, {} cold, {} missing a feature)",
        c.rows_in,
        c.rows_out,
        c.incomplete_forward,
        cfg.label.horizon,
        c.incomplete_trailing,
        c.cold,
        c.missing_feature
    )
}

/// The report for a person: splits, tau, then one line per model.
pub fn table(r: &TrainReport) -> String {
    let mut s = String::new();
    let sp = &r.splits;
    let _ = writeln!(
        s,
        "splits: train {} / validation {} / test {} rows ({} embargoed); train span {} .. {}",
        sp.train.len(),
        sp.validation.len(),
        sp.test.len(),
        sp.embargoed,
        format_timestamp(r.train_span_ns.0),
        format_timestamp(r.train_span_ns.1)
    );
    let _ = writeln!(
        s,
        "label: {:?}, tau = {:.6e} (quantile {} of train); spike rate train {:.3} / validation {:.3} / test {:.3}",
        r.config.label.kind,
        r.tau,
        r.config.label.quantile,
        r.spike_rates[0],
        r.spike_rates[1],
        r.spike_rates[2]
    );
    s.push_str(&metrics_header());
    for m in &r.models {
        s.push_str(&metrics_line(m.model.name(), &m.test));
    }
    let _ = write!(
        s,
        "(metrics on the test split; base rate {:.4})",
        r.spike_rates[2]
    );
    s
}

/// The header of [`metrics_line`].
pub fn metrics_header() -> String {
    format!(
        "{:<10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>10}\n",
        "model", "PR-AUC", "ROC-AUC", "F1", "precision", "recall", "Brier", "threshold"
    )
}

/// One model's metrics as a table line.
pub fn metrics_line(name: &str, t: &volspike_model::metrics::Metrics) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
    format!(
        "{:<10} {:>8} {:>8} {:>8.4} {:>9.4} {:>8.4} {:>8.4} {:>10.4}\n",
        name,
        opt(t.pr_auc),
        opt(t.roc_auc),
        t.f1,
        t.precision,
        t.recall,
        t.brier,
        t.threshold
    )
}
