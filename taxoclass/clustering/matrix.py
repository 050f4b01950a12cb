"""Confusion matrices in: checking, row-normalising and symmetrising them."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from taxoclass.exceptions import ClusteringError

SYMMETRIZE = ("product", "hadamard", "mean")


# ---------------------------------------------------------------------------------------------- validation
def _check_choice(value, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ClusteringError(f"{name}={value!r} is not valid; expected one of: "
                              + ", ".join(repr(c) for c in choices) + ".")
    return value


def _check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(float(beta)) \
            or not 0.0 <= float(beta) <= 1.0:
        raise ClusteringError(f"beta={beta!r} is outside its range; expected a number between 0 and 1 (the share "
                              "of confusion you accept between two classes, e.g. 0.05).")
    return float(beta)


def _check_int(value, name: str, low: int, high: int | None = None, hint: str = "") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or (high is not None and value > high):
        rng = f"an integer >= {low}" if high is None else f"an integer between {low} and {high}"
        raise ClusteringError(f"{name}={value!r} is not valid; expected {rng}{hint}.")
    return int(value)


def _as_matrix(cm, labels) -> tuple[np.ndarray, list[str]]:
    """Validate a confusion matrix and its labels; return (float64 matrix, label list)."""
    if labels is None and hasattr(cm, "columns") and hasattr(cm, "to_numpy"):  # a pandas DataFrame
        labels = [str(c) for c in cm.columns]
        cm = cm.to_numpy()
    try:
        arr = np.asarray(cm)
    except Exception as exc:  # ragged nested lists and the like
        raise ClusteringError(f"the confusion matrix cannot be read as an array ({exc}); expected a square "
                              "table of numbers, classes x classes.") from None
    if np.iscomplexobj(arr):
        raise ClusteringError(f"the confusion matrix holds complex numbers ({arr.dtype}); expected real counts or "
                              "fractions.")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ClusteringError(f"the confusion matrix holds {arr.dtype} values; expected numbers (counts or "
                              "fractions).")
    if arr.size == 0:
        raise ClusteringError("the confusion matrix is empty; expected a square table of counts, "
                              "classes x classes.")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ClusteringError(f"the confusion matrix has shape {arr.shape}; expected a square 2-D matrix "
                              "(true classes as rows, predicted classes as columns).")
    n = arr.shape[0]
    if n < 2:
        raise ClusteringError("the confusion matrix is 1 x 1; clustering needs at least 2 classes.")
    arr = arr.astype(np.float64, copy=False)  # never modified in place
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ClusteringError(f"the confusion matrix has {int(bad.sum())} NaN or infinite value(s), the first at "
                              f"row {i + 1}, column {j + 1}; expected finite counts or fractions.")
    neg = arr < 0
    if neg.any():
        i, j = np.argwhere(neg)[0]
        raise ClusteringError(f"the confusion matrix has {int(neg.sum())} negative value(s), the first "
                              f"{arr[i, j]:g} at row {i + 1}, column {j + 1}; expected counts or fractions >= 0.")
    if labels is None:
        labels = [str(k) for k in range(n)]
    else:
        if isinstance(labels, str):
            raise ClusteringError("labels must be a list of class names, not a single string.")
        labels = [str(x) for x in labels]
        if len(labels) != n:
            raise ClusteringError(f"{len(labels)} labels were given for a {n} x {n} confusion matrix; expected "
                                  f"one name per row/column ({n}).")
        seen: dict[str, int] = {}
        for k, lab in enumerate(labels):
            if not lab.strip():
                raise ClusteringError(f"label {k + 1} is empty; every class needs a name.")
            if lab in seen:
                raise ClusteringError(f"label {lab!r} occurs twice (positions {seen[lab] + 1} and {k + 1}); "
                                      "class names must be unique.")
            seen[lab] = k
    return arr, labels


def normalize_confusion(cm, *, labels=None, drop_empty: bool = False) -> tuple[np.ndarray, list[str], list[str]]:
    """Row-normalise a confusion matrix of counts (or fractions).

    Returns ``(C, kept_labels, dropped_labels)``: ``C[i, j]`` is the fraction of class-*i* images predicted as
    *j*. A row of zeros (a class never seen) is an error unless ``drop_empty=True``, which removes such classes
    (row and column; the fractions of the other classes stay relative to all their images).

    >>> C, kept, dropped = normalize_confusion([[8, 2, 0], [1, 9, 0], [0, 0, 0]], drop_empty=True)
    >>> C.tolist(), kept, dropped
    ([[0.8, 0.2], [0.1, 0.9]], ['0', '1'], ['2'])
    """
    arr, labels = _as_matrix(cm, labels)
    with np.errstate(over="ignore"):
        totals = arr.sum(axis=1)
    if not np.isfinite(totals).all():
        i = int(np.flatnonzero(~np.isfinite(totals))[0])
        raise ClusteringError(f"row {i + 1} ({labels[i]!r}) of the confusion matrix sums to more than the largest "
                              "float; expected counts or fractions (divide the matrix by its largest value).")
    empty = np.flatnonzero(totals <= 0)
    dropped: list[str] = []
    if empty.size:
        names = [labels[i] for i in empty]
        if not drop_empty:
            shown = ", ".join(repr(x) for x in names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10
                                                               else "")
            raise ClusteringError(f"{len(names)} row(s) of the confusion matrix are all zeros (class never seen): "
                                  f"{shown}; expected every class to have images, or pass drop_empty=True "
                                  "(--drop-empty) to leave such classes out.")
        keep = np.flatnonzero(totals > 0)
        if keep.size < 2:
            raise ClusteringError(f"only {keep.size} class(es) have images once the empty rows are dropped; "
                                  "clustering needs at least 2.")
        dropped = names
        arr = arr / np.where(totals > 0, totals, 1.0)[:, None]
        arr = arr[np.ix_(keep, keep)]
        labels = [labels[i] for i in keep]
    else:
        arr = arr / totals[:, None]
    return arr, labels, dropped


def symmetrize_confusion(C: np.ndarray, mode: str = "product") -> np.ndarray:
    """The symmetric similarity ``S`` of a row-normalised confusion matrix ``C``.

    ``"product"``: ``C @ C.T`` (classes whose images go to the same places, including each other);
    ``"hadamard"``: ``C * C.T`` (only two-way confusion counts); ``"mean"``: ``(C + C.T) / 2``.
    Every mode gives values in [0, 1].

    >>> symmetrize_confusion(np.array([[0.8, 0.2], [0.4, 0.6]]), "hadamard").tolist()
    [[0.6400000000000001, 0.08000000000000002], [0.08000000000000002, 0.36]]
    """
    _check_choice(mode, "symmetrize", SYMMETRIZE)
    C = np.asarray(C, dtype=np.float64)
    if mode == "product":
        n = C.shape[0]
        if n >= 500 and np.count_nonzero(C) < 0.05 * n * n:
            # a real confusion matrix of many classes is mostly zeros: a sparse product is far cheaper
            from scipy.sparse import csr_matrix

            Cs = csr_matrix(C)
            S = (Cs @ Cs.T).toarray()
        else:
            S = C @ C.T
        S = (S + S.T) / 2  # exact symmetry despite rounding
    elif mode == "hadamard":
        S = C * C.T
    else:
        S = (C + C.T) / 2
    return S
