"""Restrict a reference taxonomy to the classes you have: :func:`prune_taxonomy`.

``taxoclass taxonomy prune TREE --classes FILE|FOLDER -o OUT`` and ``taxoclass train --taxonomy T --prune`` call
it. Branches without a kept class disappear, and so do the single-child chains that only the pruning created: a
node that had two or more children and keeps one is removed (its child takes its place), so that no classifier
node is left with one choice and no report shows a trivial ``root 1.000`` node. Single-child nodes that the
reference itself has are kept: they are its design, not an effect of the pruning.

>>> from taxoclass import Taxonomy
>>> ref = Taxonomy.from_paths([["crustacea", "copepoda", "calanus"], ["crustacea", "copepoda", "oithona"],
...                            ["crustacea", "amphipoda", "hyperia"], ["gelatinous", "salp"]])
>>> print(prune_taxonomy(ref, ["calanus", "oithona", "salp"]).format_tree(show_counts=False))
root
  copepoda
    calanus
    oithona
  gelatinous
    salp
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from taxoclass.exceptions import ClassMismatchError, TaxonomyError

__all__ = ["prune_taxonomy"]


def prune_taxonomy(tax, classes: Iterable[str], *, source: str | None = None):
    """``tax`` restricted to ``classes`` (see the module docstring); class order follows ``tax``.

    Every class that ``tax`` lacks is named (the first few and the count) in one :class:`ClassMismatchError`;
    fewer than two classes are refused (a classifier needs two).
    """
    from taxoclass.taxonomy.tree import Taxonomy, _first

    keep = list(dict.fromkeys(str(c) for c in classes))
    known = set(tax.classes)
    unknown = [c for c in keep if c not in known]
    src = source or "the class list"
    if unknown:
        raise ClassMismatchError(f"{len(unknown)} class(es) in {src} are not in {tax.source or 'the taxonomy'}: "
                                 f"{_first(unknown)}; a pruned taxonomy keeps classes of the reference only: fix the "
                                 "names or add the classes to the taxonomy.")
    if len(keep) < 2:
        raise TaxonomyError(f"{src} names {len(keep)} class(es); pruning needs at least two (a classifier needs "
                            "two classes).")
    keep_set = set(keep)
    leaves = [int(v) for v, c in zip(tax.leaf_nodes, tax.classes) if c in keep_set]
    anc = tax.ancestor_table
    parents = tax.parents
    kept = {int(a) for leaf in leaves for a in anc[leaf] if a >= 0}
    before = Counter(int(p) for p in parents if p >= 0)
    after = Counter(int(parents[v]) for v in kept if v != 0)
    collapse = {v for v in kept if after[v] == 1 and before[v] >= 2}
    while True:
        paths = {v: tuple(tax.nodes[a][-1] for a in anc[v] if a >= 0 and a not in collapse)
                 for v in kept - collapse}
        clash = [p for p, n in Counter(paths.values()).items() if n > 1]
        if not clash:
            break
        # two nodes would share one path (same names at different places): the first keeps its place, the others
        # keep the removed nodes that told them apart
        seen: set = set()
        for v in sorted(paths):
            if paths[v] in clash and paths[v] in seen:
                collapse -= {int(a) for a in anc[v] if a in collapse}
            seen.add(paths[v])
    leaf_paths = [paths[v] for v in leaves]
    order = [c for c in tax.classes if c in keep_set]
    out_source = tax.source
    if 0 not in collapse and tax.artificial_root:
        return Taxonomy.from_paths([p[1:] for p in leaf_paths], root=tax.root[-1], class_order=order,
                                   source=out_source)
    return Taxonomy.from_paths(leaf_paths, class_order=order, source=out_source)
