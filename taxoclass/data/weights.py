"""Class imbalance: class weights for ``fit(class_weight=...)`` (scikit-learn ``compute_class_weight``).

The class-balanced sampler lives in the tf.data pipeline: ``make_dataset(..., sampling="balanced")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taxoclass.exceptions import ClassMismatchError, DataError

__all__ = ["class_weights"]


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
