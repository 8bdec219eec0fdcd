//! Drift on a stream of feature rows: what the drift worker runs.
//!
//! A [`FeatureWatch`] first needs a reference: rows given to
//! [`FeatureWatch::calibrate_from`] (the champion's training span, read
//! from the worker's archive), or else the first `reference` of warm event
//! time it is fed. It then calibrates a [`Monitor`] on that reference and
//! judges tumbling windows of event time, each as it closes.
//!
//! Windows are aligned to multiples of their length since the epoch, and a
//! row goes into the window of its own event time, whatever order rows
//! arrive in. A window closes when the [`Watermark`] over products passes
//! its end: every product has moved past it, or the stream is
//! `allowed_lateness` past it. So the same rows give the same windows
//! however the partitions interleave (as long as no product lags by more
//! than that), and a row that comes after its window closed is counted as
//! late ([`FeatureWatch::late_rows`]) and left out. Windows no warm row
//! fell in are not reported. As in [`crate::table`], a feature's value
//! counts only on warm rows where it is defined; a feature that cannot be
//! calibrated (no values in the reference, say `order_book_imbalance` from
//! a recorder without book sizes) is left out with its reason rather than
//! stopping the rest.
//!
//! Scores are watched beside the inputs: [`score_drift`] compares a
//! window's scores with the model's validation score distribution, known
//! only by its quantiles, so the KS distance is an estimate with a bound.

use std::collections::BTreeMap;
use std::time::Duration;

use volspike_core::FeatureRow;
use volspike_model::reference::{Distribution, LEVELS};

use crate::StatsError;
use crate::bins::{counts, counts_sorted, psi, psi_no_drift_floor};
use crate::ks::{KsEstimate, statistic_from_quantiles};
use crate::monitor::{FeatureReference, Monitor, MonitorConfig, WindowReport};
use crate::table::{UnknownFeature, feature_index};
use crate::watermark::{Stream, Watermark};

/// What a [`FeatureWatch`] watches and how.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    /// Features, by name.
    pub features: Vec<String>,
    /// Detectors, windows and calibration.
    pub monitor: MonitorConfig,
    /// Event time the reference spans.
    pub reference: Duration,
    /// How long past a window's end it waits for a product whose rows are
    /// behind the others' (see [`Watermark`]).
    pub allowed_lateness: Duration,
}

/// A feature left out of the watch, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Excluded {
    /// Feature name.
    pub name: String,
    /// Why it could not be calibrated.
    pub reason: String,
}

/// The reference a watch calibrated on.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibrated {
    /// First and last event time of the reference rows, ns.
    pub span_ns: (i64, i64),
    /// Warm rows in it.
    pub rows: u64,
    /// Features watched, with their thresholds, in order.
    pub thresholds: Vec<(String, f64)>,
    /// Features left out.
    pub excluded: Vec<Excluded>,
}

/// One closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    /// Window start, inclusive, ns.
    pub start_ns: i64,
    /// Window end, exclusive, ns.
    pub end_ns: i64,
    /// Warm rows in it.
    pub rows: u64,
    /// Per-feature verdicts and the severity.
    pub report: WindowReport,
    /// Per feature, the window's values and the reference's on the
    /// reference's decile bins (for plots).
    pub histograms: Vec<Histogram>,
}

/// A feature's reference and window on the reference's bins.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Feature name.
    pub name: String,
    /// Inner bin edges; the first and last bins are open.
    pub edges: Vec<f64>,
    /// Reference values per bin.
    pub reference: Vec<u64>,
    /// Window values per bin.
    pub current: Vec<u64>,
}

/// What pushing a row did.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// The reference is complete and the detectors calibrated.
    Calibrated(Calibrated),
    /// No feature could be calibrated; the watch collects a new reference.
    CalibrationFailed(Vec<Excluded>),
    /// A window closed.
    Window(ClosedWindow),
}

#[derive(Debug)]
enum Phase {
    /// Gathering the reference from the stream: the warm rows of
    /// `span_ns` (start, end), which the first warm row sets.
    Collecting {
        span_ns: Option<(i64, i64)>,
        rows: u64,
        values: Vec<Vec<(i64, f64)>>,
    },
    /// Judging windows.
    Watching {
        monitor: Monitor,
        /// Index into the watch's features of each monitored feature.
        columns: Vec<usize>,
    },
}

/// A window still open: its rows so far.
#[derive(Debug)]
struct Open {
    /// Warm rows.
    rows: u64,
    /// Values per watched feature (all of them, monitored or not, so a
    /// recalibration that leaves a feature out needs nothing re-read).
    values: Vec<Vec<f64>>,
}

