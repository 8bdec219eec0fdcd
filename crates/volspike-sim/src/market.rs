//! A synthetic but realistic market: Coinbase ticker updates as [`Tick`]s.
//!
//! Each product follows a stochastic-volatility model in event time:
//! - log volatility mean-reverts (Ornstein-Uhlenbeck, half-life about two
//!   minutes) around its base level, with random shocks, and occasionally
//!   jumps up by a factor of 3 to 6: volatility clusters and spikes, then decays;
//! - ticks arrive as a Poisson process whose rate rises with volatility
//!   (busy markets tick faster), so arrivals cluster too;
//! - log price moves by sigma * sqrt(dt) * N(0, 1) per tick, rounded to the
//!   product's tick size; the spread widens with volatility.
//!
//! The same seed always gives the same ticks (ChaCha8). Each tick is one
//! Advanced Trade ticker message; its `sequence` numbers the messages of the
//! ticker channel (0, 1, 2, ...). [`write_ndjson`] writes the stream as the
//! live feed sends it, with a `heartbeats` message each second numbered on
//! its own channel.

use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, StandardNormal};
use volspike_core::time::NANOS_PER_SEC;
use volspike_core::{Feed, ProductId, Tick};

use crate::frames::{self, TickerEvent};

/// Parameters of a simulated market.
#[derive(Debug, Clone)]
pub struct MarketConfig {
    /// Products, e.g. `BTC-USD`.
    pub products: Vec<String>,
    /// Start of the simulated span, ns since the epoch.
    pub start_ns: i64,
    /// Length of the simulated span.
    pub seconds: u64,
    /// RNG seed.
    pub seed: u64,
    /// A change of regime partway through, if any.
    pub regime: Option<RegimeChange>,
}

/// From `at_ns` on, every product's base volatility and base tick rate are
/// multiplied: volatility then moves to its new level with its usual
/// half-life (about two minutes), as after news. Without a change the
/// market is exactly what it was before this option existed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegimeChange {
    /// When the new regime starts, ns since the epoch.
    pub at_ns: i64,
    /// Factor on base volatility (e.g. 2.5: far more volatile).
    pub volatility: f64,
    /// Factor on the base tick rate (e.g. 1.5: busier).
    pub tick_rate: f64,
    /// From the change on, volatility bursts announce themselves (`None`:
    /// they come unannounced, as before the change).
    pub precursor: Option<Precursor>,
}

/// Bursts that follow a quiet spell: every `every_s` seconds on average
/// (0.75x to 1.25x, drawn per burst), volatility drops to `quiet_factor`
/// of its base level for `quiet_s` seconds, then jumps to `burst` times it
/// and decays with a half-life of `half_life_s`. The unannounced spikes of
/// the old regime stop. Under the relative label the spikes are then the
/// rows before a burst (their forward window holds it): recent calm, not
/// recent activity, comes before a spike, the opposite of what a model of
/// the old regime learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precursor {
    /// Mean seconds between bursts.
    pub every_s: f64,
    /// Length of the quiet spell before a burst, seconds.
    pub quiet_s: f64,
    /// Volatility during the spell, as a share of the base level.
    pub quiet_factor: f64,
    /// Volatility at the burst, as a multiple of the base level.
    pub burst: f64,
    /// Half-life of a burst, seconds.
    pub half_life_s: f64,
}

impl Precursor {
    /// The demo's regime: a burst every 2 minutes on average, after 30 s
    /// at 30% of the base volatility; 5x the base level, half-life 8 s.
    pub const CALM_BEFORE_THE_STORM: Precursor = Precursor {
        every_s: 120.0,
        quiet_s: 30.0,
        quiet_factor: 0.3,
        burst: 5.0,
        half_life_s: 8.0,
    };
}

impl MarketConfig {
    /// End of the simulated span (exclusive), ns since the epoch.
    pub fn end_ns(&self) -> i64 {
        self.start_ns + (self.seconds as i64) * NANOS_PER_SEC
    }
}

