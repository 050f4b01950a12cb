"""Input-pipeline throughput on the NDSB plankton folder at 64 px; prints JSON.

Measured in one run, on the same files:
- ``pil_loop``: a bare single-threaded PIL decode loop (open, decode, to RGB array) -- the baseline;
- ``check``: building the ImageSet (listing + the bad-file check: full PIL decode in a thread pool);
- ``first_pass``: one epoch of ``make_dataset(image_size=64, shuffle, batch 128, cache=True)`` from cold
  (read, decode, pad to square, resize, cache); ``cached``: the following epochs, from the in-memory cache;
- ``cached_augmented``: a cached epoch with the default augmentation (one random affine transform per image:
  rotation, flips, zoom, shift), for reference.

    .venv/bin/python benchmarks/data.py [--root ../shared/datasets/ndsb_plankton/images] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _epoch(ds) -> tuple[int, float]:
    t = time.perf_counter()
    n = 0
    for _, y in ds:
        n += int(y.shape[0])
    return n, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "datasets" / "ndsb_plankton" / "images"))
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images (quick runs)")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--cached-epochs", type=int, default=3)
    args = ap.parse_args(argv)

    from PIL import Image

    from taxoclass.data import ImageSet, make_dataset

    load_start = os.getloadavg()[0]
    t = time.perf_counter()
    listed = ImageSet.from_folder(args.root, check=False)
    list_s = time.perf_counter() - t
    if args.limit:
        listed = listed.subset(np.arange(min(args.limit, len(listed))))
    n = len(listed)
    paths = listed.paths

    t = time.perf_counter()
    data = listed.check()
    check_s = time.perf_counter() - t

    # baseline: bare single-threaded PIL decode loop
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            np.asarray(im.convert("RGB"))
    pil_s = time.perf_counter() - t

    import tensorflow as tf  # noqa: F401  (import cost kept out of the pipeline timings)

    ds = make_dataset(data, image_size=args.image_size, batch_size=args.batch_size, shuffle=True, seed=0,
                      cache=True, pad_value=255)
    n1, first_s = _epoch(ds)
    cached = [_epoch(ds)[1] for _ in range(args.cached_epochs)]
    aug = make_dataset(data, image_size=args.image_size, batch_size=args.batch_size, shuffle=True, seed=0,
                       cache=True, pad_value=255, augment=True)
    _epoch(aug)
    _, aug_s = _epoch(aug)
    assert n1 == n

    pil_rate = n / pil_s
    first_rate = n / first_s
    cached_rate = n / float(np.median(cached))
    out = {
        "dataset": str(args.root),
        "images": n,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load_start, 2),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "list_seconds": round(list_s, 3),
        "check_images_per_s": round(n / check_s, 1),
        "pil_loop_images_per_s": round(pil_rate, 1),
        "first_pass_images_per_s": round(first_rate, 1),
        "cached_images_per_s": round(cached_rate, 1),
        "cached_epochs_seconds": [round(c, 3) for c in cached],
        "cached_augmented_images_per_s": round(n / aug_s, 1),
        "first_pass_vs_pil_loop": round(first_rate / pil_rate, 2),
        "cached_vs_pil_loop": round(cached_rate / pil_rate, 2),
        "targets": {"first_pass_images_per_s": 1000, "cached_images_per_s": 3000},
        "meets_targets": bool(first_rate >= 1000 and cached_rate >= 3000),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
