//! The event-time feature engine.
//!
//! Per product it keeps the last tick, the current whole second of event time
//! and two sliding windows (1 and 5 minutes by default) of completed seconds.
//! Memory per product is bounded by the window length in seconds, whatever
//! the tick rate, and the cost of a tick does not depend on how many ticks the
//! window holds (amortized O(1)).
//!
//! Rules, in order, for each tick of a product:
//! 1. event time is bounded: a tick whose event time lies more than
//!    `event_time_max_ahead` after or `event_time_max_behind` before its
//!    receive time is rejected (`event_time_ahead`, `event_time_behind`). A
//!    tick without a receive time that would move its product's clock forward
//!    by more than `event_time_max_ahead` (or is the product's first) is held
//!    until the product's next tick: if that one lies within that bound of it,
//!    the jump was real (a gap in the recording) and both go on; otherwise the
//!    held tick is rejected
//!    (`unconfirmed_jump`). So no single record can move a product's clock
//!    far ahead and silence it;
//! 2. an exact copy of the previous tick is a duplicate and is skipped;
//! 3. a tick older than the previous one is out of order and is skipped;
//! 4. a tick more than `max_gap` after the previous one starts a new segment:
//!    all windows are emptied, so no return or window spans the gap.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use volspike_core::time::NANOS_PER_SEC;
use volspike_core::{FEATURE_SCHEMA_VERSION, FeatureRow, ProductId, Tick};

use crate::window::{Bucket, ClockWindow, Window};

/// Window lengths and the gap limit. Whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EngineConfig {
    /// Short window (the "1min" features).
    #[serde(with = "humantime_serde")]
    pub short_window: Duration,
    /// Long window (the "5min" features); `warm` means this one is complete.
    #[serde(with = "humantime_serde")]
    pub long_window: Duration,
    /// A silence longer than this between two ticks of a product starts a
    /// new segment.
    #[serde(with = "humantime_serde")]
    pub max_gap: Duration,
    /// How far event time may lie after receive time, and how far a tick
    /// without a receive time may move its product's clock forward before
    /// the next tick must confirm it. A day: above any time-zone mistake in a
    /// recorder's clock (at most 14 h), far below a mistyped year.
    #[serde(with = "humantime_serde", default = "default_max_ahead")]
    pub event_time_max_ahead: Duration,
    /// How far event time may lie before receive time. Loose (10 years):
    /// a recording served through `volspike exchange-sim` arrives with its
    /// old event times and today's receive time, and a tick far in the past
    /// silences nothing (it is out of order, or a segment of its own). A
    /// live-only deployment can set a day.
    #[serde(with = "humantime_serde", default = "default_max_behind")]
    pub event_time_max_behind: Duration,
}

fn default_max_ahead() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_max_behind() -> Duration {
    Duration::from_secs(3650 * 24 * 3600)
}

/// The event-time bounds of rule 1, ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTimeBounds {
    /// Event time after receive time, at most.
    pub max_ahead_ns: i64,
    /// Event time before receive time, at most.
    pub max_behind_ns: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            short_window: Duration::from_secs(60),
            long_window: Duration::from_secs(300),
            max_gap: Duration::from_secs(30),
            event_time_max_ahead: default_max_ahead(),
            event_time_max_behind: default_max_behind(),
        }
    }
}

/// A configuration the engine cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feature engine configuration: {0}")]
pub struct ConfigError(pub String);

