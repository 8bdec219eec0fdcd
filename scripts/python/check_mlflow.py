"""Checks with MLflow's own Python client what `volspike train --mlflow-uri`
logged: the run (FINISHED), its params, metrics and artifacts, the
registered version (READY) and its aliases.

usage: check_mlflow.py URI EXPERIMENT MODEL_NAME RUN_ID [--champion VERSION]
Prints one summary line; exits non-zero with the reason on the first miss.
"""

import json
import sys
import tempfile

from mlflow import MlflowClient


def fail(why):
    print(f"check_mlflow: FAILED: {why}", file=sys.stderr)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    champion = None
    if "--champion" in args:
        i = args.index("--champion")
        champion = args[i + 1]
        del args[i : i + 2]
    uri, experiment, name, run_id = args
    c = MlflowClient(tracking_uri=uri, registry_uri=uri)

    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        fail(f"no experiment {experiment!r}")
    run = c.get_run(run_id)
    if run.info.experiment_id != exp.experiment_id:
        fail(f"run {run_id} is not in {experiment!r}")
    if run.info.status != "FINISHED":
        fail(f"run status {run.info.status}")
    params, metrics = run.data.params, run.data.metrics
    for p in ["label.kind", "label.returns", "label.horizon_s", "label.quantile", "features", "log_scale_inputs",
              "warm_only", "models"]:
        if p not in params:
            fail(f"param {p} missing; have {sorted(params)}")
    for m in ["tau", "rows.train", "spike_rate.test", "baseline.test.pr_auc", "logistic.test.pr_auc", "logistic.test.ece"]:
        if m not in metrics:
            fail(f"metric {m} missing; have {sorted(metrics)}")
    artifacts = {a.path for a in c.list_artifacts(run_id)}
    for a in ["report.json", "baseline.json", "logistic.json", "reliability.png", "report.html", "model"]:
        if a not in artifacts:
            fail(f"artifact {a} missing; have {sorted(artifacts)}")
    with tempfile.TemporaryDirectory() as d:
        report = json.load(open(c.download_artifacts(run_id, "report.json", d)))
    if abs(report["tau"] - metrics["tau"]) > 1e-12 * max(1.0, abs(report["tau"])):
        fail(f"tau {metrics['tau']} in MLflow, {report['tau']} in report.json")

    challenger = c.get_model_version_by_alias(name, "challenger")
    if challenger.status != "READY":
        fail(f"challenger version {challenger.version} is {challenger.status}")
    if challenger.run_id != run_id:
        fail(f"challenger version {challenger.version} comes from run {challenger.run_id}")
    with tempfile.TemporaryDirectory() as d:
        local = c.download_artifacts(run_id, "model/model.json", d)
        model = json.load(open(local))
    for k in ["model", "label", "tau", "validation", "test"]:
        if k not in model:
            fail(f"model.json has no {k}")
    # The e2e hour's logistic regression ranks validation's spikes, so its
    # Platt fit is kept, and it must travel in the registered file.
    if model["name"] == "logistic" and model["model"].get("calibration", {}).get("method") != "platt":
        fail(f"the registered logistic model has no Platt calibration: {model['model'].get('calibration')}")
    line = (
        f"check_mlflow: run {run_id} FINISHED params={len(params)} metrics={len(metrics)} "
        f"artifacts={len(artifacts)} {name}@challenger=v{challenger.version} READY ({model['name']})"
    )
    if champion is not None:
        v = c.get_model_version_by_alias(name, "champion")
        if v.version != champion:
            fail(f"champion is version {v.version}, expected {champion}")
        line += f" {name}@champion=v{v.version}"
    print(line)


main()
