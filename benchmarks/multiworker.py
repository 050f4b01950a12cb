"""Multi-worker training on this machine: does Keras 3 train under MultiWorkerMirroredStrategy, with and without
taxoclass's fix (taxoclass/_keras_multiworker.py), and what do 2 workers gain over 1?

Plain Keras (no taxoclass model): worker processes on loopback ports, each with its own TF_CONFIG, fit the same
small BN-free CNN for ``--epochs`` epochs on the same data at the same global batch size. Prints JSON: per run the
workers' exit status, last error line, the sha1 of their trainable weights, and the wall time of the fit.

    .venv/bin/python benchmarks/multiworker.py                 # fix off and on, 2 workers; then 1 vs 2 workers
    .venv/bin/python benchmarks/multiworker.py --images 4096 --epochs 3

Rerun it after a Keras or TensorFlow upgrade: once plain Keras trains, the fix can go.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r'''
import hashlib, json, os, sys, time
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first, before any other TensorFlow operation
if os.environ.get("TAXOCLASS_FIX") == "1":
    from taxoclass import _keras_multiworker
    _keras_multiworker.apply()
import keras, numpy as np
n, epochs, batch = (int(v) for v in sys.argv[1:4])
rng = np.random.default_rng(0)
x, y = rng.uniform(0, 1, (n, 32, 32, 3)).astype("float32"), rng.integers(0, 4, n)
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(32, 3, activation="relu"),
                              keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
                              keras.layers.Conv2D(64, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)  # the global batch: each worker gets its share
t = time.perf_counter()
model.fit(ds, epochs=epochs, verbose=0)
seconds = time.perf_counter() - t
w = np.concatenate([np.asarray(v).ravel() for v in model.trainable_weights])
print("WEIGHTS", hashlib.sha1(w.tobytes()).hexdigest(), flush=True)
print("SECONDS", seconds, flush=True)
'''


def run(n_workers: int, fix: bool, images: int, epochs: int, batch: int) -> dict:
    from taxoclass.distribute import local_cluster

    procs = []
    for tf_config in local_cluster(n_workers):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "TAXOCLASS_FIX": str(int(fix)),
               "TF_CONFIG": tf_config}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(images), str(epochs), str(batch)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    workers = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        lines = [ln for ln in err.splitlines() if "Error" in ln]
        weights = [ln.split()[1] for ln in out.splitlines() if ln.startswith("WEIGHTS")]
        secs = [float(ln.split()[1]) for ln in out.splitlines() if ln.startswith("SECONDS")]
        workers.append({"exit_status": p.returncode, "weights_sha1": weights[0] if weights else None,
                        "fit_seconds": round(secs[0], 2) if secs else None,
                        "error": lines[-1][:300] if lines else None})
    done = all(w["weights_sha1"] for w in workers)
    return {"workers": n_workers, "taxoclass_fix": fix, "trained": done,
            "same_weights": done and len({w["weights_sha1"] for w in workers}) == 1,
            "fit_seconds": max(w["fit_seconds"] or 0 for w in workers) if done else None, "per_worker": workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="global batch size (split between the workers)")
    a = ap.parse_args()
    import keras
    import tensorflow as tf

    runs = [run(2, False, 256, 1, a.batch_size), run(2, True, a.images, a.epochs, a.batch_size),
            run(1, True, a.images, a.epochs, a.batch_size)]
    two, one = runs[1], runs[2]
    speedup = (one["fit_seconds"] / two["fit_seconds"]) if two["trained"] and one["trained"] else None
    print(json.dumps({"keras": keras.__version__, "tensorflow": tf.__version__, "cpus": os.cpu_count(),
                      "images": a.images, "epochs": a.epochs, "global_batch": a.batch_size, "runs": runs,
                      "speedup_2_workers_vs_1": None if speedup is None else round(speedup, 2)}, indent=1))


if __name__ == "__main__":
    main()
