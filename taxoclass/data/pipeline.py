"""The tf.data input pipeline: parallel decode, aspect-preserving resize with padding, cache, shuffle, batch,
augmentation (:mod:`taxoclass.data.augment`: one random affine transform per image, batched) and a class-balanced
sampler.

Images leave the pipeline as float32 pixel values in [0, 255], shape (batch, size, size, channels): every taxoclass
model contains its own preprocessing layer. Users of raw Keras models can ask for ``preprocessing=`` (a
``keras.applications`` backbone name or any callable).

Decoding: plain 8-bit gray/RGB JPEG and PNG files are decoded by TensorFlow (``tf.io.decode_image``, in parallel,
without the GIL); the odd files flagged when the ImageSet was built (16-bit, RGBA, CMYK, palette, TIFF, ...) go
through :func:`taxoclass.data.checks.pil_decode` instead. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

import os

from collections.abc import Callable

import numpy as np

from taxoclass.data.augment import AUGMENT_MODES, AUGMENT_PRESETS, augment_mode, check_augment_options, random_affine
from taxoclass.data.checks import pil_decode
from taxoclass.data.imageset import ImageSet
from taxoclass.exceptions import DataError

__all__ = ["make_dataset", "load_images", "get_preprocessing", "fit_to_square", "background", "without_autotune",
           "RESIZE_MODES", "SAMPLING_MODES"]

RESIZE_MODES = ("pad", "stretch")
SAMPLING_MODES = ("natural", "balanced")

def _size(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)):
        image_size = (int(image_size), int(image_size))
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise DataError(f"image_size={image_size!r} is not valid; expected an int or (height, width).") from None
    if h < 1 or w < 1:
        raise DataError(f"image_size={image_size!r} is not valid; expected positive sizes.")
    return h, w


def background(pad_value: float = 255, invert: bool = False) -> float:
    """The background value of pipeline output: ``pad_value``, or ``255 - pad_value`` when inverted.

    >>> background(255, invert=True)
    0.0
    """
    return 255.0 - float(pad_value) if invert else float(pad_value)


def fit_to_square(image, image_size=64, *, resize: str = "pad", pad_value: float = 255, invert: bool = False,
                  antialias: bool = True):
    """Resize one image tensor (H, W, C) to ``image_size``, keeping its aspect ratio and padding with ``pad_value``.

    The image is scaled so that its longer side fits, centred, and the rest is filled with ``pad_value`` (plankton:
    255, the white background). ``invert=True`` then inverts everything (``255 - x``) so the background becomes 0.
    ``resize="stretch"`` ignores the aspect ratio. Returns float32 in [0, 255].

    >>> import numpy as np
    >>> out = fit_to_square(np.zeros((10, 20, 1), np.uint8), 8, pad_value=255)
    >>> out.shape, float(out[0, 0, 0]), float(out[4, 4, 0])
    (TensorShape([8, 8, 1]), 255.0, 0.0)
    """
    import tensorflow as tf

    th, tw = _size(image_size)
    if resize not in RESIZE_MODES:
        raise DataError(f"resize={resize!r} is not valid; expected one of {', '.join(RESIZE_MODES)}.")
    img = tf.cast(tf.convert_to_tensor(image), tf.float32)
    if resize == "stretch":
        out = tf.image.resize(img, (th, tw), antialias=antialias)
    else:
        shape = tf.shape(img)
        h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
        scale = tf.minimum(th / h, tw / w)
        nh = tf.clip_by_value(tf.cast(tf.round(h * scale), tf.int32), 1, th)
        nw = tf.clip_by_value(tf.cast(tf.round(w * scale), tf.int32), 1, tw)
        new_size = tf.stack([nh, nw])
        if antialias:  # the antialias kernel only matters when shrinking; plain bilinear is ~2x faster
            out = tf.cond(scale < 1.0, lambda: tf.image.resize(img, new_size, antialias=True),
                          lambda: tf.image.resize(img, new_size))
        else:
            out = tf.image.resize(img, new_size)
        top, left = (th - nh) // 2, (tw - nw) // 2
        paddings = tf.stack([tf.stack([top, th - nh - top]), tf.stack([left, tw - nw - left]), [0, 0]])
        out = tf.pad(out, paddings, constant_values=float(pad_value))
        out = tf.ensure_shape(out, (th, tw, None))
    out = tf.clip_by_value(out, 0.0, 255.0)
    if invert:
        out = 255.0 - out
    return out


def get_preprocessing(preprocessing) -> Callable | None:
    """Resolve ``preprocessing``: None, a callable, or a registered backbone name (``"inception_v3"``,
    ``"resnet50"``..., see :func:`taxoclass.models.backbones.backbone_names`) whose ``keras.applications``
    ``preprocess_input`` maps [0, 255] images to what its weights expect (None for the from-scratch backbones).

    >>> f = get_preprocessing("inception_v3")
    >>> float(f(np.array([[0.0, 255.0]]))[0, 1])
    1.0
    """
    from taxoclass.models.backbones import backbone_names, preprocess_module

    if preprocessing is None or callable(preprocessing):
        return preprocessing
    name = str(preprocessing).lower()
    if name in ("none", ""):
        return None
    if name not in backbone_names():
        raise DataError(f"preprocessing={preprocessing!r} is unknown; expected a callable, None or a backbone name "
                        f"({', '.join(backbone_names())}).")
    module = preprocess_module(name)
    if module is None:  # the from-scratch backbones scale their own input
        return None
    import importlib

    return importlib.import_module(f"keras.applications.{module}").preprocess_input


def without_autotune(ds):
    """``ds`` with tf.data's autotuning turned off (``AUTOTUNE`` parallel maps then keep a fixed parallelism).

    Why: with autotuning on (TensorFlow 2.21), destroying a dataset iterator can wait for the autotuner's thread to
    wake from its sleep, and Keras makes a new iterator for every epoch. Measured on the NDSB tree (48 px, one core,
    ``benchmarks/epoch_restart.py``, docs/benchmarks.md): 12-17 s lost at the start of most epochs, a 37 s epoch
    instead of 24 s; the flat model lost as much on some of its epochs. The pipeline itself is no slower without
    the autotuner (its decode and augmentation keep up with training either way). Every dataset that
    :func:`make_dataset` builds, and every dataset a taxoclass model trains or validates on, goes through it.

    >>> import tensorflow as tf
    >>> without_autotune(tf.data.Dataset.range(3)).options().autotune.enabled
    False
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _decoder(data: ImageSet, channels: int, pad_value: float):
    """A tf function (key, convert) -> uint8 (H, W, channels) tensor for this source."""
    import tensorflow as tf

    bg = float(pad_value)

    def pil(blob):
        return pil_decode(bytes(blob), channels, bg)

    if data.kind == "zip":
        reader = data._zip

        def read(key):
            return tf.numpy_function(lambda k: np.array(reader.read(os.fsdecode(k)), dtype=object), [key],
                                     tf.string, stateful=False)
    else:
        def read(path):
            return tf.io.read_file(path)

    def decode(key, convert):
        blob = read(key)

        def slow():
            img = tf.numpy_function(pil, [blob], tf.uint8, stateful=False)
            return tf.ensure_shape(img, (None, None, channels))

        def fast():
            img = tf.io.decode_image(blob, channels=channels, expand_animations=False, dtype=tf.uint8)
            return tf.ensure_shape(img, (None, None, channels))

        return tf.cond(convert, slow, fast)

    return decode


