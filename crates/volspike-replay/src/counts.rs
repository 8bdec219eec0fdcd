//! Counts of what a data command did, and its one-line summary.

use std::collections::BTreeMap;
use std::time::Duration;

use volspike_core::{DecodeError, LineKind};
use volspike_features::Outcome;

use crate::recordings::LineOutcome;

/// How many first unreadable lines are logged with their file and line.
const LOGGED_BAD_LINES: u64 = 10;

/// Counters shared by replay, pipeline and demo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Input files.
    pub files: usize,
    /// Lines read.
    pub lines: u64,
    /// Ticks decoded.
    pub ticks: u64,
    /// Feature rows written.
    pub rows: u64,
    /// Lines skipped on purpose (non-ticker messages), by kind.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Lines that could not be read, by reason.
    pub invalid: BTreeMap<&'static str, u64>,
    /// Ticks the engine skipped or refused, by reason (`duplicate`,
    /// `out_of_order`, and the event-time reasons of
    /// [`volspike_features::Rejection`]).
    pub engine: BTreeMap<&'static str, u64>,
    /// Ticks still held at the end, waiting for a next tick of their product
    /// to confirm a jump of its clock (the engine's rule 1).
    pub held: u64,
    /// Rows dropped as exact re-emissions (pipeline after a crash).
    pub reemitted: u64,
}

impl Counts {
    /// Counts one line's outcome; logs the first unreadable lines.
    pub fn line(&mut self, l: &LineOutcome, files: &[std::path::PathBuf]) {
        self.lines += 1;
        match &l.result {
            Ok((LineKind::Ticker(n), _)) => self.ticks += *n as u64,
            Ok((LineKind::Control(c), _)) => *self.skipped.entry(c.reason()).or_default() += 1,
            Err(e) => self.invalid_line(e, &files[l.file], l.line_no),
        }
    }

    fn invalid_line(&mut self, e: &DecodeError, file: &std::path::Path, line: u64) {
        let seen: u64 = self.invalid.values().sum();
        if seen < LOGGED_BAD_LINES {
            tracing::warn!(file = %file.display(), line, reason = e.reason(), "unreadable line: {e}");
        } else if seen == LOGGED_BAD_LINES {
            tracing::warn!("more unreadable lines; only counting them from now on");
        }
        *self.invalid.entry(e.reason()).or_default() += 1;
    }

    /// Counts an engine outcome; logs the first refused ticks.
    pub fn outcome(&mut self, o: &Outcome) {
        if let Outcome::Rejected(r) = o {
            let seen: u64 = volspike_features::Rejection::ALL
                .iter()
                .filter_map(|r| self.engine.get(r.reason()))
                .sum();
            if seen < LOGGED_BAD_LINES {
                tracing::warn!(
                    product = %r.tick.product_id,
                    event_time = %volspike_core::time::format_timestamp(r.tick.event_time_ns),
                    reason = r.reason.reason(),
                    "tick refused for its event time"
                );
            }
        }
        if let Some(reason) = o.reason() {
            *self.engine.entry(reason).or_default() += 1;
        }
    }

    /// The summary line of `command` (`replay: files=... rate=... ticks/s`):
    /// counts, then the rate in ticks per second over `elapsed`.
    pub fn summary<'a>(&'a self, command: &'a str, elapsed: Duration) -> Summary<'a> {
        Summary {
            command,
            counts: self,
            elapsed,
        }
    }
}

/// The one-line summary of a run's [`Counts`]; see [`Counts::summary`].
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    command: &'a str,
    counts: &'a Counts,
    elapsed: Duration,
}

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.counts;
        write!(
            f,
            "{}: files={} lines={} ticks={} rows={}",
            self.command, c.files, c.lines, c.ticks, c.rows
        )?;
        for (name, map) in [
            ("skipped", &c.skipped),
            ("invalid", &c.invalid),
            ("engine_skipped", &c.engine),
        ] {
            let total: u64 = map.values().sum();
            write!(f, " {name}={total}")?;
            if total > 0 {
                let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                write!(f, "({})", parts.join(","))?;
            }
        }
        if c.held > 0 {
            write!(f, " held_unconfirmed={}", c.held)?;
        }
        if c.reemitted > 0 {
            write!(f, " reemitted_dropped={}", c.reemitted)?;
        }
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            c.ticks as f64 / secs
        } else {
            0.0
        };
        write!(f, " elapsed={secs:.3}s rate={rate:.0} ticks/s")
    }
}
