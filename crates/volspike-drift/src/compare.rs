//! One feature's reference against a current sample, on every statistic at
//! once: what `volspike drift compare` prints per feature and what the
//! worker computes per window.
//!
//! A [`Reference`] is prepared once (sorted, its decile bins counted, its
//! standard deviation taken), so each window costs one sort of the window
//! and linear passes.

use volspike_model::reference::quantile_sorted;

use crate::{StatsError, bins, check, ks, multiple, sorted, wasserstein};

/// A reference sample, prepared for comparisons.
#[derive(Debug, Clone)]
pub struct Reference {
    sorted: Vec<f64>,
    edges: Vec<f64>,
    bins: Vec<u64>,
    std: f64,
}

impl Reference {
    /// Prepares `values` (non-empty, finite); the PSI bins are its own
    /// decile edges (numpy's linear quantiles).
    pub fn new(values: &[f64]) -> Result<Reference, StatsError> {
        check("reference", values)?;
        let sorted = sorted(values);
        let edges = (1..10)
            .map(|i| quantile_sorted(&sorted, i as f64 / 10.0))
            .collect();
        Ok(Self::prepared(sorted, edges))
    }

    /// Prepares `values` with given bin `edges` (ascending, finite), such as
    /// the decile edges a model file stores.
    pub fn with_edges(values: &[f64], edges: &[f64]) -> Result<Reference, StatsError> {
        check("reference", values)?;
        if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] > w[1]) {
            return Err(StatsError::Bins(edges.len() + 1, edges.len() + 1));
        }
        Ok(Self::prepared(sorted(values), edges.to_vec()))
    }

    fn prepared(sorted: Vec<f64>, edges: Vec<f64>) -> Reference {
        let bins = bins::counts_sorted(&edges, &sorted);
        let std = wasserstein::population_std(&sorted);
        Reference {
            sorted,
            edges,
            bins,
            std,
        }
    }

    /// Values in the reference.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Never true: a reference is not empty.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The values, ascending.
    pub fn sorted(&self) -> &[f64] {
        &self.sorted
    }

    /// The PSI bin edges.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// The population standard deviation.
    pub fn std(&self) -> f64 {
        self.std
    }

    /// PSI of `current` against this reference's bins.
    pub fn psi(&self, current: &[f64]) -> Result<f64, StatsError> {
        bins::psi(&self.bins, &bins::counts(&self.edges, current))
    }

    /// Wasserstein-1 between `current_sorted` and the reference, over the
    /// reference's standard deviation; unscaled when the reference is
    /// constant, where any spread is drift.
    pub fn wasserstein_norm_sorted(&self, current_sorted: &[f64]) -> f64 {
        let w = wasserstein::wasserstein_sorted(&self.sorted, current_sorted);
        if self.std > 0.0 { w / self.std } else { w }
    }

    /// Every statistic of `current` (non-empty, finite) against this
    /// reference.
    pub fn compare(&self, current: &[f64]) -> Result<Comparison, StatsError> {
        check("current", current)?;
        let current = sorted(current);
        let current_bins = bins::counts_sorted(&self.edges, &current);
        let ks = ks::ks_2samp_sorted(&self.sorted, &current);
        let (n_reference, n_current) = (self.sorted.len() as u64, current.len() as u64);
        Ok(Comparison {
            n_reference,
            n_current,
            ks_statistic: ks.statistic,
            ks_pvalue: ks.pvalue,
            ks_method: ks.method,
            psi: bins::psi(&self.bins, &current_bins)?,
            psi_floor: bins::psi_no_drift_floor(self.bins.len(), n_reference, n_current),
            wasserstein_norm: (self.std > 0.0)
                .then(|| wasserstein::wasserstein_sorted(&self.sorted, &current) / self.std),
            js: bins::jensen_shannon(&self.bins, &current_bins)?,
        })
    }
}

/// Each reference against its current sample (`references[i]` with
/// `currents[i]`), the features spread over the machine's cores: one drift
/// window of a model's inputs.
pub fn compare_all(
    references: &[Reference],
    currents: &[&[f64]],
) -> Vec<Result<Comparison, StatsError>> {
    use rayon::prelude::*;
    references
        .par_iter()
        .zip(currents.par_iter())
        .map(|(r, c)| r.compare(c))
        .collect()
}

/// One feature's statistics against its reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Reference values used.
    pub n_reference: u64,
    /// Current values used.
    pub n_current: u64,
    /// Two-sample KS statistic (scipy's `ks_2samp`).
    pub ks_statistic: f64,
    /// Its p-value, on the raw samples, as scipy computes it.
    pub ks_pvalue: f64,
    /// Exact or asymptotic, as scipy's `method='auto'` picks.
    pub ks_method: ks::KsMethod,
    /// Population stability index on the reference's bins.
    pub psi: f64,
    /// The PSI sampling alone gives at these sizes.
    pub psi_floor: f64,
    /// Wasserstein-1 over the reference's standard deviation; `None` for a
    /// constant reference.
    pub wasserstein_norm: Option<f64>,
    /// Jensen-Shannon distance of the two bin distributions (natural log).
    pub js: f64,
}

/// KS p-values adjusted across features.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    /// Benjamini-Hochberg.
    pub bh: Vec<f64>,
    /// Bonferroni.
    pub bonferroni: Vec<f64>,
}

/// The KS p-values of `comparisons`, adjusted for testing them together.
pub fn adjust(comparisons: &[Comparison]) -> Adjusted {
    let p: Vec<f64> = comparisons.iter().map(|c| c.ks_pvalue).collect();
    Adjusted {
        bh: multiple::benjamini_hochberg(&p),
        bonferroni: multiple::bonferroni(&p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_against_itself_shows_no_drift() {
        let v: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64).collect();
        let c = Reference::new(&v).unwrap().compare(&v).unwrap();
        assert_eq!((c.ks_statistic, c.ks_pvalue), (0.0, 1.0));
        assert_eq!((c.psi, c.js), (0.0, 0.0));
        assert_eq!(c.wasserstein_norm, Some(0.0));
        assert_eq!((c.n_reference, c.n_current), (500, 500));
    }

    #[test]
    fn stored_edges_must_be_ascending_and_finite() {
        assert!(Reference::with_edges(&[1.0], &[2.0, 1.0]).is_err());
        assert!(Reference::with_edges(&[1.0], &[f64::NAN]).is_err());
        let r = Reference::with_edges(&[1.0, 2.0], &[1.5]).unwrap();
        assert_eq!(r.edges(), &[1.5]);
        assert_eq!(
            r.compare(&[f64::INFINITY]),
            Err(StatsError::NotFinite("current"))
        );
    }
}
