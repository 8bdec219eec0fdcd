//! Retrain, gate, promote.
//!
//! A challenger is trained on the archived rows with the champion's own
//! training configuration (the one its model file records; time split and
//! embargo as `volspike train`). Both models are then scored on the
//! challenger's test split, the most recent rows, labeled once with the
//! challenger's label definition and tau: the spike definition re-estimated
//! on recent data, so both models rank the same labels. The challenger is
//! promoted only if its PR-AUC beats the champion's by the margin and the
//! paired block-bootstrap lower bound of the difference is above zero, and
//! if at alert level the champion is not better with evidence on what users
//! see: each model's own alert policy runs over the rows (those before the
//! holdout warm up its thresholds), and on the holdout's spike episodes the
//! champion must not catch more (McNemar's exact test) nor the challenger
//! raise more false alerts without catching more (exact Poisson test),
//! each at p < 0.05. The decision records both models' figures.
//!
//! Before anything is registered, the challenger's file is read back from
//! its bytes the way the inference server reads a model
//! ([`ModelFile::from_json`], [`ModelFile::live_index`]) and scores a probe
//! set of holdout rows; a file that does not load, or a NaN or a score
//! outside [0, 1], is refused. A challenger that passes is registered (its
//! MLflow run logged) whatever the gate says, so every decision has a
//! version to tag.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::FutureExt as _;
use sha2::{Digest as _, Sha256};
use volspike_core::{FeatureRow, ModelEvent, ModelEventKind};
use volspike_drift::performance::{Bootstrap, block_rows, live_performance, paired_difference};
use volspike_mlflow::AnyRegistry;
use volspike_model::alerts::{AlertAt, AlertMetrics, LabeledRow, episode_catches, evaluate_alerts};
use volspike_model::artifact::ModelFile;
use volspike_model::registry::Registry as _;
use volspike_runtime::Config;
use volspike_train::register::{Registration, register_file};
use volspike_train::train::TrainConfig;

use crate::report::{
    Contender, DataWindow, Decision, IntervalRecord, REPORT_SCHEMA_VERSION, Verdict,
};

/// Changes a freshly trained challenger before it is checked: lets tests
/// offer a worse or a broken challenger through the real path.
pub type ChallengerHook = Arc<dyn Fn(ModelFile) -> Vec<u8> + Send + Sync>;

/// Probe rows scored before a challenger is accepted.
const PROBE_ROWS: usize = 2_000;

/// What a retrain needs from the worker.
#[derive(Clone)]
pub struct RetrainContext {
    /// The configuration (registry, drift, topics).
    pub cfg: Config,
    /// The registry.
    pub registry: Arc<AnyRegistry>,
    /// Test hook on the challenger's bytes.
    pub hook: Option<ChallengerHook>,
}

impl std::fmt::Debug for RetrainContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetrainContext")
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

/// One retrain to run.
#[derive(Debug, Clone)]
pub struct RetrainRequest {
    /// Sequence number since the worker started.
    pub seq: u64,
    /// Why, in words.
    pub triggers: Vec<String>,
    /// Archived rows of the training window.
    pub rows: Vec<FeatureRow>,
    /// Next offset per `ticks.features` partition when it started.
    pub offsets: std::collections::BTreeMap<i32, i64>,
    /// The stream's latest event time, ns.
    pub at_ns: i64,
    /// The champion's version and file, if there is one.
    pub champion: Option<(u64, ModelFile)>,
    /// The promotion cap allows a promotion.
    pub may_promote: bool,
}

/// What a retrain did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The record for `drift.reports`.
    pub decision: Decision,
    /// The promoted version, if one was promoted.
    pub promoted: Option<u64>,
}

