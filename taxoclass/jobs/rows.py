"""One prediction row per image, the same for ``taxoclass predict`` (CSV), ``taxoclass serve`` (JSON) and Python.

:func:`prediction_columns` turns a model's output for a batch of images into columns: predicted class, its
probability, lineage (names from the top of the tree down, with the probability of every node on it), top-k
alternatives and, for a ``threshold``, the sure node by taxoclass' one threshold rule
(:meth:`Taxonomy.threshold <taxoclass.taxonomy.arrays.TaxonomyArrays.threshold>`).
:func:`csv_frame` and :func:`json_records` lay the same columns out for a table or a web answer.

>>> import numpy as np
>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> cols = prediction_columns(tax, proba=np.array([[0.5, 0.3, 0.2]]), top_k=2, threshold=0.7)
>>> cols["predicted_class"][0], cols["lineage"][0], cols["sure_node"][0]
('x', ['a', 'x'], 'a')
"""

from __future__ import annotations

import numpy as np

from taxoclass.exceptions import TaxoclassError
from taxoclass.models import PREDICT_MODES

__all__ = ["prediction_columns", "model_outputs", "csv_frame", "json_records", "MODES"]

MODES = PREDICT_MODES  # soft, greedy (trees), risk: see taxoclass.models.PREDICT_MODES
_TOL = 1e-9  # the threshold rule's rounding tolerance (Taxonomy.threshold)


def check_mode(clf, mode: str, tta: int = 1) -> str:
    """``mode`` if ``clf`` can predict with it; one TaxoclassError naming the fix otherwise."""
    if mode not in MODES:
        raise TaxoclassError(f"mode {mode!r} is not valid; expected one of {', '.join(MODES)}.")
    if mode == "greedy" and not hasattr(clf, "predict_path"):
        raise TaxoclassError(f"mode 'greedy' walks a tree's nodes; this {type(clf).__name__} has none, so use mode "
                             "'soft' (the default).")
    if mode == "greedy" and tta != 1:
        raise TaxoclassError("mode 'greedy' follows one path per image and cannot average test-time views; use "
                             "tta 1 with greedy, or mode 'soft' with tta.")
    return mode


def model_outputs(clf, images, mode: str = "soft", *, tta: int = 1, tta_mode: str = "auto") -> dict:
    """Run ``clf`` on ``images`` (array or batched dataset): ``{"proba": ..., "mode": mode}`` for soft and risk,
    ``{"path": DataFrame}`` (``TreeClassifier.predict_path(mode="greedy")``) for greedy; the input of
    :func:`prediction_columns`."""
    if mode == "greedy":
        return {"path": clf.predict_path(images, mode="greedy")}
    from taxoclass.jobs.inference import predict_proba

    return {"proba": predict_proba(clf, images, tta, tta_mode=tta_mode), "mode": mode}


def _node_label(tax, v: int) -> tuple[str, list[str]]:
    node = tax.nodes[v]
    return node[-1], list(node[1:] if tax.artificial_root else node)


