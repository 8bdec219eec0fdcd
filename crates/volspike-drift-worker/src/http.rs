//! The worker's endpoints on its admin listener, after the original
//! system's: `GET /drift/features`, `/drift/model`, `/drift/summary`,
//! `/retrain/check`, `/retrain/status`, `POST /retrain/execute` (bearer
//! token of `drift.retrain-token`; off without one), and `GET /drift`, an
//! HTML page with the per-feature table and the reference-vs-window
//! histograms.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use tokio::sync::{mpsc, oneshot};

use crate::report::CheckRecord;
use crate::worker::Shared;

/// A question for the worker loop, which owns the policy.
#[derive(Debug)]
pub enum Request {
    /// The policy's answer now.
    Check(oneshot::Sender<CheckRecord>),
    /// Retrain now, as a person asks (cooldown and cap do not apply).
    Execute(oneshot::Sender<ExecuteReply>),
}

/// The answer to `POST /retrain/execute`.
#[derive(Debug, Clone, Serialize)]
pub struct ExecuteReply {
    /// The retrain started, by sequence number.
    pub started: Option<u64>,
    /// Why not, if it did not.
    pub reason: Option<String>,
    /// The policy's answer.
    pub check: CheckRecord,
}

#[derive(Debug, Clone)]
struct App {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    token: Option<Arc<str>>,
}

/// The routes, ready to merge into the admin server.
pub fn routes(
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    token: Option<String>,
) -> Router {
    Router::new()
        .route("/drift", get(page))
        .route("/drift/features", get(features))
        .route("/drift/model", get(model))
        .route("/drift/summary", get(summary))
        .route("/retrain/check", get(check))
        .route("/retrain/status", get(status))
        .route("/retrain/execute", post(execute))
        .with_state(App {
            shared,
            requests,
            token: token.map(Arc::from),
        })
}

async fn features(State(app): State<App>) -> Json<serde_json::Value> {
    let s = app.shared.snapshot();
    let w = s.last_window.as_ref();
    Json(json!({
        "reference": s.reference,
        "reference_collected_ns": s.reference_collected_ns,
        "window": w.map(|w| json!({
            "start_ns": w.start_ns, "end_ns": w.end_ns, "rows": w.rows,
            "statistic": w.statistic, "severity": w.severity, "drifting": w.drifting,
        })),
        "features": w.map(|w| w.features.clone()).unwrap_or_default(),
    }))
}

async fn model(State(app): State<App>) -> Json<serde_json::Value> {
    let s = app.shared.snapshot();
    let w = s.last_window.as_ref();
    Json(json!({
        "champion": s.champion.as_ref().map(|c| json!({
            "name": c.name, "version": c.version, "kind": c.file.model.name(),
            "threshold": c.file.model.threshold, "tau": c.file.tau, "label": c.file.label,
            "test_pr_auc": c.file.test.pr_auc, "train_span_ns": c.file.train_span_ns,
        })),
        "performance": w.and_then(|w| w.performance.clone()),
        "score": w.and_then(|w| w.score),
        "outcomes": s.outcomes,
    }))
}

async fn summary(State(app): State<App>) -> Json<serde_json::Value> {
    let s = app.shared.snapshot();
    let w = s.last_window.as_ref();
    Json(json!({
        "watermark_ns": s.watermark_ns,
        "rows": s.rows,
        "rows_late": s.rows_late,
        "champion": s.champion.as_ref().map(|c| format!("{}/{}", c.name, c.version)),
        "reference": s.reference.as_ref().map(|r| json!({"source": r.source, "span_ns": r.span_ns, "rows": r.rows})),
        "windows_closed": s.windows_closed,
        "severity": w.map(|w| w.severity),
        "drifting": w.map(|w| w.drifting),
        "policy": w.map(|w| w.policy.clone()),
        "recent_windows": s.windows,
        "retrain_running": s.running,
        "last_decision": s.last_decision.as_ref().map(|d| json!({
            "retrain": d.retrain, "verdict": d.verdict, "reason": d.reason,
            "champion_alerts": d.champion.as_ref().and_then(|c| c.alerts.clone()),
            "challenger_alerts": d.challenger.as_ref().and_then(|c| c.alerts.clone()),
        })),
        // The champion's alerts over the performance window's outcomes.
        "alerts": w.and_then(|w| w.performance.as_ref()).and_then(|p| p.alerts.clone()),
    }))
}