impl EngineConfig {
    /// Checks the cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let whole = |d: Duration| d.subsec_nanos() == 0 && d.as_secs() > 0;
        if !whole(self.short_window) || !whole(self.long_window) {
            return Err(ConfigError(
                "windows must be whole, positive numbers of seconds".into(),
            ));
        }
        if self.short_window >= self.long_window {
            return Err(ConfigError(
                "short-window must be shorter than long-window".into(),
            ));
        }
        if self.max_gap.is_zero() {
            return Err(ConfigError("max-gap must be positive".into()));
        }
        if self.event_time_max_ahead < self.max_gap || self.event_time_max_behind < self.max_gap {
            return Err(ConfigError(
                "event-time-max-ahead and event-time-max-behind must be at least max-gap".into(),
            ));
        }
        Ok(())
    }

    /// Rule 1's bounds in nanoseconds.
    pub fn event_time_bounds(&self) -> EventTimeBounds {
        let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        EventTimeBounds {
            max_ahead_ns: ns(self.event_time_max_ahead),
            max_behind_ns: ns(self.event_time_max_behind),
        }
    }

    /// How much input before a point a restarted engine must re-read to
    /// rebuild that point's state exactly: the long window, the gap limit
    /// (the window's reference price may precede it by up to one gap) and one
    /// second for the partial bucket.
    pub fn rebuild_span(&self) -> Duration {
        let longest = self.long_window.max(Duration::from_secs(
            CLOCK_HORIZONS_S[CLOCK_HORIZONS_S.len() - 1] as u64,
        ));
        longest + self.max_gap + Duration::from_secs(1)
    }
}

/// Horizons of the `clock_volatility_*` features, seconds, in
/// [`volspike_core::FEATURE_NAMES`] order: 10 s, 1, 5 and 30 minutes.
pub const CLOCK_HORIZONS_S: [i64; 4] = [10, 60, 300, 1800];

/// `activity_ratio` compares the last minute's ticks with the mean minute of
/// the last 30 minutes (the longest clock window) or of the segment if it is
/// younger, once the segment has lasted this long, so that the reference is
/// not a minute or two.
const ACTIVITY_MIN_AGE_S: i64 = 300;

/// What the engine did with one tick.
// Not boxed: a row moves straight into its consumer, and a box cost one
// allocation and one free per tick in replay (measured with perf).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The tick was accepted; these are its features.
    Row(FeatureRow),
    /// An exact copy of the product's previous tick.
    Duplicate,
    /// Older than the product's previous tick.
    OutOfOrder,
    /// The tick's event time is not believable (rule 1): it goes to the
    /// dead-letter topic with the reason.
    Rejected(Box<Rejected>),
}

/// A tick refused for its event time, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The tick (for a held tick, not the one just pushed).
    pub tick: Tick,
    /// Why.
    pub reason: Rejection,
}

/// Why a tick's event time was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejection {
    /// Event time after receive time by more than the bound.
    Ahead,
    /// Event time before receive time by more than the bound.
    Behind,
    /// No receive time, a jump of the product's clock by more than the
    /// ahead bound, and the product's next tick did not confirm it.
    UnconfirmedJump,
}

impl Rejection {
    /// Every reason, as [`Rejection::reason`] names it.
    pub const ALL: [Rejection; 3] = [
        Rejection::Ahead,
        Rejection::Behind,
        Rejection::UnconfirmedJump,
    ];

    /// The label value of counters and the `dlq.reason` header.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::Ahead => "event_time_ahead",
            Rejection::Behind => "event_time_behind",
            Rejection::UnconfirmedJump => "unconfirmed_jump",
        }
    }
}

impl Outcome {
    /// The counter label of a skipped or rejected tick (`None` for a row).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Outcome::Row(_) => None,
            Outcome::Duplicate => Some("duplicate"),
            Outcome::OutOfOrder => Some("out_of_order"),
            Outcome::Rejected(r) => Some(r.reason.reason()),
        }
    }
}

/// Rule 1 for a tick with a receive time: `Some` reason when its event time
/// lies outside `bounds` of it. The ingestor applies it too.
pub fn judge_event_time(tick: &Tick, bounds: EventTimeBounds) -> Option<Rejection> {
    let receive = tick.receive_time_ns?;
    // Saturating: both times come from input and may be anything.
    let ahead = tick.event_time_ns.saturating_sub(receive);
    if ahead > bounds.max_ahead_ns {
        Some(Rejection::Ahead)
    } else if ahead < -bounds.max_behind_ns {
        Some(Rejection::Behind)
    } else {
        None
    }
}

/// What one [`FeatureEngine::push`] gave: the fate of a tick held before it
/// (rule 1), if this tick decided it, then this tick's own (none while it is
/// held). Iterate it in order.
#[derive(Debug, Default)]
pub struct Outcomes {
    held: Option<Outcome>,
    current: Option<Outcome>,
}

