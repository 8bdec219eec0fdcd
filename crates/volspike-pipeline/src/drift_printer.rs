//! What the drift worker does, printed as it happens (the demo's view of
//! it): the reference it calibrated, each window it judged with the
//! features that drift, each retrain it started and each decision.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use volspike_core::time::format_timestamp;
use volspike_drift_worker::report::{Contender, Decision, WindowRecord};
use volspike_drift_worker::worker::{Shared, Status};

/// Features listed under a window that drifts.
const LISTED: usize = 6;

/// What has been printed already.
#[derive(Debug, Default)]
pub struct Printed {
    reference: bool,
    windows: u64,
    running: Option<u64>,
    decided: Option<u64>,
}

/// Prints the worker's news every 200 ms until `stop`, then once more.
pub async fn print(shared: Arc<Shared>, stop: CancellationToken) {
    let mut printed = Printed::default();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let stopped = tokio::select! {
            () = stop.cancelled() => true,
            _ = tick.tick() => false,
        };
        for line in news(&shared.snapshot(), &mut printed) {
            println!("{line}");
        }
        if stopped {
            break;
        }
    }
}

/// The lines `status` adds to what was printed.
pub fn news(status: &Status, printed: &mut Printed) -> Vec<String> {
    let mut out = Vec::new();
    if let (false, Some(r)) = (printed.reference, &status.reference) {
        printed.reference = true;
        out.push(format!(
            "DRIFT reference: {} warm rows of the {} from {} to {}, {} features watched{}",
            r.rows,
            if r.source == "archive" {
                "champion's training span (archive)"
            } else {
                "first rows of the stream"
            },
            clock(r.span_ns.0),
            clock(r.span_ns.1),
            r.thresholds.len(),
            if r.excluded.is_empty() {
                String::new()
            } else {
                format!(" ({} left out)", r.excluded.len())
            }
        ));
    }
    let new = status.windows_closed.saturating_sub(printed.windows);
    printed.windows = status.windows_closed;
    let skip = status.windows.len().saturating_sub(new as usize);
    for w in status.windows.iter().skip(skip) {
        out.push(format!(
            "DRIFT window {}-{}: {} rows, severity {}, {} features drifting",
            clock(w.start_ns),
            clock(w.end_ns),
            w.rows,
            format!("{:?}", w.severity).to_lowercase(),
            w.drifting
        ));
        // The full record is kept for the latest window only.
        if let Some(last) = status.last_window.as_ref().filter(|l| l.end_ns == w.end_ns) {
            out.extend(window_details(last));
        }
    }
    if let Some(r) = &status.running
        && printed.running != Some(r.retrain)
    {
        printed.running = Some(r.retrain);
        out.push(format!(
            "RETRAIN {} at {}: {}; training a challenger on the archive with the champion's configuration",
            r.retrain,
            clock(r.at_ns),
            r.triggers.join(", ")
        ));
    }
    if let Some(d) = &status.last_decision
        && printed.decided != Some(d.retrain)
    {
        printed.decided = Some(d.retrain);
        out.extend(decision_lines(d));
    }
    out
}

/// The drifting features of a window (most over their threshold first) and
/// what the policy made of it.
fn window_details(w: &WindowRecord) -> Vec<String> {
    let mut drifting: Vec<_> = w
        .features
        .iter()
        .filter(|f| f.drift)
        .filter_map(|f| Some((f, f.statistic? / f.threshold.filter(|t| *t > 0.0)?)))
        .collect();
    drifting.sort_by(|a, b| b.1.total_cmp(&a.1));
    let statistic = serde_json::to_value(w.statistic)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut out: Vec<String> = drifting
        .iter()
        .take(LISTED)
        .map(|(f, ratio)| {
            format!(
                "  {:<28} {statistic} {:.3} = {ratio:.1}x its threshold; PSI {} (no-drift level {:.3})",
                f.name,
                f.statistic.unwrap_or(f64::NAN),
                f.psi.map_or("-".to_owned(), |p| format!("{p:.3}")),
                f.psi_floor
            )
        })
        .collect();
    if drifting.len() > LISTED {
        out.push(format!("  ... and {} more", drifting.len() - LISTED));
    }
    if !w.policy.triggers.is_empty() || w.policy.retrain {
        out.push(format!(
            "  policy: triggers [{}]{}",
            w.policy.triggers.join(", "),
            if w.policy.retrain {
                "; a retrain is due".to_owned()
            } else if w.policy.blocked.is_empty() {
                String::new()
            } else {
                format!("; held back: {}", w.policy.blocked.join("; "))
            }
        ));
    }
    out
}

