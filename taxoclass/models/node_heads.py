"""Every dense node head of a tree in one layer: :class:`NodeHeads`, and the edge layout of a tree's outputs.

A tree on a shared trunk has one small MLP head per classifier node (42 on the NDSB taxonomy). Built as 42
separate ``Dense`` stacks, each head brings a handful of tiny kernels and four variables that the optimizer updates
one by one; on a CPU that bookkeeping, more than the arithmetic, made the tree's train step 1.28-1.38x a flat
model's on the same trunk (1.37-1.49x for the combined model). :class:`NodeHeads` keeps the weights of all heads
*stacked* (one kernel and one bias per layer, node by node): four variables in all. The train step still runs each
head on the samples under its node only (:meth:`NodeHeads.gathered`); prediction and validation, which need every
node on every sample, run all heads in one matrix product per layer (``call``). With it the step is 1.14-1.17x a
flat model's (combined: 1.18-1.21x); ``benchmarks/step_time.py``, docs/benchmarks.md.

:class:`EdgeLayout` is how a tree's outputs are laid out: node ``k``'s children are consecutive columns of an
(N, E) array (the rows of the tree's edge matrix); per-node softmaxes and masked node losses are segment
operations over those columns.

>>> heads = NodeHeads([2, 3], units=(16,))
>>> tuple(heads(keras.random.normal((5, 4, 4, 8))).shape)     # 2 + 3 edges
(5, 5)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from taxoclass.exceptions import ModelError
from taxoclass.models.losses import smooth

__all__ = ["NodeHeads", "EdgeLayout"]


class EdgeLayout:
    """Node ``k``'s ``widths[k]`` children are the columns ``offsets[k]`` .. ``offsets[k] + widths[k] - 1`` of an
    (N, E) array. Per-node log-softmax and masked node losses as segment operations over the columns.

    >>> lay = EdgeLayout([2, 3])
    >>> lp = lay.log_softmax(tf.zeros((1, 5)))
    >>> np.round(np.exp(lp.numpy()).astype(float), 3).tolist()
    [[0.5, 0.5, 0.333, 0.333, 0.333]]
    >>> losses, wrong = lay.node_losses(lp, tf.constant([[1, -1]]), tf.ones(1))
    >>> np.round(losses.numpy().astype(float), 3).tolist()       # -log 0.5 at node 0; node 1 is not on the path
    [0.693, 0.0]
    """

    def __init__(self, widths):
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise ModelError(f"every classifier node needs at least one output, got widths {widths}.")
        self.n_nodes, self.n_edges = len(widths), int(sum(widths))
        self.widths = np.asarray(widths, np.int32)
        self.offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int32)
        self.edge_node = np.repeat(np.arange(len(widths)), widths).astype(np.int32)

    def _per_node(self, values, op):
        """``op`` (segment_max / segment_sum) of (N, E) ``values`` over each node's columns: (N, K)."""
        return tf.transpose(op(tf.transpose(values), tf.constant(self.edge_node)))

    def log_softmax(self, z):
        """Per-node log-softmax of (N, E) logits: (N, E) ``log P(child | node)``."""
        edge = tf.constant(self.edge_node)
        z = z - tf.gather(tf.stop_gradient(self._per_node(z, tf.math.segment_max)), edge, axis=1)
        return z - tf.gather(tf.math.log(self._per_node(tf.exp(z), tf.math.segment_sum)), edge, axis=1)

    def node_losses(self, log_p, targets, sample_weight, label_smoothing=0.0):
        """Masked node losses of (N, E) per-node log-probabilities: ``(losses (K,), wrong (N,))``.

        ``targets`` (N, K): the child each sample must take at each node, -1 where the node is not on its path.
        Per (sample, node) on the path: ``(1 - e) * -log p(target) + e * mean over the node's children of
        -log p``, summed over the samples with ``sample_weight``. ``wrong``: 1 for a sample with a decision on its
        path whose target is less probable than another child.
        """
        on_path = targets >= 0
        col = tf.constant(self.offsets)[None, :] + tf.maximum(targets, 0)  # (N, K): each target's column
        lp_t = tf.gather(log_p, col, axis=1, batch_dims=1)
        ce = -lp_t
        if label_smoothing:
            mean = self._per_node(log_p, tf.math.segment_sum) / tf.constant(self.widths, tf.float32)
            ce = smooth(ce, -mean, label_smoothing)
        sw = tf.cast(sample_weight, tf.float32)[:, None]
        losses = tf.reduce_sum(tf.where(on_path, ce * sw, 0.0), axis=0)
        miss = on_path & (lp_t < self._per_node(log_p, tf.math.segment_max))
        return losses, tf.reduce_max(tf.cast(miss, tf.float32), axis=1)


def _glorot(fan_in, fan_out):
    return keras.initializers.RandomUniform(-np.sqrt(6.0 / (fan_in + fan_out)), np.sqrt(6.0 / (fan_in + fan_out)))


