//! `volspike evaluate`: a saved model on feature rows it never saw, labeled
//! with the model's own label definition and tau.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use volspike_mlflow::AnyRegistry;
use volspike_model::registry::{ModelRef, Resolved, resolve};
use volspike_runtime::ConfigLoader;
use volspike_train::evaluate::Evaluation;

use super::{RegistryArgs, load, open_registry};

/// Arguments of `volspike evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// A model file, or `models:/NAME@ALIAS` / `models:/NAME/VERSION` in
    /// the registry.
    #[arg(long)]
    pub model: ModelRef,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Feature parquet files (`volspike replay` output).
    #[arg(long, required = true, num_args = 1..)]
    pub features: Vec<PathBuf>,
    /// Also write one row per scored feature row (product, feature time,
    /// target, label, score, decision) to this parquet file.
    #[arg(long)]
    pub predictions_out: Option<PathBuf>,
    /// Also write the alerts `volspike serve` would publish for these rows
    /// (NDJSON: product_id, event_time_ns, tie, probability, threshold).
    #[arg(long)]
    pub alerts_out: Option<PathBuf>,
}

/// Evaluates and prints the model, the row counts and the metrics.
pub async fn run(a: EvaluateArgs, loader: ConfigLoader) -> anyhow::Result<()> {
    let registry = a.registry;
    let cfg = load(loader.overrides(move |c| registry.apply(c)))?;
    let registry = open_registry(&cfg)?;
    let (resolved, eval) = evaluate(&a.model, &registry, &a.features).await?;
    let f = &resolved.file;
    let c = &eval.counts;
    println!(
        "model: {} ({}{}), label {:?} on {:?} returns, horizon {:?}, tau = {:.6e}, threshold {:.4}",
        a.model,
        f.name,
        resolved
            .version
            .map_or(String::new(), |v| format!(" version {v}")),
        f.label.kind,
        f.label.returns,
        f.label.horizon,
        f.tau,
        f.model.threshold
    );
    println!("alert policy: {}", f.alert_policy().describe());
    println!(
        "rows: {} in, {} labeled (dropped: {} without a full forward window, {} without the trailing window, {} cold, {} missing a feature)",
        c.rows_in,
        c.rows_out,
        c.incomplete_forward,
        c.incomplete_trailing,
        c.cold,
        c.missing_feature
    );
    if let Some(path) = &a.predictions_out {
        volspike_train::evaluate::write_predictions(path, &eval.predictions)?;
        println!(
            "predictions: {} rows written to {}",
            eval.predictions.len(),
            path.display()
        );
    }
    if let Some(path) = &a.alerts_out {
        volspike_train::evaluate::write_alerts(path, &eval.alerts)?;
        println!(
            "alerts: {} written to {} ({} rows scored as the server would)",
            eval.alerts.len(),
            path.display(),
            eval.scorable_rows
        );
    }
    let m = eval
        .metrics
        .ok_or_else(|| anyhow!("no row of {:?} could be labeled for this model", a.features))?;
    print!("{}", volspike_train::artifacts::metrics_header());
    print!("{}", volspike_train::artifacts::metrics_line(&f.name, &m));
    println!(
        "(base rate {:.4}; confusion tp {} fp {} fn {} tn {})",
        m.base_rate, m.confusion.tp, m.confusion.fp, m.confusion.fn_, m.confusion.tn
    );
    if let Some(am) = &eval.alert_metrics {
        println!("alerts:");
        print!("{}", volspike_train::artifacts::alert_header());
        print!("{}", volspike_train::artifacts::alert_line(&f.name, am));
        println!(
            "({:.2} market hours; random: the recall of as many alerts placed at random)",
            am.market_hours
        );
    }
    Ok(())
}

/// Loads the model, reads every feature file and evaluates.
pub async fn evaluate(
    model: &ModelRef,
    registry: &AnyRegistry,
    files: &[PathBuf],
) -> anyhow::Result<(Resolved, Evaluation)> {
    let resolved = resolve(registry, model)
        .await
        .with_context(|| format!("loading model {model}"))?;
    let rows = volspike_replay::parquet::read_files(files)?;
    let evaluation = volspike_train::evaluate::evaluate(&resolved.file, &rows)?;
    Ok((resolved, evaluation))
}
