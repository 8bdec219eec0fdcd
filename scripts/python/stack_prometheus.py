"""Rewrites deploy/prometheus/prometheus.yml for scripts/stack.sh: the same
jobs, rules and intervals, with each job's targets on 127.0.0.1 (the stack
runs the services as processes, not behind compose's service names).

usage: stack_prometheus.py OUT JOB=HOST:PORT[,HOST:PORT...]...

Every job of the file must be given its targets: a job added to the compose
Prometheus and forgotten here is an error, not a silently missing target.
"""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "deploy/prometheus/prometheus.yml"


def main(out, pairs):
    targets = {}
    for pair in pairs:
        job, _, hosts = pair.partition("=")
        if not hosts:
            sys.exit(f"expected JOB=HOST:PORT[,...], got {pair!r}")
        targets[job] = hosts.split(",")
    config = yaml.safe_load(SOURCE.read_text())
    jobs = [j["job_name"] for j in config["scrape_configs"]]
    if sorted(jobs) != sorted(targets):
        sys.exit(f"{SOURCE} has the jobs {sorted(jobs)}; targets were given for {sorted(targets)}")
    for job in config["scrape_configs"]:
        # dns_sd_configs (the scaled featurizers) becomes a static list.
        for key in [k for k in job if k.endswith("_sd_configs")]:
            del job[key]
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    # Rules stay where they are, so the stack evaluates the tested file.
    config["rule_files"] = [str((SOURCE.parent / f).resolve()) for f in config.get("rule_files", [])]
    Path(out).write_text(yaml.safe_dump(config, sort_keys=False))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
