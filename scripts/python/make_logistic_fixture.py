"""Writes crates/volspike-train/tests/fixtures/sklearn_logistic.json: a small
standardized dataset and the coefficients scikit-learn's LogisticRegression
(L2, lbfgs, tight tolerance) fits on it, with and without balanced class
weights, for crates/volspike-train/tests/sklearn_parity.rs.

Run: $(scripts/python-env.sh) scripts/python/make_logistic_fixture.py
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/volspike-train/tests/fixtures/sklearn_logistic.json"


def main():
    rng = np.random.default_rng(7)
    n, p = 3000, 5
    x = rng.normal(size=(n, p))
    x[:, 3] = 0.7 * x[:, 0] + 0.3 * rng.normal(size=n)  # correlated inputs
    logit = -2.2 + x @ np.array([1.2, -0.8, 0.0, 0.5, 0.3])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cases = []
    for c in (1.0, 0.05):
        for weight in (None, "balanced"):
            m = LogisticRegression(C=c, class_weight=weight, tol=1e-12, max_iter=100000)
            m.fit(x, y)
            cases.append({
                "alpha": 1.0 / c,
                "class_weight": "balanced" if weight else "none",
                "coef": [float(v) for v in m.coef_[0]],
                "intercept": float(m.intercept_[0]),
            })
    doc = {
        "generator": "scripts/python/make_logistic_fixture.py",
        "scikit_learn": sklearn.__version__,
        "x": [[float(v) for v in row] for row in x],
        "y": [int(v) for v in y],
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}: positives {int(y.sum())} of {n}")


if __name__ == "__main__":
    main()
