"""Issue 15's figure: a `taxoclass tune` search on NDSB against the hand-set recipe, at the same final budget.

1. search: ``taxoclass.tune`` over flat and taxonomy-tree configurations for ``--search-minutes`` (default 60),
   each trial trained for ``--trial-minutes`` (default 4) on the shared split (seed 0, 80/10/10; 48 px grey,
   inverted), scored on the validation split, hopeless trials pruned after an epoch;
2. final: the best configuration and the hand-set default recipe (flat resnet_small, 48 px, learning rate
   0.002, augmentation and the cosine schedule) each trained once with ``--final-minutes`` (default 6) of wall
   time on the same train split (validation for the best epoch), then evaluated on the same test split, which the
   search never saw.

    python benchmarks/tune_ndsb.py -o results/tune_ndsb                                    # the 60-minute search
    python benchmarks/tune_ndsb.py --max-per-class 8 --search-minutes 1 --trial-minutes 0.1 \\
        --final-minutes 0.1 -o /tmp/tune_smoke                                            # a 2-minute smoke run

Rerunning the same command continues the search (its study is in OUT/study). Prints one JSON line starting with
RESULT (both test top-1, hF1, the best configuration, trial counts, wall times; timings are wall-clock on whatever
the machine is doing, say so when quoting them).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
RECIPE = {"model": "flat", "backbone": "resnet_small", "image_size": 48, "learning_rate": 0.002}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared folder (datasets/ndsb_plankton)")
    p.add_argument("--models", default="flat,tree")
    p.add_argument("--search-minutes", type=float, default=60.0)
    p.add_argument("--trial-minutes", type=float, default=4.0)
    p.add_argument("--final-minutes", type=float, default=6.0)
    p.add_argument("--max-per-class", type=int, default=None, help="a subset, for a smoke run")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args(argv)

    from taxoclass.comparison import subsample
    from taxoclass.data import ImageSet
    from taxoclass.jobs import evaluate_job, train_job
    from taxoclass.taxonomy import load_taxonomy
    from taxoclass.tuning import tune

    images = Path(a.shared) / "datasets" / "ndsb_plankton" / "images"
    if not images.is_dir():
        print(f"{images} not found; pass --shared", file=sys.stderr)
        return 2
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    tax = load_taxonomy(ROOT / "taxonomies" / "ndsb_plankton.tsv")
    data = subsample(ImageSet.from_folder(images), a.max_per_class, seed=0)
    common = {"channels": 1, "invert": True, "batch_size": a.batch_size, "val_size": 0.1, "test_size": 0.1, "seed": 0}
    say = lambda m: print(f"[tune_ndsb] {m}", file=sys.stderr, flush=True)  # noqa: E731

    t0 = time.perf_counter()
    result = tune(data, out / "study", models=a.models.split(","), taxonomy=tax, trials=10_000,
                  time_budget=a.search_minutes, trial_budget=a.trial_minutes, startup_trials=5, progress=say,
                  **common)
    search_s = time.perf_counter() - t0
    if result["best"] is None:
        print("RESULT " + json.dumps({"error": "no trial finished", "n_trials": result["n_trials"]}))
        return 1
    best = dict(result["best"]["arguments"])
    manifest = out / "study" / "manifest.csv"
    scores = {}
    for name, args in (("tuned", best), ("recipe", RECIPE)):
        run = out / f"final_{name}"
        summary = train_job(data, run, **{**common, **args, "taxonomy": tax, "time_budget": a.final_minutes},
                            manifest=manifest, overwrite=(run / "model.taxoclass").exists(), verbose=0,
                            progress=say)
        m = evaluate_job(run / "model.taxoclass", data, out / f"eval_{name}", manifest=manifest, split_name="test",
                         overwrite=(out / f"eval_{name}").exists())
        scores[name] = {"test_top1": m["accuracy"], "test_hf1": m["hierarchical_f1_micro"],
                        "severity": m["mistake_severity"], "epochs_run": summary["epochs_run"],
                        "train_seconds": round(summary["train_seconds"], 1), "n_params": summary["n_params"]}
    print("RESULT " + json.dumps({
        "images": len(data), "search_minutes": a.search_minutes, "trial_minutes": a.trial_minutes,
        "final_minutes": a.final_minutes, "search_wall_seconds": round(search_s, 1),
        "finished_trials": result["n_trials"], "best_trial": result["best"]["trial"],
        "best_val_top1": result["best"]["values"][0], "best_arguments": best, "recipe_arguments": RECIPE,
        **{f"{k}_{n}": v for n, s in scores.items() for k, v in s.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
