"""Trees derived from a :class:`~taxoclass.taxonomy.Taxonomy` (subtree, pruning) and its text drawing.

A mixin that :class:`~taxoclass.taxonomy.Taxonomy` inherits; use the methods on a taxonomy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from taxoclass.exceptions import ClassMismatchError, TaxonomyError

if TYPE_CHECKING:
    from taxoclass.taxonomy.tree import NodeRef, Taxonomy


class TaxonomyDerived:
    """Derived trees and display of :class:`~taxoclass.taxonomy.Taxonomy`."""

    # ------------------------------------------------------------------ derived trees
    def leaf_paths(self, *, include_root: bool | None = None) -> list[tuple[str, ...]]:
        """Root-to-leaf name paths in class order; the artificial root is left out unless asked for."""
        keep_root = (not self.artificial_root) if include_root is None else include_root
        return [p if keep_root else p[1:] for p in self.leaves]

    def subtree(self, ref: NodeRef) -> "Taxonomy":
        """The subtree rooted at a node, as a new Taxonomy (class order preserved).

        >>> from taxoclass import Taxonomy
        >>> Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]]).subtree("a").classes
        ('x', 'y')
        """
        node = self._nodes[self._resolve(ref)]
        k = len(node) - 1
        paths = [p[k:] for p in self.leaves if p[:k + 1] == node]
        return self.from_paths(paths, source=self.source)

    def prune(self, classes: Iterable[str], *, collapse: bool = False) -> "Taxonomy":
        """Keep only ``classes`` (dropping emptied branches); ``collapse=True`` also removes single-child
        internal nodes below the root (their child takes their place).

        >>> from taxoclass import Taxonomy
        >>> t = Taxonomy.from_paths([["a", "b", "x"], ["a", "b", "y"], ["c", "z"]])
        >>> t.prune(["x", "y"]).classes
        ('x', 'y')
        >>> [n[-1] for n in t.prune(["x", "z"], collapse=True).nodes]
        ['root', 'x', 'z']
        """
        keep = list(dict.fromkeys(classes))
        unknown = [c for c in keep if c not in self._class_index]
        if unknown:
            raise ClassMismatchError(f"cannot prune to classes that are not in the taxonomy: {', '.join(unknown)}.")
        if not keep:
            raise TaxonomyError("prune needs at least one class to keep.")
        keep_set = set(keep)
        paths = [p for p in self.leaves if p[-1] in keep_set]
        if collapse:
            counts: dict[tuple, set] = {}
            for p in paths:
                for k in range(1, len(p)):
                    counts.setdefault(p[:k], set()).add(p[:k + 1])
            new_paths = []
            for p in paths:
                q = [p[0]] + [p[k] for k in range(1, len(p)) if k == len(p) - 1 or len(counts[p[:k + 1]]) > 1]
                new_paths.append(tuple(q))
            paths = new_paths
        order = [c for c in self._classes if c in keep_set]
        # keep the root even if it ends up with a single child
        return self.from_paths(paths, class_order=order, source=self.source, root=self.root[-1]) \
            if self.artificial_root else self.from_paths(paths, class_order=order, source=self.source)

    # ------------------------------------------------------------------ display
    def format_tree(self, *, max_depth: int | None = None, show_counts: bool = True) -> str:
        """An indented text drawing of the tree (leaf counts under internal nodes).

        >>> from taxoclass import Taxonomy
        >>> print(Taxonomy.from_paths([["a", "x"], ["a", "y"]]).format_tree())
        a  (2 classes, height 1)
          x
          y
        """
        n_leaves = np.zeros(len(self._nodes), dtype=np.int64)
        for i in range(len(self._nodes) - 1, -1, -1):
            if not self._children[i]:
                n_leaves[i] = 1
            if i > 0:
                n_leaves[self._parent[i]] += n_leaves[i]
        lines = []
        stack = [0]
        while stack:
            i = stack.pop()
            d = int(self._depth[i])
            if max_depth is not None and d > max_depth:
                continue
            name = self._nodes[i][-1]
            if self._children[i]:
                extra = (f"  ({n_leaves[i]} class{'es' if n_leaves[i] != 1 else ''}, height {int(self._height[i])})"
                         if show_counts else "")
                if max_depth is not None and d == max_depth:
                    extra = f"  ({n_leaves[i]} class{'es' if n_leaves[i] != 1 else ''} below)"
                lines.append("  " * d + name + extra)
            else:
                lines.append("  " * d + name)
            stack.extend(reversed(self._children[i]))
        return "\n".join(lines)
