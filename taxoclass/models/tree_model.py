"""The fused Keras model of a taxonomy cascade: :class:`TreeModel` (see :mod:`taxoclass.models.tree`)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from taxoclass.exceptions import ModelError

__all__ = ["TreeModel", "ROUTINGS"]

ROUTINGS = ("gather", "mask")


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
