"""Is model B really better than model A on the same test images? :func:`paired_bootstrap`.

Two models scored on one test split differ by the luck of that split as well as by their merit. The paired
bootstrap resamples the *images* (with replacement), scores both models on each resample, and reads the 95 %
interval of the difference B - A: a difference whose interval excludes 0 is more than the luck of the split. It is
what ``taxoclass benchmark`` reports against the flat model (``vs_flat`` in benchmark.json, "Against the flat model"
in report.md) and what ``benchmarks/paired_bootstrap.py`` computes from two ``predictions.csv`` files.

Repeated runs of A and of B on the same images (for example several seeds of each) are pooled by giving each model's
predictions as an ``(R, N)`` array: each image's score is then the mean over the R runs, and the images are resampled
together, so the interval reflects the test split's luck for the runs' average.
"""

from __future__ import annotations

import numbers

import numpy as np

from taxoclass.exceptions import DataError, TaxoclassError
from taxoclass.metrics.inputs import _check_taxonomy, _encode_classes

__all__ = ["paired_bootstrap"]


def _runs(y_pred, tax, n: int, what: str) -> np.ndarray:
    """Predicted classes as an (R, N) array of class indices (one row per run)."""
    if isinstance(y_pred, np.ndarray) and y_pred.ndim > 2:
        raise DataError(f"{what} must hold one predicted class per test image, or one equally long row of them "
                        f"per run; got an array of shape {y_pred.shape}.")
    rows = [list(r) for r in y_pred] if _nested(y_pred) else [list(y_pred)]
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise DataError(f"{what}: every run must predict the same {n} test images; got rows of {lengths} predictions.")
    if lengths[0] != n:
        raise DataError(f"{what} has {lengths[0]} predictions per run for {n} true labels; score both models on "
                        "the same test images, in the same order.")
    return np.stack([_encode_classes(row, tax, what) for row in rows])


def _nested(y) -> bool:
    """Whether ``y`` is a sequence of rows (runs) rather than one row of labels."""
    first = next(iter(y), None)
    return first is not None and not isinstance(first, (str, bytes, numbers.Number, np.generic))


def paired_bootstrap(y_true, y_pred_a, y_pred_b, taxonomy, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Top-1 accuracy and mistake severity of model B minus model A on the same images, with 95 % intervals.

    Parameters
    ----------
    y_true : the N true classes (names, or indices in ``taxonomy.classes`` order).
    y_pred_a, y_pred_b : each model's N predicted classes, or an (R, N) array of them for R repeated runs (the
        same R for both).
    taxonomy : the :class:`~taxoclass.Taxonomy` the mistake distances (LCA heights) are measured on.
    resamples : bootstrap resamples of the images (default 1,000).
    seed : seed of the resampling.

    Returns
    -------
    dict with ``n_images``, ``runs``, ``resamples``, ``seed`` and, for ``"accuracy"`` and ``"mistake_severity"``
    (as :func:`~taxoclass.metrics.mistake_severity`: the mean LCA height of the wrong answers), ``a``, ``b``,
    ``b_minus_a``, ``ci95`` (the 2.5 and 97.5 percentiles of the resampled differences) and ``excludes_zero``.
    Severity is NaN where a model makes no mistake.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> res = paired_bootstrap(["x", "y", "z", "x"], ["x", "x", "z", "z"], ["x", "y", "z", "y"], tax, resamples=200)
    >>> res["accuracy"]["a"], res["accuracy"]["b"], res["accuracy"]["b_minus_a"]
    (0.5, 0.75, 0.25)
    >>> res["mistake_severity"]["a"], res["mistake_severity"]["b"]   # B's one mistake stays within "a"
    (1.5, 1.0)
    """
    tax = _check_taxonomy(taxonomy)
    if isinstance(resamples, bool) or not isinstance(resamples, numbers.Integral) or not 1 <= resamples <= 1_000_000:
        raise TaxoclassError(f"resamples must be an integer from 1 to 1,000,000, got {resamples!r}; 1,000 is usual.")
    t = _encode_classes(y_true, tax, "y_true")
    a, b = _runs(y_pred_a, tax, len(t), "y_pred_a"), _runs(y_pred_b, tax, len(t), "y_pred_b")
    if a.shape[0] != b.shape[0]:
        raise DataError(f"give as many runs of model B as of model A (got {a.shape[0]} and {b.shape[0]}).")
    runs, n = a.shape
    height = tax.leaf_matrices()["lca_height"]  # 0 on the diagonal: a right answer costs nothing
    right_a, right_b = (a == t).sum(axis=0), (b == t).sum(axis=0)  # per image: the runs that got it right
    dist_a, dist_b = height[t, a].sum(axis=0), height[t, b].sum(axis=0)  # and their mistakes' summed distance

    def severity(right, dist):
        wrong = runs * len(right) - right.sum()
        return float(dist.sum() / wrong) if wrong else float("nan")

    rng = np.random.default_rng(seed)
    diffs = np.empty((int(resamples), 2))
    for r in range(int(resamples)):
        i = rng.integers(0, n, n)
        diffs[r] = ((right_b[i].sum() - right_a[i].sum()) / (runs * n),
                    severity(right_b[i], dist_b[i]) - severity(right_a[i], dist_a[i]))
    out = {"n_images": int(n), "runs": int(runs), "resamples": int(resamples), "seed": seed}
    values = {"accuracy": (right_a.sum() / (runs * n), right_b.sum() / (runs * n)),
              "mistake_severity": (severity(right_a, dist_a), severity(right_b, dist_b))}
    for j, (name, (va, vb)) in enumerate(values.items()):
        d = diffs[:, j][np.isfinite(diffs[:, j])]
        lo, hi = np.percentile(d, [2.5, 97.5]) if len(d) else (float("nan"), float("nan"))
        out[name] = {"a": round(float(va), 4), "b": round(float(vb), 4), "b_minus_a": round(float(vb - va), 4),
                     "ci95": [round(float(lo), 4), round(float(hi), 4)], "excludes_zero": bool(lo > 0 or hi < 0)}
    return out
