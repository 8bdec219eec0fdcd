//! Alerts: when a score becomes an alert, and how alerts are judged.
//!
//! Users act on `alerts.volatility`, not on row-level metrics, so both the
//! rule that raises alerts and the measure of them live here, in the one
//! crate that training, `volspike evaluate`, the inference server and the
//! drift worker all link.
//!
//! **The operating point** ([`AlertPolicy`], stored in the model file). A
//! probability threshold fixed at training does not survive a period whose
//! spike rate differs (on another month every score may lie below it). The
//! default policy is an *alert budget*: per product, the threshold is
//! recomputed every `refresh` of event time as the lowest one at which the
//! gate would have raised at most `per_hour` alerts per market hour over the
//! trailing `window` of that product's scores (one per second: the last
//! score of each whole second, so a recorder that keeps more messages does
//! not weigh more). Until the product has `min_history` of scores the
//! threshold is `fallback`, the one that met the budget on validation.
//! Everything depends on event time and the order of a product's rows, so a
//! replay gives the alerts of the live run, byte for byte.
//!
//! **The gate**: after alerting, a product alerts again only once its score
//! has fallen below `threshold * rearm_ratio` and `cooldown` of event time
//! has passed. One spike, one alert.
//!
//! **Alert-level metrics** ([`evaluate_alerts`], definitions in
//! `docs/models.md`): episodes (runs of spike rows at most one horizon
//! apart), caught episodes (an alert in [start - horizon, end]), lead time,
//! false alerts per market hour, and the recall that random alerts at the
//! same rate would reach.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

const NS: i64 = 1_000_000_000;

/// A gap in a product's rows longer than this is not market time.
pub const MARKET_GAP: Duration = Duration::from_secs(300);

/// How scores become alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AlertPolicy {
    /// Where the threshold comes from.
    pub threshold: ThresholdRule,
    /// A product re-arms once its score falls below `threshold * rearm_ratio`.
    pub rearm_ratio: f64,
    /// Least event time between two alerts of one product.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
}

/// Where an alert threshold comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ThresholdRule {
    /// One threshold for every product and period (model files from
    /// before the budget: the F1-optimal threshold on validation).
    Fixed {
        /// `score >= threshold` is a spike.
        threshold: f64,
    },
    /// The lowest threshold that keeps the trailing window of a product's
    /// scores within `per_hour` alerts per market hour.
    Budget {
        /// Alerts per product and market hour.
        per_hour: f64,
        /// Trailing event time whose scores set the threshold.
        #[serde(with = "humantime_serde")]
        window: Duration,
        /// How often (event time) the threshold is recomputed.
        #[serde(with = "humantime_serde")]
        refresh: Duration,
        /// Market time of scores needed before the window decides.
        #[serde(with = "humantime_serde")]
        min_history: Duration,
        /// The threshold until then: the one that met the budget on
        /// validation.
        fallback: f64,
    },
}

/// Budget policy settings, before the fallback is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BudgetConfig {
    /// Alerts per product and market hour.
    pub per_hour: f64,
    /// Trailing window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Recompute interval.
    #[serde(with = "humantime_serde")]
    pub refresh: Duration,
    /// History needed before the window decides.
    #[serde(with = "humantime_serde")]
    pub min_history: Duration,
    /// Re-arm ratio of the gate.
    pub rearm_ratio: f64,
    /// Cooldown of the gate.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
}

/// Chosen by leaving each recorder and each day of the shared recordings
/// out at alert level (`docs/models.md`).
impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            per_hour: 6.0,
            window: Duration::from_secs(30 * 60),
            refresh: Duration::from_secs(60),
            min_history: Duration::from_secs(120),
            rearm_ratio: 0.8,
            cooldown: Duration::from_secs(60),
        }
    }
}

impl BudgetConfig {
    /// The policy with `fallback` as the threshold until a product has
    /// history.
    pub fn policy(&self, fallback: f64) -> AlertPolicy {
        AlertPolicy {
            threshold: ThresholdRule::Budget {
                per_hour: self.per_hour,
                window: self.window,
                refresh: self.refresh,
                min_history: self.min_history,
                fallback,
            },
            rearm_ratio: self.rearm_ratio,
            cooldown: self.cooldown,
        }
    }

