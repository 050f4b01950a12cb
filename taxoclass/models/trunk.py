"""The tree model's shared trunk: the lower layers every node block reads (HD-CNN's shared lower layers).

A trunk is a named from-scratch backbone (:mod:`taxoclass.models.backbones`), optionally cut at a layer so that
convolutional node blocks take over before its last stage; your own ``keras.Model`` (cut at ``trunk_layer``);
or nothing, the node blocks then reading the image scaled to [-1, 1].

>>> from taxoclass.models.trunk import build_trunk
>>> build_trunk(None, (16, 16, 1)).output_shape
(None, 16, 16, 1)
"""

from __future__ import annotations

import keras
from keras import layers

from taxoclass.exceptions import ModelError
from taxoclass.models import backbones as _backbones

__all__ = ["build_trunk"]


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def build_trunk(trunk, input_shape, *, trunk_layer="auto", weights=None, width=None, depth=None, trainable=True,
                dense_nodes=True) -> keras.Model:
    """The trunk model for ``input_shape`` (height, width, channels) images of [0, 255] pixel values.

    ``trunk``: a backbone name, a ``keras.Model`` or None (a stem that only scales the image to [-1, 1]).
    ``trunk_layer``: ``"auto"`` (a named trunk whole under dense node heads, ``dense_nodes=True``, else cut
    before its last stage: :func:`~taxoclass.models.backbones.default_trunk_cut`), None (whole) or a layer name
    or index to cut at. ``weights``, ``width``, ``depth``: those of a named backbone. ``trainable``: whether the
    trunk trains with the node blocks.

    >>> build_trunk("vgg_bn", (32, 32, 1), width=8, dense_nodes=False).output_shape  # cut at "stage3_pool"
    (None, 4, 4, 32)
    """
    shape = tuple(int(v) for v in input_shape)
    if trunk is None:
        inp = keras.Input(shape, name="image")
        out = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inp)
        return keras.Model(inp, out, name="stem")
    if isinstance(trunk, str):
        cut = (None if dense_nodes else _backbones.default_trunk_cut(trunk)) if _is_auto(trunk_layer) else trunk_layer
        model = _backbones.build_backbone(trunk, shape, weights=weights, cut_layer=cut, width=width, depth=depth)
    else:
        model = trunk
        if trunk_layer is not None and not _is_auto(trunk_layer):
            try:
                out = model.get_layer(trunk_layer).output
            except ValueError:
                raise ModelError(f"trunk_layer {trunk_layer!r} is not a layer of the trunk model "
                                 f"{model.name!r}.") from None
            model = keras.Model(model.inputs, out, name=f"{model.name}_cut")
        got = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
        if got is not None and any(a is not None and a != b for a, b in zip(got, shape)):
            raise ModelError(f"the trunk model takes inputs of shape {got}, but input_shape={shape}; make them "
                             "match.")
        if len(model.output_shape) not in (2, 4):
            raise ModelError(f"the trunk must output a feature map (N, h, w, c) or vector (N, c), got "
                             f"{model.output_shape}.")
    model.trainable = trainable
    return model