def prediction_columns(taxonomy, *, proba=None, path=None, top_k: int = 1, threshold: float | None = None,
                       mode: str = "soft", ranked=None) -> dict:
    """Columns (one entry per image) of the predictions, from class probabilities ``proba`` (N, n_classes) or a
    greedy ``path`` (``TreeClassifier.predict_path(mode="greedy")``; only the nodes on it are known, so no top-k).
    With ``proba``, ``mode`` ranks the classes (``taxonomy.ranked_classes``): ``"soft"`` by probability,
    ``"risk"`` by expected mistake severity (``"greedy"``: a ``path`` holds its own answer); ``ranked`` (N, >= top_k
    class indices, best first) gives a ranking made on another tree instead.

    Keys: ``predicted_class``, ``probability``, ``lineage`` (list of names) and ``lineage_probability`` (the
    probability of each of those nodes), ``top{j}_class`` / ``top{j}_probability`` for j = 2..top_k (soft), and
    with ``threshold`` the sure node: ``sure_node``, ``sure_lineage``, ``sure_probability``. Soft predictions use
    the one threshold rule (``taxonomy.threshold``); a greedy path stops at its deepest node whose path
    probability is >= threshold, as ``TreeClassifier.predict(mode="greedy", threshold=)`` does.
    """
    tax = taxonomy
    anc = tax.ancestor_table
    leaf = tax.leaf_nodes
    if path is not None:
        levels = [c for c in path.columns if c.startswith("level_")]
        names = path[levels].to_numpy(dtype=object)
        probs = path[[f"p_{c}" for c in levels]].to_numpy(dtype=np.float64)
        depth = path[levels].notna().to_numpy().sum(axis=1)  # past a leaf: None, or NaN in a pandas str column
        rows = np.arange(len(path))
        cls = tax.encode(names[rows, depth - 1], what="greedy path leaves")
        p_top = probs[rows, depth - 1]
        head = [] if tax.artificial_root else [1.0]  # a real root is on the lineage, with probability 1
        path_p = [head + [float(v) for v in probs[i, :depth[i]]] for i in rows]
    else:
        P = np.asarray(proba, dtype=np.float64)
        node_p = tax.node_proba(P)
        order = tax.ranked_classes(P, mode, top_k) if ranked is None else np.asarray(ranked)[:, :top_k]
        rows = np.arange(len(P))
        cls = order[:, 0]
        p_top = P[rows, cls]
        start = 1 if tax.artificial_root else 0
        path_p = [[float(node_p[i, v]) for v in anc[leaf[c], start:] if v >= 0] for i, c in zip(rows, cls)]
    classes = np.asarray(tax.classes, dtype=object)
    out = {"predicted_class": classes[cls], "probability": p_top,
           "lineage": [tax.lineage(c) for c in classes[cls]], "lineage_probability": path_p}
    if path is None:
        for j in range(1, top_k):
            out[f"top{j + 1}_class"] = classes[order[:, j]]
            out[f"top{j + 1}_probability"] = P[rows, order[:, j]]
    if threshold is not None:
        if path is None:
            sure = tax.threshold(P, float(threshold))
            sure_p = node_p[rows, sure]
        else:  # deepest node of the greedy path whose path probability reaches the threshold (root if none)
            ok = np.where(np.isnan(probs), False, probs >= float(threshold) - _TOL)
            d = np.where(ok.any(axis=1), ok.shape[1] - np.argmax(ok[:, ::-1], axis=1), 0)
            sure = anc[leaf[cls], d]
            sure_p = np.where(d > 0, probs[rows, np.maximum(d - 1, 0)], 1.0)
        labels = [_node_label(tax, v) for v in sure]
        out["sure_node"] = [n for n, _ in labels]
        out["sure_lineage"] = [lin for _, lin in labels]
        out["sure_probability"] = sure_p
    return out


def csv_frame(columns: dict, files):
    """The columns as the ``taxoclass predict`` table (a DataFrame): ``file`` first, lineages joined by ' > '."""
    import pandas as pd

    table = {"file": list(files)}
    for key, col in columns.items():
        if key == "lineage_probability":
            continue
        table[key] = [" > ".join(v) for v in col] if key.endswith("lineage") else col
    return pd.DataFrame(table)


def json_records(columns: dict) -> list[dict]:
    """The columns as one JSON-able dict per image (the answer of ``POST /predict``).

    >>> import numpy as np
    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> json_records(prediction_columns(tax, proba=np.array([[0.5, 0.3, 0.2]]), top_k=2))[0]["top_k"]
    [{'class': 'x', 'probability': 0.5}, {'class': 'y', 'probability': 0.3}]
    """
    n = len(columns["predicted_class"])
    k = 1 + sum(1 for key in columns if key.startswith("top") and key.endswith("_class"))
    out = []
    for i in range(n):
        top = [(columns["predicted_class"][i], columns["probability"][i])]
        top += [(columns[f"top{j}_class"][i], columns[f"top{j}_probability"][i]) for j in range(2, k + 1)]
        rec = {"class": str(top[0][0]), "probability": float(top[0][1]),
               "lineage": [{"name": str(name), "probability": float(p)}
                           for name, p in zip(columns["lineage"][i], columns["lineage_probability"][i])],
               "top_k": [{"class": str(c), "probability": float(p)} for c, p in top]}
        if "sure_node" in columns:
            rec["sure"] = {"node": str(columns["sure_node"][i]), "lineage": [str(v) for v in columns["sure_lineage"][i]],
                           "probability": float(columns["sure_probability"][i])}
        out.append(rec)
    return out
