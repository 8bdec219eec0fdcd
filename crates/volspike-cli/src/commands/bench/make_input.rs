//! `volspike bench make-input`: a large replay input from real recordings.
//!
//! Decodes the recordings and writes their ticks again and again, each copy
//! shifted in time by the recordings' span plus one hour (so copies never
//! overlap), as Advanced Trade `ticker` envelopes: the shape the live feed
//! and the ingestor's journal carry. Copies go back in time, the last one
//! at the recorded times: fed to the ingestor through the exchange
//! simulator, a tick dated after its receive time would be refused
//! (`future_event_time`).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::json;
use volspike_core::Tick;
use volspike_core::time::{NANOS_PER_SEC, format_timestamp};

use volspike_replay::decode_files;

/// Writes at least `min_ticks` ticks to `out`; returns (lines, ticks).
pub fn make_input(files: &[PathBuf], min_ticks: u64, out: &Path) -> anyhow::Result<(u64, u64)> {
    let mut ticks: Vec<Tick> = Vec::new();
    decode_files(files, |c| {
        ticks.extend(c.ticks);
        Ok(())
    })?;
    if ticks.is_empty() {
        bail!("the recordings hold no ticks");
    }
    // Recordings of one product from different recorders interleave in
    // file order; time order keeps every product's ticks in sequence.
    ticks.sort_by_key(|t| t.event_time_ns);
    let first = ticks.iter().map(|t| t.event_time_ns).min().unwrap_or(0);
    let last = ticks.iter().map(|t| t.event_time_ns).max().unwrap_or(0);
    let shift = last - first + 3_600 * NANOS_PER_SEC;
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut written = 0u64;
    let copies = min_ticks.div_ceil(ticks.len() as u64).max(1) as i64;
    let mut copy = 0i64;
    let num = |x: Option<f64>| x.map(|v| v.to_string());
    while written < min_ticks {
        let offset = (copy - (copies - 1)) * shift;
        for t in &ticks {
            let ticker = json!({
                "type": "ticker", "product_id": t.product_id, "price": t.price.to_string(),
                "volume_24_h": num(t.volume_24h), "low_24_h": num(t.low_24h), "high_24_h": num(t.high_24h),
                "best_bid": num(t.best_bid), "best_ask": num(t.best_ask),
                "best_bid_quantity": num(t.best_bid_qty), "best_ask_quantity": num(t.best_ask_qty),
            });
            let line = json!({
                "channel": "ticker", "timestamp": format_timestamp(t.event_time_ns + offset),
                "sequence_num": written, "events": [{"type": "update", "tickers": [ticker]}],
            });
            writeln!(w, "{line}")?;
            written += 1;
        }
        copy += 1;
    }
    w.flush()?;
    Ok((written, written))
}
