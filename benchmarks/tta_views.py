"""How many test-time views, and which family, for a trained model? Prints JSON.

Scores a saved model (``taxoclass train`` run folder) on its validation split (from the run's ``manifest.csv``)
and on a test set, averaging the first 1..n views of each family (:func:`taxoclass.data.tta_views`: ``plankton``
= flips and rotations by 90, then 45 degrees, n = 16; ``upright`` = the mirror and shifts by 1/16 of the side,
n = 8). Choose the family and
the number of views on the validation figures; the test figures are there to report, not to choose from.

    .venv/bin/python benchmarks/tta_views.py RUN_DIR SOURCE [--subdir train] [--test-source SOURCE]
        [--test-subdir test] [--modes upright,plankton]

e.g. for a CIFAR-10 run trained on the zip's ``train`` folder:
    .venv/bin/python benchmarks/tta_views.py cifar30 ../shared/datasets/cifar10/cifar10_jpg.zip --subdir train \\
        --test-subdir test
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from taxoclass.data import tta_views
from taxoclass.data.augment import TTA_FAMILY_VIEWS, check_tta_mode
from taxoclass.data.pipeline import background
from taxoclass.data.readers import load_source
from taxoclass.jobs import images_dataset
from taxoclass.models import load_model


def _arrays(data, clf):
    xs, ys = [], []
    for x, y in images_dataset(data, clf, batch_size=256).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _curve(clf, x, y, mode: str, fill: float) -> list[float]:
    """Top-1 of the mean of the first n views, n = 1 to all of the family's."""
    total, out = None, []
    for v in tta_views(x, len(TTA_FAMILY_VIEWS[check_tta_mode(mode)]), mode=mode, fill_value=fill):
        p = clf.predict_proba(v, calibrated=False)
        total = p if total is None else total + p
        out.append(round(float((total.argmax(axis=1) == y).mean()), 4))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a taxoclass train output folder (model.taxoclass, manifest.csv)")
    ap.add_argument("source", help="the images the run was trained on")
    ap.add_argument("--subdir", default=None, help="folder inside a zip source")
    ap.add_argument("--test-source", default=None, help="the test images (default: the run's test split of source)")
    ap.add_argument("--test-subdir", default=None, help="folder inside the test zip (e.g. test)")
    ap.add_argument("--modes", default="upright,plankton", help="view families to score (comma list)")
    args = ap.parse_args()
    run = Path(args.run)
    clf = load_model(run / "model.taxoclass")
    spec = clf.input_spec()
    fill = background(spec["pad_value"], spec["invert"])
    train_src = load_source(args.source, subdir=args.subdir)
    if args.test_source or args.test_subdir:
        test = load_source(args.test_source or args.source, subdir=args.test_subdir)
    else:
        test = train_src.select(run / "manifest.csv", "test")
    splits = {"val": train_src.select(run / "manifest.csv", "val"), "test": test}
    result = {"run": str(run), "augment": getattr(clf, "augment_", None)}
    for name, data in splits.items():
        x, y = _arrays(data, clf)
        result[f"{name}_images"] = int(len(y))
        for mode in args.modes.split(","):
            if mode == "plankton" and x.shape[1] != x.shape[2]:
                continue
            result[f"{name}_{mode}"] = _curve(clf, x, y, mode, fill)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
