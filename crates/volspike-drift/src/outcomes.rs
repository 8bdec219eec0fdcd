//! Joining predictions with what happened next.
//!
//! A prediction scored the feature row of a product at time t. Its outcome
//! is that row's label under the scoring model's own definition (horizon,
//! kind, lookback, clock or tick returns) and tau, computed with the same
//! functions training and `volspike evaluate` use
//! ([`volspike_features::forward`], [`LabelConfig::target`]). It is known once a row of the *same product*
//! with time after t + horizon has arrived: only then have all rows of the
//! forward window (ties at t + horizon included) been seen. Rows of other
//! products never mature it, and nothing is published before that row.
//!
//! The joiner keeps, per product, the recent rows' times, returns and
//! segment marks for `retention` of event time (at least horizon + lookback
//! of every model seen) behind the slower of its two inputs: when the
//! feature rows run ahead of the predictions (a consumer catching up reads
//! `ticks.features` faster than the scorer wrote `predictions`), rows are
//! kept back to the product's latest prediction, up to
//! [`MAX_ROWS_PER_PRODUCT`] rows, so that catching up loses nothing. It
//! also keeps the predictions waiting for their window.
//! Every prediction ends in exactly one count of [`JoinCounts`]: matured
//! (an outcome), incomplete (a gap or too few returns: training drops such
//! rows too), late (its row is older than what is retained), unmatched (no
//! feature row with its key), duplicate, or expired (its product went
//! quiet); or it is still pending.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use volspike_core::{FeatureRow, Prediction, PredictionOutcome, SCORING_SCHEMA_VERSION};
use volspike_features::label::SeriesRef;
use volspike_features::{forward, trailing};
use volspike_model::label::{LabelConfig, LabelKind};

/// Most rows kept per product while its predictions lag behind its rows
/// (about 32 MB); past it, rows beyond the retention are dropped and late
/// predictions are counted late.
pub const MAX_ROWS_PER_PRODUCT: usize = 1_000_000;

/// How a model labels rows: its label definition and tau (from its file).
#[derive(Debug, Clone, PartialEq)]
pub struct Labeling {
    /// The label definition.
    pub label: LabelConfig,
    /// Spike threshold on the target.
    pub tau: f64,
}

impl Labeling {
    fn horizon_ns(&self) -> i64 {
        duration_ns(self.label.horizon)
    }

    /// Event time of history the label needs around a row.
    fn span_ns(&self) -> i64 {
        let lookback = match self.label.kind {
            LabelKind::Absolute => 0,
            LabelKind::Relative => duration_ns(self.label.lookback),
        };
        self.horizon_ns().saturating_add(lookback)
    }
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// What happened to the predictions and rows given to a [`Joiner`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinCounts {
    /// Predictions taken.
    pub predictions: u64,
    /// Outcomes produced.
    pub matured: u64,
    /// The label is undefined: the forward window crosses a gap or holds
    /// fewer than two returns, or (relative label) the trailing one does.
    pub incomplete: u64,
    /// The row is older than the history kept (or than the joiner's start),
    /// so the label cannot be computed exactly.
    pub late: u64,
    /// No feature row has the prediction's product, time and tie, though
    /// the rows around it were seen.
    pub unmatched: u64,
    /// A prediction id seen before (redelivery).
    pub duplicates: u64,
    /// The product sent no row after the window for longer than the
    /// retention.
    pub expired: u64,
    /// Feature rows taken.
    pub rows: u64,
    /// Feature rows not after the product's previous row (redelivery),
    /// ignored.
    pub rows_out_of_order: u64,
}

/// One row's part in labeling.
#[derive(Debug, Clone, Copy)]
struct Point {
    time: i64,
    tie: u32,
    log_return: Option<f64>,
    segment_start: bool,
}

impl Point {
    fn key(&self) -> (i64, u32) {
        (self.time, self.tie)
    }
}

#[derive(Debug, Clone)]
struct Pending {
    prediction: Prediction,
    labeling: Labeling,
}

/// One product's recent rows and waiting predictions.
#[derive(Debug, Default)]
struct Product {
    rows: VecDeque<Point>,
    /// Waiting predictions by (t + horizon, arrival number).
    pending: BTreeMap<(i64, u64), Pending>,
    /// Ids of the predictions waiting or resolved while their row is kept,
    /// by row key, to recognize redeliveries.
    seen: BTreeSet<((i64, u32), String)>,
    /// Event time of the product's latest prediction.
    predicted_to: Option<i64>,
}

