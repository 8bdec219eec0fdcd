//! How far in event time a stream of several products is complete.
//!
//! `ticks.features` is keyed by product, so each product's rows come in
//! order within its partition, but the partitions interleave however the
//! consumer happens to read them: a row of one product at 12:01 can arrive
//! before another product's rows of 12:00. Cutting windows on the latest
//! row seen would then put the slower product's rows into whichever window
//! is open when they arrive, and the same data would give different
//! windows on every run. The watermark is instead the time every product
//! has reached (the minimum over products of each one's latest row), so a
//! window that ends at or before it can hold no more rows.
//!
//! A product that goes quiet (a halted market, a partition whose reader
//! stalls) would hold the watermark back for ever, so it is not waited for
//! once the stream's latest row is `allowed_lateness` past it. Its rows that
//! arrive after their window closed are late; the caller counts them.
//!
//! Each product can have more than one stream to wait for: its feature rows,
//! and the predictions made on them (the drift worker judges a window's
//! scores and outcomes too). A stream a product has never had (no
//! inference server for it) is not waited for. Only rows move the stream's
//! latest time (and so the bound): predictions are made from rows, so a
//! prediction ahead of every row means the rows are read later (the
//! consumer fetched the predictions first), not that the rows are late.
//!
//! Products are known only once a row of theirs has come, so for the first
//! `allowed_lateness` of the stream the watermark is the latest row less
//! that: a product whose partition is read a little after another's is
//! then waited for, not taken for absent.

use std::collections::HashMap;
use std::time::Duration;

/// A product's stream the watermark waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Its feature rows.
    Rows = 0,
    /// The predictions made on them.
    Predictions = 1,
}

/// The event time up to which a keyed stream is complete.
#[derive(Debug, Clone)]
pub struct Watermark {
    lateness_ns: i64,
    /// Each product's latest event time per [`Stream`] (`None`: none yet).
    products: HashMap<String, [Option<i64>; 2]>,
    /// The first and latest event times of the rows.
    first: i64,
    latest: i64,
    /// The watermark; it never goes back.
    at: i64,
}

impl Watermark {
    /// A watermark that stops waiting for a product `allowed_lateness`
    /// behind the stream's latest row.
    pub fn new(allowed_lateness: Duration) -> Watermark {
        Watermark {
            lateness_ns: i64::try_from(allowed_lateness.as_nanos()).unwrap_or(i64::MAX),
            products: HashMap::new(),
            first: i64::MAX,
            latest: i64::MIN,
            at: i64::MIN,
        }
    }

    /// Takes a record of `product`'s `stream` at `t_ns`; returns the
    /// watermark after it.
    pub fn observe(&mut self, product: &str, stream: Stream, t_ns: i64) -> i64 {
        let latest = match self.products.get_mut(product) {
            Some(latest) => latest,
            None => self.products.entry(product.to_owned()).or_default(),
        };
        let last = &mut latest[stream as usize];
        *last = Some(last.map_or(t_ns, |l| l.max(t_ns)));
        if stream == Stream::Rows {
            self.first = self.first.min(t_ns);
            self.latest = self.latest.max(t_ns);
        }
        let bound = self.latest.saturating_sub(self.lateness_ns);
        // Until the stream spans the lateness, a product not seen yet may
        // still come.
        let slowest = if bound >= self.first {
            self.products
                .values()
                .flatten()
                .flatten()
                .copied()
                .min()
                .unwrap_or(i64::MIN)
        } else {
            i64::MIN
        };
        self.at = self.at.max(slowest.max(bound));
        self.at
    }

    /// The watermark: every product has reached it, or is waited for no
    /// longer. `i64::MIN` before the first row.
    pub fn at(&self) -> i64 {
        self.at
    }

    /// The latest row's event time (`i64::MIN` before the first row).
    pub fn latest(&self) -> i64 {
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Stream = Stream::Rows;

    #[test]
    fn the_slowest_product_holds_the_watermark_until_it_is_too_far_behind() {
        let mut w = Watermark::new(Duration::from_nanos(100));
        assert_eq!(w.at(), i64::MIN);
        // The first 100 of the stream, only the bound counts: more
        // products may come.
        assert_eq!(w.observe("A", R, 10), -90);
        assert_eq!(w.observe("B", R, 20), -80);
        assert_eq!(w.observe("A", R, 115), 20, "B, at 20, holds it");
        assert_eq!(w.observe("B", R, 18), 20, "it never goes back");
        assert_eq!(w.observe("A", R, 130), 30, "the bound passes B");
        assert_eq!(w.observe("B", R, 60), 60);
        assert_eq!(w.observe("A", R, 140), 60);
        // B stops; A runs on. 100 past B, B is not waited for.
        assert_eq!(w.observe("A", R, 159), 60);
        assert_eq!(w.observe("A", R, 170), 70);
        assert_eq!(w.latest(), 170);
        // An out-of-order row moves nothing.
        assert_eq!(w.observe("A", R, 20), 70);
    }

    #[test]
    fn a_products_predictions_hold_it_once_it_has_had_some() {
        let mut w = Watermark::new(Duration::from_nanos(100));
        w.observe("A", R, 0);
        assert_eq!(w.observe("A", R, 150), 150, "no predictions yet: rows only");
        assert_eq!(w.observe("A", Stream::Predictions, 120), 150);
        assert_eq!(w.observe("A", R, 200), 150, "predictions at 120 hold it");
        assert_eq!(w.observe("A", Stream::Predictions, 190), 190);
    }

    #[test]
    fn predictions_ahead_of_the_rows_do_not_make_the_rows_late() {
        let mut w = Watermark::new(Duration::from_nanos(100));
        w.observe("A", R, 0);
        w.observe("A", R, 150);
        // The consumer fetched an hour of predictions before the rows.
        assert_eq!(w.observe("A", Stream::Predictions, 10_000), 150);
        assert_eq!(w.latest(), 150);
        assert_eq!(w.observe("A", R, 300), 300);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut w = Watermark::new(Duration::MAX);
        assert_eq!(w.observe("A", R, i64::MIN), i64::MIN);
        assert_eq!(w.observe("B", R, 0), -i64::MAX);
        assert_eq!(w.observe("A", R, i64::MAX), 0);
        let mut w = Watermark::new(Duration::ZERO);
        assert_eq!(w.observe("A", R, i64::MIN), i64::MIN);
        assert_eq!(w.observe("A", R, i64::MAX), i64::MAX);
    }
}
