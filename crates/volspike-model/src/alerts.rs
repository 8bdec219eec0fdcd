//! Alerts: when a score becomes an alert, and how alerts are judged.
//!
//! Users act on `alerts.volatility`, not on row-level metrics, so both the
//! rule that raises alerts and the measure of them live here, in the one
//! crate that training, `volspike evaluate`, the inference server and the
//! drift worker all link.
//!
//! **The operating point** ([`AlertPolicy`], stored in the model file). A
//! probability threshold fixed at training does not survive a period whose
//! spike rate differs (on another month every score may lie below it, or
//! above it). The default policy is an *alert budget*: per product, the
//! threshold is recomputed every `refresh` of event time as the lowest one
//! at which the gate would have raised at most `per_hour` alerts per market
//! hour over the trailing `window` of that product's scores (one per
//! second: the last score of each whole second, so a recorder that keeps
//! more messages does not weigh more). Until the product has `min_history`
//! of scores, the threshold and re-arm level are the ones fitted the same
//! way on validation. Everything depends on event time and the order of a
//! product's rows, so a replay gives the alerts of the live run, byte for
//! byte.
//!
//! **The gate**: after alerting, a product alerts again only once its score
//! has fallen back to the re-arm level and `cooldown` of event time has
//! passed: one spike, one alert. Under a budget the re-arm level is the
//! median of the trailing scores ("back to normal", whatever the scale of
//! the scores: on a period where every probability is near 1 a ratio of
//! the threshold would never be reached); under a fixed threshold it is
//! `threshold * rearm_ratio`.
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
    /// Where the threshold and the re-arm level come from.
    pub threshold: ThresholdRule,
    /// Least event time between two alerts of one product.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
}

/// Where an alert threshold and the gate's re-arm level come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ThresholdRule {
    /// One threshold for every product and period (model files from
    /// before the budget: the F1-optimal threshold on validation).
    Fixed {
        /// `score >= threshold` is a spike.
        threshold: f64,
        /// Re-arm at or below `threshold * rearm_ratio`.
        rearm_ratio: f64,
    },
    /// The lowest threshold that keeps the trailing window of a product's
    /// scores within `per_hour` alerts per market hour; re-arm at or below
    /// the window's median.
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
        /// The re-arm level until then: the median of validation's scores.
        fallback_rearm: f64,
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
            cooldown: Duration::from_secs(60),
        }
    }
}

/// A threshold and the gate's re-arm level with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// `score >= threshold` may alert.
    pub threshold: f64,
    /// An alerted product re-arms once its score is at or below this.
    pub rearm: f64,
}

impl BudgetConfig {
    /// The policy with `fallback` until a product has history.
    pub fn policy(&self, fallback: Levels) -> AlertPolicy {
        AlertPolicy {
            threshold: ThresholdRule::Budget {
                per_hour: self.per_hour,
                window: self.window,
                refresh: self.refresh,
                min_history: self.min_history,
                fallback: fallback.threshold,
                fallback_rearm: fallback.rearm,
            },
            cooldown: self.cooldown,
        }
    }
}

impl AlertPolicy {
    /// A fixed threshold behind the server's historical gate (re-arm at
    /// 0.8 of the threshold, 60 s cooldown): what model files without a
    /// policy are served with.
    pub fn fixed(threshold: f64) -> AlertPolicy {
        AlertPolicy {
            threshold: ThresholdRule::Fixed {
                threshold,
                rearm_ratio: 0.8,
            },
            cooldown: Duration::from_secs(60),
        }
    }

    /// The levels a product without history is held to.
    pub fn initial_levels(&self) -> Levels {
        match self.threshold {
            ThresholdRule::Fixed {
                threshold,
                rearm_ratio,
            } => Levels {
                threshold,
                rearm: threshold * rearm_ratio,
            },
            ThresholdRule::Budget {
                fallback,
                fallback_rearm,
                ..
            } => Levels {
                threshold: fallback,
                rearm: fallback_rearm,
            },
        }
    }

    /// The threshold a product without history is held to.
    pub fn initial_threshold(&self) -> f64 {
        self.initial_levels().threshold
    }

