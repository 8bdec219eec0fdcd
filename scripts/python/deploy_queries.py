"""The PromQL of the Grafana dashboard and the alert rules.

`rules OUT`: writes the dashboard's queries as a Prometheus rules file (one
recording rule per query), so `promtool check rules OUT` parses every query.
Also fails when a panel or query names another datasource than the
provisioned one.

`metrics`: prints each volspike metric the rules and the dashboard name (a
histogram's `_bucket` series as the histogram), one per line, for the e2e
to look for on the running services' /metrics.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/dashboards/volspike.json"
RULES = ROOT / "deploy/prometheus/alerts.yml"
DATASOURCE = "volspike-prometheus"


def queries():
    dash = json.loads(DASHBOARD.read_text())
    for panel in dash["panels"]:
        for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"]]:
            if ds is not None and ds.get("uid") != DATASOURCE:
                sys.exit(f"panel {panel['title']!r} uses datasource {ds!r}, not {DATASOURCE}")
        for t in panel["targets"]:
            yield panel["title"], t["expr"]


def write_rules(out):
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (title, expr) in enumerate(queries()):
        lines.append(f"      - record: dashboard:query_{i}")
        lines.append(f"        expr: {json.dumps(expr)}")
        lines.append(f"        labels: {{panel: {json.dumps(title)}}}")
    Path(out).write_text("\n".join(lines) + "\n")


def metric_names():
    """Each volspike metric the alert rules and the dashboard name."""
    text = RULES.read_text() + "\n".join(e for _, e in queries())
    names = set(re.findall(r"\bvolspike_[a-z0-9_]+", text))
    # A regex matcher on __name__ names several: volspike_(a|b)_x.
    for m in re.finditer(r'__name__=~"volspike_\(([a-z_|]+)\)_([a-z_]+)"', text):
        for part in m.group(1).split("|"):
            names.add(f"volspike_{part}_{m.group(2)}")
    names = {re.sub(r"_bucket$", "", n) for n in names}
    # What the regex alone catches of the matcher above is not a name.
    return {n for n in names if not n.endswith("_")}


if __name__ == "__main__":
    if sys.argv[1:2] == ["rules"] and len(sys.argv) == 3:
        write_rules(sys.argv[2])
    elif sys.argv[1:] == ["metrics"]:
        print("\n".join(sorted(metric_names())))
    else:
        sys.exit(__doc__)
