"""Cost of the training augmentation on NDSB at 48 px, in one run; prints JSON.

Measured on the same images, one after the other:
- ``pipeline``: a cached epoch of ``make_dataset`` alone (no model): no augmentation, the default plankton
  augmentation (``augment=True``: one random affine transform per image, batched, parallel) and, for reference,
  the old chain of Keras preprocessing layers (rotation, flip, translation, zoom, brightness; one batch at a time);
- ``training``: a training epoch of a flat ``small_cnn`` (the default CPU model), without and with augmentation:
  the faster of epochs 2 and 3 (epoch 1 traces the graph and fills the cache).

The target of issue 10 is an augmented training epoch <= 1.3x an un-augmented one.

    .venv/bin/python benchmarks/augment.py [--root ../shared/datasets/ndsb_plankton/images] [--limit 6000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _pass(ds) -> float:
    t = time.perf_counter()
    for _ in ds:
        pass
    return time.perf_counter() - t


def old_layers(fill_value: float, seed: int = 0):
    """The augmentation ``--augment`` used before (for the timing and the comparison only)."""
    import keras

    kw = dict(fill_mode="constant", fill_value=float(fill_value), seed=seed)
    return keras.Sequential([keras.layers.RandomRotation(0.5, **kw),
                             keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
                             keras.layers.RandomTranslation(0.1, 0.1, **kw), keras.layers.RandomZoom(0.1, **kw),
                             keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "datasets" / "ndsb_plankton" / "images"))
    ap.add_argument("--limit", type=int, default=None, help="use N images drawn evenly from all classes")
    ap.add_argument("--image-size", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)

    from taxoclass.data import ImageSet, make_dataset
    from taxoclass.models import FlatClassifier

    data = ImageSet.from_folder(args.root, check=False)
    if args.limit and args.limit < len(data):
        data = data.subset(np.sort(np.random.default_rng(0).choice(len(data), args.limit, replace=False)))
    load_start = os.getloadavg()[0]
    common = dict(image_size=args.image_size, channels=1, invert=True, batch_size=args.batch_size, shuffle=True,
                  seed=0, cache=True, pad_value=255)
    variants = {"none": None, "plankton": True, "old_keras_layers": old_layers(0.0)}
    pipeline = {}
    for name, aug in variants.items():
        ds = make_dataset(data, augment=aug, **common)
        _pass(ds)  # fills the cache
        pipeline[name] = round(min(_pass(ds) for _ in range(2)), 3)
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t)

    training = {}
    for name in ("none", "plankton"):
        ds = make_dataset(data, augment=variants[name], **common)
        clf = FlatClassifier(list(data.classes), backbone="small_cnn", weights=None, head_units=(128,),
                             input_shape=(args.image_size, args.image_size, 1), epochs=(0, 3), random_state=0)
        timer = EpochTimer()
        timer.seconds = []
        clf.fit(ds, verbose=0, callbacks=[timer])  # epoch 1 traces the graph and fills the cache: not counted
        training[name] = round(min(timer.seconds[1:]), 2)
    out = {
        "dataset": str(args.root), "images": len(data), "image_size": args.image_size,
        "batch_size": args.batch_size, "cpus": os.cpu_count(),
        "load_average_at_start": round(load_start, 2), "load_average_at_end": round(os.getloadavg()[0], 2),
        "pipeline_epoch_seconds": pipeline,
        "training_epoch_seconds": training,
        "augmented_vs_plain_training_epoch": round(training["plankton"] / training["none"], 3),
        "target": 1.3,
        "meets_target": bool(training["plankton"] <= 1.3 * training["none"]),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