struct Product {
    id: ProductId,
    price: f64,
    tick_size: f64,
    /// Base volatility of log price per sqrt(second).
    base_vol: f64,
    log_vol: f64,
    /// Base tick rate per second.
    base_rate: f64,
    volume_24h: f64,
    low_24h: f64,
    high_24h: f64,
    next_ns: i64,
    last_ns: Option<i64>,
    /// Under a precursor regime: when the next burst hits, ns.
    next_burst_ns: Option<i64>,
}

impl Product {
    fn new(id: &str, k: usize) -> Product {
        let (price, tick_size, rate) = match id.split('-').next().unwrap_or("") {
            "BTC" => (67_000.0, 0.01, 4.0),
            "ETH" => (2_050.0, 0.01, 3.0),
            "SOL" => (150.0, 0.01, 2.0),
            _ => (100.0 * (k as f64 + 1.0), 0.01, 1.5),
        };
        let base_vol = 0.8 / (365.25f64 * 86_400.0).sqrt(); // 80% annualized
        Product {
            id: id.into(),
            price,
            tick_size,
            base_vol,
            log_vol: base_vol.ln(),
            base_rate: rate,
            volume_24h: 2_400.0 * (k as f64 + 1.0),
            low_24h: price * 0.98,
            high_24h: price * 1.02,
            next_ns: 0,
            last_ns: None,
            next_burst_ns: None,
        }
    }
}

/// Half-life of volatility shocks, seconds.
const VOL_HALF_LIFE_S: f64 = 120.0;
/// Volatility of log volatility per sqrt(second).
const VOL_OF_VOL: f64 = 0.05;
/// Volatility spikes per second (one every ~8 minutes on average).
const SPIKE_RATE: f64 = 1.0 / 480.0;

/// The value a decimal string of `x` with `decimals` digits parses to.
/// Coinbase sends numbers as decimal strings; a tick holds exactly what its
/// message decodes to, so writing a tick and reading it back is lossless.
fn decimal(x: f64, decimals: usize) -> f64 {
    format!("{x:.decimals$}")
        .parse()
        .expect("a formatted float parses")
}

