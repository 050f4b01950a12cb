"""Calibrated "not sure" answers: temperature scaling, expected calibration error, and the threshold that reaches a
target hierarchical precision.

At the end of training (``fit`` with validation data), :func:`calibrate` fits one **temperature** T on the
validation split (the leaf log-probabilities are divided by T and renormalised; T > 1 softens an over-confident
model) and stores, on the same calibrated validation probabilities, the **threshold curve**: for every threshold of
:data:`THRESHOLDS` the hierarchical precision of the "sure node" answers of taxoclass' one threshold rule
(:meth:`Taxonomy.threshold <taxoclass.taxonomy.arrays.TaxonomyArrays.threshold>`) and the share of images answered
at each depth. Both are saved in the model file, so :func:`threshold_for_precision` needs no data:

>>> import numpy as np
>>> from taxoclass import Taxonomy
>>> p = np.array([[0.98, 0.01, 0.01], [0.97, 0.02, 0.01], [0.01, 0.98, 0.01], [0.02, 0.01, 0.97]])
>>> y = np.array([0, 1, 1, 2])                         # the second image is wrong with 0.97 confidence
>>> T = fit_temperature(p, y)
>>> T > 1, expected_calibration_error(apply_temperature(p, T), y) < expected_calibration_error(p, y)
(True, True)
"""

from __future__ import annotations

import numpy as np

from taxoclass.exceptions import DataError, ModelError, TaxoclassError

__all__ = ["fit_temperature", "apply_temperature", "expected_calibration_error", "reliability_bins",
           "threshold_curve", "threshold_for_precision", "choose_threshold", "calibrate", "THRESHOLDS", "N_BINS"]

#: bins of the expected calibration error and the reliability diagram
N_BINS = 15
#: the thresholds at which the validation threshold curve is computed
THRESHOLDS = tuple(float(t) for t in np.unique(np.round(np.concatenate(
    [np.linspace(0.0, 0.95, 96), np.linspace(0.95, 0.999, 50), [0.9995, 0.9999]]), 6)))
_EPS = 1e-12
#: the range of the fitted temperature
T_RANGE = (0.2, 10.0)


def _log_proba(proba) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise DataError(f"probabilities must have shape (N, n_classes >= 2), got shape {p.shape}.")
    return np.log(np.clip(p, _EPS, None))


def apply_temperature(proba, temperature: float) -> np.ndarray:
    """Probabilities with their log divided by ``temperature`` and renormalised (softmax(log p / T)).

    >>> apply_temperature([[0.9, 0.1]], 2.0).round(3).tolist()
    [[0.75, 0.25]]
    """
    T = float(temperature)
    if not np.isfinite(T) or T <= 0:
        raise ModelError(f"temperature must be a positive number, got {temperature!r}.")
    z = _log_proba(proba) / T
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n or y.dtype.kind not in "iu":
        raise DataError(f"labels must be {n} integer class indices (one per row of the probabilities).")
    return y.astype(np.int64)


def fit_temperature(proba, y) -> float:
    """The temperature T minimising the negative log-likelihood of ``y`` (class indices) under
    softmax(log ``proba`` / T); searched on log T with scipy's bounded ``minimize_scalar`` for T between
    :data:`T_RANGE` (0.2 to 10; without a single error on the validation split the likelihood keeps rising as T falls,
    and T stops at 0.2).

    >>> fit_temperature([[0.99, 0.01], [0.99, 0.01]], [0, 1]) > 5      # half wrong at 99 %: soften a lot
    True
    """
    from scipy.optimize import minimize_scalar

    z = _log_proba(proba)
    y = _labels(y, len(z))
    if not len(z):
        raise DataError("fitting a temperature needs at least one labelled image.")

    def nll(log_t):
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(s)), y]))

    res = minimize_scalar(nll, bounds=tuple(np.log(T_RANGE)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x)) if nll(res.x) < nll(0.0) else 1.0


def reliability_bins(proba, y, n_bins: int = N_BINS) -> dict:
    """Top-1 confidence vs accuracy in ``n_bins`` equal-width bins: ``{"edges", "confidence", "accuracy", "count"}``
    (None in empty bins), the data of a reliability diagram.

    >>> reliability_bins([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=2)["count"]
    [0, 2]
    """
    p = np.asarray(proba, dtype=np.float64)
    y = _labels(y, len(p))
    conf = p.max(axis=1)
    right = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    csum = np.bincount(idx, weights=conf, minlength=n_bins)
    asum = np.bincount(idx, weights=right, minlength=n_bins)
    return {"edges": edges.tolist(), "count": count.tolist(),
            "confidence": [float(c / n) if n else None for c, n in zip(csum, count)],
            "accuracy": [float(a / n) if n else None for a, n in zip(asum, count)]}


