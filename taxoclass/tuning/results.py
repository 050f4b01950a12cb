"""What a search writes: ``trials.csv``, ``best_config.json`` (``{"arguments": {train_job keyword arguments}}``,
read by ``taxoclass train --config``), ``search.png`` (objective per trial and objective vs cost with the Pareto
front) and, for an accuracy-vs-cost search, ``pareto.csv``. Every file is written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from taxoclass.tuning.space import MINIMIZED

__all__ = ["best_trial", "trial_rows", "write_results", "pareto_front"]

_ATTRS = ("train_seconds", "epochs_run", "n_params", "val_accuracy", "stopped", "retry_of", "run_dir", "host",
          "pid")


def best_trial(study):
    """The best finished trial: the study's best (one objective), or the front's best on the first objective
    (accuracy vs cost); None when no trial has finished."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    if len(study.directions) == 1:
        return study.best_trial
    sign = 1 if study.directions[0].name.lower() == "minimize" else -1
    return min(study.best_trials, key=lambda t: (sign * t.values[0], t.values[1]))


def pareto_front(points, minimize=(False, True)) -> list[int]:
    """Indices of the non-dominated ``points`` ((objective, cost) pairs), sorted by cost.

    >>> pareto_front([(0.9, 10.0), (0.8, 5.0), (0.7, 8.0), (0.95, 30.0)])
    [1, 0, 3]
    """
    sign = [1 if m else -1 for m in minimize]
    pts = [(sign[0] * a, sign[1] * b) for a, b in points]
    keep = [i for i, p in enumerate(pts)
            if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts)]
    return sorted(keep, key=lambda i: (points[i][1], i))


def trial_rows(study, objective: str, cost: str | None) -> list[dict]:
    """One dict per trial: number, state, objective (and cost), the trial's records and its knob values."""
    trials = study.get_trials(deepcopy=False)
    names = list(dict.fromkeys(k for t in trials for k in [*t.user_attrs.get("arguments", {}), *t.params]))
    rows = []
    for t in trials:
        row = {"trial": t.number, "state": t.state.name.lower()}
        values = t.values or [None] * len(study.directions)
        row[objective] = values[0]
        if cost is not None:
            row[f"cost_{cost}"] = values[1]
        if t.state.name == "PRUNED" and t.intermediate_values:
            row["last_reported"] = t.intermediate_values[max(t.intermediate_values)]
        for key in _ATTRS:
            row[key] = t.user_attrs.get(key)
        row["seconds"] = None if t.duration is None else t.duration.total_seconds()
        args = t.user_attrs.get("arguments", {})
        for n in names:
            v = args.get(n, t.params.get(n))
            row[n] = ",".join(map(str, v)) if isinstance(v, list) else v
        rows.append(row)
    return rows


def _csv(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r)) or ["trial", "state"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in cols})
    return buf.getvalue()


def write_results(study, folder, *, objective: str, cost: str | None, base: dict, settings: dict) -> dict:
    """Write the files of a study into ``folder``; returns {kind: path} of those written."""
    from taxoclass._files import atomic_write

    folder = Path(folder)
    rows = trial_rows(study, objective, cost)
    files = {}
    with atomic_write(folder / "trials.csv") as fh:
        fh.write(_csv(rows))
    files["trials"] = folder / "trials.csv"
    best = best_trial(study)
    if best is not None:
        config = {"arguments": {**base, **best.user_attrs.get("arguments", {})},
                  "tune": {"trial": best.number, "objective": objective, "value": best.values[0],
                           "cost": cost, "cost_value": best.values[1] if cost else None,
                           "study_name": study.study_name, "run_dir": best.user_attrs.get("run_dir"),
                           "data": settings.get("data"), "from_confusion": settings.get("from_confusion")}}
        with atomic_write(folder / "best_config.json") as fh:
            json.dump(config, fh, indent=2)
            fh.write("\n")
        files["best_config"] = folder / "best_config.json"
    if cost is not None:
        front = [t.number for t in sorted(study.best_trials, key=lambda t: (t.values[1], t.number))]
        by_number = {r["trial"]: r for r in rows}
        with atomic_write(folder / "pareto.csv") as fh:  # the front, cheapest first
            fh.write(_csv([by_number[n] for n in front]))
        files["pareto"] = folder / "pareto.csv"
    if rows:
        plot_search(rows, folder / "search.png", objective=objective, cost=cost)
        files["plot"] = folder / "search.png"
    return files


def plot_search(rows: list[dict], path, *, objective: str, cost: str | None) -> None:
    """search.png: the objective of every trial (pruned ones at their last reported value, the best so far as a
    line), and the objective against the cost (training seconds unless ``cost`` names another) with the Pareto
    front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from taxoclass._files import atomic_write

    lower = objective in MINIMIZED
    done = [r for r in rows if r["state"] == "complete" and r[objective] is not None]
    pruned = [r for r in rows if r["state"] == "pruned" and r.get("last_reported") is not None]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.scatter([r["trial"] for r in done], [r[objective] for r in done], label="finished", color="C0")
    a.scatter([r["trial"] for r in pruned], [r["last_reported"] for r in pruned], marker="x", color="grey",
              label="pruned (last validation value)")
    best, line = None, []
    for r in sorted(done, key=lambda r: r["trial"]):
        v = r[objective]
        best = v if best is None or (v < best if lower else v > best) else best
        line.append((r["trial"], best))
    if line:
        a.step(*zip(*line), where="post", color="C1", label="best so far")
    a.set_xlabel("trial")
    a.set_ylabel(f"validation {objective}")
    a.set_title("objective per trial")
    a.legend(fontsize=8)
    key = f"cost_{cost}" if cost else "train_seconds"
    pts = [r for r in done if r.get(key) is not None]
    b.scatter([r[key] for r in pts], [r[objective] for r in pts], color="C0")
    if pts:
        front = [pts[i] for i in pareto_front([(r[objective], r[key]) for r in pts], (lower, True))]
        b.plot([r[key] for r in front], [r[objective] for r in front], "-o", color="C3", label="Pareto front")
        b.legend(fontsize=8)
    b.set_xlabel({"cost_params": "parameters", "cost_seconds": "training seconds"}.get(key, "training seconds"))
    b.set_ylabel(f"validation {objective}")
    b.set_title(f"{objective} vs cost")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
