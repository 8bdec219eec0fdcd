"""Checks `volspike drift compare --json-out` against scipy and numpy on the
same two feature files: per feature, the rows used (warm rows with a
value), scipy.stats.ks_2samp (method='auto'), PSI on the reference's
decile bins (numpy.quantile, searchsorted side='right', empty bins at
1e-4), scipy.stats.wasserstein_distance over numpy's std of the reference,
and scipy.spatial.distance.jensenshannon of the bin proportions.

Run: $(scripts/python-env.sh) scripts/python/check_drift_compare.py REF.parquet CUR.parquet COMPARE.json
"""

import json
import sys

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from drift_reference import bin_counts, decile_edges, psi

# Absolute, or relative to the value where it is large (normalized
# Wasserstein reaches a few units).
TOLERANCE = {"ks_statistic": 1e-12, "ks_pvalue": 1e-10, "psi": 1e-12, "wasserstein_norm": 1e-12, "js": 1e-12}


def main():
    ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
    report = json.loads(open(sys.argv[3]).read())
    worst = dict.fromkeys(TOLERANCE, 0.0)
    compared = 0
    for f in report["features"]:
        name = f["name"]
        a = ref[ref.warm][name].dropna().to_numpy()
        b = cur[cur.warm][name].dropna().to_numpy()
        assert (f["n_reference"], f["n_current"]) == (len(a), len(b)), (name, f["n_reference"], len(a))
        if len(a) == 0 or len(b) == 0:
            assert f["error"], f"{name}: an empty side must be reported as not compared"
            continue
        compared += 1
        ks = stats.ks_2samp(a, b)
        edges = decile_edges(a)
        rc, cc = bin_counts(edges, a), bin_counts(edges, b)
        want = {
            "ks_statistic": ks.statistic,
            "ks_pvalue": ks.pvalue,
            "psi": psi(rc, cc),
            "wasserstein_norm": stats.wasserstein_distance(a, b) / np.std(a),
            "js": distance.jensenshannon(rc / rc.sum(), cc / cc.sum()),
        }
        for k, v in want.items():
            err = abs(f[k] - v) / max(1.0, abs(v))
            worst[k] = max(worst[k], err)
            assert err <= TOLERANCE[k], f"{name} {k}: volspike {f[k]!r}, scipy {v!r}"
    assert compared == report["compared"], (compared, report["compared"])
    print(f"check_drift_compare: {compared} features equal scipy/numpy; largest differences "
          + ", ".join(f"{k}={v:.1e}" for k, v in worst.items()))


if __name__ == "__main__":
    main()
