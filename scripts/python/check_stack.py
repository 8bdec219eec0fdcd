"""Checks the stack of scripts/stack.sh through its Prometheus and the
services' /metrics (the e2e's `stack` stage).

`ready PROMETHEUS SECONDS ADMIN_PORT...`: within SECONDS,
  - every scrape target Prometheus has is up, one per job of
    deploy/prometheus/prometheus.yml at least;
  - Prometheus has loaded every alert rule of deploy/prometheus/alerts.yml;
  - every metric the rules and the Grafana dashboard name is on some
    service's /metrics (scripts/python/deploy_queries.py);
  - every dashboard query evaluates, and returns data;
  then no alert of the ingestor (not receiving, reconnect storm) is pending
  or firing: the feed flows.

`fires PROMETHEUS ALERT SECONDS`: ALERT is firing within SECONDS.

Prints what it waits for; on a timeout, says what is still missing.
"""

import json
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from deploy_queries import metric_names, queries

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = ROOT / "deploy/prometheus/prometheus.yml"
ALERTS_YML = ROOT / "deploy/prometheus/alerts.yml"
INGESTOR_ALERTS = {"VolspikeIngestorNotReceiving", "VolspikeReconnectStorm"}


def api(prom, path, **params):
    url = f"{prom}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    return body["data"]


def exposed(ports):
    """Metric names on the services' /metrics (a histogram by its own name)."""
    names = set()
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name = line.split("{", 1)[0].split(" ", 1)[0]
                names.add(name.removesuffix("_bucket"))
    return names


def targets_missing(prom):
    jobs = {j["job_name"] for j in yaml.safe_load(PROMETHEUS_YML.read_text())["scrape_configs"]}
    active = api(prom, "targets")["activeTargets"]
    up = {t["labels"]["job"] for t in active if t["health"] == "up"}
    down = [f'{t["labels"]["job"]} {t["scrapeUrl"]} ({t["health"]}: {t["lastError"]})'
            for t in active if t["health"] != "up"]
    return [f"no target up for job {j}" for j in sorted(jobs - up)] + [f"target down: {d}" for d in down]


def rules_missing(prom):
    want = {r["alert"] for g in yaml.safe_load(ALERTS_YML.read_text())["groups"] for r in g["rules"]
            if "alert" in r}
    loaded = {r["name"] for g in api(prom, "rules", type="alert")["groups"] for r in g["rules"]}
    return [f"alert rule not loaded: {a}" for a in sorted(want - loaded)]


def queries_missing(prom):
    out = []
    for title, expr in queries():
        try:
            result = api(prom, "query", query=expr)["result"]
        except Exception as e:  # noqa: BLE001 - reported, and the wait goes on
            out.append(f"dashboard query fails ({title}): {expr}: {e}")
            continue
        if not result:
            out.append(f"dashboard query has no data ({title}): {expr}")
    return out


def wait(what, seconds, check):
    deadline = time.monotonic() + seconds
    while True:
        missing = check()
        if not missing:
            print(f"check_stack: {what}: ok")
            return
        if time.monotonic() > deadline:
            sys.exit(f"check_stack: {what}: not within {seconds:.0f} s:\n  " + "\n  ".join(missing))
        time.sleep(2)


def alerts(prom):
    return {(a["labels"]["alertname"], a["state"]) for a in api(prom, "alerts")["alerts"]}


def ready(prom, seconds, ports):
    start = time.monotonic()
    left = lambda: max(1, seconds - (time.monotonic() - start))  # noqa: E731
    wait("every target up", left(), lambda: targets_missing(prom))
    wait("every alert rule loaded", left(), lambda: rules_missing(prom))
    names = metric_names()
    wait(f"the {len(names)} metrics of the rules and dashboard exposed", left(),
         lambda: [f"not on any /metrics: {n}" for n in sorted(names - exposed(ports))])
    n = sum(1 for _ in queries())
    wait(f"the {n} dashboard queries evaluate and have data", left(), lambda: queries_missing(prom))
    active = {a for a in alerts(prom) if a[0] in INGESTOR_ALERTS}
    if active:
        sys.exit(f"check_stack: ingestor alerts while the feed flows: {sorted(active)}")
    print(f"check_stack: alerts now: {sorted(alerts(prom)) or 'none'}")


def fires(prom, alert, seconds):
    start = time.monotonic()
    wait(f"{alert} firing", seconds, lambda: [] if (alert, "firing") in alerts(prom)
         else [f"{alert} is not firing; alerts: {sorted(alerts(prom))}"])
    print(f"check_stack: {alert} fired {time.monotonic() - start:.0f} s into the wait")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) >= 4 and args[0] == "ready":
        ready(args[1], float(args[2]), args[3:])
    elif len(args) == 4 and args[0] == "fires":
        fires(args[1], args[2], float(args[3]))
    else:
        sys.exit(__doc__)
