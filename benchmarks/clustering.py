"""Timings of ``taxoclass.cluster_confusion`` on 1,000 and 5,000 classes; prints JSON.

Two kinds of confusion matrix:

- ``realistic``: classes in groups of 1-15 look-alikes; every class has 20-2,000 images (log-uniform), 60-95 %
  accuracy, 80 % of its errors inside its group and the rest on a few random classes, counts drawn from a
  multinomial (so most entries are 0, as in a real matrix).
- ``dense``: every entry a random count 1-10 plus a large diagonal, clustered at beta=0: every pair is an edge,
  one component of all classes, n-1 merges over a full matrix -- the worst case of the greedy algorithm.

Each case also times the naive cubic loop (argmax over the whole matrix at every merge) on a 1,000-class
sub-problem in the same run, for the ratio. When ``../shared/datasets/fashion_mnist`` exists, the output also
holds the clusters of a real confusion matrix: PCA(30) + logistic regression trained on 6,000 Fashion-MNIST
images, tested on the 10,000 test images (no TensorFlow). Run:
``.venv/bin/python benchmarks/clustering.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from taxoclass.data import ImageSet
from taxoclass.clustering import cluster_confusion, normalize_confusion, symmetrize_confusion


def realistic_cm(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, 16)))
    sizes[-1] -= sum(sizes) - n
    group = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(group)
    members = [np.flatnonzero(group == g) for g in range(len(sizes))]
    cm = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        n_img = int(np.exp(rng.uniform(np.log(20), np.log(2000))))
        acc = rng.uniform(0.6, 0.95)
        p = np.zeros(n)
        mates = members[group[i]][members[group[i]] != i]
        far = rng.choice(n, size=5, replace=False)
        if mates.size:
            p[mates] += 0.8 * (1 - acc) * rng.dirichlet(np.ones(mates.size))
            p[far] += 0.2 * (1 - acc) * rng.dirichlet(np.ones(5))
        else:
            p[far] += (1 - acc) * rng.dirichlet(np.ones(5))
        p[i] += acc
        p /= p.sum()
        cm[i] = rng.multinomial(n_img, p)
    return cm


def dense_cm(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cm = rng.integers(1, 11, size=(n, n)).astype(np.float64)
    cm[np.diag_indices(n)] += 10 * n
    return cm


def naive_greedy(S: np.ndarray, beta: float) -> int:
    """The textbook loop (sum linkage): argmax over the whole matrix at every merge. Returns the merge count."""
    W = np.where(S > beta, S, 0.0)
    np.fill_diagonal(W, 0.0)
    merges = 0
    while True:
        k = int(W.argmax())
        n, m = divmod(k, W.shape[0])
        if W[n, m] <= 0:
            return merges
        new = W[n] + W[m]
        new[n] = new[m] = 0
        W[n], W[:, n] = new, new
        W[m], W[:, m] = 0, 0
        merges += 1



def fashion_mnist() -> dict | None:
    """Clusters of the confusion matrix of a small model on the real Fashion-MNIST (None without the data)."""
    shared = Path(os.environ.get("TAXOCLASS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    root = shared / "datasets" / "fashion_mnist"
    if not root.is_dir():
        return None
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    n = 6000
    train = ImageSet.from_idx(root / "train-images-idx3-ubyte.gz", root / "train-labels-idx1-ubyte.gz")
    held_out = ImageSet.from_idx(root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz")
    X = train.array[:n].reshape(n, -1).astype(np.float32) / 255
    y = train.encode()[:n]
    Xt = held_out.array.reshape(len(held_out), -1).astype(np.float32) / 255
    yt = held_out.encode()
    names = list(train.classes)
    with threadpool_limits(limits=1):
        model = make_pipeline(PCA(30, random_state=0), StandardScaler(), LogisticRegression(max_iter=500))
        pred = model.fit(X, y).predict(Xt)
    cm = confusion_matrix(yt, pred, labels=range(10))
    out = {"model": "PCA(30) + LogisticRegression, 6000 train / 10000 test images",
           "accuracy": round(float((pred == yt).mean()), 4), "confusion_matrix": cm.tolist(), "classes": names}
    for beta in (0.05, 0.1):
        res = cluster_confusion(cm, beta, classes=names)
        out[f"beta={beta}"] = {"groups": res.groups, "singletons": [c[0] for c in res.clusters if len(c) == 1],
                               "isolated_error": round(res.isolated_error, 4)}
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 classes only")
    args = ap.parse_args()
    sizes = [1000] if args.quick else [1000, 5000]
    results = []
    configs = [("product", "sum", None), ("product", "mean", None), ("product", "max", None),
               ("hadamard", "sum", None), ("product", "sum", 20)]
    for n in sizes:
        for kind, cm, beta in [("realistic", realistic_cm(n), 0.05), ("realistic", realistic_cm(n), 0.01),
                               ("dense", dense_cm(n), 0.0)]:
            for sym, link, max_size in configs:
                sec, res = timed(lambda: cluster_confusion(cm, beta, symmetrize=sym, linkage=link,
                                                           max_cluster_size=max_size),
                                 repeat=3 if n <= 1000 else 1)
                results.append({"n_classes": n, "matrix": kind, "beta": beta, "symmetrize": sym, "linkage": link,
                                "max_cluster_size": max_size, "seconds": round(sec, 3),
                                "n_clusters": len(res.clusters), "n_groups": len(res.groups),
                                "largest": max(map(len, res.clusters)), "merges": len(res.merges),
                                "isolated_error": round(res.isolated_error, 4)})
        # same-run ratio against the naive cubic loop (sum linkage, product symmetrisation)
        naive_cases = [("realistic", realistic_cm(n), 0.01)] if n == 1000 else []
        for kind, cm, beta in naive_cases + [("dense", dense_cm(n), 0.0)]:
            C, _, _ = normalize_confusion(cm)
            S = symmetrize_confusion(C, "product")
            t_naive, merges = timed(lambda: naive_greedy(S, beta), repeat=1)
            t_fast, res = timed(lambda: cluster_confusion(cm, beta), repeat=3 if n <= 1000 else 1)
            assert merges == len(res.merges)
            results.append({"n_classes": n, "matrix": kind, "beta": beta, "comparison": "naive loop (merging only)",
                            "naive_seconds": round(t_naive, 3), "seconds": round(t_fast, 3),
                            "speedup": round(t_naive / t_fast, 1), "merges": merges})
    print(json.dumps({"benchmark": "cluster_confusion", "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "targets": {"1000": "< 1 s", "5000": "< 30 s"}, "results": results,
                      "fashion_mnist": fashion_mnist()}, indent=1))


if __name__ == "__main__":
    main()
