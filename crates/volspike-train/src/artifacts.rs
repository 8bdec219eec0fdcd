//! Training artifacts: every model file, `report.json`, the charts and
//! reports ([`crate::report`]), and the tables printed for a person.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use volspike_core::FeatureRow;
use volspike_core::time::format_timestamp;

use crate::dataset::DatasetCounts;
use crate::train::{TrainConfig, TrainReport};

/// Where training is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// Rows are labeled and counted ([`counts_line`]); splitting comes next.
    Labeled(&'a DatasetCounts, &'a TrainConfig),
    /// This model is being fitted.
    Fitting(&'a str),
}

/// Trains on `groups` of rows and writes `DIR/{model}.json`,
/// `DIR/report.json` and the charts and reports into `out`; returns the
/// report. One group is split in time; several (recordings) are each split
/// in time on their own ([`crate::train::prepare_grouped`]). `progress`
/// hears of each stage.
pub fn train_and_write(
    groups: &[&[FeatureRow]],
    cfg: &TrainConfig,
    out: &Path,
    mut progress: impl FnMut(Stage<'_>),
) -> anyhow::Result<TrainReport> {
    let prepared = match groups {
        [rows] => {
            let (data, counts) = crate::train::build_dataset(rows, cfg)?;
            progress(Stage::Labeled(&counts, cfg));
            crate::train::prepare(data, counts, cfg)?
        }
        _ => {
            let p = crate::train::prepare_grouped(groups, cfg)?;
            progress(Stage::Labeled(&p.counts, cfg));
            p
        }
    };
    let report = crate::train::fit_models(prepared, cfg, |name| progress(Stage::Fitting(name)))?;
    write(&report, out)?;
    Ok(report)
}

/// Writes every model file of `report`, `report.json` and the charts and
/// reports of the chosen model into `out`.
pub fn write(report: &TrainReport, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for m in &report.models {
        let path = out.join(format!("{}.json", m.model.name()));
        report
            .model_file(m)
            .save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // The report without model parameters (trees make it megabytes); those
    // are in the model files next to it.
    let mut summary = serde_json::to_value(report)?;
    for m in summary["models"].as_array_mut().into_iter().flatten() {
        if let Some(model) = m["model"].as_object_mut() {
            model.remove("params");
        }
    }
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let chosen = report.best().context("no model was trained")?;
    crate::report::write_all(report, chosen, out)?;
    Ok(())
}

/// What labeling kept and dropped, as one line.
pub fn counts_line(c: &DatasetCounts, cfg: &TrainConfig) -> String {
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
        "label: {:?} on {}, tau = {:.6e} (quantile {} of train); spike rate train {:.3} / validation {:.3} / test {:.3}",
        r.config.label.kind,
        r.config.label.returns_text(),
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
    let _ = writeln!(
        s,
        "(metrics on the test split; base rate {:.4})",
        r.spike_rates[2]
    );
    let _ = writeln!(
        s,
        "alerts on test at a budget of {} per product-hour (trailing {}):",
        r.config.alerts.per_hour,
        humantime::format_duration(r.config.alerts.window)
    );
    s.push_str(&alert_header());
    for m in &r.models {
        s.push_str(&alert_line(m.model.name(), &m.test_alerts));
    }
    let _ = write!(
        s,
        "(random: the recall of as many alerts placed at random; lead times of caught episodes)"
    );
    s
}

/// The header of [`metrics_line`].
pub fn metrics_header() -> String {
    format!(
        "{:<10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>10}\n",
        "model", "PR-AUC", "ROC-AUC", "F1", "precision", "recall", "Brier", "ECE", "threshold"
    )
}

/// One model's metrics as a table line.
pub fn metrics_line(name: &str, t: &crate::metrics::Metrics) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
    format!(
        "{:<10} {:>8} {:>8} {:>8.4} {:>9.4} {:>8.4} {:>8.4} {:>8} {:>10.4}\n",
        name,
        opt(t.pr_auc),
        opt(t.roc_auc),
        t.f1,
        t.precision,
        t.recall,
        t.brier,
        opt(t.ece),
        t.threshold
    )
}

/// The header of [`alert_line`].
pub fn alert_header() -> String {
    format!(
        "{:<10} {:>8} {:>7} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>7} {:>10} {:>9} {:>8}\n",
        "model",
        "episodes",
        "caught",
        "recall",
        "random",
        "lead p50 s",
        "p10 s",
        "p90 s",
        "alerts",
        "false",
        "alerts/h",
        "false/h",
        "per ep."
    )
}

/// One model's alert-level metrics as a table line (`-` where undefined).
pub fn alert_line(name: &str, m: &volspike_model::alerts::AlertMetrics) -> String {
    let opt = |v: Option<f64>, d: usize| v.map_or("-".to_owned(), |v| format!("{v:.d$}"));
    let lead =
        |f: fn(&volspike_model::alerts::LeadTimes) -> f64| opt(m.lead_time.as_ref().map(f), 1);
    format!(
        "{:<10} {:>8} {:>7} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>7} {:>10} {:>9} {:>8}\n",
        name,
        m.episodes,
        m.caught,
        opt(m.recall, 3),
        opt(m.random_recall, 3),
        lead(|l| l.median_s),
        lead(|l| l.p10_s),
        lead(|l| l.p90_s),
        m.alerts,
        m.false_alerts,
        opt(m.alerts_per_hour, 2),
        opt(m.false_alerts_per_hour, 2),
        opt(m.alerts_per_caught_episode, 2),
    )
}
