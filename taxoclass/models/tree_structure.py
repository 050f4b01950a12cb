"""The fixed arrays a tree model needs, derived once from a :class:`~taxoclass.taxonomy.Taxonomy`."""

from __future__ import annotations

import numpy as np

from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy import Taxonomy

__all__ = ["TreeStructure"]


class TreeStructure:
    """The fixed arrays a tree model needs, derived once from a :class:`Taxonomy`.

    - ``classifier_nodes``: the K nodes with >= 2 children, pre-order (parents before children);
    - ``n_children[k]``; ``edge_matrix`` (E x L, E = sum of ``n_children``): 1 where edge (node k -> child j) lies
      on the path of leaf l; ``targets`` (L x K): index of the child of node k on leaf l's path, -1 when leaf l is
      not under node k; ``levels[k]``: depth of node k (root = 0);
    - ``next_classifier[k][j]``: the classifier node reached from child j of node k through single-child
      chains, or -1 when that path ends in a leaf without another decision.

    >>> s = TreeStructure(Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]]))
    >>> s.n_children, s.targets.tolist()
    ([2, 2], [[0, 0], [0, 1], [1, -1]])
    """

    def __init__(self, taxonomy: Taxonomy):
        tax = taxonomy
        if tax.n_classes < 2:
            raise TaxonomyError(f"a tree model needs at least 2 classes, the taxonomy has {tax.n_classes}.")
        self.taxonomy = tax
        nodes = list(tax.nodes)
        self.classifier_nodes = list(tax.classifier_nodes)
        K, L = len(self.classifier_nodes), tax.n_classes
        self.cls_index = {n: k for k, n in enumerate(self.classifier_nodes)}
        self.children = [tax.children(n) for n in self.classifier_nodes]
        self.n_children = [len(c) for c in self.children]
        self.levels = np.array([len(n) - 1 for n in self.classifier_nodes], dtype=np.int32)
        self.n_levels = max(int(tax.height), 1)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_children)]).astype(np.int64)
        E = int(self.offsets[-1])
        self.edge_matrix = np.zeros((E, L), dtype=np.float32)
        self.targets = np.full((L, K), -1, dtype=np.int32)
        for li, leaf in enumerate(tax.leaves):
            for d in range(len(leaf) - 1):
                k = self.cls_index.get(leaf[:d + 1])
                if k is None:
                    continue
                j = self.children[k].index(leaf[:d + 2])
                self.targets[li, k] = j
                self.edge_matrix[self.offsets[k] + j, li] = 1.0

        def below(node):  # follow single-child chains down to the next decision
            while True:
                kids = tax.children(node)
                if len(kids) >= 2:
                    return self.cls_index[node]
                if not kids:
                    return -1
                node = kids[0]

        self.entry = below(tax.root)
        self.next_classifier = [[below(c) for c in ch] for ch in self.children]
        # node tables for walking paths in numpy: the taxonomy's own cached arrays
        self.nodes = nodes
        self.child_table = tax.child_table
        self.node_cls = np.array([self.cls_index.get(n, -1) for n in nodes], dtype=np.int64)
        self.is_leaf = tax.class_of_node >= 0
        self.leaf_paths = tax.ancestor_table[tax.leaf_nodes]  # (L, height + 1) node indices, -1 past the leaf
        self.leaf_pos = tax.class_of_node
        self.ancestors = tax.membership  # (L x n_nodes): P(node) = P(leaves) @ ancestors
        self.names = np.array([n[-1] for n in nodes], dtype=object)

    def path_smoothing(self, label_smoothing: float) -> float:
        """The label smoothing of each node that smooths a path of :meth:`mean_path_classifiers` nodes by
        ``label_smoothing`` in all: ``1 - (1 - label_smoothing) ** (1 / mean_path_classifiers())`` (the true leaf
        keeps the product of its nodes' ``1 - e``).

        >>> round(TreeStructure(Taxonomy.from_paths([["a", "x"], ["a", "y"]])).path_smoothing(0.19), 4)
        0.19
        """
        return float(1.0 - (1.0 - float(label_smoothing)) ** (1.0 / self.mean_path_classifiers()))

    def soft_paths(self, proba):
        """(N, height+1) node indices on the path of each row's most probable leaf (-1 past it) and their path
        probabilities (the sum of the node's leaves' probabilities)."""
        proba = np.asarray(proba, dtype=np.float64)
        nodes = self.leaf_paths[np.argmax(proba, axis=1)]
        node_p = proba @ self.ancestors
        return nodes, np.where(nodes >= 0, np.take_along_axis(node_p, np.maximum(nodes, 0), axis=1), np.nan)

    def greedy_paths(self, choice, cprob):
        """The top-down paths of the greedy decisions: ``choice`` (N, K) child index chosen at each classifier
        node (-1 where not evaluated) and ``cprob`` (N, K) its conditional probability -> (N, height+1) node
        indices (-1 past the leaf) and path probabilities (products of the conditional probabilities)."""
        n, H = len(choice), self.n_levels
        rows = np.arange(n)
        nodes = np.full((n, H + 1), -1, dtype=np.int64)
        probs = np.full((n, H + 1), np.nan)
        cur = np.zeros(n, dtype=np.int64)
        p = np.ones(n)
        nodes[:, 0], probs[:, 0] = 0, 1.0
        for d in range(1, H + 1):
            active = ~self.is_leaf[cur]
            if not active.any():
                break
            k = self.node_cls[cur]
            j = np.where(k >= 0, choice[rows, np.maximum(k, 0)], 0)
            p = np.where(active & (k >= 0), p * cprob[rows, np.maximum(k, 0)], p)
            cur = np.where(active, self.child_table[cur, np.maximum(j, 0)], cur)
            nodes[active, d] = cur[active]
            probs[active, d] = p[active]
        return nodes, probs

    def path_ends(self, nodes, probs, threshold=None):
        """Per row the node a path answers with: its last node (``threshold=None``), else the deepest node on it
        whose path probability is >= ``threshold`` (the root when none is) -- the greedy mode's form of the one
        threshold rule, on the probabilities that mode computes."""
        rows = np.arange(len(nodes))
        if threshold is None:
            return nodes[rows, (nodes >= 0).sum(axis=1) - 1]
        ok = (nodes >= 0) & (probs >= threshold - 1e-9)
        ok[:, 0] = True
        return nodes[rows, ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)]

    def path_frame(self, nodes, probs):
        """The paths as a ``pandas.DataFrame``: columns ``level_1``, ``p_level_1``, ... (the node at each depth
        below the root and its path probability; empty past the leaf)."""
        import pandas as pd

        data = {}
        for d in range(1, nodes.shape[1]):
            col = nodes[:, d]
            data[f"level_{d}"] = np.where(col >= 0, self.names[np.maximum(col, 0)], None)
            data[f"p_level_{d}"] = probs[:, d]
        return pd.DataFrame(data)

    @property
    def n_classifiers(self) -> int:
        return len(self.classifier_nodes)

    def mean_path_classifiers(self, weights=None) -> float:
        """Average number of classifier nodes on a root-to-leaf path (weighted by ``weights`` per class).

        >>> TreeStructure(Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])).mean_path_classifiers()  # 2, 2, 1
        1.6666666666666667
        """
        per_leaf = (self.targets >= 0).sum(axis=1)
        return float(np.average(per_leaf, weights=weights))