/// Every tick of the simulated market, in event-time order.
pub fn simulate_ticks(cfg: &MarketConfig) -> Vec<Tick> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut products: Vec<Product> = cfg
        .products
        .iter()
        .enumerate()
        .map(|(k, p)| Product::new(p, k))
        .collect();
    let end_ns = cfg.end_ns();
    for p in &mut products {
        p.next_ns = cfg.start_ns + (rng.random::<f64>() * 0.2 * NANOS_PER_SEC as f64) as i64;
    }
    let qty = LogNormal::new(-1.5, 1.2).expect("valid lognormal");
    let kappa = std::f64::consts::LN_2 / VOL_HALF_LIFE_S;
    let mut ticks = Vec::new();
    let mut changed = false;
    // The product whose next tick comes first, until the span ends.
    while let Some((k, t)) = products
        .iter()
        .enumerate()
        .map(|(k, p)| (k, p.next_ns))
        .min_by_key(|&(_, t)| t)
        .filter(|&(_, t)| t < end_ns)
    {
        if let Some(change) = cfg.regime
            && t >= change.at_ns
            && !changed
        {
            changed = true;
            for p in &mut products {
                p.base_vol *= change.volatility;
                p.base_rate *= change.tick_rate;
                if let Some(pre) = change.precursor {
                    let first = pre.quiet_s + pre.every_s * rng.random_range(0.25..0.75);
                    p.next_burst_ns = Some(t + (first * NANOS_PER_SEC as f64) as i64);
                }
            }
        }
        let precursor = cfg.regime.filter(|_| changed).and_then(|c| c.precursor);
        let p = &mut products[k];
        // Advance log volatility over the time since the product's last tick:
        // OU step towards its base level, plus a rare upward spike.
        let gap_s = match p.last_ns {
            Some(last) => (t - last) as f64 / NANOS_PER_SEC as f64,
            None => 1.0 / p.base_rate,
        };
        p.last_ns = Some(t);
        let base = p.base_vol.ln();
        let z: f64 = rng.sample(StandardNormal);
        match (precursor, p.next_burst_ns) {
            (Some(pre), Some(burst_ns)) => {
                let quiet_from = burst_ns - (pre.quiet_s * NANOS_PER_SEC as f64) as i64;
                if t >= burst_ns {
                    p.log_vol = base + pre.burst.ln();
                    let next = pre.every_s * rng.random_range(0.75..1.25);
                    p.next_burst_ns = Some(burst_ns + (next * NANOS_PER_SEC as f64) as i64);
                } else if t >= quiet_from {
                    p.log_vol = base + pre.quiet_factor.ln() + VOL_OF_VOL * z;
                } else {
                    let k = (std::f64::consts::LN_2 / pre.half_life_s * gap_s).min(1.0);
                    p.log_vol += k * (base - p.log_vol) + VOL_OF_VOL * gap_s.sqrt() * z;
                }
            }
            _ => {
                p.log_vol +=
                    (kappa * gap_s).min(1.0) * (base - p.log_vol) + VOL_OF_VOL * gap_s.sqrt() * z;
                if rng.random::<f64>() < SPIKE_RATE * gap_s {
                    p.log_vol += rng.random_range(3.0f64..6.0).ln();
                }
            }
        }
        let vol = p.log_vol.exp();
        let z: f64 = rng.sample(StandardNormal);
        let raw = p.price * (vol * gap_s.sqrt() * z).exp();
        p.price = ((raw / p.tick_size).round() * p.tick_size).max(p.tick_size);
        p.low_24h = p.low_24h.min(p.price);
        p.high_24h = p.high_24h.max(p.price);
        let size: f64 = qty.sample(&mut rng);
        p.volume_24h += size * 0.01;
        let half_spread_ticks =
            1.0 + (vol / p.base_vol - 1.0).max(0.0) * rng.random_range(0.0..3.0);
        let spread = (half_spread_ticks.round() * p.tick_size).max(p.tick_size);
        let (bid, ask) = if rng.random::<bool>() {
            (p.price - spread, p.price)
        } else {
            (p.price, p.price + spread)
        };
        let bid_qty = qty.sample(&mut rng);
        let ask_qty = qty.sample(&mut rng);
        ticks.push(Tick {
            product_id: p.id.clone(),
            event_time_ns: t,
            receive_time_ns: None,
            price: decimal(p.price, 2),
            best_bid: Some(decimal(bid, 2)),
            best_ask: Some(decimal(ask, 2)),
            best_bid_qty: Some(decimal(bid_qty, 8)),
            best_ask_qty: Some(decimal(ask_qty, 8)),
            volume_24h: Some(decimal(p.volume_24h, 8)),
            low_24h: Some(decimal(p.low_24h, 2)),
            high_24h: Some(decimal(p.high_24h, 2)),
            // One ticker message per tick, numbered on the ticker channel.
            sequence: Some(ticks.len() as u64),
            trade_id: None,
            feed: Feed::AdvancedTrade,
        });
        // Next arrival: Poisson with a rate that rises with volatility.
        let rate = (p.base_rate * (vol / p.base_vol)).clamp(p.base_rate * 0.25, p.base_rate * 20.0);
        let wait_s: f64 = Exp::new(rate).expect("positive rate").sample(&mut rng);
        p.next_ns = t + ((wait_s * NANOS_PER_SEC as f64) as i64).max(1_000);
    }
    ticks
}

