"""Is model B really better than model A? A paired bootstrap over the same test images; prints JSON.

Takes the ``predictions.csv`` that ``taxoclass evaluate`` wrote for each model (same images, same order: evaluate
both with the same ``--manifest``), resamples the images with replacement ``--resamples`` times and reports, for
top-1 accuracy and mistake severity (the mean taxonomy distance of the wrong answers, as in
:func:`taxoclass.metrics.mistake_severity`), each model's value, the difference B - A and its 95 % interval. A
difference whose interval excludes 0 is more than the luck of the test split.

    .venv/bin/python benchmarks/paired_bootstrap.py A_eval/predictions.csv B_eval/predictions.csv \\
        --taxonomy taxonomies/ndsb_plankton.tsv [--resamples 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from taxoclass.metrics.hierarchical import mistake_severity
from taxoclass.taxonomy import load_taxonomy


def _read(path: str) -> pd.DataFrame:
    df = pd.read_csv(path)
    missing = {"file", "true", "predicted_class"} - set(df.columns)
    if missing:
        raise SystemExit(f"{path} lacks column(s) {', '.join(sorted(missing))}: pass the predictions.csv written "
                         "by `taxoclass evaluate`.")
    return df


def _per_image(df: pd.DataFrame, tax) -> tuple[np.ndarray, np.ndarray]:
    """(1 where right, the image's mistake distance where wrong and 0 where right)."""
    right = (df["true"] == df["predicted_class"]).to_numpy()
    cost = {}
    dist = np.zeros(len(df))
    for i, (t, p) in enumerate(zip(df["true"], df["predicted_class"])):
        if t != p:
            dist[i] = cost.setdefault((t, p), mistake_severity([t], [p], tax))
    return right.astype(float), dist


def paired_bootstrap(a: pd.DataFrame, b: pd.DataFrame, tax, resamples: int = 2000, seed: int = 0) -> dict:
    if len(a) != len(b) or not (a["file"].to_numpy() == b["file"].to_numpy()).all():
        raise SystemExit("the two prediction files do not list the same images in the same order; evaluate both "
                         "models with the same --manifest.")
    ra, da = _per_image(a, tax)
    rb, db = _per_image(b, tax)

    def severity(right, dist):
        wrong = right == 0
        return float(dist[wrong].mean()) if wrong.any() else float("nan")

    rng = np.random.default_rng(seed)
    diffs = {"accuracy": [], "mistake_severity": []}
    for _ in range(resamples):
        i = rng.integers(0, len(a), len(a))
        diffs["accuracy"].append(rb[i].mean() - ra[i].mean())
        diffs["mistake_severity"].append(severity(rb[i], db[i]) - severity(ra[i], da[i]))
    out = {"n_images": len(a), "resamples": resamples, "seed": seed}
    for name, (va, vb) in {"accuracy": (ra.mean(), rb.mean()),
                           "mistake_severity": (severity(ra, da), severity(rb, db))}.items():
        d = np.asarray(diffs[name])
        lo, hi = np.nanpercentile(d, [2.5, 97.5])
        out[name] = {"a": round(float(va), 4), "b": round(float(vb), 4), "b_minus_a": round(float(vb - va), 4),
                     "ci95": [round(float(lo), 4), round(float(hi), 4)], "excludes_zero": bool(lo > 0 or hi < 0)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="predictions.csv of model A (taxoclass evaluate)")
    ap.add_argument("b", help="predictions.csv of model B, same images")
    ap.add_argument("--taxonomy", required=True, help="the taxonomy the mistake distances are measured on")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = paired_bootstrap(_read(args.a), _read(args.b), load_taxonomy(args.taxonomy), args.resamples, args.seed)
    print(json.dumps({"a": args.a, "b": args.b, **res}, indent=1))


if __name__ == "__main__":
    main()
