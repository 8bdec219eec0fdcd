"""The drift worker's per-window computation in numpy/scipy, timed on the
samples `volspike bench drift --out DIR` exported, and checked against what
volspike computed on them.

Per window and feature, what a Python drift job would run (as Evidently
does): scipy.stats.ks_2samp (method='auto'), PSI on the reference's decile
bins (numpy.quantile edges, searchsorted side='right', empty bins at 1e-4),
scipy.stats.wasserstein_distance over the reference's numpy std, and
scipy.spatial.distance.jensenshannon of the bin proportions. As in
volspike, what depends on the reference alone (edges, its bin counts, its
std) is prepared once, outside the timed windows.

Run: $(scripts/python-env.sh) scripts/python/bench_drift.py DIR
"""

import json
import pathlib
import sys
import time

import numpy as np
import scipy
from scipy import stats
from scipy.spatial import distance

from drift_reference import bin_counts, decile_edges, psi



def main():
    d = pathlib.Path(sys.argv[1])
    meta = json.loads((d / "meta.json").read_text())
    f, n, w = len(meta["features"]), meta["rows"], meta["windows"]
    ref = np.fromfile(d / "reference.f64", dtype="<f8").reshape(f, n)
    win = np.fromfile(d / "windows.f64", dtype="<f8").reshape(f, w * n)

    started = time.perf_counter()
    edges = [decile_edges(ref[i]) for i in range(f)]
    ref_counts = [bin_counts(edges[i], ref[i]) for i in range(f)]
    ref_std = [np.std(ref[i]) for i in range(f)]
    prepare = time.perf_counter() - started

    seconds, worst = [], [0.0] * 5
    for k in range(w):
        started = time.perf_counter()
        results = []
        for i in range(f):
            cur = win[i, k * n:(k + 1) * n]
            ks = stats.ks_2samp(ref[i], cur)
            cc = bin_counts(edges[i], cur)
            wn = stats.wasserstein_distance(ref[i], cur) / ref_std[i] if ref_std[i] > 0 else float("nan")
            js = distance.jensenshannon(ref_counts[i] / ref_counts[i].sum(), cc / cc.sum())
            results.append([float(ks.statistic), float(ks.pvalue), psi(ref_counts[i], cc), float(wn), float(js)])
        seconds.append(time.perf_counter() - started)
        for i, (ours, theirs) in enumerate(zip(meta["results"][k], results)):
            for j, (a, b) in enumerate(zip(ours, theirs)):
                a = float("nan") if a is None else a
                if np.isnan(a) and np.isnan(b):
                    continue
                worst[j] = max(worst[j], abs(a - b))
    ours = sorted(meta["window_seconds"])
    theirs = sorted(seconds)
    names = ["ks_statistic", "ks_pvalue", "psi", "wasserstein_norm", "js"]
    print(f"numpy {np.__version__}, scipy {scipy.__version__}")
    print("largest |volspike - scipy|: " + ", ".join(f"{m}={e:.1e}" for m, e in zip(names, worst)))
    print(f"numpy/scipy: prepare={prepare * 1e3:.1f}ms median={theirs[len(theirs) // 2] * 1e3:.1f}ms/window "
          f"min={theirs[0] * 1e3:.1f}ms max={theirs[-1] * 1e3:.1f}ms")
    print(f"volspike:    prepare={meta['prepare_seconds'] * 1e3:.1f}ms median={ours[len(ours) // 2] * 1e3:.1f}ms/window "
          f"min={ours[0] * 1e3:.1f}ms max={ours[-1] * 1e3:.1f}ms")
    print(f"speedup (median per window): {theirs[len(theirs) // 2] / ours[len(ours) // 2]:.1f}x")
    # The same computation, or the timing compares nothing.
    limits = [1e-12, 1e-10, 1e-12, 1e-12, 1e-12]
    bad = [m for m, e, lim in zip(names, worst, limits) if not e <= lim]
    if bad:
        sys.exit(f"volspike and scipy disagree on {bad}")


if __name__ == "__main__":
    main()
