"""Error-based hierarchies: cluster a confusion matrix into groups of classes that a model confuses.

When no taxonomy exists, or when the biological one does not match what the images show, the tree can be built
from a flat model's own mistakes: classes that are often confused go into one group, and that group later gets
its own specialist classifier. :func:`cluster_confusion` implements the greedy algorithm of the plankton study
(see ``docs/clustering.md``):

1. ``C`` is row-normalised: ``C[i, j]`` is the fraction of class-*i* images predicted as *j*.
2. It is symmetrised into a similarity ``S``: ``C @ C.T`` (``"product"``), ``C * C.T`` (``"hadamard"``) or
   ``(C + C.T) / 2`` (``"mean"``).
3. Off-diagonal entries ``S[i, j] <= beta`` are set to 0; the diagonal is ignored.
4. Repeatedly the largest positive entry ``S[n, m]`` is taken and cluster *m* is merged into cluster *n*, whose
   row/column becomes the linkage (``"sum"``, ``"mean"`` or ``"max"``) of the two; until no entry is positive.

The final partition equals the connected components of the graph ``{S > beta}`` (unless ``max_cluster_size``
forbids some merges); the merge order gives the nested structure inside each cluster.

The implementation is quadratic, not cubic: classes without any entry above ``beta`` are set aside at once, the
connected components of a sparse ``{S > beta}`` are processed separately, and within a component the
maximum of every row is cached, so each merge costs a few vectorised operations on one row.
"""

from __future__ import annotations

import csv
import heapq
import math
import numbers
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from taxoclass.exceptions import ClusteringError

__all__ = ["cluster_confusion", "sweep", "ConfusionClustering", "Merge", "load_confusion", "normalize_confusion",
           "symmetrize_confusion", "DEFAULT_SWEEP_BETAS"]

SYMMETRIZE = ("product", "hadamard", "mean")
LINKAGES = ("sum", "mean", "max")
METHODS = ("greedy", "spectral")

#: The betas that :func:`sweep` (and ``taxoclass cluster-confusion --sweep``) tries when none are given.
DEFAULT_SWEEP_BETAS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)


class Merge(NamedTuple):
    """One step of the greedy algorithm: cluster ``m`` was merged into cluster ``n`` at similarity ``coefficient``.

    A cluster is named after its first class (in label order); ``size`` is the number of classes after the merge.
    """

    n: str
    m: str
    coefficient: float
    size: int


