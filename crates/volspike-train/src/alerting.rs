//! The alert policy at training time: fitting its fallback threshold on
//! validation, measuring its alerts on a split, and the trade-off curve over
//! the budget that the report shows. The policy itself and the metrics are
//! `volspike_model::alerts`, the code the server and the drift worker run.

use serde::{Deserialize, Serialize};
pub use volspike_model::alerts::BudgetConfig;
use volspike_model::alerts::{
    AlertAt, AlertEngine, AlertMetrics, AlertPolicy, LabeledRow, Levels, budget_levels,
    evaluate_alerts, per_second_samples,
};

use crate::dataset::Dataset;

/// A split's rows as the server sees them: indices of `range` in `data`,
/// ordered by product, then time and tie.
pub fn stream_order(data: &Dataset, range: std::ops::Range<usize>) -> Vec<usize> {
    let mut idx: Vec<usize> = range.collect();
    idx.sort_by(|&a, &b| {
        (&data.product[a], data.event_time_ns[a], data.tie[a]).cmp(&(
            &data.product[b],
            data.event_time_ns[b],
            data.tie[b],
        ))
    });
    idx
}

/// The budget policy with its fallback fitted on `order` (rows of `data`
/// in stream order, `score(i)` row i's score): the fixed threshold that
/// keeps those rows within the budget, and their median as re-arm level.
/// Without rows, a threshold no score reaches.
pub fn fit_policy(
    cfg: &BudgetConfig,
    data: &Dataset,
    order: &[usize],
    score: impl Fn(usize) -> f64,
) -> AlertPolicy {
    let streams = per_second_samples(
        order
            .iter()
            .map(|&i| (data.product[i].as_str(), data.event_time_ns[i], score(i))),
    );
    let refs: Vec<&[(i64, f64)]> = streams.iter().map(|(_, s)| s.as_slice()).collect();
    let cooldown_ns = i64::try_from(cfg.cooldown.as_nanos()).unwrap_or(i64::MAX);
    let fallback = budget_levels(&refs, cfg.per_hour, cooldown_ns).unwrap_or(Levels {
        threshold: f64::INFINITY,
        rearm: f64::INFINITY,
    });
    cfg.policy(fallback)
}

/// The alerts `policy` raises on `order` (stream order): row indices.
pub fn alerts_on(
    policy: &AlertPolicy,
    data: &Dataset,
    order: &[usize],
    score: impl Fn(usize) -> f64,
) -> Vec<usize> {
    let mut engine = AlertEngine::new(policy.clone());
    order
        .iter()
        .copied()
        .filter(|&i| {
            engine
                .observe(&data.product[i], data.event_time_ns[i], score(i))
                .alert
        })
        .collect()
}

/// Alert-level metrics of `alerts` (row indices) on the rows of `order`.
pub fn metrics_of(
    data: &Dataset,
    order: &[usize],
    labels: &[bool],
    alerts: &[usize],
    horizon_ns: i64,
) -> AlertMetrics {
    let rows: Vec<LabeledRow<'_>> = order
        .iter()
        .map(|&i| LabeledRow {
            product: &data.product[i],
            event_time_ns: data.event_time_ns[i],
            spike: labels[i],
        })
        .collect();
    let at: Vec<AlertAt<'_>> = alerts
        .iter()
        .map(|&i| AlertAt {
            product: &data.product[i],
            event_time_ns: data.event_time_ns[i],
        })
        .collect();
    evaluate_alerts(&rows, &at, horizon_ns)
}

/// One point of the budget trade-off: the policy at `per_hour`, its
/// fallback fitted on validation, measured on test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetPoint {
    /// The budget, alerts per product-hour.
    pub per_hour: f64,
    /// The configured budget (the model's own point).
    pub chosen: bool,
    /// Alert-level metrics on test.
    pub test: AlertMetrics,
}

/// Budgets the report's trade-off curve visits (besides the configured one).
pub const CURVE_BUDGETS: [f64; 10] = [1.0, 2.0, 3.0, 4.0, 6.0, 10.0, 15.0, 20.0, 30.0, 45.0];

/// A split of a dataset with one model's scores on it.
#[derive(Debug, Clone, Copy)]
pub struct ScoredSplit<'a> {
    /// Row indices in stream order.
    pub order: &'a [usize],
    /// Score of each row of the split, indexed by `row - offset`.
    pub scores: &'a [f64],
    /// The split's first row.
    pub offset: usize,
}

impl ScoredSplit<'_> {
    /// Row `i`'s score.
    pub fn score(&self, i: usize) -> f64 {
        self.scores[i - self.offset]
    }
}

/// Recall against false alerts per hour on test over [`CURVE_BUDGETS`] and
/// the configured budget.
pub fn budget_curve(
    cfg: &BudgetConfig,
    data: &Dataset,
    labels: &[bool],
    validation: ScoredSplit<'_>,
    test: ScoredSplit<'_>,
    horizon_ns: i64,
) -> Vec<BudgetPoint> {
    let mut budgets: Vec<f64> = CURVE_BUDGETS.to_vec();
    if !budgets.contains(&cfg.per_hour) {
        budgets.push(cfg.per_hour);
        budgets.sort_by(f64::total_cmp);
    }
    budgets
        .into_iter()
        .map(|per_hour| {
            let c = BudgetConfig { per_hour, ..*cfg };
            let policy = fit_policy(&c, data, validation.order, |i| validation.score(i));
            let alerts = alerts_on(&policy, data, test.order, |i| test.score(i));
            BudgetPoint {
                per_hour,
                chosen: per_hour == cfg.per_hour,
                test: metrics_of(data, test.order, labels, &alerts, horizon_ns),
            }
        })
        .collect()
}