/// Writes the simulated market as NDJSON lines of the Advanced Trade feed
/// (a `snapshot` first for each product, then `update`s, and a `heartbeats`
/// message each second); returns (lines, ticks).
pub fn write_ndjson(cfg: &MarketConfig, out: &mut impl Write) -> std::io::Result<(u64, u64)> {
    let ticks = simulate_ticks(cfg);
    let end_ns = cfg.end_ns();
    let mut next_heartbeat = cfg.start_ns + NANOS_PER_SEC;
    let mut heartbeats = 0u64;
    let mut snapshot_sent: Vec<&str> = Vec::new();
    let mut lines = 0u64;
    let mut heartbeats_until = |limit: i64, out: &mut dyn Write, lines: &mut u64| {
        while next_heartbeat <= limit && next_heartbeat < end_ns {
            // Counter from 1, channel sequence from 0, as the live feed.
            let line = frames::advanced_trade_heartbeat(next_heartbeat, heartbeats, heartbeats + 1);
            writeln!(out, "{line}")?;
            heartbeats += 1;
            *lines += 1;
            next_heartbeat += NANOS_PER_SEC;
        }
        std::io::Result::Ok(())
    };
    for t in &ticks {
        heartbeats_until(t.event_time_ns, out, &mut lines)?;
        let event = if snapshot_sent.contains(&t.product_id.as_str()) {
            TickerEvent::Update
        } else {
            snapshot_sent.push(t.product_id.as_str());
            TickerEvent::Snapshot
        };
        writeln!(out, "{}", frames::advanced_trade_ticker(&[t], event))?;
        lines += 1;
    }
    heartbeats_until(end_ns, out, &mut lines)?;
    Ok((lines, ticks.len() as u64))
}

/// [`write_ndjson`] into a new file (and its directory).
pub fn write_ndjson_file(cfg: &MarketConfig, path: &Path) -> std::io::Result<(u64, u64)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let n = write_ndjson(cfg, &mut w)?;
    w.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use volspike_core::sequence::SequenceTracker;
    use volspike_core::{LineKind, decode_line};

    use super::*;

    fn config(seed: u64) -> MarketConfig {
        MarketConfig {
            products: vec!["BTC-USD".into(), "ETH-USD".into()],
            start_ns: 1_767_225_600 * NANOS_PER_SEC,
            seconds: 600,
            seed,
            regime: None,
        }
    }

    fn ndjson(seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_ndjson(&config(seed), &mut out).unwrap();
        out
    }

    #[test]
    fn same_seed_same_bytes_and_the_file_decodes_to_the_ticks() {
        let a = ndjson(7);
        assert_eq!(a, ndjson(7));
        assert_ne!(a, ndjson(8));
        let mut decoded = Vec::new();
        for line in a.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            decode_line(line, &mut decoded).unwrap();
        }
        let ticks = simulate_ticks(&config(7));
        assert_eq!(decoded, ticks, "the NDJSON is exactly the ticks");
        let btc = ticks.iter().filter(|t| t.product_id == "BTC-USD").count();
        let eth = ticks.iter().filter(|t| t.product_id == "ETH-USD").count();
        // At least the base rates over 10 minutes.
        assert!(
            btc > 4 * 600 / 2 && eth > 3 * 600 / 2,
            "btc {btc} eth {eth}"
        );
        assert!(
            ticks
                .windows(2)
                .all(|w| w[0].event_time_ns <= w[1].event_time_ns)
        );
    }

    #[test]
    fn a_clean_simulated_feed_has_no_sequence_break() {
        let mut tracker = SequenceTracker::default();
        let (mut breaks, mut heartbeats, mut tickers) = (0, 0, 0);
        for line in ndjson(3).split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            let channel = v["channel"].as_str().unwrap();
            let n = v["sequence_num"].as_u64().unwrap();
            breaks += u64::from(tracker.advanced_trade(channel, n).is_some());
            if channel == "heartbeats" {
                heartbeats += 1;
                let counter = v["events"][0]["heartbeat_counter"].as_u64().unwrap();
                breaks += u64::from(tracker.heartbeat_counter(counter).is_some());
            } else {
                tickers += 1;
                let mut t = Vec::new();
                assert!(matches!(decode_line(line, &mut t), Ok(LineKind::Ticker(1))));
            }
        }
        assert_eq!(heartbeats, 599, "one a second after the first");
        assert!(tickers > 3_000, "{tickers}");
        assert_eq!(breaks, 0);
    }
}
