"""Training losses of the flat model: cross-entropy, taxonomy soft labels and hierarchical cross-entropy.

All three take sparse integer labels (class indices in ``taxonomy.classes`` order) and predicted class
probabilities (N, L), and support label smoothing the same way: with ``label_smoothing = e`` the loss is
``(1 - e) * loss + e * mean_j(-log p_j)``, which for plain cross-entropy is exactly cross-entropy against the
smoothed target ``(1 - e) * onehot + e / L``.

- ``"crossentropy"``: ``-log p(y)``.
- ``"soft_labels"`` (Bertinetto et al., "Making Better Mistakes", CVPR 2020): cross-entropy against the target
  ``q_j = softmax_j(-beta * d(y, j))``, ``d`` = height of the lowest common ancestor of classes ``y`` and ``j``
  (0 for ``j = y``; the mistake severity of :mod:`taxoclass.metrics`). Large ``beta`` -> plain cross-entropy.
- ``"hxe"`` (hierarchical cross-entropy, same paper): ``-sum over the edges (parent -> node) on y's path of
  lambda(node) * log P(node | parent)``, with ``P(node)`` the summed probability of the classes under the node and
  ``lambda(node) = exp(-alpha * (depth(node) - 1))``: 1 for the first decision under the root, discounted
  further down. ``alpha = 0`` is plain cross-entropy (the conditional terms telescope to ``-log p(y)``).

>>> import numpy as np
>>> from taxoclass.taxonomy import Taxonomy
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> p = np.array([[0.5, 0.3, 0.2]], "float32")
>>> round(float(make_loss("crossentropy", tax)(np.array([0]), p)), 4)    # -log 0.5
0.6931
>>> round(float(make_loss("hxe", tax, hxe_alpha=0.0)(np.array([0]), p)), 4)
0.6931
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops

from taxoclass.exceptions import ModelError
from taxoclass.taxonomy import Taxonomy

__all__ = ["LOSSES", "make_loss", "smooth", "soft_label_matrix", "hxe_matrix", "TaxonomyLoss"]

#: the values of ``FlatClassifier(loss=...)``
LOSSES = ("crossentropy", "soft_labels", "hxe")
_EPS = 1e-7  # probabilities are clipped to [EPS, 1] before the log, as Keras' own cross-entropy does


def smooth(nll, uniform_nll, label_smoothing: float):
    """Label smoothing, the one formula every loss of taxoclass uses: ``(1 - e) * nll + e * uniform_nll``.

    ``nll`` is the per-sample loss against the hard target, ``uniform_nll`` the mean ``-log p`` over the
    choices the target was taken from (the classes for a flat head, a node's children for a node of a tree), so
    that for cross-entropy the result is cross-entropy against the target ``(1 - e) * onehot + e / n``. Works on
    NumPy arrays and tensors alike.

    >>> p = np.array([0.5, 0.3, 0.2])
    >>> round(float(smooth(-np.log(p[0]), -np.log(p).mean(), 0.1)), 4)     # = -sum(q * log p), q = 0.9 * onehot + 0.1 / 3
    0.7407
    """
    e = float(label_smoothing)
    return nll if not e else (1.0 - e) * nll + e * uniform_nll


def soft_label_matrix(taxonomy: Taxonomy, beta: float) -> np.ndarray:
    """(L, L) soft targets: row ``y`` is ``softmax(-beta * lca_height[y])`` (rows sum to 1).

    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> [round(float(v), 3) for v in soft_label_matrix(tax, 1.0)[0]]       # x: itself (d=0), its sibling y (d=1), z (d=2)
    [0.665, 0.245, 0.09]
    """
    d = np.asarray(taxonomy.leaf_matrices()["lca_height"], dtype=np.float64)
    z = -float(beta) * d
    z -= z.max(axis=1, keepdims=True)
    q = np.exp(z)
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


def hxe_matrix(taxonomy: Taxonomy, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """``(ancestors, coef)``: ancestors (L, M) 1 where node m (every non-root node) lies on class l's path
    (itself included), and coef (L, M) such that ``HXE(y) = -sum_m coef[y, m] * log P(node m)``.

    On y's path n_1 .. n_d (n_0 = root, log P(root) = 0): ``coef[y, n_i] = lambda_i - lambda_{i+1}``
    (``lambda_{d+1} = 0``), since each edge contributes ``lambda_i * (log P(n_i) - log P(n_{i-1}))``.

    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> anc, coef = hxe_matrix(tax, 0.0)
    >>> coef.tolist()[0]           # alpha = 0: only the leaf itself counts, i.e. plain cross-entropy
    [0.0, 1.0, 0.0, 0.0, 0.0]
    """
    nodes = [n for n in taxonomy.nodes if n != taxonomy.root]
    col = {n: i for i, n in enumerate(nodes)}
    L, M = taxonomy.n_classes, len(nodes)
    anc = np.zeros((L, M), dtype=np.float32)
    coef = np.zeros((L, M), dtype=np.float32)
    root_depth = len(taxonomy.root)
    for li, leaf in enumerate(taxonomy.leaves):
        path = [leaf[:k] for k in range(root_depth + 1, len(leaf) + 1)]
        lam = [float(np.exp(-float(alpha) * i)) for i in range(len(path))] + [0.0]
        for i, node in enumerate(path):
            anc[li, col[node]] = 1.0
            coef[li, col[node]] = lam[i] - lam[i + 1]
    return anc, coef


@keras.saving.register_keras_serializable(package="taxoclass")
class TaxonomyLoss(keras.losses.Loss):
    """Per-sample ``-sum_m coef[y, m] * log(P @ ancestors)[m]`` with optional label smoothing.

    One class for the three losses: cross-entropy (``ancestors = coef = None``, i.e. the identity), soft labels
    (``ancestors = None``, ``coef`` = the soft-label matrix) and HXE (see :func:`hxe_matrix`). Build it with
    :func:`make_loss`.
    """

    def __init__(self, ancestors=None, coef=None, label_smoothing: float = 0.0, name: str = "taxonomy_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        # None = the identity (no (L, L) matrix to keep, save or multiply for the plain cases)
        self.ancestors = None if ancestors is None else np.asarray(ancestors, dtype=np.float32)
        self.coef = None if coef is None else np.asarray(coef, dtype=np.float32)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        p = ops.clip(ops.cast(y_pred, "float32"), _EPS, 1.0)
        y = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        log_node = ops.log(p if self.ancestors is None else ops.clip(
            ops.matmul(p, ops.convert_to_tensor(self.ancestors)), _EPS, 1.0))
        if self.coef is None:
            loss = -ops.take_along_axis(log_node, ops.expand_dims(y, -1), axis=-1)[:, 0]
        else:
            loss = -ops.sum(ops.take(ops.convert_to_tensor(self.coef), y, axis=0) * log_node, axis=-1)
        return smooth(loss, -ops.mean(ops.log(p), axis=-1), self.label_smoothing)

    def get_config(self):
        def jsonable(m):
            return None if m is None else m.tolist()

        return {**super().get_config(), "ancestors": jsonable(self.ancestors), "coef": jsonable(self.coef),
                "label_smoothing": self.label_smoothing}


def _check_number(name, v, lo=0.0, hi=None, *, hi_open=False):
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) and v >= lo and (
        hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}{')' if hi_open else ']'}"
        raise ModelError(f"{name} must be a number {rng}, got {v!r}.")
    return float(v)


def check_loss_params(loss, label_smoothing, soft_labels_beta, hxe_alpha) -> None:
    """One message per bad value (used by the estimators before anything is built)."""
    if loss not in LOSSES:
        raise ModelError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}.")
    _check_number("label_smoothing", label_smoothing, 0.0, 1.0, hi_open=True)
    _check_number("soft_labels_beta", soft_labels_beta, 0.0)
    _check_number("hxe_alpha", hxe_alpha, 0.0)


def make_loss(loss: str, taxonomy: Taxonomy, *, label_smoothing: float = 0.0, soft_labels_beta: float = 4.0,
              hxe_alpha: float = 0.1) -> keras.losses.Loss:
    """The Keras loss ``loss`` (one of :data:`LOSSES`) for the classes of ``taxonomy`` (in its class order).

    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> fn = make_loss("soft_labels", tax, soft_labels_beta=1.0)
    >>> round(float(fn(np.array([0]), np.array([[0.5, 0.3, 0.2]], "float32"))), 4)
    0.9007
    """
    check_loss_params(loss, label_smoothing, soft_labels_beta, hxe_alpha)
    if loss == "crossentropy":  # also takes labels at internal nodes (taxoclass.taxonomy.internal_labels)
        from taxoclass.models.partial_labels import NodeCrossentropy

        return NodeCrossentropy.for_taxonomy(taxonomy, label_smoothing=label_smoothing)
    if loss == "soft_labels":
        anc, coef = None, soft_label_matrix(taxonomy, soft_labels_beta)
    else:
        anc, coef = hxe_matrix(taxonomy, hxe_alpha)
    return TaxonomyLoss(anc, coef, label_smoothing=label_smoothing, name=loss)
