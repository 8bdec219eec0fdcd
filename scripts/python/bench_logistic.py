"""Times scikit-learn's LogisticRegression on the matrix `volspike bench
logistic --out DIR` exported (the same standardized training rows, labels,
L2 strength and balanced class weights) and compares the coefficients.

Run: $(scripts/python-env.sh) scripts/python/bench_logistic.py DIR [RUNS]
"""

import json
import pathlib
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression


def main():
    d = pathlib.Path(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    meta = json.loads((d / "meta.json").read_text())
    n, p = meta["rows"], meta["width"]
    x = np.fromfile(d / "z.f64", dtype="<f8").reshape(n, p)
    y = np.fromfile(d / "y.u8", dtype=np.uint8).astype(int)
    ours = np.array(meta["coef"] + [meta["intercept"]])
    for label, kwargs in (("default tol=1e-4", {}), ("tol=1e-8", {"tol": 1e-8, "max_iter": 10000})):
        times, converged = [], True
        for _ in range(runs):
            m = LogisticRegression(C=1.0 / meta["alpha"], class_weight="balanced", **kwargs)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                t0 = time.perf_counter()
                m.fit(x, y)
                times.append(time.perf_counter() - t0)
            converged = converged and not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        theirs = np.append(m.coef_[0], m.intercept_[0])
        print(
            f"scikit-learn {sklearn.__version__} lbfgs {label}: rows={n} width={p} "
            f"median={np.median(times):.3f}s min={min(times):.3f}s n_iter={int(m.n_iter_[0])} "
            f"converged={converged} max|coef - volspike|={np.max(np.abs(theirs - ours)):.2e}"
        )


if __name__ == "__main__":
    main()
