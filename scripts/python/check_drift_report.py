"""Checks `volspike drift report` against numpy: for every model input, the
current sample (warm rows with a value) has the size the report gives, and
its PSI on the model's stored decile edges (each bin a tenth of the
training rows) equals the report's; the HTML names every input.

usage: check_drift_report.py MODEL.json CURRENT.parquet REPORT_DIR
"""

import json
import sys

import numpy as np
import pandas as pd

from drift_reference import bin_counts, psi

model_path, current_path, out = sys.argv[1:4]
model = json.load(open(model_path))
report = json.load(open(f"{out}/report.json"))
html = open(f"{out}/report.html").read()
rows = pd.read_parquet(current_path)
warm = rows[rows["warm"]]
by_name = {f["name"]: f for f in report["features"]}
assert set(by_name) == {d["name"] for d in model["reference"]}, (set(by_name), model["reference"])
worst = 0.0
for dist in model["reference"]:
    name = dist["name"]
    values = warm[name].dropna().to_numpy(np.float64)
    values = values[np.isfinite(values)]
    got = by_name[name]
    assert got["n_current"] == len(values), (name, got["n_current"], len(values))
    edges = np.asarray(dist["decile_edges"])
    want = psi(np.ones(len(edges) + 1), bin_counts(edges, values).astype(np.float64))
    worst = max(worst, abs(got["psi"] - want))
    assert abs(got["psi"] - want) <= 1e-12 * max(1.0, want), (name, got["psi"], want)
    assert name in html, f"{name} missing from report.html"
print(f"check_drift_report: {len(by_name)} inputs, PSI as numpy (largest difference {worst:.1e}), HTML names them all")