fn decision_lines(d: &Decision) -> Vec<String> {
    let mut out = vec![format!(
        "DECISION {}: {} ({})",
        d.retrain,
        d.verdict.name().to_uppercase(),
        d.reason
    )];
    if let Some(w) = &d.data {
        out.push(format!(
            "  trained on {} rows from {} to {}; judged on {} holdout rows{}",
            w.rows,
            clock(w.span_ns.0),
            clock(w.span_ns.1),
            w.holdout_rows,
            w.holdout_span_ns.map_or(String::new(), |(a, b)| format!(
                " from {} to {}",
                clock(a),
                clock(b)
            ))
        ));
    }
    for (role, c) in [("champion", &d.champion), ("challenger", &d.challenger)] {
        if let Some(c) = c {
            out.push(format!("  {role:<10} {}", contender(c)));
        }
    }
    if let Some(g) = &d.difference {
        out.push(format!(
            "  PR-AUC gain {:+.4}, interval {:+.4} to {:+.4}, margin {}",
            g.estimate, g.lower, g.upper, d.margin
        ));
    }
    out
}

fn contender(c: &Contender) -> String {
    format!(
        "{} {}: holdout PR-AUC {}, ROC-AUC {}, F1 {}",
        c.version
            .map_or("(not registered)".to_owned(), |v| format!("v{v}")),
        c.kind,
        c.pr_auc.map_or("-".to_owned(), |p| format!(
            "{:.4} [{:.4}, {:.4}]",
            p.estimate, p.lower, p.upper
        )),
        c.roc_auc.map_or("-".to_owned(), |v| format!("{v:.4}")),
        c.f1.map_or("-".to_owned(), |v| format!("{v:.4}")),
    ) + &c.alerts.as_ref().map_or_else(String::new, |a| {
        format!(
            "; alerts caught {}/{} episodes, {} false alerts per hour",
            a.caught,
            a.episodes,
            a.false_alerts_per_hour
                .map_or("-".to_owned(), |v| format!("{v:.2}"))
        )
    })
}

/// Time of day of an event time, to the second.
fn clock(ns: i64) -> String {
    let t = format_timestamp(ns);
    t.get(11..19).unwrap_or(&t).to_owned()
}

#[cfg(test)]
mod tests {
    use volspike_drift::detector::Severity;
    use volspike_drift_worker::report::{REPORT_SCHEMA_VERSION, Verdict};
    use volspike_drift_worker::worker::{Running, WindowSummary};

    use super::*;

    const MINUTE: i64 = 60_000_000_000;

    fn window(i: i64, drifting: usize) -> WindowSummary {
        WindowSummary {
            start_ns: i * MINUTE,
            end_ns: (i + 1) * MINUTE,
            severity: if drifting > 0 {
                Severity::High
            } else {
                Severity::None
            },
            drifting,
            rows: 100,
        }
    }

    #[test]
    fn each_window_retrain_and_decision_is_printed_once() {
        let mut status = Status::default();
        let mut printed = Printed::default();
        assert!(news(&status, &mut printed).is_empty());
        status.windows.extend([window(0, 0), window(1, 0)]);
        status.windows_closed = 2;
        let lines = news(&status, &mut printed);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("DRIFT window 00:00:00-00:01:00: 100 rows, severity none"));
        // Two more closed between polls: both printed, the old ones not again.
        status.windows.extend([window(2, 3), window(3, 4)]);
        status.windows_closed = 4;
        status.running = Some(Running {
            retrain: 1,
            triggers: vec!["drift at high for 2 windows".into()],
            at_ns: 4 * MINUTE,
        });
        let lines = news(&status, &mut printed);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("00:02:00-00:03:00") && lines[0].contains("3 features drifting"));
        assert!(lines[2].starts_with("RETRAIN 1 at 00:04:00: drift at high for 2 windows"));
        assert!(news(&status, &mut printed).is_empty());
        status.running = None;
        status.last_decision = Some(Decision {
            schema_version: REPORT_SCHEMA_VERSION,
            retrain: 1,
            at_ns: 4 * MINUTE,
            triggers: vec!["drift at high for 2 windows".into()],
            data: None,
            champion: None,
            challenger: None,
            difference: None,
            margin: 0.01,
            verdict: Verdict::RefusedGate,
            reason: "PR-AUC gain -0.0036 is under the margin 0.01".into(),
        });
        let lines = news(&status, &mut printed);
        assert_eq!(
            lines,
            ["DECISION 1: REFUSED_GATE (PR-AUC gain -0.0036 is under the margin 0.01)"]
        );
        assert!(news(&status, &mut printed).is_empty());
    }
}