impl Iterator for Outcomes {
    type Item = Outcome;
    fn next(&mut self) -> Option<Outcome> {
        self.held.take().or_else(|| self.current.take())
    }
}

impl Outcomes {
    fn one(o: Outcome) -> Self {
        Outcomes {
            held: None,
            current: Some(o),
        }
    }
}

#[derive(Debug)]
struct ProductState {
    last: Tick,
    tie: u32,
    current: Bucket,
    short: Window,
    long: Window,
    /// One clock window per [`CLOCK_HORIZONS_S`].
    clock: [ClockWindow; 4],
    /// Event time of the segment's first tick.
    segment_start_ns: i64,
}

/// The streaming feature engine. See the module documentation.
#[derive(Debug)]
pub struct FeatureEngine {
    short_secs: i64,
    long_secs: i64,
    max_gap_ns: i64,
    bounds: EventTimeBounds,
    products: HashMap<ProductId, ProductState>,
    /// Per product, a tick without a receive time waiting for the next one
    /// to confirm its jump (rule 1).
    held: HashMap<ProductId, Tick>,
}

impl FeatureEngine {
    /// A new engine. Panics on an invalid configuration: call
    /// [`EngineConfig::validate`] first where the configuration comes from a user.
    pub fn new(cfg: &EngineConfig) -> Self {
        cfg.validate().expect("validated engine configuration");
        FeatureEngine {
            short_secs: cfg.short_window.as_secs() as i64,
            long_secs: cfg.long_window.as_secs() as i64,
            max_gap_ns: i64::try_from(cfg.max_gap.as_nanos()).unwrap_or(i64::MAX),
            bounds: cfg.event_time_bounds(),
            products: HashMap::new(),
            held: HashMap::new(),
        }
    }

    /// Ticks held for confirmation (rule 1) right now.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Products seen so far.
    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// Forgets a product's state (e.g. when its partition is revoked).
    pub fn forget(&mut self, product_id: &str) {
        self.products.remove(product_id);
        self.held.remove(product_id);
    }

    /// Feeds one tick; see [`Outcomes`] for what comes back.
    pub fn push(&mut self, tick: &Tick) -> Outcomes {
        let reject = |reason| {
            Outcome::Rejected(Box::new(Rejected {
                tick: tick.clone(),
                reason,
            }))
        };
        if tick.receive_time_ns.is_some() {
            return Outcomes::one(match judge_event_time(tick, self.bounds) {
                Some(reason) => reject(reason),
                None => self.accept(tick),
            });
        }
        if let Some(held) = self.held.remove(tick.product_id.as_str()) {
            if *tick == held {
                self.held.insert(tick.product_id.clone(), held);
                return Outcomes::one(Outcome::Duplicate);
            }
            if tick.event_time_ns.abs_diff(held.event_time_ns) <= self.bounds.max_ahead_ns as u64 {
                let held = self.accept(&held);
                return Outcomes {
                    held: Some(held),
                    current: Some(self.accept(tick)),
                };
            }
            let held = Outcome::Rejected(Box::new(Rejected {
                tick: held,
                reason: Rejection::UnconfirmedJump,
            }));
            let mut out = self.push(tick);
            out.held = Some(held);
            return out;
        }
        let jumps = match self.products.get(tick.product_id.as_str()) {
            Some(st) => {
                tick.event_time_ns.saturating_sub(st.last.event_time_ns) > self.bounds.max_ahead_ns
            }
            None => true,
        };
        if jumps {
            self.held.insert(tick.product_id.clone(), tick.clone());
            return Outcomes::default();
        }
        Outcomes::one(self.accept(tick))
    }

