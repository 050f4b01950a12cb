"""Tree-model training and inference speed on the NDSB plankton taxonomy (42 classifier nodes); prints JSON.

Random images (the timing does not depend on the pixels) with uniformly drawn classes; every ratio is measured in
the same run, each timing the best of a few repetitions of a few steps after warm-up (the CPUs may be shared):

- ``gathered_vs_naive``: training, no trunk: each node block on its own sub-batch vs every block on every sample
  with the loss masked (goal >= 5x);
- ``fused_vs_separate``: training with a shared trunk: the fused tree vs one model (trunk + block) per node trained
  on the samples under that node, the old way (goal >= 3x; counted as sample-visits / throughput, which ignores
  the separate models' build time and partial batches, i.e. in the separate models' favour);
- every model (tree, flat, separate) trains with the same optimizer (Keras Adam);
- ``tree_vs_flat``: (tree / flat training time per image) vs (tree / flat FLOPs per image), FLOPs counted from the
  models' layer shapes (goal: time ratio <= 1.3 x FLOPs ratio);
- ``build_s``: wall time from ``fit`` to the end of the first train step (model construction, tracing, graph
  optimisation, one step) of the NDSB tree (goal <= 15 s); CPU seconds of this process also reported;
- ``inference``: soft (every node) and greedy (the nodes on the chosen path) images/s vs flat; goal:
  soft/flat >= 0.8 x flat FLOPs / tree FLOPs, greedy faster than soft.

Usage: ``.venv/bin/python benchmarks/tree_training.py [--size 48] [--batch 128] [--quick]``
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


def ndsb_taxonomy():
    from taxoclass import Taxonomy

    df = pd.read_csv(SHARED / "ndsb_plankton" / "taxonomy.tsv", sep="\t")
    return Taxonomy.from_paths([str(p).split("/") for p in df["lineage"]], class_order=list(df["class"]),
                               source="ndsb taxonomy.tsv")


def best_time(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=48, help="image side in pixels (grayscale)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4, help="steps per timed repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.reps = 2, 2

    import keras
    import tensorflow as tf

    from taxoclass.models.backbones import build_backbone
    from taxoclass.models.blocks import block_flops, build_branch
    from taxoclass.models.tree import TreeClassifier, TreeStructure

    tax = ndsb_taxonomy()
    s = TreeStructure(tax)
    L, K = tax.n_classes, s.n_classifiers
    shape = (args.size, args.size, 1)
    B, S = args.batch, args.steps
    rng = np.random.default_rng(0)
    batches = [(tf.constant(rng.uniform(0, 255, (B, *shape)).astype("float32")),
                tf.constant(rng.integers(0, L, B).astype("int32"))) for _ in range(S)]
    block_kw = dict(block_filters=(16, 32), head_units=(32,))
    out = {"benchmark": "tree_training", "taxonomy": "ndsb_plankton", "classes": L, "classifier_nodes": K,
           "mean_decisions_per_path": round(s.mean_path_classifiers(), 3), "image": list(shape), "batch": B,
           "steps_per_rep": S, "reps": args.reps, "cpus": os.cpu_count(),
           "load_average_start": [round(v, 2) for v in os.getloadavg()]}

    def fitted_tree(trunk, routing):
        # the whole trunk (as the flat model uses it) and plain Adam, as the other models here
        clf = TreeClassifier(tax, input_shape=shape, trunk=trunk, trunk_layer=None, routing=routing, batch_size=B,
                             weight_decay=0.0, label_smoothing=0.0, **block_kw)
        x0, y0 = batches[0]
        t, c = time.perf_counter(), time.process_time()
        clf.fit(x0.numpy(), y0.numpy(), epochs=1, verbose=0)
        return clf, time.perf_counter() - t, time.process_time() - c

    def train_time(model):
        def run():
            for x, y in batches:
                model.train_on_batch(x, y)
        run()  # warm-up (and tracing for train_on_batch)
        return best_time(run, args.reps) / (S * B)  # seconds per image

    def flat_model(trunk):
        inp = keras.Input(shape)
        stem = (keras.Model(inp, keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inp)) if trunk is None
                else build_backbone(trunk, shape))
        head = build_branch(stem.output_shape[1:], L, **block_kw, name="flat")
        model = keras.Model(inp, keras.layers.Softmax()(head(stem(inp))))
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(), jit_compile=False)
        return model, block_flops(stem), block_flops(head)

    frac = np.bincount(np.concatenate([b[1].numpy() for b in batches]), minlength=L)
    frac = frac / frac.sum()
    under = np.array([frac[s.targets[:, k] >= 0].sum() for k in range(K)])  # share of samples under each node

    # ---------------------------------------------------------------- 1. no trunk: gathered vs naive vs flat
    tree_g, build_s, build_cpu = fitted_tree(None, "gather")
    out["build_s"] = round(build_s, 2)
    out["build_cpu_s"] = round(build_cpu, 2)
    tree_m, build_m, _ = fitted_tree(None, "mask")
    out["build_s_naive"] = round(build_m, 2)
    flat, stem_f, flat_head_f = flat_model(None)
    t_g = train_time(tree_g.model_)
    t_m = train_time(tree_m.model_)
    t_f = train_time(flat)
    node_f = np.array([block_flops(b) for b in tree_g.model_.branches])
    tree_flops = stem_f + float(under @ node_f)
    flat_flops = stem_f + flat_head_f
    out["no_trunk"] = {
        "train_img_per_s": {"flat": round(1 / t_f), "tree_gathered": round(1 / t_g), "tree_naive": round(1 / t_m)},
        "gathered_vs_naive": round(t_m / t_g, 2), "goal_gathered_vs_naive": 5.0,
        "mflops_per_img": {"flat": round(flat_flops / 1e6, 2), "tree_gathered": round(tree_flops / 1e6, 2),
                           "tree_naive": round((stem_f + node_f.sum()) / 1e6, 2)},
        "tree_vs_flat_time": round(t_g / t_f, 3), "tree_vs_flat_flops": round(tree_flops / flat_flops, 3),
    }
    out["no_trunk"]["overhead"] = round(out["no_trunk"]["tree_vs_flat_time"] / out["no_trunk"]["tree_vs_flat_flops"],
                                        3)
    # inference, no trunk
    X = batches[0][0]
    soft = tf.function(lambda x: tree_g.model_(x, training=False))
    greedy = tf.function(tree_g.model_.greedy_decisions)
    flat_inf = tf.function(lambda x: flat(x, training=False))
    for f in (soft, greedy, flat_inf):
        f(X)
    reps = args.reps * S
    i_soft = best_time(lambda: soft(X)[0, 0].numpy(), reps) / B
    i_greedy = best_time(lambda: greedy(X)[0][0, 0].numpy(), reps) / B
    i_flat = best_time(lambda: flat_inf(X)[0, 0].numpy(), reps) / B
    soft_flops = stem_f + node_f.sum()
    greedy_flops = tree_flops
    out["no_trunk"]["inference"] = {
        "img_per_s": {"flat": round(1 / i_flat), "tree_soft": round(1 / i_soft), "tree_greedy": round(1 / i_greedy)},
        "soft_vs_flat_speed": round(i_flat / i_soft, 4), "flat_vs_soft_flops": round(flat_flops / soft_flops, 4),
        "greedy_vs_soft_speed": round(i_soft / i_greedy, 2),
        "mflops_per_img": {"tree_soft": round(soft_flops / 1e6, 2), "tree_greedy": round(greedy_flops / 1e6, 2)}}
    inf = out["no_trunk"]["inference"]
    inf["soft_speed_vs_flops_ratio"] = round(inf["soft_vs_flat_speed"] / inf["flat_vs_soft_flops"], 3)
    del tree_m

    # ---------------------------------------------------------------- 2. shared trunk: fused vs separate vs flat
    trunk = "small_cnn"
    tree_t, build_t, build_t_cpu = fitted_tree(trunk, "gather")
    out["build_s_with_trunk"] = round(build_t, 2)
    flat_t, stem_tf, flat_head_tf = flat_model(trunk)
    t_gt = train_time(tree_t.model_)
    t_ft = train_time(flat_t)
    heads = tree_t.model_.node_heads  # dense heads on a trunk: one NodeHeads layer
    node_tf = np.array([heads.node_flops(k) for k in range(K)] if heads is not None else
                       [block_flops(b) for b in tree_t.model_.branches])
    tree_t_flops = stem_tf + float(under @ node_tf)
    flat_t_flops = stem_tf + flat_head_tf
    # separate per-node models (trunk + block each), the old way: time a few of them, same batch size
    sep_times = []
    picks = [0, int(np.argmax(under[1:]) + 1), int(np.argmin(under))]
    for k in picks:
        stem = build_backbone(trunk, shape)
        br = build_branch(stem.output_shape[1:], s.n_children[k], **block_kw, name=f"sep{k}")
        inp = keras.Input(shape)
        model = keras.Model(inp, br(stem(inp)))
        model.compile(keras.optimizers.Adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
        sub = [(x, tf.constant(rng.integers(0, s.n_children[k], B).astype("int32"))) for x, _ in batches]

        def run(model=model, sub=sub):
            for x, y in sub:
                model.train_on_batch(x, y)
        run()
        sep_times.append(best_time(run, args.reps) / (S * B))
    t_sep = float(np.mean(sep_times)) * float(under.sum())  # sample-visits per image x seconds per visit
    out["with_trunk"] = {
        "trunk": trunk,
        "train_img_per_s": {"flat": round(1 / t_ft), "tree_fused": round(1 / t_gt),
                            "tree_separate_models": round(1 / t_sep)},
        "fused_vs_separate": round(t_sep / t_gt, 2), "goal_fused_vs_separate": 3.0,
        "mflops_per_img": {"trunk": round(stem_tf / 1e6, 2), "flat": round(flat_t_flops / 1e6, 2),
                           "tree": round(tree_t_flops / 1e6, 2)},
        "tree_vs_flat_time": round(t_gt / t_ft, 3), "tree_vs_flat_flops": round(tree_t_flops / flat_t_flops, 3),
    }
    wt = out["with_trunk"]
    wt["overhead"] = round(wt["tree_vs_flat_time"] / wt["tree_vs_flat_flops"], 3)
    soft_t = tf.function(lambda x: tree_t.model_(x, training=False))
    greedy_t = tf.function(tree_t.model_.greedy_decisions)
    flat_t_inf = tf.function(lambda x: flat_t(x, training=False))
    for f in (soft_t, greedy_t, flat_t_inf):
        f(X)
    j_soft = best_time(lambda: soft_t(X)[0, 0].numpy(), reps) / B
    j_greedy = best_time(lambda: greedy_t(X)[0][0, 0].numpy(), reps) / B
    j_flat = best_time(lambda: flat_t_inf(X)[0, 0].numpy(), reps) / B
    soft_t_flops = stem_tf + node_tf.sum()
    wt["inference"] = {
        "img_per_s": {"flat": round(1 / j_flat), "tree_soft": round(1 / j_soft), "tree_greedy": round(1 / j_greedy)},
        "soft_vs_flat_speed": round(j_flat / j_soft, 4), "flat_vs_soft_flops": round(flat_t_flops / soft_t_flops, 4),
        "greedy_vs_soft_speed": round(j_soft / j_greedy, 2)}
    wt["inference"]["soft_speed_vs_flops_ratio"] = round(wt["inference"]["soft_vs_flat_speed"]
                                                         / wt["inference"]["flat_vs_soft_flops"], 3)
    out["goals"] = {
        "gathered_vs_naive>=5": out["no_trunk"]["gathered_vs_naive"] >= 5,
        "fused_vs_separate>=3": wt["fused_vs_separate"] >= 3,
        "overhead<=1.3 (no trunk)": out["no_trunk"]["overhead"] <= 1.3,
        "overhead<=1.3 (trunk)": wt["overhead"] <= 1.3,
        "build<=15s": out["build_s"] <= 15,
        "soft_inference>=0.8xflops (no trunk)": inf["soft_speed_vs_flops_ratio"] >= 0.8,
        "soft_inference>=0.8xflops (trunk)": wt["inference"]["soft_speed_vs_flops_ratio"] >= 0.8,
        "greedy>soft (no trunk)": inf["greedy_vs_soft_speed"] > 1,
        "greedy>soft (trunk)": wt["inference"]["greedy_vs_soft_speed"] > 1,
    }
    out["goals"] = {k: bool(v) for k, v in out["goals"].items()}
    out["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
