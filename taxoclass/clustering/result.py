"""The result of clustering a confusion matrix: :class:`ConfusionClustering` and its :class:`Merge` steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from taxoclass.exceptions import ClusteringError


class Merge(NamedTuple):
    """One step of the greedy algorithm: cluster ``m`` was merged into cluster ``n`` at similarity ``coefficient``.

    A cluster is named after its first class (in label order); ``size`` is the number of classes after the merge.
    """

    n: str
    m: str
    coefficient: float
    size: int


# ---------------------------------------------------------------------------------------------- result
@dataclass(eq=False)


class ConfusionClustering:
    """The result of :func:`cluster_confusion`.

    Attributes
    ----------
    labels : list of str
        Class names, in matrix order (classes dropped by ``drop_empty`` left out; see ``dropped``).
    clusters : list of list of str
        The partition: multi-class clusters first (largest first), then singletons; classes in label order.
    merges : list of Merge
        The merge sequence ``(n, m, coefficient, size)`` of the greedy method (empty for spectral).
    isolated_error : float
        Share of all off-diagonal confusion (of the row-normalised ``confusion``) that falls inside clusters:
        how much of the error the tree isolates (0.0 when there is no confusion at all).
    cluster_error : list of float
        Share of all off-diagonal confusion inside each cluster (sums to ``isolated_error``).
    confusion : ndarray
        ``C``, the row-normalised confusion matrix.
    similarity : ndarray
        ``S``, the symmetrised similarity (before thresholding at ``beta``; the diagonal is not used).

    Examples
    --------
    >>> from taxoclass.clustering import cluster_confusion
    >>> res = cluster_confusion([[90, 10, 0], [8, 92, 0], [0, 1, 99]], beta=0.005, symmetrize="hadamard",
    ...                         labels=["cat", "dog", "car"])
    >>> res.clusters
    [['cat', 'dog'], ['car']]
    >>> res.to_taxonomy().format_tree(show_counts=False).splitlines()
    ['root', '  cluster_1', '    cat', '    dog', '  car']
    """

    labels: list[str]
    clusters: list[list[str]]
    merges: list[Merge]
    isolated_error: float
    cluster_error: list[float]
    confusion: np.ndarray = field(repr=False)
    similarity: np.ndarray = field(repr=False)
    beta: float = 0.05
    symmetrize: str = "product"
    linkage: str = "sum"
    method: str = "greedy"
    max_cluster_size: int | None = None
    n_clusters: int | None = None
    dropped: list[str] = field(default_factory=list)

    @property
    def S(self) -> np.ndarray:
        """Alias of :attr:`similarity`."""
        return self.similarity

    @property
    def C(self) -> np.ndarray:
        """Alias of :attr:`confusion`."""
        return self.confusion

    @property
    def groups(self) -> list[list[str]]:
        """The clusters with two or more classes."""
        return [c for c in self.clusters if len(c) > 1]

    @property
    def cluster_of(self) -> dict[str, int]:
        """Class name -> position of its cluster in :attr:`clusters`."""
        return {name: k for k, cl in enumerate(self.clusters) for name in cl}

    def cluster_names(self, prefix: str = "cluster_") -> list[str | None]:
        """Node names of the clusters in :meth:`to_taxonomy` (``None`` for singletons)."""
        out, k = [], 0
        for cl in self.clusters:
            if len(cl) > 1:
                k += 1
                out.append(f"{prefix}{k}")
            else:
                out.append(None)
        return out

    def to_taxonomy(self, levels=1, *, root: str = "root", prefix: str = "cluster_"):
        """The clusters as a :class:`~taxoclass.Taxonomy`.

        ``levels=1``: root -> one node per multi-class cluster (``cluster_1``, ``cluster_2``, ...) -> its classes;
        singletons directly under the root. ``levels="all"``: the nested binary tree of the merge order inside each
        cluster (sub-nodes ``cluster_1.1``, ``cluster_1.2``, ...; greedy method only). Classes keep label order.

        >>> from taxoclass.clustering import cluster_confusion
        >>> res = cluster_confusion([[8, 2, 0], [3, 7, 0], [0, 1, 9]], beta=0.05, linkage="sum")
        >>> res.to_taxonomy("all").format_tree(show_counts=False).splitlines()
        ['root', '  cluster_1', '    cluster_1.1', '      0', '      1', '    2']
        """
        from taxoclass.taxonomy import Taxonomy

        if levels not in (1, "1", "all"):
            raise ClusteringError(f"levels={levels!r} is not valid; expected 1 (one level of clusters) or 'all' "
                                  "(the nested tree of the merge order).")
        if levels == "all" and self.method != "greedy":
            raise ClusteringError("levels='all' needs the merge order of method='greedy'; the spectral method "
                                  "only gives a flat partition: use levels=1.")
        names = self.cluster_names(prefix)
        paths: list[tuple[str, ...]] = []
        if levels == "all":
            # children of every internal node in the merge forest: node ids are class names (leaves) or merge ids
            index = {c: i for i, c in enumerate(self.labels)}
            top: dict[str, object] = {c: c for c in self.labels}  # representative -> current subtree
            for mg in self.merges:
                top[mg.n] = (top[mg.n], top.pop(mg.m))

            def walk(sub, prefix_path, name):
                if isinstance(sub, str):
                    paths.append(prefix_path + (sub,))
                    return
                here = prefix_path + (name,)
                for k, child in enumerate(sub, start=1):
                    walk(child, here, f"{name}.{k}")

            for cl, name in zip(self.clusters, names):
                sub = top[min(cl, key=index.__getitem__)]
                if name is None:
                    paths.append((cl[0],))
                else:
                    walk(sub, (), name)
        else:
            for cl, name in zip(self.clusters, names):
                paths.extend(((name, c) if name is not None else (c,)) for c in cl)
        internal = {p[k] for p in paths for k in range(len(p) - 1)} | {root}
        clash = sorted(internal & set(self.labels))
        if clash:
            raise ClusteringError(f"class name(s) {', '.join(map(repr, clash))} collide with the names of the "
                                  f"cluster nodes; choose another prefix (now {prefix!r}) or root name.")
        return Taxonomy.from_paths(paths, root=root, class_order=self.labels)

    def to_dict(self) -> dict:
        """A JSON-ready summary (what ``taxoclass cluster-confusion --format json`` prints)."""
        names = self.cluster_names()
        return {
            "beta": self.beta, "symmetrize": self.symmetrize, "linkage": self.linkage, "method": self.method,
            "max_cluster_size": self.max_cluster_size, "n_clusters": self.n_clusters,
            "n_classes": len(self.labels), "dropped": list(self.dropped),
            "clusters": [{"name": nm, "classes": list(cl), "size": len(cl), "error": round(float(e), 6)}
                         for cl, nm, e in zip(self.clusters, names, self.cluster_error)],
            "merges": [{"n": m.n, "m": m.m, "coefficient": round(float(m.coefficient), 6), "size": m.size}
                       for m in self.merges],
            "isolated_error": round(float(self.isolated_error), 6),
        }

    def summary(self) -> str:
        """Text report: one line per cluster (classes and internal confusion), then the isolated error."""
        lines = []
        for cl, nm, e in zip(self.clusters, self.cluster_names(), self.cluster_error):
            if nm is None:
                lines.append(f"{cl[0]}  (singleton)")
            else:
                lines.append(f"{nm}  ({len(cl)} classes, {100 * e:.1f}% of the error): " + ", ".join(cl))
        lines.append(f"isolated error: {100 * self.isolated_error:.1f}% of the off-diagonal confusion falls inside "
                     f"clusters ({_plural(len(self.groups), 'group')}, "
                     f"{_plural(len(self.clusters) - len(self.groups), 'singleton')}; "
                     + (f"beta={self.beta:g}, symmetrize={self.symmetrize}, linkage={self.linkage})"
                        if self.method == "greedy" else
                        f"spectral, n_clusters={self.n_clusters}, symmetrize={self.symmetrize})"))
        if self.dropped:
            lines.append(f"dropped (no images): {', '.join(self.dropped)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _plural(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _errors(C: np.ndarray, members: list[np.ndarray]) -> tuple[float, list[float]]:
    total = float(C.sum() - np.trace(C))
    if total <= 0:  # a perfect classifier: no error to isolate
        return 0.0, [0.0] * len(members)
    per = []
    for mem in members:
        if mem.size > 1:
            block = C[np.ix_(mem, mem)]
            per.append(float((block.sum() - np.trace(block)) / total))
        else:
            per.append(0.0)
    return float(sum(per)), per


def _order_clusters(cid: np.ndarray) -> list[np.ndarray]:
    """Members of each cluster (ascending): multi-class clusters first (largest first, then by first class), then
    singletons in class order."""
    order = np.argsort(cid, kind="stable")
    cuts = np.flatnonzero(np.diff(cid[order])) + 1
    groups = np.split(order, cuts)
    groups.sort(key=lambda g: (-g.size, int(g[0])))
    return groups
