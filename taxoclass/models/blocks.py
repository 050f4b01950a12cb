"""Node blocks of the tree model: a feature block followed by an MLP head.

Each classifier node of a :class:`~taxoclass.models.tree.TreeClassifier` owns one *branch*: a feature block
reading the image (or the shared trunk's feature map), then an MLP head ending in one logit per child of the
node. Feature blocks: ``"small_cnn"`` (convolutions of the node's own: HD-CNN's specialised upper layers),
``"dense"`` (global average pooling only: the node is an MLP on the trunk's pooled features, so a tree costs about
what a flat model on the same trunk costs) or your own callable. Branches are plain functional ``keras.Model`` objects made of
standard layers, so a saved tree loads with Keras ``safe_mode=True``.

>>> from taxoclass.models.blocks import build_branch
>>> b = build_branch((32, 32, 3), n_outputs=4, block_filters=(8, 16), head_units=(32,), name="node_0")
>>> b.output_shape
(None, 4)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers

from taxoclass.exceptions import ModelError
from taxoclass.models import NODE_BLOCKS

#: the small_cnn block average-pools its last feature map to about GRID x GRID cells before the MLP head
GRID = 4

__all__ = ["NODE_BLOCKS", "check_node_block", "small_cnn_block", "mlp_head", "check_head", "build_branch", "block_flops"]


def _ints(value, what: str, *, allow_empty: bool = True) -> tuple[int, ...]:
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = (value,)
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be a sequence of positive integers such as (32, 64), got {value!r}.") from None
    if any(v < 1 for v in out) or any(isinstance(v, bool) for v in value) or (not out and not allow_empty):
        raise ModelError(f"{what} must be a sequence of positive integers such as (32, 64), got {value!r}.")
    return out


def small_cnn_block(x, filters: Sequence[int] = (32, 64), *, name: str = "block"):
    """The ``"small_cnn"`` feature block on a Keras tensor: per entry of ``filters`` a 3x3 convolution + batch
    normalisation + ReLU followed by 2x2 max pooling (skipped once the map is 1 pixel wide), then average pooling to a grid of about
    4 x 4 cells, flattened (a 16 x 16 x 64 map gives 4 * 4 * 64 = 1,024 features).

    A 2-D input (a feature vector, e.g. a trunk cut after its pooling) passes through unchanged.

    >>> import keras
    >>> small_cnn_block(keras.Input((16, 16, 3)), (8, 16)).shape      # 4 x 4 x 16 after two poolings
    (None, 256)
    >>> small_cnn_block(keras.Input((64, 64, 3)), (8, 16)).shape      # 16 x 16 -> 4 x 4 grid
    (None, 256)
    """
    if len(x.shape) == 2:
        return x
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{name}_conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i + 1}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i + 1}")(x)
        if min(x.shape[1], x.shape[2]) >= 2:
            x = layers.MaxPooling2D(2, name=f"{name}_pool{i + 1}")(x)
    # Keep a coarse spatial layout: average-pool to a grid of about 4 x 4, then flatten. (Global average pooling
    # right after two convolutions throws away where things are and trains several times slower.)
    ph, pw = max(1, int(x.shape[1]) // GRID), max(1, int(x.shape[2]) // GRID)
    if ph > 1 or pw > 1:
        x = layers.AveragePooling2D((ph, pw), name=f"{name}_grid")(x)
    return layers.Flatten(name=f"{name}_flatten")(x)


def mlp_head(x, n_outputs: int, units: Sequence[int] = (64,), dropout: float = 0.0, *, name: str = "head"):
    """MLP head on a feature vector: Dense(ReLU) layers with dropout, then ``n_outputs`` logits (float32).

    >>> import keras
    >>> mlp_head(keras.Input((16,)), 3, units=(8,)).shape
    (None, 3)
    """
    if len(x.shape) > 2:
        x = layers.Flatten(name=f"{name}_flatten")(x)
    for i, u in enumerate(units):
        x = layers.Dense(u, activation="relu", name=f"{name}_dense{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout{i + 1}")(x)
    return layers.Dense(n_outputs, name=f"{name}_logits", dtype="float32")(x)


def check_head(head_units, dropout) -> tuple[int, ...]:
    """The MLP head's ``head_units`` as a tuple of ints, checked with ``dropout``; :class:`ModelError` otherwise.

    >>> check_head([256], 0.1)
    (256,)
    """
    units = _ints(head_units, "head_units")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ModelError(f"dropout must be a number in [0, 1), got {dropout!r}.")
    return units


def check_node_block(node_block, auto: bool = True) -> None:
    """Refuse a ``node_block`` that is neither a name of :data:`NODE_BLOCKS` (``"auto"`` only where ``auto``) nor
    a callable.

    >>> check_node_block("Dense")
    Traceback (most recent call last):
    ...
    taxoclass.exceptions.ModelError: unknown node_block 'Dense'; expected one of auto, small_cnn, dense or a callable f(x) -> x building the feature block on a Keras tensor.
    """
    names = NODE_BLOCKS if auto else NODE_BLOCKS[1:]
    if callable(node_block) or (isinstance(node_block, str) and node_block in names):
        return
    raise ModelError(f"unknown node_block {node_block!r}; expected one of {', '.join(names)} or a callable f(x) -> x "
                     "building the feature block on a Keras tensor.")


def build_branch(input_shape, n_outputs: int, *, node_block: str | Callable = "small_cnn",
                 block_filters: Sequence[int] = (32, 64), head_units: Sequence[int] = (64,), dropout: float = 0.0,
                 name: str = "branch") -> keras.Model:
    """One node's branch as a functional ``keras.Model``: features (or image) -> feature block -> MLP head
    -> ``n_outputs`` logits.

    ``node_block`` is ``"small_cnn"`` (:func:`small_cnn_block`), ``"dense"`` (global average pooling of a feature
    map, nothing on a feature vector) or a callable ``f(x) -> x`` applied to the branch's input Keras tensor
    (build layers inside it: ``lambda x: keras.layers.Conv2D(16, 3)(x)``); the MLP head is added after it.

    >>> b = build_branch((8, 8, 16), 2, block_filters=(8,), head_units=(), name="n")
    >>> [layer.name for layer in b.layers]
    ['n_input', 'n_conv1', 'n_bn1', 'n_relu1', 'n_pool1', 'n_flatten', 'n_logits']
    >>> [layer.name for layer in build_branch((8, 8, 16), 2, node_block="dense", head_units=(4,), name="d").layers]
    ['d_input', 'd_gap', 'd_dense1', 'd_logits']
    """
    filters = _ints(block_filters, "block_filters")
    units = check_head(head_units, dropout)
    inputs = keras.Input(tuple(input_shape), name=f"{name}_input")
    check_node_block(node_block, auto=False)
    if isinstance(node_block, str):
        if node_block == "dense":
            x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(inputs) if len(inputs.shape) == 4 else inputs
        else:
            x = small_cnn_block(inputs, filters, name=name)
    elif callable(node_block):
        x = node_block(inputs)
        if not isinstance(x, keras.KerasTensor):
            raise ModelError(f"node_block callable must return a Keras tensor (the block's output), got "
                             f"{type(x).__name__}.")
        if len(x.shape) == 4:
            x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    out = mlp_head(x, n_outputs, units, dropout, name=name)
    return keras.Model(inputs, out, name=name)


def block_flops(model: keras.Model) -> int:
    """Multiply-accumulate count x 2 of one sample through ``model``'s Conv2D / Dense layers (recursively),
    computed from the layer shapes. A cheap, analytic FLOP count used by the benchmarks and ``summary()``.

    >>> block_flops(build_branch((8, 8, 3), 2, block_filters=(4,), head_units=(), name="n"))
    14080
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += block_flops(layer)
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            out = layer.output.shape
            k = layer.kernel.shape  # (kh, kw, in, out) or depthwise (kh, kw, in, mult)
            per_out = k[0] * k[1] * (k[2] // getattr(layer, "groups", 1) if isinstance(layer, layers.Conv2D)
                                     and not isinstance(layer, layers.DepthwiseConv2D) else 1)
            total += 2 * out[1] * out[2] * out[3] * per_out
        elif isinstance(layer, layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)
