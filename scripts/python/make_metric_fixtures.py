"""Writes crates/volspike-train/tests/fixtures/sklearn_metrics.json: labels,
scores and what scikit-learn computes from them (metrics, reliability
diagrams, and Platt scaling fitted on margins), for the parity test
(crates/volspike-train/tests/sklearn_parity.rs).

Run: $(scripts/python-env.sh) scripts/python/make_metric_fixtures.py
The output is deterministic for the pinned versions (fixed seeds).
"""

import json
import pathlib
import sys

import numpy as np
import sklearn
from sklearn import metrics
from sklearn.calibration import _sigmoid_calibration, calibration_curve

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/volspike-train/tests/fixtures/sklearn_metrics.json"


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cases():
    rng = np.random.default_rng(20261123)
    y = (rng.random(1000) < 0.15).astype(int)
    yield "random_1000", y, sigmoid(1.5 * y + rng.normal(size=y.size) - 1.0), [0.5, 0.3]

    y = (rng.random(500) < 0.3).astype(int)
    s = np.round(sigmoid(y + rng.normal(size=y.size)), 1)  # heavy ties
    yield "ties_500", y, s, [0.5, 0.7]

    y = np.array([0] * 40 + [1] * 10)
    yield "separable", y, np.linspace(0.01, 0.99, 50), [0.5, 0.9]

    yield "reversed", y, np.linspace(0.99, 0.01, 50), [0.5]

    y = np.array([0, 1, 0, 1, 1, 0])
    yield "tiny_ties", y, np.array([0.2, 0.8, 0.8, 0.4, 0.2, 0.1]), [0.4, 0.8, 0.95]

    y = (rng.random(3000) < 0.03).astype(int)
    yield "imbalanced_3000", y, sigmoid(2.0 * y + rng.normal(size=y.size) - 3.0), [0.5, 0.1]

    y = (rng.random(200) < 0.25).astype(int)
    yield "constant_score", y, np.full(y.size, 0.5), [0.5, 0.6]


def case(name, y, s, thresholds):
    precision, recall, pr_thr = metrics.precision_recall_curve(y, s)
    fpr, tpr, roc_thr = metrics.roc_curve(y, s, drop_intermediate=False)
    out = {
        "name": name,
        "y": [int(v) for v in y],
        "score": [float(v) for v in s],
        "average_precision": float(metrics.average_precision_score(y, s)),
        "roc_auc": float(metrics.roc_auc_score(y, s)),
        "brier": float(metrics.brier_score_loss(y, s)),
        "base_rate": float(np.mean(y)),
        # Points from the highest threshold down, as volspike returns them.
        "pr_curve": {
            "precision": [float(v) for v in precision[::-1]],
            "recall": [float(v) for v in recall[::-1]],
            "thresholds": [float(v) for v in pr_thr[::-1]],
        },
        # sklearn's first ROC threshold is +inf (the (0, 0) point); JSON
        # cannot hold it, and volspike starts at the highest score.
        "roc_curve": {
            "fpr": [float(v) for v in fpr],
            "tpr": [float(v) for v in tpr],
            "thresholds": [float(v) for v in roc_thr[1:]],
        },
        "reliability": reliability(y, s),
        "at_threshold": [],
    }
    for t in thresholds:
        pred = (s >= t).astype(int)
        tn, fp, fn, tp = metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        out["at_threshold"].append({
            "threshold": float(t),
            "precision": float(metrics.precision_score(y, pred, zero_division=0)),
            "recall": float(metrics.recall_score(y, pred, zero_division=0)),
            "f1": float(metrics.f1_score(y, pred, zero_division=0)),
            "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        })
    return out


def reliability(y, s):
    """calibration_curve's bins, their row counts (its own binning), and the
    expected calibration error from them."""
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    edges = np.linspace(0.0, 1.0, 11)
    rows = np.bincount(np.searchsorted(edges[1:-1], s), minlength=10)
    rows = rows[rows != 0]
    ece = float(np.sum(rows / y.size * np.abs(prob_true - prob_pred)))
    return {
        "observed": [float(v) for v in prob_true],
        "mean_score": [float(v) for v in prob_pred],
        "rows": [int(v) for v in rows],
        "ece": ece,
    }


def platt_cases():
    """Margins and labels, as CalibratedClassifierCV(method="sigmoid") fits
    them: log-odds of a logistic model, vote shares of a forest (ties),
    margins past sklearn's rescaling point (|m| >= 30), a rare class."""
    rng = np.random.default_rng(20261203)
    y = (rng.random(1000) < 0.15).astype(int)
    yield "log_odds_1000", y, 1.5 * y + rng.normal(size=y.size) - 1.0
    y = (rng.random(800) < 0.3).astype(int)
    yield "vote_share_ties_800", y, np.round(1.0 / (1.0 + np.exp(-(y + rng.normal(size=y.size)))), 1)
    y = (rng.random(600) < 0.2).astype(int)
    yield "large_margins_600", y, 40.0 * (0.8 * y + rng.normal(size=y.size))
    y = (rng.random(5000) < 0.02).astype(int)
    yield "rare_5000", y, 2.5 * y + rng.normal(size=y.size) - 3.0


def platt(name, y, f):
    a, b = _sigmoid_calibration(f, y)
    prior1 = float(np.sum(y)); prior0 = y.size - prior1
    t = np.where(y > 0, (prior1 + 1.0) / (prior1 + 2.0), 1.0 / (prior0 + 2.0))
    z = a * f + b
    loss = float(np.sum(np.where(z >= 0, t * z + np.log1p(np.exp(-np.abs(z))),
                                 (t - 1.0) * z + np.log1p(np.exp(-np.abs(z))))))
    return {
        "name": name,
        "y": [int(v) for v in y],
        "margin": [float(v) for v in f],
        "a": float(a),
        "b": float(b),
        "loss": loss,
        "probability": [float(v) for v in 1.0 / (1.0 + np.exp(z))],
    }


def main():
    doc = {
        "generator": "scripts/python/make_metric_fixtures.py",
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "cases": [case(*c) for c in cases()],
        "platt": [platt(*c) for c in platt_cases()],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({len(doc['cases'])} cases, scikit-learn {sklearn.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