/// Runs one retrain to its decision; never fails (a failure is a decision
/// with verdict `failed` and the reason).
pub async fn run(ctx: &RetrainContext, req: RetrainRequest) -> Outcome {
    let mut d = failed(&req, ctx.cfg.drift.retrain.margin, String::new());
    // A panic in the retrain (a bug) is a failed decision too, not the
    // end of the worker.
    let attempted = std::panic::AssertUnwindSafe(attempt(ctx, &req, &mut d))
        .catch_unwind()
        .await;
    match attempted {
        Ok(Ok(promoted)) => Outcome {
            decision: d,
            promoted,
        },
        Ok(Err(e)) => {
            d.verdict = Verdict::Failed;
            d.reason = format!("{e:#}");
            Outcome {
                decision: d,
                promoted: None,
            }
        }
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            tracing::error!(retrain = req.seq, %why, "the retrain panicked");
            Outcome {
                decision: failed(
                    &req,
                    ctx.cfg.drift.retrain.margin,
                    format!("the retrain panicked: {why}"),
                ),
                promoted: None,
            }
        }
    }
}

/// The decision of `req` before anything is known: verdict `failed`.
fn failed(req: &RetrainRequest, margin: f64, reason: String) -> Decision {
    Decision {
        schema_version: REPORT_SCHEMA_VERSION,
        retrain: req.seq,
        at_ns: req.at_ns,
        triggers: req.triggers.clone(),
        data: None,
        champion: None,
        challenger: None,
        difference: None,
        margin,
        verdict: Verdict::Failed,
        reason,
    }
}

