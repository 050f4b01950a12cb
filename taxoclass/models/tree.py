"""The taxonomy cascade: :class:`TreeClassifier` and its fused Keras model :class:`TreeModel`.

Every internal node with two or more children (a *classifier node*) owns a branch -- a CNN feature block and an
MLP head ending in one logit per child (see :mod:`taxoclass.models.blocks`). All branches live in ONE Keras model,
optionally on a shared trunk (HD-CNN: shared lower layers, specialised upper layers):

- **Training, one pass, compute proportional to the samples under each node.** In ``train_step`` each node's
  branch runs only on the sub-batch of samples whose class lies under it (``tf.gather`` of the trunk's features);
  the node's sparse categorical cross-entropy over its children is summed over that sub-batch. A node with no
  sample in the batch runs its branch on one masked padding row (weight 0: no loss, no gradient), which avoids
  oneDNN's failure on empty convolutions inside compiled steps; this compiles about twice as fast as a
  ``tf.cond`` per node. With unit level weights the total loss is exactly the negative log-likelihood of
  the true leaf, averaged over the batch.
- **Inference, in the same graph.** ``log P(leaf) = sum over the nodes on its path of log P(child | node)``,
  computed as ``concat(log_softmax(node logits)) @ M`` with a fixed (edges x leaves) 0/1 matrix ``M``, so one
  call returns the whole leaf distribution (rows sum to 1). ``mode="greedy"`` instead evaluates only the nodes
  on the chosen top-down path (conditional execution).

>>> from taxoclass import Taxonomy
>>> from taxoclass.models.tree import TreeClassifier
>>> tax = Taxonomy.from_paths([["warm", "red"], ["warm", "yellow"], ["cold", "blue"], ["cold", "green"]])
>>> clf = TreeClassifier(tax, input_shape=(16, 16, 3), block_filters=(8,), head_units=(16,), epochs=2)
>>> clf.fit(X, y).predict(X[:2], mode="greedy")                             # doctest: +SKIP
array(['red', 'blue'], dtype=object)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from sklearn.utils.validation import check_is_fitted

from taxoclass.exceptions import ModelError, TaxonomyError
from taxoclass.models import backbones as _backbones  # noqa: F401 - registers ImagePreprocess for safe loading
from taxoclass.models.base import BaseClassifier
from taxoclass.models.blocks import block_flops, build_branch
from taxoclass.taxonomy import Taxonomy

__all__ = ["TreeClassifier", "TreeModel", "FusedAdam", "TreeStructure", "LevelWeightSchedule", "ROUTINGS",
           "PREDICT_MODES"]

ROUTINGS = ("gather", "mask")
PREDICT_MODES = ("soft", "greedy")
TRUNKS = ("inception_v3", "mobilenet_v2", "resnet50", "densenet121", "efficientnet_b0", "small_cnn")


# ============================================================================================ structure
class TreeStructure:
    """The fixed arrays a tree model needs, derived once from a :class:`Taxonomy`.

    - ``classifier_nodes``: the K nodes with >= 2 children, pre-order (parents before children);
    - ``n_children[k]``; ``edge_matrix`` (E x L, E = sum of ``n_children``): 1 where edge (node k -> child j) lies
      on the path of leaf l; ``targets`` (L x K): index of the child of node k on leaf l's path, -1 when leaf l is
      not under node k; ``levels[k]``: depth of node k (root = 0);
    - ``next_classifier[k][j]``: the classifier node reached from child j of node k through single-child
      chains, or -1 when that path ends in a leaf without another decision.

    >>> s = TreeStructure(Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]]))
    >>> s.n_children, s.targets.tolist()
    ([2, 2], [[0, 0], [0, 1], [1, -1]])
    """

    def __init__(self, taxonomy: Taxonomy):
        tax = taxonomy
        if tax.n_classes < 2:
            raise TaxonomyError(f"a tree model needs at least 2 classes, the taxonomy has {tax.n_classes}.")
        self.taxonomy = tax
        nodes = list(tax.nodes)
        index = {n: i for i, n in enumerate(nodes)}
        self.classifier_nodes = list(tax.classifier_nodes)
        K, L = len(self.classifier_nodes), tax.n_classes
        self.cls_index = {n: k for k, n in enumerate(self.classifier_nodes)}
        self.children = [tax.children(n) for n in self.classifier_nodes]
        self.n_children = [len(c) for c in self.children]
        self.levels = np.array([len(n) - 1 for n in self.classifier_nodes], dtype=np.int32)
        self.n_levels = max(int(tax.height), 1)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_children)]).astype(np.int64)
        E = int(self.offsets[-1])
        self.edge_matrix = np.zeros((E, L), dtype=np.float32)
        self.targets = np.full((L, K), -1, dtype=np.int32)
        for li, leaf in enumerate(tax.leaves):
            for d in range(len(leaf) - 1):
                k = self.cls_index.get(leaf[:d + 1])
                if k is None:
                    continue
                j = self.children[k].index(leaf[:d + 2])
                self.targets[li, k] = j
                self.edge_matrix[self.offsets[k] + j, li] = 1.0

        def below(node):  # follow single-child chains down to the next decision
            while True:
                kids = tax.children(node)
                if len(kids) >= 2:
                    return self.cls_index[node]
                if not kids:
                    return -1
                node = kids[0]

        self.entry = below(tax.root)
        self.next_classifier = [[below(c) for c in ch] for ch in self.children]
        # node tables for walking paths in numpy
        self.nodes = nodes
        H = self.n_levels
        width = max(len(tax.children(n)) for n in nodes) or 1
        self.child_table = np.full((len(nodes), width), -1, dtype=np.int64)
        for i, n in enumerate(nodes):
            for j, c in enumerate(tax.children(n)):
                self.child_table[i, j] = index[c]
        self.node_cls = np.array([self.cls_index.get(n, -1) for n in nodes], dtype=np.int64)
        self.is_leaf = np.array([not tax.children(n) for n in nodes])
        self.leaf_paths = np.full((L, H + 1), -1, dtype=np.int64)
        for li, leaf in enumerate(tax.leaves):
            self.leaf_paths[li, :len(leaf)] = [index[leaf[:d + 1]] for d in range(len(leaf))]
        self.leaf_pos = np.full(len(nodes), -1, dtype=np.int64)
        for li, leaf in enumerate(tax.leaves):
            self.leaf_pos[index[leaf]] = li
        # ancestor-or-self matrix (L x n_nodes): P(node) = P(leaves) @ anc
        self.ancestors = np.zeros((L, len(nodes)), dtype=np.float64)
        for li in range(L):
            p = self.leaf_paths[li]
            self.ancestors[li, p[p >= 0]] = 1.0
        self.names = np.array([n[-1] for n in nodes], dtype=object)

    @property
    def n_classifiers(self) -> int:
        return len(self.classifier_nodes)

    def mean_path_classifiers(self, weights=None) -> float:
        """Average number of classifier nodes on a root-to-leaf path (weighted by ``weights`` per class)."""
        per_leaf = (self.targets >= 0).sum(axis=1)
        return float(np.average(per_leaf, weights=weights))


# ============================================================================================ optimizer
@keras.saving.register_keras_serializable(package="taxoclass")
class FusedAdam(keras.optimizers.Adam):
    """Keras Adam whose per-variable update is TensorFlow's fused ``ResourceApplyAdam`` kernel.

    Same arithmetic as ``keras.optimizers.Adam`` (bias-corrected step size, epsilon added to sqrt(v)), but one
    graph op per variable instead of about thirty, with the bias-correction powers computed once per step. A tree
    has hundreds of small variables (NDSB: 42 nodes x 8), so this shortens the train step's build time and its
    per-step overhead. Falls back to Keras' update under a multi-device strategy and for ``amsgrad``.

    >>> opt = FusedAdam(learning_rate=1e-3)
    >>> opt.get_config()["learning_rate"]
    0.001
    """

    def _fusable(self):
        return not self.amsgrad and tf.distribute.get_strategy().num_replicas_in_sync == 1

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        powers = None
        if self._fusable():
            step = tf.cast(self.iterations + 1, tf.float32)
            powers = (tf.pow(tf.cast(self.beta_1, tf.float32), step), tf.pow(tf.cast(self.beta_2, tf.float32), step),
                      tf.cast(learning_rate, tf.float32))
        object.__setattr__(self, "_fused_powers", powers)
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            object.__setattr__(self, "_fused_powers", None)

    def update_step(self, gradient, variable, learning_rate):
        powers = getattr(self, "_fused_powers", None)
        if powers is None or not hasattr(variable, "handle") or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dt = variable.dtype
        b1p, b2p, lr = (tf.cast(v, dt) for v in powers)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=m.value.handle, v=v.value.handle, beta1_power=b1p,
                                     beta2_power=b2p, lr=lr, beta1=tf.cast(self.beta_1, dt),
                                     beta2=tf.cast(self.beta_2, dt), epsilon=tf.cast(self.epsilon, dt),
                                     grad=tf.cast(gradient, dt), use_locking=False)


# ============================================================================================ Keras model
@keras.saving.register_keras_serializable(package="taxoclass")
class TreeModel(keras.Model):
    """The fused tree network: ``stem`` (preprocessing and optional trunk) -> one branch per classifier node.

    Calling it returns leaf probabilities (N, L) in taxonomy class order (every branch on every sample, combined
    in-graph with the edge matrix). ``fit`` uses a custom ``train_step`` where each branch runs on the samples
    under its node only (``routing="gather"``) or, for reference, on every sample with the loss masked
    (``routing="mask"``). :meth:`greedy_decisions` evaluates only the nodes on each sample's top-down path.

    Logs: ``loss`` (weighted sum of the node losses per sample = leaf NLL with unit level weights) and
    ``accuracy`` (share of samples whose every decision on their true path is right, i.e. greedy accuracy).

    Build it with :class:`TreeClassifier`; it is a plain Keras model (``model.predict(images)`` works, and it
    saves and loads with ``safe_mode=True``).
    """

    def __init__(self, stem, branches, edge_matrix, targets, levels, next_classifier, entry=0, n_levels=None,
                 routing="gather", **kwargs):
        super().__init__(**kwargs)
        if routing not in ROUTINGS:
            raise ModelError(f"routing must be one of {', '.join(ROUTINGS)}, got {routing!r}.")
        self.stem = stem
        self.branches = list(branches)
        self.edge_matrix = np.asarray(edge_matrix, dtype=np.float32)
        self.targets = np.asarray(targets, dtype=np.int32)
        self.levels = np.asarray(levels, dtype=np.int32)
        self.next_classifier = [list(map(int, r)) for r in next_classifier]
        self.entry = int(entry)
        self.n_levels = int(n_levels if n_levels is not None else self.levels.max() + 1)
        self.routing = routing
        self.level_weights = self.add_weight(name="level_weights", shape=(self.n_levels,), initializer="ones",
                                             trainable=False, dtype="float32")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.built = True

    # ---------------------------------------------------------------- serialisation
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "stem": keras.saving.serialize_keras_object(self.stem),
                "branches": [keras.saving.serialize_keras_object(b) for b in self.branches],
                "edge_matrix": self.edge_matrix.astype(int).tolist(), "targets": self.targets.tolist(),
                "levels": self.levels.tolist(), "next_classifier": self.next_classifier, "entry": self.entry,
                "n_levels": self.n_levels, "routing": self.routing}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["stem"] = keras.saving.deserialize_keras_object(config["stem"])
        config["branches"] = [keras.saving.deserialize_keras_object(b) for b in config["branches"]]
        return cls(**config)

    # ---------------------------------------------------------------- inference
    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def node_log_probs(self, x, training=False):
        """Concatenated ``log P(child | node)`` of every classifier node (N, E), every branch on every sample."""
        f = self.stem(x, training=training)
        return tf.concat([tf.nn.log_softmax(tf.cast(b(f, training=training), tf.float32)) for b in self.branches],
                         axis=1)

    def call(self, x, training=False):
        logp = tf.matmul(self.node_log_probs(x, training=training), tf.constant(self.edge_matrix))
        return tf.exp(logp)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.edge_matrix.shape[1])

    @tf.autograph.experimental.do_not_convert
    def greedy_decisions(self, x):
        """Top-down argmax evaluating only the nodes on each sample's chosen path.

        Returns ``(choice, prob)``, both (N, K): the chosen child index and its conditional probability at every
        classifier node the sample reached (-1 and 0 elsewhere).
        """
        n = tf.shape(x)[0]
        f = self.stem(x, training=False)
        reach = {self.entry: tf.range(n)}
        choices, probs = [], []
        for k, branch in enumerate(self.branches):
            idx = reach.get(k, tf.zeros([0], tf.int32))

            def run(idx=idx, branch=branch):
                p = tf.nn.softmax(tf.cast(branch(tf.gather(f, idx), training=False), tf.float32))
                return tf.argmax(p, axis=1, output_type=tf.int32), tf.reduce_max(p, axis=1)

            def skip():
                return tf.zeros([0], tf.int32), tf.zeros([0], tf.float32)

            c, pc = tf.cond(tf.size(idx) > 0, run, skip)
            for j, k2 in enumerate(self.next_classifier[k]):
                if k2 >= 0:
                    reach[k2] = tf.boolean_mask(idx, tf.equal(c, j))
            choices.append(tf.scatter_nd(idx[:, None], c + 1, [n]) - 1)
            probs.append(tf.scatter_nd(idx[:, None], pc, [n]))
        return tf.stack(choices, axis=1), tf.stack(probs, axis=1)

    # ---------------------------------------------------------------- training
    @tf.autograph.experimental.do_not_convert
    def tree_loss(self, x, y, sample_weight=None, training=False):
        """Per-batch loss and per-sample path correctness, each branch run on the samples under its node.

        Returns ``(loss, correct, node_losses)``: the weighted sum of node cross-entropies divided by the batch's
        total sample weight, a (N,) 0/1 vector, and the (K,) per-node summed losses (before level weights).
        """
        f = self.stem(x, training=training)
        n = tf.shape(f)[0]
        y = tf.reshape(tf.cast(y, tf.int32), [-1])
        sw = tf.ones([n], tf.float32) if sample_weight is None else tf.reshape(
            tf.cast(sample_weight, tf.float32), [-1])
        tgt = tf.gather(tf.constant(self.targets), y)  # (N, K)
        lw = tf.gather(self.level_weights, tf.constant(self.levels))
        if self.routing == "gather":
            node_losses, wrong = self._gathered_losses(f, tgt, sw, training)
        else:
            node_losses, wrong = self._masked_losses(f, tgt, sw, training)
        total = tf.reduce_sum(node_losses * lw)
        loss = total / tf.maximum(tf.reduce_sum(sw), 1e-12)
        if self.losses:
            loss = loss + tf.add_n([tf.cast(v, tf.float32) for v in self.losses])
        return loss, 1.0 - wrong, node_losses

    def _gathered_losses(self, f, tgt, sw, training):
        """Each branch on the rows of the samples under its node, with the bookkeeping done once for all nodes.

        The (node, sample) pairs are listed node by node; ONE gather builds every node's sub-batch (then split),
        the logits of all nodes are padded to the widest node and concatenated, so the cross-entropy, argmax and
        per-node sums are single ops. A node without samples gets one padding row (sample 0, weight 0) so that
        no convolution ever sees an empty batch (oneDNN fails on those inside compiled steps).
        """
        n_nodes = len(self.branches)
        n = tf.shape(f)[0]
        pairs = tf.cast(tf.where(tf.transpose(tgt >= 0)), tf.int32)  # (P, 2): node, sample; sorted by node
        counts = tf.math.bincount(pairs[:, 0], minlength=n_nodes, maxlength=n_nodes, dtype=tf.int32)
        empty = tf.cast(tf.where(tf.equal(counts, 0))[:, 0], tf.int32)
        allp = tf.concat([pairs, tf.stack([empty, tf.zeros_like(empty)], axis=1)], axis=0)
        order = tf.argsort(allp[:, 0], stable=True)
        allp = tf.gather(allp, order)
        node_id, idx = allp[:, 0], allp[:, 1]
        valid = tf.gather(tf.concat([tf.ones([tf.shape(pairs)[0]]), tf.zeros([tf.shape(empty)[0]])], 0), order)
        parts = tf.split(tf.gather(f, idx), tf.maximum(counts, 1), num=n_nodes)
        widest = max(int(b.output_shape[-1]) for b in self.branches)
        logits = []
        for part, branch in zip(parts, self.branches):
            z = tf.cast(branch(part, training=training), tf.float32)
            pad = widest - int(branch.output_shape[-1])
            logits.append(tf.pad(z, [[0, 0], [0, pad]], constant_values=-1e9) if pad else z)
        logits = tf.concat(logits, axis=0)
        t = tf.maximum(tf.gather_nd(tgt, tf.stack([idx, node_id], axis=1)), 0)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits)
        node_losses = tf.math.unsorted_segment_sum(ce * tf.gather(sw, idx) * valid, node_id, n_nodes)
        miss = valid * tf.cast(tf.not_equal(tf.argmax(logits, axis=1, output_type=tf.int32), t), tf.float32)
        wrong = tf.maximum(tf.math.unsorted_segment_max(miss, idx, n), 0.0)
        return node_losses, wrong

    def _masked_losses(self, f, tgt, sw, training):
        """The naive reference: every branch on every sample, the loss masked to the samples under the node."""
        n = tf.shape(f)[0]
        wrong = tf.zeros([n], tf.float32)
        node_losses = []
        for k, branch in enumerate(self.branches):
            t_k = tgt[:, k]
            logits = tf.cast(branch(f, training=training), tf.float32)
            mask = tf.cast(t_k >= 0, tf.float32)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(t_k, 0), logits=logits)
            node_losses.append(tf.reduce_sum(ce * mask * sw))
            miss = mask * tf.cast(tf.not_equal(tf.argmax(logits, axis=1, output_type=tf.int32), t_k), tf.float32)
            wrong = tf.maximum(wrong, miss)
        return tf.stack(node_losses), wrong

    def _update_metrics(self, loss, correct, sw):
        n = tf.cast(tf.shape(correct)[0], tf.float32)
        self.loss_tracker.update_state(loss, sample_weight=n)
        self.accuracy_tracker.update_state(correct, sample_weight=sw)
        return {m.name: m.result() for m in self.metrics}

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        x, y, sw = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss, correct, _ = self.tree_loss(x, y, sw, training=True)
            scaled = self.optimizer.scale_loss(loss) if hasattr(self.optimizer, "scale_loss") else loss
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._update_metrics(loss, correct, sw)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        x, y, sw = keras.utils.unpack_x_y_sample_weight(data)
        loss, correct, _ = self.tree_loss(x, y, sw, training=False)
        return self._update_metrics(loss, correct, sw)


# ============================================================================================ level weights
class LevelWeightSchedule(keras.callbacks.Callback):
    """Per-level loss weights changed during training (B-CNN's coarse-to-fine "branch training strategy").

    ``schedule`` maps a starting epoch to the weights of every level (depth of the deciding node, root = 0),
    applied from that epoch on; or it is a callable ``epoch -> weights``. :meth:`coarse_to_fine` builds the
    usual schedule.

    >>> cb = LevelWeightSchedule({0: [1.0, 0.1], 5: [1.0, 1.0]})
    >>> cb.weights_at(3), cb.weights_at(7)
    ([1.0, 0.1], [1.0, 1.0])
    """

    def __init__(self, schedule: Mapping[int, Sequence[float]] | Callable[[int], Sequence[float]]):
        super().__init__()
        if not callable(schedule):
            if not isinstance(schedule, Mapping) or not schedule:
                raise ModelError("schedule must be a non-empty {start_epoch: [weight per level]} mapping or a "
                                 "callable epoch -> weights.")
            if 0 not in schedule:
                raise ModelError(f"schedule must give the weights of epoch 0, got start epochs {sorted(schedule)}.")
            for e, w in schedule.items():
                _check_level_weights(w, None, what=f"schedule[{e}]")
        self.schedule = schedule

    @staticmethod
    def coarse_to_fine(n_levels: int, epochs: int) -> "LevelWeightSchedule":
        """Stage s (of ``n_levels``) starts at epoch ``s * epochs / (n_levels + 1)`` and weights level s by 1,
        the coarser levels by 0.1 and the finer ones by 0.01; the last stage weights every level 1 (the full
        leaf likelihood).

        >>> LevelWeightSchedule.coarse_to_fine(2, 6).schedule
        {0: [1.0, 0.01], 2: [0.1, 1.0], 4: [1.0, 1.0]}
        """
        if n_levels < 1 or epochs < 1:
            raise ModelError("coarse_to_fine needs n_levels >= 1 and epochs >= 1.")
        sched = {}
        for s in range(n_levels):
            sched[int(round(s * epochs / (n_levels + 1)))] = [1.0 if d == s else (0.1 if d < s else 0.01)
                                                              for d in range(n_levels)]
        sched[int(round(n_levels * epochs / (n_levels + 1)))] = [1.0] * n_levels
        return LevelWeightSchedule(sched)

    def weights_at(self, epoch: int) -> list[float]:
        if callable(self.schedule):
            return [float(v) for v in self.schedule(epoch)]
        start = max(e for e in self.schedule if e <= epoch)
        return [float(v) for v in self.schedule[start]]

    def on_epoch_begin(self, epoch, logs=None):
        w = self.weights_at(epoch)
        var = getattr(self.model, "level_weights", None)
        if var is None:
            raise ModelError("LevelWeightSchedule works with tree models only (TreeClassifier).")
        _check_level_weights(w, int(var.shape[0]), what=f"level weights of epoch {epoch}")
        var.assign(np.asarray(w, dtype=np.float32))


def _check_level_weights(w, n_levels, *, what="level_loss_weights"):
    try:
        arr = np.asarray(w, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be a list of numbers (one per level), got {w!r}.") from None
    if n_levels is not None and arr.size != n_levels:
        raise ModelError(f"{what} has {arr.size} values but the taxonomy has {n_levels} levels (depths 0.."
                         f"{n_levels - 1} of the deciding nodes); give one weight per level.")
    if not np.isfinite(arr).all() or (arr < 0).any() or not arr.any():
        raise ModelError(f"{what} must be finite, >= 0 and not all 0, got {list(arr)}.")
    return arr


def _layer_name(k: int, node) -> str:
    return f"node{k}_" + re.sub(r"[^A-Za-z0-9_]", "_", node[-1])[:40]


# ============================================================================================ classifier
class TreeClassifier(BaseClassifier):
    """Taxonomy cascade of CNN node classifiers, trained in one pass as one fused Keras model.

    Parameters
    ----------
    taxonomy : Taxonomy
        The tree; its leaves are the classes (class order = ``taxonomy.classes``).
    input_shape : (height, width, channels)
        Image size the model takes; images are float32 [0, 255] pixel values.
    trunk : None, backbone name (``"inception_v3"``, ``"mobilenet_v2"``, ... see
        :mod:`taxoclass.models.backbones`) or a ``keras.Model``
        Shared lower layers under every node block (HD-CNN). ``None``: each node block reads the image (scaled to
        [-1, 1]). A ``keras.Model`` must map [0, 255] images of ``input_shape`` to a feature map.
    trunk_layer : str or int, optional
        Layer to cut the trunk at (e.g. ``"mixed7"`` for InceptionV3).
    trunk_weights : None, ``"imagenet"`` or a weights file path
        Initial trunk weights (named trunks).
    trunk_trainable : bool
        Whether the trunk is trained along with the node blocks.
    node_block : ``"small_cnn"`` or callable ``f(x) -> x``
        Feature block of every node (see :func:`taxoclass.models.blocks.build_branch`).
    block_filters : sequence of int
        Convolution filters of the ``"small_cnn"`` block (one 3x3 conv + 2x2 max-pool per entry).
    head_units : sequence of int
        Hidden Dense layers of each node's MLP head.
    dropout : float
        Dropout after each hidden Dense layer.
    level_loss_weights : None or sequence of float
        Weight of the loss of the nodes at each depth (root = 0; one value per level, ``taxonomy.height``
        values). Use :class:`LevelWeightSchedule` (a callback) to change them during training.
    routing : ``"gather"`` or ``"mask"``
        ``"gather"`` (default): each node block runs only on the samples under its node. ``"mask"``: every block
        on every sample with the loss masked -- the naive reference, for benchmarks only.
    epochs, batch_size, learning_rate, output_dir, early_stopping_patience, reduce_lr_patience, checkpoint,
    csv_log, tensorboard, resume, strategy, mixed_precision, random_state
        Training loop (see :class:`~taxoclass.models.base.BaseClassifier` and :mod:`taxoclass.training`).

    Attributes
    ----------
    classes_, taxonomy_, model_ (:class:`TreeModel`), history_, structure_ (:class:`TreeStructure`).

    Examples
    --------
    >>> tax = Taxonomy.from_paths([["warm", "red"], ["warm", "yellow"], ["cold", "blue"]])
    >>> clf = TreeClassifier(tax, input_shape=(16, 16, 3), block_filters=(8,), epochs=3)
    >>> clf.fit(X, y).predict(X, threshold=0.9)                           # doctest: +SKIP
    array(['red', 'warm', 'blue'], dtype=object)
    """

    def __init__(self, taxonomy, input_shape=(64, 64, 3), trunk=None, trunk_layer=None, trunk_weights=None,
                 trunk_trainable=True, node_block="small_cnn", block_filters=(32, 64), head_units=(64,),
                 dropout=0.0, level_loss_weights=None, routing="gather", epochs=10, batch_size=32,
                 learning_rate=1e-3, output_dir=None, early_stopping_patience=None, reduce_lr_patience=None,
                 checkpoint=False, csv_log=False, tensorboard=False, resume=False, strategy="auto",
                 mixed_precision=False, random_state=None):
        self.taxonomy = taxonomy
        self.input_shape = input_shape
        self.trunk = trunk
        self.trunk_layer = trunk_layer
        self.trunk_weights = trunk_weights
        self.trunk_trainable = trunk_trainable
        self.node_block = node_block
        self.block_filters = block_filters
        self.head_units = head_units
        self.dropout = dropout
        self.level_loss_weights = level_loss_weights
        self.routing = routing
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.output_dir = output_dir
        self.early_stopping_patience = early_stopping_patience
        self.reduce_lr_patience = reduce_lr_patience
        self.checkpoint = checkpoint
        self.csv_log = csv_log
        self.tensorboard = tensorboard
        self.resume = resume
        self.strategy = strategy
        self.mixed_precision = mixed_precision
        self.random_state = random_state

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_confusion(cls, cm, labels=None, *, beta: float = 0.05, levels=1, **kwargs) -> "TreeClassifier":
        """A tree classifier whose taxonomy groups the classes a model confuses (error-based hierarchy).

        ``cm`` (true x predicted) and ``labels`` go to :func:`taxoclass.clustering.cluster_confusion` together
        with ``beta`` and any of its keyword options (``symmetrize``, ``linkage``, ``max_cluster_size``,
        ``method``, ``n_clusters``, ``drop_empty``); ``levels`` to its ``to_taxonomy``; every other keyword goes
        to :class:`TreeClassifier`.

        >>> clf = TreeClassifier.from_confusion(cm, labels=classes, beta=0.05)  # doctest: +SKIP
        """
        import inspect

        from taxoclass.clustering import cluster_confusion

        names = set(inspect.signature(cluster_confusion).parameters) - {"cm", "beta", "labels"}
        ckw = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        if "taxonomy" in kwargs:
            raise ModelError("from_confusion builds the taxonomy from the confusion matrix; do not pass taxonomy=.")
        tax = cluster_confusion(cm, beta, labels=labels, **ckw).to_taxonomy(levels)
        return cls(tax, **kwargs)

    def _validate_params(self):
        super()._validate_params()
        if not isinstance(self.taxonomy, Taxonomy):
            raise ModelError(f"taxonomy must be a taxoclass.Taxonomy (e.g. taxoclass.load_taxonomy('tree.tsv')), "
                             f"got {type(self.taxonomy).__name__}.")
        try:
            shape = tuple(int(v) for v in self.input_shape)
        except (TypeError, ValueError):
            shape = ()
        if len(shape) != 3 or min(shape) < 1:
            raise ModelError(f"input_shape must be (height, width, channels), e.g. (64, 64, 3), got "
                             f"{self.input_shape!r}.")
        if self.routing not in ROUTINGS:
            raise ModelError(f"routing must be one of {', '.join(ROUTINGS)}, got {self.routing!r}.")
        if not (self.trunk is None or isinstance(self.trunk, (str, keras.Model))):
            raise ModelError(f"trunk must be None, a backbone name ({', '.join(TRUNKS)}) or a keras.Model, got "
                             f"{type(self.trunk).__name__}.")
        if isinstance(self.trunk, str) and self.trunk not in TRUNKS:
            raise ModelError(f"unknown trunk {self.trunk!r}; expected one of {', '.join(TRUNKS)}, a keras.Model or "
                             "None (node blocks on the image).")
        if not isinstance(self.trunk_trainable, bool):
            raise ModelError(f"trunk_trainable must be True or False, got {self.trunk_trainable!r}.")
        if self.level_loss_weights is not None:
            _check_level_weights(self.level_loss_weights, max(self.taxonomy.height, 1))

    def _build_stem(self) -> keras.Model:
        shape = tuple(int(v) for v in self.input_shape)
        if self.trunk is None:
            inp = keras.Input(shape, name="image")
            out = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inp)
            return keras.Model(inp, out, name="stem")
        if isinstance(self.trunk, str):
            from taxoclass.models.backbones import build_backbone

            trunk = build_backbone(self.trunk, shape, weights=self.trunk_weights, cut_layer=self.trunk_layer)
        else:
            trunk = self.trunk
            if self.trunk_layer is not None:
                try:
                    out = trunk.get_layer(self.trunk_layer).output
                except ValueError:
                    raise ModelError(f"trunk_layer {self.trunk_layer!r} is not a layer of the trunk model "
                                     f"{trunk.name!r}.") from None
                trunk = keras.Model(trunk.inputs, out, name=f"{trunk.name}_cut")
            got = tuple(trunk.input_shape[1:]) if not isinstance(trunk.input_shape, list) else None
            if got is not None and any(a is not None and a != b for a, b in zip(got, shape)):
                raise ModelError(f"the trunk model takes inputs of shape {got}, but input_shape={shape}; make them "
                                 "match.")
            if len(trunk.output_shape) not in (2, 4):
                raise ModelError(f"the trunk must output a feature map (N, h, w, c) or vector (N, c), got "
                                 f"{trunk.output_shape}.")
        trunk.trainable = self.trunk_trainable
        return trunk

    def _build_model(self) -> TreeModel:
        s = TreeStructure(self.taxonomy_)
        self.structure_ = s
        stem = self._build_stem()
        feat_shape = tuple(stem.output_shape[1:])
        branches = [build_branch(feat_shape, s.n_children[k], node_block=self.node_block,
                                 block_filters=self.block_filters, head_units=self.head_units, dropout=self.dropout,
                                 name=_layer_name(k, node))
                    for k, node in enumerate(s.classifier_nodes)]
        model = TreeModel(stem, branches, s.edge_matrix, s.targets, s.levels, s.next_classifier, entry=s.entry,
                          n_levels=s.n_levels, routing=self.routing, name="tree")
        if self.level_loss_weights is not None:
            model.level_weights.assign(np.asarray(self.level_loss_weights, dtype=np.float32))
        return model

    def _compile(self, model):
        model.compile(optimizer=FusedAdam(float(self.learning_rate)), jit_compile=False)
        # create the optimizer's slots now: otherwise they are created while tracing the train step, and
        # tf.function traces the whole step twice (once to lift the variable initialisers)
        model.optimizer.build(model.trainable_variables)

    def _restore_extra(self, extra):
        self.structure_ = TreeStructure(self.taxonomy_)

    # ---------------------------------------------------------------- prediction
    def _greedy(self, X, batch_size=None):
        model = self.model_
        fn = getattr(self, "_greedy_fn", None)
        if fn is None or getattr(self, "_greedy_model", None) is not model:
            fn = tf.function(model.greedy_decisions, reduce_retracing=True)
            self._greedy_fn, self._greedy_model = fn, model
        choices, probs = [], []
        for batch in self._predict_input(X, batch_size):
            c, p = fn(batch)
            choices.append(c.numpy())
            probs.append(p.numpy())
        return np.concatenate(choices), np.concatenate(probs)

    def _paths(self, X, mode, batch_size=None):
        """(N, height+1) node indices along the chosen path (-1 past its end) and their path probabilities."""
        if mode not in PREDICT_MODES:
            raise ModelError(f"mode must be one of {', '.join(PREDICT_MODES)}, got {mode!r}.")
        s = self.structure_
        if mode == "soft":
            proba = self.predict_proba(X, batch_size).astype(np.float64)
            node_p = proba @ s.ancestors
            nodes = s.leaf_paths[np.argmax(proba, axis=1)]
            probs = np.where(nodes >= 0, np.take_along_axis(node_p, np.maximum(nodes, 0), axis=1), np.nan)
            return nodes, probs
        choice, cprob = self._greedy(X, batch_size)
        n, H = len(choice), s.n_levels
        rows = np.arange(n)
        nodes = np.full((n, H + 1), -1, dtype=np.int64)
        probs = np.full((n, H + 1), np.nan)
        cur = np.zeros(n, dtype=np.int64)
        p = np.ones(n)
        nodes[:, 0], probs[:, 0] = 0, 1.0
        for d in range(1, H + 1):
            active = ~s.is_leaf[cur]
            if not active.any():
                break
            k = s.node_cls[cur]
            j = np.where(k >= 0, choice[rows, np.maximum(k, 0)], 0)
            p = np.where(active & (k >= 0), p * cprob[rows, np.maximum(k, 0)], p)
            nxt = s.child_table[cur, np.maximum(j, 0)]
            cur = np.where(active, nxt, cur)
            nodes[active, d] = cur[active]
            probs[active, d] = p[active]
        return nodes, probs

    def predict(self, X, mode: str = "soft", threshold: float | None = None, batch_size=None) -> np.ndarray:
        """Class names per image.

        - ``mode="soft"`` (default): argmax of the leaf distribution (every node evaluated, one model call).
        - ``mode="greedy"``: top-down argmax at each node, evaluating only the nodes on the chosen path.
        - ``threshold=t``: along that path, stop at the deepest node whose path probability is >= t; an
          internal node's name is returned when the model is not sure enough ("copepod, not sure which").

        >>> clf.predict(X, threshold=0.8)           # doctest: +SKIP
        array(['calanoid', 'copepods', 'root'], dtype=object)
        """
        check_is_fitted(self, "model_")
        if threshold is None and mode == "soft":
            return super().predict(X, batch_size)
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not 0 <= threshold <= 1):
            raise ModelError(f"threshold must be a probability in [0, 1], got {threshold!r}.")
        nodes, probs = self._paths(X, mode, batch_size)
        if threshold is None:
            last = nodes[np.arange(len(nodes)), (nodes >= 0).sum(axis=1) - 1]
            return self.classes_[self.structure_.leaf_pos[last]]
        ok = (nodes >= 0) & (probs >= threshold - 1e-9)
        ok[:, 0] = True
        deepest = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
        chosen = nodes[np.arange(len(nodes)), deepest]
        return self.structure_.names[chosen]

    def predict_path(self, X, mode: str = "soft", batch_size=None):
        """Per level the chosen node and its path probability, as a ``pandas.DataFrame``.

        Columns ``level_1``, ``p_level_1``, ... (``level_d`` = node at depth d below the root); past a leaf the
        cells are empty. ``mode`` as in :meth:`predict`: soft follows the most probable leaf's path (path
        probability = the sum of its leaves' probabilities), greedy the top-down argmax.

        >>> clf.predict_path(X[:1])                                  # doctest: +SKIP
           level_1  p_level_1   level_2  p_level_2
        0     warm       0.97       red       0.95
        """
        import pandas as pd

        check_is_fitted(self, "model_")
        nodes, probs = self._paths(X, mode, batch_size)
        names = self.structure_.names
        data = {}
        for d in range(1, nodes.shape[1]):
            col = nodes[:, d]
            data[f"level_{d}"] = np.where(col >= 0, names[np.maximum(col, 0)], None)
            data[f"p_level_{d}"] = probs[:, d]
        return pd.DataFrame(data)

    # ---------------------------------------------------------------- summary
    def _summary_lines(self) -> list[str]:
        s = self.structure_
        m = self.model_
        stem = m.stem
        if isinstance(self.trunk, str):
            trunk = self.trunk
        else:  # a keras.Model trunk is not kept in the saved parameters: name it from the model itself
            trunk = "none (node blocks read the image)" if stem.name == "stem" else stem.name
        lines = [f"trunk: {trunk}, {stem.count_params():,} parameters, output {tuple(stem.output_shape[1:])}",
                 f"{s.n_classifiers} classifier nodes ({len(s.nodes)} nodes, height {s.n_levels}); "
                 f"{s.mean_path_classifiers():.2f} decisions on the average root-to-leaf path",
                 f"{'node':<40} {'depth':>5} {'children':>8} {'classes':>7} {'params':>10} {'MFLOPs':>8}"]
        for k, node in enumerate(s.classifier_nodes):
            b = m.branches[k]
            label = "/".join(node)
            label = label if len(label) <= 40 else "..." + label[-37:]
            lines.append(f"{label:<40} {len(node) - 1:>5} {s.n_children[k]:>8} "
                         f"{int((s.targets[:, k] >= 0).sum()):>7} {b.count_params():>10,} "
                         f"{block_flops(b) / 1e6:>8.2f}")
        depth = np.array([len(n) - 1 for n in s.nodes])
        per_level = []
        for d in range(1, s.n_levels + 1):
            sel = depth == d
            per_level.append(f"level {d}: {int(sel.sum())} nodes, {int((sel & s.is_leaf).sum())} classes")
        lines.append("classes per level: " + "; ".join(per_level))
        return lines