@keras.saving.register_keras_serializable(package="taxoclass")
class NodeHeads(layers.Layer):
    """The dense heads of ``len(widths)`` classifier nodes, weights stacked node by node.

    Input: a feature map (N, h, w, c), average-pooled, or a feature vector (N, c). Per node: ``units`` hidden
    ReLU layers with ``dropout`` after each, then ``widths[k]`` logits. Output: (N, E) float32 logits, the nodes'
    outputs side by side (E = sum of ``widths``; see :class:`EdgeLayout`). The same function as one
    ``build_branch(..., node_block="dense")`` per node, with one kernel and one bias per layer for all nodes
    (the logits layer padded to the widest node; the padding never reaches the output). ``call`` runs every head
    on every sample; :meth:`gathered` runs each head on its own rows (the tree's train step).

    >>> heads = NodeHeads([3, 2], units=(4,))
    >>> heads.build((None, 6)); [tuple(w.shape) for w in heads.weights]
    [(6, 2, 4), (2, 4), (2, 4, 3), (2, 3)]
    >>> heads.node_params(1)                             # 6 * 4 + 4 + 4 * 2 + 2
    38
    """

    def __init__(self, widths, units=(64,), dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.layout = EdgeLayout(widths)
        self.widths = tuple(int(w) for w in widths)
        self.units = tuple(int(u) for u in units)
        if any(u < 1 for u in self.units):
            raise ModelError(f"units must be positive integers, got {units!r}.")
        self.dropout = float(dropout)
        self.drop = layers.Dropout(self.dropout) if self.dropout else None
        real = np.arange(max(self.widths))[None, :] < np.asarray(self.widths)[:, None]  # (K, widest)
        self.real_columns = np.flatnonzero(real).astype(np.int32)  # of the (N, K * widest) logits
        self._pad_bias = np.where(real, 0.0, -1e9).astype(np.float32)  # -1e9 on the padding columns

    def build(self, input_shape):
        c, k, widest = int(input_shape[-1]), len(self.widths), max(self.widths)
        sizes = (c, *self.units)
        self.kernels, self.biases = [], []
        for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            shape = (a, k, b) if j == 0 else (k, a, b)
            self.kernels.append(self.add_weight(shape=shape, initializer=_glorot(a, b), name=f"kernel{j + 1}"))
            self.biases.append(self.add_weight(shape=(k, b), initializer="zeros", name=f"bias{j + 1}"))
        last = sizes[-1]
        self.logits_kernel = self.add_weight(shape=(last, k, widest) if not self.units else (k, last, widest),
                                             initializer=_glorot(last, float(np.mean(self.widths))),
                                             name="logits_kernel")
        self.logits_bias = self.add_weight(shape=(k, widest), initializer="zeros", name="logits_bias")

    def call(self, x, training=False):
        x = self.pool(x)
        n, k, widest = tf.shape(x)[0], len(self.widths), max(self.widths)

        def first(kernel, bias):  # (N, c) @ (c, K * b): every node's first layer in one product
            out = tf.matmul(x, tf.reshape(tf.cast(kernel, x.dtype), [int(kernel.shape[0]), -1]))
            return tf.reshape(out, [n, k, int(kernel.shape[-1])]) + tf.cast(bias, x.dtype)

        h = None
        for j, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = first(kernel, bias) if j == 0 else (
                tf.einsum("nka,kab->nkb", h, tf.cast(kernel, h.dtype)) + tf.cast(bias, h.dtype))
            h = tf.nn.relu(h)
            if self.drop is not None:
                h = self.drop(h, training=training)
        z = first(self.logits_kernel, self.logits_bias) if h is None else (
            tf.einsum("nka,kab->nkb", h, tf.cast(self.logits_kernel, h.dtype)) + tf.cast(self.logits_bias, h.dtype))
        return tf.cast(tf.gather(tf.reshape(z, [n, k * widest]), self.real_columns, axis=1), tf.float32)

    @staticmethod
    def pool(x):
        """The heads' input features: a feature map average-pooled to (N, c); a feature vector as it is."""
        return tf.reduce_mean(x, axis=[1, 2]) if len(x.shape) == 4 else x

    def gathered(self, parts, training=False):
        """Each node's head on its own rows only: ``parts`` (K tensors (n_k, c) of pooled features) -> K float32
        logits (n_k, widest), the columns past node k's width at -1e9 (the tree's gathered train step: a tenth of
        the arithmetic of every head on every sample, on the same few variables)."""
        hidden = [tf.unstack(kernel, axis=1 if j == 0 else 0) for j, kernel in enumerate(self.kernels)]
        biases = [tf.unstack(b) for b in self.biases]
        logits_k = tf.unstack(self.logits_kernel, axis=1 if not self.units else 0)
        logits_b = tf.unstack(self.logits_bias)
        pad = tf.unstack(tf.constant(self._pad_bias))  # added in float32 (-1e9 overflows float16)
        out = []
        for k, h in enumerate(parts):
            for kernels, bs in zip(hidden, biases):
                h = tf.nn.relu(tf.matmul(h, tf.cast(kernels[k], h.dtype)) + tf.cast(bs[k], h.dtype))
                if self.drop is not None:
                    h = self.drop(h, training=training)
            z = tf.matmul(h, tf.cast(logits_k[k], h.dtype)) + tf.cast(logits_b[k], h.dtype)
            out.append(tf.cast(z, tf.float32) + pad[k])
        return out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.layout.n_edges)

    def _sizes(self, k: int) -> tuple[int, ...]:
        """Node ``k``'s layer sizes: input features, hidden units, children."""
        first = self.kernels[0] if self.kernels else self.logits_kernel
        return (int(first.shape[0]), *self.units, self.widths[k])

    def node_params(self, k: int) -> int:
        """Parameters of node ``k``'s head (the padding of the logits layer not counted)."""
        sizes = self._sizes(k)
        return int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))

    def node_flops(self, k: int) -> int:
        """Multiply-accumulates x 2 of node ``k``'s head on one sample (as :func:`~taxoclass.models.blocks.block_flops`)."""
        sizes = self._sizes(k)
        return int(sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:])))

    def get_config(self):
        return {**super().get_config(), "widths": list(self.widths), "units": list(self.units),
                "dropout": self.dropout}