async fn attempt(
    ctx: &RetrainContext,
    req: &RetrainRequest,
    d: &mut Decision,
) -> anyhow::Result<Option<u64>> {
    let span = (
        req.rows.first().map_or(0, |r| r.event_time_ns),
        req.rows.last().map_or(0, |r| r.event_time_ns),
    );
    d.data = Some(DataWindow {
        span_ns: span,
        rows: req.rows.len() as u64,
        holdout_span_ns: None,
        holdout_rows: 0,
        offsets: req
            .offsets
            .iter()
            .map(|(&partition, &next)| crate::report::PartitionOffset { partition, next })
            .collect(),
    });
    anyhow::ensure!(
        !req.rows.is_empty(),
        "the archive holds no rows to train on"
    );
    let train_cfg = match &req.champion {
        Some((_, f)) => TrainConfig::of_model(f).map_err(anyhow::Error::msg)?,
        None => TrainConfig::default(),
    };
    let out = challenger_dir(&ctx.cfg, req);
    let (rows, cfg2, out2) = (req.rows.clone(), train_cfg.clone(), out.clone());
    let (report, holdout_span) = tokio::task::spawn_blocking(move || {
        let report = volspike_train::artifacts::train_and_write(&[&rows], &cfg2, &out2, |_| {})?;
        let (data, _) = volspike_train::train::build_dataset(&rows, &cfg2)?;
        let test = report.splits.test.clone();
        let span = (!test.is_empty()).then(|| {
            (
                data.event_time_ns[test.start],
                data.event_time_ns[test.end - 1],
            )
        });
        anyhow::Ok((report, span))
    })
    .await
    .context("the training task panicked")?
    .context("training the challenger")?;
    let best = report.best().context("no model was trained")?;
    let trained = report.model_file(best);
    let bytes = match &ctx.hook {
        Some(hook) => hook(trained),
        None => serde_json::to_vec_pretty(&trained).context("encoding the challenger")?,
    };
    let sha256 = hex(&Sha256::digest(&bytes));
    let path = out.join("challenger.json");
    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    let (hs, he) = holdout_span.context("the challenger's test split is empty")?;
    let holdout: Vec<FeatureRow> = req
        .rows
        .iter()
        .filter(|r| r.event_time_ns >= hs)
        .cloned()
        .collect();
    if let Some(w) = d.data.as_mut() {
        w.holdout_span_ns = Some((hs, he));
    }
    let mut challenger = Contender {
        version: None,
        kind: best.model.name().to_owned(),
        pr_auc: None,
        roc_auc: None,
        f1: None,
        sha256: Some(sha256.clone()),
        alerts: None,
    };
    let file = match probe(&bytes, &holdout) {
        Ok(f) => f,
        Err(why) => {
            d.challenger = Some(challenger);
            d.verdict = Verdict::RefusedProbe;
            d.reason = format!("the challenger file was refused: {why}");
            return Ok(None);
        }
    };
    // Both models on the holdout, with the challenger's labels.
    let bootstrap = Bootstrap {
        block: 1,
        draws: ctx.cfg.drift.bootstrap_draws,
        confidence: ctx.cfg.drift.confidence,
        seed: ctx.cfg.drift.seed,
    };
    let champion_file = req.champion.as_ref().map(|(_, f)| f.clone());
    // All rows: those before the holdout warm up each model's alert
    // threshold as live scoring would have; only the holdout is judged.
    let (file2, holdout2) = (file.clone(), req.rows.clone());
    let compared = tokio::task::spawn_blocking(move || {
        compare_on_holdout(
            &file2,
            champion_file.as_ref(),
            &holdout2,
            (hs, he),
            bootstrap,
        )
    })
    .await
    .context("the holdout task panicked")??;
    if let Some(w) = d.data.as_mut() {
        w.holdout_rows = compared.rows;
    }
    challenger.pr_auc = compared.challenger.0;
    challenger.roc_auc = compared.challenger.1;
    challenger.f1 = compared.challenger.2;
    d.champion = req.champion.as_ref().map(|(v, f)| Contender {
        version: Some(*v),
        kind: f.model.name().to_owned(),
        pr_auc: compared.champion.0,
        roc_auc: compared.champion.1,
        f1: compared.champion.2,
        sha256: None,
        alerts: compared.champion_alerts.clone(),
    });
    challenger.alerts = compared.challenger_alerts.clone();
    d.difference = compared.difference;
    // The gate: PR-AUC with confidence, then the alerts users act on.
    let margin = ctx.cfg.drift.retrain.margin;
    let (ranks, reason) = match (&req.champion, compared.difference) {
        (None, _) => (true, "there is no champion".to_owned()),
        (Some(_), None) => (
            false,
            "the holdout has no spikes, so PR-AUC cannot compare the models".to_owned(),
        ),
        (Some(_), Some(diff)) if diff.estimate < margin => (
            false,
            format!(
                "PR-AUC gain {:+.4} is under the margin {margin}",
                diff.estimate
            ),
        ),
        (Some(_), Some(diff)) if diff.lower <= 0.0 => (
            false,
            format!(
                "PR-AUC gain {:+.4} but its {}% interval reaches {:+.4}",
                diff.estimate,
                ctx.cfg.drift.confidence * 100.0,
                diff.lower
            ),
        ),
        (Some(_), Some(diff)) => (
            true,
            format!(
                "PR-AUC gain {:+.4} (interval {:+.4} to {:+.4}) over the margin {margin}",
                diff.estimate, diff.lower, diff.upper
            ),
        ),
    };
    let (wins, reason) = match (
        ranks,
        &compared.challenger_alerts,
        &compared.champion_alerts,
    ) {
        (true, Some(ch), Some(champ)) if req.champion.is_some() => {
            let (only_champion, only_challenger) = compared.discordant;
            match alert_gate(ch, champ, only_champion, only_challenger) {
                Ok(why) => (true, format!("{reason}; {why}")),
                Err(why) => (false, format!("{reason}; but {why}")),
            }
        }
        _ => (ranks, reason),
    };
    // Register the checked challenger, whatever the gate says.
    let name = ctx.cfg.registry.model_name.clone();
    let registered = register_file(
        &report,
        file,
        &out,
        &ctx.registry,
        Registration {
            name: Some(&name),
            experiment: &ctx.cfg.registry.experiment,
            champion_if_none: false,
        },
    )
    .await
    .context("registering the challenger")?;
    let version = registered
        .version
        .context("the challenger got no version")?;
    challenger.version = Some(version);
    d.challenger = Some(challenger);
    let mut promoted = None;
    if !wins {
        d.verdict = Verdict::RefusedGate;
        d.reason = reason;
    } else if !req.may_promote {
        d.verdict = Verdict::RefusedCap;
        d.reason = format!("{reason}; but the promotions cap for 24 hours is reached");
    } else {
        let p = ctx
            .registry
            .promote(&name, version)
            .await
            .context("promoting the challenger")?;
        d.verdict = Verdict::Promoted;
        d.reason = reason;
        promoted = Some(version);
        if let Some(bootstrap) = ctx.cfg.kafka.bootstrap.as_deref() {
            let event = ModelEvent {
                kind: ModelEventKind::Promoted,
                name: name.clone(),
                from: p.from,
                to: p.to,
                at_ns: volspike_core::time::now_ns(),
            };
            volspike_runtime::kafka::publish_model_event(&ctx.cfg, bootstrap, &event).await?;
        }
    }
    if let (AnyRegistry::Mlflow(m), Some(logged)) = (&*ctx.registry, &registered.logged) {
        tag(m.client(), &name, version, &logged.run_id, d)
            .await
            .context("tagging the challenger's version and run in MLflow")?;
    }
    Ok(promoted)
}

