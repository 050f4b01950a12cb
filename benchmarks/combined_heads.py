"""Inside a combined model (`train --model combined`): the top-1 of its tree heads alone, its flat head alone and
their mix, on the validation and test splits, with and without test-time views; and the tree weight chosen on
validation *with* the views against the one `train` chose without them. Prints JSON.

    .venv/bin/python benchmarks/combined_heads.py ../shared/datasets/ndsb_plankton/images h30_comb_1 h30_comb_2 --tta 8

Each RUN is a `taxoclass train --model combined` folder (model.taxoclass, manifest.csv). The weight is chosen by
`taxoclass.models.tree_model.choose_combine_weight`, the function `train` uses, on the grid 0, 0.1, ..., 1.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def heads_on(clf, data, tta: int) -> tuple[np.ndarray, np.ndarray]:
    """(p_tree, p_flat) of every image of ``data``, averaged over ``tta`` views (the views of `evaluate --tta`)."""
    import tensorflow as tf

    from taxoclass.data import tta_predict
    from taxoclass.data.pipeline import background
    from taxoclass.jobs.inference import images_dataset, tta_mode_of

    heads = tf.function(clf.model_.heads_proba, reduce_retracing=True)

    def both(x):
        out = []
        for i in range(0, len(x), 256):
            a, b = heads(tf.convert_to_tensor(x[i:i + 256]))
            out.append(np.concatenate([a.numpy(), b.numpy()], axis=1))
        return np.concatenate(out)

    spec = clf.input_spec()
    p = tta_predict(both, images_dataset(data, clf, batch_size=256), tta, tta_mode_of(clf),
                    background(spec["pad_value"], spec["invert"]))
    n = len(clf.classes_)
    return p[:, :n], p[:, n:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", help="the image folder the runs were trained on")
    ap.add_argument("runs", nargs="+", help="combined-model run folders")
    ap.add_argument("--tta", type=int, default=8, help="test-time views (default 8)")
    args = ap.parse_args()

    from taxoclass.data.imageset import load_source
    from taxoclass.models import load_model
    from taxoclass.models.tree_model import choose_combine_weight

    data = load_source(args.images)
    out = {}
    for run in args.runs:
        clf = load_model(os.path.join(run, "model.taxoclass"))
        if getattr(clf.model_, "flat_head", None) is None:
            raise SystemExit(f"{run}: not a combined model (no flat head); train it with --model combined.")
        w = float(clf.model_.combine_weight.numpy())
        res = {"tree_weight": w}
        for views in (1, args.tta):
            parts = {}
            for split in ("val", "test"):
                d = data.select(os.path.join(run, "manifest.csv"), split)
                parts[split] = (*heads_on(clf, d, views), d.encode(clf.taxonomy_))
            acc = lambda p, y: round(float(np.mean(p.argmax(axis=1) == y)), 4)  # noqa: E731
            pt, pf, y = parts["val"]
            w_v = choose_combine_weight(pt, pf, y)
            row = {"tree_weight_chosen_here": w_v}
            for split, (pt, pf, y) in parts.items():
                row[split] = {"tree_heads": acc(pt, y), "flat_head": acc(pf, y), "mixed": acc(w * pt + (1 - w) * pf, y),
                              "mixed_weight_chosen_here": acc(w_v * pt + (1 - w_v) * pf, y)}
            res[f"views_{views}"] = row
        out[run] = res
        print(json.dumps({run: res}), flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
