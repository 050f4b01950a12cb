"""What a model's ``fit`` / ``predict`` accept, checked, and turned into batches.

Every model (:class:`~taxoclass.models.base.BaseClassifier` and its subclasses) takes images as a NumPy array
(N, H, W[, C]) of [0, 255] pixel values with class names or indices, or as a ``tf.data.Dataset`` of (images, int
label) batches. The functions here check both kinds with one clear :class:`~taxoclass.exceptions.DataError` each
and build the batches the training and prediction loops read.

>>> import numpy as np
>>> check_images(np.zeros((2, 8, 8)), expected_shape=(8, 8, 1)).shape
(2, 8, 8, 1)
"""

from __future__ import annotations

import warnings

import numpy as np

from taxoclass.exceptions import DataError
from taxoclass.taxonomy import Taxonomy

__all__ = ["arrays_dataset", "check_dataset", "check_images", "encode_labels", "is_dataset", "labels_of"]


def encode_labels(y, tax: Taxonomy, *, what: str = "y") -> np.ndarray:
    """Class names or class indices -> int class indices in ``tax.classes`` order (every unknown one listed in
    one :class:`~taxoclass.exceptions.ClassMismatchError`).

    >>> encode_labels(["b", "a"], Taxonomy.from_paths([["a"], ["b"]])).tolist()
    [1, 0]
    """
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise DataError(f"{what} must be a 1-D sequence of class names or class indices, got shape {y.shape}.")
    if y.dtype.kind == "f":
        raise DataError(f"{what} holds floating-point values; pass class names or integer class indices.")
    return tax.encode(y if y.dtype.kind in "iu" else y.astype(str).astype(object), what=what)


def check_images(X, *, expected_shape=None, what: str = "X") -> np.ndarray:
    """An image array (N, H, W[, C]) checked against the model's ``expected_shape`` (H, W, C), or None; grey
    images are repeated to three channels for an RGB model. Warns about [0, 1] pixel values.

    >>> check_images(np.zeros((1, 4, 4, 1)), expected_shape=(4, 4, 3)).shape
    (1, 4, 4, 3)
    """
    X = np.asarray(X)
    if X.dtype.kind not in "uif":
        raise DataError(f"{what} must be a numeric image array (N, H, W[, C]), got dtype {X.dtype}.")
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4:
        raise DataError(f"{what} must have shape (N, height, width[, channels]), got shape {X.shape}.")
    if len(X) == 0:
        raise DataError(f"{what} is empty; expected at least one image.")
    if expected_shape is not None:
        expected = tuple(int(v) for v in expected_shape)
        if X.shape[-1] == 1 and expected[-1] == 3:
            X = np.repeat(X, 3, axis=-1)  # grayscale images for an RGB model
        if tuple(X.shape[1:]) != expected:
            raise DataError(f"{what} has images of shape {tuple(X.shape[1:])} but the model takes "
                            f"input_shape={expected}; resize the images (e.g. taxoclass.data make_dataset("
                            f"image_size=...)) or set input_shape={tuple(X.shape[1:])}.")
    if X.dtype.kind == "f":
        if not np.isfinite(X).all():
            raise DataError(f"{what} contains NaN or infinite pixel values.")
        if X.size and X.max() <= 1.0 and X.max() > 0:
            warnings.warn(f"{what} has pixel values in [0, 1]; taxoclass models expect raw [0, 255] pixel "
                          "values (each model preprocesses its own input). Multiply by 255.", stacklevel=3)
    return X


def arrays_dataset(X, y=None, *, batch_size: int, shuffle: bool = False, seed=None):
    """Checked arrays -> a batched ``tf.data.Dataset`` of float32 images (and int32 labels), shuffled each epoch
    when ``shuffle`` (``seed`` fixes the order), without the tf.data autotuner.

    >>> ds = arrays_dataset(np.zeros((5, 4, 4, 1)), np.arange(5), batch_size=2)   # doctest: +SKIP
    >>> [len(b[0]) for b in ds]                                                    # doctest: +SKIP
    [2, 2, 1]
    """
    import tensorflow as tf

    from taxoclass.data.pipeline import without_autotune

    ds = tf.data.Dataset.from_tensor_slices((X,) if y is None else (X, np.asarray(y).astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(min(len(X), 10_000), seed=None if seed is None else int(seed), reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def cast(*t):
        x = tf.cast(t[0], tf.float32)
        return x if len(t) == 1 else (x, t[1])

    return without_autotune(ds.map(cast, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2))


def is_dataset(X) -> bool:
    """Whether ``X`` is a ``tf.data.Dataset`` (False when TensorFlow is not installed).

    >>> is_dataset(np.zeros(3))
    False
    """
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover
        return False
    return isinstance(X, tf.data.Dataset)


def check_dataset(ds, tax: Taxonomy, *, what: str):
    """A user's labelled dataset of (images, int labels) batches, with float32 images and an in-graph check that
    every label is a class index (or an internal-node code) of ``tax``.

    >>> check_dataset(user_ds, tax, what="X")      # doctest: +SKIP
    """
    import tensorflow as tf

    spec = ds.element_spec
    if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
        raise DataError(f"{what} must yield (images, labels) batches (e.g. taxoclass.data make_dataset(...)), "
                        f"got elements {spec}.")
    if spec[1].dtype.is_floating or spec[1].dtype == tf.string:
        raise DataError(f"{what} labels must be integer class indices in taxonomy.classes order, got dtype "
                        f"{spec[1].dtype.name}.")
    from taxoclass.data.pipeline import without_autotune
    from taxoclass.taxonomy.internal_labels import n_codes

    n = n_codes(tax)  # class indices, then the codes of samples labelled at a node (internal_labels)

    def check(*t):
        y = tf.cast(t[1], tf.int32)
        tf.debugging.assert_less(y, n, message=f"label >= {n}: not a class index of the taxonomy")
        tf.debugging.assert_non_negative(y, message="negative label")
        return (tf.cast(t[0], tf.float32), y, *t[2:])

    return without_autotune(ds.map(check))


def labels_of(ds) -> np.ndarray:
    """Every label of a labelled dataset, in order, as one array (one pass over the labels only).

    >>> labels_of(val_ds)[:3]      # doctest: +SKIP
    array([4, 0, 17])
    """
    return np.concatenate([np.asarray(b[1]).reshape(-1) for b in ds.map(lambda *t: (0, t[1]))])
