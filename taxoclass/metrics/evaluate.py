"""All metrics at once: :func:`evaluate_predictions`."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from taxoclass.exceptions import DataError
from taxoclass.taxonomy.arrays import check_ranking
from taxoclass.taxonomy.tree import Taxonomy
from taxoclass.metrics.hierarchical import _hier_counts, _hier_scores, _per_level, _per_node
from taxoclass.metrics.inputs import (_check_k, _check_proba, _check_same_length, _check_taxonomy, _encode_classes,
                                      _encode_nodes, _leaf_predictions, _Structure)
from taxoclass.metrics.threshold import threshold_predictions


def _check_ranked(ranked, n: int, k: int, n_classes: int) -> np.ndarray:
    r = np.asarray(ranked)
    if r.ndim != 2 or r.shape[0] != n or r.shape[1] < k or not np.issubdtype(r.dtype, np.integer) \
            or r.min(initial=0) < 0 or r.max(initial=0) >= n_classes:
        raise DataError(f"ranked must hold, for each of the {n} samples, at least k = {k} class indices "
                        f"(0 to {n_classes - 1}) best first; got an array of shape {r.shape}.")
    return r[:, :k]


# ---------------------------------------------------------------------------------------------------- all at once
def evaluate_predictions(y_true, y_proba, taxonomy: Taxonomy, k: int = 5, *, y_pred=None,
                         threshold: float | None = None, mode: str = "soft", ranked=None) -> dict[str, Any]:
    """Every metric of this module in one JSON-serialisable dict.

    Parameters
    ----------
    y_true : class names or indices.
    y_proba : (N, C) array in ``taxonomy.classes`` order, or None when only ``y_pred`` is known (then the top-k
        entries are None).
    taxonomy : the tree the hierarchical metrics are computed on.
    k : the k of top-k accuracy and hierarchical distance@k (clipped to the number of classes).
    y_pred : optional final predictions, possibly internal nodes. The hierarchical precision/recall/F1, per-level
        and per-node accuracies use them; the flat metrics and the mistake severity use the top-1 class of
        ``y_proba`` (or ``y_pred`` itself when ``y_proba`` is None, which must then be classes).
    threshold : optional; adds a ``"thresholded"`` entry with the hierarchical scores of
        :func:`threshold_predictions` at this threshold, and the mean depth of those predictions.
    mode : how the classes of ``y_proba`` are ranked into the top-1 and top-k answers
        (:meth:`Taxonomy.ranked_classes <taxoclass.taxonomy.arrays.TaxonomyArrays.ranked_classes>`): ``"soft"``
        (default) by probability, ``"risk"`` by expected mistake severity on ``taxonomy``.
    ranked : optional (N, >= k) class indices, best first, used instead of ranking by ``mode`` on ``taxonomy``:
        answers ranked on another tree, e.g. a model's own tree when the scores are on the biological one
        (``taxoclass evaluate --taxonomy --mode risk`` scores the answers ``predict --mode risk`` gives).

    Returns
    -------
    dict with ``n_samples``, ``n_classes``, ``classes``, ``k``, ``accuracy``, ``top_k_accuracy``,
    ``balanced_accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro`` (flat, averaged over classes),
    ``hierarchical_{precision,recall,f1}_{micro,macro}``, ``mistake_severity``, ``n_mistakes``,
    ``hierarchical_distance_at_1``, ``hierarchical_distance_at_k``, ``per_level`` (list), ``per_node`` (dict),
    ``per_class`` (dict), ``confusion_matrix`` (counts, list of lists, rows = true class), ``mode`` and
    ``taxonomy_summary``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> m = evaluate_predictions(["x", "y", "z"], [[.7, .2, .1], [.6, .3, .1], [.1, .1, .8]], tax, k=2)
    >>> round(m["accuracy"], 3), m["top_k_accuracy"], m["mistake_severity"], m["hierarchical_f1_micro"]
    (0.667, 1.0, 1.0, 0.8333333333333334)
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_recall_fscore_support
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    check_ranking(mode)
    tax = _check_taxonomy(taxonomy)
    st = _Structure(tax)
    t = _encode_classes(y_true, tax, "y_true")
    C = tax.n_classes
    P = None
    if y_proba is not None:
        P = _check_proba(y_proba, tax, len(t))
    elif y_pred is None:
        raise DataError("evaluate_predictions needs y_proba (N x C probabilities) or y_pred (predicted classes).")
    k_eff = _check_k(k, C)
    node_pred = None
    if y_pred is not None:
        node_pred = _encode_nodes(y_pred, tax, st, "y_pred")
        _check_same_length(t, node_pred)
    if P is not None:
        top = tax.ranked_classes(P, mode, k_eff) if ranked is None else _check_ranked(ranked, len(t), k_eff, C)
        top1 = top[:, 0]
    else:
        top = None
        top1 = _leaf_predictions(node_pred, st)
    hier_pred = node_pred if node_pred is not None else st.leaf_node[top1]

    mats = tax.leaf_matrices()
    labels = np.arange(C)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bal = balanced_accuracy_score(t, top1)
    pr, rc, f1, sup = precision_recall_fscore_support(t, top1, labels=labels, zero_division=0.0)
    present = sup > 0
    wrong = top1 != t
    sev = mats["lca_height"][t[wrong], top1[wrong]]
    res: dict[str, Any] = {
        "n_samples": int(len(t)), "n_classes": int(C), "classes": list(tax.classes), "k": k_eff,
        "predictions": "y_pred" if node_pred is not None else "top1", "mode": mode,
        "accuracy": float(accuracy_score(t, top1)),
        "top_k_accuracy": float(np.mean((top == t[:, None]).any(axis=1))) if top is not None else None,
        "balanced_accuracy": float(bal),
        # flat macro averages over the classes present in y_true (absent classes would count as 0)
        "precision_macro": float(pr[present].mean()), "recall_macro": float(rc[present].mean()),
        "f1_macro": float(f1[present].mean()),
    }
    inter, n_pred, n_true = _hier_counts(t, hier_pred, st)
    for avg in ("micro", "macro"):
        hp, hr, hf = _hier_scores(inter, n_pred, n_true, avg)
        res[f"hierarchical_precision_{avg}"] = float(hp)
        res[f"hierarchical_recall_{avg}"] = float(hr)
        res[f"hierarchical_f1_{avg}"] = float(hf)
    res["mistake_severity"] = float(sev.mean()) if sev.size else 0.0
    res["n_mistakes"] = int(wrong.sum())
    res["hierarchical_distance_at_1"] = float(mats["lca_height"][t, top1].mean())
    res["hierarchical_distance_at_k"] = (float(mats["lca_height"][t[:, None], top].mean())
                                         if top is not None else None)
    res["per_level"] = _per_level(t, hier_pred, st)
    res["per_node"] = _per_node(t, hier_pred, st)
    res["per_class"] = {c: {"precision": float(pr[j]), "recall": float(rc[j]), "f1": float(f1[j]),
                            "support": int(sup[j])} for j, c in enumerate(tax.classes)}
    res["confusion_matrix"] = sk_confusion_matrix(t, top1, labels=labels).tolist()
    if threshold is not None:
        if P is None:
            raise DataError("threshold needs y_proba (N x C probabilities).")
        tp = _encode_nodes(threshold_predictions(P, tax, threshold), tax, st, "thresholded predictions")
        hp, hr, hf = _hier_scores(*_hier_counts(t, tp, st), "micro")
        res["thresholded"] = {
            "threshold": float(threshold),
            "hierarchical_precision_micro": hp, "hierarchical_recall_micro": hr, "hierarchical_f1_micro": hf,
            "mean_depth": float(st.depth[tp].mean()),
            "leaf_fraction": float(np.mean(st.class_of_node[tp] >= 0)),
        }
    res["taxonomy_summary"] = {"n_nodes": len(tax.nodes), "height": int(tax.height),
                               "n_internal": int((st.n_children > 0).sum()),
                               "root": tax.root[-1], "artificial_root": bool(tax.artificial_root)}
    return res