# ---------------------------------------------------------------------------------------------- validation
def _check_choice(value, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ClusteringError(f"{name}={value!r} is not valid; expected one of: "
                              + ", ".join(repr(c) for c in choices) + ".")
    return value


def _check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(float(beta)) \
            or not 0.0 <= float(beta) <= 1.0:
        raise ClusteringError(f"beta={beta!r} is outside its range; expected a number between 0 and 1 (the share "
                              "of confusion you accept between two classes, e.g. 0.05).")
    return float(beta)


def _check_int(value, name: str, low: int, high: int | None = None, hint: str = "") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or (high is not None and value > high):
        rng = f"an integer >= {low}" if high is None else f"an integer between {low} and {high}"
        raise ClusteringError(f"{name}={value!r} is not valid; expected {rng}{hint}.")
    return int(value)


def _as_matrix(cm, labels) -> tuple[np.ndarray, list[str]]:
    """Validate a confusion matrix and its labels; return (float64 matrix, label list)."""
    if labels is None and hasattr(cm, "columns") and hasattr(cm, "to_numpy"):  # a pandas DataFrame
        labels = [str(c) for c in cm.columns]
        cm = cm.to_numpy()
    try:
        arr = np.asarray(cm)
    except Exception as exc:  # ragged nested lists and the like
        raise ClusteringError(f"the confusion matrix cannot be read as an array ({exc}); expected a square "
                              "table of numbers, classes x classes.") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ClusteringError(f"the confusion matrix holds {arr.dtype} values; expected numbers (counts or "
                              "fractions).")
    if arr.size == 0:
        raise ClusteringError("the confusion matrix is empty; expected a square table of counts, "
                              "classes x classes.")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ClusteringError(f"the confusion matrix has shape {arr.shape}; expected a square 2-D matrix "
                              "(true classes as rows, predicted classes as columns).")
    n = arr.shape[0]
    if n < 2:
        raise ClusteringError("the confusion matrix is 1 x 1; clustering needs at least 2 classes.")
    arr = arr.astype(np.float64, copy=False)  # never modified in place
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ClusteringError(f"the confusion matrix has {int(bad.sum())} NaN or infinite value(s), the first at "
                              f"row {i + 1}, column {j + 1}; expected finite counts or fractions.")
    neg = arr < 0
    if neg.any():
        i, j = np.argwhere(neg)[0]
        raise ClusteringError(f"the confusion matrix has {int(neg.sum())} negative value(s), the first "
                              f"{arr[i, j]:g} at row {i + 1}, column {j + 1}; expected counts or fractions >= 0.")
    if labels is None:
        labels = [str(k) for k in range(n)]
    else:
        if isinstance(labels, str):
            raise ClusteringError("labels must be a list of class names, not a single string.")
        labels = [str(x) for x in labels]
        if len(labels) != n:
            raise ClusteringError(f"{len(labels)} labels were given for a {n} x {n} confusion matrix; expected "
                                  f"one name per row/column ({n}).")
        seen: dict[str, int] = {}
        for k, lab in enumerate(labels):
            if not lab.strip():
                raise ClusteringError(f"label {k + 1} is empty; every class needs a name.")
            if lab in seen:
                raise ClusteringError(f"label {lab!r} occurs twice (positions {seen[lab] + 1} and {k + 1}); "
                                      "class names must be unique.")
            seen[lab] = k
    return arr, labels


def normalize_confusion(cm, *, labels=None, drop_empty: bool = False) -> tuple[np.ndarray, list[str], list[str]]:
    """Row-normalise a confusion matrix of counts (or fractions).

    Returns ``(C, kept_labels, dropped_labels)``: ``C[i, j]`` is the fraction of class-*i* images predicted as
    *j*. A row of zeros (a class never seen) is an error unless ``drop_empty=True``, which removes such classes
    (row and column; the fractions of the other classes stay relative to all their images).

    >>> C, kept, dropped = normalize_confusion([[8, 2, 0], [1, 9, 0], [0, 0, 0]], drop_empty=True)
    >>> C.tolist(), kept, dropped
    ([[0.8, 0.2], [0.1, 0.9]], ['0', '1'], ['2'])
    """
    arr, labels = _as_matrix(cm, labels)
    totals = arr.sum(axis=1)
    empty = np.flatnonzero(totals <= 0)
    dropped: list[str] = []
    if empty.size:
        names = [labels[i] for i in empty]
        if not drop_empty:
            shown = ", ".join(repr(x) for x in names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10
                                                               else "")
            raise ClusteringError(f"{len(names)} row(s) of the confusion matrix are all zeros (class never seen): "
                                  f"{shown}; expected every class to have images, or pass drop_empty=True "
                                  "(--drop-empty) to leave such classes out.")
        keep = np.flatnonzero(totals > 0)
        if keep.size < 2:
            raise ClusteringError(f"only {keep.size} class(es) have images once the empty rows are dropped; "
                                  "clustering needs at least 2.")
        dropped = names
        arr = arr / np.where(totals > 0, totals, 1.0)[:, None]
        arr = arr[np.ix_(keep, keep)]
        labels = [labels[i] for i in keep]
    else:
        arr = arr / totals[:, None]
    return arr, labels, dropped


def symmetrize_confusion(C: np.ndarray, mode: str = "product") -> np.ndarray:
    """The symmetric similarity ``S`` of a row-normalised confusion matrix ``C``.

    ``"product"``: ``C @ C.T`` (classes whose images go to the same places, including each other);
    ``"hadamard"``: ``C * C.T`` (only two-way confusion counts); ``"mean"``: ``(C + C.T) / 2``.
    Every mode gives values in [0, 1].

    >>> symmetrize_confusion(np.array([[0.8, 0.2], [0.4, 0.6]]), "hadamard").tolist()
    [[0.6400000000000001, 0.08000000000000002], [0.08000000000000002, 0.36]]
    """
    _check_choice(mode, "symmetrize", SYMMETRIZE)
    C = np.asarray(C, dtype=np.float64)
    if mode == "product":
        n = C.shape[0]
        if n >= 500 and np.count_nonzero(C) < 0.05 * n * n:
            # a real confusion matrix of many classes is mostly zeros: a sparse product is far cheaper
            from scipy.sparse import csr_matrix

            Cs = csr_matrix(C)
            S = (Cs @ Cs.T).toarray()
        else:
            S = C @ C.T
        S = (S + S.T) / 2  # exact symmetry despite rounding
    elif mode == "hadamard":
        S = C * C.T
    else:
        S = (C + C.T) / 2
    return S


# ---------------------------------------------------------------------------------------------- greedy core
def _greedy_component(W: np.ndarray, linkage: str, max_size: int | None):
    """Greedy merging on one block ``W`` (symmetric, zero diagonal, entries > 0 are edges). ``W`` is modified.

    Returns a list of (n, m, coefficient, size) in local indices; the surviving index of a cluster is always its
    smallest member, so the first row reaching the global maximum gives the pair.
    """
    k = W.shape[0]
    sizes = np.ones(k, dtype=np.int64)
    rowarg = W.argmax(axis=1)
    rowmax = W[np.arange(k), rowarg]
    merges = []
    while True:
        i = int(rowmax.argmax())
        best = float(rowmax[i])
        if best <= 0.0:
            break
        j = int(rowarg[i])
        n, m = (i, j) if i < j else (j, i)
        size = int(sizes[n] + sizes[m])
        if max_size is not None and size > max_size:
            # the pair can never merge (clusters only grow): take it out and refresh the two rows
            W[n, m] = W[m, n] = 0.0
            for r in (n, m):
                a = int(W[r].argmax())
                rowarg[r], rowmax[r] = a, W[r, a]
            continue
        row_n, row_m = W[n], W[m]
        if linkage == "sum":
            new = row_n + row_m
        elif linkage == "max":
            new = np.maximum(row_n, row_m)
        else:  # mean over all pairs of classes (UPGMA): size-weighted mean of the two rows
            new = (sizes[n] * row_n + sizes[m] * row_m) / size
        new[n] = new[m] = 0.0
        W[n] = new
        W[:, n] = new
        W[m] = 0.0
        W[:, m] = 0.0
        sizes[n] = size
        sizes[m] = 0
        merges.append((n, m, best, size))
        # rows whose cached maximum was in column n or m
        stale = (rowarg == n) | (rowarg == m)
        if linkage == "mean":
            # the new entry may be lower than the old maximum: recompute those rows
            idx = np.flatnonzero(stale)
            if idx.size:
                sub = W[idx]
                a = sub.argmax(axis=1)
                rowarg[idx] = a
                rowmax[idx] = sub[np.arange(idx.size), a]
            better = new > rowmax
        else:
            # sum / max: the new entry is >= both old entries, so it is the new maximum of a stale row
            better = stale | (new > rowmax)
        better &= sizes > 0
        rowarg[better] = n
        rowmax[better] = new[better]
        a = int(new.argmax())
        rowarg[n], rowmax[n] = a, new[a]
        rowarg[m], rowmax[m] = m, -1.0
        if max_size is not None and size >= max_size:
            # a full cluster can merge with nothing: take it out at once instead of refusing its pairs one by one
            W[n] = 0.0
            W[:, n] = 0.0
            rowarg[n], rowmax[n] = n, -1.0
            idx = np.flatnonzero(rowarg == n)
            idx = idx[idx != n]
            if idx.size:
                sub = W[idx]
                a = sub.argmax(axis=1)
                rowarg[idx] = a
                rowmax[idx] = sub[np.arange(idx.size), a]
    return merges


def _greedy(S: np.ndarray, beta: float, linkage: str, max_size: int | None):
    """Greedy clustering of the whole similarity matrix; returns (cluster id per class, merges in global ids)."""
    n = S.shape[0]
    W = np.where(S > beta, S, 0.0)  # beta >= 0 and S >= 0: the edges are exactly the positive entries
    np.fill_diagonal(W, 0.0)
    active = np.flatnonzero(W.any(axis=1))
    blocks: list[np.ndarray] = []
    if active.size:
        sub = W if active.size == n else W[np.ix_(active, active)]
        if np.count_nonzero(sub) <= 0.1 * active.size ** 2:
            from scipy.sparse import csr_matrix
            from scipy.sparse.csgraph import connected_components

            _, lab = connected_components(csr_matrix(sub), directed=False)
            order = np.argsort(lab, kind="stable")
            cuts = np.flatnonzero(np.diff(lab[order])) + 1
            blocks = [active[g] for g in np.split(order, cuts)]
        else:
            blocks = [active]
    per_block = []
    for block in blocks:
        Wb = W if block.size == n else W[np.ix_(block, block)]  # no copy when all classes form one block
        seq = [(int(block[a]), int(block[b]), coef, size) for a, b, coef, size in _greedy_component(Wb, linkage,
                                                                                                     max_size)]
        if seq:
            per_block.append(seq)
    # the order of one global greedy run: components are independent, so at every step the global maximum is the
    # next merge of the component whose next merge is largest (a k-way merge of the sequences, not a sort: with
    # sum linkage a later merge can have a larger coefficient than an earlier one of the same component)
    heap = [(-seq[0][2], seq[0][0], k, 0) for k, seq in enumerate(per_block)]
    heapq.heapify(heap)
    merges = []
    while heap:
        _, _, k, pos = heapq.heappop(heap)
        merges.append(per_block[k][pos])
        if pos + 1 < len(per_block[k]):
            nxt = per_block[k][pos + 1]
            heapq.heappush(heap, (-nxt[2], nxt[0], k, pos + 1))
    # cluster of each class = its representative (smallest member) after the merges
    rep = np.arange(n)
    for a, b, _, _ in merges:
        rep[b] = a
    for x in range(n):  # representatives have smaller indices, so one forward pass resolves the chains
        rep[x] = rep[rep[x]]
    return rep, merges


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


# ---------------------------------------------------------------------------------------------- public API
def cluster_confusion(cm, beta: float = 0.05, *, labels: Sequence[str] | None = None, symmetrize: str = "product",
                      linkage: str = "sum", max_cluster_size: int | None = None, method: str = "greedy",
                      n_clusters: int | None = None, drop_empty: bool = False,
                      random_state: int | None = 0) -> ConfusionClustering:
    """Group the classes that a model confuses, from its confusion matrix.

    Parameters
    ----------
    cm : array-like (n, n) or pandas DataFrame
        Confusion matrix, true classes as rows, predictions as columns; raw counts or fractions (rows are
        normalised). A DataFrame's columns give the labels.
    beta : float in [0, 1]
        Similarities ``S[i, j] <= beta`` are ignored: the confusion you accept between two classes.
    labels : sequence of str, optional
        Class names (default ``"0"``, ``"1"``, ...).
    symmetrize : {"product", "hadamard", "mean"}
        ``S = C @ C.T`` (default), ``C * C.T`` or ``(C + C.T) / 2``.
    linkage : {"sum", "mean", "max"}
        Similarity of a merged cluster to the others: the sum, the mean (over all class pairs, UPGMA) or the
        maximum of the similarities of its classes.
    max_cluster_size : int, optional
        Never build a cluster of more classes than this.
    method : {"greedy", "spectral"}
        The greedy algorithm above, or scikit-learn's spectral clustering of the affinity ``S`` (off-diagonal,
        not thresholded) into ``n_clusters`` clusters, as in HD-CNN.
    n_clusters : int, optional
        Number of clusters for ``method="spectral"`` (required there).
    drop_empty : bool
        Leave out classes whose row is all zeros instead of raising :class:`ClusteringError`.
    random_state : int, optional
        Seed of the spectral method.

    Returns
    -------
    ConfusionClustering

    Examples
    --------
    >>> cm = [[80, 15, 5, 0], [20, 75, 5, 0], [0, 5, 90, 5], [0, 0, 2, 98]]
    >>> res = cluster_confusion(cm, beta=0.1, labels=["shirt", "coat", "bag", "boot"], symmetrize="mean")
    >>> res.clusters
    [['shirt', 'coat'], ['bag'], ['boot']]
    >>> round(res.isolated_error, 3)  # (0.15 + 0.20) / (0.15 + 0.05 + 0.20 + 0.05 + 0.05 + 0.05 + 0.02)
    0.614
    """
    beta = _check_beta(beta)
    _check_choice(symmetrize, "symmetrize", SYMMETRIZE)
    _check_choice(linkage, "linkage", LINKAGES)
    _check_choice(method, "method", METHODS)
    max_cluster_size = _check_int(max_cluster_size, "max_cluster_size", 1)
    C, names, dropped = normalize_confusion(cm, labels=labels, drop_empty=drop_empty)
    n = len(names)
    S = symmetrize_confusion(C, symmetrize)
    merges: list[Merge] = []
    if method == "greedy":
        if n_clusters is not None:
            raise ClusteringError("n_clusters is only used by method='spectral'; the greedy method finds the number "
                                  "of clusters from beta (use sweep() / --sweep to choose beta).")
        rep, raw = _greedy(S, beta, linkage, max_cluster_size)
        members = _order_clusters(rep)
        merges = [Merge(names[a], names[b], float(c), int(s)) for a, b, c, s in raw]
    else:
        n_clusters = _check_int(n_clusters, "n_clusters", 1, n, hint=" (method='spectral' needs n_clusters=K)")
        if n_clusters is None:
            raise ClusteringError("method='spectral' needs n_clusters=K (--n-clusters K), the number of clusters "
                                  f"to find, between 1 and {n}.")
        if max_cluster_size is not None:
            raise ClusteringError("max_cluster_size is only honoured by method='greedy'; drop it or use the greedy "
                                  "method.")
        A = S.copy()
        np.fill_diagonal(A, 0.0)
        if n_clusters == 1:
            labels_ = np.zeros(n, dtype=np.int64)
        elif n_clusters == n:
            labels_ = np.arange(n)
        else:
            if not (A > 0).any():
                raise ClusteringError("the confusion matrix has no off-diagonal confusion: spectral clustering has "
                                      "no affinity to work on.")
            from sklearn.cluster import SpectralClustering

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*not fully connected.*")
                labels_ = SpectralClustering(n_clusters=n_clusters, affinity="precomputed",
                                             random_state=random_state, assign_labels="cluster_qr").fit(A).labels_
        members = _order_clusters(np.asarray(labels_))
    clusters = [[names[i] for i in mem] for mem in members]
    iso, per = _errors(C, members)
    return ConfusionClustering(labels=names, clusters=clusters, merges=merges, isolated_error=iso,
                               cluster_error=per, confusion=C, similarity=S, beta=beta, symmetrize=symmetrize,
                               linkage=linkage, method=method, max_cluster_size=max_cluster_size,
                               n_clusters=n_clusters if method == "spectral" else None, dropped=list(dropped))


def sweep(cm, betas: Iterable[float] | None = None, **kwargs) -> list[dict]:
    """Cluster for a range of ``beta`` values: the table a user needs to choose beta.

    Returns one dict per beta with ``beta``, ``n_clusters`` (singletons included), ``n_groups`` (clusters of two
    or more classes), ``largest`` (classes in the largest cluster), ``singletons`` and ``isolated_error``.
    Other keyword arguments go to :func:`cluster_confusion` (greedy method only).

    >>> cm = [[80, 15, 5, 0], [20, 75, 5, 0], [0, 5, 90, 5], [0, 0, 2, 98]]
    >>> [(r["beta"], r["n_clusters"], r["largest"]) for r in sweep(cm, [0.01, 0.05, 0.2], symmetrize="mean")]
    [(0.01, 1, 4), (0.05, 3, 2), (0.2, 4, 1)]
    """
    if kwargs.get("method", "greedy") != "greedy":
        raise ClusteringError("sweep varies beta, which only the greedy method uses; drop method='spectral'.")
    betas = DEFAULT_SWEEP_BETAS if betas is None else list(betas)
    if not betas:
        raise ClusteringError("sweep needs at least one beta value.")
    rows = []
    for b in betas:
        res = cluster_confusion(cm, b, **kwargs)
        sizes = [len(c) for c in res.clusters]
        rows.append({"beta": float(b), "n_clusters": len(sizes), "n_groups": sum(s > 1 for s in sizes),
                     "largest": max(sizes), "singletons": sum(s == 1 for s in sizes),
                     "isolated_error": round(res.isolated_error, 6)})
    return rows


# ---------------------------------------------------------------------------------------------- reading files
def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank, non-comment rows of a delimited text file, with their line numbers."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ClusteringError(f"{path}: not a UTF-8 text file; save the table as UTF-8 text.") from None
    lines = [(k, ln) for k, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ClusteringError(f"{path}: the file is empty; expected a square table of counts or a predictions table "
                              "with 'true' and 'pred' columns.")
    first = lines[0][1]
    preferred = {".tsv": "\t", ".csv": ","}.get(path.suffix.lower())
    if preferred and preferred in first:
        delim = preferred
    else:
        delim = next((d for d in ("\t", ",", ";") if d in first), None)
    if delim is None:
        return [(k, ln.split()) for k, ln in lines]
    rows = csv.reader([ln for _, ln in lines], delimiter=delim)
    return [(k, [c.strip() for c in row]) for (k, _), row in zip(lines, rows)]


def _order_labels(names: list[str], labels: list[str] | None, path: Path) -> tuple[list[str], np.ndarray | None]:
    """Check file names against --labels; return (labels, permutation from file order to label order)."""
    if labels is None:
        return names, None
    if len(labels) != len(names):
        raise ClusteringError(f"{path}: {len(names)} classes in the file but {len(labels)} labels were given; "
                              "expected one label per class.")
    if names == labels:
        return labels, None
    missing = [x for x in labels if x not in set(names)]
    extra = [x for x in names if x not in set(labels)]
    if missing or extra:
        raise ClusteringError(f"{path}: the class names in the file differ from the labels: "
                              + (f"not in the file: {', '.join(missing[:10])}" if missing else "")
                              + ("; " if missing and extra else "")
                              + (f"not in the labels: {', '.join(extra[:10])}" if extra else "")
                              + "; expected the same classes (or leave out --labels).")
    pos = {x: k for k, x in enumerate(names)}
    return labels, np.array([pos[x] for x in labels])


def _matrix_from_predictions(rows, path: Path, labels: list[str] | None) -> tuple[np.ndarray, list[str]]:
    header = [c.strip().lower() for c in rows[0][1]]
    ti, pi = header.index("true"), header.index("pred")
    true, pred = [], []
    for line, row in rows[1:]:
        if len(row) <= max(ti, pi) or not row[ti] or not row[pi]:
            raise ClusteringError(f"{path}, line {line}: missing 'true' or 'pred' value; expected both on every "
                                  "row.")
        true.append(row[ti])
        pred.append(row[pi])
    if not true:
        raise ClusteringError(f"{path}: the predictions table has a header but no rows; expected one row per image.")
    values = set(true) | set(pred)
    if labels is not None:
        if values <= set(labels):
            names = labels
        elif all(v.lstrip("-").isdigit() for v in values):
            bad = sorted({v for v in values if not 0 <= int(v) < len(labels)}, key=int)
            if bad:
                raise ClusteringError(f"{path}: label index(es) {', '.join(bad[:10])} are outside 0..{len(labels) - 1}"
                                      f" ({len(labels)} labels given); expected indices into the labels file.")
            names = labels
            true = [labels[int(v)] for v in true]
            pred = [labels[int(v)] for v in pred]
        else:
            unknown = sorted(values - set(labels))
            raise ClusteringError(f"{path}: {len(unknown)} class(es) of the predictions are not in the labels: "
                                  f"{', '.join(unknown[:10])}; expected names (or indices) from the labels file.")
    elif all(v.lstrip("-").isdigit() for v in values):
        names = sorted(values, key=int)
    else:
        names = sorted(values)
    index = {x: k for k, x in enumerate(names)}
    cm = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(cm, (np.array([index[v] for v in true]), np.array([index[v] for v in pred])), 1)
    return cm, names


def load_confusion(path, *, labels: Sequence[str] | str | Path | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Read a confusion matrix from a file; returns ``(matrix, class names or None)``.

    Accepted: ``.npy`` (a square array); ``.csv`` / ``.tsv`` / ``.txt`` tables of numbers with or without a
    header row and/or a first column of class names; or a predictions table with ``true`` and ``pred`` columns
    (one row per image), from which the matrix is counted. ``labels`` (a list or a ``classes.txt`` file, line *i*
    = class *i*) names the classes; names in the file must then be the same classes (the matrix is reordered to
    follow ``labels``), and a predictions table may hold class indices.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "preds.csv"
    >>> _ = p.write_text("true,pred\\ncat,cat\\ncat,dog\\ndog,dog\\n")
    >>> cm, names = load_confusion(p)
    >>> cm.tolist(), names
    ([[1, 1], [0, 1]], ['cat', 'dog'])
    """
    path = Path(path)
    if isinstance(labels, (str, Path)):
        from taxoclass.taxonomy.io import read_classes

        labels = read_classes(labels)
    elif labels is not None:
        labels = [str(x) for x in labels]
    if not path.exists():
        raise ClusteringError(f"{path}: no such file; expected a confusion matrix (.npy, .csv, .tsv) or a "
                              "predictions table.")
    if not path.is_file():
        raise ClusteringError(f"{path} is not a file; expected a confusion matrix (.npy, .csv, .tsv).")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ClusteringError(f"{path}: not a readable .npy array ({str(exc).splitlines()[0]}); expected a "
                                  "square numeric array saved with numpy.save.") from None
        if labels is not None and arr.ndim == 2 and arr.shape[0] == arr.shape[1] and len(labels) != arr.shape[0]:
            raise ClusteringError(f"{path}: {len(labels)} labels were given for a {arr.shape[0]} x {arr.shape[1]} "
                                  "matrix; expected one label per class.")
        return arr, labels
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ClusteringError(f"{path}: unknown file type {suffix or '(none)'!r}; expected .npy, .csv, .tsv or .txt.")
    rows = _read_rows(path)
    head = [c.strip().lower() for c in rows[0][1]]
    if "true" in head and "pred" in head:
        return _matrix_from_predictions(rows, path, labels)
    has_header_row = len(rows[0][1]) > 1 and not any(_is_number(c) for c in rows[0][1][1:])
    if len(rows[0][1]) == 1 and not _is_number(rows[0][1][0]):
        has_header_row = True
    body = rows[1:] if has_header_row else rows
    if not body:
        raise ClusteringError(f"{path}: only a header row, no numbers; expected a square table of counts.")
    first_cells = [r[0] if r else "" for _, r in body]
    has_header_col = all(c and not _is_number(c) for c in first_cells)
    col_names = first_cells if has_header_col else None
    values = [(line, r[1:] if has_header_col else r) for line, r in body]
    width = len(values[0][1])
    for line, r in values:
        if len(r) != width:
            raise ClusteringError(f"{path}, line {line}: {len(r)} values but the first row has {width}; expected "
                                  "every row to have the same number of columns.")
    arr = np.empty((len(values), width), dtype=np.float64)
    for a, (line, r) in enumerate(values):
        for b, cell in enumerate(r):
            try:
                arr[a, b] = float(cell)
            except ValueError:
                raise ClusteringError(f"{path}, line {line}, column {b + 1 + has_header_col}: {cell!r} is not a "
                                      "number; expected counts or fractions (class names only in the first row "
                                      "and column).") from None
    names = None
    if has_header_row:
        head_raw = rows[0][1]
        if len(head_raw) == width + 1:
            head_raw = head_raw[1:]  # corner cell
        if len(head_raw) != width:
            raise ClusteringError(f"{path}, line {rows[0][0]}: {len(head_raw)} class names in the header but "
                                  f"{width} columns of numbers; expected one name per column.")
        names = list(head_raw)
    if col_names is not None:
        if names is not None and names != col_names:
            raise ClusteringError(f"{path}: the class names of the header row and of the first column differ "
                                  f"(e.g. {next(f'{x!r} vs {y!r}' for x, y in zip(names, col_names) if x != y)}); "
                                  "expected the same classes in the same order.")
        names = col_names
    if names is not None:
        if arr.shape[0] != arr.shape[1]:
            raise ClusteringError(f"{path}: the table is {arr.shape[0]} x {arr.shape[1]}; expected a square "
                                  "matrix (true classes as rows, predicted classes as columns).")
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise ClusteringError(f"{path}: class name(s) {', '.join(map(repr, dup))} occur twice in the header; "
                                  "class names must be unique.")
        names, perm = _order_labels(names, labels, path)
        if perm is not None:
            arr = arr[np.ix_(perm, perm)]
        return arr, names
    return arr, labels
