"""Registry of convolutional backbones (feature extractors) for flat and tree models.

Every backbone built here maps raw images — float32 pixel values in [0, 255], shape (N, H, W, C) — to a 4-D
feature map. It contains its own preprocessing layer (the scaling its ImageNet weights were trained with), so a
saved model predicts on raw images. Grayscale inputs (C = 1) are repeated to three channels for the
keras.applications backbones, so ImageNet weights apply to plankton images as they are.

>>> from taxoclass.models.backbones import build_backbone
>>> net = build_backbone("small_cnn", (64, 64, 1))
>>> net.output_shape
(None, 8, 8, 128)
>>> build_backbone("inception_v3", (75, 75, 3)).output_shape
(None, 1, 1, 2048)
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import keras
from keras import layers, ops

from taxoclass.exceptions import ModelError
from taxoclass.models.scratch import resnet_small, small_cnn, vgg_bn

# per-channel statistics of the ImageNet-trained keras.applications models
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESS_MODES = ("tf", "torch", "caffe", "unit", "none")


@dataclass(frozen=True)
class BackboneSpec:
    """What the registry knows about one backbone."""

    name: str
    application: str | None  # keras.applications constructor, None for the from-scratch backbones
    min_size: int  # smallest accepted height/width in pixels
    preprocess: str  # ImagePreprocess mode mapping [0, 255] to what the weights expect
    imagenet: bool  # ImageNet weights available through keras.applications
    description: str
    keras_module: str | None = None  # keras.applications module holding its preprocess_input (data pipeline)
    scalable: bool = False  # takes width= and depth= (from-scratch families)
    default_width: int | None = None
    default_depth: int | None = None
    stages: int = 3  # resolution stages of a from-scratch family (filters width * 2**s in stage s)
    # last layer of the tree's default shared trunk (HD-CNN: the node blocks read this feature map); None = the
    # whole network. ``{last}`` is replaced by the number of the last stage (it depends on nothing but the family)
    trunk_cut: str | None = None


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec for spec in (
        BackboneSpec("inception_v3", "InceptionV3", 75, "tf", True,
                     "InceptionV3 (23.8 M parameters, 2048 features), the plankton-study baseline; default 299 px",
                     keras_module="inception_v3"),
        BackboneSpec("mobilenet_v2", "MobileNetV2", 32, "tf", True,
                     "MobileNetV2 (2.3 M parameters, 1280 features), fast; default 224 px",
                     keras_module="mobilenet_v2"),
        BackboneSpec("resnet50", "ResNet50", 32, "caffe", True,
                     "ResNet50 (23.6 M parameters, 2048 features); default 224 px", keras_module="resnet50"),
        BackboneSpec("densenet121", "DenseNet121", 32, "torch", True,
                     "DenseNet121 (7.0 M parameters, 1024 features); default 224 px", keras_module="densenet"),
        BackboneSpec("efficientnet_b0", "EfficientNetB0", 32, "none", True,
                     "EfficientNetB0 (4.0 M parameters, 1280 features; scaling built in); default 224 px",
                     keras_module="efficientnet"),
        BackboneSpec("resnet_small", None, 8, "unit", False,
                     "pre-activation ResNet with batch norm for CPU training from scratch on small grey images "
                     "(width 32, depth 1: 0.3 M parameters, 128 features)",
                     scalable=True, default_width=32, default_depth=1, trunk_cut="stage{prev}_out"),
        BackboneSpec("vgg_bn", None, 8, "unit", False,
                     "compact VGG: 4 stages of 3x3 conv + batch norm + ReLU and max pooling, for CPU training "
                     "from scratch (width 32, depth 1: 0.4 M parameters, 256 features)",
                     scalable=True, default_width=32, default_depth=1, stages=4, trunk_cut="stage{prev}_pool"),
        BackboneSpec("small_cnn", None, 8, "unit", False,
                     "small 3-block CNN (0.1 M parameters, 128 features) for tests and quick runs",
                     trunk_cut="block2_pool"),
    )
}

#: the backbone of FlatClassifier, of the tree's shared trunk and of train/benchmark when none is named
from taxoclass.models import DEFAULT_BACKBONE  # noqa: E402  (one default, defined TF-free in the package)


def backbone_names(*, pretrained: bool | None = None) -> tuple[str, ...]:
    """Names of the registered backbones (for ``choices=`` of a CLI flag, help texts and checks).

    ``pretrained=True``: only those with ImageNet weights; ``False``: only the from-scratch ones.

    >>> backbone_names(pretrained=False)
    ('resnet_small', 'vgg_bn', 'small_cnn')
    """
    return tuple(n for n, s in BACKBONES.items() if pretrained is None or s.imagenet == pretrained)


def backbone_help() -> str:
    """One line per backbone (name: description), for CLI help texts and docs.

    >>> backbone_help().splitlines()[0].split(":")[0]
    'inception_v3'
    """
    return "\n".join(f"{s.name}: {s.description}" for s in BACKBONES.values())


def preprocess_module(name: str) -> str | None:
    """The ``keras.applications`` module whose ``preprocess_input`` suits backbone ``name`` (None: the
    backbone scales its own input and needs no preprocessing outside the model).

    >>> preprocess_module("densenet121"), preprocess_module("resnet_small")
    ('densenet', None)
    """
    return backbone_spec(name).keras_module


def default_trunk_cut(name: str, depth: int | None = None) -> str | None:
    """Layer name where the tree's default shared trunk of backbone ``name`` ends (before its last stage), or None
    for the whole network.

    >>> default_trunk_cut("resnet_small"), default_trunk_cut("inception_v3")
    ('stage2_out', None)
    """
    spec = backbone_spec(name)
    return None if spec.trunk_cut is None else spec.trunk_cut.format(prev=spec.stages - 1)


def backbone_spec(name: str) -> BackboneSpec:
    """Look up a registered backbone by name.

    >>> backbone_spec("inception_v3").min_size
    75
    """
    if not isinstance(name, str) or name not in BACKBONES:
        raise ModelError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}.")
    return BACKBONES[name]


@keras.saving.register_keras_serializable(package="taxoclass")
class ImagePreprocess(layers.Layer):
    """Map [0, 255] pixel values to what a backbone's weights expect (a serialisable, safe_mode-proof layer).

    Modes: ``"tf"`` -> [-1, 1] (Inception, MobileNet); ``"torch"`` -> ImageNet mean/std normalisation
    (DenseNet); ``"caffe"`` -> RGB to BGR and ImageNet mean subtraction (ResNet); ``"unit"`` -> [0, 1];
    ``"none"`` -> unchanged. ``gray_to_rgb=True`` repeats a single channel three times first.

    >>> import numpy as np
    >>> ImagePreprocess("tf")(np.array([[[[0.0, 127.5, 255.0]]]], "float32")).numpy().tolist()
    [[[[-1.0, 0.0, 1.0]]]]
    """

    def __init__(self, mode: str = "tf", gray_to_rgb: bool = False, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise ModelError(f"unknown preprocessing mode {mode!r}; expected one of {', '.join(PREPROCESS_MODES)}.")
        self.mode = mode
        self.gray_to_rgb = bool(gray_to_rgb)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.gray_to_rgb:
            x = ops.repeat(x, 3, axis=-1)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor([255.0 * m for m in _TORCH_MEAN], self.compute_dtype)
            std = ops.convert_to_tensor([255.0 * s for s in _TORCH_STD], self.compute_dtype)
            return (x - mean) / std
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(_CAFFE_MEAN_BGR, self.compute_dtype)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3) if self.gray_to_rgb else tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "gray_to_rgb": self.gray_to_rgb}


def _check_input_shape(spec: BackboneSpec, input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or any(v <= 0 for v in shape):
        raise ModelError(f"input_shape must be (height, width, channels) of positive integers, e.g. (299, 299, 3) "
                         f"or (128, 128, 1) for grayscale, got {input_shape!r}.")
    h, w, c = shape
    if min(h, w) < spec.min_size:
        raise ModelError(f"backbone {spec.name} needs images of at least {spec.min_size}x{spec.min_size} pixels, "
                         f"got input_shape {shape}; resize the images to >= {spec.min_size} px or choose "
                         "another backbone.")
    if spec.application is not None and c not in (1, 3):
        raise ModelError(f"backbone {spec.name} takes 1 (grayscale) or 3 (RGB) channels, got {c} in input_shape "
                         f"{shape}; convert the images or use backbone='small_cnn'.")
    return shape


_BUILDERS = {"resnet_small": resnet_small, "vgg_bn": vgg_bn}

#: the largest ``width`` (first-stage filters) and ``depth`` (blocks per stage) of the from-scratch families,
#: the bounds of :func:`check_size`
SIZE_LIMITS = {"width": 1024, "depth": 16}


def check_size(backbone, width=None, depth=None) -> tuple[int | None, int | None]:
    """The one check of ``width`` (first-stage filters) and ``depth`` (blocks per stage), for the estimators and
    the commands alike: they size a from-scratch family (resnet_small, vgg_bn) and are refused for any other
    ``backbone`` (a name or a :class:`BackboneSpec`). Returns the values to build with (None, None for a fixed-size
    backbone; the family's default for an unset one).

    >>> check_size("vgg_bn", 16)
    (16, 1)
    >>> check_size("inception_v3", depth=2)
    Traceback (most recent call last):
    ...
    taxoclass.exceptions.ModelError: depth=2 sizes a from-scratch backbone (resnet_small, vgg_bn), not inception_v3; leave depth unset or choose one of those.
    """
    spec = backbone if isinstance(backbone, BackboneSpec) else BACKBONES.get(backbone) \
        if isinstance(backbone, str) else None
    name = spec.name if spec is not None else backbone
    hints = {"width": "filters, e.g. 32", "depth": "blocks per stage, e.g. 1 or 2"}
    for what, v in (("width", width), ("depth", depth)):
        if v is None:
            continue
        if spec is None or not spec.scalable:
            scalable = ", ".join(n for n, s in BACKBONES.items() if s.scalable)
            raise ModelError(f"{what}={v!r} sizes a from-scratch backbone ({scalable}), not {name}; leave {what} "
                             "unset or choose one of those.")
        hi = SIZE_LIMITS[what]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= v <= hi:
            raise ModelError(f"{what}={v!r} is not valid; expected an integer from 1 to {hi} ({hints[what]}).")
    if spec is None or not spec.scalable:
        return None, None
    return (int(spec.default_width if width is None else width), int(spec.default_depth if depth is None else depth))


def _resolve_weights(spec: BackboneSpec, weights):
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        if not spec.imagenet:
            raise ModelError(f"backbone {spec.name} has no ImageNet weights; use weights=None (train from "
                             "scratch) or a local weights file.")
        return "imagenet"
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise ModelError(f"weights file {path} does not exist; pass weights='imagenet' (downloads, needs "
                             "internet), None (train from scratch) or the path of a local weights file "
                             "(e.g. a keras.applications '*_notop.h5' file or one written by save_weights).")
        return path
    raise ModelError(f"weights must be 'imagenet', None or a file path, got {weights!r}.")


def _load_into(model: keras.Model, path: Path) -> None:
    """Load ``path`` into ``model``; fail unless every kernel was replaced (Keras only warns on a partial match)."""
    import warnings

    import numpy as np

    kernels = [w for w in model.weights if len(w.shape) >= 2]
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in kernels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # partial matches are detected below, not by Keras' warnings
        model.load_weights(str(path))
    missed = [w.path for w, old in zip(kernels, before) if np.array_equal(keras.ops.convert_to_numpy(w), old)]
    if missed:
        raise ValueError(f"the file holds no weights for {len(missed)} of {len(kernels)} kernels "
                         f"(e.g. {missed[0]})")


def _load_weights_file(app: keras.Model, path: Path, fallback: keras.Model | None = None):
    """Load ``path`` into the keras.applications network, else into the whole backbone (``fallback``)."""
    try:
        try:
            _load_into(app, path)
        except Exception:
            if fallback is None:
                raise
            _load_into(fallback, path)
    except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, OSError, KeyError... on a wrong file
        raise ModelError(f"cannot load weights file {path} into backbone {app.name!r}: {exc}. The file must hold "
                         "the weights of the same backbone without its top (e.g. keras.applications "
                         "'*_notop.h5', or backbone.save_weights('x.weights.h5')) at the same channel count.") from exc


def build_backbone(name: str, input_shape, weights=None, cut_layer=None, include_preprocessing: bool = True,
                   width: int | None = None, depth: int | None = None) -> keras.Model:
    """Build a registered backbone as a ``keras.Model`` from [0, 255] images to a 4-D feature map.

    - ``name``: one of :func:`backbone_names` (inception_v3, mobilenet_v2, resnet50, densenet121,
      efficientnet_b0, resnet_small, vgg_bn, small_cnn).
    - ``input_shape``: (height, width, channels); smaller than the backbone's minimum (InceptionV3: 75 px) is
      refused. A grayscale (C = 1) input is repeated to RGB for the keras.applications backbones.
    - ``weights``: ``None`` (random init), ``"imagenet"`` (downloaded by Keras, needs internet once) or the path
      of a local weights file for offline machines: either the keras.applications no-top file
      (``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``) or a file written by
      ``build_backbone(...).save_weights("x.weights.h5")``.
    - ``cut_layer``: layer name or index of the underlying network to stop at (its output must be 4-D), e.g.
      ``"mixed7"`` for InceptionV3's 17x17 features; ``None`` keeps the whole network.
    - ``include_preprocessing``: ``False`` when the inputs are already preprocessed for this backbone.
    - ``width``, ``depth``: size of the from-scratch families (``resnet_small``, ``vgg_bn``): filters of the first
      stage (doubled at each following stage; resnet_small has 3 stages, vgg_bn 4) and residual blocks /
      convolutions per stage; None = the family's
      default (width 32, depth 1). Refused for the fixed-size backbones.

    The feature extractor is the nested model named ``"features"`` (``model.get_layer("features")``), whose layer
    indices are those of keras.applications (for ``fine_tune_at``). To freeze or fine-tune it use
    :func:`set_trainable`, which keeps BatchNormalization layers in inference mode (in Keras 3 calling a nested
    model with ``training=False`` does NOT survive an outer ``fit``: the outer training flag overrides it).

    >>> net = build_backbone("inception_v3", (75, 75, 1), cut_layer="mixed2")
    >>> net.output_shape
    (None, 7, 7, 288)
    >>> build_backbone("resnet_small", (48, 48, 1), width=16, depth=2).output_shape
    (None, 6, 6, 64)
    """
    spec = backbone_spec(name)
    shape = _check_input_shape(spec, input_shape)
    width, depth = check_size(spec, width, depth)
    resolved = _resolve_weights(spec, weights)
    gray = spec.application is not None and shape[-1] == 1
    feature_shape = (*shape[:2], 3) if gray else shape

    if spec.name in _BUILDERS:
        features = _BUILDERS[spec.name](feature_shape, width, depth, spec.stages)
    elif spec.application is None:
        features = small_cnn(feature_shape)
    else:
        constructor = getattr(keras.applications, spec.application)
        features = constructor(include_top=False, weights="imagenet" if resolved == "imagenet" else None,
                               input_shape=feature_shape, name="features")
    whole = features
    if cut_layer is not None:
        try:
            layer = (features.layers[cut_layer] if isinstance(cut_layer, int) and not isinstance(cut_layer, bool)
                     else features.get_layer(cut_layer))
        except (ValueError, IndexError, TypeError):
            raise ModelError(f"cut_layer {cut_layer!r} is not a layer of backbone {name} (it has "
                             f"{len(features.layers)} layers, e.g. {', '.join(l.name for l in features.layers[-5:])}); "
                             "pass a layer name or index from model.get_layer('features').summary().") from None
        if len(layer.output.shape) != 4:
            raise ModelError(f"cut_layer {cut_layer!r} of backbone {name} outputs shape {tuple(layer.output.shape)}, "
                             "not a 4-D feature map; choose a convolutional layer.")
        features = keras.Model(features.inputs, layer.output, name="features")
    inputs = keras.Input(shape, name="image")
    x = inputs
    if include_preprocessing and (spec.preprocess != "none" or gray):
        x = ImagePreprocess(spec.preprocess, gray_to_rgb=gray, name="preprocess")(x)
    elif gray:
        x = ImagePreprocess("none", gray_to_rgb=True, name="gray_to_rgb")(x)
    model = keras.Model(inputs, features(x), name=f"{name}_backbone")
    if isinstance(resolved, Path):
        _load_weights_file(whole, resolved, fallback=model if whole is features else None)
    return model


def set_trainable(backbone: keras.Model, trainable: bool = True, fine_tune_at=None,
                  batchnorm: str = "frozen") -> int:
    """Freeze or unfreeze a backbone built by :func:`build_backbone`; returns the number of trainable weights.

    - ``trainable=False``: the whole backbone is frozen (transfer-learning phase 1).
    - ``trainable=True``: unfreeze from ``fine_tune_at`` on: ``None`` = every layer, an int ``i`` = the layers
      ``features.layers[i:]`` (a negative ``i`` = the top ``-i`` layers), a str = from the layer of that name.
    - ``batchnorm="frozen"`` keeps every BatchNormalization layer non-trainable, hence in inference mode (moving
      statistics neither used from the batch nor updated) — what fine-tuning pretrained weights needs;
      ``"trainable"`` lets them train like the other layers (training from scratch).

    Re-compile the model afterwards. Works on a backbone nested inside a larger model too.

    >>> net = build_backbone("small_cnn", (32, 32, 3))
    >>> set_trainable(net, False)
    0
    >>> set_trainable(net, True, fine_tune_at="block3_conv")   # block3_conv kernel only; its BN stays frozen
    1
    """
    if batchnorm not in ("frozen", "trainable"):
        raise ModelError(f"batchnorm must be 'frozen' or 'trainable', got {batchnorm!r}.")
    try:
        features = backbone.get_layer("features")
    except ValueError:
        raise ModelError(f"{backbone.name} is not a backbone built by build_backbone (it has no 'features' "
                         "layer).") from None
    backbone.trainable = True
    features.trainable = bool(trainable)
    if trainable:
        n = len(features.layers)
        if fine_tune_at is None:
            start = 0
        elif isinstance(fine_tune_at, (int,)) and not isinstance(fine_tune_at, bool):
            if not -n <= fine_tune_at < n:
                raise ModelError(f"fine_tune_at={fine_tune_at} is outside the backbone's {n} layers; pass an index in "
                                 f"{-n}..{n - 1} (negative: the top layers) or a layer name.")
            start = fine_tune_at % n
        elif isinstance(fine_tune_at, str):
            names = [layer.name for layer in features.layers]
            if fine_tune_at not in names:
                raise ModelError(f"fine_tune_at={fine_tune_at!r} is not a layer of the backbone (last layers: "
                                 f"{', '.join(names[-5:])}); pass a name from model.get_layer('features').summary() "
                                 "or a layer index.")
            start = names.index(fine_tune_at)
        else:
            raise ModelError(f"fine_tune_at must be None, a layer index or a layer name, got {fine_tune_at!r}.")
        for i, layer in enumerate(features.layers):
            layer.trainable = i >= start and not (batchnorm == "frozen"
                                                  and isinstance(layer, layers.BatchNormalization))
    return len(backbone.trainable_weights)
