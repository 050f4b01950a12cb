"""Coarse heads: B-CNN's branch points, auxiliary classifiers on the trunk's earlier stages.

B-CNN (Zhu & Bain, 2017) puts a softmax over the coarse groups of the taxonomy on the feature map of an earlier
convolutional stage, so that the lower layers are trained on the coarse decisions directly (deep supervision by
the hierarchy), not only through the gradient that reaches them from the last stage. Here a tree model with
``coarse_levels=(2, 3)`` gets one head per entry: global average pooling of a trunk stage's output, then a Dense
softmax over the taxonomy's nodes at that depth (a class shallower than the depth is its own group). The heads
are trained only: they add ``coarse_loss_weight`` times their cross-entropy to the loss and are never used to
predict, so inference costs what it did.

The stages: the trunk's last stages *before* its final one, the coarsest level on the earliest stage; with a
``vgg_bn`` trunk (4 stages) ``coarse_levels=(2, 3)`` reads ``stage2_pool`` for depth 2 and ``stage3_pool`` for
depth 3.

>>> from taxoclass import Taxonomy
>>> tax = Taxonomy.from_paths([["a", "x", "p"], ["a", "x", "q"], ["a", "y"], ["b", "z"]])
>>> table, sizes = coarse_targets(tax, (1, 2))
>>> sizes                      # depth 1: a, b; depth 2: x, y, z (y and z are classes at depth 2)
[2, 3]
>>> table[:4].tolist()         # the classes p, q, y, z
[[0, 0], [0, 0], [0, 1], [1, 2]]
>>> [n[-1] for n in tax.nodes]   # then one code per node: a label at "a" or "b" leaves depth 2 unknown (-1)
['root', 'a', 'x', 'p', 'q', 'y', 'b', 'z']
>>> table[4:].tolist()
[[-1, -1], [0, -1], [0, 0], [0, 0], [0, 0], [0, 1], [1, -1], [1, 2]]
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from taxoclass.exceptions import ModelError
from taxoclass.models import COARSE_LOSS_WEIGHT
from taxoclass.models.losses import smooth

__all__ = ["coarse_targets", "check_coarse_levels", "usable_coarse_levels", "check_coarse_options", "tap_trunk", "CoarseHeads"]


def coarse_targets(tax, depths) -> tuple[np.ndarray, list[int]]:
    """``(table, sizes)``: the group index of every label code (classes, then every node: see
    :func:`taxoclass.taxonomy.internal_labels.code_nodes`) at each depth of ``depths``, ``(n_codes, len(depths))``,
    -1 where a label at an internal node above that depth leaves the group unknown; and the number of groups at
    each depth. Groups are the nodes at the depth, in the order of the classes under them."""
    from taxoclass.taxonomy.internal_labels import code_nodes

    nodes = code_nodes(tax)
    anc = np.asarray(tax.ancestor_table)
    node_depth = np.asarray(tax.depths)
    leaf = np.zeros(len(tax.nodes), bool)
    leaf[np.asarray(tax.leaf_nodes)] = True
    columns, sizes = [], []
    for d in depths:
        group_node = np.where(node_depth[nodes] >= d, anc[nodes, min(d, anc.shape[1] - 1)],
                              np.where(leaf[nodes], nodes, -1))
        order = list(dict.fromkeys(int(g) for g in group_node[: tax.n_classes]))  # the classes' groups
        index = {g: i for i, g in enumerate(order)}
        columns.append([index.get(int(g), -1) for g in group_node])
        sizes.append(len(order))
    return np.asarray(columns, dtype=np.int32).T.reshape(len(nodes), len(sizes)), sizes


def check_coarse_levels(coarse_levels, coarse_loss_weight, tax, trunk, whole: bool = True) -> tuple[int, ...]:
    """The one check of ``coarse_levels`` and ``coarse_loss_weight`` (None: no coarse heads) for a tree on
    ``trunk``, ``whole`` unless cut for convolutional node blocks; returns the depths.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x", "p"], ["a", "x", "q"], ["b", "z"]])
    >>> check_coarse_levels([2, 1], 0.3, tax, "vgg_bn")
    (1, 2)
    >>> check_coarse_levels((3,), 0.3, tax, "vgg_bn")
    Traceback (most recent call last):
    ...
    taxoclass.exceptions.ModelError: coarse_levels (--coarse-levels) must be taxonomy depths from 1 to 2 (the classes' parents and above; this taxonomy has height 3), without repeats, got (3,); e.g. coarse_levels=(1,).
    """
    from taxoclass.models.backbones import backbone_spec
    from taxoclass.taxonomy import Taxonomy

    w = coarse_loss_weight
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not (0.0 < float(w) <= 10.0):
        raise ModelError(f"coarse_loss_weight (--coarse-loss-weight) must be a number in (0, 10], got {w!r}; "
                         f"e.g. {COARSE_LOSS_WEIGHT}.")
    if coarse_levels is None:
        return ()
    height = int(tax.height)
    try:
        if isinstance(coarse_levels, (str, bytes)):
            raise TypeError("a string is not a sequence of depths")
        depths = tuple(sorted(int(d) for d in coarse_levels))
        ok = all(not isinstance(d, bool) and float(d) == int(d) for d in coarse_levels)
    except (TypeError, ValueError, OverflowError):
        depths, ok = (), False
    if not ok or not depths or len(set(depths)) != len(depths) or depths[0] < 1 or depths[-1] > height - 1:
        hint = "coarse_levels=(1,)" if height >= 2 else "no coarse_levels (this taxonomy has one level)"
        raise ModelError(f"coarse_levels (--coarse-levels) must be taxonomy depths from 1 to {height - 1} (the classes' parents and "
                         f"above; this taxonomy has height {height}), without repeats, got "
                         f"{tuple(coarse_levels) if isinstance(coarse_levels, (list, tuple)) else coarse_levels!r}; "
                         f"e.g. {hint}.")
    stages = backbone_spec(trunk).stages if isinstance(trunk, str) and trunk in ("vgg_bn", "resnet_small") else 0
    if stages and not whole:
        raise ModelError("coarse heads read the stages of a whole trunk under dense node heads, but this trunk is cut "
                         "for convolutional node blocks: use node_block='dense' (--node-block dense) and the "
                         "default trunk_layer, or drop coarse_levels.")
    if len(depths) > stages - 1:
        raise ModelError(f"{len(depths)} coarse levels need {len(depths) + 1} trunk stages (one per coarse head, "
                         f"then the last one), but trunk={trunk!r} has {stages or 'no named stages'}; coarse heads "
                         "read the stages of a vgg_bn (4 stages) or resnet_small (3) trunk: choose one of those or "
                         "fewer coarse levels.")
    if isinstance(tax, Taxonomy):
        single = sorted(set(depths) - set(usable_coarse_levels(depths, tax)))  # in range by now: one group
        if single:
            raise ModelError(f"coarse_levels (--coarse-levels): every class has the same ancestor at depth "
                             f"{single[0]} of this taxonomy, so a coarse head there has one group to choose and "
                             "learns nothing; choose a depth where the classes split into two or more groups.")
    return depths


def usable_coarse_levels(coarse_levels, tax) -> tuple[int, ...]:
    """The depths of ``coarse_levels`` that ``tax`` has room for: below the root, above the classes' level, with two
    or more groups -- for a tree whose shape is known only once built (the error-based tree of ``benchmark``).

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "p"], ["a", "q"], ["b", "z"]])   # height 2
    >>> usable_coarse_levels((1, 2), tax)
    (1,)
    """
    kept = sorted(int(d) for d in coarse_levels if 1 <= int(d) <= int(tax.height) - 1)
    return tuple(d for d, size in zip(kept, coarse_targets(tax, kept)[1]) if size >= 2)


def check_coarse_options(coarse_levels, coarse_loss_weight, trunk, node_block, taxonomies: dict) -> None:
    """The commands' check (``train``, ``benchmark``) of ``--coarse-levels`` and ``--coarse-loss-weight`` (None:
    not given) for trees named by ``taxonomies`` (model name -> its taxonomy, or anything with its ``height``) on
    ``trunk`` (a name) with ``node_block``, before anything is written or trained.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x", "p"], ["a", "x", "q"], ["b", "z"]])
    >>> check_coarse_options(None, 0.5, "vgg_bn", "auto", {"combined": tax})
    Traceback (most recent call last):
    ...
    taxoclass.exceptions.ModelError: --coarse-loss-weight 0.5 weighs the coarse heads, but none is asked for: add --coarse-levels (e.g. 1) or drop --coarse-loss-weight.
    """
    if coarse_levels is None:
        if coarse_loss_weight is not None:
            raise ModelError(f"--coarse-loss-weight {coarse_loss_weight} weighs the coarse heads, but none is asked "
                             "for: add --coarse-levels (e.g. 1) or drop --coarse-loss-weight.")
        return
    whole = node_block in ("auto", "dense")
    for name, tax in taxonomies.items():
        try:
            weight = COARSE_LOSS_WEIGHT if coarse_loss_weight is None else coarse_loss_weight
            check_coarse_levels(coarse_levels, weight, tax, trunk, whole)
        except ModelError as exc:
            raise ModelError(f"{name}: {exc}" if len(taxonomies) > 1 else str(exc)) from None


def tap_trunk(stem: keras.Model, trunk: str, n_taps: int) -> keras.Model:
    """``stem`` (a named from-scratch trunk, whole) with the outputs of its ``n_taps`` stages before the last
    added: a model returning ``[features, tap_1, ..., tap_n]`` (earliest stage first), the same layers."""
    from taxoclass.models.backbones import backbone_spec

    spec = backbone_spec(trunk)
    inner = stem.get_layer("features")
    names = [spec.trunk_cut.format(prev=s) for s in range(spec.stages - n_taps, spec.stages)]
    tapped = keras.Model(inner.inputs, [inner.output, *[inner.get_layer(n).output for n in names]], name="features")
    inputs = keras.Input(stem.input_shape[1:], name="image")
    x = inputs
    for layer in stem.layers[1:]:  # the preprocessing layers before the nested feature model
        if layer is inner:
            break
        x = layer(x)
    return keras.Model(inputs, tapped(x), name=stem.name)


@keras.saving.register_keras_serializable(package="taxoclass")
class CoarseHeads(layers.Layer):
    """The coarse heads of a tree model: per tap, global average pooling and a Dense softmax over ``sizes[i]``
    groups; :meth:`loss` is ``weight`` times the summed (sample-weighted) cross-entropy of every head, samples
    whose group is unknown (-1 in ``targets``, the ``(n_codes, n_heads)`` table of :func:`coarse_targets`)
    left out. ``label_smoothing`` as the flat head's."""

    def __init__(self, sizes, targets, weight=COARSE_LOSS_WEIGHT, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        self.sizes = [int(s) for s in sizes]
        self.targets = np.asarray(targets, dtype=np.int32).reshape(-1, len(self.sizes))
        self.weight = float(weight)
        self.label_smoothing = float(label_smoothing)
        self.pool = layers.GlobalAveragePooling2D(name="pool")
        self.dense = [layers.Dense(s, name=f"coarse_{i + 1}") for i, s in enumerate(self.sizes)]

    def build(self, tap_shapes):
        for dense, shape in zip(self.dense, tap_shapes):
            dense.build((None, int(shape[-1])))
        self.built = True

    def call(self, taps):
        return [tf.cast(d(self.pool(t)), tf.float32) for d, t in zip(self.dense, taps)]

    def loss(self, taps, y, sw):
        """Summed weighted cross-entropy of the heads on the batch (divide by the batch's weight, as the rest)."""
        tgt = tf.gather(tf.constant(self.targets), y)
        total = 0.0
        for i, logits in enumerate(self(taps)):
            t = tgt[:, i]
            known = tf.cast(t >= 0, tf.float32)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(t, 0), logits=logits)
            if self.label_smoothing:
                ce = smooth(ce, -tf.reduce_mean(tf.nn.log_softmax(logits), axis=1), self.label_smoothing)
            total += tf.reduce_sum(ce * sw * known)
        return self.weight * total

    def get_config(self):
        return {**super().get_config(), "sizes": self.sizes, "targets": self.targets.tolist(),
                "weight": self.weight, "label_smoothing": self.label_smoothing}