/// Where a retrain's files go.
fn challenger_dir(cfg: &Config, req: &RetrainRequest) -> PathBuf {
    cfg.drift
        .data_dir
        .join("challengers")
        .join(format!("retrain-{}-{}", req.seq, req.at_ns))
}

/// Reads `bytes` as the inference server reads a model file and scores up
/// to [`PROBE_ROWS`] of `rows` the way it scores live rows.
pub fn probe(bytes: &[u8], rows: &[FeatureRow]) -> Result<ModelFile, String> {
    let file = ModelFile::from_json(bytes, "the challenger")?;
    let index = file.live_index()?;
    let mut scored = 0;
    let mut inputs = Vec::with_capacity(index.len());
    for r in rows {
        if scored == PROBE_ROWS {
            break;
        }
        if file.model.warm_only && !r.warm {
            continue;
        }
        let values = r.values();
        inputs.clear();
        inputs.extend(index.iter().map(|&i| values[i]));
        if inputs.iter().any(Option::is_none) {
            continue;
        }
        let x: Vec<f64> = inputs.iter().map(|v| v.unwrap_or_default()).collect();
        let p = file.model.score(&x);
        if !(0.0..=1.0).contains(&p) {
            return Err(format!(
                "it scores {p} on the row of {} at {}",
                r.product_id, r.event_time_ns
            ));
        }
        scored += 1;
    }
    if scored == 0 {
        return Err("no probe row had every input".to_owned());
    }
    Ok(file)
}

/// Both models on the same holdout rows.
#[derive(Debug, Clone, PartialEq)]
struct Compared {
    rows: u64,
    /// PR-AUC interval, ROC-AUC, F1.
    challenger: (Option<IntervalRecord>, Option<f64>, Option<f64>),
    champion: (Option<IntervalRecord>, Option<f64>, Option<f64>),
    difference: Option<IntervalRecord>,
    /// Each model's alerts on the holdout under its own policy, against
    /// the holdout's episodes (the challenger's labels).
    challenger_alerts: Option<AlertMetrics>,
    champion_alerts: Option<AlertMetrics>,
    /// Holdout episodes caught by the champion only, by the challenger only.
    discordant: (u64, u64),
}

/// Evidence a p-value must reach for the alert-level veto.
const ALERT_VETO_P: f64 = 0.05;