def expected_calibration_error(proba, y, n_bins: int = N_BINS) -> float:
    """Expected calibration error of the top-1 confidence: the count-weighted mean of |accuracy - confidence| over
    ``n_bins`` equal-width bins (Guo et al. 2017).

    >>> round(expected_calibration_error([[0.9, 0.1], [0.9, 0.1]], [0, 1]), 3)
    0.4
    """
    b = reliability_bins(proba, y, n_bins)
    n = sum(b["count"])
    return float(sum(c * abs(a - f) for c, a, f in zip(b["count"], b["accuracy"], b["confidence"]) if c) / max(n, 1))


def threshold_curve(proba, y, taxonomy, thresholds=THRESHOLDS) -> dict:
    """For every threshold: the micro hierarchical precision and recall of the sure-node answers
    (:meth:`Taxonomy.threshold`) and the share of images answered at each depth (index 0 = the root, "not sure
    of anything") and at a class (a leaf). Precision is None where every answer is the root.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> c = threshold_curve([[0.5, 0.4, 0.1], [0.1, 0.1, 0.8]], [1, 2], tax, thresholds=[0.5, 0.85])
    >>> c["precision"], c["leaf_share"], c["depth_share"][0]
    ([0.75, 1.0], [1.0, 0.0], [0.0, 0.5])
    """
    P = np.asarray(proba, dtype=np.float64)
    y = _labels(y, len(P))
    tax = taxonomy
    depth = tax.depths
    anc = tax.ancestor_table
    true_nodes = tax.leaf_nodes[y]
    H = anc.shape[1] - 1
    out = {"thresholds": [float(t) for t in thresholds], "precision": [], "recall": [], "leaf_share": [],
           "depth_share": [[] for _ in range(H + 1)], "n": int(len(P))}
    n_true = depth[true_nodes].sum()
    for t in thresholds:
        sure = tax.threshold(P, float(t))
        d = depth[sure]
        inter = (anc[sure, 1:] == anc[true_nodes, 1:]) & (anc[sure, 1:] >= 0)
        n_inter, n_pred = inter.sum(), d.sum()
        out["precision"].append(float(n_inter / n_pred) if n_pred else None)
        out["recall"].append(float(n_inter / n_true) if n_true else None)
        out["leaf_share"].append(float(np.mean(tax.class_of_node[sure] >= 0)) if len(P) else 0.0)
        counts = np.bincount(d, minlength=H + 1) / max(len(P), 1)
        for k in range(H + 1):
            out["depth_share"][k].append(float(counts[k]))
    return out


