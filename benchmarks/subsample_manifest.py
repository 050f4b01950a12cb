"""Write split manifests with a fraction of the training and validation images (the test split untouched).

For the "fewer training images" pairs in docs/benchmarks.md: the NDSB split of ``taxoclass train --seed 0
--val-size 0.1 --test-size 0.1``, then for each fraction F, per class a random F of its train and of its val
images (at least one of each a class had), the same 2,426 test images, written to ``OUT_DIR/fracNN.csv``
(NN = 100 F). The fractions draw from one random generator in the order given, so the default order reproduces
the pairs' files. Train on one with ``taxoclass train ... --manifest OUT_DIR/frac10.csv``; images not listed in
the manifest are not used.

    .venv/bin/python benchmarks/subsample_manifest.py ../shared/datasets/ndsb_plankton/images OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", help="folder of class folders")
    ap.add_argument("out_dir", help="folder for the manifests (created)")
    ap.add_argument("--fractions", default="0.25,0.1", help="shares of each class's train and val images kept")
    ap.add_argument("--seed", type=int, default=0, help="split seed (as taxoclass train --seed)")
    ap.add_argument("--sample-seed", type=int, default=1, help="seed of the subsampling")
    args = ap.parse_args(argv)
    try:
        fractions = [float(f) for f in args.fractions.split(",")]
    except ValueError:
        ap.error(f"--fractions must be comma-separated numbers such as 0.25,0.1, got {args.fractions!r}")
    if not all(0 < f <= 1 for f in fractions):
        ap.error(f"every fraction must be in (0, 1], got {args.fractions}")

    import numpy as np
    import pandas as pd

    from taxoclass.data import from_folder, split

    manifest = split(from_folder(args.images), val_size=0.1, test_size=0.1, seed=args.seed)
    rng = np.random.default_rng(args.sample_seed)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fraction in fractions:
        keep = []
        for (_, part), rows in manifest.groupby(["label", "split"]):
            if part == "test":
                keep.append(rows)
                continue
            n = max(1, int(round(fraction * len(rows))))
            keep.append(rows.sample(n=n, random_state=int(rng.integers(1 << 30))))
        out = pd.concat(keep).sort_index()
        path = out_dir / f"frac{round(100 * fraction)}.csv"
        out.to_csv(path, index=False)
        print(json.dumps({"out": str(path), "fraction": fraction, **out["split"].value_counts().to_dict()}))


if __name__ == "__main__":
    main()
