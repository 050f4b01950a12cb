"""The from-scratch backbone families of the registry (:mod:`taxoclass.models.backbones`), sized for CPU
training on small grey images: ``small_cnn``, ``resnet_small`` and ``vgg_bn``.

Each function builds the nested ``"features"`` model (raw input -> 4-D feature map); use them through
:func:`taxoclass.models.backbones.build_backbone`, which adds the input scaling and checks the arguments.

>>> resnet_small((48, 48, 1)).output_shape      # width 32, depth 1: 48 -> 24 (stem pool) -> 24 -> 12 -> 6
(None, 6, 6, 128)
>>> vgg_bn((48, 48, 1)).output_shape            # 4 stages, each ending in 2x2 max pooling
(None, 3, 3, 256)
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = ["small_cnn", "resnet_small", "vgg_bn"]


def small_cnn(input_shape, filters=(32, 64, 128)) -> keras.Model:
    inputs = keras.Input(input_shape, name="features_input")
    x = inputs
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i + 1}_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"block{i + 1}_bn")(x)
        x = layers.Activation("relu", name=f"block{i + 1}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    return keras.Model(inputs, x, name="features")


def _conv_bn_relu(x, filters, name, strides=1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def resnet_small(input_shape, width: int = 32, depth: int = 1, stages: int = 3) -> keras.Model:
    """Pre-activation ResNet (He et al. 2016, "Identity mappings"): a 3x3 conv stem at full resolution, 2x2 max
    pooling, then ``stages`` stages of ``depth`` residual blocks (BN-ReLU-conv-BN-ReLU-conv + shortcut) with
    ``width * 2**s`` filters; stages after the first halve the resolution (stride-2 conv, 1x1 projection
    shortcut). A final BN-ReLU closes the last stage. Stage s's output is the layer ``stage{s}_out``."""
    inputs = keras.Input(input_shape, name="features_input")
    x = _conv_bn_relu(inputs, width, "stem")
    if min(x.shape[1], x.shape[2]) >= 2:
        x = layers.MaxPooling2D(2, name="stem_pool")(x)
    for s in range(stages):
        filters = width * 2 ** s
        for b in range(depth):
            name = f"stage{s + 1}_block{b + 1}"
            strides = 2 if (s > 0 and b == 0 and min(x.shape[1], x.shape[2]) >= 2) else 1
            pre = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(x)
            pre = layers.Activation("relu", name=f"{name}_relu1")(pre)
            if strides != 1 or x.shape[-1] != filters:
                shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_proj")(pre)
            else:
                shortcut = x
            y = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv1")(pre)
            y = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(y)
            y = layers.Activation("relu", name=f"{name}_relu2")(y)
            y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
            x = layers.Add(name=f"{name}_add")([shortcut, y])
        x = layers.Identity(name=f"stage{s + 1}_out")(x)
    x = layers.BatchNormalization(momentum=0.9, name="final_bn")(x)
    x = layers.Activation("relu", name="final_relu")(x)
    return keras.Model(inputs, x, name="features")


def vgg_bn(input_shape, width: int = 32, depth: int = 1, stages: int = 4) -> keras.Model:
    """Compact VGG with batch norm: ``stages`` stages of ``depth`` (3x3 conv + BN + ReLU) with ``width * 2**s``
    filters, each followed by 2x2 max pooling (layer ``stage{s}_pool``; skipped once the map is 1 pixel wide)."""
    inputs = keras.Input(input_shape, name="features_input")
    x = inputs
    for s in range(stages):
        for c in range(depth):
            x = _conv_bn_relu(x, width * 2 ** s, f"stage{s + 1}_{c + 1}")
        if min(x.shape[1], x.shape[2]) >= 2:
            x = layers.MaxPooling2D(2, name=f"stage{s + 1}_pool")(x)
        else:
            x = layers.Identity(name=f"stage{s + 1}_pool")(x)
    return keras.Model(inputs, x, name="features")