    /// The gate of this configuration.
    pub fn gate(&self) -> Gate {
        Gate {
            rearm_ratio: self.rearm_ratio,
            cooldown_ns: dur_ns(self.cooldown),
        }
    }
}

impl AlertPolicy {
    /// A fixed threshold with the server's historical gate (re-arm at 0.8
    /// of the threshold, 60 s cooldown): what model files without a policy
    /// are served with.
    pub fn fixed(threshold: f64) -> AlertPolicy {
        AlertPolicy {
            threshold: ThresholdRule::Fixed { threshold },
            rearm_ratio: 0.8,
            cooldown: Duration::from_secs(60),
        }
    }

    /// The threshold a product without history is held to.
    pub fn initial_threshold(&self) -> f64 {
        match self.threshold {
            ThresholdRule::Fixed { threshold } => threshold,
            ThresholdRule::Budget { fallback, .. } => fallback,
        }
    }

    /// The gate.
    pub fn gate(&self) -> Gate {
        Gate {
            rearm_ratio: self.rearm_ratio,
            cooldown_ns: dur_ns(self.cooldown),
        }
    }

    /// A short description for logs and reports.
    pub fn describe(&self) -> String {
        match &self.threshold {
            ThresholdRule::Fixed { threshold } => format!("fixed threshold {threshold:.4}"),
            ThresholdRule::Budget {
                per_hour,
                window,
                fallback,
                ..
            } => format!(
                "budget {per_hour} alerts per product-hour over a trailing {} (fallback {fallback:.4})",
                humantime::format_duration(*window)
            ),
        }
    }
}

fn dur_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The gate's rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// Re-arm below `threshold * rearm_ratio`.
    pub rearm_ratio: f64,
    /// Least time between alerts, ns.
    pub cooldown_ns: i64,
}

/// One product's gate state.
#[derive(Debug, Clone, Copy)]
struct GateState {
    armed: bool,
    last_alert_ns: i64,
}

impl Default for GateState {
    fn default() -> Self {
        GateState {
            armed: true,
            last_alert_ns: i64::MIN,
        }
    }
}

impl GateState {
    fn observe(&mut self, gate: Gate, t_ns: i64, score: f64, threshold: f64) -> bool {
        if score >= threshold {
            if self.armed && t_ns.saturating_sub(self.last_alert_ns) >= gate.cooldown_ns {
                self.armed = false;
                self.last_alert_ns = t_ns;
                return true;
            }
        } else if score < threshold * gate.rearm_ratio {
            self.armed = true;
        }
        false
    }
}

/// What the policy decided for one scored row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The threshold in force for this row.
    pub threshold: f64,
    /// Whether the row raises an alert.
    pub alert: bool,
}

/// One product's policy state.
#[derive(Debug, Clone, Default)]
struct ProductState {
    gate: GateState,
    /// Finished seconds: (second of event time, last score in it).
    samples: VecDeque<(i64, f64)>,
    /// The second being filled and its latest score.
    current: Option<(i64, f64)>,
    threshold: Option<f64>,
    last_refresh: Option<i64>,
}

/// Applies an [`AlertPolicy`] to each product's scores in event-time order.
/// The inference server, `volspike evaluate` and the drift worker all feed
/// rows through this, so they raise the same alerts.
#[derive(Debug, Clone)]
pub struct AlertEngine {
    policy: AlertPolicy,
    gate: Gate,
    products: HashMap<String, ProductState>,
}

