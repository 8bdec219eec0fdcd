"""The alert policy and the alert-level metrics of docs/models.md, written
again from their definitions in plain Python and numpy, independent of the
Rust code in crates/volspike-model/src/alerts.rs, for the parity test
(crates/volspike-train/tests/alert_parity.rs).

Reads predictions (CSV: product_id, event_time_ns, tie, score, label) and
writes, per case, the alerts the budget policy raises and the metrics:

    $(scripts/python-env.sh) scripts/python/alert_reference.py

It writes crates/volspike-train/tests/fixtures/alerts/expected.json from
the prediction files in that folder: `shared.csv` (held-out predictions of
a leave-one-recorder-out model on a shared recording) and `synthetic.csv`
(made here with a fixed seed: two products, gaps, ties, several rows per
second, and unlabeled rows at the end, whose alerts are not judged). An empty
label is a row that is scored but not labeled.
"""

import csv
import json
import math
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parents[2] / "crates/volspike-train/tests/fixtures/alerts"
NS = 1_000_000_000
MARKET_GAP_S = 300


# ---- the policy ----------------------------------------------------------

def gate_step(state, t_ns, score, threshold, rearm, cooldown_ns):
    """One row through the gate; state is [armed, last_alert_ns or None]."""
    if score >= threshold:
        if state[0] and (state[1] is None or t_ns - state[1] >= cooldown_ns):
            state[0] = False
            state[1] = t_ns
            return True
    elif score <= rearm:
        state[0] = True
    return False


def market_seconds(seconds):
    total = 0
    prev = None
    for t in seconds:
        if prev is None or t - prev > MARKET_GAP_S:
            total += 1
        else:
            total += t - prev
        prev = t
    return total


def budget_levels(streams, per_hour, cooldown_ns):
    """(threshold, re-arm level): the re-arm level is the lower median of
    all samples; the threshold the lowest sample score above it (or just
    above the highest) whose gated alert count over the streams is within
    the budget, by binary search over the sorted distinct candidates."""
    seconds = sum(market_seconds([t for t, _ in s]) for s in streams)
    values = sorted(v for s in streams for _, v in s if math.isfinite(v))
    if not values:
        return None
    rearm = values[math.ceil(len(values) / 2) - 1]
    cands = sorted({v for v in values if v > rearm})
    allowed = max(math.floor(per_hour * seconds / 3600.0), 0)

    def count(h):
        n = 0
        for s in streams:
            st = [True, None]
            n += sum(gate_step(st, t * NS, v, h, rearm, cooldown_ns) for t, v in s)
        return n

    lo, hi = 0, len(cands)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(cands[mid]) <= allowed:
            hi = mid
        else:
            lo = mid + 1
    threshold = cands[lo] if lo < len(cands) else float(np.nextafter(values[-1], np.inf))
    return threshold, rearm


def budget_alerts(rows, cfg, fallback):
    """rows: (product, t_ns, tie, score) in (t, tie) order per product;
    fallback: (threshold, re-arm level). Returns (product, t_ns, tie, score,
    threshold) of each alert."""
    out = []
    state = {}
    cooldown = cfg["cooldown_s"] * NS
    for p, t, tie, score in rows:
        s = state.setdefault(p, dict(gate=[True, None], samples=[], cur=None, levels=None, last=None))
        sec = t // NS
        if s["cur"] is None or sec > s["cur"][0]:
            if s["cur"] is not None:
                s["samples"].append(tuple(s["cur"]))
            oldest = sec - cfg["window_s"]
            s["samples"] = [x for x in s["samples"] if x[0] >= oldest]
            if s["last"] is None or sec - s["last"] >= max(cfg["refresh_s"], 1):
                s["last"] = sec
                if market_seconds([x[0] for x in s["samples"]]) >= cfg["min_history_s"]:
                    s["levels"] = budget_levels([s["samples"]], cfg["per_hour"], cooldown)
                else:
                    s["levels"] = None
            s["cur"] = [sec, score]
        elif sec == s["cur"][0]:
            s["cur"][1] = score
        thr, rearm = fallback if s["levels"] is None else s["levels"]
        if gate_step(s["gate"], t, score, thr, rearm, cooldown):
            out.append((p, t, tie, score, thr))
    return out


# ---- the metrics ---------------------------------------------------------

