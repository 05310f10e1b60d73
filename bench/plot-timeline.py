#!/usr/bin/env python3
"""Plots what bench/adapt-bench.sh measured: throughput over time (results
per second, 5 s windows, from results.jsonl's receive times), with the change
and each new pipeline's first result marked, and the fresh plan's throughput
on the changed cluster (and 90% of it) for reference.

Usage: bench/plot-timeline.py OUT_PNG TITLE RUN_DIR
Needs python3-matplotlib (Debian)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    png, title, run = sys.argv[1:]
    rs = [json.loads(l) for l in open(f"{run}/outputs/results.jsonl") if l.strip()]
    summary = json.load(open(f"{run}/summary.json"))
    t0 = min(r["received_unix_s"] for r in rs)
    end = max(r["received_unix_s"] for r in rs) - t0
    xs, ys = [], []
    t = 0.0
    while t + 5 <= end:  # full windows only
        n = sum(1 for r in rs if t <= r["received_unix_s"] - t0 < t + 5)
        xs.append(t + 2.5)
        ys.append(n / 5)
        t += 1
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot(xs, ys, color="black", linewidth=1.2, label="results/s (5 s window)")
    fresh = summary.get("fresh_per_s")
    if fresh:
        ax.axhline(fresh, color="tab:green", linestyle=":", label=f"fresh plan on the changed cluster ({fresh:.2f}/s)")
        ax.axhline(0.9 * fresh, color="tab:green", linestyle="--", linewidth=0.8, label="90% of it")
    if summary.get("victim") != "none":
        ax.axvline(summary["change_s"], color="tab:red", label=f"change ({summary['victim']})")
    first = {}
    for r in rs:
        p = r["pipeline"]
        first[p] = min(first.get(p, float("inf")), r["received_unix_s"] - t0)
    for i, p in enumerate(sorted(first)[1:]):
        ax.axvline(first[p], color="tab:blue", linestyle="--",
                   label="new pipeline's first result" if i == 0 else None)
    ax.set_xlabel("seconds since the first result")
    ax.set_ylabel("results/s")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
