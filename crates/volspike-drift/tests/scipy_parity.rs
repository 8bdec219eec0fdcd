//! The drift statistics against scipy and numpy on the same samples
//! (`scripts/python/make_drift_fixtures.py` wrote the fixture): ties,
//! unequal and equal sizes, tiny samples and samples at the exact KS
//! path's limit (10,000).

use serde::Deserialize;
use volspike_drift::{bins, compare, ks, multiple, wasserstein};

#[derive(Deserialize)]
struct Case {
    name: String,
    reference: Vec<f64>,
    current: Vec<f64>,
    ks_statistic: f64,
    ks_pvalue: f64,
    wasserstein_norm: f64,
    decile_edges: Vec<f64>,
    reference_bins: Vec<u64>,
    current_bins: Vec<u64>,
    psi: f64,
    js: f64,
}

#[derive(Deserialize)]
struct Fixture {
    epsilon: f64,
    cases: Vec<Case>,
    pvalues: Vec<f64>,
    bh: Vec<f64>,
    bonferroni: Vec<f64>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scipy_drift.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// |got - want| within `abs`, or within `rel` of |want|.
fn close(got: f64, want: f64, abs: f64, rel: f64) -> bool {
    (got - want).abs() <= abs.max(rel * want.abs())
}

#[test]
fn ks_statistic_and_exact_pvalue_equal_scipy() {
    for c in fixture().cases {
        assert!(c.reference.len().max(c.current.len()) <= ks::MAX_EXACT_N);
        let r = ks::ks_2samp(&c.reference, &c.current).unwrap();
        assert_eq!(r.method, ks::KsMethod::Exact, "{}", c.name);
        assert!(
            close(r.statistic, c.ks_statistic, 1e-12, 0.0),
            "{}: statistic {} vs scipy {}",
            c.name,
            r.statistic,
            c.ks_statistic
        );
        // p-values reach 1e-100 here: absolute 1e-10, and relative 1e-9
        // where they are tiny.
        assert!(
            close(r.pvalue, c.ks_pvalue, 1e-10, 1e-9),
            "{}: p-value {:e} vs scipy {:e}",
            c.name,
            r.pvalue,
            c.ks_pvalue
        );
    }
}

#[test]
fn bins_psi_and_jensen_shannon_equal_numpy_and_scipy() {
    let f = fixture();
    assert_eq!(f.epsilon, bins::PSI_EPSILON);
    for c in f.cases {
        // The edges as numpy.quantile computes them, then the same bins.
        let reference = compare::Reference::new(&c.reference).unwrap();
        for (got, want) in reference.edges().iter().zip(&c.decile_edges) {
            assert!(
                close(*got, *want, 0.0, 1e-15),
                "{}: edge {got} vs {want}",
                c.name
            );
        }
        let (rb, cb) = (
            bins::counts(&c.decile_edges, &c.reference),
            bins::counts(&c.decile_edges, &c.current),
        );
        assert_eq!(rb, c.reference_bins, "{}", c.name);
        assert_eq!(cb, c.current_bins, "{}", c.name);
        let psi = bins::psi(&rb, &cb).unwrap();
        assert!(
            close(psi, c.psi, 1e-14, 1e-12),
            "{}: psi {psi} vs {}",
            c.name,
            c.psi
        );
        let js = bins::jensen_shannon(&rb, &cb).unwrap();
        assert!(
            close(js, c.js, 1e-14, 1e-12),
            "{}: js {js} vs {}",
            c.name,
            c.js
        );
    }
}

#[test]
fn normalized_wasserstein_equals_scipy_over_numpy_std() {
    for c in fixture().cases {
        let w = wasserstein::wasserstein_norm(&c.reference, &c.current)
            .unwrap()
            .unwrap();
        assert!(
            close(w, c.wasserstein_norm, 1e-14, 1e-12),
            "{}: {w} vs {}",
            c.name,
            c.wasserstein_norm
        );
    }
}

#[test]
fn one_comparison_gives_every_statistic_as_scipy() {
    for c in fixture().cases {
        let r = compare::Reference::new(&c.reference)
            .unwrap()
            .compare(&c.current)
            .unwrap();
        let n = &c.name;
        assert_eq!(r.n_reference, c.reference.len() as u64, "{n}");
        assert_eq!(r.n_current, c.current.len() as u64, "{n}");
        assert!(close(r.ks_statistic, c.ks_statistic, 1e-12, 0.0), "{n}");
        assert!(close(r.ks_pvalue, c.ks_pvalue, 1e-10, 1e-9), "{n}");
        assert!(close(r.psi, c.psi, 1e-14, 1e-12), "{n}");
        assert!(close(r.js, c.js, 1e-14, 1e-12), "{n}");
        let w = r.wasserstein_norm.unwrap();
        assert!(close(w, c.wasserstein_norm, 1e-14, 1e-12), "{n}");
        let floor = 9.0 * (1.0 / c.reference.len() as f64 + 1.0 / c.current.len() as f64);
        assert!(close(r.psi_floor, floor, 0.0, 1e-15), "{n}");
    }
}

#[test]
fn corrections_equal_scipy() {
    let f = fixture();
    let bh = multiple::benjamini_hochberg(&f.pvalues);
    for (got, want) in bh.iter().zip(&f.bh) {
        assert!(close(*got, *want, 0.0, 1e-15), "bh {got} vs {want}");
    }
    assert_eq!(multiple::bonferroni(&f.pvalues), f.bonferroni);
}