def alert_metrics(rows, alerts, horizon_ns):
    """rows: (product, t_ns, spike); alerts: (product, t_ns)."""
    gap = MARKET_GAP_S * NS
    products = sorted({p for p, _, _ in rows})
    market = 0
    episodes = caught = 0
    leads = []
    useful = set()
    judged = set()
    windows = []
    for p in products:
        times = sorted(t for q, t, _ in rows if q == p)
        spikes = sorted(t for q, t, y in rows if q == p and y)
        spans = []
        for t in times:
            if spans and t - spans[-1][1] <= gap:
                spans[-1][1] = t
            else:
                spans.append([t, t])
        market += sum(e - s for s, e in spans)
        eps = []
        for t in spikes:
            if eps and t - eps[-1][1] <= horizon_ns:
                eps[-1][1] = t
            else:
                eps.append([t, t])
        mine = [(t, i) for i, (q, t) in enumerate(alerts) if q == p]
        # Alerts outside the product's market hours are not judged.
        judged.update(i for t, i in mine if any(a <= t <= b for a, b in spans))
        for start, end in eps:
            episodes += 1
            lo = start - horizon_ns
            hits = [(t, i) for t, i in mine if lo <= t <= end and i in judged]
            if hits:
                caught += 1
                leads.append((start - min(hits)[0]) / 1e9)
                useful.update(i for _, i in hits)
            windows.append(sum(max(min(b, end) - max(a, lo), 0) for a, b in spans))
    hours = market / 3.6e12
    useful &= judged
    n = len(judged)
    fa = n - len(useful)
    rate = n / hours if hours > 0 else None
    rr = (float(np.mean([1 - math.exp(-rate * w / 3.6e12) for w in windows]))
          if rate is not None and episodes else None)
    lead = None
    if leads:
        lead = dict(median_s=float(np.percentile(leads, 50)), p10_s=float(np.percentile(leads, 10)),
                    p90_s=float(np.percentile(leads, 90)))
    return dict(
        episodes=episodes, caught=caught, recall=caught / episodes if episodes else None,
        lead_time=lead, alerts=n, false_alerts=fa, market_hours=hours,
        alerts_per_hour=rate, false_alerts_per_hour=fa / hours if hours > 0 else None,
        alerts_per_caught_episode=len(useful) / caught if caught else None, random_recall=rr,
    )


# ---- fixtures ------------------------------------------------------------

def synthetic():
    """Two products over 50 minutes with a 10-minute gap in one, several
    rows per second, ties, and scores that drift in level."""
    rng = np.random.default_rng(20261207)
    rows = []
    for p, shift in (("BTC-USD", 0.0), ("ETH-USD", -0.03)):
        t = 1_775_000_000 * NS
        level = 0.05
        for _ in range(9000):
            t += int(rng.exponential(0.35) * NS)
            if p == "ETH-USD" and 1_775_000_000 * NS + 1200 * NS < t < 1_775_000_000 * NS + 1800 * NS:
                t = 1_775_000_000 * NS + 1800 * NS  # the gap
            level = min(max(level + rng.normal(0, 0.004), 0.005), 0.6)
            burst = rng.random() < 0.004
            score = float(np.clip(level + shift + (0.3 if burst else 0) + rng.normal(0, 0.01), 0.0, 1.0))
            label = bool(burst or score > 0.2)
            rows.append((p, t, 0, round(score, 3), label))
            if rng.random() < 0.05:  # a second tick with the same timestamp
                rows.append((p, t, 1, round(score, 3), label))
    # The last 90 s of each product are scored but unlabeled (the forward
    # window is incomplete), as at the end of a recording.
    last = {}
    for p, t, *_ in rows:
        last[p] = max(last.get(p, t), t)
    rows = [(p, t, tie, sc, None if t > last[p] - 90 * NS else y) for p, t, tie, sc, y in rows]
    rows.sort(key=lambda r: (r[1], r[0], r[2]))
    return rows


def read(path):
    with open(path) as f:
        return [(r["product_id"], int(r["event_time_ns"]), int(r["tie"]), float(r["score"]),
                 None if r["label"] == "" else r["label"] in ("true", "True", "1"))
                for r in csv.DictReader(f)]


def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["product_id", "event_time_ns", "tie", "score", "label"])
        for p, t, tie, s, y in rows:
            w.writerow([p, t, tie, repr(s), "" if y is None else ("true" if y else "false")])


CASES = [
    # (file, policy config, fallback (threshold, re-arm level))
    ("shared.csv", dict(per_hour=8.0, window_s=1800, refresh_s=60, min_history_s=120, cooldown_s=60), (0.3, 0.1)),
    ("synthetic.csv", dict(per_hour=8.0, window_s=1800, refresh_s=60, min_history_s=120, cooldown_s=60), (0.5, 0.2)),
    ("synthetic.csv", dict(per_hour=20.0, window_s=600, refresh_s=10, min_history_s=300, cooldown_s=30), (0.05, 0.01)),
]


def main():
    HERE.mkdir(parents=True, exist_ok=True)
    if not (HERE / "synthetic.csv").exists():
        write(HERE / "synthetic.csv", synthetic())
    out = []
    for name, cfg, fallback in CASES:
        rows = read(HERE / name)
        ordered = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
        alerts = budget_alerts([(p, t, tie, s) for p, t, tie, s, _ in ordered], cfg, fallback)
        m = alert_metrics([(p, t, y) for p, t, _, _, y in rows if y is not None],
                          [(p, t) for p, t, *_ in alerts], 60 * NS)
        out.append(dict(file=name, policy=cfg, fallback=fallback[0], fallback_rearm=fallback[1],
                        alerts=[dict(product_id=p, event_time_ns=t, tie=tie, probability=s, threshold=h)
                                for p, t, tie, s, h in alerts],
                        metrics=m))
        print(f"{name} budget {cfg['per_hour']}: {len(alerts)} alerts, {m['caught']}/{m['episodes']} caught")
    (HERE / "expected.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
