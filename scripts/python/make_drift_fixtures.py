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

It also writes crates/volspike-drift/tests/fixtures/scipy_kstwo.json, for
scipy's asymptotic path (max(n1, n2) > 10,000):
- kstwo: scipy.stats.kstwo.sf(d, n) on a grid of (n, d) that visits every
  method scipy's _kolmogn picks (closed forms, Durbin, Pomeranz,
  Pelz-Good, Smirnov's sum and its approximation above n = 10^6);
- ks_asymp: scipy.stats.ks_2samp(method='auto') on samples too large to
  store, so they are made from a seed by splitmix64 (uniforms k * 2^-53,
  then only + and * and floor, which IEEE rounds the same in Rust):
  `generator` in each case says how.

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

from drift_reference import EPSILON, bin_counts, decile_edges, psi

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "crates/volspike-drift/tests/fixtures"
OUT = FIXTURES / "scipy_drift.json"
OUT_KSTWO = FIXTURES / "scipy_kstwo.json"
MASK64 = (1 << 64) - 1


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
        edges = decile_edges(ref)
        rc, cc = bin_counts(edges, ref), bin_counts(edges, cur)
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
    write_kstwo()


def splitmix64_uniforms(seed, n):
    """n uniforms in [0, 1): splitmix64 outputs, top 53 bits times 2^-53."""
    out = np.empty(n)
    state = seed & MASK64
    for i in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        out[i] = (z >> 11) * 2.0**-53
    return out


def generate(g):
    """A sample from its generator: {seed, n, scale, shift, levels}:
    u * scale + shift, then floor(x * levels) / levels when levels > 0;
    seed 0 means the grid (i + 0.5) / n instead of uniforms."""
    if g["seed"] == 0:
        u = (np.arange(g["n"]) + 0.5) / g["n"]
    else:
        u = splitmix64_uniforms(g["seed"], g["n"])
    x = u * g["scale"] + g["shift"]
    if g["levels"] > 0:
        x = np.floor(x * g["levels"]) / g["levels"]
    return x


def gen(seed, n, scale=1.0, shift=0.0, levels=0):
    return {"seed": seed, "n": n, "scale": scale, "shift": shift, "levels": levels}


def asymptotic_cases():
    # (name, reference generator, current generator); every case has
    # max(n1, n2) > 10,000 so method='auto' takes the asymptotic path.
    yield "null_100k", gen(1, 100_000), gen(2, 100_000)
    yield "shift_100k", gen(3, 100_000), gen(4, 100_000, shift=0.01)
    yield "scale_unequal", gen(5, 60_000), gen(6, 40_000, scale=1.01)
    yield "near_grids_durbin", gen(0, 20_000), gen(0, 15_000, shift=0.0004)
    yield "tiny_current_null", gen(7, 30_000), gen(8, 80)
    yield "tiny_current_shift", gen(9, 30_000), gen(10, 80, shift=0.25)
    yield "tiny_current_grid", gen(0, 30_000), gen(0, 120, shift=0.004)
    yield "ties", gen(11, 12_000, levels=50), gen(12, 11_000, shift=0.01, levels=50)
    yield "disjoint", gen(13, 12_000), gen(14, 10_001, shift=2.0)


def kstwo_grid():
    ns = [1, 2, 3, 5, 10, 30, 80, 140, 141, 500, 5_000, 50_000, 100_000, 100_001, 1_000_000, 1_000_001, 3_000_000]
    for n in ns:
        ds = [t / n for t in (0.4, 0.7, 1.0, 1.5)]
        ds += [np.sqrt(s / n) for s in (0.2, 0.5, 0.754, 1.0, 2.0, 2.3, 3.0, 4.5, 8.0, 20.0, 100.0, 371.0)]
        ds += [0.5, 0.6, 0.9, 1.0 - 1.5 / n]
        for d in ds:
            if 0.0 < d < 1.0:
                yield n, float(d)


def write_kstwo():
    out = {"numpy": np.__version__, "scipy": scipy.__version__, "kstwo": [], "ks_asymp": []}
    for n, d in kstwo_grid():
        out["kstwo"].append({"n": n, "d": d, "sf": float(stats.kstwo.sf(d, n))})
    for name, gr, gc in asymptotic_cases():
        ks = stats.ks_2samp(generate(gr), generate(gc), method="auto")
        out["ks_asymp"].append({
            "name": name,
            "reference": gr,
            "current": gc,
            "statistic": float(ks.statistic),
            "pvalue": float(ks.pvalue),
        })
    OUT_KSTWO.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT_KSTWO} ({len(out['kstwo'])} kstwo points, {len(out['ks_asymp'])} ks_2samp cases)")


def rng_p():
    rng = np.random.default_rng(7)
    return np.concatenate([rng.random(20), rng.random(6) * 1e-3])


if __name__ == "__main__":
    main()
