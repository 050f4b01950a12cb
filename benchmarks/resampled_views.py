"""Is a model trained with the plankton augmentation off-balance on sharp test images? Prints JSON.

The plankton augmentation resamples every training image (bilinear, at a random angle and zoom), which smooths
it; a test image goes in as it is. This script scores a saved model (``taxoclass train`` run folder) on one split
of its ``manifest.csv`` with ONE view at a time: the image as it is, moved by half a pixel, lightly blurred,
turned, zoomed; then 8 views (the flips and 90-degree turns of :func:`taxoclass.data.tta_views`) turned by 0,
22.5, 45 and 67.5 degrees, and all 32. Top-1 on uncalibrated probabilities. docs/benchmarks.md ("Sixteen
test-time views") has the figures for the NDSB runs.

    .venv/bin/python benchmarks/resampled_views.py RUN_DIR ../shared/datasets/ndsb_plankton/images [--split val]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tta_views import _arrays  # noqa: E402  (the sibling script's loader: the model's own input pipeline)

from taxoclass.data import tta_views  # noqa: E402
from taxoclass.data.pipeline import background  # noqa: E402
from taxoclass.data.readers import load_source  # noqa: E402
from taxoclass.models import load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a taxoclass train output folder (model.taxoclass, manifest.csv)")
    ap.add_argument("source", help="the images the run was trained on")
    ap.add_argument("--split", default="val", choices=("train", "val", "test"))
    args = ap.parse_args()
    run = Path(args.run)
    clf = load_model(run / "model.taxoclass")
    spec = clf.input_spec()
    fill = background(spec["pad_value"], spec["invert"])
    x, y = _arrays(load_source(args.source).select(run / "manifest.csv", args.split), clf)
    x = x.astype(np.float32)
    side = x.shape[1]

    def proba(v):
        return clf.predict_proba(v, calibrated=False)

    def top1(p):
        return round(float((p.argmax(axis=1) == y).mean()), 4)

    def turn(v, degrees):
        return v if degrees == 0 else ndimage.rotate(v, degrees, axes=(1, 2), reshape=False, order=1,
                                                     mode="constant", cval=fill)

    c = (side - 1) / 2
    zoom = 0.95
    single = {
        "as it is": x,
        "moved by half a pixel (bilinear)": ndimage.shift(x, (0, 0.5, 0.5, 0), order=1, cval=fill),
        "light blur (0.75 x + 0.25 x 3x3 mean)": 0.75 * x + 0.25 * ndimage.uniform_filter(x, (1, 3, 3, 1)),
        "turned 5 degrees": turn(x, 5),
        "turned 45 degrees": turn(x, 45),
        "zoomed to 0.95": ndimage.affine_transform(x, [1, 1 / zoom, 1 / zoom, 1], offset=[0, c - c / zoom,
                                                   c - c / zoom, 0], order=1, cval=fill),
    }
    result = {"run": str(run), "split": args.split, "images": int(len(y)),
              "one_view": {name: top1(proba(v)) for name, v in single.items()}}
    square = tta_views(x, 8, fill_value=fill)
    by_angle = {a: [proba(turn(v, a)) for v in square] for a in (0, 22.5, 45, 67.5)}
    result["8_views_turned_by"] = {str(a): top1(np.mean(ps, axis=0)) for a, ps in by_angle.items()}
    result["16_views_0_and_45"] = top1(np.mean(by_angle[0] + by_angle[45], axis=0))
    result["all_32"] = top1(np.mean(sum(by_angle.values(), []), axis=0))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
