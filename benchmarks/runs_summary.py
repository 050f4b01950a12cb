"""Mean, spread and count of repeated runs, from the ``metrics.json`` that ``taxoclass evaluate`` wrote; prints JSON.

One 10-minute run varies by about +-1.3 points of top-1 from run to run, so a claim about two models rests on
several runs of each. Give each model a label and its evaluation folders:

    .venv/bin/python benchmarks/runs_summary.py flat=p_flat_eval,r2_ce_eval tree=p_tree_eval,r6_tree_eval

For each label: the number of runs, mean / min / max of top-1, and the means of top-5, balanced accuracy, hF1
(micro), mistake severity and hierarchical distance@1; then, for every other label, the difference of the mean
top-1 from the first label's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

KEYS = {"top1": "accuracy", "top5": "top_k_accuracy", "balanced_accuracy": "balanced_accuracy",
        "hf1_micro": "hierarchical_f1_micro", "severity": "mistake_severity",
        "distance_at_1": "hierarchical_distance_at_1"}


def summary(folders: list[str]) -> dict:
    rows = []
    for f in folders:
        path = Path(f) / "metrics.json"
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: pass folders written by `taxoclass evaluate -o`.")
        m = json.loads(path.read_text())
        rows.append({k: float(m[v]) for k, v in KEYS.items()})
    top1 = np.array([r["top1"] for r in rows])
    out = {"runs": len(rows), "top1": [round(float(v), 4) for v in top1], "top1_mean": round(float(top1.mean()), 4),
           "top1_min": round(float(top1.min()), 4), "top1_max": round(float(top1.max()), 4)}
    for k in KEYS:
        if k != "top1":
            out[f"{k}_mean"] = round(float(np.mean([r[k] for r in rows])), 4)
    return out


def main(argv: list[str]) -> None:
    if not argv or any("=" not in a for a in argv):
        raise SystemExit(__doc__)
    groups = {}
    for arg in argv:
        label, _, folders = arg.partition("=")
        groups[label] = summary([f for f in folders.split(",") if f])
    first = next(iter(groups))
    for label, g in groups.items():
        if label != first:
            g[f"top1_mean_minus_{first}"] = round(g["top1_mean"] - groups[first]["top1_mean"], 4)
    print(json.dumps(groups, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