/// The alert-level half of the gate: what users see must not get worse
/// with evidence. On the same holdout episodes (`only_champion` caught by
/// the champion alone, `only_challenger` by the challenger alone) the
/// challenger is refused when the champion catches more (McNemar's exact
/// one-sided test, p < 0.05), or when the challenger raises more false
/// alerts over the same market hours (exact conditional test of two
/// Poisson counts, p < 0.05) without catching more. Holdouts hold a few
/// episodes; a difference of one or two is noise and does not veto. A
/// holdout without an episode does not judge.
fn alert_gate(
    ch: &AlertMetrics,
    champ: &AlertMetrics,
    only_champion: u64,
    only_challenger: u64,
) -> Result<String, String> {
    use volspike_model::alerts::binomial_tail_half;
    if ch.episodes == 0 {
        return Ok("the holdout has no spike episode to compare alerts on".to_owned());
    }
    let fa = |m: &AlertMetrics| m.false_alerts_per_hour.unwrap_or(0.0);
    let p_catch = binomial_tail_half(only_champion, only_champion + only_challenger);
    let p_false = binomial_tail_half(ch.false_alerts, ch.false_alerts + champ.false_alerts);
    let text = format!(
        "at alert level it catches {}/{} holdout episodes with {:.2} false alerts per hour, the champion {}/{} with {:.2} (champion-only catches {only_champion}, p = {p_catch:.3}; more false alerts, p = {p_false:.3})",
        ch.caught,
        ch.episodes,
        fa(ch),
        champ.caught,
        champ.episodes,
        fa(champ)
    );
    let catches_fewer = p_catch < ALERT_VETO_P;
    let more_false = p_false < ALERT_VETO_P && only_challenger <= only_champion;
    if catches_fewer || more_false {
        Err(text)
    } else {
        Ok(text)
    }
}

type Key = (String, i64, u32);

fn compare_on_holdout(
    challenger: &ModelFile,
    champion: Option<&ModelFile>,
    rows: &[FeatureRow],
    (from, to): (i64, i64),
    mut bootstrap: Bootstrap,
) -> anyhow::Result<Compared> {
    let ch_eval = volspike_train::evaluate::evaluate(challenger, rows)?;
    let ch_alerts = ch_eval.alerts;
    let ch: Vec<_> = ch_eval
        .predictions
        .into_iter()
        .filter(|p| (from..=to).contains(&p.event_time_ns))
        .collect();
    let mut champ_alerts = None;
    let (labels, ch_scores, champ_scores) = match champion {
        None => (
            ch.iter().map(|p| p.label).collect::<Vec<_>>(),
            ch.iter().map(|p| p.score).collect::<Vec<_>>(),
            None,
        ),
        Some(c) => {
            // The champion scores the same rows under the challenger's labels.
            let mut relabeled = c.clone();
            relabeled.label = challenger.label.clone();
            relabeled.tau = challenger.tau;
            let e = volspike_train::evaluate::evaluate(&relabeled, rows)?;
            champ_alerts = Some(e.alerts);
            let by_key: HashMap<Key, f64> = e
                .predictions
                .into_iter()
                .map(|p| ((p.product_id, p.event_time_ns, p.tie), p.score))
                .collect();
            let mut labels = Vec::new();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for p in &ch {
                if let Some(&s) = by_key.get(&(p.product_id.clone(), p.event_time_ns, p.tie)) {
                    labels.push(p.label);
                    a.push(p.score);
                    b.push(s);
                }
            }
            (labels, a, Some(b))
        }
    };
    anyhow::ensure!(
        !labels.is_empty(),
        "no holdout row could be scored by both models"
    );
    // Blocks of a label horizon's worth of rows keep the rows'
    // autocorrelation (predictions are in time order).
    let times = || ch.iter().map(|p| p.event_time_ns);
    let span = times().max().unwrap_or(0) - times().min().unwrap_or(0);
    let horizon = i64::try_from(challenger.label.horizon.as_nanos()).unwrap_or(i64::MAX);
    bootstrap.block = block_rows(labels.len(), span, horizon);
    let summary = |scores: &[f64], threshold: f64| -> anyhow::Result<_> {
        let live = live_performance(&labels, scores, threshold, &bootstrap)?;
        let roc = volspike_model::metrics::roc_auc(&labels, scores)?;
        Ok((live.pr_auc.map(Into::into), roc, Some(live.f1)))
    };
    let challenger_summary = summary(&ch_scores, challenger.model.threshold)?;
    let (champion_summary, difference) = match (&champ_scores, champion) {
        (Some(b), Some(c)) => (
            summary(b, c.model.threshold)?,
            paired_difference(&labels, &ch_scores, b, &bootstrap)?.map(Into::into),
        ),
        _ => ((None, None, None), None),
    };
    let horizon_ns = horizon;
    let labeled: Vec<LabeledRow<'_>> = ch
        .iter()
        .map(|p| LabeledRow {
            product: &p.product_id,
            event_time_ns: p.event_time_ns,
            spike: p.label,
        })
        .collect();
    let holdout_alerts = |alerts: &[volspike_train::evaluate::AlertRecord]| -> Vec<(String, i64)> {
        alerts
            .iter()
            .filter(|a| (from..=to).contains(&a.event_time_ns))
            .map(|a| (a.product_id.clone(), a.event_time_ns))
            .collect()
    };
    let ch_alerts = holdout_alerts(&ch_alerts);
    let champ_alerts = champ_alerts.as_deref().map(holdout_alerts);
    let ch_at = alert_refs(&ch_alerts);
    let champ_at = champ_alerts.as_deref().map(alert_refs);
    let discordant = champ_at.as_ref().map_or((0, 0), |champ_at| {
        let a = episode_catches(&labeled, champ_at, horizon_ns);
        let b = episode_catches(&labeled, &ch_at, horizon_ns);
        a.iter().zip(&b).fold((0, 0), |(c, h), (&x, &y)| {
            (c + u64::from(x && !y), h + u64::from(y && !x))
        })
    });
    Ok(Compared {
        challenger_alerts: Some(evaluate_alerts(&labeled, &ch_at, horizon_ns)),
        champion_alerts: champ_at
            .as_ref()
            .map(|at| evaluate_alerts(&labeled, at, horizon_ns)),
        discordant,
        rows: labels.len() as u64,
        challenger: challenger_summary,
        champion: champion_summary,
        difference,
    })
}

