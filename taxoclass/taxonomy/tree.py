"""The :class:`Taxonomy`: an immutable rooted tree of classes.

Nodes are identified by their **path**: a tuple of names from the root to the node, root included, e.g.
``("root", "animal", "bird", "bird")``. The same name may therefore appear in several places (CIFAR-10's
``animal/bird/bird``) and still be two distinct nodes. Wherever a node is expected you may pass:

- its path as a tuple or list (with or without the root's name),
- a class (leaf) name,
- any node name that occurs once in the tree,
- a ``/``-joined path string (``"animal/bird"``).

Classes are the leaves. Their order -- the order of class indices used by models, metrics and predictions -- is
the order in which the source listed them (for a TSV with a ``label`` column that is label order), unless a
``class_order`` is given; :meth:`Taxonomy.with_class_order` reorders them, e.g. to follow a ``classes.txt``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Union

import networkx as nx
import numpy as np

from taxoclass.exceptions import ClassMismatchError, TaxonomyError
from taxoclass.taxonomy.arrays import TaxonomyArrays
from taxoclass.taxonomy.construction import ARTIFICIAL_ROOT, Node, TaxonomyConstructors, _fmt
from taxoclass.taxonomy.derived import TaxonomyDerived

NodeRef = Union[str, Sequence[str]]

__all__ = ["Taxonomy", "Node", "ARTIFICIAL_ROOT"]


def _first(names: Sequence[str], n: int = 5) -> str:
    """The first ``n`` names, then how many there are in all (messages stay one readable line)."""
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


class Taxonomy(TaxonomyConstructors, TaxonomyDerived, TaxonomyArrays):
    """An immutable rooted tree whose leaves are the classes.

    Build one with :meth:`from_paths`, :meth:`from_edges`, :meth:`from_nested` or read a file with
    :func:`taxoclass.load_taxonomy`.

    Examples
    --------
    >>> tax = Taxonomy.from_paths([["animal", "cat"], ["animal", "dog"], ["vehicle", "car"]])
    >>> tax.classes
    ('cat', 'dog', 'car')
    >>> tax.root
    ('root',)
    >>> tax.lca("cat", "dog")
    ('root', 'animal')
    >>> tax.distance("cat", "car")
    4
    """

    # ------------------------------------------------------------------ construction
    def __init__(self, nodes: Sequence[Node], parents: Sequence[int], *, class_order: Sequence[str] | None = None,
                 artificial_root: bool = False, source: str | None = None):
        """Low-level constructor; prefer :meth:`from_paths` / :meth:`from_edges` / :meth:`from_nested`.

        ``nodes`` are paths (tuples) in pre-order with the root first; ``parents[i]`` is the index of the parent of
        ``nodes[i]`` (-1 for the root).
        """
        self._nodes: tuple[Node, ...] = tuple(tuple(n) for n in nodes)
        self._parent = np.asarray(parents, dtype=np.int64)
        self.artificial_root = bool(artificial_root)
        self.source = source
        if not self._nodes:
            raise TaxonomyError(f"{source or 'taxonomy'}: the tree is empty; expected at least one class.")
        self._index = {n: i for i, n in enumerate(self._nodes)}
        n = len(self._nodes)
        parent_list = self._parent.tolist()  # plain ints: the loops below run once per node
        children: list[list[int]] = [[] for _ in range(n)]
        for i in range(1, n):
            children[parent_list[i]].append(i)
        self._children = tuple(map(tuple, children))
        self._depth = np.fromiter(map(len, self._nodes), dtype=np.int64, count=n) - 1
        # heights: longest downward path to a leaf (pre-order => children come after parents)
        height = [0] * n
        for i in range(n - 1, 0, -1):
            p = parent_list[i]
            if height[i] >= height[p]:
                height[p] = height[i] + 1
        self._height = np.array(height, dtype=np.int64)
        leaf_idx = [i for i in range(n) if not children[i]]
        # class names must be unique among leaves
        by_name: dict[str, list[int]] = {}
        for i in leaf_idx:
            by_name.setdefault(self._nodes[i][-1], []).append(i)
        dups = {k: v for k, v in by_name.items() if len(v) > 1}
        if dups:
            desc = "; ".join(f"'{k}' at " + ", ".join(_fmt(self._nodes[i]) for i in v) for k, v in dups.items())
            raise TaxonomyError(
                f"{source or 'taxonomy'}: class names must be unique among leaves, but {desc}. "
                "Rename the leaves so that each class has its own name (e.g. 'other_fish', 'other_copepod')."
            )
        leaf_of_name = {self._nodes[i][-1]: i for i in leaf_idx}
        if class_order is None:
            order = [self._nodes[i][-1] for i in leaf_idx]
        else:
            order = list(class_order)
            self._check_same(order, list(leaf_of_name), what="class_order")
        self._classes = tuple(order)
        self._class_index = {c: k for k, c in enumerate(self._classes)}
        self._leaf_node_idx = np.array([leaf_of_name[c] for c in self._classes], dtype=np.int64)
        self._class_node = {c: leaf_of_name[c] for c in self._classes}  # fast path of _resolve (plain ints)
        self._leaf_set = frozenset(leaf_idx)
        # name -> node indices, for resolving references
        names: dict[str, list[int]] = {}
        for i, p in enumerate(self._nodes):
            names.setdefault(p[-1], []).append(i)
        self._by_name = names
        self._joined = {_fmt(p): i for i, p in enumerate(self._nodes)}
        self._graph = None
        self._leaf_matrices = None

    # ------------------------------------------------------------------ basic properties
    @property
    def root(self) -> Node:
        """The root node (a path tuple of length 1)."""
        return self._nodes[0]

    @property
    def classes(self) -> tuple[str, ...]:
        """Class (leaf) names in class-index order."""
        return self._classes

    @property
    def n_classes(self) -> int:
        """Number of classes (leaves)."""
        return len(self._classes)

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node, in pre-order (root first, children in source order)."""
        return self._nodes

    @property
    def leaves(self) -> list[Node]:
        """Leaf nodes in class-index order."""
        return [self._nodes[i] for i in self._leaf_node_idx]

    @property
    def internal_nodes(self) -> list[Node]:
        """Internal (non-leaf) nodes in pre-order."""
        return [n for i, n in enumerate(self._nodes) if self._children[i]]

    @property
    def classifier_nodes(self) -> list[Node]:
        """Internal nodes with two or more children: the nodes that need a classifier, in pre-order."""
        return [n for i, n in enumerate(self._nodes) if len(self._children[i]) >= 2]

    @property
    def height(self) -> int:
        """Height of the tree: the longest root-to-leaf path, in edges."""
        return int(self._height[0])

    @property
    def graph(self) -> nx.DiGraph:
        """A frozen networkx DiGraph (parent -> child) over the path-tuple nodes, with ``name`` attributes."""
        if self._graph is None:
            g = nx.DiGraph()
            for i, n in enumerate(self._nodes):
                g.add_node(n, name=n[-1], depth=int(self._depth[i]))
            g.add_edges_from((self._nodes[int(self._parent[i])], self._nodes[i]) for i in range(1, len(self._nodes)))
            self._graph = nx.freeze(g)
        return self._graph

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self):
        return iter(self._nodes)

    def __contains__(self, ref) -> bool:
        try:
            self._resolve(ref)
        except TaxonomyError:
            return False
        return True

    def __eq__(self, other) -> bool:
        """Two taxonomies are equal when they have the same nodes, edges, root and class order."""
        if not isinstance(other, Taxonomy):
            return NotImplemented
        return (self._classes == other._classes and set(self._nodes) == set(other._nodes)
                and self.root == other.root)

    def __hash__(self):
        return hash((self._classes, frozenset(self._nodes)))

    def __repr__(self) -> str:
        return (f"Taxonomy(root={self.root[-1]!r}, classes={self.n_classes}, nodes={len(self._nodes)}, "
                f"height={self.height})")

    # ------------------------------------------------------------------ resolving references
    def _resolve(self, ref) -> int:
        if type(ref) is str:
            i = self._class_node.get(ref)
            if i is not None:
                return i
        if isinstance(ref, (np.integer,)):
            ref = int(ref)
        if isinstance(ref, str):
            if ref in self._class_index:
                return int(self._leaf_node_idx[self._class_index[ref]])
            hits = self._by_name.get(ref)
            if hits and len(hits) == 1:
                return hits[0]
            if hits:
                raise TaxonomyError(
                    f"node name {ref!r} is ambiguous: it occurs at "
                    + ", ".join(repr(_fmt(self._nodes[i])) for i in hits)
                    + "; pass the path instead, e.g. " + repr(_fmt(self._nodes[hits[0]])) + ".")
            if ref in self._joined:
                return self._joined[ref]
            rooted = _fmt(self.root) + "/" + ref
            if rooted in self._joined:
                return self._joined[rooted]
            raise TaxonomyError(f"no node {ref!r} in the taxonomy; expected a class name, a unique node name or a "
                                f"'/'-joined path (classes: {self._preview()}).")
        if isinstance(ref, (tuple, list)):
            t = tuple(ref)
            if t in self._index:
                return self._index[t]
            if self.root + t in self._index:
                return self._index[self.root + t]
            raise TaxonomyError(f"no node with path {'/'.join(map(str, t))!r} in the taxonomy; a path lists the "
                                f"names from the root ({self.root[-1]!r}) down to the node.")
        raise TaxonomyError(f"cannot use {ref!r} as a taxonomy node: expected a name, a path tuple or a "
                            "'/'-joined path string.")

    def _preview(self, n: int = 8) -> str:
        cs = list(self._classes[:n])
        more = f", ... ({self.n_classes} in all)" if self.n_classes > n else ""
        return ", ".join(cs) + more

    def node(self, ref: NodeRef) -> Node:
        """Resolve a reference (name, path tuple or '/'-path) to its node path.

        >>> Taxonomy.from_paths([["a", "x"], ["b", "y"]]).node("x")
        ('root', 'a', 'x')
        """
        return self._nodes[self._resolve(ref)]

    @staticmethod
    def name(node: Node) -> str:
        """Display name of a node (the last element of its path)."""
        return node[-1]

    # ------------------------------------------------------------------ classes
    def class_index(self, name: str) -> int:
        """Index of a class name.

        >>> Taxonomy.from_paths([["a", "x"], ["b", "y"]]).class_index("y")
        1
        """
        try:
            return self._class_index[name]
        except KeyError:
            raise TaxonomyError(f"unknown class {name!r}; expected one of: {self._preview()}.") from None

    def index_to_class(self, index: int) -> str:
        """Class name of a class index."""
        return self._classes[int(index)]

    def check_classes(self, classes: Iterable[str], *, source: str = "the data") -> None:
        """Raise :class:`ClassMismatchError` unless ``classes`` are exactly the taxonomy's classes.

        The message lists every class missing on either side.
        """
        self._check_same(list(classes), list(self._classes), what=source)

    def _check_same(self, given: list, ours: list, *, what: str) -> None:
        g, o = set(map(str, given)), set(map(str, ours))
        not_in_tax = sorted(g - o)
        not_in_data = sorted(o - g)
        dup = sorted({c for c in given if given.count(c) > 1}) if len(given) != len(g) else []
        if not_in_tax or not_in_data or dup:
            parts = []
            src = self.source or "the taxonomy"
            if not_in_tax:
                parts.append(f"{len(not_in_tax)} class(es) in {what} but not in {src}: {_first(not_in_tax)}")
            if not_in_data:
                parts.append(f"{len(not_in_data)} class(es) in {src} but not in {what}: {_first(not_in_data)}")
            if dup:
                parts.append(f"duplicated in {what}: {_first(dup)}")
            hint = (" (train --prune, or taxoclass taxonomy prune TREE --classes ...)"
                    if not_in_data and not not_in_tax and not dup else "")
            raise ClassMismatchError("; ".join(parts) + ". Make the class lists match (fix the names, add the "
                                     f"missing classes to the taxonomy, or prune it to the classes you have{hint}).")

    def with_class_order(self, classes: Sequence[str]) -> "Taxonomy":
        """A copy whose class indices follow ``classes`` (e.g. a ``classes.txt``); same tree.

        >>> Taxonomy.from_paths([["a", "x"], ["b", "y"]]).with_class_order(["y", "x"]).classes
        ('y', 'x')
        """
        return Taxonomy(self._nodes, self._parent, class_order=list(classes), artificial_root=self.artificial_root,
                        source=self.source)

    # ------------------------------------------------------------------ structure queries
    def is_leaf(self, ref: NodeRef) -> bool:
        """True when the node is a class."""
        return self._resolve(ref) in self._leaf_set

    def parent(self, ref: NodeRef) -> Node | None:
        """Parent node, or ``None`` for the root."""
        p = int(self._parent[self._resolve(ref)])
        return None if p < 0 else self._nodes[p]

    def children(self, ref: NodeRef) -> list[Node]:
        """Children in source order."""
        return [self._nodes[i] for i in self._children[self._resolve(ref)]]

    def ancestors(self, ref: NodeRef) -> list[Node]:
        """Ancestors from the root down to the parent (the node itself excluded)."""
        node = self._nodes[self._resolve(ref)]
        return [node[:k] for k in range(1, len(node))]

    def path(self, ref: NodeRef) -> list[Node]:
        """Nodes from the root down to (and including) the node.

        >>> [n[-1] for n in Taxonomy.from_paths([["a", "x"], ["b", "y"]]).path("x")]
        ['root', 'a', 'x']
        """
        node = self._nodes[self._resolve(ref)]
        return [node[:k] for k in range(1, len(node) + 1)]

    def lineage(self, ref: NodeRef) -> list[str]:
        """Names from the top of the tree down to the node, without an artificial root."""
        node = self._nodes[self._resolve(ref)]
        return list(node[1:] if self.artificial_root else node)

    def depth(self, ref: NodeRef) -> int:
        """Depth of a node (root = 0)."""
        return int(self._depth[self._resolve(ref)])

    def node_height(self, ref: NodeRef) -> int:
        """Height of a node: the longest downward path from it to a leaf (leaves = 0)."""
        return int(self._height[self._resolve(ref)])

    def descendants(self, ref: NodeRef) -> list[Node]:
        """Every node below ``ref`` (pre-order)."""
        i = self._resolve(ref)
        out, stack = [], list(reversed(self._children[i]))
        while stack:
            j = stack.pop()
            out.append(self._nodes[j])
            stack.extend(reversed(self._children[j]))
        return out

    def classes_under(self, ref: NodeRef) -> list[str]:
        """Class names in the subtree of ``ref`` (in class order)."""
        node = self._nodes[self._resolve(ref)]
        k = len(node)
        return [c for c, li in zip(self._classes, self._leaf_node_idx) if self._nodes[li][:k] == node]

    def lca(self, a: NodeRef, b: NodeRef) -> Node:
        """Lowest common ancestor of two nodes.

        >>> Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]]).lca("x", "y")
        ('root', 'a')
        """
        na, nb = self._nodes[self._resolve(a)], self._nodes[self._resolve(b)]
        k = 0
        m = min(len(na), len(nb))
        while k < m and na[k] == nb[k]:
            k += 1
        return na[:k]

    def distance(self, a: NodeRef, b: NodeRef) -> int:
        """Number of edges on the tree path between two nodes."""
        na, nb = self._nodes[self._resolve(a)], self._nodes[self._resolve(b)]
        k = 0
        m = min(len(na), len(nb))
        while k < m and na[k] == nb[k]:
            k += 1
        return len(na) + len(nb) - 2 * k

    def lca_height(self, a: NodeRef, b: NodeRef) -> int:
        """Height of the LCA of two nodes (0 when a == b for leaves): the mistake severity of Bertinetto et al."""
        return int(self._height[self._index[self.lca(a, b)]])

    def leaf_matrices(self) -> dict[str, np.ndarray]:
        """Class x class matrices (class order): ``distance``, ``lca_depth`` and ``lca_height``.

        Vectorised, cached; the basis of hierarchical metrics.
        """
        if self._leaf_matrices is None:
            anc = self.ancestor_table[self._leaf_node_idx]  # (classes, height + 1): each class's path
            eq = (anc[:, None, :] == anc[None, :, :]) & (anc[:, None, :] >= 0)
            common = np.cumprod(eq, axis=2).sum(axis=2)  # number of shared nodes on the paths
            lca_depth = common - 1
            depth = self._depth[self._leaf_node_idx]
            dist = depth[:, None] + depth[None, :] - 2 * lca_depth
            # the LCA node of (r, s) is anc[r, lca_depth[r, s]]
            lca_node = np.take_along_axis(anc, lca_depth, axis=1)
            self._leaf_matrices = {"distance": dist, "lca_depth": lca_depth,
                                   "lca_height": self._height[lca_node], "lca_node": lca_node}
        return self._leaf_matrices

    def node_index(self, ref: NodeRef) -> int:
        """Position of a node in :attr:`nodes` (pre-order)."""
        return self._resolve(ref)
