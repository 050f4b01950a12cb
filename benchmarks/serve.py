"""``taxoclass serve`` under load vs offline ``taxoclass predict``, in the same run, on the same model; prints JSON.

The server runs in a subprocess on a free loopback port; clients post one image per request. For 1, 4 and 16
concurrent clients: throughput (requests/s = images/s), p50 and p99 latency, and how many model calls served
the requests (micro-batching). Offline: ``predict_job`` over a folder of the same kind of images.

    taskset -c 0 .venv/bin/python benchmarks/serve.py [--model M.taxoclass] [--requests 200]

Without --model, a tree on the NDSB taxonomy (121 classes, default trunk, 32 px gray) is built first (minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _scale_setup import demo_model, write_images  # noqa: E402


async def _load(url: str, blobs: list[bytes], n: int, clients: int) -> dict:
    import httpx

    lat = []
    sem = asyncio.Semaphore(clients)
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=clients)) as client:
        async def one(i):
            async with sem:
                t = time.perf_counter()
                r = await client.post(f"{url}/predict", files=[("files", (f"{i}.png", blobs[i % len(blobs)],
                                                                          "image/png"))])
                lat.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return {"clients": clients, "requests": n, "images_per_second": round(n / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def main() -> None:
    import httpx

    from serving_fixtures import start_server, stop_server, wait_until_up
    from taxoclass.jobs import predict_job
    from taxoclass.jobs.stream import ImageFiles

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--offline-images", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or demo_model(tmp / "ndsb.taxoclass")
        paths = write_images(tmp / "images", args.offline_images)
        blobs = [p.read_bytes() for p in paths[:64]]
        proc, url = start_server(model)
        try:
            wait_until_up(proc, url)  # the server idles while offline predict runs
            t = time.perf_counter()
            offline = predict_job(model, ImageFiles(folder=tmp / "images"), tmp / "p.csv")
            offline = {"images": offline["rows"], "images_per_second": round(offline["images_per_second"], 1),
                       "wall_seconds_with_model_load": round(time.perf_counter() - t, 1)}
            asyncio.run(_load(url, blobs, 32, 4))  # warm-up
            runs = []
            for clients in (1, 4, 16):
                before = httpx.get(f"{url}/health").json()
                n = args.requests if clients > 1 else max(args.requests // 4, 20)
                res = asyncio.run(_load(url, blobs, n, clients))
                after = httpx.get(f"{url}/health").json()
                res["model_calls"] = after["model_calls"] - before["model_calls"]
                runs.append(res)
        finally:
            stop_server(proc)
    print(json.dumps({"model": str(args.model or "NDSB tree, 121 classes, 32 px gray, default trunk"),
                      "offline_predict": offline, "serve": runs,
                      "note": "server and clients share one CPU core (taskset -c 0), contended"}, indent=1))


if __name__ == "__main__":
    main()