    /// Rules 2 to 4, for a tick whose event time is believed.
    fn accept(&mut self, tick: &Tick) -> Outcome {
        let sec = tick.event_time_ns.div_euclid(NANOS_PER_SEC);
        let Some(st) = self.products.get_mut(tick.product_id.as_str()) else {
            let mut st = ProductState {
                last: tick.clone(),
                tie: 0,
                current: Bucket::empty(sec),
                short: Window::new(self.short_secs),
                long: Window::new(self.long_secs),
                clock: CLOCK_HORIZONS_S.map(ClockWindow::new),
                segment_start_ns: tick.event_time_ns,
            };
            let row = features(&mut st, tick, None, sec, self.short_secs);
            self.products.insert(tick.product_id.clone(), st);
            return Outcome::Row(row);
        };
        if *tick == st.last {
            return Outcome::Duplicate;
        }
        if tick.event_time_ns < st.last.event_time_ns {
            return Outcome::OutOfOrder;
        }
        // Saturating: a gap of more than 292 years is still a gap.
        let since_prev = tick.event_time_ns.saturating_sub(st.last.event_time_ns);
        let prev = if since_prev > self.max_gap_ns {
            st.short.clear();
            st.long.clear();
            st.clock.iter_mut().for_each(ClockWindow::clear);
            st.current = Bucket::empty(sec);
            st.segment_start_ns = tick.event_time_ns;
            None
        } else {
            if sec > st.current.sec {
                let done = std::mem::replace(&mut st.current, Bucket::empty(sec));
                st.short.push(done);
                st.long.push(done);
                st.short.advance(sec);
                st.long.advance(sec);
                for w in &mut st.clock {
                    w.push(&done);
                    w.advance(sec);
                }
            }
            Some((st.last.price, since_prev))
        };
        st.tie = if prev.is_some() && since_prev == 0 {
            st.tie.saturating_add(1)
        } else {
            0
        };
        let row = features(st, tick, prev, sec, self.short_secs);
        st.last.clone_from(tick);
        Outcome::Row(row)
    }
}

