"""Evaluation reports: ``report.json``, ``report.md`` and PNG figures comparing one or more models.

Each model is described by a dict (``results`` below)::

    {"name": "flat inception_v3",                 # unique; also names its figure files
     "metrics": evaluate_predictions(...),        # taxoclass.metrics.evaluate_predictions output
     "history": {"loss": [...], "val_loss": [...], "accuracy": [...], ...},   # optional (Keras History.history)
     "train_seconds": 812.4, "images_per_second": 153.0, "n_params": 21_800_000,  # optional costs
     "taxonomy": Taxonomy}                        # optional: the tree its hierarchical metrics used

:func:`write_report` writes everything; the ``plot_*`` functions return matplotlib Figures (drawn with the Agg
canvas, no pyplot and no global backend switch) for use in notebooks. Matplotlib is imported lazily.

Examples
--------
>>> import tempfile
>>> from taxoclass import Taxonomy
>>> from taxoclass.metrics import evaluate_predictions
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> m = evaluate_predictions(["x", "y", "z"], [[.7, .2, .1], [.6, .3, .1], [.1, .1, .8]], tax, k=2)
>>> out = tempfile.mkdtemp()
>>> files = write_report([{"name": "demo", "metrics": m, "taxonomy": tax}], out)
>>> sorted(files)[:3]
['confusion_demo.png', 'report.json', 'report.md']
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from taxoclass._files import atomic_write, check_writable
from taxoclass.exceptions import TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy

__all__ = ["write_report", "markdown_report", "plot_confusion_matrix", "plot_taxonomy_accuracy",
           "plot_training_curves", "plot_accuracy_vs_cost"]

# (metrics key, label, "higher" | "lower" is better, format)
SUMMARY_ROWS = [
    ("accuracy", "top-1 accuracy", "higher", "{:.4f}"),
    ("top_k_accuracy", "top-k accuracy", "higher", "{:.4f}"),
    ("balanced_accuracy", "balanced accuracy", "higher", "{:.4f}"),
    ("f1_macro", "macro F1 (flat)", "higher", "{:.4f}"),
    ("hierarchical_f1_micro", "hierarchical F1 (micro)", "higher", "{:.4f}"),
    ("hierarchical_f1_macro", "hierarchical F1 (macro)", "higher", "{:.4f}"),
    ("hierarchical_precision_micro", "hierarchical precision (micro)", "higher", "{:.4f}"),
    ("hierarchical_recall_micro", "hierarchical recall (micro)", "higher", "{:.4f}"),
    ("mistake_severity", "mistake severity (mean LCA height of errors)", "lower", "{:.3f}"),
    ("hierarchical_distance_at_1", "avg hierarchical distance@1", "lower", "{:.3f}"),
    ("hierarchical_distance_at_k", "avg hierarchical distance@k", "lower", "{:.3f}"),
    ("n_samples", "test samples", None, "{:d}"),
]
COST_ROWS = [
    ("train_seconds", "training time (s)", "lower", "{:.1f}"),
    ("images_per_second", "prediction speed (images/s)", "higher", "{:.1f}"),
    ("n_params", "parameters", "lower", "{:,d}"),
]


# ---------------------------------------------------------------------------------------------------- helpers
def _jsonable(obj):
    """Numpy scalars/arrays -> Python; NaN/inf -> None; Taxonomy -> dict; Keras History -> its dict."""
    if isinstance(obj, Taxonomy):
        return {"root": obj.root[-1], "artificial_root": bool(obj.artificial_root), "classes": list(obj.classes),
                "leaf_paths": [list(p) for p in obj.leaf_paths(include_root=True)]}
    if hasattr(obj, "history") and isinstance(getattr(obj, "history"), dict):
        return _jsonable(obj.history)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TaxoclassError(f"cannot write a {type(obj).__name__} to report.json; expected numbers, strings, lists "
                         "and dicts (as returned by taxoclass.metrics.evaluate_predictions).")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "model"


def _history_dict(h) -> dict:
    if h is None:
        return {}
    if hasattr(h, "history") and isinstance(h.history, dict):
        h = h.history
    if not isinstance(h, dict):
        raise TaxoclassError(f"a result's 'history' must be a dict of lists (Keras History.history), got "
                             f"{type(h).__name__}.")
    return h


def _check_results(results) -> list[dict]:
    if isinstance(results, dict):
        results = [results]
    if not isinstance(results, (list, tuple)) or not results:
        raise TaxoclassError("write_report needs a non-empty list of result dicts "
                             "({'name': ..., 'metrics': evaluate_predictions(...), ...}).")
    seen: dict[str, str] = {}
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise TaxoclassError(f"result {i + 1} is a {type(r).__name__}; expected a dict with 'name' and 'metrics'.")
        name = r.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TaxoclassError(f"result {i + 1} has no 'name'; give each model a non-empty name.")
        m = r.get("metrics")
        if not isinstance(m, dict) or "accuracy" not in m:
            raise TaxoclassError(f"result {name!r}: 'metrics' must be the dict returned by "
                                 "taxoclass.metrics.evaluate_predictions.")
        tax = r.get("taxonomy")
        if tax is not None and not isinstance(tax, Taxonomy):
            raise TaxoclassError(f"result {name!r}: 'taxonomy' must be a Taxonomy (or absent), got "
                                 f"{type(tax).__name__}.")
        slug = _slug(name)
        if slug in seen:
            raise TaxoclassError(f"results {seen[slug]!r} and {name!r} have the same name (for file names); "
                                 "give each model a distinct name.")
        seen[slug] = name
        _history_dict(r.get("history"))
    return list(results)


def _save(fig, path: Path) -> None:
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=fig.dpi)


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    try:
        if "d}" in fmt:
            return fmt.format(int(round(float(value))))
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return str(value)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(s):
        return str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- figures
def plot_confusion_matrix(cm, classes, *, taxonomy: Taxonomy | None = None, title: str = "", normalize: bool = True):
    """Heat map of a confusion matrix (rows = true class, columns = predicted), readable up to a few hundred classes.

    Rows are normalised to recall (``normalize=True``), on a square-root colour scale. With a ``taxonomy``, classes are shown in tree order and
    thin lines separate the groups of the first tree level with three or more groups, so confusions inside a group form blocks on the diagonal. Returns a
    matplotlib Figure.

    >>> fig = plot_confusion_matrix([[3, 1], [0, 4]], ["cat", "dog"])
    >>> fig.axes[0].get_xlabel()
    'predicted class'
    """
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=np.float64)
    classes = list(classes)
    C = len(classes)
    if cm.shape != (C, C):
        raise TaxoclassError(f"confusion matrix of shape {cm.shape} does not match {C} classes.")
    order = np.arange(C)
    bounds: list[int] = []
    if taxonomy is not None and set(taxonomy.classes) == set(classes):
        pos = {c: i for i, c in enumerate(classes)}
        tree_order = [leaf[-1] for leaf in sorted(taxonomy.leaves, key=taxonomy.node_index)]
        order = np.array([pos[c] for c in tree_order])
        paths = [taxonomy.node(c) for c in tree_order]
        groups = [p[:2] for p in paths]
        for d in range(2, max(len(p) for p in paths)):  # the shallowest level with >= 3 groups
            if len({p[:d] for p in paths}) >= 3:
                groups = [p[:d] for p in paths]
                break
        if len(set(groups)) < C:  # no lines when every class is its own group
            bounds = [i for i in range(1, C) if groups[i] != groups[i - 1]]
    m = cm[np.ix_(order, order)]
    if normalize:
        rs = m.sum(axis=1, keepdims=True)
        m = np.divide(m, rs, out=np.zeros_like(m), where=rs > 0)
    names = [classes[i] for i in order]
    side = float(np.clip(0.16 * C + 3.0, 5.0, 36.0))
    fig = Figure(figsize=(side + 1.2, side), dpi=150 if C <= 60 else 130, layout="constrained")
    ax = fig.add_subplot()
    # square-root colour scale: small off-diagonal shares stay visible next to a bright diagonal
    norm = PowerNorm(0.5, vmin=0.0, vmax=1.0 if normalize else max(float(m.max()), 1.0))
    im = ax.imshow(m, cmap="viridis", norm=norm, interpolation="nearest")
    fs = float(np.clip(500.0 / max(C, 1), 3.5, 10.0))
    ax.set_xticks(np.arange(C), labels=names, rotation=90, fontsize=fs)
    ax.set_yticks(np.arange(C), labels=names, fontsize=fs)
    for b in bounds:
        ax.axhline(b - 0.5, color="white", lw=0.4, alpha=0.7)
        ax.axvline(b - 0.5, color="white", lw=0.4, alpha=0.7)
    if C <= 20:
        for i in range(C):
            for j in range(C):
                if cm[order[i], order[j]]:
                    ax.text(j, i, f"{int(cm[order[i], order[j]])}", ha="center", va="center", fontsize=7,
                            color="black" if m[i, j] > 0.6 else "white")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or ("confusion matrix (rows normalised: recall on the diagonal)" if normalize
                           else "confusion matrix"))
    fig.colorbar(im, ax=ax, shrink=0.6, label="share of the true class" if normalize else "count")
    return fig


def plot_taxonomy_accuracy(taxonomy: Taxonomy, per_node: dict, *, title: str = "",
                           key: str = "accuracy"):
    """The taxonomy drawn top-down (dendrogram-like), each internal node coloured by its per-node accuracy.

    ``per_node`` is ``evaluate_predictions(...)["per_node"]`` (keys are ``/``-joined node paths). Nodes without
    samples are grey; marker area grows with the number of samples; internal nodes are labelled with their name and
    accuracy, classes along the bottom. Returns a matplotlib Figure.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> fig = plot_taxonomy_accuracy(tax, {"root": {"accuracy": 0.9, "n": 10}, "root/a": {"accuracy": 0.5, "n": 6}})
    >>> len(fig.axes)  # the tree and its colour bar
    2
    """
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    nodes = taxonomy.nodes
    index = {n: i for i, n in enumerate(nodes)}
    kids: list[list[int]] = [[] for _ in nodes]
    for i, n in enumerate(nodes[1:], start=1):
        kids[index[n[:-1]]].append(i)
    max_depth = max(len(n) - 1 for n in nodes)
    x = np.zeros(len(nodes))
    y = np.array([-(len(n) - 1) for n in nodes], dtype=float)
    leaf_ids = [i for i in range(len(nodes)) if not kids[i]]  # pre-order
    for r, i in enumerate(leaf_ids):
        x[i] = r
        y[i] = -max_depth
    for i in range(len(nodes) - 1, -1, -1):  # children come after parents in pre-order
        if kids[i]:
            x[i] = (x[kids[i][0]] + x[kids[i][-1]]) / 2.0
    segs = []
    for i, ch in enumerate(kids):
        if not ch:
            continue
        ymid = y[i] - 0.5
        segs.append([(x[i], y[i]), (x[i], ymid)])
        segs.append([(x[ch[0]], ymid), (x[ch[-1]], ymid)])
        for c in ch:
            segs.append([(x[c], ymid), (x[c], y[c])])
    n_leaves = len(leaf_ids)
    width = float(np.clip(0.16 * n_leaves + 3.0, 6.0, 40.0))
    height = float(np.clip(1.1 * max_depth + 3.0, 4.0, 14.0))
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.add_collection(LineCollection(segs, colors="0.55", linewidths=0.8, zorder=1))
    cmap = colormaps["RdYlGn"]
    norm = Normalize(0.0, 1.0)
    internal = [i for i in range(len(nodes)) if kids[i]]
    acc, sizes = [], []
    for i in internal:
        entry = per_node.get("/".join(nodes[i]), {}) or {}
        acc.append(entry.get(key))
        sizes.append(entry.get("n") or 0)
    sizes_arr = np.asarray(sizes, dtype=float)
    s = 30.0 + 170.0 * np.sqrt(sizes_arr / sizes_arr.max()) if sizes_arr.max() > 0 else np.full(len(internal), 30.0)
    colours = [cmap(norm(a)) if a is not None else (0.75, 0.75, 0.75, 1.0) for a in acc]
    ax.scatter(x[internal], y[internal], s=s, c=colours, edgecolors="0.2", linewidths=0.5, zorder=3)
    fs_int = 7 if len(internal) <= 40 else 5
    for i, a in zip(internal, acc):
        label = nodes[i][-1] + ("" if a is None else f"\n{a:.2f}")
        ax.annotate(label, (x[i], y[i]), xytext=(4, 3), textcoords="offset points", fontsize=fs_int, zorder=4)
    fs_leaf = float(np.clip(500.0 / max(n_leaves, 1), 3.5, 9.0))
    ax.scatter(x[leaf_ids], y[leaf_ids], s=6, c="0.3", zorder=2)
    for i in leaf_ids:
        ax.text(x[i], y[i] - 0.12, nodes[i][-1], rotation=90, ha="center", va="top", fontsize=fs_leaf)
    ax.set_xlim(-1, n_leaves)
    ax.set_ylim(-max_depth - 2.2, 0.6)
    ax.set_axis_off()
    ax.set_title(title or "per-node accuracy: share of each node's samples routed to the right child")
    from matplotlib.cm import ScalarMappable
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, label=key.replace("_", " "))
    return fig


def _pick_accuracy_key(h: dict) -> str | None:
    for k in ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy"):
        if k in h:
            return k
    cands = [k for k in h if "acc" in k and not k.startswith("val_")]
    return min(cands, key=len) if cands else None


def plot_training_curves(histories: dict[str, dict]):
    """Training curves of several models: loss and accuracy per epoch (solid: training, dashed: validation).

    ``histories`` maps a model name to its Keras ``History.history`` dict. Returns a matplotlib Figure.

    >>> fig = plot_training_curves({"m": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]}})
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    hs = {name: _history_dict(h) for name, h in histories.items()}
    panels = []
    if any("loss" in h or "val_loss" in h for h in hs.values()):
        panels.append("loss")
    if any(_pick_accuracy_key(h) for h in hs.values()):
        panels.append("accuracy")
    fig = Figure(figsize=(6.0 * max(len(panels), 1), 4.2), dpi=120, layout="constrained")
    if not panels:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no training history", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    colours = [f"C{i % 10}" for i in range(len(hs))]
    for ax, panel in zip(axes, panels):
        for (name, h), col in zip(hs.items(), colours):
            key = "loss" if panel == "loss" else _pick_accuracy_key(h)
            if key is None:
                continue
            for k, style, suffix in ((key, "-", "train"), ("val_" + key, "--", "val")):
                vals = h.get(k)
                if vals is not None and len(vals):
                    v = np.array([np.nan if a is None else float(a) for a in vals])
                    ax.plot(np.arange(1, len(v) + 1), v, style, color=col, label=f"{name} ({suffix})",
                            marker="o" if len(v) < 15 else None, ms=3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def plot_accuracy_vs_cost(results: list[dict], *, metric: str = "accuracy"):
    """Scatter of ``metric`` against training seconds, images/s and parameter count, one point per model.

    Panels whose cost is missing for every model are left out. Returns a matplotlib Figure.

    >>> fig = plot_accuracy_vs_cost([{"name": "a", "metrics": {"accuracy": 0.8}, "train_seconds": 10},
    ...                              {"name": "b", "metrics": {"accuracy": 0.9}, "train_seconds": 30}])
    >>> fig.axes[0].get_xlabel()
    'training time (s)'
    """
    from matplotlib.figure import Figure

    costs = [(k, label) for k, label, _, _ in COST_ROWS
             if any(r.get(k) is not None for r in results)]
    fig = Figure(figsize=(4.5 * max(len(costs), 1), 4.0), dpi=120, layout="constrained")
    if not costs:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no cost figures (train_seconds, images_per_second, n_params)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    for j, (k, label) in enumerate(costs):
        ax = fig.add_subplot(1, len(costs), j + 1)
        for i, r in enumerate(results):
            xv, yv = r.get(k), r["metrics"].get(metric)
            if xv is None or yv is None:
                continue
            ax.scatter([float(xv)], [float(yv)], color=f"C{i % 10}", s=40, zorder=3)
            ax.annotate(r["name"], (float(xv), float(yv)), xytext=(4, 4), textcoords="offset points", fontsize=7)
        xs = [float(r[k]) for r in results if r.get(k) is not None]
        if k == "n_params":
            from matplotlib.ticker import EngFormatter
            if min(xs) > 0 and max(xs) / min(xs) > 20:
                ax.set_xscale("log")
            ax.xaxis.set_major_formatter(EngFormatter())
        ax.margins(0.25, 0.15)
        ax.set_xlabel(label)
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------------------- markdown
def markdown_report(results: list[dict], figures: dict[str, str] | None = None, *, title: str = "taxoclass report"
                    ) -> str:
    """The markdown text of a report: models side by side (summary, costs, per level, per node, per class).

    ``figures`` maps a caption to a relative PNG path to embed. Best values per row are in bold.

    >>> from taxoclass import Taxonomy
    >>> from taxoclass.metrics import evaluate_predictions
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> m = evaluate_predictions(["x", "z"], [[.7, .2, .1], [.1, .1, .8]], tax, k=2)
    >>> print(markdown_report([{"name": "demo", "metrics": m}]).splitlines()[6])
    | metric | demo |
    """
    results = _check_results(results)
    names = [r["name"] for r in results]
    out = [f"# {title}", "", f"Models compared: {', '.join(names)}.", ""]

    def table(rows_spec, getter):
        rows = []
        for key, label, better, fmt in rows_spec:
            vals = [getter(r, key) for r in results]
            if all(v is None for v in vals):
                continue
            cells = [_fmt(v, fmt) for v in vals]
            nums = [float(v) for v in vals if v is not None]
            if better and len(results) > 1 and len(nums) > 1:
                best = max(nums) if better == "higher" else min(nums)
                cells = [f"**{c}**" if v is not None and float(v) == best else c for c, v in zip(cells, vals)]
            arrow = {"higher": " (↑)", "lower": " (↓)"}.get(better, "")
            rows.append([label + arrow] + cells)
        return rows

    out += ["## Summary", "", _md_table(["metric"] + names,
                                        table(SUMMARY_ROWS, lambda r, k: r["metrics"].get(k))), ""]
    ks = sorted({r["metrics"].get("k") for r in results if r["metrics"].get("k") is not None})
    if ks:
        out += [f"top-k and distance@k use k = {', '.join(map(str, ks))}. Mistake severity and hierarchical "
                "distances are LCA heights in each model's taxonomy (lower is better).", ""]
    cost_rows = table(COST_ROWS, lambda r, k: r.get(k))
    if cost_rows:
        out += ["## Cost", "", _md_table(["cost"] + names, cost_rows), ""]
    # taxonomies
    tax_rows = []
    for r in results:
        ts = r["metrics"].get("taxonomy_summary") or {}
        tax_rows.append([r["name"], _fmt(ts.get("n_nodes"), "{:d}"), _fmt(ts.get("n_internal"), "{:d}"),
                         _fmt(ts.get("height"), "{:d}")])
    if any(row[1] != "–" for row in tax_rows):
        out += ["## Taxonomies used for the hierarchical metrics", "",
                _md_table(["model", "nodes", "internal nodes", "height"], tax_rows), "",
                "Hierarchical scores are comparable across models only when they were computed on the same "
                "taxonomy.", ""]
    # per level
    depths = sorted({lvl["depth"] for r in results for lvl in r["metrics"].get("per_level") or []})
    if depths:
        rows = []
        for d in depths:
            row = [str(d)]
            for r in results:
                lvl = next((x for x in r["metrics"].get("per_level") or [] if x["depth"] == d), None)
                row.append("–" if lvl is None or lvl.get("accuracy") is None
                           else f"{lvl['accuracy']:.4f} (n={lvl['n']})")
            rows.append(row)
        out += ["## Accuracy per level", "",
                "Share of samples whose predicted ancestor at this depth is the true one.", "",
                _md_table(["depth"] + names, rows), ""]
    # per node
    node_keys: list[str] = []
    for r in results:
        for key in r["metrics"].get("per_node") or {}:
            if key not in node_keys:
                node_keys.append(key)
    if node_keys:
        rows = []
        for key in node_keys:
            row = [key]
            for r in results:
                e = (r["metrics"].get("per_node") or {}).get(key)
                row.append("–" if not e or e.get("accuracy") is None else f"{e['accuracy']:.3f} (n={e['n']})")
            rows.append(row)
        out += ["## Accuracy per internal node", "",
                "Of the samples whose true class is under the node, the share predicted under the right child. "
                "Low values point at weak sub-trees.", "", _md_table(["node"] + names, rows), ""]
    # per class
    classes: list[str] = []
    for r in results:
        for c in r["metrics"].get("per_class") or {}:
            if c not in classes:
                classes.append(c)
    if classes:
        rows = []
        for c in classes:
            sup = next(((r["metrics"]["per_class"].get(c) or {}).get("support") for r in results
                        if c in (r["metrics"].get("per_class") or {})), None)
            row = [c, _fmt(sup, "{:d}")]
            for r in results:
                e = (r["metrics"].get("per_class") or {}).get(c)
                row.append("–" if not e else f"{e['f1']:.3f} / {e['recall']:.3f}")
            rows.append(row)
        out += ["## Per class (F1 / recall)", "", _md_table(["class", "support"] + names, rows), ""]
    if figures:
        out += ["## Figures", ""]
        for caption, rel in figures.items():
            out += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------------- all
def write_report(results, out_dir, overwrite: bool = False, *, title: str = "taxoclass report") -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and PNG figures for one or more evaluated models into ``out_dir``.

    Figures: ``confusion_<name>.png`` and ``taxonomy_<name>.png`` (per model, the latter when the result has a
    taxonomy), ``training_curves.png`` (when some model has a history) and ``accuracy_vs_cost.png`` (when some
    model has a cost figure). ``out_dir`` is created if needed; existing report files are refused unless
    ``overwrite=True`` (checked before anything is written). Every file is written atomically.

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
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TaxoclassError(f"{out} exists and is not a folder; choose another output folder.")
    plan: dict[str, Any] = {}
    for r in results:
        s = _slug(r["name"])
        plan[f"confusion_{s}.png"] = ("confusion", r)
        if r.get("taxonomy") is not None and r["metrics"].get("per_node"):
            plan[f"taxonomy_{s}.png"] = ("taxonomy", r)
    if any(_history_dict(r.get("history")) for r in results):
        plan["training_curves.png"] = ("curves", None)
    if any(r.get(k) is not None for r in results for k, *_ in COST_ROWS):
        plan["accuracy_vs_cost.png"] = ("cost", None)
    names = ["report.json", "report.md", *plan]
    if not out.exists():
        if not out.parent.exists():
            raise TaxoclassError(f"cannot create {out}: folder {out.parent} does not exist; create it first.")
        out.mkdir()
    for n in names:
        check_writable(out / n, overwrite=overwrite)

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
    text = json.dumps(_jsonable(doc), indent=1, allow_nan=False)
    with atomic_write(out / "report.json", "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    written["report.json"] = out / "report.json"
    md = markdown_report(results, {captions[f]: f for f in plan}, title=title)
    with atomic_write(out / "report.md", "w", encoding="utf-8") as fh:
        fh.write(md)
    written["report.md"] = out / "report.md"
    return dict(sorted(written.items()))
