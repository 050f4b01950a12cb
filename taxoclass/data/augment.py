"""Image augmentation: the plankton training augmentation (one random affine transform per image, batched) and
test-time augmentation (fixed views, probabilities averaged: flips and rotations by 90, then 45 degrees for
plankton; the left-right mirror and small shifts for upright images).

Training augmentation (:func:`random_affine`): every image gets its own rotation (0-360 degrees), horizontal and
vertical flip, log-uniform zoom and small translation, composed into ONE 3x3 matrix per image and applied to the
whole batch by one call of ``keras.ops.image.affine_transform`` (bilinear, constant fill with the background).
Its randomness is stateless: the seed of every batch comes from ``tf.data.Dataset.random`` (a fresh stream each
epoch), so batches are augmented in parallel without ever repeating one augmentation across batches.

>>> import numpy as np
>>> out = random_affine(np.zeros((4, 16, 16, 1), np.float32), [0, 1], fill_value=255.0)
>>> tuple(out.shape), float(out.numpy().max()) == 255.0
((4, 16, 16, 1), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from taxoclass.exceptions import DataError

__all__ = ["random_affine", "check_augment_options", "augment_mode", "AUGMENT_DEFAULTS", "AUGMENT_MODES",
           "AUGMENT_PRESETS", "tta_views", "tta_predict", "check_tta_mode", "tta_mode_for", "TTA_VIEWS", "TTA_UPRIGHT_VIEWS",
           "TTA_FAMILY_VIEWS", "TTA_MODES"]

#: default strength of the plankton augmentation: full-circle rotation, both flips, zoom 0.8-1.25 (log-uniform),
#: translation up to 6 % of the image side; half of the images get an exact transform instead (``exact``: a
#: quarter turn, flips and a whole-pixel shift, no resampling), so that the network also sees images as sharp as the
#: test images (resampling smooths; without them it scored 3-4 points lower on sharp images, docs/benchmarks.md)
AUGMENT_DEFAULTS = {"rotation": 360.0, "flip": True, "zoom": (0.8, 1.25), "shift": 0.06, "exact": 0.5}

#: the named training augmentations: ``plankton`` for objects with no up or down (plankton, pollen, cells: any
#: rotation, both flips); ``upright`` for photographs with an up and down (CIFAR, Fashion-MNIST, flowers,
#: whale flukes): left-right flip, zoom 0.9-1.1 and a shift of up to 1/8 of the side, no rotation; half of the
#: images get the exact version instead (the flip and a whole-pixel shift: the classic CIFAR "pad 4 and crop" plus
#: flip), which raised CIFAR-10 test top-1 by 1.3-1.4 points (docs/benchmarks.md, pairs CX10); ``none`` turns
#: augmentation off.
AUGMENT_PRESETS = {"plankton": AUGMENT_DEFAULTS,
                   "upright": {"rotation": 0.0, "flip": "horizontal", "zoom": (0.9, 1.1), "shift": 0.125,
                               "exact": 0.5}}
AUGMENT_MODES = ("plankton", "upright", "none")


def augment_mode(augment) -> str:
    """The training augmentation's name from what a caller gave: a mode name, or True (plankton) / False / None
    (none), the spellings of earlier versions.

    >>> augment_mode(True), augment_mode("upright"), augment_mode(None)
    ('plankton', 'upright', 'none')
    """
    if augment is True:
        return "plankton"
    if augment is False or augment is None:
        return "none"
    if isinstance(augment, str) and augment in AUGMENT_MODES:
        return augment
    raise DataError(f"augment={augment!r} is not valid; expected one of {', '.join(AUGMENT_MODES)} (plankton: any "
                    "rotation and both flips; upright: left-right flip, small zoom and shift, for images with an up "
                    "and down).")


def check_augment_options(rotation=AUGMENT_DEFAULTS["rotation"], flip=AUGMENT_DEFAULTS["flip"],
                          zoom=AUGMENT_DEFAULTS["zoom"], shift=AUGMENT_DEFAULTS["shift"],
                          exact=AUGMENT_DEFAULTS["exact"]) -> dict:
    """Validate augmentation options; returns them normalised (``zoom`` as a (low, high) pair of floats).
    ``flip``: True (left-right and up-down), ``"horizontal"`` (left-right only) or False; ``exact``: the share of
    images given an exact transform (see :func:`random_affine`).

    >>> check_augment_options(zoom=1.2)["zoom"]
    (0.8333333333333334, 1.2)
    """
    if flip not in (True, False, "horizontal"):
        raise DataError(f"flip={flip!r} is not valid; expected True (both mirrors), 'horizontal' (left-right only) "
                        "or False.")
    try:
        rotation = float(rotation)
        shift = float(shift)
    except (TypeError, ValueError):
        raise DataError(f"rotation and shift must be numbers, got {rotation!r}, {shift!r}.") from None
    if not 0 <= rotation <= 360:
        raise DataError(f"rotation={rotation!r} is not valid; expected the largest angle in degrees, 0 to 360.")
    if not 0 <= shift < 0.5:
        raise DataError(f"shift={shift!r} is not valid; expected a fraction of the image side in [0, 0.5).")
    if isinstance(exact, bool) or not isinstance(exact, (int, float)) or not 0 <= exact <= 1:
        raise DataError(f"exact={exact!r} is not valid; expected the share of images given an exact transform, "
                        "0 to 1 (0.5: half of them).")
    if isinstance(zoom, (int, float)) and not isinstance(zoom, bool):
        if zoom < 1:
            raise DataError(f"zoom={zoom!r} is not valid; expected a factor >= 1 (1.25 = between 1/1.25 and 1.25) or "
                            "a (low, high) pair.")
        zoom = (1.0 / float(zoom), float(zoom))
    try:
        lo, hi = (float(z) for z in zoom)
    except (TypeError, ValueError):
        raise DataError(f"zoom={zoom!r} is not valid; expected a factor such as 1.25 or a (low, high) pair such as "
                        "(0.8, 1.25).") from None
    if not 0 < lo <= hi:
        raise DataError(f"zoom={zoom!r} is not valid; expected 0 < low <= high.")
    return {"rotation": rotation, "flip": flip if flip == "horizontal" else bool(flip), "zoom": (lo, hi),
            "shift": shift, "exact": float(exact)}


def random_affine(images, seed, *, rotation: float = 360.0, flip: bool = True, zoom=(0.8, 1.25),
                  shift: float = 0.06, fill_value: float = 255.0, exact: float = 0.0):
    """Augment a batch ``(N, H, W, C)`` of float images with one random affine transform per image.

    - ``rotation``: angles drawn uniformly in ``[-rotation/2, rotation/2]`` degrees (360 = any angle);
    - ``flip``: left-right and up-down mirror, each with probability 1/2 (``"horizontal"``: left-right only);
    - ``zoom``: scale factor drawn log-uniformly in ``(low, high)`` (> 1 enlarges the object);
    - ``shift``: translation up to this fraction of the image side, in x and y;
    - ``fill_value``: the background poured into the uncovered corners (255 for white plankton background, 0 when
      inverted), never black corners on a white image;
    - ``exact``: the share of images (each with that probability) whose transform is exact instead: a quarter turn
      (with ``rotation=360``; else none), the flips, a whole-pixel shift and no zoom, so no pixel is resampled.
      Bilinear resampling smooths an image; with ``exact=0`` the network only ever sees smoothed images and scores
      lower on sharp test images (``make_dataset``'s plankton and upright augmentations use 0.5).

    ``seed`` is a pair of ints (or an int64 tensor of shape (2,)); the same seed gives the same augmentation
    (stateless random ops), so it is safe in parallel ``tf.data`` maps.

    >>> import numpy as np
    >>> x = np.zeros((2, 8, 8, 1), np.float32)
    >>> bool((random_affine(x, [3, 4]).numpy() == random_affine(x, [3, 4]).numpy()).all())
    True
    """
    import keras
    import tensorflow as tf

    x = tf.convert_to_tensor(images, tf.float32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    n = tf.shape(x)[0]
    h, w = tf.cast(tf.shape(x)[1], tf.float32), tf.cast(tf.shape(x)[2], tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, 5)
    half = math.radians(float(rotation)) / 2.0
    theta = tf.random.stateless_uniform([n], seeds[0], -half, half)
    lo, hi = (float(z) for z in zoom)
    scale = tf.exp(tf.random.stateless_uniform([n], seeds[1], math.log(lo), math.log(hi)))
    if flip:
        signs = tf.where(tf.random.stateless_uniform([2, n], seeds[2]) < 0.5, -1.0, 1.0)
        if flip == "horizontal":
            signs = tf.stack([signs[0], tf.ones([n])])
    else:
        signs = tf.ones([2, n])
    fx, fy = signs[0], signs[1]
    tx = tf.random.stateless_uniform([n], seeds[3], -shift, shift) * w
    ty = tf.random.stateless_uniform([n], seeds[4], -shift, shift) * h
    if exact > 0:  # pixel-aligned transforms for a share of the images (new streams: exact=0 draws as before)
        more = tf.random.experimental.stateless_split(seeds[0], 2)
        aligned = tf.random.stateless_uniform([n], more[0]) < float(exact)
        quarter = (tf.floor(tf.random.stateless_uniform([n], more[1], 0.0, 4.0)) * (math.pi / 2.0)
                   if float(rotation) >= 360 else tf.zeros([n]))
        theta = tf.where(aligned, quarter, theta)
        scale = tf.where(aligned, tf.ones([n]), scale)
        tx, ty = tf.where(aligned, tf.round(tx), tx), tf.where(aligned, tf.round(ty), ty)
    # output pixel (x, y) -> input pixel: in = c + F S^-1 R(-theta) (out - c - t)
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    cos, sin = tf.cos(theta) / scale, tf.sin(theta) / scale
    a0, a1 = fx * cos, fx * sin
    b0, b1 = -fy * sin, fy * cos
    ox, oy = cx + tx, cy + ty
    a2 = cx - a0 * ox - a1 * oy
    b2 = cy - b0 * ox - b1 * oy
    zeros = tf.zeros([n])
    transform = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    out = keras.ops.image.affine_transform(x, transform, interpolation="bilinear", fill_mode="constant",
                                           fill_value=float(fill_value), data_format="channels_last")
    return tf.clip_by_value(out, 0.0, 255.0)


_TTA_CHUNK = 4096
#: the test-time views of ``mode="plankton"`` (objects with no up or down), in the order ``n_views`` takes them
#: (the 16 symmetries of an octagon: the square's 8 -- flips, rotations by 90 degrees, transposes -- then the same 8
#: turned by 45 degrees, the corners filled with the background)
_SQUARE_VIEWS = ("identity", "flip_lr", "flip_ud", "rot180", "rot90", "rot270", "transpose", "antitranspose")
TTA_VIEWS = _SQUARE_VIEWS + tuple("rot45" if v == "identity" else f"{v}_rot45" for v in _SQUARE_VIEWS)
#: the views of ``mode="upright"`` (photographs: never turned): the left-right mirror and shifts by 1/16 of the side
#: (down-right, up-left, down-left), each also mirrored, as the ``upright`` training augmentation's flips and shifts
TTA_UPRIGHT_VIEWS = ("identity", "flip_lr", "shift_dr", "flip_lr_shift_dr", "shift_ul", "flip_lr_shift_ul",
                     "shift_dl", "flip_lr_shift_dl")
#: the view families and their views: named like the training augmentations they match (``augment="plankton"`` /
#: ``"upright"``)
TTA_FAMILY_VIEWS = {"plankton": TTA_VIEWS, "upright": TTA_UPRIGHT_VIEWS}
TTA_MODES = tuple(TTA_FAMILY_VIEWS)
_SHIFTS = {"dr": (1, 1), "ul": (-1, -1), "dl": (1, -1)}


def tta_mode_for(augment) -> str:
    """The family of test-time views that matches a training augmentation (:data:`AUGMENT_MODES`): ``"upright"``
    for the upright augmentation, else ``"plankton"``.

    >>> tta_mode_for("upright"), tta_mode_for("none")
    ('upright', 'plankton')
    """
    return "upright" if augment == "upright" else "plankton"


def check_tta_mode(mode, *, auto: bool = False) -> str:
    """``mode`` if it names a family of test-time views (:data:`TTA_MODES`, and ``"auto"`` where ``auto=True``:
    the family that matches a model's training augmentation); one clear error otherwise.

    >>> check_tta_mode("upright"), check_tta_mode("auto", auto=True)
    ('upright', 'auto')
    """
    if not isinstance(mode, str) or mode not in TTA_MODES + (("auto",) if auto else ()):
        first = "auto (the views that match the model's training augmentation), " if auto else ""
        raise DataError(f"tta_mode={mode!r} is not valid; expected {first}plankton (flips and rotations by 90, "
                        "then 45 degrees, for objects with no up or down) or upright (the left-right mirror and "
                        "small shifts, for images with an up and down).")
    return mode


def _shift(a: np.ndarray, dy: int, dx: int, fill_value: float) -> np.ndarray:
    """Move the content of every image by (dy, dx) pixels (down / right when positive); the uncovered border gets
    ``fill_value``."""
    n, h, w, c = a.shape
    out = np.full_like(a, fill_value)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = a[:, ys, xs]
    return out


def tta_views(images, n_views: int = 8, mode: str = "plankton", fill_value: float = 0.0) -> list[np.ndarray]:
    """The first ``n_views`` fixed views of a batch (N, H, W, C).

    ``mode="plankton"`` (:data:`TTA_VIEWS`, up to 16): identity, left-right flip, up-down flip, 180-degree
    rotation, then (square images only) 90/270-degree rotations and the two transposes, then these 8 turned by 45
    degrees (bilinear, the corners filled with ``fill_value``). ``mode="upright"``
    (:data:`TTA_UPRIGHT_VIEWS`, for images with an up and down): identity, left-right flip, then the image moved by
    ``s = max(1, round(side / 16))`` pixels down-right, up-left and down-left, each also mirrored; the uncovered
    border is filled with ``fill_value`` (the background of the model's input: 0 for inverted or zero-padded
    images).

    >>> v = tta_views(np.arange(4.0).reshape(1, 2, 2, 1), 4)
    >>> [x[0, :, :, 0].tolist() for x in v][:2]
    [[[0.0, 1.0], [2.0, 3.0]], [[1.0, 0.0], [3.0, 2.0]]]
    >>> bar = np.zeros((1, 5, 5, 1)); bar[0, 2, :, 0] = 1                      # a horizontal bar
    >>> turned = tta_views(bar, 9)[8][0, :, :, 0]                            # view 9: turned by 45 degrees
    >>> [float(turned[i, 4 - i]) for i in (1, 2, 3)], float(turned[2, 0])    # now along the rising diagonal
    ([1.0, 1.0, 1.0], 0.0)
    >>> up = tta_views(np.arange(1.0, 5.0).reshape(1, 2, 2, 1), 3, mode="upright", fill_value=0)
    >>> up[2][0, :, :, 0].tolist()          # moved 1 pixel down and right, the border filled with 0
    [[0.0, 0.0], [0.0, 1.0]]
    """
    x = np.asarray(images)
    mode = check_tta_mode(mode)
    names = TTA_FAMILY_VIEWS[mode]
    if x.ndim != 4:
        raise DataError(f"tta_views expects images of shape (N, H, W, C), got {x.shape}.")
    if isinstance(n_views, bool) or not 1 <= int(n_views) <= len(names):
        raise DataError(f"n_views={n_views!r} is not valid; expected 1 to {len(names)}.")
    if mode == "plankton" and n_views > 4 and x.shape[1] != x.shape[2]:
        raise DataError(f"n_views={n_views} needs square images for the 90-degree views, got {x.shape[1]}x"
                        f"{x.shape[2]}; use n_views <= 4 or pad images to a square (make_dataset does).")
    s = max(1, round(min(x.shape[1], x.shape[2]) / 16))

    def view(name):
        if name == "identity":
            return x
        if name.endswith("rot45"):
            from scipy import ndimage

            turned = view(name[:-len("_rot45")] if name != "rot45" else "identity")
            return ndimage.rotate(turned.astype(np.float32), 45, axes=(1, 2), reshape=False, order=1,
                                  mode="constant", cval=float(fill_value))
        if name == "flip_lr":
            return x[:, :, ::-1]
        if name.startswith("shift_") or name.startswith("flip_lr_shift_"):
            dy, dx = _SHIFTS[name[-2:]]
            return _shift(x[:, :, ::-1] if name.startswith("flip") else x, dy * s, dx * s, fill_value)
        return {"flip_ud": lambda a: a[:, ::-1],
                "rot180": lambda a: a[:, ::-1, ::-1],
                "rot90": lambda a: np.rot90(a, 1, axes=(1, 2)),
                "rot270": lambda a: np.rot90(a, 3, axes=(1, 2)),
                "transpose": lambda a: np.swapaxes(a, 1, 2),
                "antitranspose": lambda a: np.swapaxes(a[:, ::-1, ::-1], 1, 2)}[name](x)

    return [np.ascontiguousarray(view(name)) for name in names[:int(n_views)]]


def tta_predict(predict_proba: Callable, images, n_views: int = 8, mode: str = "plankton",
                fill_value: float = 0.0) -> np.ndarray:
    """Test-time augmentation: average ``predict_proba`` over ``n_views`` fixed views of family ``mode`` (see
    :func:`tta_views`; ``"upright"`` for images with an up and down).

    ``predict_proba`` is any callable mapping an image batch to (N, n_classes) probabilities, e.g. a fitted
    classifier's ``predict_proba``. ``images`` is an array (N, H, W, C) or a ``tf.data.Dataset`` of image batches
    (or of ``(images, labels)`` batches; labels are ignored). Plankton has no up or down, so all 8 views are valid
    for it.

    >>> clf_proba = lambda x: np.stack([x.mean(axis=(1, 2, 3)) / 255, 1 - x.mean(axis=(1, 2, 3)) / 255], 1)
    >>> tta_predict(clf_proba, np.full((2, 4, 4, 1), 51.0)).round(2).tolist()
    [[0.2, 0.8], [0.2, 0.8]]
    """
    check_tta_mode(mode)
    if not isinstance(images, np.ndarray) and hasattr(images, "as_numpy_iterator"):
        parts, chunk = [], []
        for b in images.as_numpy_iterator():  # chunks of a few thousand images: few predict calls, bounded memory
            chunk.append(b[0] if isinstance(b, tuple) else b)
            if sum(len(c) for c in chunk) >= _TTA_CHUNK:
                parts.append(tta_predict(predict_proba, np.concatenate(chunk), n_views, mode, fill_value))
                chunk = []
        if chunk:
            parts.append(tta_predict(predict_proba, np.concatenate(chunk), n_views, mode, fill_value))
        if not parts:
            raise DataError("tta_predict: the dataset yields no images.")
        return np.concatenate(parts)
    views = tta_views(images, n_views, mode, fill_value)
    total = None
    for v in views:
        p = np.asarray(predict_proba(v), dtype=np.float64)
        if p.ndim != 2 or p.shape[0] != len(v):
            raise DataError(f"predict_proba returned shape {p.shape}; expected (n_images, n_classes) = "
                            f"({len(v)}, ...).")
        total = p if total is None else total + p
    return total / len(views)
