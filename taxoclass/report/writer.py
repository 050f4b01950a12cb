"""Writing a whole report (``report.json``, ``report.md``, figures): :func:`write_report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taxoclass._files import atomic_write, prepare_output_dir
from taxoclass._json import to_jsonable
from taxoclass.report.markdown import markdown_report
from taxoclass.report.plots import (plot_accuracy_vs_cost, plot_confusion_matrix, plot_reliability, plot_taxonomy_accuracy,
                                    plot_training_curves, _save)
from taxoclass.report.results import _check_results, COST_ROWS, _history_dict, _slug


# ---------------------------------------------------------------------------------------------------- all
def write_report(results, out_dir, overwrite: bool = False, *, title: str = "taxoclass report") -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and PNG figures for one or more evaluated models into ``out_dir``.

    Figures: ``confusion_<name>.png`` and ``taxonomy_<name>.png`` (per model, the latter when the result has a
    taxonomy), ``training_curves.png`` (when some model has a history) and ``accuracy_vs_cost.png`` (when some
    model has a cost figure). ``out_dir`` is claimed with :func:`taxoclass._files.prepare_output_dir`: a folder
    that holds files is refused unless ``overwrite=True``, and then the new report replaces it only once complete;
    a failure leaves ``out_dir`` as it was.

    Returns a dict file name -> path of the files written.

    >>> import tempfile
    >>> from taxoclass import Taxonomy
    >>> from taxoclass.metrics import evaluate_predictions
    >>> tax = Taxonomy.from_paths([["a", "x"], ["b", "y"]])
    >>> m = evaluate_predictions(["x", "y"], [[.9, .1], [.2, .8]], tax)
    >>> sorted(write_report([{"name": "m", "metrics": m}], tempfile.mkdtemp()))
    ['confusion_m.png', 'report.json', 'report.md']
    """
    results = _check_results(results)
    with prepare_output_dir(out_dir, overwrite=overwrite) as out:
        written = write_report_files(results, out.path, title=title)
    return {name: Path(out_dir) / name for name in written}


def write_report_files(results, folder, *, title: str = "taxoclass report") -> dict[str, Path]:
    """The files of :func:`write_report`, written (atomically, replacing report files there) into ``folder``,
    an output folder the caller has already claimed with :func:`taxoclass._files.prepare_output_dir`."""
    results = _check_results(results)
    out = Path(folder)
    plan: dict[str, Any] = {}
    for r in results:
        s = _slug(r["name"])
        plan[f"confusion_{s}.png"] = ("confusion", r)
        if r.get("taxonomy") is not None and r["metrics"].get("per_node"):
            plan[f"taxonomy_{s}.png"] = ("taxonomy", r)
        if r["metrics"].get("calibration"):
            plan[f"reliability_{s}.png"] = ("reliability", r)
    if any(_history_dict(r.get("history")) for r in results):
        plan["training_curves.png"] = ("curves", None)
    if any(r.get(k) is not None for r in results for k, *_ in COST_ROWS):
        plan["accuracy_vs_cost.png"] = ("cost", None)

    written: dict[str, Path] = {}
    captions: dict[str, str] = {}
    for fname, (kind, r) in plan.items():
        if kind == "confusion":
            m = r["metrics"]
            fig = plot_confusion_matrix(m["confusion_matrix"], m["classes"], taxonomy=r.get("taxonomy"),
                                        title=f"{r['name']}: confusion matrix (rows normalised)")
            captions[fname] = f"Confusion matrix: {r['name']}"
        elif kind == "taxonomy":
            fig = plot_taxonomy_accuracy(r["taxonomy"], r["metrics"]["per_node"],
                                         title=f"{r['name']}: per-node accuracy")
            captions[fname] = f"Per-node accuracy: {r['name']}"
        elif kind == "reliability":
            c = r["metrics"]["calibration"]
            fig = plot_reliability(c["reliability_before"], c["reliability_after"],
                                   title=f"{r['name']}: reliability (T = {c['temperature']:.3g})")
            captions[fname] = f"Reliability diagram: {r['name']}"
        elif kind == "curves":
            fig = plot_training_curves({x["name"]: x.get("history") for x in results if x.get("history")})
            captions[fname] = "Training curves"
        else:
            fig = plot_accuracy_vs_cost(results)
            captions[fname] = "Accuracy vs cost"
        _save(fig, out / fname)
        written[fname] = out / fname

    doc = {
        "title": title,
        "models": [{"name": r["name"], "metrics": r["metrics"], "history": _history_dict(r.get("history")),
                    "train_seconds": r.get("train_seconds"), "images_per_second": r.get("images_per_second"),
                    "n_params": r.get("n_params"), "taxonomy": r.get("taxonomy"),
                    **{k: v for k, v in r.items() if k not in {"name", "metrics", "history", "train_seconds",
                                                               "images_per_second", "n_params", "taxonomy"}}}
                   for r in results],
        "figures": list(plan),
    }
    text = json.dumps(to_jsonable(doc), indent=1, allow_nan=False)
    with atomic_write(out / "report.json", "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    written["report.json"] = out / "report.json"
    md = markdown_report(results, {captions[f]: f for f in plan}, title=title)
    with atomic_write(out / "report.md", "w", encoding="utf-8") as fh:
        fh.write(md)
    written["report.md"] = out / "report.md"
    return dict(sorted(written.items()))