impl AlertEngine {
    /// An engine with no product seen yet.
    pub fn new(policy: AlertPolicy) -> AlertEngine {
        AlertEngine {
            gate: policy.gate(),
            policy,
            products: HashMap::new(),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &AlertPolicy {
        &self.policy
    }

    /// Feeds one scored row of `product` (rows of a product in event-time
    /// order) and says whether it alerts.
    pub fn observe(&mut self, product: &str, event_time_ns: i64, score: f64) -> Decision {
        let s = match self.products.get_mut(product) {
            Some(s) => s,
            None => self.products.entry(product.to_owned()).or_default(),
        };
        let threshold = match &self.policy.threshold {
            ThresholdRule::Fixed { threshold } => *threshold,
            ThresholdRule::Budget {
                per_hour,
                window,
                refresh,
                min_history,
                fallback,
            } => {
                let second = event_time_ns.div_euclid(NS);
                match s.current {
                    Some((cur, _)) if second <= cur => {}
                    _ => {
                        // A new second: the last one becomes a sample, the
                        // window slides, and the threshold may be refreshed
                        // from seconds before this one only.
                        if let Some(done) = s.current {
                            s.samples.push_back(done);
                        }
                        let oldest = second - dur_s(*window);
                        while s.samples.front().is_some_and(|&(t, _)| t < oldest) {
                            s.samples.pop_front();
                        }
                        let due = s
                            .last_refresh
                            .is_none_or(|r| second - r >= dur_s(*refresh).max(1));
                        if due {
                            s.last_refresh = Some(second);
                            s.threshold = (market_seconds(s.samples.iter().map(|&(t, _)| t))
                                >= dur_s(*min_history))
                            .then(|| {
                                let samples: Vec<(i64, f64)> = s.samples.iter().copied().collect();
                                budget_threshold(&[&samples], *per_hour, self.gate)
                            })
                            .flatten();
                        }
                        s.current = Some((second, score));
                    }
                }
                if let Some((cur, v)) = s.current.as_mut()
                    && *cur == second
                {
                    *v = score;
                }
                s.threshold.unwrap_or(*fallback)
            }
        };
        let alert = s.gate.observe(self.gate, event_time_ns, score, threshold);
        Decision { threshold, alert }
    }
}

fn dur_s(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Market seconds covered by sorted sample seconds: each step to the next
/// sample counts unless it is longer than [`MARKET_GAP`], plus one for the
/// last second itself.
fn market_seconds(seconds: impl Iterator<Item = i64>) -> i64 {
    let gap = dur_s(MARKET_GAP);
    let mut total = 0;
    let mut prev: Option<i64> = None;
    for t in seconds {
        match prev {
            None => total += 1,
            Some(p) if t - p <= gap => total += t - p,
            Some(_) => total += 1,
        }
        prev = Some(t);
    }
    total
}

/// How many alerts `gate` raises on per-second `samples` (second, score) at
/// a fixed `threshold`.
fn gate_count(samples: &[(i64, f64)], gate: Gate, threshold: f64) -> u64 {
    let mut g = GateState::default();
    samples
        .iter()
        .filter(|&&(t, v)| g.observe(gate, t * NS, v, threshold))
        .count() as u64
}

/// The lowest threshold (one of the sample scores above their median, or
/// just above the highest) at which `gate` raises at most `per_hour` alerts per market hour
/// over `streams` (each one product's per-second samples in time order).
/// `None` without samples.
pub fn budget_threshold(streams: &[&[(i64, f64)]], per_hour: f64, gate: Gate) -> Option<f64> {
    let seconds: i64 = streams
        .iter()
        .map(|s| market_seconds(s.iter().map(|&(t, _)| t)))
        .sum();
    let mut candidates: Vec<f64> = streams
        .iter()
        .flat_map(|s| s.iter().map(|&(_, v)| v))
        .filter(|v| v.is_finite())
        .collect();
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by(f64::total_cmp);
    // Never at or below the median score: far down, scores stay above
    // `threshold * rearm_ratio` between spikes, the gate never re-arms, and
    // a threshold that flags half the time would count as "within budget".
    let median = candidates[candidates.len().div_ceil(2) - 1];
    let top = *candidates.last().expect("not empty");
    candidates.retain(|&v| v > median);
    candidates.dedup();
    if candidates.is_empty() {
        return Some(next_up(top));
    }
    let allowed = (per_hour * seconds as f64 / 3600.0).floor().max(0.0) as u64;
    let count = |h: f64| -> u64 { streams.iter().map(|s| gate_count(s, gate, h)).sum() };
    // Binary search for the first candidate whose count is within budget
    // (counts fall as the threshold rises, up to the re-arm rule's wiggles;
    // the search is deterministic either way).
    let (mut lo, mut hi) = (0usize, candidates.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if count(candidates[mid]) <= allowed {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(match candidates.get(lo) {
        Some(&h) => h,
        None => next_up(top),
    })
}

/// The smallest f64 above `x` (finite `x`).
fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

/// Per product, the last score of each whole second of event time, from
/// rows in event-time order per product: what a budget is measured on.
pub fn per_second_samples<'a>(
    rows: impl IntoIterator<Item = (&'a str, i64, f64)>,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let mut by: HashMap<&str, Vec<(i64, f64)>> = HashMap::new();
    for (p, t, v) in rows {
        let second = t.div_euclid(NS);
        let s = by.entry(p).or_default();
        match s.last_mut() {
            Some((last, lv)) if *last >= second => *lv = v,
            _ => s.push((second, v)),
        }
    }
    let mut out: Vec<(String, Vec<(i64, f64)>)> =
        by.into_iter().map(|(p, s)| (p.to_owned(), s)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One labeled row, for alert-level metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabeledRow<'a> {
    /// Product.
    pub product: &'a str,
    /// Event time, ns.
    pub event_time_ns: i64,
    /// The row is labeled spike.
    pub spike: bool,
}

/// One alert, for alert-level metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertAt<'a> {
    /// Product.
    pub product: &'a str,
    /// Event time, ns.
    pub event_time_ns: i64,
}

/// Lead time quantiles of caught episodes, seconds (negative: late).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LeadTimes {
    /// Median.
    pub median_s: f64,
    /// 10th percentile.
    pub p10_s: f64,
    /// 90th percentile.
    pub p90_s: f64,
}

/// Alert-level metrics (definitions in `docs/models.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AlertMetrics {
    /// Spike episodes.
    pub episodes: u64,
    /// Episodes with an alert in [start - horizon, end].
    pub caught: u64,
    /// caught / episodes; `None` without episodes.
    pub recall: Option<f64>,
    /// Lead times of caught episodes; `None` when none was caught.
    pub lead_time: Option<LeadTimes>,
    /// Alerts.
    pub alerts: u64,
    /// Alerts that catch no episode.
    pub false_alerts: u64,
    /// Market hours (per product, the span of its labeled rows without
    /// gaps over five minutes, summed).
    pub market_hours: f64,
    /// alerts / market hours.
    pub alerts_per_hour: Option<f64>,
    /// false alerts / market hours.
    pub false_alerts_per_hour: Option<f64>,
    /// Alerts that catch an episode, per caught episode.
    pub alerts_per_caught_episode: Option<f64>,
    /// The expected recall of alerts placed at random (a Poisson process
    /// over market time) at the same rate: the reference to beat.
    pub random_recall: Option<f64>,
}

/// Alert-level metrics of `alerts` against the episodes of `rows` (any
/// order), for a label of `horizon_ns`.
pub fn evaluate_alerts(
    rows: &[LabeledRow<'_>],
    alerts: &[AlertAt<'_>],
    horizon_ns: i64,
) -> AlertMetrics {
    let gap_ns = dur_ns(MARKET_GAP);
    let mut by_product: HashMap<&str, (Vec<i64>, Vec<i64>)> = HashMap::new();
    for r in rows {
        let e = by_product.entry(r.product).or_default();
        e.0.push(r.event_time_ns);
        if r.spike {
            e.1.push(r.event_time_ns);
        }
    }
    let mut alert_times: HashMap<&str, Vec<(i64, usize)>> = HashMap::new();
    for (i, a) in alerts.iter().enumerate() {
        alert_times
            .entry(a.product)
            .or_default()
            .push((a.event_time_ns, i));
    }
    for v in alert_times.values_mut() {
        v.sort_unstable();
    }
    let mut market_ns: i128 = 0;
    let mut episodes = 0u64;
    let mut caught = 0u64;
    let mut leads: Vec<f64> = Vec::new();
    let mut useful = vec![false; alerts.len()];
    // (episode catch window length in market time, ns) for the random reference.
    let mut windows: Vec<i128> = Vec::new();
    let mut products: Vec<&&str> = by_product.keys().collect();
    products.sort();
    for p in products {
        let (times, spikes) = by_product.get(*p).expect("key");
        let mut times = times.clone();
        times.sort_unstable();
        let mut spans: Vec<(i64, i64)> = Vec::new();
        for &t in &times {
            match spans.last_mut() {
                Some((_, e)) if t - *e <= gap_ns => *e = t,
                _ => spans.push((t, t)),
            }
        }
        market_ns += spans.iter().map(|&(s, e)| i128::from(e - s)).sum::<i128>();
        let mut spikes = spikes.clone();
        spikes.sort_unstable();
        let mut eps: Vec<(i64, i64)> = Vec::new();
        for &t in &spikes {
            match eps.last_mut() {
                Some((_, e)) if t - *e <= horizon_ns => *e = t,
                _ => eps.push((t, t)),
            }
        }
        let at = alert_times.get(*p).map(Vec::as_slice).unwrap_or(&[]);
        for &(start, end) in &eps {
            episodes += 1;
            let from = start.saturating_sub(horizon_ns);
            let first = at.partition_point(|&(t, _)| t < from);
            let hits: Vec<(i64, usize)> = at[first..]
                .iter()
                .take_while(|&&(t, _)| t <= end)
                .copied()
                .collect();
            if let Some(&(earliest, _)) = hits.first() {
                caught += 1;
                leads.push((start - earliest) as f64 / 1e9);
                for (_, i) in hits {
                    useful[i] = true;
                }
            }
            windows.push(
                spans
                    .iter()
                    .map(|&(a, b)| i128::from((b.min(end) - a.max(from)).max(0)))
                    .sum(),
            );
        }
    }
    let market_hours = market_ns as f64 / 3.6e12;
    let n = alerts.len() as u64;
    let useful_n = useful.iter().filter(|&&u| u).count() as u64;
    let false_alerts = n - useful_n;
    let per_hour = |k: u64| (market_hours > 0.0).then(|| k as f64 / market_hours);
    let rate = per_hour(n);
    let random_recall = match (rate, episodes) {
        (Some(rate), e) if e > 0 => Some(
            windows
                .iter()
                .map(|&w| 1.0 - (-rate * w as f64 / 3.6e12).exp())
                .sum::<f64>()
                / e as f64,
        ),
        _ => None,
    };
    leads.sort_by(f64::total_cmp);
    AlertMetrics {
        episodes,
        caught,
        recall: (episodes > 0).then(|| caught as f64 / episodes as f64),
        lead_time: (!leads.is_empty()).then(|| LeadTimes {
            median_s: percentile(&leads, 0.5),
            p10_s: percentile(&leads, 0.1),
            p90_s: percentile(&leads, 0.9),
        }),
        alerts: n,
        false_alerts,
        market_hours,
        alerts_per_hour: rate,
        false_alerts_per_hour: per_hour(false_alerts),
        alerts_per_caught_episode: (caught > 0).then(|| useful_n as f64 / caught as f64),
        random_recall,
    }
}

/// numpy's default (linear) percentile of sorted, non-empty `v`.
fn percentile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NS;

    #[test]
    fn the_gate_alerts_once_per_crossing_and_waits_out_the_cooldown() {
        let mut e = AlertEngine::new(AlertPolicy::fixed(0.5));
        let alerts: Vec<bool> = [(0, 0.6), (1, 0.7), (2, 0.3), (3, 0.9), (70, 0.2), (71, 0.6)]
            .iter()
            .map(|&(t, p)| e.observe("BTC-USD", t * S, p).alert)
            .collect();
        // Re-armed at 2 s but cooling down until 60 s; again at 71 s.
        assert_eq!(alerts, [true, false, false, false, false, true]);
        // Products are independent.
        assert!(e.observe("ETH-USD", S, 0.6).alert);
    }

    #[test]
    fn market_time_leaves_out_long_gaps() {
        assert_eq!(market_seconds([10, 11, 20].into_iter()), 11);
        assert_eq!(market_seconds([10, 11, 1000, 1001].into_iter()), 4);
        assert_eq!(market_seconds(std::iter::empty()), 0);
    }

    #[test]
    fn the_budget_threshold_keeps_alerts_within_the_budget() {
        let gate = BudgetConfig::default().gate();
        // One hour of a product whose score spikes every 5 minutes.
        let samples: Vec<(i64, f64)> = (0..3600)
            .map(|t| {
                (
                    t,
                    if t % 300 < 5 {
                        0.9
                    } else {
                        0.1 + (t % 7) as f64 * 0.01
                    },
                )
            })
            .collect();
        let h = budget_threshold(&[&samples], 12.0, gate).unwrap();
        assert!(gate_count(&samples, gate, h) <= 12, "{h}");
        assert!(h > 0.2 && h <= 0.9, "{h}");
        // A budget below one alert in the window: just above the highest.
        let h0 = budget_threshold(&[&samples], 0.5, gate).unwrap();
        assert!(h0 > 0.9 && gate_count(&samples, gate, h0) == 0);
        assert_eq!(budget_threshold(&[], 1.0, gate), None);
    }

    #[test]
    fn the_budget_policy_adapts_to_the_level_of_the_scores() {
        // A period whose scores all lie below the fallback threshold still
        // alerts once the window has history.
        let cfg = BudgetConfig::default();
        let mut e = AlertEngine::new(cfg.policy(0.5));
        let mut alerts = 0;
        let mut last_threshold = 0.0;
        for t in 0..7200 {
            let p = if t % 600 < 3 { 0.09 } else { 0.01 };
            let d = e.observe("BTC-USD", t * S, p);
            alerts += u32::from(d.alert);
            last_threshold = d.threshold;
        }
        assert!(last_threshold < 0.5, "{last_threshold}");
        assert!((6..=14).contains(&alerts), "{alerts}");
    }

    #[test]
    fn episodes_are_caught_up_to_a_horizon_early_and_false_alerts_counted() {
        let h = 60 * S;
        let row = |t: i64, spike| LabeledRow {
            product: "BTC-USD",
            event_time_ns: t * S,
            spike,
        };
        // Spikes at 100..=130 (one episode: steps of 10 s), then 400.
        let mut rows: Vec<LabeledRow<'_>> = (0..=600).step_by(10).map(|t| row(t, false)).collect();
        for r in &mut rows {
            r.spike = (100..=130).contains(&(r.event_time_ns / S)) || r.event_time_ns == 400 * S;
        }
        let alert = |t: i64| AlertAt {
            product: "BTC-USD",
            event_time_ns: t * S,
        };
        let m = evaluate_alerts(&rows, &[alert(50), alert(120), alert(250)], h);
        assert_eq!(
            (m.episodes, m.caught, m.alerts, m.false_alerts),
            (2, 1, 3, 1)
        );
        assert_eq!(m.recall, Some(0.5));
        // Caught 50 s early (the alert at 50 s; the one at 120 s also counts).
        let lead = m.lead_time.unwrap();
        assert_eq!((lead.median_s, lead.p10_s, lead.p90_s), (50.0, 50.0, 50.0));
        assert_eq!(m.alerts_per_caught_episode, Some(2.0));
        assert!((m.market_hours - 600.0 / 3600.0).abs() < 1e-12);
        // Random alerts at 18 per hour over windows of 90 s and 60 s.
        let rate = 3.0 / (600.0 / 3600.0);
        let want = ((1.0 - (-rate * 90.0 / 3600.0f64).exp())
            + (1.0 - (-rate * 60.0 / 3600.0f64).exp()))
            / 2.0;
        assert!((m.random_recall.unwrap() - want).abs() < 1e-12);
    }
}
