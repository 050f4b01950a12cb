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

from taxoclass.clustering.algorithm import (DEFAULT_SWEEP_BETAS, LINKAGES, METHODS,  # noqa: F401
                                            cluster_confusion, sweep)
from taxoclass.clustering.choice import default_max_group, error_clustering
from taxoclass.clustering.files import load_confusion
from taxoclass.clustering.matrix import SYMMETRIZE, normalize_confusion, symmetrize_confusion  # noqa: F401
from taxoclass.clustering.result import ConfusionClustering, Merge

__all__ = ["cluster_confusion", "sweep", "ConfusionClustering", "Merge", "load_confusion", "normalize_confusion",
           "symmetrize_confusion", "DEFAULT_SWEEP_BETAS", "error_clustering", "default_max_group"]
