"""Thresholded predictions: the deepest node of the tree a model is sure of."""

from __future__ import annotations


import numpy as np

from taxoclass.exceptions import TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy
from taxoclass.metrics.inputs import _check_proba, _check_taxonomy, _Structure


def threshold_predictions(y_proba, taxonomy: Taxonomy, threshold: float = 0.5) -> list[tuple]:
    r"""The deepest node each sample is confidently assigned to.

    A node's probability is the sum of its classes' probabilities. Starting at the root, descend to the most probable
    child while that child's probability is at least ``threshold``; return the node where the descent stops (a path
    tuple; the root when even the top level is uncertain). With ``threshold > 0.5`` at most one child can qualify,
    so the result is the deepest node whose probability reaches the threshold. Feed the result to
    :func:`hierarchical_precision_recall_f1` or ``evaluate_predictions(..., y_pred=...)``.

    >>> from taxoclass import Taxonomy
    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> threshold_predictions([[0.45, 0.45, 0.1], [0.9, 0.05, 0.05]], tax, 0.6)
    [('root', 'a'), ('root', 'a', 'x')]
    """
    tax = _check_taxonomy(taxonomy)
    if not (isinstance(threshold, (int, float, np.floating)) and 0.0 <= float(threshold) <= 1.0):
        raise TaxoclassError(f"threshold must be a number between 0 and 1, got {threshold!r}.")
    P = _check_proba(y_proba, tax, None)
    st = _Structure(tax)
    n_nodes = len(tax.nodes)
    # membership (classes x nodes): class c is under node v
    member = np.zeros((tax.n_classes, n_nodes), dtype=np.float64)
    for d in range(st.max_depth + 1):
        a = st.anc[st.leaf_node, d]
        ok = a >= 0
        member[np.arange(tax.n_classes)[ok], a[ok]] = 1.0
    node_p = P @ member  # (N, n_nodes)
    children = [[] for _ in range(n_nodes)]
    for v in range(1, n_nodes):
        children[int(st.anc[v, st.depth[v] - 1])].append(v)
    cur = np.zeros(len(P), dtype=np.int64)
    active = np.ones(len(P), dtype=bool)
    rows = np.arange(len(P))
    for _ in range(st.max_depth):
        nxt = cur.copy()
        for v in np.unique(cur[active]):
            kids = np.asarray(children[v])
            if kids.size == 0:
                continue
            sel = rows[active & (cur == v)]
            probs = node_p[np.ix_(sel, kids)]
            best = probs.argmax(axis=1)
            go = probs[np.arange(len(sel)), best] >= threshold
            nxt[sel[go]] = kids[best[go]]
        active &= nxt != cur
        cur = nxt
        if not active.any():
            break
    return [tax.nodes[v] for v in cur]
