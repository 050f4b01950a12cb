"""Benchmark: training and inference throughput (images/s) of FlatClassifier backbones; prints JSON.

    .venv/bin/python benchmarks/flat.py                 # InceptionV3 at 75 px and small_cnn at 64 px
    .venv/bin/python benchmarks/flat.py --quick         # fewer images (a smoke run)
    .venv/bin/python benchmarks/flat.py --fashion-mnist ../shared/datasets/fashion_mnist   # + real-data accuracy

Training throughput is measured per phase (phase 1: frozen backbone, head only; phase 2: whole network
fine-tuned) on epochs after the first of each phase (the first one traces the graph); inference is
``predict_proba`` after a warm-up call (median of 3). Synthetic [0, 255] images; weights=None (no download); the ratios
compare configurations measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _bench(backbone, size, channels, n_images, batch_size, epochs_per_phase, seed=0):
    import keras
    import numpy as np

    from taxoclass.models.flat import FlatClassifier

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t)

    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 255, (n_images, size, size, channels)).astype("float32")
    y = rng.integers(0, 10, n_images)
    timer = EpochTimer()
    clf = FlatClassifier([f"class{i}" for i in range(10)], backbone=backbone, input_shape=(size, size, channels),
                         weights=None, head_units=(256,), epochs=(epochs_per_phase, epochs_per_phase),
                         batch_size=batch_size, random_state=seed)
    t0 = time.perf_counter()
    clf.fit(X, y, callbacks=[timer], verbose=0)
    fit_s = time.perf_counter() - t0
    p1 = timer.times[1:epochs_per_phase]
    p2 = timer.times[epochs_per_phase + 1:]
    clf.predict_proba(X[:batch_size], batch_size=batch_size)  # warm-up (traces predict)
    infer = []
    for _ in range(3):
        t0 = time.perf_counter()
        clf.predict_proba(X, batch_size=batch_size)
        infer.append(time.perf_counter() - t0)
    infer_s = float(np.median(infer))
    return {
        "backbone": backbone, "input_shape": [size, size, channels], "images": n_images, "batch_size": batch_size,
        "parameters": int(clf.model_.count_params()),
        "train_head_only_images_per_s": round(n_images / float(np.median(p1)), 2),
        "train_fine_tune_images_per_s": round(n_images / float(np.median(p2)), 2),
        "inference_images_per_s": round(n_images / infer_s, 2),
        "first_epoch_s_with_tracing": [round(timer.times[0], 2), round(timer.times[epochs_per_phase], 2)],
        "total_fit_s": round(fit_s, 2),
    }


def _read_idx(path):
    import gzip

    import numpy as np

    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_mnist(folder, n_train=12000, n_test=2000, epochs=(0, 4), seed=0):
    """Real-data check: small_cnn on a Fashion-MNIST subset (28x28 gray), held-out accuracy."""
    from pathlib import Path

    import numpy as np

    from taxoclass.models.flat import FlatClassifier

    folder = Path(folder)
    classes = (folder / "classes.txt").read_text().split("\n")
    classes = [c.strip() for c in classes if c.strip()]
    Xtr = _read_idx(folder / "train-images-idx3-ubyte.gz")[:n_train, ..., None].astype("float32")
    ytr = _read_idx(folder / "train-labels-idx1-ubyte.gz")[:n_train]
    Xte = _read_idx(folder / "t10k-images-idx3-ubyte.gz")[:n_test, ..., None].astype("float32")
    yte = _read_idx(folder / "t10k-labels-idx1-ubyte.gz")[:n_test]
    clf = FlatClassifier(classes, backbone="small_cnn", input_shape=(28, 28, 1), weights=None, head_units=(128,),
                         epochs=epochs, fine_tune_learning_rate=1e-3, final_learning_rate=1e-4, batch_size=64,
                         random_state=seed)
    t0 = time.perf_counter()
    clf.fit(Xtr, ytr.astype(np.int64), verbose=0)
    fit_s = time.perf_counter() - t0
    scores = clf.evaluate(Xte, yte.astype(np.int64))
    return {"dataset": "fashion_mnist", "train_images": int(len(Xtr)), "test_images": int(len(Xte)),
            "epochs": list(epochs), "fine_tune_learning_rate": 1e-3, "backbone": "small_cnn", "test_accuracy": round(scores["accuracy"], 4),
            "test_loss": round(scores["loss"], 4), "fit_s": round(fit_s, 1),
            "train_images_per_s": round(len(Xtr) * sum(epochs) / fit_s, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs (smoke run)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--fashion-mnist", metavar="FOLDER",
                        help="also train small_cnn on a Fashion-MNIST subset in FOLDER (IDX .gz + classes.txt) "
                             "and report its test accuracy")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    n_inc, n_small, epochs = (64, 256, 2) if args.quick else (192, 1024, 3)
    results = [_bench("inception_v3", 75, 3, n_inc, args.batch_size, epochs),
               _bench("small_cnn", 64, 1, n_small, args.batch_size, epochs)]
    inc, small = results
    gpus = tf.config.list_physical_devices("GPU")
    report = {
        "benchmark": "flat", "command": "benchmarks/flat.py" + (" --quick" if args.quick else ""),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "gpus": [g.name for g in gpus],
                    "note": ("CPU only; no GPU machine was lent to this session, so no GPU figures"
                             if not gpus else "GPU run"),
                    "tensorflow": tf.__version__, "keras": keras.__version__},
        "results": results,
        "ratios": {
            "small_cnn_over_inception_train_fine_tune": round(
                small["train_fine_tune_images_per_s"] / inc["train_fine_tune_images_per_s"], 2),
            "small_cnn_over_inception_inference": round(
                small["inference_images_per_s"] / inc["inference_images_per_s"], 2),
            "inception_head_only_over_fine_tune_train": round(
                inc["train_head_only_images_per_s"] / inc["train_fine_tune_images_per_s"], 2),
            "inception_inference_over_fine_tune_train": round(
                inc["inference_images_per_s"] / inc["train_fine_tune_images_per_s"], 2),
        },
    }
    if args.fashion_mnist:
        report["real_data"] = _fashion_mnist(args.fashion_mnist)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