/// Per-feature drift detection on a stream of rows.
#[derive(Debug)]
pub struct FeatureWatch {
    cfg: WatchConfig,
    indices: Vec<usize>,
    phase: Phase,
    calibrated: Option<Calibrated>,
    watermark: Watermark,
    /// Open windows by start, ns.
    open: BTreeMap<i64, Open>,
    late: u64,
}

impl FeatureWatch {
    /// A watch that will collect its reference from the stream.
    pub fn new(cfg: WatchConfig) -> Result<FeatureWatch, UnknownFeature> {
        let indices = cfg
            .features
            .iter()
            .map(|f| feature_index(f))
            .collect::<Result<Vec<_>, _>>()?;
        let phase = collecting(indices.len());
        let watermark = Watermark::new(cfg.allowed_lateness);
        Ok(FeatureWatch {
            cfg,
            indices,
            phase,
            calibrated: None,
            watermark,
            open: BTreeMap::new(),
            late: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &WatchConfig {
        &self.cfg
    }

    /// The reference in use, once calibrated.
    pub fn calibrated(&self) -> Option<&Calibrated> {
        self.calibrated.as_ref()
    }

    /// The monitor, once calibrated.
    pub fn monitor(&self) -> Option<&Monitor> {
        match &self.phase {
            Phase::Watching { monitor, .. } => Some(monitor),
            Phase::Collecting { .. } => None,
        }
    }

    /// Reference event time gathered so far, ns (0 once calibrated).
    pub fn collected_ns(&self) -> i64 {
        match &self.phase {
            Phase::Collecting {
                span_ns: Some((start, _)),
                ..
            } => self.watermark.at().saturating_sub(*start).max(0),
            _ => 0,
        }
    }

    /// Warm rows that came after their window (or the reference) had
    /// been judged.
    pub fn late_rows(&self) -> u64 {
        self.late
    }

    /// The start of the window `t_ns` falls in.
    pub fn window_start(&self, t_ns: i64) -> i64 {
        let w = duration_ns(self.cfg.monitor.window).max(1);
        t_ns.div_euclid(w).saturating_mul(w)
    }

    /// Calibrates on the last `reference` of event time of `rows` (any
    /// order) and judges the windows after them on it; the stream's own
    /// reference, if one was being gathered, is dropped. Windows still open
    /// keep their rows.
    pub fn calibrate_from(&mut self, rows: &[FeatureRow]) -> WatchEvent {
        let last = rows.iter().map(|r| r.event_time_ns).max().unwrap_or(0);
        let from = last.saturating_sub(duration_ns(self.cfg.reference));
        let mut values = vec![Vec::new(); self.indices.len()];
        let mut n = 0;
        for r in rows.iter().filter(|r| r.event_time_ns >= from) {
            n += u64::from(take(&self.indices, r, &mut values));
        }
        self.finish_reference(values, n)
    }

    /// Takes one row; returns what it completed: the reference, and the
    /// windows the watermark has now passed, oldest first.
    pub fn push(&mut self, row: &FeatureRow) -> Vec<WatchEvent> {
        let t = row.event_time_ns;
        let w = duration_ns(self.cfg.monitor.window).max(1);
        let start = self.window_start(t);
        let before = self.watermark.at();
        match &mut self.phase {
            Phase::Collecting {
                span_ns,
                rows,
                values,
            } => {
                let span = match span_ns {
                    Some(s) => Some(*s),
                    // The reference starts on the window grid, so its end
                    // does not depend on which product's row came first
                    // unless they fall in different windows.
                    None if row.warm => {
                        let length = duration_ns(self.cfg.reference).unsigned_abs();
                        let windows =
                            i64::try_from(length.div_ceil(w.unsigned_abs())).unwrap_or(i64::MAX);
                        let end = start.saturating_add(windows.saturating_mul(w));
                        *span_ns = Some((start, end));
                        *span_ns
                    }
                    None => None,
                };
                if let Some((_, end)) = span {
                    if t >= end {
                        add(&mut self.open, &self.indices, start, row);
                    } else if before >= end {
                        self.late += u64::from(row.warm);
                    } else {
                        *rows += u64::from(take(&self.indices, row, values));
                    }
                }
            }
            Phase::Watching { .. } => {
                if start.saturating_add(w) <= before {
                    self.late += u64::from(row.warm);
                } else {
                    add(&mut self.open, &self.indices, start, row);
                }
            }
        }
        let now = self.watermark.observe(&row.product_id, Stream::Rows, t);
        self.close_passed(now)
    }

    /// Takes the time of a prediction for `product`: windows wait for each
    /// product's predictions as for its rows, so a window's outcomes and
    /// scores are all in when it is judged. Returns what that completed.
    pub fn push_prediction_time(&mut self, product: &str, t_ns: i64) -> Vec<WatchEvent> {
        let now = self.watermark.observe(product, Stream::Predictions, t_ns);
        self.close_passed(now)
    }

    /// Completes the reference and judges the windows that end at or
    /// before `now`, the watermark.
    fn close_passed(&mut self, now: i64) -> Vec<WatchEvent> {
        let w = duration_ns(self.cfg.monitor.window).max(1);
        let mut events = Vec::new();
        if let Phase::Collecting {
            span_ns: Some((_, end)),
            rows,
            values,
        } = &mut self.phase
            && now >= *end
        {
            let values = std::mem::take(values);
            let n = *rows;
            let event = self.finish_reference(values, n);
            if matches!(event, WatchEvent::CalibrationFailed(_)) {
                // The next reference starts after the rows held so far.
                self.open.clear();
            }
            events.push(event);
        }
        if let Phase::Watching { monitor, columns } = &mut self.phase {
            while let Some(entry) = self.open.first_entry() {
                let start_ns = *entry.key();
                let end_ns = start_ns.saturating_add(w);
                if end_ns > now {
                    break;
                }
                let mut open = entry.remove();
                // Sorted, so every statistic is the same bits whatever
                // order the rows came in.
                let values: Vec<Vec<f64>> = columns
                    .iter()
                    .map(|&c| {
                        let mut v = std::mem::take(&mut open.values[c]);
                        v.sort_unstable_by(f64::total_cmp);
                        v
                    })
                    .collect();
                events.push(WatchEvent::Window(judge(
                    monitor, start_ns, end_ns, open.rows, &values,
                )));
            }
        }
        events
    }

    /// Calibrates on gathered values. Features that fail are left out.
    fn finish_reference(&mut self, mut values: Vec<Vec<(i64, f64)>>, rows: u64) -> WatchEvent {
        let mut references = Vec::new();
        let mut columns = Vec::new();
        let mut span = (i64::MAX, i64::MIN);
        for (c, column) in values.iter_mut().enumerate() {
            // Partitions interleave products, so times come nearly sorted.
            column.sort_by_key(|&(t, _)| t);
            if let (Some(first), Some(last)) = (column.first(), column.last()) {
                span = (span.0.min(first.0), span.1.max(last.0));
            }
            references.push(FeatureReference {
                name: self.cfg.features[c].clone(),
                times: column.iter().map(|&(t, _)| t).collect(),
                values: column.iter().map(|&(_, v)| v).collect(),
            });
            columns.push(c);
        }
        let mut excluded = Vec::new();
        let monitor = loop {
            if references.is_empty() {
                self.phase = collecting(self.indices.len());
                return WatchEvent::CalibrationFailed(excluded);
            }
            match Monitor::calibrate(&references, &self.cfg.monitor) {
                Ok(m) => break m,
                Err((name, e)) => {
                    let at = references
                        .iter()
                        .position(|r| r.name == name)
                        .expect("the failing feature is a reference");
                    references.remove(at);
                    columns.remove(at);
                    excluded.push(Excluded {
                        name,
                        reason: reason(&e),
                    });
                }
            }
        };
        let calibrated = Calibrated {
            span_ns: span,
            rows,
            thresholds: monitor
                .names()
                .iter()
                .cloned()
                .zip(monitor.detectors().iter().map(|d| d.threshold()))
                .collect(),
            excluded,
        };
        self.phase = Phase::Watching { monitor, columns };
        self.calibrated = Some(calibrated.clone());
        WatchEvent::Calibrated(calibrated)
    }
}

/// Adds a warm row's values, with its time, to `values` (one list per
/// feature of `indices`); whether it was warm.
fn take(indices: &[usize], r: &FeatureRow, values: &mut [Vec<(i64, f64)>]) -> bool {
    if !r.warm {
        return false;
    }
    let all = r.values();
    for (column, &i) in values.iter_mut().zip(indices) {
        if let Some(v) = all[i].filter(|v| v.is_finite()) {
            column.push((r.event_time_ns, v));
        }
    }
    true
}

/// Adds a warm `row` to the open window starting at `start` (cold rows,
/// still in their features' warm-up, are not judged).
fn add(open: &mut BTreeMap<i64, Open>, indices: &[usize], start: i64, row: &FeatureRow) {
    if !row.warm {
        return;
    }
    let window = open.entry(start).or_insert_with(|| Open {
        rows: 0,
        values: vec![Vec::new(); indices.len()],
    });
    window.rows += 1;
    let all = row.values();
    for (v, &i) in window.values.iter_mut().zip(indices) {
        if let Some(x) = all[i].filter(|x| x.is_finite()) {
            v.push(x);
        }
    }
}

/// Judges a closed window's values (one list per monitored feature).
fn judge(
    monitor: &mut Monitor,
    start_ns: i64,
    end_ns: i64,
    rows: u64,
    values: &[Vec<f64>],
) -> ClosedWindow {
    let report = monitor.observe(values);
    let histograms = monitor
        .names()
        .iter()
        .zip(monitor.detectors())
        .zip(values)
        .map(|((name, d), v)| {
            let r = d.reference();
            Histogram {
                name: name.clone(),
                edges: r.edges().to_vec(),
                reference: counts_sorted(r.edges(), r.sorted()),
                current: counts(r.edges(), v),
            }
        })
        .collect();
    ClosedWindow {
        start_ns,
        end_ns,
        rows,
        report,
        histograms,
    }
}

fn reason(e: &StatsError) -> String {
    match e {
        StatsError::Empty(_) => "no values in the reference".to_owned(),
        other => other.to_string(),
    }
}

fn collecting(features: usize) -> Phase {
    Phase::Collecting {
        span_ns: None,
        rows: 0,
        values: vec![Vec::new(); features],
    }
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// A window of scores against the model's validation score distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreDrift {
    /// Scores in the window.
    pub n: u64,
    /// KS distance estimated from the reference quantiles, with its bound.
    pub ks: KsEstimate,
    /// PSI on the reference's decile bins.
    pub psi: f64,
    /// The PSI sampling alone gives at these sizes.
    pub psi_floor: f64,
}

/// Compares `scores` with `reference` (the model's validation scores,
/// summarized); `None` without scores or with a reference that does not
/// have the quantile levels of [`LEVELS`].
pub fn score_drift(reference: &Distribution, scores: &[f64]) -> Option<ScoreDrift> {
    let ks = statistic_from_quantiles(&LEVELS, &reference.quantiles, scores)?;
    let bins = reference.decile_edges.len() + 1;
    // Each decile bin holds a tenth of the reference by construction.
    let expected = vec![1; bins];
    let current = counts(&reference.decile_edges, scores);
    let psi = psi(&expected, &current).ok()?;
    Some(ScoreDrift {
        n: scores.len() as u64,
        ks,
        psi,
        psi_floor: psi_no_drift_floor(bins, reference.count, scores.len() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::Statistic;
    use rand::{Rng as _, SeedableRng as _};

    const S: i64 = 1_000_000_000;

    fn row(t_s: i64, vol: f64, warm: bool) -> FeatureRow {
        FeatureRow {
            warm,
            price_volatility_1min: Some(vol),
            ..FeatureRow::bare("BTC-USD", t_s * S, 100.0)
        }
    }

    fn cfg() -> WatchConfig {
        WatchConfig {
            features: vec![
                "price_volatility_1min".into(),
                "order_book_imbalance".into(),
            ],
            monitor: MonitorConfig {
                statistic: Statistic::Ks,
                window: Duration::from_secs(600),
                draws: 200,
                false_alarm_rate: 0.05,
                seed: 1,
                k: 2,
            },
            reference: Duration::from_secs(6 * 3600),
            allowed_lateness: Duration::from_secs(300),
        }
    }

    fn windows(events: Vec<WatchEvent>) -> impl Iterator<Item = ClosedWindow> {
        events.into_iter().filter_map(|e| match e {
            WatchEvent::Window(w) => Some(w),
            _ => None,
        })
    }

    /// One row a second of iid volatility around `level`.
    fn stream(from_s: i64, to_s: i64, level: f64, seed: u64) -> Vec<FeatureRow> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (from_s..to_s)
            .map(|t| row(t, level * (1.0 + rng.random::<f64>()), true))
            .collect()
    }

    #[test]
    fn the_reference_from_the_stream_or_from_rows_gives_the_same_thresholds() {
        let reference = stream(0, 6 * 3600, 1e-4, 1);
        let mut from_stream = FeatureWatch::new(cfg()).unwrap();
        // Cold rows never count.
        assert!(from_stream.push(&row(0, 9.0, false)).is_empty());
        let mut event = None;
        for r in reference
            .iter()
            .chain(&stream(6 * 3600, 6 * 3600 + 1, 1e-4, 2))
        {
            event = from_stream.push(r).pop().or(event);
        }
        let Some(WatchEvent::Calibrated(a)) = event else {
            panic!("not calibrated: {event:?}")
        };
        // The feature without values is left out, with the reason.
        assert_eq!(a.excluded.len(), 1);
        assert_eq!(a.excluded[0].name, "order_book_imbalance");
        assert_eq!(a.excluded[0].reason, "no values in the reference");
        assert_eq!(a.rows, 6 * 3600);
        let mut from_rows = FeatureWatch::new(cfg()).unwrap();
        let WatchEvent::Calibrated(b) = from_rows.calibrate_from(&reference) else {
            panic!("not calibrated")
        };
        assert_eq!(a.thresholds, b.thresholds);
        assert_eq!(a.span_ns, b.span_ns);
    }

    #[test]
    fn windows_close_on_event_time_skip_gaps_and_see_a_shift() {
        let mut w = FeatureWatch::new(cfg()).unwrap();
        w.calibrate_from(&stream(0, 6 * 3600, 1e-4, 1));
        let start = 6 * 3600;
        let mut closed = Vec::new();
        // Two stable windows, a gap of 35 minutes, then a tripled level.
        let live = stream(start, start + 1200, 1e-4, 3)
            .into_iter()
            .chain(stream(start + 3300, start + 6000, 3e-4, 4));
        for r in live {
            closed.extend(windows(w.push(&r)));
        }
        let starts: Vec<i64> = closed.iter().map(|c| c.start_ns / S - start).collect();
        assert_eq!(starts, [0, 600, 3000, 3600, 4200, 4800]);
        assert_eq!(closed[0].rows, 600);
        assert_eq!(closed[2].rows, 300);
        assert!(!closed[0].report.features[0].verdict.as_ref().unwrap().over);
        // The shift is over the threshold at once and drifts after k = 2.
        let drift: Vec<bool> = closed
            .iter()
            .map(|c| c.report.features[0].verdict.as_ref().unwrap().drift)
            .collect();
        assert_eq!(drift, [false, false, false, true, true, true]);
    }

    /// Two products' rows merged as a consumer might read two partitions:
    /// runs of rows from one, then the other, with neither more than
    /// `max_skew_s` seconds ahead of the other's next row.
    fn interleaved(
        a: &[FeatureRow],
        b: &[FeatureRow],
        max_skew_s: i64,
        seed: u64,
    ) -> Vec<FeatureRow> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let parts = [a, b];
        let mut at = [0, 0];
        let mut out = Vec::with_capacity(a.len() + b.len());
        while at[0] < a.len() || at[1] < b.len() {
            let p = match (at[0] < a.len(), at[1] < b.len()) {
                (true, true) => rng.random_range(0..2),
                (true, false) => 0,
                _ => 1,
            };
            let limit = parts[1 - p]
                .get(at[1 - p])
                .map(|r| r.event_time_ns + max_skew_s * S);
            let run = rng.random_range(1..=max_skew_s);
            for _ in 0..run {
                match parts[p].get(at[p]) {
                    Some(r) if limit.is_none_or(|l| r.event_time_ns <= l) => {
                        out.push(r.clone());
                        at[p] += 1;
                    }
                    _ => break,
                }
            }
        }
        out
    }

    fn product(rows: Vec<FeatureRow>, id: &str) -> Vec<FeatureRow> {
        rows.into_iter()
            .map(|r| FeatureRow {
                product_id: id.into(),
                ..r
            })
            .collect()
    }

    /// Judges `rows` after calibrating on `reference`; the closed windows
    /// and the late count.
    fn judged(reference: &[FeatureRow], rows: &[FeatureRow]) -> (Vec<ClosedWindow>, u64) {
        let mut w = FeatureWatch::new(cfg()).unwrap();
        w.calibrate_from(reference);
        let closed = rows.iter().flat_map(|r| windows(w.push(r))).collect();
        (closed, w.late_rows())
    }

    #[test]
    fn windows_are_the_same_however_two_partitions_interleave() {
        let reference = stream(0, 6 * 3600, 1e-4, 1);
        let start = 6 * 3600;
        // A shifts 20 minutes in; B stays.
        let a = product(
            stream(start, start + 1200, 1e-4, 2)
                .into_iter()
                .chain(stream(start + 1200, start + 3600, 3e-4, 3))
                .collect(),
            "A",
        );
        let b = product(stream(start, start + 3600, 1e-4, 4), "B");
        let mut in_order: Vec<FeatureRow> = a.iter().chain(&b).cloned().collect();
        in_order.sort_by_key(|r| r.event_time_ns);
        let (expected, late) = judged(&reference, &in_order);
        assert_eq!(late, 0);
        let starts: Vec<i64> = expected.iter().map(|c| c.start_ns / S - start).collect();
        assert_eq!(
            starts,
            [0, 600, 1200, 1800, 2400],
            "the last window is open"
        );
        assert_eq!(expected[0].rows, 1200);
        assert!(expected[3].report.drifting > 0);
        // Runs of up to 250 rows put one product up to 250 s ahead of the
        // other, within the 300 s allowed.
        for seed in 0..8 {
            let (got, late) = judged(&reference, &interleaved(&a, &b, 250, seed));
            assert_eq!(late, 0, "seed {seed}");
            assert_eq!(got, expected, "seed {seed}");
        }
    }

    #[test]
    fn a_quiet_product_is_waited_for_only_as_long_as_allowed_and_its_late_rows_are_counted() {
        let reference = stream(0, 6 * 3600, 1e-4, 1);
        let start = 6 * 3600;
        let a = product(stream(start, start + 1800, 1e-4, 2), "A");
        let b = product(stream(start, start + 1800, 1e-4, 3), "B");
        // From 10 minutes in, B is read 10 minutes behind A (over the 5
        // allowed).
        let mut rows: Vec<FeatureRow> = a.clone();
        rows.extend(b.iter().cloned());
        rows.sort_by_key(|r| {
            let t = r.event_time_ns;
            if r.product_id == "B" && t >= (start + 600) * S {
                t + 600 * S
            } else {
                t
            }
        });
        let (closed, late) = judged(&reference, &rows);
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[0].rows, 1200);
        // A at 1500 s closes [600, 1200) with B only up to 900 s; B's rows
        // of [900, 1200) come after and are late.
        assert_eq!(closed[1].start_ns, (start + 600) * S);
        assert_eq!(closed[1].rows, 600 + 300);
        assert_eq!(late, 300);
        // Alone, a product that stops holds nothing back.
        let (alone, late) = judged(&reference, &a);
        assert_eq!((alone.len(), late), (2, 0));
    }

    #[test]
    fn the_reference_from_the_stream_is_the_same_however_partitions_interleave() {
        let a = product(stream(0, 3 * 3600, 1e-4, 1), "A");
        let b = product(stream(0, 3 * 3600, 2e-4, 2), "B");
        let calibrate = |rows: &[FeatureRow]| {
            let mut w = FeatureWatch::new(WatchConfig {
                reference: Duration::from_secs(2 * 3600),
                ..cfg()
            })
            .unwrap();
            let events: Vec<WatchEvent> = rows.iter().flat_map(|r| w.push(r)).collect();
            (events, w.late_rows())
        };
        let mut in_order: Vec<FeatureRow> = a.iter().chain(&b).cloned().collect();
        in_order.sort_by_key(|r| r.event_time_ns);
        let (expected, late) = calibrate(&in_order);
        assert_eq!(late, 0);
        let WatchEvent::Calibrated(c) = &expected[0] else {
            panic!("{:?}", expected.first())
        };
        assert_eq!(c.rows, 2 * 2 * 3600);
        for seed in 0..4 {
            assert_eq!(
                calibrate(&interleaved(&a, &b, 250, seed)),
                (expected.clone(), 0)
            );
        }
    }

    #[test]
    fn scores_are_compared_with_the_validation_quantiles() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let validation: Vec<f64> = (0..20_000).map(|_| rng.random::<f64>()).collect();
        let reference = Distribution::of("score", &validation);
        let same: Vec<f64> = (0..5_000).map(|_| rng.random::<f64>()).collect();
        let shifted: Vec<f64> = same.iter().map(|v| v * 0.5).collect();
        let a = score_drift(&reference, &same).unwrap();
        let b = score_drift(&reference, &shifted).unwrap();
        assert!(
            a.ks.statistic < 0.03 && a.psi < 3.0 * a.psi_floor.max(0.002),
            "{a:?}"
        );
        assert!(b.ks.statistic > 0.4 && b.psi > 1.0, "{b:?}");
        assert_eq!(score_drift(&reference, &[]), None);
    }
}
