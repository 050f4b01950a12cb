"""Report figures (matplotlib Figures drawn on the Agg canvas): confusion matrix, accuracy on the tree, training
curves, accuracy vs cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from taxoclass._files import atomic_write
from taxoclass.exceptions import TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy
from taxoclass.report.results import COST_ROWS, _history_dict


def _placeholder(fig, text: str):
    """An empty figure saying why it is empty."""
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return fig


def _save(fig, path: Path) -> None:
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=fig.dpi)


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
    kids = [[int(c) for c in row if c >= 0] for row in taxonomy.child_table]  # the taxonomy's own arrays
    max_depth = int(taxonomy.depths.max())
    x = np.zeros(len(nodes))
    y = -taxonomy.depths.astype(float)
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
    width = float(np.clip(0.22 * n_leaves + 3.0, 6.0, 60.0))  # room for a label per class at 121 classes
    height = float(np.clip(1.1 * max_depth + 3.0, 4.0, 14.0))
    fig = Figure(figsize=(width, height), dpi=110 if n_leaves <= 150 else 80, layout="constrained")
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
    per_unit = 0.8 * width / (n_leaves + 1)  # inches per leaf slot (the colour bar takes the rest)
    level_h = 0.8 * height / (max_depth + 2.8)  # inches per level
    for i, a in zip(internal, acc):
        # a horizontal label where it fits between its neighbours at the same depth, else a vertical one cut to
        # the height of a level: at 121 classes labels never run into each other
        same = [x[j] for j in internal if j != i and y[j] == y[i]]
        room = (min(abs(x[i] - v) for v in same) if same else n_leaves) * per_unit
        name = nodes[i][-1]
        acc_txt = "" if a is None else f"{a:.2f}"
        if max(len(name), len(acc_txt)) * fs_int * 0.6 / 72 < room:
            ax.annotate(name + (f"\n{acc_txt}" if acc_txt else ""), (x[i], y[i]), xytext=(4, 3),
                        textcoords="offset points", fontsize=fs_int, zorder=4)
        else:
            label = (name + (f" {acc_txt}" if acc_txt else ""))
            fit = max(int(level_h * 0.8 * 72 / (fs_int * 0.6)), 4)
            label = label if len(label) <= fit else label[:fit - 1] + "…"
            ax.annotate(label, (x[i], y[i]), xytext=(0, 4), textcoords="offset points", fontsize=fs_int,
                        rotation=90, ha="center", va="bottom", zorder=4)
    fs_leaf = float(np.clip(0.75 * per_unit * 72, 3.5, 9.0))
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
        return _placeholder(fig, "no training history")
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
        return _placeholder(fig, "no cost figures (train_seconds, images_per_second, n_params)")
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


def plot_reliability(before: dict, after: dict | None = None, *, title: str = ""):
    """Reliability diagram: accuracy vs top-1 confidence per bin (:func:`taxoclass.calibration.reliability_bins`),
    before and (optionally) after calibration, with the diagonal of perfect calibration.

    >>> from taxoclass.calibration import reliability_bins
    >>> fig = plot_reliability(reliability_bins([[0.9, 0.1], [0.6, 0.4]], [0, 1]))
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 4.4), dpi=120, layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    for bins, label, marker in ((before, "before", "o"), (after, "after (temperature)", "s")):
        if not bins:
            continue
        pts = [(c, a) for c, a in zip(bins["confidence"], bins["accuracy"]) if c is not None]
        if pts:
            ax.plot(*zip(*pts), marker=marker, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "Reliability diagram", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    return fig
