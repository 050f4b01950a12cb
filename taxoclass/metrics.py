r"""Metrics for (hierarchical) classification, computed against a :class:`~taxoclass.Taxonomy`.

Every function takes the true labels, the predictions and the taxonomy:

- ``y_true``: class names or class indices (indices follow ``taxonomy.classes``);
- ``y_pred``: class names or indices, or -- for the hierarchical metrics -- any node of the tree (a unique node
  name, a path tuple or a ``/``-joined path), e.g. the deepest node a thresholded model is sure of
  (:func:`threshold_predictions`);
- ``y_proba``: an array of shape ``(N, C)`` of class probabilities (or any scores: only their ranking is used) with
  columns in ``taxonomy.classes`` order.

Notation used in the formulas below: sample :math:`i` has true class :math:`t_i` and predicted node :math:`p_i`;
:math:`\mathrm{anc}(v)` is the set of nodes on the path from the root to :math:`v`, **root excluded**, :math:`v`
included (so :math:`|\mathrm{anc}(v)| = \mathrm{depth}(v)`); :math:`\mathrm{lca}(a, b)` is the lowest common
ancestor; :math:`h(v)` is the height of node :math:`v` (longest downward path to a leaf; leaves have height 0).

:func:`evaluate_predictions` computes everything at once and returns a JSON-serialisable dict, the input of
:func:`taxoclass.report.write_report`.

Examples
--------
>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["animal", "cat"], ["animal", "dog"], ["vehicle", "car"]])
>>> hierarchical_precision_recall_f1(["cat", "dog"], ["dog", "dog"], tax)
(0.75, 0.75, 0.75)
>>> mistake_severity(["cat", "car"], ["dog", "car"], tax)
1.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from taxoclass.exceptions import ClassMismatchError, DataError, TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy

__all__ = [
    "accuracy", "top_k_accuracy", "balanced_accuracy", "per_class_scores", "confusion_matrix",
    "hierarchical_precision_recall_f1", "hierarchical_f1", "mistake_severity", "average_hierarchical_distance",
    "per_level_accuracy", "per_node_accuracy", "threshold_predictions", "evaluate_predictions",
]


# ---------------------------------------------------------------------------------------------------- input handling
class _Structure:
    """Array views of a taxonomy used by the vectorised metrics (node indices follow ``taxonomy.nodes``)."""

    def __init__(self, tax: Taxonomy):
        nodes = tax.nodes
        index = {n: i for i, n in enumerate(nodes)}
        self.tax = tax
        self.depth = np.array([len(n) - 1 for n in nodes], dtype=np.int64)
        self.max_depth = int(self.depth.max())
        anc = np.full((len(nodes), self.max_depth + 1), -1, dtype=np.int64)
        for i, n in enumerate(nodes):
            anc[i, :len(n)] = [index[n[:d + 1]] for d in range(len(n))]
        self.anc = anc  # anc[v, d] = ancestor of v at depth d (v itself at its own depth), -1 below v
        self.leaf_node = np.array([index[leaf] for leaf in tax.leaves], dtype=np.int64)  # class index -> node
        self.class_of_node = np.full(len(nodes), -1, dtype=np.int64)
        self.class_of_node[self.leaf_node] = np.arange(tax.n_classes)
        n_children = np.zeros(len(nodes), dtype=np.int64)
        for n in nodes[1:]:
            n_children[index[n[:-1]]] += 1
        self.n_children = n_children

    def lca_depth(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Depth of the LCA of node arrays ``a`` and ``b`` = ``|anc(a) & anc(b)|`` (root excluded)."""
        A, B = self.anc[a], self.anc[b]
        same = (A == B) & (A >= 0)
        return np.cumprod(same, axis=1).sum(axis=1) - 1


def _check_taxonomy(taxonomy) -> Taxonomy:
    if not isinstance(taxonomy, Taxonomy):
        raise TaxoclassError(f"expected a taxoclass.Taxonomy as the taxonomy argument, got {type(taxonomy).__name__}; "
                             "build one with Taxonomy.from_paths(...) or taxoclass.load_taxonomy(path).")
    return taxonomy