/// What became of one prediction.
enum Resolution {
    Matured(PredictionOutcome),
    Incomplete,
    Late,
    Unmatched,
}

/// Joins predictions with their outcomes as feature rows arrive.
#[derive(Debug)]
pub struct Joiner {
    retention_ns: i64,
    products: HashMap<String, Product>,
    counts: JoinCounts,
    arrivals: u64,
}

impl Joiner {
    /// A joiner keeping `retention` of event time per product (raised to
    /// the horizon plus lookback of every model it sees).
    pub fn new(retention: Duration) -> Joiner {
        Joiner {
            retention_ns: duration_ns(retention),
            products: HashMap::new(),
            counts: JoinCounts::default(),
            arrivals: 0,
        }
    }

    /// Counts so far.
    pub fn counts(&self) -> JoinCounts {
        self.counts
    }

    /// Predictions waiting for their forward window.
    pub fn pending(&self) -> usize {
        self.products.values().map(|p| p.pending.len()).sum()
    }

    /// Takes a feature row (each product's rows in time order; a row not
    /// after its product's previous one is counted and ignored) and returns
    /// the outcomes it matures, all of this row's product.
    pub fn push_row(&mut self, row: &FeatureRow) -> Vec<PredictionOutcome> {
        self.counts.rows += 1;
        let p = self.products.entry(row.product_id.to_string()).or_default();
        let point = Point {
            time: row.event_time_ns,
            tie: row.tie,
            log_return: row.log_return,
            segment_start: row.segment_start,
        };
        if p.rows.back().is_some_and(|last| last.key() >= point.key()) {
            self.counts.rows_out_of_order += 1;
            return Vec::new();
        }
        p.rows.push_back(point);
        let mut out = Vec::new();
        // Every prediction whose window ends before this row is complete.
        while let Some(entry) = p.pending.first_entry() {
            if entry.key().0 >= point.time {
                break;
            }
            let w = entry.remove();
            let r = resolve(&p.rows, &w);
            tally(&mut self.counts, r, &mut out);
        }
        // Keep one row at or before the cutoff: it bounds the history seen.
        // Behind the predictions when they lag, within the cap.
        let behind = p.predicted_to.map_or(point.time, |t| t.min(point.time));
        let cutoff = behind.saturating_sub(self.retention_ns);
        let loose = point.time.saturating_sub(self.retention_ns);
        while p.rows.len() >= 2
            && (p.rows[1].time <= cutoff
                || (p.rows.len() > MAX_ROWS_PER_PRODUCT && p.rows[1].time <= loose))
        {
            p.rows.pop_front();
        }
        if let Some(first) = p.rows.front().map(Point::key) {
            while p.seen.first().is_some_and(|(k, _)| *k < first) {
                p.seen.pop_first();
            }
        }
        out
    }

    /// Takes a prediction made by a model that labels as `labeling` does.
    /// Returns its outcome when the product's rows are already past its
    /// window; otherwise it waits for [`Joiner::push_row`].
    pub fn push_prediction(
        &mut self,
        prediction: Prediction,
        labeling: &Labeling,
    ) -> Option<PredictionOutcome> {
        self.counts.predictions += 1;
        self.retention_ns = self.retention_ns.max(labeling.span_ns());
        let key = (prediction.event_time_ns, prediction.tie);
        let p = self
            .products
            .entry(prediction.product_id.clone())
            .or_default();
        p.predicted_to = Some(p.predicted_to.map_or(prediction.event_time_ns, |t| {
            t.max(prediction.event_time_ns)
        }));
        if p.rows.front().is_some_and(|first| key < first.key()) {
            self.counts.late += 1;
            return None;
        }
        if !p.seen.insert((key, prediction.prediction_id.clone())) {
            self.counts.duplicates += 1;
            return None;
        }
        let due = prediction
            .event_time_ns
            .saturating_add(labeling.horizon_ns());
        let w = Pending {
            prediction,
            labeling: labeling.clone(),
        };
        if p.rows.back().is_some_and(|last| last.time > due) {
            let mut out = Vec::new();
            tally(&mut self.counts, resolve(&p.rows, &w), &mut out);
            return out.pop();
        }
        self.arrivals += 1;
        p.pending.insert((due, self.arrivals), w);
        None
    }

