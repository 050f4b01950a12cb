"""Flat metrics: accuracy, top-k accuracy, balanced accuracy, per-class scores, confusion matrix."""

from __future__ import annotations

import warnings

import numpy as np

from taxoclass.exceptions import TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy
from taxoclass.metrics.inputs import (_check_k, _check_proba, _check_taxonomy, _encode_classes, _leaf_predictions,
                                      _prepare)


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
