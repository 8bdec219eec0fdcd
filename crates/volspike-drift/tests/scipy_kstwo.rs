//! scipy's asymptotic KS path against scipy itself
//! (`scripts/python/make_drift_fixtures.py` wrote the fixture): `kstwo.sf`
//! on a grid that visits each of its methods, and `ks_2samp` on samples
//! above the exact path's limit, regenerated here from the same seeds.

use serde::Deserialize;
use volspike_drift::{ks, kstwo};

#[derive(Deserialize)]
struct Point {
    n: u64,
    d: f64,
    sf: f64,
}

#[derive(Deserialize)]
struct Generator {
    seed: u64,
    n: usize,
    scale: f64,
    shift: f64,
    levels: u32,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    reference: Generator,
    current: Generator,
    statistic: f64,
    pvalue: f64,
}

#[derive(Deserialize)]
struct Fixture {
    kstwo: Vec<Point>,
    ks_asymp: Vec<Case>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scipy_kstwo.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The script's `generate`: splitmix64 uniforms (or a grid for seed 0),
/// scaled, shifted and optionally floored to `levels`.
fn generate(g: &Generator) -> Vec<f64> {
    let mut state = g.seed;
    (0..g.n)
        .map(|i| {
            let u = if g.seed == 0 {
                (i as f64 + 0.5) / g.n as f64
            } else {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z >> 11) as f64 * 2f64.powi(-53)
            };
            let x = u * g.scale + g.shift;
            if g.levels > 0 {
                (x * g.levels as f64).floor() / g.levels as f64
            } else {
                x
            }
        })
        .collect()
}

/// Within 1e-10, or 1e-9 of the value where p-values are tiny.
fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-10_f64.max(1e-9 * want.abs())
}

#[test]
fn kstwo_survival_function_equals_scipy_on_every_method() {
    let f = fixture();
    assert!(f.kstwo.len() > 250);
    let mut worst = (0.0f64, 0u64, 0.0f64);
    for p in &f.kstwo {
        let got = kstwo::sf(p.n, p.d);
        assert!(
            close(got, p.sf),
            "kstwo.sf({}, {}) = {got}, scipy {}",
            p.d,
            p.n,
            p.sf
        );
        let err = (got - p.sf).abs();
        if err > worst.0 {
            worst = (err, p.n, p.d);
        }
    }
    eprintln!(
        "largest |difference| {:e} at n={} d={}",
        worst.0, worst.1, worst.2
    );
}

#[test]
fn ks_2samp_auto_equals_scipy_above_the_exact_limit() {
    for c in fixture().ks_asymp {
        let (a, b) = (generate(&c.reference), generate(&c.current));
        assert!(a.len().max(b.len()) > ks::MAX_EXACT_N, "{}", c.name);
        let r = ks::ks_2samp(&a, &b).unwrap();
        assert_eq!(r.method, ks::KsMethod::Asymptotic, "{}", c.name);
        assert!(
            (r.statistic - c.statistic).abs() <= 1e-12,
            "{}: statistic {} vs scipy {}",
            c.name,
            r.statistic,
            c.statistic
        );
        assert!(
            close(r.pvalue, c.pvalue),
            "{}: p-value {:e} vs scipy {:e}",
            c.name,
            r.pvalue,
            c.pvalue
        );
    }
}
