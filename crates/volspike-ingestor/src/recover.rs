//! Finishing delivery from the journal: after a restart
//! ([`resend_journal_tail`]) and on request for a reported range
//! ([`backfill`]).
//!
//! Every record the ingestor sends carries its frame number (`frame` in a
//! `ticks.raw` record, the `ingest.frame` header on `ticks.dlq`), and the
//! producer keeps each partition in journal order (idempotent, explicit
//! partitions). So the newest frame number in a partition says that every
//! earlier frame of that partition is there, and a restart re-sends exactly
//! the journal frames after it: nothing lost, nothing twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rdkafka::message::{Headers as _, Message as _};
use volspike_core::decode_frame;
use volspike_runtime::Config;
use volspike_runtime::kafka::read_partitions;

use crate::connection::Frame;
use crate::journal::read_frames;
use crate::output::Output;

/// Records read from the end of each partition to find its newest frame.
const TAIL_WINDOW: i64 = 1000;

/// What a recovery or backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resent {
    /// Newest frame number found per (topic, partition).
    pub last_frames: BTreeMap<(String, i32), u64>,
    /// Journal frames read.
    pub frames_read: u64,
    /// Records sent again.
    pub records: u64,
}

impl std::fmt::Display for Resent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "frames={} records={}", self.frames_read, self.records)
    }
}

/// Newest frame number per partition of `topic` among its last records.
fn last_frames(
    cfg: &Config,
    topic: &str,
    out: &mut BTreeMap<(String, i32), u64>,
) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct WithFrame {
        frame: Option<u64>,
    }
    read_partitions(
        cfg,
        topic,
        |_, _, high| high - TAIL_WINDOW,
        cfg.kafka.request_timeout,
        |m| {
            let from_header = m.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == "ingest.frame")
                    .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse().ok())
            });
            let frame = from_header.or_else(|| {
                serde_json::from_slice::<WithFrame>(m.payload()?)
                    .ok()?
                    .frame
            });
            if let Some(f) = frame {
                let e = out.entry((topic.to_owned(), m.partition())).or_default();
                *e = (*e).max(f);
            }
        },
    )?;
    Ok(())
}

/// Sends frames `from..=to` of the journal, keeping the records for which
/// `keep(topic, partition, frame)` holds; waits for delivery.
fn send_frames(
    dir: &Path,
    from: u64,
    to: u64,
    output: &mut Output,
    keep: impl Fn(&str, i32, u64) -> bool,
    timeout: Duration,
) -> anyhow::Result<(u64, u64)> {
    let (mut frames, mut records) = (0, 0);
    let mut ticks = Vec::new();
    read_frames(dir, from, to, |jf| {
        frames += 1;
        ticks.clear();
        let decoded = decode_frame(jf.text.as_bytes(), jf.receive_time_ns, &mut ticks);
        let frame = Frame {
            conn: jf.conn,
            receive_time_ns: jf.receive_time_ns,
            text: &jf.text,
            decoded: &decoded,
            ticks: &ticks,
        };
        // One frame's records at a time, so the filter sees only them.
        output.add_frame(jf.frame, &frame)?;
        output.retain_pending(&keep);
        records += output.pending() as u64;
        output.send_pending_waiting(timeout)
    })?;
    output.flush(timeout)?;
    Ok((frames, records))
}

/// After a restart: re-sends the journal frames (up to `next_frame - 1`)
/// that `ticks.raw` and `ticks.dlq` lack. Without any ingestor record in
/// Kafka it sends nothing (a new cluster with an old journal is a job for
/// [`backfill`], not for every start).
pub fn resend_journal_tail(
    cfg: &Config,
    dir: &Path,
    next_frame: u64,
    output: &mut Output,
) -> anyhow::Result<Resent> {
    let mut resent = Resent::default();
    if next_frame == 0 {
        return Ok(resent);
    }
    for topic in [&cfg.topics.raw, &cfg.topics.dlq] {
        last_frames(cfg, topic, &mut resent.last_frames)?;
    }
    let Some(&oldest) = resent.last_frames.values().min() else {
        tracing::info!(
            "Kafka holds no ingestor records: the journal is not re-sent automatically \
             (use `volspike backfill` to load it)"
        );
        return Ok(resent);
    };
    let last = resent.last_frames.clone();
    let (frames, records) = send_frames(
        dir,
        oldest + 1,
        next_frame - 1,
        output,
        |topic, partition, frame| {
            last.get(&(topic.to_owned(), partition))
                .is_none_or(|&l| frame > l)
        },
        cfg.kafka.request_timeout * 4,
    )?;
    resent.frames_read = frames;
    resent.records = records;
    tracing::info!(
        from_frame = oldest + 1,
        frames,
        records,
        "re-sent the journal frames Kafka was missing"
    );
    Ok(resent)
}

/// Sends journal frames `from..=to` (a range the ingestor reported as
/// undelivered) to Kafka.
pub fn backfill(
    cfg: &Config,
    dir: &Path,
    from: u64,
    to: u64,
    output: &mut Output,
) -> anyhow::Result<Resent> {
    let (frames, records) = send_frames(
        dir,
        from,
        to,
        output,
        |_, _, _| true,
        cfg.kafka.request_timeout * 4,
    )?;
    Ok(Resent {
        frames_read: frames,
        records,
        ..Resent::default()
    })
}
