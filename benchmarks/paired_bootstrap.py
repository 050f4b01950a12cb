"""Is model B really better than model A? A paired bootstrap over the same test images; prints JSON.

Takes the ``predictions.csv`` that ``taxoclass evaluate`` wrote for each model (same images, same order: evaluate
both with the same ``--manifest``), resamples the images with replacement ``--resamples`` times and reports, for
top-1 accuracy and mistake severity (the mean taxonomy distance of the wrong answers, as in
:func:`taxoclass.metrics.mistake_severity`), each model's value, the difference B - A and its 95 % interval. A
difference whose interval excludes 0 is more than the luck of the test split.

    .venv/bin/python benchmarks/paired_bootstrap.py A_eval/predictions.csv B_eval/predictions.csv \\
        --taxonomy taxonomies/ndsb_plankton.tsv [--resamples 2000] [--seed 0]

Several pairs on the same test images (repeated runs of the same two commands) are pooled by giving the files as
``A1 B1 A2 B2 …``: each image's score is then the mean over the runs of each model (top-1: the share of A's runs
that got it right; severity: over all of the runs' mistakes), and the images are resampled together, so the
interval reflects the test split's luck for the runs' average rather than for one run.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from taxoclass.metrics import paired_bootstrap as library_paired_bootstrap
from taxoclass.taxonomy import load_taxonomy


def _read(path: str) -> pd.DataFrame:
    df = pd.read_csv(path)
    missing = {"file", "true", "predicted_class"} - set(df.columns)
    if missing:
        raise SystemExit(f"{path} lacks column(s) {', '.join(sorted(missing))}: pass the predictions.csv written "
                         "by `taxoclass evaluate`.")
    return df


def paired_bootstrap(a, b, tax, resamples: int = 2000, seed: int = 0) -> dict:
    """Top-1 and mistake severity of B minus A, with 95 % intervals from resampling the images
    (:func:`taxoclass.metrics.paired_bootstrap`). ``a`` and ``b`` are each one ``predictions.csv`` frame, or equally
    long lists of frames (repeated runs of A and of B), all listing the same images in the same order."""
    a = [a] if isinstance(a, pd.DataFrame) else list(a)
    b = [b] if isinstance(b, pd.DataFrame) else list(b)
    if len(a) != len(b) or not a:
        raise SystemExit(f"give as many runs of B as of A (got {len(a)} and {len(b)}), in pairs A1 B1 A2 B2 ….")
    first = a[0]
    if any(len(f) != len(first) or not (f["file"].to_numpy() == first["file"].to_numpy()).all()
           or not (f["true"].to_numpy() == first["true"].to_numpy()).all() for f in a + b):
        raise SystemExit("the prediction files do not list the same images in the same order; evaluate every "
                         "model with the same --manifest.")
    return library_paired_bootstrap(first["true"].to_numpy(), [f["predicted_class"].to_numpy() for f in a],
                                    [f["predicted_class"].to_numpy() for f in b], tax, resamples=resamples, seed=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", metavar="A B",
                    help="predictions.csv of model A, then of model B (taxoclass evaluate, same images); more "
                         "pairs A2 B2 … pool repeated runs")
    ap.add_argument("--taxonomy", required=True, help="the taxonomy the mistake distances are measured on")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if len(args.files) % 2:
        ap.error(f"give the predictions in pairs A B [A2 B2 …]; got {len(args.files)} files.")
    a, b = args.files[0::2], args.files[1::2]
    res = paired_bootstrap([_read(f) for f in a], [_read(f) for f in b], load_taxonomy(args.taxonomy),
                           args.resamples, args.seed)
    names = {"a": a[0], "b": b[0]} if len(a) == 1 else {"a": a, "b": b}
    print(json.dumps({**names, **res}, indent=1))


if __name__ == "__main__":
    main()