async fn check(State(app): State<App>) -> Response {
    let (tx, rx) = oneshot::channel();
    if app.requests.send(Request::Check(tx)).await.is_err() {
        return stopping();
    }
    match rx.await {
        Ok(c) => Json(c).into_response(),
        Err(_) => stopping(),
    }
}

async fn status(State(app): State<App>) -> Json<serde_json::Value> {
    let s = app.shared.snapshot();
    Json(json!({
        "running": s.running,
        "last_decision": s.last_decision,
        "decisions": s.decisions,
    }))
}

async fn execute(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(token) = &app.token else {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "manual retrains are off: set drift.retrain-token"})),
        )
            .into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Constant time: how long the comparison takes must not tell how much
    // of a guess was right.
    if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "missing or wrong bearer token"})),
        )
            .into_response();
    }
    let (tx, rx) = oneshot::channel();
    if app.requests.send(Request::Execute(tx)).await.is_err() {
        return stopping();
    }
    match rx.await {
        Ok(r) if r.started.is_some() => (StatusCode::ACCEPTED, Json(r)).into_response(),
        Ok(r) => (StatusCode::CONFLICT, Json(r)).into_response(),
        Err(_) => stopping(),
    }
}

fn stopping() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "the worker is stopping"})),
    )
        .into_response()
}

/// The page: summary, per-feature table, histograms as inline SVG.
async fn page(State(app): State<App>) -> Html<String> {
    let s = app.shared.snapshot();
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>volspike drift</title>\
         <style>body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f4f4f4}\
         td:first-child{text-align:left}.drift{background:#fdd}.over{background:#ffe9c6}\
         .plots{display:flex;flex-wrap:wrap;gap:1em}.plot{border:1px solid #ddd;padding:.4em}\
         </style></head><body><h1>volspike drift</h1>",
    );
    let _ = write!(
        h,
        "<p>champion: <b>{}</b> &middot; stream at {} &middot; {} rows &middot; {} windows</p>",
        s.champion.as_ref().map_or_else(
            || "none".to_owned(),
            |c| format!("{}/{} ({})", c.name, c.version, c.file.model.name())
        ),
        esc(&volspike_core::time::format_timestamp(
            s.watermark_ns.max(0)
        )),
        s.rows,
        s.windows_closed
    );
    match &s.reference {
        Some(r) => {
            let _ = write!(
                h,
                "<p>reference: {} rows from the {}, {} to {}</p>",
                r.rows,
                esc(&r.source),
                esc(&volspike_core::time::format_timestamp(r.span_ns.0)),
                esc(&volspike_core::time::format_timestamp(r.span_ns.1))
            );
        }
        None => {
            let _ = write!(
                h,
                "<p>gathering the reference: {:.0} s so far</p>",
                s.reference_collected_ns as f64 / 1e9
            );
        }
    }
    if let Some(w) = &s.last_window {
        let _ = write!(
            h,
            "<h2>window {} to {}: severity <b>{:?}</b>, {} drifting</h2>",
            esc(&volspike_core::time::format_timestamp(w.start_ns)),
            esc(&volspike_core::time::format_timestamp(w.end_ns)),
            w.severity,
            w.drifting
        );
        h.push_str(
            "<table><tr><th>feature</th><th>values</th><th>statistic</th><th>threshold</th>\
             <th>run</th><th>drift</th><th>PSI</th><th>PSI no-drift floor</th></tr>",
        );
        for f in &w.features {
            let class = if f.drift {
                " class=\"drift\""
            } else if f.over {
                " class=\"over\""
            } else {
                ""
            };
            let num =
                |v: Option<f64>| v.map_or_else(|| "&ndash;".to_owned(), |v| format!("{v:.4}"));
            let _ = write!(
                h,
                "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td></tr>",
                esc(&f.name),
                f.values,
                num(f.statistic),
                num(f.threshold),
                f.run,
                if f.drift { "yes" } else { "no" },
                num(f.psi),
                f.psi_floor
            );
        }
        h.push_str("</table>");
        if let Some(p) = &w.performance {
            let _ = write!(
                h,
                "<p>live PR-AUC of version {}: {} on {} outcomes ({} spikes), {}</p>",
                esc(&p.version),
                p.pr_auc.map_or_else(
                    || "undefined".to_owned(),
                    |i| format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.lower, i.upper)
                ),
                p.rows,
                p.positives,
                esc(&p.verdict)
            );
            if let Some(a) = &p.alerts {
                h.push_str(&alert_paragraph("live alerts", a));
            }
        }
    } else {
        h.push_str("<p>no window has closed yet</p>");
    }
    h.push_str("<h2>reference (grey) and window (blue), share per reference decile bin</h2><div class=\"plots\">");
    for hist in &s.histograms {
        h.push_str("<div class=\"plot\">");
        let _ = write!(h, "<div>{}</div>", esc(&hist.name));
        h.push_str(&bars(&hist.reference, &hist.current));
        h.push_str("</div>");
    }
    h.push_str("</div>");
    if let Some(d) = &s.last_decision {
        let _ = write!(
            h,
            "<h2>last retrain (#{}): {}</h2><p>{}</p>",
            d.retrain,
            d.verdict.name(),
            esc(&d.reason)
        );
        for (who, c) in [("champion", &d.champion), ("challenger", &d.challenger)] {
            if let Some(a) = c.as_ref().and_then(|c| c.alerts.as_ref()) {
                h.push_str(&alert_paragraph(&format!("{who} on the holdout"), a));
            }
        }
    }
    h.push_str("</body></html>");
    Html(h)
}