/// (product, time) pairs as alerts to judge.
fn alert_refs(v: &[(String, i64)]) -> Vec<AlertAt<'_>> {
    v.iter()
        .map(|(p, t)| AlertAt {
            product: p.as_str(),
            event_time_ns: *t,
        })
        .collect()
}

/// The decision as tags on the challenger's version and its run.
async fn tag(
    client: &volspike_mlflow::MlflowClient,
    name: &str,
    version: u64,
    run_id: &str,
    d: &Decision,
) -> Result<(), volspike_mlflow::MlflowError> {
    let fmt = |i: Option<IntervalRecord>| {
        i.map_or_else(
            || "none".to_owned(),
            |i| format!("{:.6} [{:.6}, {:.6}]", i.estimate, i.lower, i.upper),
        )
    };
    let data = d.data.as_ref();
    let tags = [
        ("volspike.retrain.trigger", d.triggers.join("; ")),
        ("volspike.retrain.verdict", d.verdict.name().to_owned()),
        ("volspike.retrain.reason", d.reason.clone()),
        (
            "volspike.retrain.sha256",
            d.challenger
                .as_ref()
                .and_then(|c| c.sha256.clone())
                .unwrap_or_default(),
        ),
        (
            "volspike.retrain.data_span_ns",
            data.map_or_else(String::new, |w| format!("{}..{}", w.span_ns.0, w.span_ns.1)),
        ),
        (
            "volspike.retrain.holdout_span_ns",
            data.and_then(|w| w.holdout_span_ns)
                .map_or_else(String::new, |(a, b)| format!("{a}..{b}")),
        ),
        (
            "volspike.retrain.offsets",
            data.map_or_else(String::new, |w| {
                serde_json::to_string(&w.offsets).unwrap_or_default()
            }),
        ),
        (
            "volspike.retrain.champion_version",
            d.champion
                .as_ref()
                .and_then(|c| c.version)
                .map_or_else(|| "none".to_owned(), |v| v.to_string()),
        ),
        (
            "volspike.retrain.champion_pr_auc",
            fmt(d.champion.as_ref().and_then(|c| c.pr_auc)),
        ),
        (
            "volspike.retrain.challenger_pr_auc",
            fmt(d.challenger.as_ref().and_then(|c| c.pr_auc)),
        ),
        ("volspike.retrain.pr_auc_gain", fmt(d.difference)),
        (
            "volspike.retrain.champion_alerts",
            alert_tag(d.champion.as_ref().and_then(|c| c.alerts.as_ref())),
        ),
        (
            "volspike.retrain.challenger_alerts",
            alert_tag(d.challenger.as_ref().and_then(|c| c.alerts.as_ref())),
        ),
    ];
    for (k, v) in &tags {
        client.set_model_version_tag(name, version, k, v).await?;
        client.set_run_tag(run_id, k, v).await?;
    }
    Ok(())
}