    /// A short description for logs and reports.
    pub fn describe(&self) -> String {
        match &self.threshold {
            ThresholdRule::Fixed { threshold, .. } => format!("fixed threshold {threshold:.4}"),
            ThresholdRule::Budget {
                per_hour,
                window,
                fallback,
                ..
            } => format!(
                "budget of {per_hour} alerts per product-hour over a trailing {} (fallback {fallback:.4})",
                humantime::format_duration(*window)
            ),
        }
    }
}

fn dur_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn dur_s(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
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
    fn observe(&mut self, cooldown_ns: i64, t_ns: i64, score: f64, levels: Levels) -> bool {
        if score >= levels.threshold {
            if self.armed && t_ns.saturating_sub(self.last_alert_ns) >= cooldown_ns {
                self.armed = false;
                self.last_alert_ns = t_ns;
                return true;
            }
        } else if score <= levels.rearm {
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
    levels: Option<Levels>,
    last_refresh: Option<i64>,
}

/// Applies an [`AlertPolicy`] to each product's scores in event-time order.
/// The inference server, `volspike evaluate` and the drift worker all feed
/// rows through this, so they raise the same alerts.
#[derive(Debug, Clone)]
pub struct AlertEngine {
    policy: AlertPolicy,
    cooldown_ns: i64,
    products: HashMap<String, ProductState>,
}

impl AlertEngine {
    /// An engine with no product seen yet.
    pub fn new(policy: AlertPolicy) -> AlertEngine {
        AlertEngine {
            cooldown_ns: dur_ns(policy.cooldown),
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
        let levels = match &self.policy.threshold {
            ThresholdRule::Fixed { .. } => self.policy.initial_levels(),
            ThresholdRule::Budget {
                per_hour,
                window,
                refresh,
                min_history,
                ..
            } => {
                let second = event_time_ns.div_euclid(NS);
                match s.current {
                    Some((cur, _)) if second <= cur => {}
                    _ => {
                        // A new second: the last one becomes a sample, the
                        // window slides, and the levels may be refreshed
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
                            let samples = s.samples.make_contiguous();
                            s.levels = (market_seconds(samples.iter().map(|&(t, _)| t))
                                >= dur_s(*min_history))
                            .then(|| budget_levels(&[&*samples], *per_hour, self.cooldown_ns))
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
                s.levels.unwrap_or_else(|| self.policy.initial_levels())
            }
        };
        let alert = s
            .gate
            .observe(self.cooldown_ns, event_time_ns, score, levels);
        Decision {
            threshold: levels.threshold,
            alert,
        }
    }
}

/// Market seconds covered by sorted sample seconds: each step to the next
/// sample counts unless it is longer than [`MARKET_GAP`], plus one for the
/// first second of each stretch.
fn market_seconds(seconds: impl Iterator<Item = i64>) -> i64 {
    let gap = dur_s(MARKET_GAP);
    let mut total = 0;
    let mut prev: Option<i64> = None;
    for t in seconds {
        match prev {
            Some(p) if t - p <= gap => total += t - p,
            _ => total += 1,
        }
        prev = Some(t);
    }
    total
}

/// How many alerts the gate raises on per-second `samples` (second, score)
/// at fixed `levels`.
fn gate_count(samples: &[(i64, f64)], cooldown_ns: i64, levels: Levels) -> u64 {
    let mut g = GateState::default();
    samples
        .iter()
        .filter(|&&(t, v)| g.observe(cooldown_ns, t * NS, v, levels))
        .count() as u64
}

/// The levels of a budget over `streams` (each one product's per-second
/// samples in time order): the re-arm level is the median of all samples
/// (the lower one), and the threshold the lowest sample score above it (or
/// just above the highest) at which the gate raises at most `per_hour`
/// alerts per market hour. With the re-arm level fixed, the count only falls
/// as the threshold rises, so a binary search finds it. `None` without
/// samples.
pub fn budget_levels(streams: &[&[(i64, f64)]], per_hour: f64, cooldown_ns: i64) -> Option<Levels> {
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
    let rearm = candidates[candidates.len().div_ceil(2) - 1];
    let top = *candidates.last().expect("not empty");
    candidates.retain(|&v| v > rearm);
    candidates.dedup();
    let allowed = (per_hour * seconds as f64 / 3600.0).floor().max(0.0) as u64;
    let count = |threshold: f64| -> u64 {
        streams
            .iter()
            .map(|s| gate_count(s, cooldown_ns, Levels { threshold, rearm }))
            .sum()
    };
    let (mut lo, mut hi) = (0usize, candidates.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if count(candidates[mid]) <= allowed {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(Levels {
        threshold: candidates.get(lo).copied().unwrap_or_else(|| next_up(top)),
        rearm,
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
    /// Alerts within the market hours (alerts elsewhere cannot be judged).
    pub alerts: u64,
    /// Of those, alerts that catch no episode.
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

impl AlertMetrics {
    /// Every defined figure by name (`episodes`, `caught`, `recall`,
    /// `random_recall`, `lead_time_median_s`, `lead_time_p10_s`,
    /// `lead_time_p90_s`, `alerts`, `false_alerts`, `market_hours`,
    /// `alerts_per_hour`, `false_alerts_per_hour`,
    /// `alerts_per_caught_episode`): for `GetModel`, MLflow and the drift
    /// worker's summary.
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![
            ("episodes", self.episodes as f64),
            ("caught", self.caught as f64),
            ("alerts", self.alerts as f64),
            ("false_alerts", self.false_alerts as f64),
            ("market_hours", self.market_hours),
        ];
        let optional = [
            ("recall", self.recall),
            ("random_recall", self.random_recall),
            ("alerts_per_hour", self.alerts_per_hour),
            ("false_alerts_per_hour", self.false_alerts_per_hour),
            ("alerts_per_caught_episode", self.alerts_per_caught_episode),
            ("lead_time_median_s", self.lead_time.map(|l| l.median_s)),
            ("lead_time_p10_s", self.lead_time.map(|l| l.p10_s)),
            ("lead_time_p90_s", self.lead_time.map(|l| l.p90_s)),
        ];
        out.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
        out
    }
}

/// Alert-level metrics of `alerts` against the episodes of `rows` (any
/// order), for a label of `horizon_ns`.
pub fn evaluate_alerts(
    rows: &[LabeledRow<'_>],
    alerts: &[AlertAt<'_>],
    horizon_ns: i64,
) -> AlertMetrics {
    judge_alerts(rows, alerts, horizon_ns).0
}

/// Whether `alerts` catch each episode of `rows`, episodes in a fixed order
/// (by product, then time): two models' alerts on the same rows give flags
/// that pair up, episode for episode.
pub fn episode_catches(
    rows: &[LabeledRow<'_>],
    alerts: &[AlertAt<'_>],
    horizon_ns: i64,
) -> Vec<bool> {
    judge_alerts(rows, alerts, horizon_ns).1
}

fn judge_alerts(
    rows: &[LabeledRow<'_>],
    alerts: &[AlertAt<'_>],
    horizon_ns: i64,
) -> (AlertMetrics, Vec<bool>) {
    let mut flags = Vec::new();
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
    let mut judged = vec![false; alerts.len()];
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
        // Alerts outside the product's market hours (the last horizon of a
        // recording, whose rows cannot be labeled, or a gap) are not judged.
        for &(t, i) in at {
            judged[i] = spans.iter().any(|&(a, b)| (a..=b).contains(&t));
        }
        for &(start, end) in &eps {
            episodes += 1;
            let from = start.saturating_sub(horizon_ns);
            let first = at.partition_point(|&(t, _)| t < from);
            let hits: Vec<(i64, usize)> = at[first..]
                .iter()
                .take_while(|&&(t, _)| t <= end)
                .filter(|&&(_, i)| judged[i])
                .copied()
                .collect();
            flags.push(!hits.is_empty());
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
    let n = judged.iter().filter(|&&j| j).count() as u64;
    let useful_n = useful
        .iter()
        .zip(&judged)
        .filter(|&(&u, &j)| u && j)
        .count() as u64;
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
    let metrics = AlertMetrics {
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
    };
    (metrics, flags)
}

/// P(X >= k) for X ~ Binomial(n, 1/2): the one-sided exact p-value of
/// seeing `k` of `n` events on one side when both sides are equally
/// likely (McNemar's exact test on discordant pairs; the conditional test
/// of two Poisson counts over the same exposure). 1 when `n` is 0.
pub fn binomial_tail_half(k: u64, n: u64) -> f64 {
    if k == 0 || n == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    // ln C(n, i) step by step, then a log-sum-exp of the tail.
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64;
    let mut terms = Vec::with_capacity((n - k + 1) as usize);
    for i in 0..=n {
        if i >= k {
            terms.push(ln_c - ln2n);
        }
        if i < n {
            ln_c += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
        }
    }
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln())
        .exp()
        .min(1.0)
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
    fn the_fixed_gate_alerts_once_per_crossing_and_waits_out_the_cooldown() {
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
    fn the_binomial_tail_matches_scipy() {
        // scipy.stats.binom.sf(k - 1, n, 0.5)
        assert_eq!(binomial_tail_half(0, 5), 1.0);
        assert!((binomial_tail_half(2, 3) - 0.5).abs() < 1e-15);
        assert!((binomial_tail_half(5, 5) - 0.03125).abs() < 1e-15);
        assert!((binomial_tail_half(8, 10) - 0.0546875).abs() < 1e-14);
        assert!((binomial_tail_half(60, 100) - 0.028443966820490444).abs() < 1e-12);
        assert!((binomial_tail_half(600, 1000) - 1.3642320780329735e-10).abs() < 1e-20);
    }

    #[test]
    fn market_time_leaves_out_long_gaps() {
        assert_eq!(market_seconds([10, 11, 20].into_iter()), 11);
        assert_eq!(market_seconds([10, 11, 1000, 1001].into_iter()), 4);
        assert_eq!(market_seconds(std::iter::empty()), 0);
    }

    #[test]
    fn the_budget_threshold_keeps_alerts_within_the_budget() {
        let cooldown = 60 * S;
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
        let l = budget_levels(&[&samples], 12.0, cooldown).unwrap();
        assert!(gate_count(&samples, cooldown, l) <= 12, "{l:?}");
        assert!(l.threshold > 0.2 && l.threshold <= 0.9, "{l:?}");
        // The re-arm level is the (lower) median of the samples.
        assert!((l.rearm - 0.13).abs() < 1e-12, "{l:?}");
        // A budget below one alert in the window: just above the highest.
        let l0 = budget_levels(&[&samples], 0.5, cooldown).unwrap();
        assert!(l0.threshold > 0.9 && gate_count(&samples, cooldown, l0) == 0);
        assert_eq!(budget_levels(&[], 1.0, cooldown), None);
    }

    #[test]
    fn scores_near_one_still_re_arm_under_a_budget() {
        // Every probability between 0.95 and 0.999, with a burst every 10
        // minutes: a ratio of the threshold would never re-arm; the window's
        // median does, so the budget is met.
        let cfg = BudgetConfig::default();
        let mut e = AlertEngine::new(cfg.policy(Levels {
            threshold: 0.5,
            rearm: 0.4,
        }));
        let mut alerts = 0;
        for t in 0..7200 {
            let p = if t % 600 < 4 {
                0.999
            } else {
                0.95 + (t % 13) as f64 * 0.002
            };
            alerts += u32::from(e.observe("BTC-USD", t * S, p).alert);
        }
        assert!((8..=20).contains(&alerts), "{alerts}");
    }

    #[test]
    fn the_budget_policy_adapts_to_the_level_of_the_scores() {
        // A period whose scores all lie below the fallback threshold still
        // alerts once the window has history.
        let cfg = BudgetConfig::default();
        let mut e = AlertEngine::new(cfg.policy(Levels {
            threshold: 0.5,
            rearm: 0.4,
        }));
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
