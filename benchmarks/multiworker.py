"""Does Keras 3 train under MultiWorkerMirroredStrategy here? Plain Keras (no taxoclass): two worker processes on
loopback ports, each with its own TF_CONFIG, fit a tiny CNN for 2 epochs; prints JSON with each worker's exit
status, its last error line and, when both finish, whether their weights are identical.

taxoclass refuses ``--strategy multiworker`` while this fails (taxoclass/training.py); rerun it after a Keras or
TensorFlow upgrade:

    taskset -c 0 .venv/bin/python benchmarks/multiworker.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

WORKER = r'''
import hashlib, json, os, sys
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first, before any other TensorFlow operation
import keras, numpy as np
rng = np.random.default_rng(0)
x, y = rng.uniform(0, 1, (64, 16, 16, 3)).astype("float32"), rng.integers(0, 4, 64)
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=2, verbose=0)
w = np.concatenate([v.ravel() for v in model.get_weights()])
print("WEIGHTS", hashlib.sha1(w.tobytes()).hexdigest(), flush=True)
'''


def _ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main() -> None:
    import keras
    import tensorflow as tf

    ports = _ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    t0 = time.perf_counter()
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    workers = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        lines = [ln for ln in err.splitlines() if "Error" in ln]
        weights = [ln.split()[1] for ln in out.splitlines() if ln.startswith("WEIGHTS")]
        workers.append({"exit_status": p.returncode, "weights_sha1": weights[0] if weights else None,
                        "error": lines[-1][:400] if lines else None})
    done = all(w["weights_sha1"] for w in workers)
    print(json.dumps({"keras": keras.__version__, "tensorflow": tf.__version__, "workers": workers,
                      "trained": done, "same_weights": done and workers[0]["weights_sha1"] == workers[1]["weights_sha1"],
                      "seconds": round(time.perf_counter() - t0, 1)}, indent=1))


if __name__ == "__main__":
    main()
