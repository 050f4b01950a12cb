"""Building a :class:`~taxoclass.taxonomy.Taxonomy` from root-to-leaf paths, parent/child edges or a nested dict.

These classmethods live in a mixin that :class:`~taxoclass.taxonomy.Taxonomy` inherits; use them as
``Taxonomy.from_paths(...)``, ``Taxonomy.from_edges(...)``, ``Taxonomy.from_nested(...)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import TYPE_CHECKING

import networkx as nx

from taxoclass.exceptions import TaxonomyError

if TYPE_CHECKING:
    from taxoclass.taxonomy.tree import Taxonomy

Node = tuple

ARTIFICIAL_ROOT = "root"

#: deepest taxonomy accepted (levels below the root). Every node is stored as its whole path, so a chain of n
#: nodes costs n^2 / 2 names: the bound keeps reading any file linear in its size (real taxonomies: < 50 levels).
MAX_DEPTH = 256


def _too_deep(src: str, depth: int, where: str = "") -> TaxonomyError:
    return TaxonomyError(f"{src}{where}: the tree is {depth} or more levels deep; taxoclass reads taxonomies of at "
                         f"most {MAX_DEPTH} levels (a class cascade this deep cannot be trained). Check the file "
                         "(an edge list of a chain? a Newick ladder?).")


def _fmt(node: Node) -> str:
    return "/".join(node)


class TaxonomyConstructors:
    """The ``from_*`` constructors of :class:`~taxoclass.taxonomy.Taxonomy`."""

    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[str]], *, root: str | None = None,
                   class_order: Sequence[str] | None = None, origins: Sequence[str] | None = None,
                   source: str | None = None) -> "Taxonomy":
        """Build a taxonomy from root-to-leaf paths, one per class.

        Parameters
        ----------
        paths : iterable of sequences of str
            Each path lists the names from the top of the tree down to a class (leaf).
        root : str, optional
            Name of the root. When every path starts with the same name, that name is the root. Otherwise (a
            forest) an artificial root named ``root`` (or this value) is added above the tops.
        class_order : sequence of str, optional
            Order of the classes (class indices). Default: the order of ``paths``.
        origins : sequence of str, optional
            Where each path came from (e.g. ``"taxonomy.tsv line 4"``), used in error messages.
        source : str, optional
            Name of the file, used in error messages.

        Examples
        --------
        >>> from taxoclass import Taxonomy
        >>> Taxonomy.from_paths([["a", "b", "x"], ["a", "y"]]).classes
        ('x', 'y')
        """
        paths = [tuple(map(str, p)) for p in paths]
        where = list(origins) if origins is not None else [f"path {i + 1}" for i in range(len(paths))]
        src = source or "taxonomy"
        deep = next((i for i, p in enumerate(paths) if len(p) > MAX_DEPTH + 1), None)
        if deep is not None:
            raise _too_deep(src, len(paths[deep]) - 1, f", {where[deep]}" if deep < len(where) else "")
        if not paths:
            raise TaxonomyError(f"{src}: no classes found; expected at least one root-to-leaf path.")
        # each distinct name is checked once (fast on large trees); the first offending path is reported
        if not all(paths) or any(not s.strip() for s in set(chain.from_iterable(paths))):
            for p, w in zip(paths, where):
                if not p:
                    raise TaxonomyError(f"{src}, {w}: empty path; every class needs at least its own name.")
                for s in p:
                    if not s.strip():
                        raise TaxonomyError(f"{src}, {w}: empty node name in path {'/'.join(p)!r}; "
                                            "remove the empty level or give the node a name.")
        tops = {p[0] for p in paths}
        artificial = False
        if root is not None and not (len(tops) == 1 and root in tops):
            paths = [(root,) + p for p in paths]
            artificial = True
        elif len(tops) > 1 or (len(tops) == 1 and any(len(p) == 1 for p in paths) and len(paths) > 1):
            paths = [(ARTIFICIAL_ROOT,) + p for p in paths]
            artificial = True
        # one pass over a trie: duplicates, leaves that are also internal nodes, children in insertion order.
        # trie node = [children {name: node}, origin of the first path through it, origin if it is a leaf]
        top: list = [{}, None, None]
        for p, w in zip(paths, where):
            cur, cur_name = top, p[0]
            for name in p[1:]:
                if cur[2] is not None:  # this path goes below an existing class
                    raise TaxonomyError(
                        f"{src}, {cur[2]}: {cur_name!r} is a class (leaf) but also has children ({w} goes below "
                        f"it); a class must be a leaf: move its images to a child such as "
                        f"'{cur_name}/{cur_name}_other'.")
                kids = cur[0]
                nxt = kids.get(name)
                if nxt is None:
                    nxt = kids[name] = [{}, w, None]
                cur, cur_name = nxt, name
            if cur[2] is not None:
                raise TaxonomyError(f"{src}: class {_fmt(p[1:] if artificial else p)!r} is listed twice "
                                    f"({cur[2]} and {w}); list each class once.")
            if cur[0]:
                first_below = next(iter(cur[0].values()))[1]
                raise TaxonomyError(
                    f"{src}, {w}: {p[-1]!r} is a class (leaf) but also has children ({first_below} goes below it); "
                    f"a class must be a leaf: move its images to a child such as '{p[-1]}/{p[-1]}_other'.")
            cur[2] = w
        # pre-order node list with insertion order of children
        root_node = paths[0][:1]
        nodes: list[tuple] = []
        parents: list[int] = []
        stack = [(root_node, top, -1)]
        while stack:
            node, tn, par = stack.pop()
            idx = len(nodes)
            nodes.append(node)
            parents.append(par)
            kids = tn[0]
            if kids:
                stack.extend((node + (name,), kids[name], idx) for name in reversed(kids))
        order = class_order if class_order is not None else [p[-1] for p in paths]
        return cls(nodes, parents, class_order=order, artificial_root=artificial, source=source)

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]], *, class_order: Sequence[str] | None = None,
                   origins: Sequence[str] | None = None, source: str | None = None,
                   root: str | None = None) -> "Taxonomy":
        """Build a taxonomy from (parent, child) name pairs.

        Names must be unique in an edge list (a name *is* the node). Detects cycles, nodes with two parents and
        duplicate edges, naming the offending lines via ``origins``.

        Examples
        --------
        >>> from taxoclass import Taxonomy
        >>> Taxonomy.from_edges([("animal", "cat"), ("animal", "dog")]).classes
        ('cat', 'dog')
        """
        edges = [(str(a), str(b)) for a, b in edges]
        where = list(origins) if origins is not None else [f"edge {i + 1}" for i in range(len(edges))]
        src = source or "edge list"
        if not edges:
            raise TaxonomyError(f"{src}: no edges found; expected lines of 'parent<TAB>child'.")
        parent_of: dict[str, tuple[str, str]] = {}
        children: dict[str, list[str]] = {}
        for (a, b), w in zip(edges, where):
            if not a.strip() or not b.strip():
                raise TaxonomyError(f"{src}, {w}: empty parent or child name; each line needs 'parent<TAB>child'.")
            if a == b:
                raise TaxonomyError(f"{src}, {w}: node {a!r} is its own parent (a cycle); remove this line.")
            if b in parent_of:
                pa, pw = parent_of[b]
                if pa == a:
                    raise TaxonomyError(f"{src}, {w}: duplicate child {b!r} under {a!r} (also at {pw}); "
                                        "list each edge once.")
                raise TaxonomyError(f"{src}, {w}: node {b!r} has two parents, {pa!r} ({pw}) and {a!r} ({w}); "
                                    "a taxonomy is a tree: keep one of the two lines.")
            parent_of[b] = (a, w)
            children.setdefault(a, []).append(b)
        tops = [n for n in children if n not in parent_of]
        level, depth = list(tops), 0
        while level:  # breadth first, linear: refuse a chain before the cycle search and the (quadratic) paths
            level = [c for n in level for c in children.get(n, ())]
            depth += 1 if level else 0
            if depth > MAX_DEPTH:
                raise _too_deep(src, depth)
        g = nx.DiGraph()
        g.add_edges_from(edges)
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            names = " -> ".join([cycle[0][0]] + [v for _, v in cycle])
            lines = ", ".join(parent_of[v][1] for _, v in cycle)
            raise TaxonomyError(f"{src}: cycle {names} ({lines}); a taxonomy is a tree: break the cycle.")
        if root is not None and root not in tops:
            tops_root = None
        else:
            tops_root = tops[0] if len(tops) == 1 else None
        paths = []
        leaf_origin = []

        def walk(node, prefix):
            stack = [(node, prefix)]
            while stack:
                nd, pre = stack.pop()
                path = pre + (nd,)
                kids = children.get(nd)
                if not kids:
                    paths.append(path)
                    leaf_origin.append(parent_of[nd][1] if nd in parent_of else src)
                else:
                    for k in reversed(kids):
                        stack.append((k, path))

        for t in tops:
            walk(t, ())
        tax = cls.from_paths(paths, origins=leaf_origin, source=source,
                             root=root if tops_root is None and root is not None else None)
        if class_order is not None:
            tax = tax.with_class_order(class_order)
        return tax

    @classmethod
    def from_nested(cls, tree: dict, *, class_order: Sequence[str] | None = None, source: str | None = None
                    ) -> "Taxonomy":
        """Build from a nested mapping ``{node: {child: {...}}}``; leaves are ``{}``, ``None`` or list items.

        Examples
        --------
        >>> from taxoclass import Taxonomy
        >>> Taxonomy.from_nested({"animal": {"cat": {}, "dog": None}, "plant": ["rose"]}).classes
        ('cat', 'dog', 'rose')
        """
        src = source or "nested taxonomy"
        if not isinstance(tree, dict) or not tree:
            raise TaxonomyError(f"{src}: expected a non-empty mapping {{node: {{child: ...}}}} at the top level.")
        paths: list[tuple] = []

        def walk(obj, prefix):
            if obj is None or (isinstance(obj, dict) and not obj) or (isinstance(obj, list) and not obj):
                paths.append(prefix)
            elif isinstance(obj, dict):
                for k, v in obj.items():
                    walk(v, prefix + (str(k),))
            elif isinstance(obj, list):
                for item in obj:
                    if isinstance(item, dict):
                        walk(item, prefix)
                    elif isinstance(item, (str, int, float)):
                        paths.append(prefix + (str(item),))
                    else:
                        raise TaxonomyError(f"{src}: under {'/'.join(prefix)!r}, list item {item!r} is neither a "
                                            "name nor a mapping.")
            elif isinstance(obj, (str, int, float)):
                paths.append(prefix + (str(obj),))
            else:
                raise TaxonomyError(f"{src}: under {'/'.join(prefix)!r}, unexpected value {obj!r}; expected a "
                                    "mapping, a list of names, or an empty value for a leaf.")

        walk(tree, ())
        return cls.from_paths(paths, class_order=class_order, source=source)
