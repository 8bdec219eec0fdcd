//! Human-readable training artifacts: PR and ROC curves (PNG, plotters),
//! an HTML evaluation report, and a model card in Markdown, all written
//! from the numbers in the [`TrainReport`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::metrics::Metrics;
use crate::train::{TrainReport, Trained};
use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use plotters::prelude::*;
use volspike_core::time::format_timestamp;

/// Fonts tried for chart text, in order (Debian's fonts-dejavu-core first).
const FONT_FILES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a TrueType font as plotters' `sans-serif` once per process.
fn font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = FONT_FILES
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| {
                    format!(
                        "no font for chart text in {FONT_FILES:?} (Debian: apt-get install fonts-dejavu-core)"
                    )
                })?;
            // plotters keeps fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| "the chart font is not a readable TrueType font".to_owned())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Draws one line per `(name, points)` on the unit square.
fn plot(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    series: &[(&str, &[[f64; 2]])],
    chance: Option<&[[f64; 2]]>,
) -> anyhow::Result<()> {
    font()?;
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (720, 540)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..1f64, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .label_style(("sans-serif", 14))
            .draw()?;
        if let Some(line) = chance {
            chart.draw_series(LineSeries::new(
                line.iter().map(|p| (p[0], p[1])),
                BLACK.mix(0.4).stroke_width(1),
            ))?;
        }
        for (i, (name, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p[0], p[1])),
                    color.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

/// Recall against false alerts per market hour over the budgets of each
/// model's curve, the configured budget marked with a circle.
fn alert_plot(path: &Path, report: &TrainReport) -> anyhow::Result<()> {
    font()?;
    let points = |t: &Trained| -> Vec<(f64, f64, bool)> {
        t.budget_curve
            .iter()
            .filter_map(|p| Some((p.test.false_alerts_per_hour?, p.test.recall?, p.chosen)))
            .collect()
    };
    let x_max = report
        .models
        .iter()
        .flat_map(|t| points(t).into_iter().map(|p| p.0))
        .fold(1.0_f64, f64::max)
        * 1.05;
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (720, 540)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Alerts on test: episode recall against false alerts",
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..1.02f64)?;
        chart
            .configure_mesh()
            .x_desc("false alerts per market hour")
            .y_desc("episodes caught (recall)")
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, t) in report.models.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let pts = points(t);
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))?
                .label(t.model.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
                });
            chart.draw_series(
                pts.iter()
                    .filter(|p| p.2)
                    .map(|p| Circle::new((p.0, p.1), 6, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

/// Writes `pr_curve.png`, `roc_curve.png`, `reliability.png`, `alerts.png`, `report.html`
/// and `model_card.md`
/// (for `chosen`, the model put forward) into `out`; returns their paths.
pub fn write_all(
    report: &TrainReport,
    chosen: &Trained,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let pr_png = out.join("pr_curve.png");
    let roc_png = out.join("roc_curve.png");
    let pr: Vec<(&str, &[[f64; 2]])> = report
        .models
        .iter()
        .map(|m| (m.model.name(), m.test_curves.pr.as_slice()))
        .collect();
    let base = report.spike_rates[2];
    plot(
        &pr_png,
        &format!("Precision-recall on test (base rate {base:.3})"),
        ("recall", "precision"),
        &pr,
        Some(&[[0.0, base], [1.0, base]]),
    )?;
    let roc: Vec<(&str, &[[f64; 2]])> = report
        .models
        .iter()
        .filter(|m| !m.test_curves.roc.is_empty())
        .map(|m| (m.model.name(), m.test_curves.roc.as_slice()))
        .collect();
    plot(
        &roc_png,
        "ROC on test",
        ("false positive rate", "true positive rate"),
        &roc,
        Some(&[[0.0, 0.0], [1.0, 1.0]]),
    )?;
    let reliability_png = out.join("reliability.png");
    let points: Vec<(&str, Vec<[f64; 2]>)> = report
        .models
        .iter()
        .map(|m| {
            let bins = &m.test_curves.reliability;
            (
                m.model.name(),
                bins.iter().map(|b| [b.mean_score, b.observed]).collect(),
            )
        })
        .collect();
    let series: Vec<(&str, &[[f64; 2]])> = points.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    plot(
        &reliability_png,
        "Reliability on test (observed spike rate per score bin)",
        ("mean score", "observed spike rate"),
        &series,
        Some(&[[0.0, 0.0], [1.0, 1.0]]),
    )?;
    let alerts_png = out.join("alerts.png");
    alert_plot(&alerts_png, report)?;
    let html = out.join("report.html");
    let page = html_report(
        report,
        chosen,
        &std::fs::read(&pr_png)?,
        &std::fs::read(&roc_png)?,
        &std::fs::read(&reliability_png)?,
        &std::fs::read(&alerts_png)?,
    );
    std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
    let card = out.join("model_card.md");
    std::fs::write(&card, model_card(report, chosen))
        .with_context(|| format!("writing {}", card.display()))?;
    Ok(vec![
        pr_png,
        roc_png,
        reliability_png,
        alerts_png,
        html,
        card,
    ])
}

fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".to_owned(), |v| format!("{v:.4}"))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_report(
    r: &TrainReport,
    chosen: &Trained,
    pr_png: &[u8],
    roc_png: &[u8],
    reliability_png: &[u8],
    alerts_png: &[u8],
) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>volspike training report</title>\
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}\
th{{background:#f3f3f3}}td:first-child,th:first-child{{text-align:left}}\
.bar{{background:#4a7bd0;height:12px;display:inline-block}}</style></head><body>"
    );
    let _ = write!(h, "<h1>volspike training report</h1>");
    let _ = write!(
        h,
        "<p>Label: <b>{:?}</b> on {}, horizon {:?}, tau = {:.6e} (quantile {} of the training targets). {} \
Chosen model (highest validation PR-AUC): <b>{}</b>.</p>",
        r.config.label.kind,
        r.config.label.returns_text(),
        r.config.label.horizon,
        r.tau,
        r.config.label.quantile,
        data_summary(r),
        chosen.model.name()
    );
    for (split, pick) in [
        ("test", (|t: &Trained| &t.test) as fn(&Trained) -> &Metrics),
        ("validation", |t: &Trained| &t.validation),
    ] {
        let _ = write!(
            h,
            "<h2>Metrics on {split}</h2><table><tr><th>model</th><th>PR-AUC</th><th>ROC-AUC</th>\
<th>F1</th><th>precision</th><th>recall</th><th>Brier</th><th>ECE</th><th>threshold</th><th>base rate</th></tr>"
        );
        for t in &r.models {
            let m = pick(t);
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td>\
<td>{:.4}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                t.model.name(),
                opt(m.pr_auc),
                opt(m.roc_auc),
                m.f1,
                m.precision,
                m.recall,
                m.brier,
                opt(m.ece),
                m.threshold,
                m.base_rate
            );
        }
        let _ = write!(h, "</table>");
    }
    let _ = write!(
        h,
        "<h2>Alerts on test</h2><p>What users act on: the alerts the server would publish \
under each model's alert policy ({}), judged against spike episodes (runs of spike rows at most a \
horizon apart; caught by an alert from one horizon before the episode to its end). <i>random</i> \
is the recall of as many alerts placed at random; lead time is episode start minus the first \
catching alert.</p>",
        escape(&chosen.alert_policy.describe())
    );
    let _ = write!(
        h,
        "<table><tr><th>model</th><th>budget / h</th><th>episodes</th><th>caught</th><th>recall</th>\
<th>random</th><th>lead p50 s</th><th>p10 s</th><th>p90 s</th><th>alerts</th><th>alerts / h</th>\
<th>false / h</th><th>alerts per caught</th></tr>"
    );
    for t in &r.models {
        for p in &t.budget_curve {
            let a = &p.test;
            let (b0, b1) = if p.chosen { ("<b>", "</b>") } else { ("", "") };
            let lead = |f: fn(&volspike_model::alerts::LeadTimes) -> f64| {
                a.lead_time
                    .as_ref()
                    .map_or("n/a".to_owned(), |l| format!("{:.1}", f(l)))
            };
            let _ = write!(
                h,
                "<tr><td>{b0}{}{b1}</td><td>{b0}{}{b1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                t.model.name(),
                p.per_hour,
                a.episodes,
                a.caught,
                opt(a.recall),
                opt(a.random_recall),
                lead(|l| l.median_s),
                lead(|l| l.p10_s),
                lead(|l| l.p90_s),
                a.alerts,
                opt(a.alerts_per_hour),
                opt(a.false_alerts_per_hour),
                opt(a.alerts_per_caught_episode)
            );
        }
    }
    let _ = write!(
        h,
        "</table><p>Bold: the configured budget. Each row's fallback threshold is fitted on \
validation at its budget.</p><img alt=\"Alert trade-off\" src=\"data:image/png;base64,{}\">",
        b64(alerts_png)
    );
    let _ = write!(
        h,
        "<h2>Curves on test</h2><img alt=\"PR curves\" src=\"data:image/png;base64,{}\">\
<img alt=\"ROC curves\" src=\"data:image/png;base64,{}\">",
        b64(pr_png),
        b64(roc_png)
    );
    let _ = write!(
        h,
        "<h2>Calibration on test</h2><p>Each point is one of {} equal-width score bins: its \
mean score against the share of its rows that were spikes. On the diagonal, a score of 0.3 is a \
30% chance. ECE is the rows-weighted mean distance from it. {}</p>\
<img alt=\"Reliability diagram\" src=\"data:image/png;base64,{}\">",
        crate::metrics::RELIABILITY_BINS,
        escape(&calibration_text(r, chosen)),
        b64(reliability_png)
    );
    let _ = write!(
        h,
        "<h2>Confusion matrices on test (at each model's threshold)</h2>"
    );
    for t in &r.models {
        let c = &t.test.confusion;
        let _ = write!(
            h,
            "<h3>{}</h3><table><tr><th></th><th>predicted spike</th><th>predicted calm</th></tr>\
<tr><td>spike</td><td>{}</td><td>{}</td></tr><tr><td>calm</td><td>{}</td><td>{}</td></tr></table>",
            t.model.name(),
            c.tp,
            c.fn_,
            c.fp,
            c.tn
        );
    }
    let _ = write!(h, "<h2>Feature importances</h2>");
    for t in &r.models {
        let _ = write!(
            h,
            "<h3>{}</h3><table><tr><th>feature</th><th>importance</th><th></th></tr>",
            t.model.name()
        );
        let mut order: Vec<usize> = (0..t.importances.len()).collect();
        order.sort_by(|&a, &b| t.importances[b].total_cmp(&t.importances[a]));
        for i in order {
            let v = t.importances[i];
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{v:.4}</td><td><span class=\"bar\" style=\"width:{:.0}px\"></span></td></tr>",
                escape(&t.model.feature_names[i]),
                v * 300.0
            );
        }
        let _ = write!(h, "</table>");
    }
    let _ = write!(
        h,
        "<p>Importances: share of |coefficient| on standardized inputs (logistic), mean decrease \
in Gini impurity (forest), total split gain (boosted), the rule's one feature (baseline).</p></body></html>"
    );
    h
}

/// How the chosen model's scores were calibrated, in one sentence.
fn calibration_text(r: &TrainReport, chosen: &Trained) -> String {
    match (&chosen.model.calibration, r.config.calibration) {
        (Some(volspike_model::calibration::Calibration::Platt { a, b }), _) => format!(
            "The {} scores are Platt-scaled on validation: 1 / (1 + exp({a:.4} m {} {:.4})) of \
the model's margin m.",
            chosen.model.name(),
            if *b < 0.0 { "-" } else { "+" },
            b.abs()
        ),
        (None, crate::train::CalibrationMethod::Platt) => format!(
            "The {} scores are not calibrated: on validation its margin did not rise with the \
chance of a spike, and Platt scaling would have reversed its ranking.",
            chosen.model.name()
        ),
        (None, crate::train::CalibrationMethod::None) => format!(
            "The {} scores are not calibrated (trained with --calibration none).",
            chosen.model.name()
        ),
    }
}

/// Training span, split sizes and spike rates, in one sentence.
fn data_summary(r: &TrainReport) -> String {
    let sp = &r.splits;
    format!(
        "Training rows from {} to {}. Time-ordered splits: train {} / validation {} / test {} \
rows, {} rows embargoed so no label window crosses a split. Spike rate: train {:.3}, validation \
{:.3}, test {:.3}.",
        format_timestamp(r.train_span_ns.0),
        format_timestamp(r.train_span_ns.1),
        sp.train.len(),
        sp.validation.len(),
        sp.test.len(),
        sp.embargoed,
        r.spike_rates[0],
        r.spike_rates[1],
        r.spike_rates[2]
    )
}

fn model_card(r: &TrainReport, chosen: &Trained) -> String {
    let mut s = String::new();
    let m = &chosen.model;
    let _ = writeln!(s, "# Model card: volspike `{}`\n", m.name());
    let _ = writeln!(
        s,
        "**Task.** Score each feature row of a crypto product's ticker stream with the chance that \
the realized volatility of {} over the next {:?} is a spike. Alerts: {} (the threshold of each \
product follows its trailing scores; {:.4} is the fixed threshold that met the budget on \
validation, used until a product has history, and the one of the row-level metrics). On test: \
{} of {} spike episodes caught, {} false alerts per market hour, against a recall of {} for \
random alerts at the same rate.\n",
        r.config.label.returns_text(),
        r.config.label.horizon,
        chosen.alert_policy.describe(),
        m.threshold,
        chosen.test_alerts.caught,
        chosen.test_alerts.episodes,
        opt(chosen.test_alerts.false_alerts_per_hour),
        opt(chosen.test_alerts.random_recall)
    );
    let _ = writeln!(
        s,
        "**Label.** `{:?}`: forward volatility of {}{} >= tau = {:.6e}, the {} quantile of the training \
split's targets. Rows without a complete forward window are dropped ({} of {} rows).\n",
        r.config.label.kind,
        r.config.label.returns_text(),
        if r.config.label.kind == crate::dataset::LabelKind::Relative {
            format!(" / trailing volatility over {:?}", r.config.label.lookback)
        } else {
            String::new()
        },
        r.tau,
        r.config.label.quantile,
        r.counts.incomplete_forward,
        r.counts.rows_in
    );
    let _ = writeln!(s, "**Data.** {}\n", data_summary(r));
    let _ = writeln!(
        s,
        "## Metrics\n\n| model | split | PR-AUC | ROC-AUC | F1 | precision | recall | Brier | ECE | base rate |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in &r.models {
        for (split, x) in [("validation", &t.validation), ("test", &t.test)] {
            let _ = writeln!(
                s,
                "| {} | {split} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {:.4} |",
                t.model.name(),
                opt(x.pr_auc),
                opt(x.roc_auc),
                x.f1,
                x.precision,
                x.recall,
                x.brier,
                opt(x.ece),
                x.base_rate
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## Inputs\n\n| feature | importance | training median | p01 | p99 |\n|---|---|---|---|---|"
    );
    for (i, name) in m.feature_names.iter().enumerate() {
        let q = r.reference.get(i).map(|d| &d.quantiles);
        let at = |k: usize| {
            q.and_then(|q| q.get(k))
                .map_or("n/a".into(), |v| format!("{v:.4e}"))
        };
        let _ = writeln!(
            s,
            "| `{name}` | {:.4} | {} | {} | {} |",
            chosen.importances.get(i).copied().unwrap_or(0.0),
            at(6),
            at(1),
            at(11)
        );
    }
    let _ = writeln!(s, "\n## Limitations\n");
    let baseline = r.models.iter().find(|t| t.model.name() == "baseline");
    if let (Some(c), Some(bp)) = (chosen.test.pr_auc, baseline.and_then(|b| b.test.pr_auc))
        && m.name() != "baseline"
    {
        let verdict = if c > bp { "beats" } else { "does not beat" };
        let _ = writeln!(
            s,
            "- On test, `{}` {verdict} the volatility baseline: PR-AUC {c:.4} against {bp:.4}.",
            m.name()
        );
    }
    let (tr, te) = (r.spike_rates[0], r.spike_rates[2]);
    if te > 2.0 * tr || te < 0.5 * tr {
        let _ = writeln!(
            s,
            "- The spike rate moves from {tr:.3} in training to {te:.3} in test: the market (or the \
recording) changed, and a fixed tau makes the absolute label follow the level of volatility."
        );
    }
    let _ = writeln!(
        s,
        "- {}\n- Tick-rate features \
(`trade_intensity`, `tick_count_5min`, `time_since_prev_tick_s`) depend on how the feed was \
recorded as well as on the market.\n- Reference distributions of every input and of the \
validation scores are in the model file for drift checks.",
        calibration_text(r, chosen)
    );
    if !m.scaler.log_floor.is_empty() {
        let _ = writeln!(
            s,
            "- Scale inputs (volatilities, ranges, spreads, tick counts) enter as logs, then \
standardized."
        );
    }
    if m.warm_only {
        let _ = writeln!(
            s,
            "- The model scores warm rows only: after a segment starts (a connection, a gap) it \
gives no prediction until every feature window is complete (5 minutes)."
        );
    }
    s
}
