//! `volspike drift`: the drift and retrain worker, and drift offline.
//!
//! - `serve` runs the worker (as `volspike-drift`).
//! - `retrain` asks a running worker to retrain now
//!   (`POST /retrain/execute`) and can wait for its decision.
//! - `compare` puts two parquet files of feature rows side by side, feature
//!   by feature, with the statistics of `volspike_drift` (scipy's semantics
//!   for KS, PSI on the reference's fixed decile bins with its no-drift
//!   floor, normalized Wasserstein, Jensen-Shannon).
//! - `import` puts feature rows into the worker's archive.
//! - `report` judges feature rows against a model's stored reference, as
//!   the worker does, into `report.json` and `report.html`
//!   ([`super::drift_report`]).

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;
use volspike_drift::ks::KsMethod;
use volspike_drift::table::{self, FeatureComparison, RowsUsed};
use volspike_replay::parquet;

/// `volspike drift` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DriftCommand {
    /// Run the drift and retrain worker (as `volspike-drift`).
    Serve(volspike_drift_worker::cli::ServeArgs),
    /// Ask a running worker to retrain now; with --wait, print its decision.
    Retrain(RetrainArgs),
    /// A model's reference against feature rows: per-input KS (estimated
    /// from the stored quantiles) and PSI, score drift and performance, as
    /// report.json and report.html.
    Report(super::drift_report::ReportArgs),
    /// Drift of every feature between two feature parquet files: rows used,
    /// KS statistic and p-value (scipy's ks_2samp on the raw samples), PSI
    /// and its no-drift floor, normalized Wasserstein, Jensen-Shannon.
    Compare(CompareArgs),
    /// Put feature rows (e.g. the champion's training set) into the
    /// worker's archive, so that a new worker calibrates on the champion's
    /// training span and retrains on history it did not watch.
    Import(ImportArgs),
}

/// Arguments of `volspike drift import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Feature parquet files (as `volspike replay` writes them).
    #[arg(long, num_args = 1.., required = true)]
    pub features: Vec<PathBuf>,
    /// The worker's data directory (default: drift.data-dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Arguments of `volspike drift compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The reference rows (e.g. the training period).
    #[arg(long)]
    pub reference: PathBuf,
    /// The rows to compare with it.
    #[arg(long)]
    pub current: PathBuf,
    /// Features to compare (default: all).
    #[arg(long, value_delimiter = ',')]
    pub inputs: Vec<String>,
    /// Writes the comparison as JSON here.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