/// Alert-level figures of a contender as one tag value.
fn alert_tag(a: Option<&AlertMetrics>) -> String {
    a.map_or_else(
        || "none".to_owned(),
        |a| {
            format!(
                "caught {}/{} episodes, {} alerts, {:.3} false alerts per hour",
                a.caught,
                a.episodes,
                a.alerts,
                a.false_alerts_per_hour.unwrap_or(0.0)
            )
        },
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use volspike_model::forest::{Tree, TreeNode};
    use volspike_model::model::{Model, Params, Scaler};

    fn row(vol: Option<f64>) -> FeatureRow {
        FeatureRow {
            price_volatility_1min: vol,
            ..FeatureRow::bare("BTC-USD", 1, 100.0)
        }
    }

    /// A one-leaf forest on `price_volatility_1min` that scores `leaf`.
    fn forest(input: &str, leaf: f64) -> Vec<u8> {
        let m = volspike_model::metrics::evaluate(&[true, false], &[0.9, 0.1], 0.5).unwrap();
        let file = ModelFile {
            format_version: volspike_model::artifact::FORMAT_VERSION,
            name: "forest".into(),
            model: Model {
                feature_names: vec![input.into()],
                scaler: Scaler {
                    mean: vec![0.0],
                    scale: vec![1.0],
                    ..Scaler::default()
                },
                params: Params::Forest {
                    trees: vec![Tree {
                        nodes: vec![TreeNode {
                            feature: 0,
                            threshold: 0.0,
                            left: 0,
                            right: 0,
                            value: leaf,
                        }],
                    }],
                },
                calibration: None,
                threshold: 0.5,
                warm_only: true,
            },
            label: volspike_model::label::LabelConfig::default(),
            tau: 1e-4,
            train_span_ns: (0, 1),
            validation: m.clone(),
            test: m,
            importances: vec![1.0],
            reference: Vec::new(),
            score_reference: None,
            training: None,
            alert_policy: None,
            validation_alerts: None,
            test_alerts: None,
        };
        serde_json::to_vec(&file).unwrap()
    }

    #[test]
    fn the_probe_reads_the_file_as_serving_does_and_checks_its_scores() {
        let rows = [row(None), row(Some(1e-4))];
        assert!(probe(&forest("price_volatility_1min", 0.3), &rows).is_ok());
        // A leaf outside [0, 1] no longer reaches scoring: the file's
        // validation refuses it first.
        let out = probe(&forest("price_volatility_1min", 1.5), &rows).unwrap_err();
        assert!(out.contains("leaf 0 has value 1.5"), "{out}");
        let unknown = probe(&forest("vibes", 0.3), &rows).unwrap_err();
        assert!(
            unknown.contains("not a feature volspike computes"),
            "{unknown}"
        );
        let none = probe(&forest("price_volatility_1min", 0.3), &rows[..1]).unwrap_err();
        assert_eq!(none, "no probe row had every input");
        let garbage = probe(b"{not json", &rows).unwrap_err();
        assert!(garbage.contains("not a volspike model file"), "{garbage}");
    }
}
