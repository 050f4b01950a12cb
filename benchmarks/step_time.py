"""Train-step time of the flat, tree and combined models of the NDSB recipe, on one core; prints JSON.

The models of the equal-time NDSB pairs (docs/benchmarks.md): flat ``vgg_bn`` width 16 with a 1,024-unit head,
and the taxonomy tree / combined model on the same trunk with dense node heads (42 classifier nodes), 48 x 48 x 1
random images (the timing does not depend on the pixels), batch 64, the recipe's optimizer settings. Each model
trains ``--epochs`` epochs of ``--steps`` steps through ``fit``; the figure is the median step time after the
first ``--skip`` steps (tracing). Run it on a quiet machine, pinned to one core:

    taskset -c 0 .venv/bin/python benchmarks/step_time.py [--head-units 256] [--models flat,tree,combined]

``tree_vs_flat`` is the ratio of median step times in the same run: at equal wall time, the tree models get about
``1 / tree_vs_flat`` of the flat model's epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("TAXOCLASS_SHARED", REPO.parent / "shared")) / "datasets"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="flat,tree,combined")
    ap.add_argument("--head-units", type=int, default=256, help="units of each node head (tree, combined)")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--skip", type=int, default=10)
    args = ap.parse_args(argv)

    import keras

    from taxoclass import Taxonomy
    from taxoclass.models.flat import FlatClassifier
    from taxoclass.models.tree import TreeClassifier

    df = pd.read_csv(SHARED / "ndsb_plankton" / "taxonomy.tsv", sep="\t")
    tax = Taxonomy.from_paths([str(p).split("/") for p in df["lineage"]], class_order=list(df["class"]),
                              source="ndsb taxonomy.tsv")
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    X = rng.uniform(0, 255, (n, 48, 48, 1)).astype("float32")
    y = np.array(tax.classes)[rng.integers(0, tax.n_classes, n)]
    common = dict(input_shape=(48, 48, 1), width=args.width, dropout=0.06, weight_decay=3.65e-6,
                  label_smoothing=0.17, batch_size=args.batch, epochs=1, invert=True, learning_rate=0.0017)

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    out = {"benchmark": "step_time", "image": [48, 48, 1], "batch": args.batch, "width": args.width,
           "node_head_units": args.head_units, "cpus_allowed": len(os.sched_getaffinity(0)),
           "load_average_start": [round(v, 2) for v in os.getloadavg()], "ms_per_step": {}}
    for name in args.models.split(","):
        if name == "flat":
            clf = FlatClassifier(tax, backbone="vgg_bn", head_units=(1024,), **common)
        else:
            clf = TreeClassifier(tax, trunk="vgg_bn", head_units=(args.head_units,), flat_head=name == "combined",
                                 **common)
        clock = StepClock()
        clf.fit(X, y, callbacks=[clock], epochs=args.epochs, verbose=0)
        out["ms_per_step"][name] = round(1000 * float(np.median(clock.times[args.skip:])), 1)
    if "flat" in out["ms_per_step"]:
        flat = out["ms_per_step"]["flat"]
        out["vs_flat"] = {k: round(v / flat, 3) for k, v in out["ms_per_step"].items() if k != "flat"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
