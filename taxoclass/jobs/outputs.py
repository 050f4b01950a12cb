"""The files users feed onward from ``evaluate`` and ``predict``: the per-image predictions table, the confusion
matrix with its labels (``confusion.npy`` + ``confusion.csv``, read back by ``cluster-confusion`` and ``train
--from-confusion``), the most-confused pairs page, and the lines that describe a threshold choice.

>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> prediction_table(["1.png"], [[0.5, 0.4, 0.1]], tax, top_k=1, threshold=0.6).iloc[0].tolist()
['1.png', 'x', 0.5, 'a > x', 'a', 'a', 0.9]
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = ["prediction_table", "write_confusion", "most_confused_pairs", "write_confused_pairs",
           "threshold_lines", "depth_shares", "evaluation_lines"]


def prediction_table(files, proba, tax, *, top_k: int, threshold: float | None = None, true=None,
                     ranked=None):
    """One row per image: ``file``, [``true``,] then the columns of ``taxoclass predict``
    (:func:`taxoclass.jobs.rows.prediction_columns`: class, probability, lineage, top-k, sure node; classes in the
    order of ``ranked``, class indices best first, or by probability)."""
    from taxoclass.jobs.rows import csv_frame, prediction_columns

    df = csv_frame(prediction_columns(tax, proba=np.asarray(proba), top_k=top_k, threshold=threshold, ranked=ranked),
                   files)
    if true is not None:  # label codes: the classes, then every node (images labelled at an internal node)
        from taxoclass.taxonomy.internal_labels import code_nodes

        df.insert(1, "true", np.asarray([n[-1] for n in tax.nodes], dtype=object)[code_nodes(tax)][np.asarray(true)])
    return df


def write_confusion(folder, cm, classes) -> list[str]:
    """``confusion.npy`` (counts, rows = true class) and ``confusion.csv`` (the same with class names as header row
    and first column) in ``folder``; returns the file names."""
    import pandas as pd

    from taxoclass._files import atomic_write

    cm = np.asarray(cm, dtype=np.int64)
    folder = Path(folder)
    buf = io.BytesIO()
    np.save(buf, cm, allow_pickle=False)
    with atomic_write(folder / "confusion.npy", "wb") as fh:
        fh.write(buf.getvalue())
    df = pd.DataFrame(cm, index=pd.Index(list(classes), name="true \\ predicted"), columns=list(classes))
    with atomic_write(folder / "confusion.csv", "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh)
    return ["confusion.npy", "confusion.csv"]


def most_confused_pairs(cm, classes, n: int = 10) -> list[tuple[str, str, int]]:
    """The ``n`` largest off-diagonal counts as (true class, predicted class, count), largest first.

    >>> most_confused_pairs([[5, 2, 0], [4, 3, 1], [0, 0, 9]], ["a", "b", "c"], n=2)
    [('b', 'a', 4), ('a', 'b', 2)]
    """
    cm = np.asarray(cm, dtype=np.int64).copy()
    np.fill_diagonal(cm, 0)
    flat = np.argsort(-cm, axis=None, kind="stable")[:n]
    out = []
    for f in flat:
        i, j = np.unravel_index(f, cm.shape)
        if cm[i, j] > 0:
            out.append((str(classes[i]), str(classes[j]), int(cm[i, j])))
    return out


def _image(data, pos: int) -> np.ndarray:
    """The ``pos``-th image of ``data`` for display (an array's row, or a file's thumbnail)."""
    from PIL import Image

    if data.kind == "array":
        a = np.asarray(data.array[pos])
        return a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a
    with Image.open(io.BytesIO(data.read_bytes(data.keys[pos]))) as im:
        im.thumbnail((256, 256))
        return np.asarray(im.convert("L") if im.mode not in ("RGB", "L") else im)


def write_confused_pairs(folder, data, y, pred, classes, *, n_pairs: int = 10, n_examples: int = 4) -> list[str]:
    """``confused_pairs.md``, the page a taxonomist opens first: the ``n_pairs`` most-confused class pairs, each
    with a figure ``confused_pairs/pair_<k>.png`` showing side by side up to ``n_examples`` images of the true
    class taken for the other (top row) and correctly recognised images of the other class (bottom row).
    Returns the paths written (relative to ``folder``)."""
    from matplotlib.figure import Figure

    from taxoclass._files import atomic_write
    from taxoclass.report.plots import _save

    folder = Path(folder)
    y, pred = np.asarray(y), np.asarray(pred)
    classes = list(classes)
    cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    ok = y >= 0  # -1: an image labelled at an internal node, not in the class confusion
    np.add.at(cm, (y[ok], pred[ok]), 1)
    pairs = most_confused_pairs(cm, classes, n_pairs)
    lines = ["# Most-confused class pairs", "",
             "Top row: images of the true class the model took for the other class; bottom row: images of the "
             "other class it recognised correctly.", ""]
    written = []
    if not pairs:
        lines.append("No image was misclassified.")
    (folder / "confused_pairs").mkdir(exist_ok=True)
    for k, (a, b, count) in enumerate(pairs, 1):
        ia, ib = classes.index(a), classes.index(b)
        wrong = np.flatnonzero((y == ia) & (pred == ib))[:n_examples]
        right = np.flatnonzero((y == ib) & (pred == ib))[:n_examples]
        fig = Figure(figsize=(2.0 * n_examples, 4.4), dpi=90, layout="constrained")
        axes = fig.subplots(2, n_examples, squeeze=False)
        for row, idx, label in ((0, wrong, f"{a} taken for {b}"), (1, right, f"{b}")):
            for c in range(n_examples):
                ax = axes[row][c]
                ax.axis("off")
                if c < len(idx):
                    img = _image(data, int(idx[c]))
                    ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
                    ax.set_title(label if c == 0 else "", fontsize=8, loc="left")
        rel = f"confused_pairs/pair_{k}.png"
        _save(fig, folder / rel)
        written.append(rel)
        lines += [f"## {k}. {a} taken for {b}: {count} image{'s' if count != 1 else ''}", "", f"![{a} vs {b}]({rel})",
                  ""]
    with atomic_write(folder / "confused_pairs.md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines).rstrip() + "\n")
    return ["confused_pairs.md", *written]


def depth_shares(proba, y, tax, threshold: float) -> dict:
    """Share of images whose sure node (at ``threshold``) lies at each depth (``"depth 1"``, ...; ``"not sure"``
    for the root) and at a class (``"class"``), with the hierarchical precision of those answers."""
    from taxoclass.calibration import threshold_curve

    c = threshold_curve(proba, y, tax, [float(threshold)])
    shares = {("not sure" if d == 0 else f"depth {d}"): s[0] for d, s in enumerate(c["depth_share"])}
    return {"shares": shares, "class_share": c["leaf_share"][0], "precision": c["precision"][0]}


def threshold_lines(thr: dict) -> list[str]:
    """Plain-text lines describing a ``metrics["thresholded"]`` entry (console and report).

    >>> threshold_lines({"threshold": 0.9, "hierarchical_precision_micro": 0.95, "hierarchical_recall_micro": 0.8,
    ...                  "leaf_fraction": 0.7, "depth_share": {"not sure": 0.1, "depth 1": 0.2, "depth 2": 0.7}})[0]
    'threshold 0.9: hierarchical precision 0.95, recall 0.8; named to a class: 70%'
    """
    from taxoclass._console import number

    head = (f"threshold {number(thr['threshold'])}" + (f" (chosen on the validation split for precision "
                                                        f"{number(thr['target_precision'])})"
                                                        if thr.get("target_precision") is not None else "")
            + f": hierarchical precision {number(thr['hierarchical_precision_micro'])}, recall "
              f"{number(thr['hierarchical_recall_micro'])}; named to a class: {thr['leaf_fraction']:.0%}")
    lines = [head]
    if thr.get("depth_share"):
        lines.append("answered at: " + ", ".join(f"{k} {v:.0%}" for k, v in thr["depth_share"].items()))
    return lines


def evaluation_lines(m: dict) -> list[str]:
    """The console summary of ``evaluate_job``'s metrics, every number rounded to 4 significant digits.

    >>> evaluation_lines({"accuracy": 0.5, "k": 5, "top_k_accuracy": 1.0, "hierarchical_f1_micro": 0.75,
    ...                   "mistake_severity": 1.9166666666666667})
    ['accuracy 0.5  top-5 1  hF1 0.75  mistake severity 1.917']
    """
    from taxoclass._console import number

    lines = [f"accuracy {number(m['accuracy'])}  top-{m['k']} {number(m['top_k_accuracy'])}  hF1 "
             f"{number(m['hierarchical_f1_micro'])}  mistake severity {number(m.get('mistake_severity'))}"
             + ("  (mode risk: each answer the class with the lowest expected mistake severity)"
                if m.get("mode") == "risk" else "")]
    c = m.get("calibration")
    if c:
        lines.append(f"calibration: temperature {number(c['temperature'])}, expected calibration error "
                     f"{number(c['ece_before'])} before, {number(c['ece_after'])} after")
    if m.get("thresholded"):
        lines += threshold_lines(m["thresholded"])
    return lines
