"""Training on samples labelled at an internal node (see :mod:`taxoclass.taxonomy.internal_labels` for the
label codes): the flat model's loss :class:`NodeCrossentropy` and metric :class:`NodeAccuracy`, and the tree
model's target table.

>>> import numpy as np
>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> loss = NodeCrossentropy.for_taxonomy(tax)
>>> p = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]], "float32")
>>> [round(float(v), 4) for v in loss.call(np.array([0, 4]), p)]     # code 4 = node "a" (index 1): -log(0.8)
[0.6931, 0.2231]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from taxoclass.models.losses import _EPS, smooth
from taxoclass.taxonomy.internal_labels import code_nodes, extended_targets

__all__ = ["NodeCrossentropy", "NodeAccuracy", "tree_targets"]



@keras.saving.register_keras_serializable(package="taxoclass")
class NodeCrossentropy(keras.losses.Loss):
    """Cross-entropy on label codes: ``-log p(class)`` for a class, ``-log(sum of p over the classes under the
    node)`` for a sample labelled at an internal node; label smoothing as the other losses
    (``(1 - e) * loss + e * mean_j(-log p_j)``).

    It stores the classes' ancestor table ``(L, height + 1)`` and the (node index, depth) of every code, so that
    a code's classes are found in-graph (``ancestors[:, depth] == node``) without an ``(codes, L)`` matrix.
    """

    def __init__(self, ancestors, code_node, code_depth, label_smoothing: float = 0.0,
                 name: str = "crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.ancestors = np.asarray(ancestors, dtype=np.int32)
        self.code_node = np.asarray(code_node, dtype=np.int32)
        self.code_depth = np.asarray(code_depth, dtype=np.int32)
        self.label_smoothing = float(label_smoothing)

    @classmethod
    def for_taxonomy(cls, tax, *, label_smoothing: float = 0.0) -> "NodeCrossentropy":
        """The loss for the label codes of ``tax``."""
        nodes = code_nodes(tax)
        anc = np.asarray(tax.ancestor_table)[np.asarray(tax.leaf_nodes)]
        return cls(anc, nodes, np.asarray(tax.depths)[nodes], label_smoothing=label_smoothing)

    def call(self, y_true, y_pred):
        p = ops.clip(ops.cast(y_pred, "float32"), _EPS, 1.0)
        under = _under(self, y_true)
        loss = -ops.log(ops.clip(ops.sum(p * under, axis=-1), _EPS, 1.0))
        return smooth(loss, -ops.mean(ops.log(p), axis=-1), self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "ancestors": self.ancestors.tolist(), "code_node": self.code_node.tolist(),
                "code_depth": self.code_depth.tolist(), "label_smoothing": self.label_smoothing}


def _under(arrays, y_true):
    """(N, L) float: 1 for the classes under each sample's label (its class alone for a class code)."""
    y = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    node = ops.take(ops.convert_to_tensor(arrays.code_node), y)
    depth = ops.take(ops.convert_to_tensor(arrays.code_depth), y)
    # the ancestor of every class at the label's depth: the label's node exactly for the classes under it
    anc_at = ops.take(ops.transpose(ops.convert_to_tensor(arrays.ancestors)), depth, axis=0)
    return ops.cast(ops.equal(anc_at, ops.expand_dims(node, -1)), "float32")


@keras.saving.register_keras_serializable(package="taxoclass")
class NodeAccuracy(keras.metrics.Mean):
    """Top-1 accuracy on label codes: right when the most probable class is the label's class, or lies under the
    label's node (the flat model's ``accuracy``; equal to sparse categorical accuracy on class labels)."""

    def __init__(self, ancestors, code_node, code_depth, name: str = "accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ancestors = np.asarray(ancestors, dtype=np.int32)
        self.code_node = np.asarray(code_node, dtype=np.int32)
        self.code_depth = np.asarray(code_depth, dtype=np.int32)

    @classmethod
    def for_taxonomy(cls, tax) -> "NodeAccuracy":
        """The metric for the label codes of ``tax``."""
        loss = NodeCrossentropy.for_taxonomy(tax)
        return cls(loss.ancestors, loss.code_node, loss.code_depth)

    def update_state(self, y_true, y_pred, sample_weight=None):
        pred = ops.argmax(y_pred, axis=-1)
        hit = ops.take_along_axis(_under(self, y_true), ops.expand_dims(pred, -1), axis=-1)[:, 0]
        return super().update_state(hit, sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "ancestors": self.ancestors.tolist(),
                "code_node": self.code_node.tolist(), "code_depth": self.code_depth.tolist()}


def tree_targets(structure) -> np.ndarray:
    """The ``(n_codes, K)`` target table of a tree model for ``structure`` (a TreeStructure): its ``targets``
    for the classes, then one row per node with the decisions at and below the node masked."""
    return extended_targets(structure.taxonomy, structure.targets, structure.classifier_nodes)
