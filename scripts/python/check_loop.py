"""Checks the e2e loop (scripts/e2e.sh, stage loop) from the outside.

    check_loop.py MLFLOW_URI MODEL_NAME REPORTS EVENTS OUTCOMES PREDICTIONS

REPORTS, EVENTS, OUTCOMES and PREDICTIONS are what kcat read from
drift.reports, models.events, predictions.outcomes and the predictions
topic, one JSON record per line. Checks, with MLflow's own client for the
registry:
- the worker judged windows (one-minute windows on the minute grid, each
  once) and decided one retrain, triggered by drift after the regime
  change, registering the challenger as version 2;
- it was promoted: the gain passed the gate, models.events announced
  1 -> 2, in MLflow `champion` is version 2 and `previous` version 1, and
  the server scored with version 2 after the drift (the worker's windows
  do not depend on how the partitions interleave, so this market promotes
  on every run, as `volspike demo` does on the same market);
- version 2 and its run carry the decision's tags (verdict, trigger,
  sha256, spans, both models' PR-AUC);
- every outcome matured after its 60-second window, ids are unique, each
  carries the label of its model's tau.
"""

import json
import sys

from mlflow import MlflowClient


def records(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    uri, name, reports_path, events_path, outcomes_path, predictions_path = sys.argv[1:7]
    reports = records(reports_path)
    windows = [r for r in reports if r["kind"] == "window"]
    decisions = [r for r in reports if r["kind"] == "decision"]
    assert windows, "no window on drift.reports"
    assert len(decisions) == 1, f"{len(decisions)} decisions, want 1: {decisions}"
    d = decisions[0]
    assert any(t.startswith("drift") for t in d["triggers"]), d["triggers"]
    assert d["verdict"] == "promoted", f"verdict {d['verdict']}: {d['reason']}"
    assert d["champion"]["version"] == 1 and d["challenger"]["version"] == 2, d
    gain = d["difference"]
    assert gain["estimate"] >= d["margin"] and gain["lower"] > 0, gain
    minute = 60 * 10**9
    starts = [w["start_ns"] for w in windows]
    assert all(s % minute == 0 and w["end_ns"] == s + minute for s, w in zip(starts, windows)), starts
    assert starts == sorted(set(starts)), "a window was judged twice or out of order"
    drifting = [w for w in windows if w["drifting"] > 0]
    assert drifting, "no window with drifting features"
    first_drift = min(w["end_ns"] for w in drifting)
    assert first_drift <= d["at_ns"], (first_drift, d["at_ns"])

    events = [e for e in records(events_path) if e["name"] == name and e["to"] != 1]
    client = MlflowClient(tracking_uri=uri)
    champion = client.get_model_version_by_alias(name, "champion")
    assert events and (events[-1]["from"], events[-1]["to"]) == (1, 2), events
    previous = client.get_model_version_by_alias(name, "previous")
    assert (champion.version, previous.version) == ("2", "1"), (champion.version, previous.version)
    challenger = client.get_model_version(name, "2")
    tags = challenger.tags
    run_tags = client.get_run(challenger.run_id).data.tags
    want = {
        "volspike.retrain.verdict": d["verdict"],
        "volspike.retrain.sha256": d["challenger"]["sha256"],
        "volspike.retrain.champion_version": "1",
        "volspike.retrain.trigger": "; ".join(d["triggers"]),
    }
    for k, v in want.items():
        assert tags.get(k) == v, (k, tags.get(k), v)
        assert run_tags.get(k) == v, ("run", k, run_tags.get(k), v)
    for k in ("volspike.retrain.data_span_ns", "volspike.retrain.holdout_span_ns",
              "volspike.retrain.offsets", "volspike.retrain.champion_pr_auc",
              "volspike.retrain.challenger_pr_auc", "volspike.retrain.pr_auc_gain"):
        assert tags.get(k), (k, tags)
    assert len(d["challenger"]["sha256"]) == 64

    outcomes = records(outcomes_path)
    assert len(outcomes) > 1000, f"{len(outcomes)} outcomes"
    ids = [o["prediction_id"] for o in outcomes]
    assert len(set(ids)) == len(ids), "an outcome was published twice"
    for o in outcomes:
        assert o["matured_at_ns"] > o["event_time_ns"] + 60 * 10**9, o
        assert o["label"] == (o["target"] >= o["tau"]), o
    versions = sorted({o["model"]["version"] for o in outcomes})

    predictions = records(predictions_path)
    after = [p for p in predictions if p["model"]["version"] == "2"]
    assert after, "no prediction by version 2"
    assert min(p["event_time_ns"] for p in after) > first_drift, "version 2 scored before the drift"
    print(
        f"loop: {len(windows)} windows, {len(drifting)} with drift; retrain {d['retrain']} "
        f"({'; '.join(d['triggers'])}) {d['verdict']}: v2 against v1, PR-AUC gain {gain['estimate']:+.4f} "
        f"[{gain['lower']:+.4f}, {gain['upper']:+.4f}]; MLflow champion {champion.version}, tags on "
        f"version 2 and its run; {len(outcomes)} outcomes (models {', '.join(versions)}), "
        f"{len(after)} predictions by v2"
    )


if __name__ == "__main__":
    main()
