"""Writes crates/volspike-drift/tests/fixtures/scipy_drift.json: samples and
what scipy and numpy compute from them, for the drift statistics' parity
test (crates/volspike-drift/tests/scipy_parity.rs).

- ks: scipy.stats.ks_2samp (two-sided, method='exact'; the cases keep
  max(n1, n2) <= 10,000, where method='auto' is exact too);
- wasserstein_norm: scipy.stats.wasserstein_distance / numpy std of the
  reference (ddof=0), as Evidently's wasserstein_distance_norm;
- bins, psi, js: counts in the fixed bins of the reference's decile edges
  (numpy.quantile, linear) with open tails (numpy.searchsorted, side=right),
  PSI with empty bins set to EPSILON, and scipy.spatial.distance.jensenshannon
  (natural log) of the two bin distributions;
- bh, bonferroni: scipy.stats.false_discovery_control(method='bh') and
  min(1, m * p).

Run: $(scripts/python-env.sh) scripts/python/make_drift_fixtures.py
Deterministic for a given numpy and scipy (fixed seeds); written with
numpy 2.4.6 and scipy 1.17.1.
"""

import json
import pathlib

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/volspike-drift/tests/fixtures/scipy_drift.json"
EPSILON = 1e-4


def psi(ref_counts, cur_counts):
    r = ref_counts / ref_counts.sum()
    c = cur_counts / cur_counts.sum()
    r = np.where(r == 0, EPSILON, r)
    c = np.where(c == 0, EPSILON, c)
    return float(np.sum((c - r) * np.log(c / r)))


def cases():
    rng = np.random.default_rng(20261202)
    yield "tiny_equal", np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5])
    yield "tiny_unequal", np.array([0.1, 0.4, 0.7, 0.9]), np.array([0.2, 0.3, 0.5, 0.6, 0.8, 1.1, 1.3])
    yield "identical", np.arange(50.0), np.arange(50.0)
    yield "ties", np.round(rng.normal(size=300), 1), np.round(rng.normal(0.2, 1.0, size=240), 1)
    yield "discrete_heavy_ties", rng.integers(0, 5, size=400).astype(float), rng.integers(0, 6, size=150).astype(float)
    yield "unequal_shift", rng.normal(size=1000), rng.normal(0.1, 1.0, size=333)
    yield "equal_sizes_shift", rng.normal(size=2000), rng.normal(0.05, 1.1, size=2000)
    yield "lognormal_vol", rng.lognormal(-9.0, 0.5, size=5000), rng.lognormal(-8.8, 0.6, size=3000)
    yield "large_exact", rng.standard_t(4, size=10000), rng.standard_t(4, size=9000) * 1.02
    yield "far_apart", rng.normal(size=200), rng.normal(5.0, 1.0, size=150)


def main():
    out = {"numpy": np.__version__, "scipy": scipy.__version__, "epsilon": EPSILON, "cases": []}
    for name, ref, cur in cases():
        ks = stats.ks_2samp(ref, cur, alternative="two-sided", method="exact")
        edges = np.quantile(ref, np.arange(1, 10) / 10.0)
        rc = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=10)
        cc = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=10)
        out["cases"].append({
            "name": name,
            "reference": ref.tolist(),
            "current": cur.tolist(),
            "ks_statistic": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
            "wasserstein_norm": float(stats.wasserstein_distance(ref, cur) / np.std(ref)),
            "decile_edges": edges.tolist(),
            "reference_bins": rc.tolist(),
            "current_bins": cc.tolist(),
            "psi": psi(rc, cc),
            "js": float(distance.jensenshannon(rc / rc.sum(), cc / cc.sum())),
        })
    pvalues = np.concatenate([[0.0, 1.0, 0.05, 0.05], rng_p()])
    out["pvalues"] = pvalues.tolist()
    out["bh"] = stats.false_discovery_control(pvalues, method="bh").tolist()
    out["bonferroni"] = np.minimum(1.0, pvalues * pvalues.size).tolist()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT} ({len(out['cases'])} cases)")


def rng_p():
    rng = np.random.default_rng(7)
    return np.concatenate([rng.random(20), rng.random(6) * 1e-3])


if __name__ == "__main__":
    main()