def _array_channels(x, channels):
    import tensorflow as tf

    c = x.shape[-1]
    if c == 4:
        x = x[..., :3]
        c = 3
    if c == channels:
        return x
    if channels == 3:
        return tf.image.grayscale_to_rgb(x)
    return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(x, tf.float32))), tf.uint8)


def make_dataset(data: ImageSet, *, class_order=None, image_size=64, channels: int = 3, resize: str = "pad",
                 pad_value: float = 255, invert: bool = False, batch_size: int | None = 32, shuffle: bool = False,
                 seed: int | None = None, cache=True, augment=None, preprocessing=None, sampling: str = "natural",
                 with_labels: bool = True, drop_remainder: bool = False, shuffle_buffer: int | None = None,
                 antialias: bool = True, num_parallel_calls=None):
    """Build a tf.data.Dataset of ``(images, labels)`` batches from an :class:`ImageSet`.

    Parameters
    ----------
    class_order : sequence of str or Taxonomy, optional
        Labels become int indices into this order (pass the model's taxonomy). Default: the ImageSet's taxonomy
        classes, else its classes.
    image_size : int or (height, width)
        Output size. With ``resize="pad"`` (default) the aspect ratio is kept and the rest filled with
        ``pad_value``; ``"stretch"`` distorts.
    channels : 1 or 3
        1 keeps (or makes) gray images; 3 turns gray into RGB.
    pad_value, invert :
        Background colour of the raw images (plankton: 255 white); ``invert=True`` outputs ``255 - x`` so the
        background is 0. Augmentation fills with the same background.
    batch_size : int or None
        None gives single images.
    shuffle, seed, shuffle_buffer :
        Reshuffled every epoch, reproducibly for a given seed.
    cache : bool or str
        Keep decoded, resized uint8 images in memory (True) or in a cache file (path) after the first pass.
    augment : None, a mode name, True, a dict or a callable
        ``"plankton"`` (or True): the plankton augmentation of :func:`taxoclass.data.augment.random_affine`
        (rotation 0-360 degrees, flips, zoom 0.8-1.25, shift 6 %; half of the images instead a quarter turn, flips
        and a whole-pixel shift, not resampled) filled with the background; ``"upright"``:
        left-right flip, zoom 0.9-1.1, shift 1/8, no rotation (images with an up and down); ``"none"``: off; a dict
        overrides some of its options (``{"rotation": 30, "zoom": 1.1}``). Batched, in parallel, a different random
        transform per image and per epoch (reproducible for a given ``seed``). A callable (e.g. a Keras layer) is
        applied to each batch, one batch at a time (Keras' random layers keep a seed state that parallel calls would
        share).
    preprocessing : None, backbone name or callable
        Applied last (e.g. ``"inception_v3"`` scales to [-1, 1]); taxoclass models do not need it.
    sampling : "natural" or "balanced"
        "balanced" draws every class equally often (``tf.data.Dataset.sample_from_datasets`` over per-class
        streams); one epoch has ``len(data)`` images.
    with_labels : bool
        False yields images only (for prediction).

    Examples
    --------
    >>> ds = ImageSet.from_folder("plankton/images")                                   # doctest: +SKIP
    >>> train = make_dataset(ds, image_size=64, shuffle=True, seed=0, augment=True)  # doctest: +SKIP
    >>> images, labels = next(iter(train))                                           # doctest: +SKIP
    >>> images.shape, images.dtype                                                     # doctest: +SKIP
    (TensorShape([32, 64, 64, 3]), tf.float32)
    """
    import tensorflow as tf

    if not isinstance(data, ImageSet):
        raise DataError(f"make_dataset expects an ImageSet, got {type(data).__name__}; build one with "
                        "taxoclass.data.from_folder / from_table / from_arrays ...")
    if len(data) == 0:
        raise DataError(f"{data.source}: no images left to build a dataset from.")
    if channels not in (1, 3):
        raise DataError(f"channels={channels!r} is not valid; expected 1 (gray) or 3 (RGB).")
    if sampling not in SAMPLING_MODES:
        raise DataError(f"sampling={sampling!r} is not valid; expected one of {', '.join(SAMPLING_MODES)}.")
    if not 0 <= float(pad_value) <= 255:
        raise DataError(f"pad_value={pad_value!r} is not valid; expected a value in [0, 255].")
    size = _size(image_size)
    if resize not in RESIZE_MODES:
        raise DataError(f"resize={resize!r} is not valid; expected one of {', '.join(RESIZE_MODES)}.")
    if batch_size is not None and int(batch_size) < 1:
        raise DataError(f"batch_size={batch_size!r} is not valid; expected a positive int or None.")
    if class_order is None:
        class_order = data.taxonomy if data.taxonomy is not None else data.classes
    y = data.encode(class_order)
    prep = get_preprocessing(preprocessing)
    bg = background(pad_value, invert)
    affine = None
    if augment is True or isinstance(augment, str):
        mode = augment_mode(augment)
        augment = None if mode == "none" else AUGMENT_PRESETS[mode]
    if isinstance(augment, dict):
        try:
            affine = check_augment_options(**augment)
        except TypeError as exc:
            raise DataError(f"augment={augment!r}: {exc}; the options are rotation, flip, zoom, shift and "
                            "exact.") from None
        augment = None
    elif augment is False:
        augment = None
    if augment is not None and not callable(augment):
        raise DataError(f"augment={augment!r} is not valid; expected None, a mode name ({', '.join(AUGMENT_MODES)}), "
                        "True (plankton), a dict of options or a Keras layer / callable.")
    par = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls

    def fit(img):
        out = fit_to_square(img, size, resize=resize, pad_value=pad_value, invert=invert, antialias=antialias)
        return tf.cast(tf.round(out), tf.uint8)

    if data.kind == "array":
        arr = np.asarray(data.array)

        def source(idx):
            ds = tf.data.Dataset.from_tensor_slices((arr[idx], y[idx]))
            if tuple(arr.shape[1:3]) == size and arr.shape[-1] == channels and not invert:
                return ds  # already the right size: nothing to resize
            return ds.map(lambda x, t: (fit(_array_channels(x, channels)), t), num_parallel_calls=par)
    else:
        decode = _decoder(data, channels, pad_value)
        # file names as bytes (os.fsencode), so that names which are not valid UTF-8 reach the reader unchanged
        keys = np.array([os.fsencode(str(k)) for k in (data.paths if data.kind == "files" else data.keys.tolist())],
                        dtype=object)
        conv = np.asarray(data.convert, bool)

        def source(idx):
            ds = tf.data.Dataset.from_tensor_slices((keys[idx], conv[idx], y[idx]))
            return ds.map(lambda k, c, t: (fit(decode(k, c)), t), num_parallel_calls=par)

    def cached(ds):
        if cache is True:
            return ds.cache()
        if cache:
            return ds.cache(str(cache))
        return ds

    if sampling == "balanced":
        streams, present = [], sorted(set(y.tolist()))
        for k in present:
            idx = np.flatnonzero(y == k)
            s = cached(source(idx))
            streams.append(s.shuffle(len(idx), seed=None if seed is None else seed + k,
                                     reshuffle_each_iteration=True).repeat())
        ds = tf.data.Dataset.sample_from_datasets(streams, weights=[1.0 / len(present)] * len(present), seed=seed)
        ds = ds.take(len(data))
    else:
        ds = cached(source(np.arange(len(data))))
        if shuffle:
            ds = ds.shuffle(int(shuffle_buffer or len(data)), seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder, num_parallel_calls=par)

    def finish(x, t, batch_seed=None):
        x = tf.cast(x, tf.float32)
        if affine is not None:
            x = random_affine(x, batch_seed, fill_value=bg, **affine)
        if augment is not None:
            x = augment(x, training=True)
            x = tf.clip_by_value(x, 0.0, 255.0)
        if prep is not None:
            x = prep(x)
        return (x, t) if with_labels else x

    if affine is not None:
        # one stateless seed pair per batch, from a random stream that changes every epoch: parallel and never
        # repeated across batches
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(lambda xt, s: finish(xt[0], xt[1], s), num_parallel_calls=par)
    else:
        # Keras' random layers draw from a seed variable that each call advances; parallel calls would read the
        # same state and give consecutive batches identical augmentations, so a callable runs one batch at a time.
        ds = ds.map(finish, num_parallel_calls=None if augment is not None else par)
    return without_autotune(ds.prefetch(2))


def load_images(data: ImageSet, **kwargs):
    """Run :func:`make_dataset` once (no shuffle, no augmentation) and return ``(images, labels)`` numpy arrays.

    >>> import numpy as np
    >>> x, y = load_images(ImageSet.from_arrays(np.zeros((2, 10, 20), np.uint8), ["a", "b"]), image_size=8,
    ...                    channels=1, pad_value=255)
    >>> x.shape, float(x[0, 0, 0, 0]), y.tolist()
    ((2, 8, 8, 1), 255.0, [0, 1])
    """
    kwargs = {"cache": False, "batch_size": 256, **kwargs, "shuffle": False, "augment": None}
    xs, ys = [], []
    for x, t in make_dataset(data, **kwargs).as_numpy_iterator():
        xs.append(x)
        ys.append(t)
    return np.concatenate(xs), np.concatenate(ys)
