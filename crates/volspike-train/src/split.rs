//! Time-based train / validation / test splits with an embargo.
//!
//! Rows are in time order; the splits take consecutive shares of the rows
//! (recordings have gaps of days, so shares of wall-clock span would be
//! lopsided). Between two splits, the last rows of the earlier one whose
//! label window (t, t + horizon] reaches the later split's first time are
//! dropped (the embargo), so no label of one split is computed from ticks
//! of the next. All products share the same boundaries.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Shares of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SplitConfig {
    /// Share for training (default 0.70).
    pub train: f64,
    /// Share for validation (default 0.15); test gets the rest.
    pub validation: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            train: 0.70,
            validation: 0.15,
        }
    }
}

impl SplitConfig {
    /// The shares, if both are positive and leave some rows for test.
    pub fn check(self) -> Result<SplitConfig, SplitError> {
        if self.train > 0.0 && self.validation > 0.0 && self.train + self.validation < 1.0 {
            Ok(self)
        } else {
            Err(SplitError::Shares {
                train: self.train,
                validation: self.validation,
            })
        }
    }
}

/// Row ranges of each split, and the rows the embargo removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Splits {
    /// Training rows.
    pub train: Range<usize>,
    /// Validation rows.
    pub validation: Range<usize>,
    /// Test rows.
    pub test: Range<usize>,
    /// Rows dropped by the embargo before validation and before test.
    pub embargoed: u64,
}

/// Errors splitting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    /// Shares out of range.
    #[error(
        "split shares must be positive and leave some rows for test: train {train}, validation {validation}"
    )]
    Shares {
        /// Train share.
        train: f64,
        /// Validation share.
        validation: f64,
    },
    /// Times are not in order.
    #[error("rows are not in time order at row {0}")]
    Unordered(usize),
    /// A split came out empty.
    #[error("the {0} split is empty after the embargo ({1} rows in all); more data is needed")]
    Empty(&'static str, usize),
}

/// Splits rows with times `event_time_ns` (non-decreasing).
pub fn split(
    event_time_ns: &[i64],
    cfg: SplitConfig,
    horizon_ns: i64,
) -> Result<Splits, SplitError> {
    cfg.check()?;
    if let Some(i) = event_time_ns.windows(2).position(|w| w[1] < w[0]) {
        return Err(SplitError::Unordered(i + 1));
    }
    let n = event_time_ns.len();
    let a = (n as f64 * cfg.train).floor() as usize;
    let b = (n as f64 * (cfg.train + cfg.validation)).floor() as usize;
    // The end of a split: before its last rows whose window reaches `next`.
    let embargo_end = |start: usize, next: usize| -> usize {
        match event_time_ns.get(next) {
            Some(&t_next) => {
                let limit = t_next.saturating_sub(horizon_ns);
                start + event_time_ns[start..next].partition_point(|&t| t < limit)
            }
            None => next,
        }
    };
    let train_end = embargo_end(0, a);
    let validation_end = embargo_end(a, b);
    let s = Splits {
        train: 0..train_end,
        validation: a..validation_end,
        test: b..n,
        embargoed: ((a - train_end) + (b - validation_end)) as u64,
    };
    for (name, r) in [
        ("train", &s.train),
        ("validation", &s.validation),
        ("test", &s.test),
    ] {
        if r.is_empty() {
            return Err(SplitError::Empty(name, n));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn no_label_window_reaches_the_next_split() {
        // A row every second for 1000 s, then a gap of a day, then 1000 more.
        let mut t: Vec<i64> = (0..1000).map(|i| i * S).collect();
        t.extend((0..1000).map(|i| 86_400 * S + i * S));
        let h = 60 * S;
        let s = split(&t, SplitConfig::default(), h).unwrap();
        assert_eq!((s.validation.start, s.test.start), (1400, 1700));
        for (earlier, later) in [(&s.train, &s.validation), (&s.validation, &s.test)] {
            let next = t[later.start];
            assert!(t[earlier.clone()].iter().all(|&ti| ti + h < next));
        }
        // No test label window (t, t + h] holds a training row, and no
        // training row's window holds a test row.
        let train = &t[s.train.clone()];
        for &ti in &t[s.test.clone()] {
            assert!(train.iter().all(|&tr| tr <= ti || tr > ti + h));
        }
        let first_test = t[s.test.start];
        assert!(train.iter().all(|&tr| tr + h < first_test));
        // 60 rows before each boundary, at one per second.
        assert_eq!(s.embargoed, 120);
        assert_eq!(s.train, 0..1340);
    }

    #[test]
    fn bad_shares_disorder_and_too_little_data_are_errors() {
        let t: Vec<i64> = (0..100).map(|i| i * S).collect();
        let bad = SplitConfig {
            train: 0.9,
            validation: 0.1,
        };
        assert!(matches!(split(&t, bad, S), Err(SplitError::Shares { .. })));
        assert_eq!(
            split(&[2, 1], SplitConfig::default(), 0),
            Err(SplitError::Unordered(1))
        );
        // A horizon longer than the validation span empties it.
        assert_eq!(
            split(&t, SplitConfig::default(), 200 * S),
            Err(SplitError::Empty("train", 100))
        );
    }
}
