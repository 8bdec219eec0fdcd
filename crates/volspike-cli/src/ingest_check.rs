//! Checks of an ingestor's output, for the end-to-end test and operators:
//! does `ticks.raw` hold exactly the journal's ticks, and what feature rows
//! does a features topic hold.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::message::Message as _;
use volspike_core::{FeatureRow, decode_line};
use volspike_ingestor::journal::read_frames;
use volspike_runtime::Config;
use volspike_runtime::kafka::read_partitions;

/// Ticks per (frame number, product) in the journal and in a topic.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JournalVsTopic {
    /// Ticks in the journal.
    pub journal_ticks: u64,
    /// Ticks in the topic.
    pub topic_ticks: u64,
    /// Journal ticks the topic lacks.
    pub missing: u64,
    /// Topic ticks beyond the journal's count (duplicates or strays).
    pub extra: u64,
}

/// Compares the ticks of the journal in `dir` with the records of `topic`,
/// by frame number and product.
pub fn journal_vs_topic(cfg: &Config, dir: &Path, topic: &str) -> anyhow::Result<JournalVsTopic> {
    type Key = (u64, String, i64);
    let mut counts: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
    let mut out = JournalVsTopic::default();
    let mut ticks = Vec::new();
    read_frames(dir, 0, u64::MAX, |f| {
        ticks.clear();
        let _ = volspike_core::decode_frame(f.text.as_bytes(), f.receive_time_ns, &mut ticks);
        for t in &ticks {
            counts
                .entry((f.frame, t.product_id.to_string(), t.event_time_ns))
                .or_default()
                .0 += 1;
            out.journal_ticks += 1;
        }
        Ok(())
    })?;
    #[derive(serde::Deserialize)]
    struct Frame {
        frame: u64,
    }
    let mut bad = 0u64;
    read_partitions(
        cfg,
        &cfg.kafka.bootstrap,
        topic,
        |_, low, _| low,
        Duration::from_secs(120),
        |m| {
            let payload = m.payload().unwrap_or_default();
            let mut t = Vec::new();
            match (
                serde_json::from_slice::<Frame>(payload),
                decode_line(payload, &mut t),
            ) {
                (Ok(f), Ok(_)) if t.len() == 1 => {
                    counts
                        .entry((f.frame, t[0].product_id.to_string(), t[0].event_time_ns))
                        .or_default()
                        .1 += 1;
                    out.topic_ticks += 1;
                }
                _ => bad += 1,
            }
        },
    )?;
    if bad > 0 {
        bail!("{bad} records of {topic} are not ingestor tick records");
    }
    for (journal, topic) in counts.values() {
        out.missing += journal.saturating_sub(*topic);
        out.extra += topic.saturating_sub(*journal);
    }
    Ok(out)
}

/// Reads `topic` (feature rows) until it holds at least `min_rows` distinct
/// rows, at most `timeout`; returns them in canonical order.
pub fn features_of_topic(
    cfg: &Config,
    topic: &str,
    min_rows: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<FeatureRow>> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut rows = Vec::new();
        let mut err = None;
        read_partitions(
            cfg,
            &cfg.kafka.bootstrap,
            topic,
            |_, low, _| low,
            timeout,
            |m| match serde_json::from_slice::<FeatureRow>(m.payload().unwrap_or_default()) {
                Ok(r) => rows.push(r),
                Err(e) => err = Some(e),
            },
        )?;
        if let Some(e) = err {
            return Err(e).context(format!("a {topic} record is not a feature row"));
        }
        volspike_replay::parquet::canonicalize(&mut rows)?;
        if rows.len() >= min_rows || Instant::now() > deadline {
            return Ok(rows);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