    /// Gives up on predictions whose window ended more than the retention
    /// before `watermark_ns` (the latest event time of any product) while
    /// their own product sent nothing after it; returns how many.
    pub fn expire(&mut self, watermark_ns: i64) -> u64 {
        let limit = watermark_ns.saturating_sub(self.retention_ns);
        let mut n = 0;
        for p in self.products.values_mut() {
            while let Some(entry) = p.pending.first_entry() {
                if entry.key().0 >= limit {
                    break;
                }
                entry.remove();
                n += 1;
            }
        }
        self.counts.expired += n;
        n
    }
}

fn tally(counts: &mut JoinCounts, r: Resolution, out: &mut Vec<PredictionOutcome>) {
    match r {
        Resolution::Matured(o) => {
            counts.matured += 1;
            out.push(o);
        }
        Resolution::Incomplete => counts.incomplete += 1,
        Resolution::Late => counts.late += 1,
        Resolution::Unmatched => counts.unmatched += 1,
    }
}

/// Labels a waiting prediction whose forward window has passed: `rows`
/// holds a row after t + horizon.
fn resolve(rows: &VecDeque<Point>, w: &Pending) -> Resolution {
    let pr = &w.prediction;
    let key = (pr.event_time_ns, pr.tie);
    let Some(first) = rows.front() else {
        return Resolution::Late;
    };
    if key < first.key() {
        return Resolution::Late;
    }
    let Ok(at) = rows.binary_search_by(|p| p.key().cmp(&key)) else {
        return Resolution::Unmatched;
    };
    let due = pr.event_time_ns.saturating_add(w.labeling.horizon_ns());
    // The forward window and the first row after it: the same rows the
    // batch labeler sees for this row (a segment start inside ends it).
    let end = (at..rows.len())
        .find(|&i| rows[i].time > due)
        .expect("a row after the window has arrived");
    let returns = w.labeling.label.measured_on();
    let forward = label_of(rows, at, end, |s| {
        forward(s, w.labeling.horizon_ns(), returns)
    })[0];
    let Some(forward) = forward else {
        return Resolution::Incomplete;
    };
    let trailing = match w.labeling.label.kind {
        LabelKind::Absolute => None,
        LabelKind::Relative => {
            let lookback = duration_ns(w.labeling.label.lookback);
            let edge = pr.event_time_ns.saturating_sub(lookback);
            // From the row's segment start or the last row at or before the
            // trailing window's edge, whichever comes later; without either
            // the kept history is too short to tell.
            let Some(start) = (0..=at)
                .rev()
                .find(|&i| rows[i].segment_start || rows[i].time <= edge)
            else {
                return Resolution::Late;
            };
            *label_of(rows, start, at, |s| trailing(s, lookback, returns))
                .last()
                .expect("the slice holds the row")
        }
    };
    let Some(target) = w.labeling.label.target(forward, trailing) else {
        return Resolution::Incomplete;
    };
    Resolution::Matured(PredictionOutcome {
        schema_version: SCORING_SCHEMA_VERSION,
        prediction_id: pr.prediction_id.clone(),
        product_id: pr.product_id.clone(),
        event_time_ns: pr.event_time_ns,
        tie: pr.tie,
        model: pr.model.clone(),
        probability: pr.probability,
        spike: pr.spike,
        target,
        tau: w.labeling.tau,
        label: target >= w.labeling.tau,
        matured_at_ns: rows[end].time,
    })
}

/// Runs a labeler on rows `from..=to` as one series.
fn label_of(
    rows: &VecDeque<Point>,
    from: usize,
    to: usize,
    f: impl Fn(SeriesRef<'_>) -> Vec<Option<f64>>,
) -> Vec<Option<f64>> {
    let slice = rows.range(from..=to);
    let t: Vec<i64> = slice.clone().map(|p| p.time).collect();
    let r: Vec<Option<f64>> = slice.clone().map(|p| p.log_return).collect();
    let s: Vec<bool> = slice.map(|p| p.segment_start).collect();
    f(SeriesRef {
        event_time_ns: &t,
        log_return: &r,
        segment_start: &s,
    })
}
