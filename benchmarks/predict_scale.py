"""Streaming prediction at scale: peak resident memory and images/s of ``taxoclass predict`` at 10k and 100k
generated images, soft vs greedy, on a tree over the NDSB plankton taxonomy; prints JSON.

The images (small gray PNGs) are generated into a temporary folder and deleted after. Each run is a separate
``taxoclass predict --csv LIST`` process, so its peak resident set size (``ru_maxrss``) is its own; images/s is
the job's own rate (model loading excluded), from its last progress line.

    taskset -c 0 .venv/bin/python benchmarks/predict_scale.py [--model M.taxoclass] [--sizes 10000,100000]

Without --model, the tree (121 classes, default trunk, 32 px gray) is built first (minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale_setup import demo_model, write_images  # noqa: E402


def _run(model: Path, listing: Path, out: Path, mode: str, chunk: int) -> dict:
    cmd = [sys.executable, "-m", "taxoclass.cli.main", "predict", str(model), "--csv", str(listing), "--mode", mode,
           "--threshold", "0.8", "--chunk-size", str(chunk), "-o", str(out), "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"predict failed: {err[-2000:]}")
    rates = re.findall(r"([\d,]+) img/s", err)
    return {"mode": mode, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "images_per_second": float(rates[-1].replace(",", "")) if rates else None,
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--modes", default="soft,greedy")
    ap.add_argument("--chunk-size", type=int, default=1024)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or demo_model(tmp / "ndsb.taxoclass")
        t = time.perf_counter()
        paths = write_images(tmp / "images", max(sizes))
        made = round(time.perf_counter() - t, 1)
        for n in sizes:
            listing = tmp / f"list_{n}.csv"
            listing.write_text("file\n" + "".join(f"{p}\n" for p in paths[:n]))
            for mode in modes:
                res = _run(model, listing, tmp / f"p_{n}_{mode}.csv", mode, args.chunk_size)
                res["images"] = n
                runs.append(res)
                print(json.dumps(res), file=sys.stderr, flush=True)
    rss = {(r["images"], r["mode"]): r["peak_rss_mb"] for r in runs}
    ratio = {m: round(rss[(max(sizes), m)] / rss[(min(sizes), m)], 3) for m in modes}
    print(json.dumps({"model": str(args.model or "NDSB tree, 121 classes, 32 px gray, default trunk"),
                      "chunk_size": args.chunk_size, "images_generated_seconds": made, "runs": runs,
                      f"peak_rss_ratio_{max(sizes)}_vs_{min(sizes)}": ratio,
                      "cpus_allowed": len(os.sched_getaffinity(0))}, indent=1))


if __name__ == "__main__":
    main()
