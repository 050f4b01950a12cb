"""Time lost between training epochs with tf.data's autotuner on and off, in one run; prints JSON.

Keras makes a new dataset iterator for every epoch. With tf.data autotuning on (TensorFlow 2.21), destroying the
old iterator can wait for the autotuner's thread to wake from its sleep; :func:`taxoclass.data.without_autotune`
turns the autotuner off in every taxoclass pipeline. This script trains the same model on the same
``make_dataset`` pipeline twice, once with the autotuner put back on, and reports for each: the wall time of every
epoch, the median time of one training step, and ``restart_s``, the wall time of each epoch minus its steps (what
the epoch change costs). Epoch 1 traces the graph and fills the cache, so the comparison uses epochs 2 onwards.

Images are random (the timing does not depend on the pixels); the default is the NDSB training split's size and
the NDSB taxonomy tree on a vgg_bn width-16 trunk, the model where the loss was found. Pin it to one core for
steady figures, e.g. ``taskset -c 0``.

    .venv/bin/python benchmarks/epoch_restart.py [--model tree|flat] [--images 19412] [--epochs 4]
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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _clock():
    import keras

    class Clock(keras.callbacks.Callback):
        """Wall time of every epoch and of every training step."""

        def __init__(self):
            super().__init__()
            self.epochs, self.steps, self.last = [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = self.last = time.perf_counter()
            self.steps.append([])

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.steps[-1].append(now - self.last)
            self.last = now

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self.t0)

    return Clock()


def run(model: str, autotune: bool, images: int, epochs: int, size: int) -> dict:
    from taxoclass import load_taxonomy
    from taxoclass.data import from_arrays, make_dataset, pipeline
    from taxoclass.models.factory import make_estimator

    tax = load_taxonomy(REPO / "taxonomies" / "ndsb_plankton.tsv")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (images, size, size, 1), dtype=np.uint8)
    y = rng.choice(np.array(tax.classes, dtype=object), images)
    clock = _clock()
    off = pipeline.without_autotune
    if autotune:  # the pipeline as it was: every taxoclass dataset goes through this one function
        pipeline.without_autotune = lambda ds: ds
    try:
        ds = make_dataset(from_arrays(x, y), class_order=tax, image_size=size, channels=1, batch_size=64,
                          shuffle=True, seed=0)
        clf = make_estimator("taxonomy_tree" if model == "tree" else "flat", tax, backbone="vgg_bn", width=16,
                             input_shape=(size, size, 1), epochs=epochs, head_units=(256,), batch_size=64,
                             learning_rate=1e-3, random_state=0, restore_best=False)
        clf.fit(ds, callbacks=[clock], verbose=0)
    finally:
        pipeline.without_autotune = off
    later = slice(1, None)
    step = float(np.median(np.concatenate([s[1:] for s in clock.steps[later]])))
    # the first step of an epoch carries the epoch change; the others are plain steps
    restart = [e - step * len(s) for e, s in zip(clock.epochs[later], clock.steps[later])]
    return {"epoch_s": [round(e, 2) for e in clock.epochs], "median_step_ms": round(1000 * step, 1),
            "restart_s": [round(r, 2) for r in restart]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("tree", "flat"), default="tree")
    ap.add_argument("--images", type=int, default=19412, help="training images per epoch (NDSB train split: 19412)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--size", type=int, default=48)
    args = ap.parse_args(argv)
    out = {"model": args.model, "images": args.images, "size": args.size}
    for autotune in (True, False):
        out["autotune_on" if autotune else "autotune_off"] = run(args.model, autotune, args.images, args.epochs,
                                                                 args.size)
    on, off = out["autotune_on"], out["autotune_off"]
    out["mean_epoch_ratio_on_vs_off"] = round(float(np.mean(on["epoch_s"][1:]) / np.mean(off["epoch_s"][1:])), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
