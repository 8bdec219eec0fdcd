//! `volspike drift report`: feature rows judged against a model's own
//! reference, offline, as the original system's Evidently report.
//!
//! The model file stores each input's distribution on its training rows
//! (quantiles and decile edges) and its scores' on validation. Against
//! them: per input, the KS distance estimated from the stored quantiles
//! (with its error bound; the raw reference is not needed) and PSI on the
//! stored deciles with its no-drift floor; the model's scores on the rows
//! against its validation scores; and, as the rows can be labeled with the
//! model's own definition, its metrics there beside its test metrics. With
//! `--reference FILE` the inputs are also compared exactly (scipy's KS on
//! the raw samples). Writes `report.json` and `report.html` into `--out`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;
use volspike_drift::bins::{counts, psi, psi_no_drift_floor};
use volspike_drift::detector::{Severity, psi_band};
use volspike_drift::ks::statistic_from_quantiles;
use volspike_drift::table::{feature_index, warm_values};
use volspike_drift::watch::score_drift;
use volspike_drift_worker::http::{bars, esc};
use volspike_drift_worker::report::ScoreRecord;
use volspike_model::metrics::Metrics;
use volspike_model::reference::LEVELS;
use volspike_model::registry::{ModelRef, resolve};
use volspike_runtime::ConfigLoader;

use super::{RegistryArgs, load, open_registry};