/// Adds the tick to the current second and reads every feature.
/// `prev` is the previous tick's price and the time since it, within the segment.
fn features(
    st: &mut ProductState,
    tick: &Tick,
    prev: Option<(f64, i64)>,
    sec: i64,
    short_secs: i64,
) -> FeatureRow {
    debug_assert_eq!(st.current.sec, sec);
    let price = tick.price;
    let log_return = prev.map(|(p, _)| (price / p).ln());
    st.current.add_tick(price, tick.volume_24h, log_return);
    let cur = &st.current;

    let mut short = st.short.returns;
    short.add(&cur.returns);
    let mut long = st.long.returns;
    long.add(&cur.returns);
    let vol_1m = short.std_dev();
    let vol_5m = long.std_dev();

    let ret = |w: &Window| w.reference.map(|(p, _)| price / p - 1.0);
    let mid = tick.mid();
    let spread = match (tick.best_bid, tick.best_ask) {
        (Some(b), Some(a)) => Some(a - b),
        _ => None,
    };
    let imbalance = match (tick.best_bid_qty, tick.best_ask_qty) {
        (Some(b), Some(a)) if b + a > 0.0 => Some((b - a) / (b + a)),
        _ => None,
    };
    let volume_change = match (tick.volume_24h, st.short.reference.and_then(|(_, v)| v)) {
        (Some(v), Some(r)) if r > 0.0 => Some(v / r - 1.0),
        _ => None,
    };
    // Clock features exist once the segment has lasted their window, as the
    // relative label's trailing volatility does.
    let age_ns = tick.event_time_ns.saturating_sub(st.segment_start_ns);
    let lasted = |secs: i64| age_ns >= secs * NANOS_PER_SEC;
    let clock_vol = |k: usize| {
        let w = &st.clock[k];
        lasted(CLOCK_HORIZONS_S[k])
            .then(|| w.std_dev(&cur.returns))
            .flatten()
    };
    let activity_ratio = lasted(ACTIVITY_MIN_AGE_S).then(|| {
        let last_minute = (st.clock[1].ticks + cur.ticks) as f64;
        let reference = (st.clock[3].ticks + cur.ticks) as f64;
        let seconds = (sec - st.segment_start_ns.div_euclid(NANOS_PER_SEC) + 1)
            .min(CLOCK_HORIZONS_S[3]) as f64;
        last_minute / (reference * 60.0 / seconds)
    });
    let high = st.long.high().max(cur.high);
    let low = st.long.low().min(cur.low);

    FeatureRow {
        schema_version: FEATURE_SCHEMA_VERSION,
        product_id: tick.product_id.clone(),
        event_time_ns: tick.event_time_ns,
        tie: st.tie,
        sequence: tick.sequence,
        trade_id: tick.trade_id,
        feed: tick.feed,
        segment_start: prev.is_none(),
        warm: st.long.reference.is_some(),
        price,
        log_return,
        price_return_1min: ret(&st.short),
        price_return_5min: ret(&st.long),
        price_volatility_1min: vol_1m,
        price_volatility_5min: vol_5m,
        volatility_ratio: match (vol_1m, vol_5m) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        },
        bid_ask_spread: spread,
        bid_ask_spread_bps: match (spread, mid) {
            (Some(s), Some(m)) => Some(s / m * 1e4),
            _ => None,
        },
        order_book_imbalance: imbalance,
        volume_24h_pct_change: volume_change,
        trade_intensity: Some((st.short.ticks + cur.ticks) as f64 * 60.0 / short_secs as f64),
        tick_count_5min: Some((st.long.ticks + cur.ticks) as f64),
        high_low_range_5min: Some((high - low) / price),
        time_since_prev_tick_s: prev.map(|(_, dt)| dt as f64 / NANOS_PER_SEC as f64),
        mid_price: mid,
        clock_volatility_10s: clock_vol(0),
        clock_volatility_1min: clock_vol(1),
        clock_volatility_5min: clock_vol(2),
        clock_volatility_30min: clock_vol(3),
        activity_ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use volspike_core::Feed;

    fn tick(product: &str, t_ms: i64, price: f64) -> Tick {
        Tick {
            product_id: product.into(),
            event_time_ns: t_ms * 1_000_000,
            receive_time_ns: Some(t_ms * 1_000_000),
            price,
            best_bid: Some(price - 0.5),
            best_ask: Some(price + 0.5),
            best_bid_qty: Some(3.0),
            best_ask_qty: Some(1.0),
            volume_24h: Some(1000.0 + t_ms as f64 / 1000.0),
            low_24h: None,
            high_24h: None,
            sequence: Some(t_ms as u64),
            trade_id: None,
            feed: Feed::AdvancedTrade,
        }
    }

    /// The one outcome of a push.
    fn one(o: Outcomes) -> Outcome {
        let all: Vec<Outcome> = o.collect();
        assert_eq!(all.len(), 1, "{all:?}");
        all.into_iter().next().unwrap()
    }

    fn row(o: Outcomes) -> FeatureRow {
        match one(o) {
            Outcome::Row(r) => r,
            other => panic!("expected a row, got {other:?}"),
        }
    }

    fn sample_std(xs: &[f64]) -> f64 {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }

    #[test]
    fn features_match_direct_definitions() {
        let mut e = FeatureEngine::new(&EngineConfig::default());
        // One tick every 500 ms for 7 minutes, price wiggling.
        let prices: Vec<f64> = (0..840)
            .map(|i| 100.0 + ((i * 7919) % 13) as f64 * 0.1)
            .collect();
        let mut rows = Vec::new();
        for (i, &p) in prices.iter().enumerate() {
            rows.push(row(e.push(&tick("BTC-USD", i as i64 * 500, p))));
        }
        let last = rows.last().unwrap();
        let i = prices.len() - 1; // t = 419.5 s, second 419
        // 5-minute window: seconds 120..=419, i.e. ticks 240..=839.
        let returns: Vec<f64> = (240..=i)
            .map(|j| (prices[j] / prices[j - 1]).ln())
            .collect();
        let want = sample_std(&returns);
        assert!(
            (last.price_volatility_5min.unwrap() - want).abs() < 1e-12,
            "{last:?} vs {want}"
        );
        // Reference price: last tick before second 120, i.e. tick 239.
        assert_eq!(last.price_return_5min, Some(prices[i] / prices[239] - 1.0));
        assert_eq!(
            last.price_return_1min,
            Some(prices[i] / prices[(420 - 60) * 2 - 1] - 1.0)
        );
        assert_eq!(last.tick_count_5min, Some(600.0));
        assert_eq!(last.trade_intensity, Some(120.0));
        assert_eq!(last.bid_ask_spread, Some(1.0));
        assert_eq!(last.order_book_imbalance, Some(0.5));
        assert_eq!(last.time_since_prev_tick_s, Some(0.5));
        let hi = prices[240..].iter().cloned().fold(f64::MIN, f64::max);
        let lo = prices[240..].iter().cloned().fold(f64::MAX, f64::min);
        assert_eq!(last.high_low_range_5min, Some((hi - lo) / prices[i]));
        assert!(last.warm);
        // Not warm until the segment is older than 5 minutes.
        assert!(!rows[599].warm && rows[600].warm);
        assert_eq!(rows[599].price_return_5min, None);
    }

    #[test]
    fn gaps_start_segments_and_duplicates_and_late_ticks_are_skipped() {
        let mut e = FeatureEngine::new(&EngineConfig::default());
        let a = row(e.push(&tick("BTC-USD", 0, 100.0)));
        assert!(a.segment_start && a.log_return.is_none());
        let b = row(e.push(&tick("BTC-USD", 1_000, 101.0)));
        assert!(!b.segment_start);
        assert_eq!(b.log_return, Some((101.0f64 / 100.0).ln()));
        assert_eq!(
            one(e.push(&tick("BTC-USD", 1_000, 101.0))),
            Outcome::Duplicate
        );
        assert_eq!(
            one(e.push(&tick("BTC-USD", 500, 99.0))),
            Outcome::OutOfOrder
        );
        let mut same_time = tick("BTC-USD", 1_000, 102.0);
        same_time.sequence = Some(7);
        assert_eq!(row(e.push(&same_time)).tie, 1);
        // 31 s of silence: new segment, nothing carried over.
        let c = row(e.push(&tick("BTC-USD", 32_001, 150.0)));
        assert!(c.segment_start);
        assert_eq!(
            (c.log_return, c.price_volatility_5min, c.tick_count_5min),
            (None, None, Some(1.0))
        );
        // Products do not share state.
        assert!(row(e.push(&tick("ETH-USD", 32_002, 2000.0))).segment_start);
    }

    /// Rows of one product from (ms to the next tick, return in 1e-4) steps.
    fn stream(steps: &[(i64, i32)]) -> Vec<FeatureRow> {
        let mut e = FeatureEngine::new(&EngineConfig::default());
        let (mut t, mut p) = (0i64, 1000.0f64);
        steps
            .iter()
            .filter_map(|&(dt, dp)| {
                t += dt;
                p *= 1.0 + dp as f64 * 1e-4;
                match one(e.push(&tick("BTC-USD", t, p))) {
                    Outcome::Row(r) => Some(r),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn clock_features_match_direct_definitions() {
        // A tick every 700 ms for 40 minutes; the price moves on every 3rd.
        let steps: Vec<(i64, i32)> = (0..3430)
            .map(|i| (700, if i % 3 == 0 { (i % 7) - 3 } else { 0 }))
            .collect();
        let rows = stream(&steps);
        let last = rows.last().unwrap();
        let t = last.event_time_ns;
        let sec = t.div_euclid(NANOS_PER_SEC);
        // Clock returns of the seconds sec-W+1 ..= sec: each the sum of the
        // tick returns in that second (0 for a second without a move).
        let clock = |w: i64| {
            let returns: Vec<f64> = (sec - w + 1..=sec)
                .map(|s| {
                    rows.iter()
                        .filter(|r| r.event_time_ns.div_euclid(NANOS_PER_SEC) == s)
                        .filter_map(|r| r.log_return)
                        .sum()
                })
                .collect();
            sample_std(&returns)
        };
        for (got, w) in [
            last.clock_volatility_10s,
            last.clock_volatility_1min,
            last.clock_volatility_5min,
            last.clock_volatility_30min,
        ]
        .into_iter()
        .zip(CLOCK_HORIZONS_S)
        {
            let want = clock(w);
            assert!(
                (got.unwrap() - want).abs() <= 1e-12 * want,
                "{w}s: {got:?} vs {want}"
            );
        }
        // Ticks every 700 ms: 85 or 86 in the last minute, against a mean
        // minute of the last 30.
        let in_last = |w: i64| {
            rows.iter()
                .filter(|r| {
                    r.event_time_ns > t - w * NANOS_PER_SEC
                        && r.event_time_ns.div_euclid(NANOS_PER_SEC) > sec - w
                })
                .count() as f64
        };
        let want = in_last(60) / (in_last(1800) / 30.0);
        assert_eq!(last.activity_ratio, Some(want));
        // Null until the segment has lasted the window.
        let first_after = |secs: i64| {
            rows.iter()
                .position(|r| r.event_time_ns - rows[0].event_time_ns >= secs * NANOS_PER_SEC)
                .unwrap()
        };
        for (k, w) in CLOCK_HORIZONS_S.into_iter().enumerate() {
            let i = first_after(w);
            let vol = |r: &FeatureRow| r.values()[15 + k];
            assert!(
                vol(&rows[i - 1]).is_none() && vol(&rows[i]).is_some(),
                "{w}s"
            );
        }
        let i = first_after(300);
        assert!(rows[i - 1].activity_ratio.is_none() && rows[i].activity_ratio.is_some());
    }

    /// `n` ticks of one product, one a second, without receive times when
    /// `recorded` is false (the shapes whose only time is the event's).
    fn normal_ticks(n: i64, recorded: bool) -> Vec<Tick> {
        (0..n)
            .map(|i| {
                let mut t = tick(
                    "BTC-USD",
                    1_775_000_000_000 + i * 1_000,
                    100.0 + (i % 7) as f64,
                );
                if !recorded {
                    t.receive_time_ns = None;
                }
                t
            })
            .collect()
    }

    fn rows_of(e: &mut FeatureEngine, ticks: &[Tick]) -> (Vec<FeatureRow>, Vec<Rejected>) {
        let (mut rows, mut rejected) = (Vec::new(), Vec::new());
        for t in ticks {
            for o in e.push(t) {
                match o {
                    Outcome::Row(r) => rows.push(r),
                    Outcome::Rejected(r) => rejected.push(*r),
                    _ => {}
                }
            }
        }
        (rows, rejected)
    }

    const YEAR_2099_NS: i64 = 4_070_908_800_000_000_000;

    #[test]
    fn one_far_future_tick_does_not_silence_its_product() {
        for recorded in [true, false] {
            let normal = normal_ticks(1_000, recorded);
            let mut bad = normal[10].clone();
            bad.event_time_ns = YEAR_2099_NS;
            bad.price = 1.0;
            let mut with_bad = normal.clone();
            with_bad.insert(11, bad.clone());
            let (want, none) = rows_of(&mut FeatureEngine::new(&EngineConfig::default()), &normal);
            let (got, rejected) =
                rows_of(&mut FeatureEngine::new(&EngineConfig::default()), &with_bad);
            assert!(none.is_empty());
            assert_eq!(want.len(), 1_000, "recorded={recorded}");
            assert_eq!(got, want, "recorded={recorded}");
            let reason = if recorded {
                Rejection::Ahead
            } else {
                Rejection::UnconfirmedJump
            };
            assert_eq!(rejected, vec![Rejected { tick: bad, reason }]);
        }
    }

    #[test]
    fn a_far_future_first_tick_or_a_far_past_one_is_refused_alone() {
        let normal = normal_ticks(100, false);
        let mut first = normal[0].clone();
        first.event_time_ns = YEAR_2099_NS;
        let mut with_bad = vec![first];
        with_bad.extend(normal.iter().cloned());
        let (want, _) = rows_of(&mut FeatureEngine::new(&EngineConfig::default()), &normal);
        let (got, rejected) = rows_of(&mut FeatureEngine::new(&EngineConfig::default()), &with_bad);
        assert_eq!((got, rejected.len()), (want, 1));

        // Recorded 1970 against a 2026 receive time: behind.
        let mut old = normal_ticks(1, true).remove(0);
        old.event_time_ns = 0;
        let mut e = FeatureEngine::new(&EngineConfig::default());
        let (rows, rejected) = rows_of(&mut e, &[old]);
        assert!(rows.is_empty());
        assert_eq!(rejected[0].reason, Rejection::Behind);
        assert_eq!(rejected[0].reason.reason(), "event_time_behind");
    }

    #[test]
    fn a_real_gap_is_confirmed_by_the_next_tick_and_loses_nothing() {
        // Two sessions two days apart, no receive times: the first tick after
        // the gap waits for the second, then both give the rows an engine
        // that never doubts gives.
        let mut ticks = normal_ticks(50, false);
        for t in normal_ticks(50, false) {
            let mut t = t;
            t.event_time_ns += 2 * 86_400 * NANOS_PER_SEC;
            ticks.push(t);
        }
        let trusting = EngineConfig {
            event_time_max_ahead: Duration::from_secs(1 << 40),
            ..EngineConfig::default()
        };
        let (want, _) = rows_of(&mut FeatureEngine::new(&trusting), &ticks);
        let mut e = FeatureEngine::new(&EngineConfig::default());
        let (got, rejected) = rows_of(&mut e, &ticks);
        assert!(rejected.is_empty());
        assert_eq!(got, want);
        assert_eq!((got.len(), e.held_count()), (100, 0));
        // A lone tick at the very end stays held, and is counted as such.
        let mut e = FeatureEngine::new(&EngineConfig::default());
        let (rows, _) = rows_of(&mut e, &ticks[..51]);
        assert_eq!((rows.len(), e.held_count()), (50, 1));
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut e = FeatureEngine::new(&EngineConfig::default());
        for (event, receive) in [
            (i64::MAX, Some(i64::MIN)),
            (i64::MIN, Some(i64::MAX)),
            (i64::MIN, None),
            (i64::MAX, None),
            (i64::MAX - 1, None),
            (0, None),
        ] {
            let mut t = tick("BTC-USD", 0, 100.0);
            (t.event_time_ns, t.receive_time_ns) = (event, receive);
            e.push(&t).for_each(drop);
        }
    }

    proptest! {
        /// Each clock volatility is, to the bit, the labeler's trailing
        /// volatility on a 1 s clock over the same window: the relative
        /// label's denominator is `clock_volatility_5min`.
        #[test]
        fn clock_volatility_is_the_labelers_trailing_volatility(
            steps in proptest::collection::vec((0i64..45_000, -30i32..30), 50..600)
        ) {
            let rows = stream(&steps);
            let t: Vec<i64> = rows.iter().map(|r| r.event_time_ns).collect();
            let ret: Vec<Option<f64>> = rows.iter().map(|r| r.log_return).collect();
            let seg: Vec<bool> = rows.iter().map(|r| r.segment_start).collect();
            let s = crate::label::SeriesRef { event_time_ns: &t, log_return: &ret, segment_start: &seg };
            for (k, w) in CLOCK_HORIZONS_S.into_iter().enumerate() {
                let want = crate::label::trailing_clock_volatility(s, w * NANOS_PER_SEC, NANOS_PER_SEC);
                let got: Vec<Option<f64>> = rows.iter().map(|r| r.values()[15 + k]).collect();
                prop_assert_eq!(got, want, "{}s", w);
            }
        }

        /// The state rebuilt from `rebuild_span` of input before a point gives
        /// the very same rows after that point as an engine that saw everything.
        #[test]
        fn rebuilt_state_gives_identical_rows(steps in proptest::collection::vec((1i64..40_000, -30i32..30), 50..400), cut in 0usize..400) {
            let cfg = EngineConfig::default();
            let mut t = 0i64;
            let mut p = 1000.0f64;
            let ticks: Vec<Tick> = steps.iter().map(|&(dt, dp)| {
                t += dt; p *= 1.0 + dp as f64 * 1e-4; tick("BTC-USD", t, p)
            }).collect();
            let cut = cut % ticks.len();
            let mut full = FeatureEngine::new(&cfg);
            let want: Vec<Vec<Outcome>> = ticks.iter().map(|x| full.push(x).collect()).collect();

            let start_ns = ticks[cut].event_time_ns - cfg.rebuild_span().as_nanos() as i64;
            let mut rebuilt = FeatureEngine::new(&cfg);
            for x in ticks[..cut].iter().filter(|x| x.event_time_ns >= start_ns) {
                rebuilt.push(x).for_each(drop);
            }
            for (x, w) in ticks[cut..].iter().zip(&want[cut..]) {
                prop_assert_eq!(&rebuilt.push(x).collect::<Vec<_>>(), w);
            }
        }
    }
}
