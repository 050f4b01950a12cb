"""Thresholded predictions: the deepest node of the tree a model is sure of."""

from __future__ import annotations

from taxoclass.metrics.inputs import _check_proba, _check_taxonomy
from taxoclass.taxonomy.tree import Taxonomy


def threshold_predictions(y_proba, taxonomy: Taxonomy, threshold: float = 0.5) -> list[tuple]:
    r"""The node each sample is confidently assigned to, as path tuples.

    The rule is :meth:`Taxonomy.threshold <taxoclass.taxonomy.arrays.TaxonomyArrays.threshold>` (the one rule of
    taxoclass): a node's probability is the sum of its classes' probabilities; starting at the root, descend to the
    most probable child while that child's probability is at least ``threshold``; return the node where the descent
    stops (the root when even the top level is uncertain). With ``threshold > 0.5`` at most one child can qualify,
    so the result is the deepest node whose probability reaches the threshold. Feed the result to
    :func:`hierarchical_precision_recall_f1` or ``evaluate_predictions(..., y_pred=...)``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> threshold_predictions([[0.45, 0.45, 0.1], [0.9, 0.05, 0.05]], tax, 0.6)
    [('root', 'a'), ('root', 'a', 'x')]
    """
    tax = _check_taxonomy(taxonomy)
    P = _check_proba(y_proba, tax, None)
    return [tax.nodes[v] for v in tax.threshold(P, threshold)]