/// Arguments of `volspike drift report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A model file, or `models:/NAME@ALIAS` / `models:/NAME/VERSION`.
    #[arg(long)]
    pub model: ModelRef,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Feature parquet files to judge.
    #[arg(long, required = true, num_args = 1..)]
    pub current: Vec<PathBuf>,
    /// Optional raw reference rows (e.g. the training data) for exact KS.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Directory for report.json and report.html.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    kind: String,
    current: Vec<String>,
    rows: u64,
    features: Vec<InputDrift>,
    /// PSI bands over their floors: the highest among the inputs.
    psi_severity: Severity,
    score: Option<ScoreRecord>,
    /// The model on the current rows (its own label and tau).
    current_metrics: Option<Metrics>,
    /// The model on its test split.
    test_metrics: Metrics,
    /// Exact comparisons with `--reference`.
    exact: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct InputDrift {
    name: String,
    n_reference: u64,
    n_current: u64,
    ks_estimate: Option<f64>,
    ks_max_error: Option<f64>,
    ks_pvalue: Option<f64>,
    psi: Option<f64>,
    psi_no_drift_floor: f64,
    psi_band: Severity,
    #[serde(skip)]
    bins: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Writes the report and prints where.
pub async fn run(a: ReportArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let registry_args = a.registry;
    let cfg = load(loader.overrides(move |c| registry_args.apply(c)))?;
    let registry = open_registry(&cfg)?;
    let resolved = resolve(&registry, &a.model)
        .await
        .with_context(|| format!("loading model {}", a.model))?;
    let file = &resolved.file;
    let rows = volspike_replay::parquet::read_files(&a.current)?;
    anyhow::ensure!(!rows.is_empty(), "no feature rows in {:?}", a.current);
    let mut features = Vec::new();
    for dist in &file.reference {
        let Ok(index) = feature_index(&dist.name) else {
            continue;
        };
        let (values, used) = warm_values(&rows, index);
        let floor = psi_no_drift_floor(dist.decile_edges.len() + 1, dist.count, used.used);
        let ks = statistic_from_quantiles(&LEVELS, &dist.quantiles, &values);
        let bins = counts(&dist.decile_edges, &values);
        let p = psi(&vec![1; dist.decile_edges.len() + 1], &bins).ok();
        features.push(InputDrift {
            name: dist.name.clone(),
            n_reference: dist.count,
            n_current: used.used,
            ks_estimate: ks.map(|k| k.statistic),
            ks_max_error: ks.map(|k| k.max_error),
            ks_pvalue: ks.map(|k| k.pvalue),
            psi: p.filter(|_| used.used > 0),
            psi_no_drift_floor: floor,
            psi_band: p.map_or(Severity::None, |p| psi_band(p - floor)),
            bins,
            error: (used.used == 0).then(|| "no warm row has this input".to_owned()),
        });
    }
    let eval = volspike_train::evaluate::evaluate(file, &rows)?;
    let scores: Vec<f64> = eval.predictions.iter().map(|p| p.score).collect();
    let score = file
        .score_reference
        .as_ref()
        .and_then(|r| score_drift(r, &scores))
        .map(ScoreRecord::from);
    let exact = match &a.reference {
        Some(path) => {
            let reference = volspike_replay::parquet::read_rows(path)?;
            let names: Vec<String> = file.model.feature_names.clone();
            let compared = volspike_drift::table::compare_rows(&reference, &rows, &names)?;
            Some(serde_json::Value::Array(
                compared
                    .iter()
                    .map(|f| {
                        let ok = f.result.as_ref().ok();
                        serde_json::json!({
                            "name": f.name,
                            "n_reference": f.reference_rows.used,
                            "n_current": f.current_rows.used,
                            "ks_statistic": ok.map(|c| c.ks_statistic),
                            "ks_pvalue": ok.map(|c| c.ks_pvalue),
                            "ks_pvalue_bh": f.ks_pvalue_bh,
                            "psi": ok.map(|c| c.psi),
                            "wasserstein_norm": ok.and_then(|c| c.wasserstein_norm),
                            "js": ok.map(|c| c.js),
                        })
                    })
                    .collect(),
            ))
        }
        None => None,
    };
    let report = Report {
        model: match resolved.version {
            Some(v) => format!("{} version {v}", a.model),
            None => a.model.to_string(),
        },
        kind: file.model.name().to_owned(),
        current: a.current.iter().map(|p| p.display().to_string()).collect(),
        rows: rows.len() as u64,
        psi_severity: features
            .iter()
            .map(|f| f.psi_band)
            .max()
            .unwrap_or(Severity::None),
        features,
        score,
        current_metrics: eval.metrics.clone(),
        test_metrics: file.test.clone(),
        exact,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let json = a.out.join("report.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    let html = a.out.join("report.html");
    std::fs::write(&html, page(&report)).with_context(|| format!("writing {}", html.display()))?;
    println!(
        "drift report: {} inputs, PSI severity {:?}; {} and {}",
        report.features.len(),
        report.psi_severity,
        json.display(),
        html.display()
    );
    Ok(())
}

fn page(r: &Report) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>volspike drift report</title>\
         <style>body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}\
         td:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:1em}\
         .plot{border:1px solid #ddd;padding:.4em}</style></head><body>",
    );
    let _ = write!(
        h,
        "<h1>drift report</h1><p>model {} ({}) against {} rows of {}</p>",
        esc(&r.model),
        esc(&r.kind),
        r.rows,
        esc(&r.current.join(", "))
    );
    h.push_str(
        "<table><tr><th>input</th><th>n reference</th><th>n current</th><th>KS (estimate)</th>\
         <th>&plusmn;</th><th>PSI</th><th>no-drift floor</th><th>band</th></tr>",
    );
    let num = |v: Option<f64>| v.map_or_else(|| "&ndash;".to_owned(), |v| format!("{v:.4}"));
    for f in &r.features {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:?}</td></tr>",
            esc(&f.name),
            f.n_reference,
            f.n_current,
            num(f.ks_estimate),
            num(f.ks_max_error),
            num(f.psi),
            f.psi_no_drift_floor,
            f.psi_band
        );
    }
    h.push_str("</table>");
    if let Some(s) = &r.score {
        let _ = write!(
            h,
            "<p>scores: KS {:.4} (&plusmn;{:.4}) against validation, PSI {:.4} (floor {:.4}), {} scores</p>",
            s.ks_estimate, s.ks_max_error, s.psi, s.psi_floor, s.n
        );
    }
    let pr = |m: &Metrics| {
        m.pr_auc
            .map_or_else(|| "undefined".to_owned(), |v| format!("{v:.4}"))
    };
    let _ = write!(
        h,
        "<p>PR-AUC here {} (base rate {}); on its test split {} (base rate {:.4})</p>",
        r.current_metrics
            .as_ref()
            .map_or_else(|| "undefined".to_owned(), pr),
        r.current_metrics
            .as_ref()
            .map_or_else(|| "&ndash;".to_owned(), |m| format!("{:.4}", m.base_rate)),
        pr(&r.test_metrics),
        r.test_metrics.base_rate
    );
    h.push_str("<h2>training (grey) and current (blue) share per training decile</h2><div class=\"plots\">");
    for f in &r.features {
        let _ = write!(h, "<div class=\"plot\"><div>{}</div>", esc(&f.name));
        h.push_str(&bars(&vec![1; f.bins.len()], &f.bins));
        h.push_str("</div>");
    }
    h.push_str("</div></body></html>");
    h
}