/// Grouped bars of two count vectors as shares, as inline SVG: the
/// reference grey, the current sample blue (also `volspike drift report`).
pub fn bars(reference: &[u64], current: &[u64]) -> String {
    let share = |c: &[u64]| {
        let n = c.iter().sum::<u64>().max(1) as f64;
        c.iter().map(|&v| v as f64 / n).collect::<Vec<_>>()
    };
    let (r, c) = (share(reference), share(current));
    let top = r
        .iter()
        .chain(&c)
        .copied()
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let (w, hgt, bw) = (260.0, 90.0, 26.0);
    let mut svg = format!("<svg width=\"{w}\" height=\"{hgt}\" role=\"img\">");
    for (i, (a, b)) in r.iter().zip(&c).enumerate() {
        let x = i as f64 * bw;
        let ha = a / top * (hgt - 4.0);
        let hb = b / top * (hgt - 4.0);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"11\" height=\"{ha:.1}\" fill=\"#aaa\"/>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"11\" height=\"{hb:.1}\" fill=\"#3a7bd5\"/>",
            x + 1.0,
            hgt - ha,
            x + 12.0,
            hgt - hb
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Alert-level figures in one sentence.
fn alert_paragraph(what: &str, a: &volspike_model::alerts::AlertMetrics) -> String {
    let num =
        |v: Option<f64>, d: usize| v.map_or_else(|| "&ndash;".to_owned(), |v| format!("{v:.d$}"));
    format!(
        "<p>{}: {} of {} spike episodes caught (recall {}, random alerts at the same rate {}), \
         lead time median {} s (p10 {} s, p90 {} s); {} alerts, {} false, {} false alerts per market hour over {:.2} h</p>",
        esc(what),
        a.caught,
        a.episodes,
        num(a.recall, 3),
        num(a.random_recall, 3),
        num(a.lead_time.map(|l| l.median_s), 1),
        num(a.lead_time.map(|l| l.p10_s), 1),
        num(a.lead_time.map(|l| l.p90_s), 1),
        a.alerts,
        a.false_alerts,
        num(a.false_alerts_per_hour, 2),
        a.market_hours
    )
}

/// `s` escaped for HTML text and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
