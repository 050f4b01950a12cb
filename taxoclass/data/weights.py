"""Class imbalance: class weights for ``fit(class_weight=...)`` (scikit-learn ``compute_class_weight``).

The class-balanced sampler lives in the tf.data pipeline: ``make_dataset(..., sampling="balanced")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taxoclass.exceptions import ClassMismatchError, DataError, ModelError

__all__ = ["class_weights", "fit_class_weight"]


def class_weights(labels, classes: Sequence[str] | None = None, *, mode: str = "balanced") -> dict[int, float]:
    """Per-class weights keyed by class index (the order of ``classes``), ready for Keras ``class_weight``.

    ``labels`` are class names (or int indices into ``classes``); ``classes`` defaults to the sorted label set and
    may be a Taxonomy. ``mode="balanced"`` gives ``n_samples / (n_classes_present * count)`` (scikit-learn);
    ``mode="sqrt"`` the square root of that (a milder correction). Classes without any image get weight 0.

    >>> class_weights(["a", "a", "a", "b"], ["a", "b"])
    {0: 0.6666666666666666, 1: 2.0}
    """
    from sklearn.utils.class_weight import compute_class_weight

    if mode not in ("balanced", "sqrt"):
        raise DataError(f"mode={mode!r} is not valid; expected 'balanced' or 'sqrt'.")
    labels = np.asarray(list(labels))
    if labels.size == 0:
        raise DataError("class_weights: no labels given; expected one label per training image.")
    if classes is None:
        classes = sorted({str(v) for v in labels})
    classes = list(getattr(classes, "classes", classes))
    if np.issubdtype(labels.dtype, np.integer):
        bad = sorted({int(v) for v in labels if v < 0 or v >= len(classes)})
        if bad:
            raise ClassMismatchError(f"class_weights: label indices {bad[:10]} are outside 0..{len(classes) - 1}.")
        labels = np.asarray(classes, dtype=object)[labels]
    labels = np.array([str(v) for v in labels], dtype=object)
    unknown = sorted(set(labels.tolist()) - set(classes))
    if unknown:
        raise ClassMismatchError(f"class_weights: labels not among the classes: {', '.join(unknown[:20])}; give a "
                                 "class list (taxonomy) that contains every label.")
    present = np.array(sorted(set(labels.tolist())), dtype=object)
    w = compute_class_weight("balanced", classes=present, y=labels)
    if mode == "sqrt":
        w = np.sqrt(w)
    by_name = dict(zip(present.tolist(), w.tolist()))
    return {i: float(by_name.get(c, 0.0)) for i, c in enumerate(classes)}


def fit_class_weight(class_weight, y_idx, classes: Sequence[str]) -> dict[int, float] | None:
    """A model's ``fit(class_weight=...)`` as Keras wants it: ``{class index: weight}`` or None.

    ``class_weight`` is None or ``"none"`` (no weighting), ``"balanced"`` or ``"sqrt"`` (:func:`class_weights` of
    the training labels ``y_idx``, indices into ``classes``, that mode) or ``{class name or index: weight}`` (unnamed classes weigh 1).

    >>> fit_class_weight({"b": 3}, None, ["a", "b"])
    {0: 1.0, 1: 3.0}
    """
    if class_weight is None or (isinstance(class_weight, str) and class_weight == "none"):
        return None
    n = len(classes)
    if isinstance(class_weight, str):
        if class_weight not in ("balanced", "sqrt"):
            raise ModelError(f"class_weight must be None, 'none', 'balanced', 'sqrt' or a dict {{class: weight}}, "
                             f"got {class_weight!r}.")
        return {i: (w if w > 0 else 1.0) for i, w in
                class_weights(np.asarray(y_idx), classes, mode=class_weight).items()}
    if isinstance(class_weight, dict):
        out = {c: 1.0 for c in range(n)}
        unknown = [k for k in class_weight if not (k in classes or (isinstance(k, (int, np.integer)) and 0 <= k < n))]
        if unknown:
            raise ClassMismatchError(f"class_weight has keys that are not classes of the taxonomy: "
                                     f"{', '.join(map(str, unknown))}; use class names or indices.")
        for k, v in class_weight.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ModelError(f"class_weight[{k!r}] must be a number >= 0, got {v!r}.")
            out[list(classes).index(k) if isinstance(k, str) else int(k)] = float(v)
        return out
    raise ModelError(f"class_weight must be None, 'none', 'balanced', 'sqrt' or a dict {{class: weight}}, got "
                     f"{type(class_weight).__name__}.")