/// Arguments of `volspike drift retrain`.
#[derive(Debug, clap::Args)]
pub struct RetrainArgs {
    /// The worker's admin address.
    #[arg(long, default_value = "http://127.0.0.1:9464")]
    pub url: String,
    /// Bearer token (the worker's drift.retrain-token).
    #[arg(long, env = "VOLSPIKE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Wait for the decision and print it.
    #[arg(long)]
    pub wait: bool,
    /// Longest to wait for the decision.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

/// Runs a `volspike drift` subcommand.
pub async fn run(
    command: DriftCommand,
    loader: volspike_runtime::ConfigLoader,
) -> anyhow::Result<()> {
    match command {
        DriftCommand::Compare(a) => compare(a),
        DriftCommand::Serve(a) => {
            let cfg = super::load(loader.overrides(move |c| a.apply(c)))?;
            let summary =
                volspike_drift_worker::run(cfg, volspike_runtime::shutdown::on_signals()).await?;
            println!("{summary}");
            Ok(())
        }
        DriftCommand::Retrain(a) => retrain(a).await,
        DriftCommand::Import(a) => {
            let cfg = super::load(loader)?;
            let dir = a.data_dir.unwrap_or(cfg.drift.data_dir).join("archive");
            let rows = parquet::read_files(&a.features)?;
            let mut archive =
                volspike_drift_worker::archive::Archive::open(&dir, cfg.drift.archive_days)?;
            let n = archive.import(rows)?;
            let (files, written) = archive.written();
            println!(
                "drift import: {n} rows into {} ({files} hourly files written, {written} rows in them)",
                dir.display()
            );
            Ok(())
        }
        DriftCommand::Report(a) => super::drift_report::run(a, loader).await,
    }
}

async fn retrain(a: RetrainArgs) -> anyhow::Result<()> {
    let base = a.url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let mut req = client.post(format!("{base}/retrain/execute"));
    if let Some(t) = &a.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("asking the worker at {base} to retrain"))?;
    let status = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .with_context(|| format!("reading the worker's answer ({status})"))?;
    let Some(seq) = body["started"].as_u64() else {
        anyhow::bail!(
            "the worker did not retrain ({status}): {}",
            body["reason"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given")
        );
    };
    println!("retrain {seq} started");
    if !a.wait {
        return Ok(());
    }
    let started = std::time::Instant::now();
    loop {
        let s: serde_json::Value = client
            .get(format!("{base}/retrain/status"))
            .send()
            .await?
            .json()
            .await?;
        let d = &s["last_decision"];
        if d["retrain"].as_u64() == Some(seq) {
            println!(
                "retrain {seq}: {} ({})",
                d["verdict"].as_str().unwrap_or("?"),
                d["reason"].as_str().unwrap_or("")
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < a.timeout,
            "no decision for retrain {seq} within {:?}",
            a.timeout
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// What `--json-out` holds.
#[derive(Debug, Serialize)]
struct CompareReport {
    reference: String,
    current: String,
    /// Features with statistics.
    compared: usize,
    /// Features without (a side had no usable value).
    not_compared: usize,
    features: Vec<FeatureJson>,
}

#[derive(Debug, Serialize)]
struct FeatureJson {
    name: String,
    reference_rows: RowsJson,
    current_rows: RowsJson,
    n_reference: u64,
    n_current: u64,
    ks_statistic: Option<f64>,
    ks_pvalue: Option<f64>,
    ks_method: Option<&'static str>,
    ks_pvalue_bh: Option<f64>,
    ks_pvalue_bonferroni: Option<f64>,
    psi: Option<f64>,
    psi_no_drift_floor: Option<f64>,
    wasserstein_norm: Option<f64>,
    js: Option<f64>,
    /// Why there are no statistics.
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct RowsJson {
    rows: u64,
    not_warm: u64,
    undefined: u64,
    used: u64,
}

impl From<RowsUsed> for RowsJson {
    fn from(r: RowsUsed) -> Self {
        RowsJson {
            rows: r.rows,
            not_warm: r.not_warm,
            undefined: r.undefined,
            used: r.used,
        }
    }
}

impl From<&FeatureComparison> for FeatureJson {
    fn from(f: &FeatureComparison) -> Self {
        let ok = f.result.as_ref().ok();
        FeatureJson {
            name: f.name.clone(),
            reference_rows: f.reference_rows.into(),
            current_rows: f.current_rows.into(),
            n_reference: f.reference_rows.used,
            n_current: f.current_rows.used,
            ks_statistic: ok.map(|c| c.ks_statistic),
            ks_pvalue: ok.map(|c| c.ks_pvalue),
            ks_method: ok.map(|c| match c.ks_method {
                KsMethod::Exact => "exact",
                KsMethod::Asymptotic => "asymptotic",
            }),
            ks_pvalue_bh: f.ks_pvalue_bh,
            ks_pvalue_bonferroni: f.ks_pvalue_bonferroni,
            psi: ok.map(|c| c.psi),
            psi_no_drift_floor: ok.map(|c| c.psi_floor),
            wasserstein_norm: ok.and_then(|c| c.wasserstein_norm),
            js: ok.map(|c| c.js),
            error: f.result.as_ref().err().map(|e| e.to_string()),
        }
    }
}

fn compare(a: CompareArgs) -> anyhow::Result<()> {
    let read = |p: &PathBuf| {
        parquet::read_rows(p).with_context(|| format!("reading feature rows from {}", p.display()))
    };
    let (reference, current) = (read(&a.reference)?, read(&a.current)?);
    let features = table::compare_rows(&reference, &current, &a.inputs)?;
    println!(
        "{:<24} {:>9} {:>9} {:>8} {:>10} {:>10} {:>8} {:>8} {:>9} {:>8}",
        "feature", "n_ref", "n_cur", "ks", "ks_p", "ks_p_bh", "psi", "floor", "wass_norm", "js"
    );
    for f in &features {
        match &f.result {
            Ok(c) => println!(
                "{:<24} {:>9} {:>9} {:>8.5} {:>10.3e} {:>10.3e} {:>8.4} {:>8.4} {:>9} {:>8.5}",
                f.name,
                c.n_reference,
                c.n_current,
                c.ks_statistic,
                c.ks_pvalue,
                f.ks_pvalue_bh.unwrap_or(f64::NAN),
                c.psi,
                c.psi_floor,
                c.wasserstein_norm
                    .map_or("-".to_owned(), |w| format!("{w:.5}")),
                c.js
            ),
            Err(e) => println!(
                "{:<24} {:>9} {:>9}  not compared: {e}",
                f.name, f.reference_rows.used, f.current_rows.used
            ),
        }
    }
    let compared = features.iter().filter(|f| f.result.is_ok()).count();
    let report = CompareReport {
        reference: a.reference.display().to_string(),
        current: a.current.display().to_string(),
        compared,
        not_compared: features.len() - compared,
        features: features.iter().map(FeatureJson::from).collect(),
    };
    println!(
        "drift compare: features={} compared={} not_compared={} reference_rows={} current_rows={}",
        features.len(),
        report.compared,
        report.not_compared,
        reference.len(),
        current.len()
    );
    if let Some(path) = &a.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
