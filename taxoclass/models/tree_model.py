"""The fused Keras model of a taxonomy cascade: :class:`TreeModel` (the estimator: :mod:`taxoclass.models.tree`).

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
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from taxoclass.exceptions import ModelError
from taxoclass.models.losses import smooth
from taxoclass.models.node_heads import EdgeLayout

__all__ = ["TreeModel", "ROUTINGS", "COMBINES", "combine_log_proba", "choose_combine_weight"]

ROUTINGS = ("gather", "mask")
#: how a combined model (tree heads + flat head) merges its two leaf distributions
COMBINES = ("mean", "geometric")


def combine_log_proba(log_tree, log_flat, weight, combine: str = "mean"):
    """log of the combined leaf distribution of a tree head and a flat head (tensors or arrays, (N, L) each):
    ``"mean"`` ``w * p_tree + (1 - w) * p_flat``, ``"geometric"`` ``p_tree**w * p_flat**(1 - w)`` renormalised.

    >>> lt, lf = np.log([[0.8, 0.2]]), np.log([[0.4, 0.6]])
    >>> np.round(np.exp(combine_log_proba(lt, lf, 0.5)), 3).tolist()
    [[0.6, 0.4]]
    >>> np.round(np.exp(combine_log_proba(lt, lf, 1.0, "geometric")), 3).tolist()
    [[0.8, 0.2]]
    """
    w = tf.cast(weight, tf.float32)
    lt, lf = tf.cast(log_tree, tf.float32), tf.cast(log_flat, tf.float32)
    if combine == "geometric":
        return tf.nn.log_softmax(w * lt + (1.0 - w) * lf)
    return tf.math.log(w * tf.exp(lt) + (1.0 - w) * tf.exp(lf))


def choose_combine_weight(p_tree, p_flat, y, combine: str = "mean", grid=tuple(np.linspace(0.0, 1.0, 11))) -> float:
    """The weight ``w`` of the tree head (grid 0, 0.1, ..., 1) with the best top-1 on ``(p_tree, p_flat, y)``
    (ties: the lowest log-loss, then the weight closest to 0.5). ``w = 0`` is the flat head alone and ``w = 1``
    the tree alone, so on these samples the combination is never worse than either head alone.

    >>> p_tree = np.array([[0.9, 0.1], [0.6, 0.4]]); p_flat = np.array([[0.4, 0.6], [0.2, 0.8]])
    >>> choose_combine_weight(p_tree, p_flat, np.array([0, 1]))
    0.5
    """
    y = np.asarray(y)
    lt = np.log(np.clip(np.asarray(p_tree, np.float64), 1e-12, 1.0))
    lf = np.log(np.clip(np.asarray(p_flat, np.float64), 1e-12, 1.0))
    best = None
    for w in grid:
        lp = np.asarray(combine_log_proba(lt, lf, w, combine), np.float64)
        acc = float((lp.argmax(axis=1) == y).mean())
        nll = float(-lp[np.arange(len(y)), y].mean())
        key = (-acc, round(nll, 6), abs(w - 0.5))
        if best is None or key < best[0]:
            best = (key, float(w))
    return round(best[1], 6)


@keras.saving.register_keras_serializable(package="taxoclass")


class TreeModel(keras.Model):
    """The fused tree network: ``stem`` (preprocessing and optional trunk) -> one branch per classifier node, or
    ``node_heads``: the dense heads of every node in one :class:`~taxoclass.models.node_heads.NodeHeads` layer.

    Calling it returns leaf probabilities (N, L) in taxonomy class order (every node on every sample, combined
    in-graph with the edge matrix; ``NodeHeads`` run all heads in one product per layer). ``fit`` uses a custom
    ``train_step`` where each node's branch (or slice of ``NodeHeads``) runs on the samples under its node only
    (``routing="gather"``) or, for reference, on every sample with the loss masked (``routing="mask"``).
    :meth:`greedy_decisions` evaluates only the nodes on each sample's top-down path (with ``NodeHeads``: every
    node in one pass, then the path is read off).

    With a ``flat_head`` (a model from the stem's features to one logit per leaf) it is the *combined* model:
    the flat softmax is trained jointly (its cross-entropy is added to the tree loss) and the leaf distribution
    is ``combine="mean"`` ``w * p_tree + (1 - w) * p_flat`` or ``"geometric"`` ``p_tree**w * p_flat**(1 - w)``
    renormalised, with ``w`` the non-trainable ``combine_weight`` (0.5 until
    :meth:`~taxoclass.models.tree.TreeClassifier.fit` chooses it on the validation split). ``label_smoothing``
    smooths the flat head's cross-entropy and, unless ``node_label_smoothing`` is given, every node's.

    With ``coarse_heads`` (a :class:`~taxoclass.models.coarse_heads.CoarseHeads`) the stem returns
    ``[features, tap_1, ...]``, its earlier stages as well, and the training loss adds the coarse heads' loss on the
    taps; everything else reads the features alone (:meth:`features`).

    Logs: ``loss`` (weighted sum of the node losses per sample = leaf NLL with unit level weights and no label
    smoothing; plus the flat head's cross-entropy and the coarse heads' loss, in ``val_loss`` too),
    ``path_accuracy`` (share of samples whose every decision on their true path is right) and, in validation only,
    ``accuracy``: top-1, the argmax of the leaf probabilities (the same quantity as every other model's
    ``val_accuracy``). Top-1 needs every node on every sample, so it is not computed on the training batches.

    Build it with :class:`TreeClassifier`; it is a plain Keras model (``model.predict(images)`` works, and it
    saves and loads with ``safe_mode=True``).
    """

    def __init__(self, stem, branches, edge_matrix, targets, levels, next_classifier, entry=0, n_levels=None,
                 routing="gather", label_smoothing=0.0, flat_head=None, combine="mean", node_heads=None,
                 node_label_smoothing=None, coarse_heads=None, **kwargs):
        super().__init__(**kwargs)
        if routing not in ROUTINGS:
            raise ModelError(f"routing must be one of {', '.join(ROUTINGS)}, got {routing!r}.")
        if combine not in COMBINES:
            raise ModelError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}.")
        self.stem = stem
        self.branches = list(branches)
        self.edge_matrix = np.asarray(edge_matrix, dtype=np.float32)
        self.targets = np.asarray(targets, dtype=np.int32)
        self.levels = np.asarray(levels, dtype=np.int32)
        self.next_classifier = [list(map(int, r)) for r in next_classifier]
        self.entry = int(entry)
        self.n_levels = int(n_levels if n_levels is not None else self.levels.max() + 1)
        if (node_heads is None) == (not self.branches):
            raise ModelError("give the tree either one branch per classifier node or node_heads, not both.")
        self.node_heads = node_heads
        self.edges = (node_heads.layout if node_heads is not None
                      else EdgeLayout([int(b.output_shape[-1]) for b in self.branches]))
        if self.edges.n_edges != self.edge_matrix.shape[0]:
            raise ModelError(f"the node heads have {self.edges.n_edges} outputs in all but the edge matrix has "
                             f"{self.edge_matrix.shape[0]} rows.")
        self.routing = routing
        self.label_smoothing = float(label_smoothing)  # the flat head's, and the nodes' unless given apart
        self.node_label_smoothing = (self.label_smoothing if node_label_smoothing is None
                                     else float(node_label_smoothing))
        self.flat_head = flat_head
        self.combine = combine
        self.coarse_heads = coarse_heads  # B-CNN's branch points; the stem then also returns its earlier stages
        self.level_weights = self.add_weight(name="level_weights", shape=(self.n_levels,), initializer="ones",
                                             trainable=False, dtype="float32")
        self.flat_log_under = None
        if flat_head is not None:  # the flat head's classes under each label code (a class label: its class
            # alone; a label at an internal node: every class whose path agrees with the label's decisions), as
            # 0 / -1e9 to add to log-probabilities
            leaves = self.targets[: self.edge_matrix.shape[1]]
            under = np.all((self.targets[:, None, :] < 0) | (self.targets[:, None, :] == leaves[None]), axis=2)
            self.flat_log_under = np.where(under, 0.0, -1e9).astype(np.float32)
        self.combine_weight = None if flat_head is None else self.add_weight(
            name="combine_weight", shape=(), initializer=keras.initializers.Constant(0.5), trainable=False,
            dtype="float32")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.path_tracker = keras.metrics.Mean(name="path_accuracy")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.built = True

    # ---------------------------------------------------------------- serialisation
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "stem": keras.saving.serialize_keras_object(self.stem),
                "branches": [keras.saving.serialize_keras_object(b) for b in self.branches],
                "edge_matrix": self.edge_matrix.astype(int).tolist(), "targets": self.targets.tolist(),
                "levels": self.levels.tolist(), "next_classifier": self.next_classifier, "entry": self.entry,
                "n_levels": self.n_levels, "routing": self.routing, "label_smoothing": self.label_smoothing,
                "node_label_smoothing": self.node_label_smoothing,
                "flat_head": None if self.flat_head is None else keras.saving.serialize_keras_object(self.flat_head),
                "combine": self.combine,
                "node_heads": None if self.node_heads is None else keras.saving.serialize_keras_object(self.node_heads),
                "coarse_heads": (None if self.coarse_heads is None
                                 else keras.saving.serialize_keras_object(self.coarse_heads))}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["stem"] = keras.saving.deserialize_keras_object(config["stem"])
        config["branches"] = [keras.saving.deserialize_keras_object(b) for b in config["branches"]]
        for key in ("flat_head", "node_heads", "coarse_heads"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    # ---------------------------------------------------------------- inference
    @property
    def metrics(self):
        return [self.loss_tracker, self.path_tracker, self.accuracy_tracker]

    def features(self, x, training=False):
        """The trunk's features of ``x`` (without the earlier stages that coarse heads read)."""
        return self._stem_outputs(x, training)[0]

    def _stem_outputs(self, x, training=False):
        """``(features, taps)``: the trunk's features and the earlier stages the coarse heads read (None without)."""
        f = self.stem(x, training=training)
        return (f[0], f[1:]) if self.coarse_heads is not None else (f, None)

    def node_log_probs(self, x, training=False):
        """Concatenated ``log P(child | node)`` of every classifier node (N, E), every node on every sample."""
        return self._edge_log_probs(self.features(x, training=training), training)

    def _edge_log_probs(self, f, training=False):
        if self.node_heads is not None:
            return self.edges.log_softmax(self.node_heads(f, training=training))
        return tf.concat([tf.nn.log_softmax(tf.cast(b(f, training=training), tf.float32)) for b in self.branches],
                         axis=1)

    def _leaf_log_probs(self, edge_log_probs, flat_logits=None):
        """log P(leaf) (N, L) from every node's log-probabilities (and the flat head's logits, combined model)."""
        logp = tf.matmul(edge_log_probs, tf.constant(self.edge_matrix))
        if flat_logits is None:
            return logp
        return combine_log_proba(logp, tf.nn.log_softmax(flat_logits), self.combine_weight, self.combine)

    def _forward(self, x, training=False):
        """``(features, edge log-probabilities (N, E), the flat head's logits or None, taps or None)``, every node on
        every sample."""
        f, taps = self._stem_outputs(x, training)
        flat = None if self.flat_head is None else tf.cast(self.flat_head(f, training=training), tf.float32)
        return f, self._edge_log_probs(f, training), flat, taps

    def call(self, x, training=False):
        _, edge_lp, flat, _ = self._forward(x, training=training)
        return tf.exp(self._leaf_log_probs(edge_lp, flat))

    def heads_proba(self, x):
        """``(p_tree, p_flat)``: the leaf probabilities of the tree heads alone and of the flat head alone (None
        without a flat head) -- the two inputs of ``combine``.

        >>> p_tree, p_flat = clf.model_.heads_proba(X[:4])          # doctest: +SKIP
        >>> w = float(clf.model_.combine_weight)                    # doctest: +SKIP
        >>> np.allclose(clf.predict_proba(X[:4]), w * p_tree + (1 - w) * p_flat)  # combine="mean"  # doctest: +SKIP
        True
        """
        _, edge_lp, flat, _ = self._forward(x, training=False)
        p_tree = tf.exp(self._leaf_log_probs(edge_lp))
        return p_tree, None if flat is None else tf.nn.softmax(flat)

    def fit_combine_weight(self, val_ds) -> float:
        """Combined model: set ``combine_weight`` to the tree heads' weight with the best top-1 on ``val_ds`` (a
        dataset of ``(images, labels)`` batches; see :func:`choose_combine_weight`) and return it."""
        heads = tf.function(self.heads_proba, reduce_retracing=True)
        parts = [(heads(x), y) for x, y, *_ in val_ds]
        p_tree = np.concatenate([np.asarray(p[0]) for p, _ in parts])
        p_flat = np.concatenate([np.asarray(p[1]) for p, _ in parts])
        y = np.concatenate([np.asarray(y) for _, y in parts]).astype(int)
        keep = y < p_tree.shape[1]  # images labelled at an internal node (codes past the classes) do not vote
        if not keep.any():
            return float(self.combine_weight)
        w = choose_combine_weight(p_tree[keep], p_flat[keep], y[keep], self.combine)
        self.combine_weight.assign(w)
        return w

    def flat_head_loss(self, y, logits):
        """The flat head's per-sample cross-entropy on label codes, as the flat model's
        (:class:`taxoclass.models.partial_labels.NodeCrossentropy`): ``-log p(class)``, or for a sample labelled at
        an internal node ``-log`` of the summed probability of the classes under it; label smoothing as the
        nodes'."""
        lsm = tf.nn.log_softmax(logits)
        ce = -tf.reduce_logsumexp(lsm + tf.gather(tf.constant(self.flat_log_under), y), axis=1)
        return smooth(ce, -tf.reduce_mean(lsm, axis=1), self.label_smoothing) if self.label_smoothing else ce

    def _smoothed_ce(self, labels, logits, n_real):
        """Sparse cross-entropy with label smoothing ``(1 - e) * CE + e * mean over the real classes of -log p``;
        ``n_real`` (per row) excludes the padding columns of narrower nodes."""
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        if not self.node_label_smoothing:
            return ce
        lsm = tf.nn.log_softmax(logits)
        real = tf.range(tf.shape(logits)[1])[None, :] < n_real[:, None]
        uniform = -tf.reduce_sum(tf.where(real, lsm, 0.0), axis=1) / tf.cast(n_real, tf.float32)
        return smooth(ce, uniform, self.node_label_smoothing)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.edge_matrix.shape[1])

    @tf.autograph.experimental.do_not_convert
    def greedy_decisions(self, x):
        """Top-down argmax evaluating only the nodes on each sample's chosen path.

        Returns ``(choice, prob)``, both (N, K): the chosen child index and its conditional probability at every
        classifier node the sample reached (-1 and 0 elsewhere).
        """
        n = tf.shape(x)[0]
        f = self.features(x, training=False)
        lp = None if self.node_heads is None else self._edge_log_probs(f)  # NodeHeads: every node at once
        reach = {self.entry: tf.range(n)}
        choices, probs = [], []
        for k in range(self.edges.n_nodes):
            idx = reach.get(k, tf.zeros([0], tf.int32))

            def run(idx=idx, k=k):
                if lp is None:
                    p = tf.nn.softmax(tf.cast(self.branches[k](tf.gather(f, idx), training=False), tf.float32))
                else:
                    o, w = int(self.edges.offsets[k]), int(self.edges.widths[k])
                    p = tf.exp(tf.gather(lp[:, o:o + w], idx))
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

        Returns ``(loss, correct, node_losses)``: the weighted sum of node cross-entropies (plus the flat head's
        cross-entropy) divided by the batch's total sample weight, a (N,) 0/1 vector (every decision on the true
        path right), and the (K,) per-node summed losses (before level weights). Coarse heads add their loss.
        """
        f, taps = self._stem_outputs(x, training)
        y, sw = self._labels_weights(y, sample_weight, tf.shape(f)[0])
        tgt = tf.gather(tf.constant(self.targets), y)  # (N, K)
        if self.routing == "gather":
            node_losses, wrong = self._gathered_losses(f, tgt, sw, training)
        else:  # "mask": every node on every sample, the loss masked (the reference; also the validation step's)
            node_losses, wrong = self.edges.node_losses(self._edge_log_probs(f, training), tgt, sw,
                                                        self.node_label_smoothing)
        flat = None if self.flat_head is None else tf.cast(self.flat_head(f, training=training), tf.float32)
        return self._total_loss(node_losses, flat, y, sw, taps), 1.0 - wrong, node_losses

    @staticmethod
    def _labels_weights(y, sample_weight, n):
        y = tf.reshape(tf.cast(y, tf.int32), [-1])
        sw = tf.ones([n], tf.float32) if sample_weight is None else tf.reshape(
            tf.cast(sample_weight, tf.float32), [-1])
        return y, sw

    def _total_loss(self, node_losses, flat_logits, y, sw, taps=None):
        total = tf.reduce_sum(node_losses * tf.gather(self.level_weights, tf.constant(self.levels)))
        if flat_logits is not None:
            total += tf.reduce_sum(self.flat_head_loss(y, flat_logits) * sw)
        if taps is not None:
            total += self.coarse_heads.loss(taps, y, sw)
        loss = total / tf.maximum(tf.reduce_sum(sw), 1e-12)
        if self.losses:
            loss = loss + tf.add_n([tf.cast(v, tf.float32) for v in self.losses])
        return loss

    def _gathered_losses(self, f, tgt, sw, training):
        """Each branch on the rows of the samples under its node, with the bookkeeping done once for all nodes.

        The (node, sample) pairs are listed node by node; ONE gather builds every node's sub-batch (then split),
        the logits of all nodes are padded to the widest node and concatenated, so the cross-entropy, argmax and
        per-node sums are single ops. A node without samples gets one padding row (sample 0, weight 0) so that
        no convolution ever sees an empty batch (oneDNN fails on those inside compiled steps).
        """
        n_nodes = self.edges.n_nodes
        n = tf.shape(f)[0]
        if self.node_heads is not None:
            f = self.node_heads.pool(f)  # pool once, then gather the rows
        pairs = tf.cast(tf.where(tf.transpose(tgt >= 0)), tf.int32)  # (P, 2): node, sample; sorted by node
        counts = tf.math.bincount(pairs[:, 0], minlength=n_nodes, maxlength=n_nodes, dtype=tf.int32)
        empty = tf.cast(tf.where(tf.equal(counts, 0))[:, 0], tf.int32)
        allp = tf.concat([pairs, tf.stack([empty, tf.zeros_like(empty)], axis=1)], axis=0)
        order = tf.argsort(allp[:, 0], stable=True)
        allp = tf.gather(allp, order)
        node_id, idx = allp[:, 0], allp[:, 1]
        valid = tf.gather(tf.concat([tf.ones([tf.shape(pairs)[0]]), tf.zeros([tf.shape(empty)[0]])], 0), order)
        parts = tf.split(tf.gather(f, idx), tf.maximum(counts, 1), num=n_nodes)
        if self.node_heads is not None:
            logits = self.node_heads.gathered(parts, training=training)
        else:  # one branch per node: pad every node's logits to the widest node
            widest = int(self.edges.widths.max())
            logits = []
            for part, branch in zip(parts, self.branches):
                z = tf.cast(branch(part, training=training), tf.float32)
                pad = widest - int(branch.output_shape[-1])
                logits.append(tf.pad(z, [[0, 0], [0, pad]], constant_values=-1e9) if pad else z)
        logits = tf.concat(logits, axis=0)
        t = tf.maximum(tf.gather_nd(tgt, tf.stack([idx, node_id], axis=1)), 0)
        n_real = tf.gather(tf.constant(self.edges.widths), node_id)
        ce = self._smoothed_ce(t, logits, n_real)
        node_losses = tf.math.unsorted_segment_sum(ce * tf.gather(sw, idx) * valid, node_id, n_nodes)
        miss = valid * tf.cast(tf.not_equal(tf.argmax(logits, axis=1, output_type=tf.int32), t), tf.float32)
        wrong = tf.maximum(tf.math.unsorted_segment_max(miss, idx, n), 0.0)
        return node_losses, wrong

    def _update_metrics(self, loss, correct, sw, top1=None):
        n = tf.cast(tf.shape(correct)[0], tf.float32)
        self.loss_tracker.update_state(loss, sample_weight=n)
        self.path_tracker.update_state(correct, sample_weight=sw)
        trackers = [self.loss_tracker, self.path_tracker]
        if top1 is not None:
            self.accuracy_tracker.update_state(top1, sample_weight=sw)
            trackers.append(self.accuracy_tracker)
        return {m.name: m.result() for m in trackers}

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
        f, edge_lp, flat, taps = self._forward(x, training=False)
        y, sw = self._labels_weights(y, sw, tf.shape(f)[0])
        node_losses, wrong = self.edges.node_losses(edge_lp, tf.gather(tf.constant(self.targets), y), sw,
                                                    self.node_label_smoothing)
        loss = self._total_loss(node_losses, flat, y, sw, taps)  # the training loss's terms, coarse heads too
        pred = tf.argmax(self._leaf_log_probs(edge_lp, flat), axis=1, output_type=tf.int32)
        # top-1: the predicted class agrees with every decision the label makes (== pred == y for a class label;
        # under the node for a label at an internal node, see taxoclass.taxonomy.internal_labels)
        tgt, tp = tf.gather(tf.constant(self.targets), y), tf.gather(tf.constant(self.targets), pred)
        top1 = tf.reduce_all((tgt < 0) | tf.equal(tgt, tp), axis=1)
        return self._update_metrics(loss, 1.0 - wrong, sw, top1=tf.cast(top1, tf.float32))