def choose_threshold(curve: dict, target_precision: float) -> dict:
    """The lowest threshold of ``curve`` (:func:`threshold_curve`) from which on every threshold reaches
    ``target_precision`` (thresholds where every answer is "not sure", or where fewer than min(50, 5 %) of the
    images get an answer below the root, count as reaching it; the chosen one itself is well supported): the
    deepest answers at that precision. Returns ``{"threshold", "target_precision", "precision", "recall", "leaf_share",
    "depth_share", "n"}`` (the validation figures at that threshold).

    >>> curve = {"thresholds": [0.5, 0.7, 0.9], "precision": [0.8, 0.96, 0.99], "recall": [0.8, 0.7, 0.5],
    ...          "leaf_share": [1.0, 0.6, 0.3], "depth_share": [[0, 0, 0.1], [0, 0.4, 0.6], [1, 0.6, 0.3]], "n": 10}
    >>> choose_threshold(curve, 0.95)["threshold"]
    0.7
    >>> thin = {"thresholds": [0.5, 0.9, 0.99], "precision": [0.9, 0.97, 0.5], "recall": [0.8, 0.6, 0.01],
    ...         "leaf_share": [1.0, 0.5, 0.0], "depth_share": [[0, 0, 0.99], [0, 0.5, 0.01], [1, 0.5, 0]], "n": 1000}
    >>> choose_threshold(thin, 0.95)["threshold"]     # 10 answers at 0.99 are too few to veto 0.9
    0.9
    """
    try:
        P = float(target_precision)
    except (TypeError, ValueError):
        P = float("nan")
    if isinstance(target_precision, bool) or not 0 < P <= 1:
        raise TaxoclassError(f"target precision must be a number in (0, 1] such as 0.95, got {target_precision!r}.")
    ts, prec = curve["thresholds"], curve["precision"]
    # thresholds where fewer than `small` images get an answer below the root are too thin to judge: at the top of
    # the curve a single wrong answer among a handful would otherwise veto every lower threshold
    n = int(curve.get("n", 0))
    answered = [(1.0 - d0) * n for d0 in curve["depth_share"][0]]
    small = max(1.0, min(50.0, 0.05 * n))
    ok = [p is None or p >= P - 1e-12 or answered[i] < small for i, p in enumerate(prec)]
    start = None
    for i in range(len(ts) - 1, -1, -1):  # the lowest threshold with every higher (well supported) one reaching P
        if not ok[i]:
            break
        start = i
    while start is not None and (prec[start] is None or prec[start] < P - 1e-12 or answered[start] < small):
        start = start + 1 if start + 1 < len(ts) else None  # the first well-supported threshold reaching P
    if start is None or prec[start] is None:
        best = max((p for p in prec if p is not None), default=None)
        raise TaxoclassError(
            f"no threshold reaches hierarchical precision {P:g} on the validation split (the best is "
            f"{'-' if best is None else f'{best:.4g}'}); ask for a lower target precision or pass --threshold.")
    return {"threshold": ts[start], "target_precision": P, "precision": prec[start], "recall": curve["recall"][start],
            "leaf_share": curve["leaf_share"][start], "depth_share": [s[start] for s in curve["depth_share"]],
            "n": curve.get("n")}


def threshold_for_precision(model, target_precision: float) -> dict:
    """The threshold at which ``model``'s sure-node answers reach ``target_precision`` (hierarchical precision,
    micro) on its validation split, from the curve stored at the end of training; see :func:`choose_threshold`
    for the returned dict. Used by ``taxoclass predict / evaluate --target-precision`` and the Python API.

    >>> sel = threshold_for_precision(clf, 0.95)                   # doctest: +SKIP
    >>> clf.predict(X, threshold=sel["threshold"])                 # doctest: +SKIP
    """
    curve = getattr(model, "threshold_curve_", None)
    if not curve:
        raise TaxoclassError(
            "this model has no validation threshold curve (it was trained without a validation split, or by an "
            "older taxoclass): retrain it with a validation split, or pass a --threshold.")
    return choose_threshold(curve, target_precision)


def calibrate(model, proba_raw, y) -> dict:
    """Fit ``model``'s temperature on validation probabilities ``proba_raw`` (uncalibrated, class order) with
    labels ``y`` (class indices) and store the threshold curve of the calibrated probabilities. Sets
    ``model.temperature_``, ``model.calibration_`` (temperature, ECE before and after, n) and
    ``model.threshold_curve_``; returns ``model.calibration_``. Called by ``fit`` when it has validation data.

    >>> calibrate(clf, clf.predict_proba(X_val, calibrated=False), y_val)["ece_after"]   # doctest: +SKIP
    0.021
    """
    y = _labels(y, len(proba_raw))
    T = fit_temperature(proba_raw, y)
    cal = apply_temperature(proba_raw, T)
    model.temperature_ = T
    model.calibration_ = {"temperature": T, "ece_before": expected_calibration_error(proba_raw, y),
                          "ece_after": expected_calibration_error(cal, y), "n_bins": N_BINS, "n": int(len(y))}
    model.threshold_curve_ = threshold_curve(cal, y, model.taxonomy_)
    return model.calibration_


def to_metadata(model) -> dict:
    """What the model file keeps of the calibration (``metadata.json`` entry ``"calibration"``)."""
    return {"temperature": float(getattr(model, "temperature_", 1.0)), "summary": getattr(model, "calibration_", None),
            "threshold_curve": getattr(model, "threshold_curve_", None)}


def from_metadata(model, meta) -> None:
    """Restore :func:`to_metadata`'s entry; a file without one (older taxoclass) loads with temperature 1."""
    meta = meta if isinstance(meta, dict) else {}
    T = meta.get("temperature", 1.0)
    model.temperature_ = float(T) if isinstance(T, (int, float)) and not isinstance(T, bool) and T > 0 else 1.0
    model.calibration_ = meta.get("summary")
    model.threshold_curve_ = meta.get("threshold_curve")