def _as_list(y, what: str) -> list | np.ndarray:
    if isinstance(y, np.ndarray):
        if y.ndim != 1:
            raise DataError(f"{what} must be one-dimensional (one label per sample), got an array of shape {y.shape}.")
        return y
    if isinstance(y, (str, bytes)) or not isinstance(y, (Sequence, np.ndarray)) and not hasattr(y, "__iter__"):
        raise DataError(f"{what} must be a sequence of labels (one per sample), got {type(y).__name__}.")
    return list(y)


def _encode_classes(y, tax: Taxonomy, what: str = "y_true") -> np.ndarray:
    """Class names or indices -> class indices (int64); unknown names / bad indices -> ClassMismatchError."""
    y = _as_list(y, what)
    if len(y) == 0:
        raise DataError(f"{what} is empty; expected at least one sample.")
    arr = np.asarray(y) if not isinstance(y, np.ndarray) else y
    if arr.dtype.kind in "iu":
        bad = np.unique(arr[(arr < 0) | (arr >= tax.n_classes)])
        if bad.size:
            raise ClassMismatchError(
                f"{what} has class indices outside 0..{tax.n_classes - 1}: {', '.join(map(str, bad[:10].tolist()))}; "
                f"indices must follow the taxonomy's {tax.n_classes} classes (taxonomy.classes).")
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return _encode_classes(arr.astype(np.int64), tax, what)
        raise DataError(f"{what} holds non-integer numbers; expected class names or integer class indices.")
    if arr.dtype.kind == "b":
        raise DataError(f"{what} holds booleans; expected class names or integer class indices.")
    labels = [str(v) for v in arr.tolist()] if arr.dtype.kind in "US" else list(arr.tolist())
    ci = {c: k for k, c in enumerate(tax.classes)}
    missing = sorted({str(v) for v in labels if v not in ci})
    if missing:
        internal = [m for m in missing if m in tax]
        hint = (f" ({', '.join(internal[:5])} {'is an internal node' if len(internal) == 1 else 'are internal nodes'}"
                "; true labels must be classes)") if internal else ""
        raise ClassMismatchError(
            f"{what}: {len(missing)} label(s) are not classes of the taxonomy: {', '.join(missing[:20])}"
            f"{' ...' if len(missing) > 20 else ''}{hint}. Fix the labels or add the classes to the taxonomy.")
    return np.fromiter((ci[v] for v in labels), dtype=np.int64, count=len(labels))


def _encode_nodes(y, tax: Taxonomy, st: _Structure, what: str = "y_pred") -> np.ndarray:
    """Predictions -> node indices: class names/indices go to their leaf, other references to their node."""
    if isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iuf":
        return st.leaf_node[_encode_classes(y, tax, what)]
    y = _as_list(y, what)
    if len(y) == 0:
        raise DataError(f"{what} is empty; expected at least one sample.")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in y):
        return st.leaf_node[_encode_classes(np.asarray(y, dtype=np.int64), tax, what)]
    ci = {c: k for k, c in enumerate(tax.classes)}
    cache: dict = {}
    out = np.empty(len(y), dtype=np.int64)
    bad: list[str] = []
    for i, v in enumerate(y):
        key = tuple(v) if isinstance(v, (list, tuple)) else (v.item() if isinstance(v, np.generic) else v)
        if key not in cache:
            if isinstance(key, str) and key in ci:
                cache[key] = int(st.leaf_node[ci[key]])
            else:
                try:
                    cache[key] = tax.node_index(key)
                except TaxoclassError:
                    cache[key] = -1
                    bad.append(repr(key) if not isinstance(key, str) else key)
        out[i] = cache[key]
    if bad:
        raise ClassMismatchError(
            f"{what}: {len(bad)} prediction(s) are not nodes of the taxonomy: {', '.join(sorted(bad)[:20])}. "
            "Predictions must be class names, class indices, unique node names, path tuples or '/'-joined paths.")
    return out


