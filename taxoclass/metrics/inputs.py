"""Checking and encoding the inputs of every metric (labels, nodes, probabilities) against a taxonomy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from taxoclass.exceptions import ClassMismatchError, DataError, TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy


# ---------------------------------------------------------------------------------------------------- input handling
class _Structure:
    """The taxonomy's cached arrays under the short names the vectorised metrics use (no copy is built here)."""

    def __init__(self, tax: Taxonomy):
        self.tax = tax
        self.depth = tax.depths
        self.max_depth = int(tax.height)
        self.anc = tax.ancestor_table  # anc[v, d] = ancestor of v at depth d (v itself at its own depth), -1 below v
        self.leaf_node = tax.leaf_nodes  # class index -> node
        self.class_of_node = tax.class_of_node
        self.n_children = (tax.child_table >= 0).sum(axis=1)

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
    """Class names or indices -> class indices (int64), with :meth:`Taxonomy.encode`; integral floats are indices."""
    y = _as_list(y, what)
    if len(y) == 0:
        raise DataError(f"{what} is empty; expected at least one sample.")
    arr = np.asarray(y) if not isinstance(y, np.ndarray) else y
    if arr.dtype.kind == "f":
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise DataError(f"{what} holds non-integer numbers; expected class names or integer class indices.")
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return tax.encode(arr, what=what)


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
