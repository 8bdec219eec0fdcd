//! `volspike simulate`: synthetic but realistic Coinbase ticker messages.
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
//! The output is Advanced Trade `ticker` envelopes (a `snapshot` first, then
//! `update`s) with a `heartbeats` message each second, exactly the shape the
//! live feed sends, so everything downstream runs on it unchanged. The same
//! seed always gives the same bytes (ChaCha8).

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, StandardNormal};
use serde_json::json;
use volspike_core::time::{NANOS_PER_SEC, format_timestamp};

/// Parameters of a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Products, e.g. `BTC-USD`.
    pub products: Vec<String>,
    /// Start of the simulated span, ns since the epoch.
    pub start_ns: i64,
    /// Length of the simulated span.
    pub seconds: u64,
    /// RNG seed.
    pub seed: u64,
}

struct Product {
    id: String,
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
    snapshot_sent: bool,
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
            id: id.to_owned(),
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
            snapshot_sent: false,
        }
    }
}

/// Half-life of volatility shocks, seconds.
const VOL_HALF_LIFE_S: f64 = 120.0;
/// Volatility of log volatility per sqrt(second).
const VOL_OF_VOL: f64 = 0.05;
/// Volatility spikes per second (one every ~8 minutes on average).
const SPIKE_RATE: f64 = 1.0 / 480.0;

/// Writes the simulated feed to a new NDJSON file; returns (lines, ticks).
pub fn write_file(cfg: &SimConfig, path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let n = simulate(cfg, &mut w)?;
    w.flush()?;
    Ok(n)
}

/// Writes the simulated feed as NDJSON lines; returns (lines, ticks).
pub fn simulate(cfg: &SimConfig, out: &mut impl Write) -> std::io::Result<(u64, u64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut products: Vec<Product> = cfg
        .products
        .iter()
        .enumerate()
        .map(|(k, p)| Product::new(p, k))
        .collect();
    let end_ns = cfg.start_ns + (cfg.seconds as i64) * NANOS_PER_SEC;
    for p in &mut products {
        p.next_ns = cfg.start_ns + (rng.random::<f64>() * 0.2 * NANOS_PER_SEC as f64) as i64;
    }
    let qty = LogNormal::new(-1.5, 1.2).expect("valid lognormal");
    let kappa = std::f64::consts::LN_2 / VOL_HALF_LIFE_S;
    let mut sequence = 0u64;
    let mut next_heartbeat = cfg.start_ns + NANOS_PER_SEC;
    let mut heartbeat_counter = 0u64;
    let (mut lines, mut ticks) = (0u64, 0u64);
    loop {
        let (k, t) = products
            .iter()
            .enumerate()
            .map(|(k, p)| (k, p.next_ns))
            .min_by_key(|&(_, t)| t)
            .expect("at least one product");
        if next_heartbeat <= t && next_heartbeat < end_ns {
            heartbeat_counter += 1;
            let hb = json!({"channel": "heartbeats", "client_id": "", "timestamp": format_timestamp(next_heartbeat),
                "sequence_num": sequence, "events": [{"current_time": format_timestamp(next_heartbeat), "heartbeat_counter": heartbeat_counter}]});
            writeln!(out, "{hb}")?;
            sequence += 1;
            lines += 1;
            next_heartbeat += NANOS_PER_SEC;
            continue;
        }
        if t >= end_ns {
            break;
        }
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
        p.log_vol += (kappa * gap_s).min(1.0) * (base - p.log_vol) + VOL_OF_VOL * gap_s.sqrt() * z;
        if rng.random::<f64>() < SPIKE_RATE * gap_s {
            p.log_vol += rng.random_range(3.0f64..6.0).ln();
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
        let ticker = json!({
            "type": "ticker", "product_id": p.id,
            "price": fmt_px(p.price), "volume_24_h": format!("{:.8}", p.volume_24h),
            "low_24_h": fmt_px(p.low_24h), "high_24_h": fmt_px(p.high_24h),
            "low_52_w": fmt_px(p.low_24h * 0.7), "high_52_w": fmt_px(p.high_24h * 1.6),
            "price_percent_chg_24_h": "0.5",
            "best_bid": fmt_px(bid), "best_ask": fmt_px(ask),
            "best_bid_quantity": format!("{:.8}", qty.sample(&mut rng)),
            "best_ask_quantity": format!("{:.8}", qty.sample(&mut rng)),
        });
        let kind = if p.snapshot_sent {
            "update"
        } else {
            "snapshot"
        };
        p.snapshot_sent = true;
        let msg = json!({"channel": "ticker", "client_id": "", "timestamp": format_timestamp(t), "sequence_num": sequence,
            "events": [{"type": kind, "tickers": [ticker]}]});
        writeln!(out, "{msg}")?;
        sequence += 1;
        lines += 1;
        ticks += 1;
        // Next arrival: Poisson with a rate that rises with volatility.
        let rate = (p.base_rate * (vol / p.base_vol)).clamp(p.base_rate * 0.25, p.base_rate * 20.0);
        let wait_s: f64 = Exp::new(rate).expect("positive rate").sample(&mut rng);
        p.next_ns = t + ((wait_s * NANOS_PER_SEC as f64) as i64).max(1_000);
    }
    Ok((lines, ticks))
}

fn fmt_px(x: f64) -> String {
    format!("{x:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64) -> Vec<u8> {
        let cfg = SimConfig {
            products: vec!["BTC-USD".into(), "ETH-USD".into()],
            start_ns: 1_767_225_600 * NANOS_PER_SEC,
            seconds: 600,
            seed,
        };
        let mut out = Vec::new();
        simulate(&cfg, &mut out).unwrap();
        out
    }

    #[test]
    fn same_seed_same_bytes_and_every_line_decodes() {
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let mut ticks = Vec::new();
        for line in a.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            volspike_core::decode_line(line, &mut ticks).unwrap();
        }
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
}
