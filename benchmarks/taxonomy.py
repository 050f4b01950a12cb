"""Taxonomy performance: load + validate a random 50,000-node TSV, and lca / distance queries per second.

Run: ``.venv/bin/python benchmarks/taxonomy.py [--nodes 50000] [--queries 200000] [--repeats 3]``; prints JSON.
Targets (issue 2): load + validate < 2 s; >= 100,000 lca / distance queries per second after the first call.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taxoclass.taxonomy import Taxonomy, load_taxonomy, save_taxonomy  # noqa: E402  (repo checkout without install)


def random_taxonomy(n_nodes: int, max_depth: int = 8, seed: int = 0) -> Taxonomy:
    """A random tree of ``n_nodes`` nodes (root included): each new node hangs under a random earlier node of depth
    < max_depth; names repeat across the tree (e.g. 'n17' under several parents) but leaves are made unique."""
    rng = random.Random(seed)
    parent = [-1]
    depth = [0]
    eligible = [0]
    for i in range(1, n_nodes):
        p = eligible[rng.randrange(len(eligible))]
        parent.append(p)
        depth.append(depth[p] + 1)
        if depth[i] < max_depth:
            eligible.append(i)
    has_child = [False] * n_nodes
    for p in parent[1:]:
        has_child[p] = True
    name = [f"n{rng.randrange(n_nodes // 4)}" for _ in range(n_nodes)]
    paths = []
    for i in range(1, n_nodes):
        if not has_child[i]:
            name[i] = f"class_{i}"
            p, j = [], i
            while j > 0:
                p.append(name[j])
                j = parent[j]
            paths.append(p[::-1])
    # sibling internal nodes with the same random name would merge; that only makes the tree a little smaller
    return Taxonomy.from_paths(paths, root="life")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    tax = random_taxonomy(args.nodes)
    classes = list(tax.classes)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "random.tsv"
        t0 = time.perf_counter()
        save_taxonomy(tax, path)
        write_s = time.perf_counter() - t0
        size = path.stat().st_size
        load_times, load_cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            loaded = load_taxonomy(path, classes=classes)  # parse + build + every structural check + class check
            load_times.append(time.perf_counter() - t0)
            load_cpu.append(time.process_time() - c0)
    assert loaded == tax

    rng = random.Random(1)
    pairs = [(rng.choice(classes), rng.choice(classes)) for _ in range(args.queries)]
    rates = {}
    for label, fn in (("lca", loaded.lca), ("distance", loaded.distance), ("lca_height", loaded.lca_height)):
        fn(*pairs[0])  # first call (caches)
        t0, c0 = time.perf_counter(), time.process_time()
        for a, b in pairs:
            fn(a, b)
        rates[label] = args.queries / (time.perf_counter() - t0)
        rates[label + "_cpu"] = args.queries / (time.process_time() - c0)
    # vectorised alternative for metrics: the class x class matrices (on a 2,000-class subtree)
    sub = loaded.prune(classes[:2000])
    t0 = time.perf_counter()
    sub.leaf_matrices()
    matrices_s = time.perf_counter() - t0

    load_s = statistics.median(load_times)
    result = {
        "benchmark": "taxonomy",
        "nodes": len(loaded), "classes": loaded.n_classes, "height": loaded.height, "tsv_bytes": size,
        "write_tsv_s": round(write_s, 3),
        "load_validate_s_median": round(load_s, 3), "load_validate_s_all": [round(t, 3) for t in load_times],
        "load_validate_cpu_s_median": round(statistics.median(load_cpu), 3),
        "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
        "lca_per_s": round(rates["lca"]), "distance_per_s": round(rates["distance"]),
        "lca_height_per_s": round(rates["lca_height"]),
        "per_cpu_s": {k[:-4]: round(v) for k, v in rates.items() if k.endswith("_cpu")},
        "leaf_matrices_2000_classes_s": round(matrices_s, 3),
        "targets": {"load_validate_s": 2.0, "queries_per_s": 100_000},
        "meets_targets": bool(load_s < 2.0 and min(rates["lca"], rates["distance"]) >= 100_000),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