def _check_proba(y_proba, tax: Taxonomy, n: int | None) -> np.ndarray:
    try:
        P = np.asarray(y_proba, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("y_proba must be a numeric array of shape (n_samples, n_classes).") from None
    if P.ndim != 2:
        raise DataError(f"y_proba must be 2-D (n_samples, n_classes), got shape {P.shape}.")
    if P.shape[1] != tax.n_classes:
        raise ClassMismatchError(
            f"y_proba has {P.shape[1]} columns but the taxonomy has {tax.n_classes} classes; its columns must follow "
            "taxonomy.classes (use Taxonomy.with_class_order to match the model's class order).")
    if n is not None and P.shape[0] != n:
        raise DataError(f"y_proba has {P.shape[0]} rows but y_true has {n} samples; pass one row per sample.")
    if not np.all(np.isfinite(P)):
        raise DataError("y_proba contains NaN or infinite values; check the model's output.")
    return P


def _check_same_length(a: np.ndarray, b: np.ndarray, what: str = "y_pred") -> None:
    if len(a) != len(b):
        raise DataError(f"y_true has {len(a)} samples but {what} has {len(b)}; pass one prediction per sample.")


def _check_k(k, n_classes: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise TaxoclassError(f"k must be a positive integer, got {k!r}.")
    return int(min(k, n_classes))


def _prepare(y_true, y_pred, taxonomy):
    tax = _check_taxonomy(taxonomy)
    st = _Structure(tax)
    t = _encode_classes(y_true, tax, "y_true")
    p = _encode_nodes(y_pred, tax, st, "y_pred")
    _check_same_length(t, p)
    return tax, st, t, p


def _leaf_predictions(p_nodes: np.ndarray, st: _Structure) -> np.ndarray:
    cls = st.class_of_node[p_nodes]
    if np.any(cls < 0):
        bad = sorted({"/".join(st.tax.nodes[v]) for v in p_nodes[cls < 0]})
        raise DataError(f"this metric needs class (leaf) predictions, but y_pred contains internal nodes: "
                        f"{', '.join(bad[:10])}. Use the hierarchical metrics for node predictions, or pass the "
                        "top-1 classes.")
    return cls


def _f(x) -> float | None:
    """A JSON-safe float (None for NaN)."""
    x = float(x)
    return None if math.isnan(x) else x


# ---------------------------------------------------------------------------------------------------- flat metrics
def accuracy(y_true, y_pred, taxonomy: Taxonomy) -> float:
    r"""Top-1 accuracy: :math:`\frac{1}{N}\sum_i [p_i = t_i]` (scikit-learn's ``accuracy_score``).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> accuracy(["x", "y", "z", "z"], ["x", "x", "z", "z"], tax)
    0.75
    """
    from sklearn.metrics import accuracy_score
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    return float(accuracy_score(t, _leaf_predictions(p, st)))


def _top_k_indices(P: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first (ties: lower class index first)."""
    order = np.argsort(-P, axis=1, kind="stable")
    return order[:, :k]


def top_k_accuracy(y_true, y_proba, taxonomy: Taxonomy, k: int = 5) -> float:
    r"""Top-k accuracy: :math:`\frac{1}{N}\sum_i [t_i \in \text{top-}k(\hat{P}_i)]` (scikit-learn's
    ``top_k_accuracy_score``). ``k`` larger than the number of classes is clipped (the score is then 1).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> top_k_accuracy(["x", "z"], [[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]], tax, k=2)
    0.5
    """
    from sklearn.metrics import top_k_accuracy_score
    tax = _check_taxonomy(taxonomy)
    t = _encode_classes(y_true, tax, "y_true")
    P = _check_proba(y_proba, tax, len(t))
    k = _check_k(k, tax.n_classes)
    if k >= tax.n_classes:
        return 1.0
    if tax.n_classes == 2:  # scikit-learn wants 1-D scores for two classes; k == 1 here
        return float(np.mean(P.argmax(axis=1) == t))
    return float(top_k_accuracy_score(t, P, k=k, labels=np.arange(tax.n_classes)))


def balanced_accuracy(y_true, y_pred, taxonomy: Taxonomy) -> float:
    r"""Balanced accuracy: the mean recall over the classes present in ``y_true``,
    :math:`\frac{1}{|C'|}\sum_{c \in C'} \frac{|\{i: t_i = c, p_i = c\}|}{|\{i: t_i = c\}|}` (scikit-learn's
    ``balanced_accuracy_score``).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> balanced_accuracy(["x", "x", "x", "z"], ["x", "x", "x", "x"], tax)
    0.5
    """
    from sklearn.metrics import balanced_accuracy_score
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "y_pred contains classes not in y_true"
        return float(balanced_accuracy_score(t, _leaf_predictions(p, st)))


def per_class_scores(y_true, y_pred, taxonomy: Taxonomy) -> dict[str, dict[str, float]]:
    r"""Precision, recall, F1 and support of every class (scikit-learn's ``precision_recall_fscore_support``,
    ``zero_division=0``): :math:`P_c = \frac{TP_c}{TP_c + FP_c}`, :math:`R_c = \frac{TP_c}{TP_c + FN_c}`,
    :math:`F1_c = \frac{2 P_c R_c}{P_c + R_c}`. Keys follow ``taxonomy.classes``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> per_class_scores(["x", "x", "y"], ["x", "y", "y"], tax)["y"]
    {'precision': 0.5, 'recall': 1.0, 'f1': 0.6666666666666666, 'support': 1}
    """
    from sklearn.metrics import precision_recall_fscore_support
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    pr, rc, f1, sup = precision_recall_fscore_support(t, _leaf_predictions(p, st), labels=np.arange(tax.n_classes),
                                                      zero_division=0.0)
    return {c: {"precision": float(pr[k]), "recall": float(rc[k]), "f1": float(f1[k]), "support": int(sup[k])}
            for k, c in enumerate(tax.classes)}


def confusion_matrix(y_true, y_pred, taxonomy: Taxonomy, *, normalize: str | None = None) -> np.ndarray:
    """Confusion matrix ``C[true, predicted]`` in ``taxonomy.classes`` order (scikit-learn's ``confusion_matrix``).

    ``normalize``: None (counts), ``"true"`` (rows sum to 1: recall on the diagonal), ``"pred"`` or ``"all"``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> confusion_matrix(["x", "x", "z"], ["x", "y", "z"], tax).tolist()
    [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    """
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix
    if normalize not in (None, "true", "pred", "all"):
        raise TaxoclassError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}.")
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty rows when normalising
        return sk_confusion_matrix(t, _leaf_predictions(p, st), labels=np.arange(tax.n_classes), normalize=normalize)


# ---------------------------------------------------------------------------------------------------- hierarchical
def _hier_counts(t: np.ndarray, p: np.ndarray, st: _Structure):
    inter = st.lca_depth(st.leaf_node[t], p)  # |anc(p) & anc(t)|
    return inter, st.depth[p], st.depth[st.leaf_node[t]]


def _safe_div(a: np.ndarray, b: np.ndarray, zero_division: float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, float(zero_division))
    np.divide(a, b, out=out, where=b != 0)
    return out


def _hier_scores(inter, n_pred, n_true, average: str, zero_division: float = 0.0) -> tuple[float, float, float]:
    if average == "micro":
        hp = float(_safe_div(inter.sum(), n_pred.sum(), zero_division))
        hr = float(_safe_div(inter.sum(), n_true.sum(), zero_division))
        return hp, hr, (2 * hp * hr / (hp + hr) if hp + hr > 0 else 0.0)
    hp_i = _safe_div(inter, n_pred, zero_division)
    hr_i = _safe_div(inter, n_true, zero_division)
    hf_i = _safe_div(2 * hp_i * hr_i, hp_i + hr_i, 0.0)
    return float(hp_i.mean()), float(hr_i.mean()), float(hf_i.mean())


def hierarchical_precision_recall_f1(y_true, y_pred, taxonomy: Taxonomy, *, average: str = "micro",
                                     zero_division: float = 0.0) -> tuple[float, float, float]:
    r"""Hierarchical precision, recall and F1 over ancestor sets, as HiClass (Miranda et al. 2023, after Kiritchenko
    et al. 2006) defines them.

    With :math:`\alpha_i = \mathrm{anc}(p_i)` (the predicted node and its ancestors) and
    :math:`\beta_i = \mathrm{anc}(t_i)` (the true class and its ancestors), **both without the root** -- HiClass's
    label rows never contain the root, which every sample would share and which would only inflate the scores:

    - ``average="micro"`` (HiClass's default): :math:`hP = \frac{\sum_i |\alpha_i \cap \beta_i|}{\sum_i |\alpha_i|}`,
      :math:`hR = \frac{\sum_i |\alpha_i \cap \beta_i|}{\sum_i |\beta_i|}`, :math:`hF = \frac{2\,hP\,hR}{hP + hR}`;
    - ``average="macro"``: per-sample :math:`hP_i = \frac{|\alpha_i \cap \beta_i|}{|\alpha_i|}`,
      :math:`hR_i = \frac{|\alpha_i \cap \beta_i|}{|\beta_i|}`, :math:`hF_i = \frac{2\,hP_i\,hR_i}{hP_i + hR_i}`,
      each averaged over the samples (HiClass averages the per-sample F, not the F of the averages).

    Here :math:`|\alpha_i \cap \beta_i| = \mathrm{depth}(\mathrm{lca}(p_i, t_i))` and :math:`|\alpha_i| =
    \mathrm{depth}(p_i)`. Predictions may be internal nodes (e.g. from :func:`threshold_predictions`): stopping
    early costs recall, not precision. A ratio with a zero denominator (a prediction at the root) is
    ``zero_division``. Nodes are told apart by their path, so ``animal/bird/bird`` counts two nodes (HiClass's
    own code compares names and would count one).

    On a one-level (flat) taxonomy all three equal the accuracy.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> hierarchical_precision_recall_f1(["x", "x"], ["y", "a"], tax)  # |a&b| = 1 + 1, |a| = 2 + 1, |b| = 2 + 2
    (0.6666666666666666, 0.5, 0.5714285714285715)
    """
    if average not in ("micro", "macro"):
        raise TaxoclassError(f"average must be 'micro' or 'macro', got {average!r}.")
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    inter, n_pred, n_true = _hier_counts(t, p, st)
    return _hier_scores(inter, n_pred, n_true, average, zero_division)


def hierarchical_f1(y_true, y_pred, taxonomy: Taxonomy, *, average: str = "micro") -> float:
    """Hierarchical F1 (see :func:`hierarchical_precision_recall_f1` for the formula).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> hierarchical_f1(["x", "z"], ["x", "z"], tax)
    1.0
    """
    return hierarchical_precision_recall_f1(y_true, y_pred, taxonomy, average=average)[2]


def mistake_severity(y_true, y_pred, taxonomy: Taxonomy) -> float:
    r"""Mean LCA height of the wrong top-1 predictions (Bertinetto et al., "Making Better Mistakes", CVPR 2020):

    :math:`\frac{1}{|M|}\sum_{i \in M} h(\mathrm{lca}(p_i, t_i))`, :math:`M = \{i : p_i \ne t_i\}`,

    with the height of a node the longest path from it down to a leaf (ILSVRC's definition). 0.0 when there is no
    mistake. Lower is better: confusing two species of one genus costs 1, confusing across the whole tree costs the
    tree's height.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> mistake_severity(["x", "x", "x"], ["x", "y", "z"], tax)  # mistakes cost 1 (lca a) and 2 (lca root)
    1.5
    """
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    c = _leaf_predictions(p, st)
    wrong = c != t
    if not wrong.any():
        return 0.0
    return float(tax.leaf_matrices()["lca_height"][t[wrong], c[wrong]].mean())


def average_hierarchical_distance(y_true, y_proba, taxonomy: Taxonomy, k: int = 1) -> float:
    r"""Average hierarchical distance@k (Bertinetto et al., CVPR 2020): the mean LCA height between the true class
    and each of the k most probable classes, over all samples (correct ones included, they count 0):

    :math:`\frac{1}{N k}\sum_i \sum_{j=1}^{k} h(\mathrm{lca}(\hat{c}_{ij}, t_i))`, where :math:`\hat{c}_{ij}` is the
    class ranked :math:`j`-th for sample :math:`i`. ``k`` is clipped to the number of classes. Lower is better.

    ``y_proba`` may also be 1-D top-1 predictions (class names or indices) when ``k == 1``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> average_hierarchical_distance(["x"], [[0.6, 0.1, 0.3]], tax, k=2)  # ranks x (0) then z (2)
    1.0
    """
    tax = _check_taxonomy(taxonomy)
    t = _encode_classes(y_true, tax, "y_true")
    k = _check_k(k, tax.n_classes)
    arr = y_proba if isinstance(y_proba, np.ndarray) else np.asarray(y_proba, dtype=object)
    if arr.ndim == 1:
        if k != 1:
            raise DataError("average_hierarchical_distance with k > 1 needs y_proba of shape (n_samples, n_classes).")
        st = _Structure(tax)
        top = _leaf_predictions(_encode_nodes(y_proba, tax, st, "y_pred"), st)[:, None]
        _check_same_length(t, top)
    else:
        top = _top_k_indices(_check_proba(y_proba, tax, len(t)), k)
    return float(tax.leaf_matrices()["lca_height"][t[:, None], top].mean())


def per_level_accuracy(y_true, y_pred, taxonomy: Taxonomy) -> list[dict[str, Any]]:
    r"""Accuracy at each depth of the tree: for :math:`d = 1 \dots \mathrm{height}`,

    :math:`\mathrm{acc}_d = \frac{|\{i \in S_d : \mathrm{anc}_d(p_i) = \mathrm{anc}_d(t_i)\}|}{|S_d|}`,
    :math:`S_d = \{i : \mathrm{depth}(t_i) \ge d\}`,

    where :math:`\mathrm{anc}_d(v)` is the ancestor of :math:`v` at depth :math:`d` (none when :math:`v` is shallower,
    which counts as wrong -- e.g. an internal-node prediction that stopped above :math:`d`). Returns one dict per
    depth: ``{"depth", "accuracy", "n"}`` (accuracy None when no sample reaches that depth).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> [lvl["accuracy"] for lvl in per_level_accuracy(["x", "x"], ["y", "z"], tax)]
    [0.5, 0.0]
    """
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    return _per_level(t, p, st)


def _per_level(t, p, st: _Structure) -> list[dict[str, Any]]:
    lcad = st.lca_depth(st.leaf_node[t], p)
    dt = st.depth[st.leaf_node[t]]
    out = []
    for d in range(1, st.max_depth + 1):
        mask = dt >= d
        n = int(mask.sum())
        out.append({"depth": d, "accuracy": _f((lcad[mask] >= d).mean()) if n else None, "n": n})
    return out


def per_node_accuracy(y_true, y_pred, taxonomy: Taxonomy) -> dict[str, dict[str, Any]]:
    r"""How well each internal node routes the samples that belong under it.

    For an internal node :math:`v` at depth :math:`d_v`, with :math:`S_v` the samples whose true class lies under
    :math:`v`:

    - ``accuracy`` :math:`= \frac{|\{i \in S_v : \mathrm{anc}_{d_v+1}(p_i) = \mathrm{anc}_{d_v+1}(t_i)\}|}{|S_v|}`:
      the share whose prediction falls under the same child of :math:`v` as the truth;
    - ``accuracy_given_reached``: the same, among the samples of :math:`S_v` whose prediction is under (or at)
      :math:`v` -- the node's own routing quality, free of the errors made above it;
    - ``n`` :math:`= |S_v|`, ``n_reached``, ``depth``, ``n_children``, ``name``.

    Keys are the nodes' ``/``-joined paths from the root (resolvable with ``taxonomy.node(key)``), in pre-order.
    Accuracies are None where there is no sample. Weak sub-trees show up as nodes with low accuracy.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> res = per_node_accuracy(["x", "x", "y", "z"], ["x", "y", "y", "x"], tax)
    >>> res["root"]["accuracy"], res["root/a"]["accuracy"]
    (0.75, 0.6666666666666666)
    """
    tax, st, t, p = _prepare(y_true, y_pred, taxonomy)
    return _per_node(t, p, st)


def _per_node(t, p, st: _Structure) -> dict[str, dict[str, Any]]:
    tnode = st.leaf_node[t]
    lcad = st.lca_depth(tnode, p)
    out = {}
    for v, node in enumerate(st.tax.nodes):
        if st.n_children[v] == 0:
            continue
        d = int(st.depth[v])
        under = st.anc[tnode, d] == v
        reached = under & (st.anc[p, d] == v)
        correct = under & (lcad >= d + 1)
        n, nr, nc = int(under.sum()), int(reached.sum()), int(correct.sum())
        out["/".join(node)] = {
            "name": node[-1], "depth": d, "n_children": int(st.n_children[v]),
            "n": n, "accuracy": nc / n if n else None,
            "n_reached": nr, "accuracy_given_reached": nc / nr if nr else None,
        }
    return out


def threshold_predictions(y_proba, taxonomy: Taxonomy, threshold: float = 0.5) -> list[tuple]:
    r"""The deepest node each sample is confidently assigned to.

    A node's probability is the sum of its classes' probabilities. Starting at the root, descend to the most probable
    child while that child's probability is at least ``threshold``; return the node where the descent stops (a path
    tuple; the root when even the top level is uncertain). With ``threshold > 0.5`` at most one child can qualify,
    so the result is the deepest node whose probability reaches the threshold. Feed the result to
    :func:`hierarchical_precision_recall_f1` or ``evaluate_predictions(..., y_pred=...)``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> threshold_predictions([[0.45, 0.45, 0.1], [0.9, 0.05, 0.05]], tax, 0.6)
    [('root', 'a'), ('root', 'a', 'x')]
    """
    tax = _check_taxonomy(taxonomy)
    if not (isinstance(threshold, (int, float, np.floating)) and 0.0 <= float(threshold) <= 1.0):
        raise TaxoclassError(f"threshold must be a number between 0 and 1, got {threshold!r}.")
    P = _check_proba(y_proba, tax, None)
    st = _Structure(tax)
    n_nodes = len(tax.nodes)
    # membership (classes x nodes): class c is under node v
    member = np.zeros((tax.n_classes, n_nodes), dtype=np.float64)
    for d in range(st.max_depth + 1):
        a = st.anc[st.leaf_node, d]
        ok = a >= 0
        member[np.arange(tax.n_classes)[ok], a[ok]] = 1.0
    node_p = P @ member  # (N, n_nodes)
    children = [[] for _ in range(n_nodes)]
    for v in range(1, n_nodes):
        children[int(st.anc[v, st.depth[v] - 1])].append(v)
    cur = np.zeros(len(P), dtype=np.int64)
    active = np.ones(len(P), dtype=bool)
    rows = np.arange(len(P))
    for _ in range(st.max_depth):
        nxt = cur.copy()
        for v in np.unique(cur[active]):
            kids = np.asarray(children[v])
            if kids.size == 0:
                continue
            sel = rows[active & (cur == v)]
            probs = node_p[np.ix_(sel, kids)]
            best = probs.argmax(axis=1)
            go = probs[np.arange(len(sel)), best] >= threshold
            nxt[sel[go]] = kids[best[go]]
        active &= nxt != cur
        cur = nxt
        if not active.any():
            break
    return [tax.nodes[v] for v in cur]


# ---------------------------------------------------------------------------------------------------- all at once
def evaluate_predictions(y_true, y_proba, taxonomy: Taxonomy, k: int = 5, *, y_pred=None,
                         threshold: float | None = None) -> dict[str, Any]:
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

    Returns
    -------
    dict with ``n_samples``, ``n_classes``, ``classes``, ``k``, ``accuracy``, ``top_k_accuracy``,
    ``balanced_accuracy``, ``precision_macro``, ``recall_macro``, ``f1_macro`` (flat, averaged over classes),
    ``hierarchical_{precision,recall,f1}_{micro,macro}``, ``mistake_severity``, ``n_mistakes``,
    ``hierarchical_distance_at_1``, ``hierarchical_distance_at_k``, ``per_level`` (list), ``per_node`` (dict),
    ``per_class`` (dict), ``confusion_matrix`` (counts, list of lists, rows = true class) and
    ``taxonomy_summary``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> m = evaluate_predictions(["x", "y", "z"], [[.7, .2, .1], [.6, .3, .1], [.1, .1, .8]], tax, k=2)
    >>> round(m["accuracy"], 3), m["top_k_accuracy"], m["mistake_severity"], m["hierarchical_f1_micro"]
    (0.667, 1.0, 1.0, 0.8333333333333334)
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_recall_fscore_support
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

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
        top = _top_k_indices(P, k_eff)
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
        "predictions": "y_pred" if node_pred is not None else "top1",
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
