//! Drift on a stream of feature rows: what the drift worker runs.
//!
//! A [`FeatureWatch`] first needs a reference: rows given to
//! [`FeatureWatch::calibrate_from`] (the champion's training span, read
//! from the worker's archive), or else the first `reference` of warm event
//! time it is fed. It then calibrates a [`Monitor`] on that reference and
//! cuts the stream into tumbling windows of event time, judging each as it
//! closes. A window closes when a row at or after its end arrives; a gap
//! longer than a window skips the empty windows (nothing is reported for
//! them). As in [`crate::table`], a feature's value counts only on warm
//! rows where it is defined; a feature that cannot be calibrated (no values
//! in the reference, say `order_book_imbalance` from a recorder without
//! book sizes) is left out with its reason rather than stopping the rest.
//!
//! Scores are watched beside the inputs: [`score_drift`] compares a
//! window's scores with the model's validation score distribution, known
//! only by its quantiles, so the KS distance is an estimate with a bound.

use std::time::Duration;

use volspike_core::FeatureRow;
use volspike_model::reference::{Distribution, LEVELS};

use crate::StatsError;
use crate::bins::{counts, counts_sorted, psi, psi_no_drift_floor};
use crate::ks::{KsEstimate, statistic_from_quantiles};
use crate::monitor::{FeatureReference, Monitor, MonitorConfig, WindowReport};
use crate::table::{UnknownFeature, feature_index};

/// What a [`FeatureWatch`] watches and how.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    /// Features, by name.
    pub features: Vec<String>,
    /// Detectors, windows and calibration.
    pub monitor: MonitorConfig,
    /// Event time the reference spans.
    pub reference: Duration,
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
    /// Gathering the reference from the stream.
    Collecting {
        start_ns: Option<i64>,
        rows: u64,
        values: Vec<Vec<(i64, f64)>>,
    },
    /// Judging windows.
    Watching {
        monitor: Monitor,
        /// Index into the watch's features of each monitored feature.
        columns: Vec<usize>,
        /// The current window, from the first row after calibration.
        window: Option<(i64, i64)>,
        rows: u64,
        values: Vec<Vec<f64>>,
    },
}

/// Per-feature drift detection on a stream of rows.
#[derive(Debug)]
pub struct FeatureWatch {
    cfg: WatchConfig,
    indices: Vec<usize>,
    phase: Phase,
    calibrated: Option<Calibrated>,
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
        Ok(FeatureWatch {
            cfg,
            indices,
            phase,
            calibrated: None,
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
                start_ns: Some(s),
                values,
                ..
            } => values
                .iter()
                .filter_map(|v| v.last().map(|&(t, _)| t - s))
                .max()
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// Calibrates on the last `reference` of event time of `rows` (any
    /// order) and starts judging windows after them; the stream's own
    /// reference, if one was being gathered, is dropped.
    pub fn calibrate_from(&mut self, rows: &[FeatureRow]) -> WatchEvent {
        let last = rows.iter().map(|r| r.event_time_ns).max().unwrap_or(0);
        let from = last.saturating_sub(duration_ns(self.cfg.reference));
        let mut values = vec![Vec::new(); self.indices.len()];
        let mut n = 0;
        for r in rows.iter().filter(|r| r.event_time_ns >= from) {
            n += u64::from(self.take(r, &mut values));
        }
        self.finish_reference(values, n)
    }

    /// Takes one row; returns what it completed, if anything.
    pub fn push(&mut self, row: &FeatureRow) -> Option<WatchEvent> {
        let t = row.event_time_ns;
        let indices = &self.indices;
        match &mut self.phase {
            Phase::Collecting {
                start_ns,
                rows,
                values,
            } => {
                if !row.warm {
                    return None;
                }
                let start = *start_ns.get_or_insert(t);
                if t.saturating_sub(start) >= duration_ns(self.cfg.reference) {
                    let values = std::mem::take(values);
                    let n = *rows;
                    let event = self.finish_reference(values, n);
                    // The row that completed the reference opens the first
                    // window (it cannot close one).
                    let opened = self.push(row);
                    debug_assert!(opened.is_none());
                    return Some(event);
                }
                *rows += 1;
                for (column, &i) in values.iter_mut().zip(indices) {
                    if let Some(v) = row.values()[i].filter(|v| v.is_finite()) {
                        column.push((t, v));
                    }
                }
                None
            }
            Phase::Watching {
                monitor,
                columns,
                window,
                rows,
                values,
            } => {
                let w = duration_ns(self.cfg.monitor.window);
                let (start_ns, end_ns) = *window.get_or_insert((t, t.saturating_add(w)));
                let mut closed = None;
                if t >= end_ns {
                    let report = monitor.observe(values);
                    let histograms = monitor
                        .names()
                        .iter()
                        .zip(monitor.detectors())
                        .zip(values.iter())
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
                    closed = Some(WatchEvent::Window(ClosedWindow {
                        start_ns,
                        end_ns,
                        rows: *rows,
                        report,
                        histograms,
                    }));
                    let start = end_ns + (t - end_ns) / w * w;
                    *window = Some((start, start.saturating_add(w)));
                    *rows = 0;
                    values.iter_mut().for_each(Vec::clear);
                }
                if row.warm {
                    *rows += 1;
                    let all = row.values();
                    for (v, &c) in values.iter_mut().zip(columns.iter()) {
                        if let Some(x) = all[indices[c]].filter(|x| x.is_finite()) {
                            v.push(x);
                        }
                    }
                }
                closed
            }
        }
    }

    /// Adds a warm row's values to `values`; whether it was warm.
    fn take(&self, r: &FeatureRow, values: &mut [Vec<(i64, f64)>]) -> bool {
        if !r.warm {
            return false;
        }
        let all = r.values();
        for (column, &i) in values.iter_mut().zip(&self.indices) {
            if let Some(v) = all[i].filter(|v| v.is_finite()) {
                column.push((r.event_time_ns, v));
            }
        }
        true
    }

    /// Calibrates on gathered values; the first window starts at the next
    /// row. Features that fail are left out.
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
        let n = columns.len();
        self.phase = Phase::Watching {
            monitor,
            columns,
            window: None,
            rows: 0,
            values: vec![Vec::new(); n],
        };
        self.calibrated = Some(calibrated.clone());
        WatchEvent::Calibrated(calibrated)
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
        start_ns: None,
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
        }
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
        assert_eq!(from_stream.push(&row(0, 9.0, false)), None);
        let mut event = None;
        for r in reference
            .iter()
            .chain(&stream(6 * 3600, 6 * 3600 + 1, 1e-4, 2))
        {
            if let Some(e) = from_stream.push(r) {
                event = Some(e);
            }
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
            if let Some(WatchEvent::Window(c)) = w.push(&r) {
                closed.push(c);
            }
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
