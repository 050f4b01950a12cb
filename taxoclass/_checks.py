"""Argument checks shared by the jobs (train, benchmark, evaluate, predict) and the CLI.

Every job checks all its options with these functions before it writes a file or trains a model, so a bad value
ends in one message and leaves the output location untouched. The bounds are stated in the messages and in
``docs/guide.md``.

>>> check_int("batch_size", 32, lo=1, hi=MAX_BATCH_SIZE)
32
>>> check_float("learning_rate", float("nan"), lo=0, lo_open=True)
Traceback (most recent call last):
...
taxoclass.exceptions.TaxoclassError: learning_rate=nan is not valid; expected a finite number > 0.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from taxoclass.exceptions import TaxoclassError
from taxoclass.models import NODE_BLOCKS, DEFAULT_BACKBONE, TRAIN_MODELS, trunk_choice

#: largest model input side in pixels (a 1024 x 1024 x 3 float32 image is 12 MiB per image and per layer)
MAX_IMAGE_SIZE = 1024
#: largest batch size
MAX_BATCH_SIZE = 4096
#: one batch of float32 model inputs may take at most this many bytes (4 GiB)
MAX_BATCH_BYTES = 4 * 2**30
#: largest number of pixels an image may announce (``--max-pixels``); PIL's own default is 89_478_485
MAX_PIXELS_LIMIT = 2**31 - 1


def check_int(name: str, value, *, lo: int | None = None, hi: int | None = None, none: bool = False,
              hint: str = ""):
    """``value`` as an int in [lo, hi] (None allowed when ``none``), else one TaxoclassError."""
    if value is None and none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and (lo is None or value >= lo) and (hi is None or value <= hi):
        return int(value)
    if lo is not None and hi is not None:
        want = f"an integer from {lo} to {hi}"
    elif lo is not None:
        want = f"an integer >= {lo}"
    else:
        want = "an integer"
    raise TaxoclassError(f"{name}={value!r} is not valid; expected {want}{' or None' if none else ''}{hint}.")


def check_float(name: str, value, *, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False,
                none: bool = False, hint: str = ""):
    """``value`` as a finite float within the bounds (open or closed), else one TaxoclassError."""
    if value is None and none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (lo is None or (v > lo if lo_open else v >= lo)) and (hi is None or (v < hi if hi_open else v <= hi))
    if ok:
        return float(value)
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    want = "a finite number" + (" " + " and ".join(parts) if parts else "")
    raise TaxoclassError(f"{name}={value!r} is not valid; expected {want}{' or None' if none else ''}{hint}.")


def check_choice(name: str, value, choices) -> str:
    if value not in tuple(choices):
        raise TaxoclassError(f"{name}={value!r} is not valid; expected one of {', '.join(map(str, choices))}.")
    return value


def check_ints(name: str, values) -> tuple[int, ...]:
    try:
        vals = tuple(values)
    except TypeError:
        vals = None
    if not vals or any(not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1 for v in vals):
        raise TaxoclassError(f"{name}={values!r} is not valid; expected positive integers such as (32, 64).")
    return tuple(int(v) for v in vals)


def check_pipeline(*, image_size, channels, pad_value, resize="pad", batch_size=32, min_size: int = 1,
                   who: str = "") -> None:
    """Input-pipeline options, including a memory bound on one batch of inputs."""
    check_int("image_size", image_size, lo=max(1, min_size), hi=MAX_IMAGE_SIZE,
              hint=f" pixels{who} (the largest model input taxoclass builds is {MAX_IMAGE_SIZE} px)")
    check_choice("channels", channels, (1, 3))
    check_float("pad_value", pad_value, lo=0, hi=255, none=True, hint=" (the background grey level of the images)")
    from taxoclass.data.pipeline import RESIZE_MODES

    check_choice("resize", resize, RESIZE_MODES)
    check_int("batch_size", batch_size, lo=1, hi=MAX_BATCH_SIZE)
    need = int(batch_size) * int(image_size) ** 2 * int(channels) * 4
    if need > MAX_BATCH_BYTES:
        raise TaxoclassError(f"batch_size={batch_size} of {image_size}x{image_size}x{channels} images needs "
                             f"{need / 2**30:.1f} GiB per batch of inputs alone (limit {MAX_BATCH_BYTES // 2**30} "
                             "GiB); lower batch_size or image_size.")


def check_weights(weights, *, name: str = "weights", imagenet: bool = True) -> None:
    if weights is None or (weights == "imagenet" and imagenet):
        return
    if weights == "imagenet":
        raise TaxoclassError(f"{name}='imagenet' is not available for this backbone; use none or a weights file.")
    if not isinstance(weights, (str, os.PathLike)):
        raise TaxoclassError(f"{name} must be 'imagenet', None or a file path, got {weights!r}.")
    if not Path(weights).is_file():
        raise TaxoclassError(f"{name} file {weights} does not exist; pass 'imagenet', none (train from scratch) or "
                             "the path of a local weights file.")


def check_backbone(name: str, value, *, none: bool = False) -> int:
    """A registered backbone name; returns its smallest input size."""
    from taxoclass.models.backbones import BACKBONES

    if value is None and none:
        return 1
    if value not in BACKBONES:
        raise TaxoclassError(f"{name}={value!r} is not valid; expected one of {', '.join(BACKBONES)}.")
    return BACKBONES[value].min_size


def check_training(*, model: str = "flat", backbone=DEFAULT_BACKBONE, weights=None, trunk=None, trunk_weights=None,
                   node_block="auto", block_filters=(32, 64), head_units=(64,), dropout=0.0, image_size=64,
                   channels=3, pad_value=255, resize="pad", epochs=10, fine_tune_epochs=None, batch_size=32,
                   learning_rate=1e-3, class_weight=None, sampling="natural", val_size=0.1, test_size=0.1, seed=0,
                   early_stopping_patience=None, reduce_lr_patience=None, strategy="auto") -> None:
    """Every option of a training job (``train_job``, ``run_benchmark``), checked without touching any file.

    >>> check_training(image_size=100000)
    Traceback (most recent call last):
    ...
    taxoclass.exceptions.TaxoclassError: image_size=100000 is not valid; expected an integer from 8 to 1024 pixels for backbone resnet_small (the largest model input taxoclass builds is 1024 px).
    """
    from taxoclass.models.backbones import BACKBONES

    check_choice("model", model, TRAIN_MODELS)
    min_size = 1
    if model == "flat":
        min_size = check_backbone("backbone", backbone)
        check_weights(weights, imagenet=BACKBONES[backbone].imagenet)
    trunk = trunk_choice(trunk, None)  # "none": node blocks read the image
    if trunk is not None:
        min_size = max(min_size, check_backbone("trunk", trunk))
        check_weights(trunk_weights, name="trunk_weights", imagenet=BACKBONES[trunk].imagenet)
    check_choice("node_block", node_block, NODE_BLOCKS)
    check_ints("block_filters", block_filters)
    check_ints("head_units", head_units) if tuple(head_units or ()) else None
    check_float("dropout", dropout, lo=0, hi=1, hi_open=True)
    who = f" for backbone {backbone}" if model == "flat" else (f" for trunk {trunk}" if trunk else "")
    check_pipeline(image_size=image_size, channels=channels, pad_value=pad_value, resize=resize,
                   batch_size=batch_size, min_size=min_size, who=who)
    check_int("epochs", epochs, lo=1)
    check_int("fine_tune_epochs", fine_tune_epochs, lo=0, hi=int(epochs), none=True,
              hint=f" (at most epochs={epochs}: the fine-tuning epochs are the last of the run)")
    check_float("learning_rate", learning_rate, lo=0, lo_open=True, hi=10)
    check_choice("class_weight", class_weight, (None, "balanced", "sqrt"))
    check_choice("sampling", sampling, ("natural", "balanced"))
    check_float("val_size", val_size, lo=0, hi=1, hi_open=True)
    check_float("test_size", test_size, lo=0, hi=1, hi_open=True)
    if val_size + test_size >= 1:
        raise TaxoclassError(f"val_size + test_size = {val_size + test_size:g} leaves nothing to train on; expected "
                             "a sum below 1 (e.g. 0.1 and 0.1).")
    check_int("seed", seed, lo=0, hi=2**32 - 1)
    check_int("early_stopping_patience", early_stopping_patience, lo=0, none=True)
    check_int("reduce_lr_patience", reduce_lr_patience, lo=0, none=True)
    check_choice("strategy", strategy, ("auto", "mirrored", "multiworker"))


def check_benchmark(*, models, backbone=DEFAULT_BACKBONE, weights=None, image_size=None, channels=3, pad_value=255,
                    invert=False, epochs=5, fine_tune_epochs=None, batch_size=32, learning_rate=1e-3, beta=None,
                    cluster_levels=1, max_cluster_size=None, node_block="auto", block_filters=(32, 64),
                    head_units=(64,), trunk=None, width=None, depth=None, dropout=None,
                    val_size=0.1, test_size=0.2, seed=0, max_per_class=None, k=5) -> int:
    """Every option of ``run_benchmark``, checked before any data is read or file written; returns the image
    size (the backbone's default when ``image_size`` is None)."""
    from taxoclass.comparison import MODEL_KINDS
    from taxoclass.models.backbones import BACKBONES

    models = list(models)
    bad = [m for m in models if m not in MODEL_KINDS]
    if bad or not models:
        raise TaxoclassError(f"unknown model kind(s) {', '.join(map(str, bad)) or '(none)'}; expected some of "
                             f"{', '.join(MODEL_KINDS)}.")
    if "error_tree" in models and "flat" not in models:
        raise TaxoclassError("error_tree is built from the flat model's confusion: add 'flat' to models.")
    check_backbone("backbone", backbone)
    if image_size is None:
        image_size = max(64, BACKBONES[backbone].min_size)
    check_training(model="flat" if "flat" in models else "tree", backbone=backbone, weights=weights, trunk=trunk,
                   node_block=node_block, block_filters=block_filters, head_units=head_units, dropout=dropout or 0.0,
                   image_size=image_size, channels=channels,
                   pad_value=pad_value, epochs=epochs, fine_tune_epochs=fine_tune_epochs, batch_size=batch_size,
                   learning_rate=learning_rate, val_size=val_size, test_size=test_size, seed=seed)
    from taxoclass.models.backbones import check_size

    for sized in (backbone, trunk_choice(trunk, None)):  # the flat model's backbone, and a trunk named apart
        if sized is not None:
            check_size(sized, width, depth)
    check_float("beta", beta, lo=0, hi=1, none=True)  # None: chosen from the sweep
    check_choice("cluster_levels", cluster_levels, (1, "all"))
    check_int("max_cluster_size", max_cluster_size, lo=1, none=True, hint=" (--max-cluster-size: classes per group)")
    check_int("max_per_class", max_per_class, lo=1, none=True)
    check_int("k", k, lo=1)
    return int(image_size)
