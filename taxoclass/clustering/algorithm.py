"""The public clustering entry points: :func:`cluster_confusion` and :func:`sweep`."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from taxoclass.clustering.greedy import _greedy
from taxoclass.clustering.matrix import (SYMMETRIZE, _check_beta, _check_choice, _check_int, normalize_confusion,
                                         symmetrize_confusion)
from taxoclass.clustering.result import ConfusionClustering, Merge, _errors, _order_clusters
from taxoclass.exceptions import ClusteringError

__all__ = ["cluster_confusion", "sweep", "DEFAULT_SWEEP_BETAS"]

LINKAGES = ("sum", "mean", "max")
METHODS = ("greedy", "spectral")

#: The betas that :func:`sweep` (and ``taxoclass cluster-confusion --sweep``) tries when none are given.
DEFAULT_SWEEP_BETAS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)


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
