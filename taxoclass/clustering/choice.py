"""Choosing beta (and the largest group) for an error-based tree, so that the tree does not degenerate.

A fixed ``beta`` fails on a weak model with many classes: its confusion is spread so widely that every class is
linked to every other one, and ``beta = 0.05`` put all 102 classes of a flower collection into ONE group (the
"error tree" was then the flat model with an extra level). :func:`error_clustering` instead runs the
:func:`~taxoclass.clustering.sweep` and keeps the ``beta`` that isolates the most confusion inside groups while no
group holds more than :func:`default_max_group` classes.

Why ``max(5, 2 * sqrt(n))``: a two-level tree splits an n-way decision into a root decision among about
``sqrt(n)`` groups and group decisions among about ``sqrt(n)`` classes each, the split that keeps every decision
smallest; twice that leaves room for uneven confusion, and 5 keeps small problems groupable. A group of all the
classes is never allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from taxoclass.clustering.algorithm import DEFAULT_SWEEP_BETAS, cluster_confusion
from taxoclass.clustering.matrix import _as_matrix
from taxoclass.clustering.result import ConfusionClustering

__all__ = ["error_clustering", "default_max_group"]


def default_max_group(n_classes: int) -> int:
    """The largest group an automatically chosen error tree may have: ``max(5, round(2 * sqrt(n)))``, and always
    fewer than all ``n`` classes.

    >>> default_max_group(121), default_max_group(10), default_max_group(4)
    (22, 6, 3)
    """
    return max(min(max(5, round(2 * math.sqrt(n_classes))), n_classes - 1), 1)


def error_clustering(cm, classes: Sequence[str] | None = None, *, beta: float | None = None,
                     max_cluster_size: int | None = None, betas: Iterable[float] | None = None,
                     drop_empty: bool = False, progress: Callable[[str], None] | None = None,
                     **kwargs) -> ConfusionClustering:
    """Cluster a confusion matrix for an error-based tree; ``beta=None`` chooses beta from the sweep.

    With ``beta`` given it is used as is (an override; ``max_cluster_size`` caps the groups if given). Otherwise
    every beta of ``betas`` (default :data:`DEFAULT_SWEEP_BETAS`) is tried without a cap, and the one with the
    highest ``isolated_error`` that forms groups, the largest with at most ``max_cluster_size`` (default
    :func:`default_max_group`) classes, wins (the larger beta on a tie: the same confusion with fewer merges). When
    no beta gives such groups, the best beta under the cap (``max_cluster_size`` passed to the clustering) is
    taken. ``progress`` receives one line describing the choice. Other keyword arguments go to
    :func:`cluster_confusion`.

    >>> cm = [[8, 2, 0, 0], [2, 8, 0, 0], [0, 0, 9, 1], [0, 0, 1, 9]]
    >>> res = error_clustering(cm, ["a", "b", "c", "d"])
    >>> res.clusters, res.beta
    ([['a', 'b'], ['c', 'd']], 0.15)
    """
    say = progress or (lambda _m: None)
    if beta is not None:
        res = cluster_confusion(cm, beta, classes=classes, max_cluster_size=max_cluster_size, drop_empty=drop_empty,
                                **kwargs)
        say(f"error-based tree: beta={beta} (given): {_describe(res)}")
        return res
    n = len(_as_matrix(cm, classes)[0])
    cap = default_max_group(n) if max_cluster_size is None else int(max_cluster_size)
    betas = sorted(DEFAULT_SWEEP_BETAS if betas is None else betas)
    runs = [cluster_confusion(cm, b, classes=classes, drop_empty=drop_empty, **kwargs) for b in betas]
    fitting = [r for r in runs if 1 < max(len(c) for c in r.clusters) <= cap]  # groups, none too large
    how = f"chosen from the sweep: most confusion inside groups of at most {cap} classes"
    if not fitting:
        runs = [cluster_confusion(cm, b, classes=classes, drop_empty=drop_empty, max_cluster_size=cap, **kwargs)
                for b in betas]
        fitting, how = runs, f"chosen from the sweep with groups capped at {cap} classes (no beta kept them smaller)"
    best = max(fitting, key=lambda r: (round(r.isolated_error, 9), r.beta))
    say(f"error-based tree: beta={best.beta} ({how}; --beta overrides): {_describe(best)}")
    return best


def _describe(res: ConfusionClustering) -> str:
    groups = [len(c) for c in res.clusters if len(c) > 1]
    return (f"{len(groups)} group(s) of {', '.join(map(str, sorted(groups, reverse=True))) or '-'} classes, "
            f"{sum(len(c) == 1 for c in res.clusters)} single classes, isolated error {res.isolated_error:.3f}")
