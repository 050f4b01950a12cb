"""EcoTaxa exports (``object_annotation_hierarchy`` + ``object_annotation_category``) as a taxonomy.

The ONE EcoTaxa parser: ``load_taxonomy(export)`` and ``ImageSet.from_ecotaxa(export).taxonomy`` both call
:func:`ecotaxa_taxonomy`, so they build the same tree.

A class's path is its hierarchy (``living>Animalia>Appendicularia>tail``) whose last level is replaced by the
category when they differ: EcoTaxa's display names such as ``tail<Appendicularia`` keep same-named taxa apart, and
the class is then called ``tail<Appendicularia`` (parsed here, once).

>>> ecotaxa_path("living>Appendicularia>tail", "tail<Appendicularia", "line 2")
('living', 'Appendicularia', 'tail<Appendicularia')
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy.tree import Taxonomy

ECOTAXA_COLUMN = "object_annotation_hierarchy"
ECOTAXA_CATEGORY = "object_annotation_category"


def is_type_row(cells: Iterable[str]) -> bool:
    """The type row of EcoTaxa exports (``[t]``, ``[f]`` under the header).

    >>> is_type_row(["[t]", "[f]", ""]), is_type_row(["o1", "[t]"])
    (True, False)
    """
    cells = [c.strip() for c in cells if c and c.strip()]
    return bool(cells) and all(re.fullmatch(r"\[[a-z]\]", c) for c in cells)


def ecotaxa_path(hierarchy: str, category: str | None, where: str) -> tuple[str, ...]:
    """The root-to-class path of one annotated object (see the module docstring); ``where`` names the row in
    error messages."""
    v = (hierarchy or "").strip()
    if not v:
        raise TaxonomyError(f"{where}: empty {ECOTAXA_COLUMN}; this object is not annotated: remove unannotated "
                            "rows from the export (or filter on object_annotation_status).")
    p = [s.strip() for s in v.split(">")]
    if any(not s for s in p):
        raise TaxonomyError(f"{where}: hierarchy {v!r} has an empty level; expected 'a>b>c'.")
    category = (category or "").strip()
    if category and category != p[-1]:
        p[-1] = category
    return tuple(p)


def ecotaxa_paths(objects: Iterable[tuple[str, str, str | None]], src: str) -> dict[str, tuple[str, ...]]:
    """Every class of an export and its root-to-class path, from the annotated objects ``(where, hierarchy,
    category)``; each class once (in order of first appearance), and one class must have one hierarchy everywhere.
    Some classes may be internal nodes of others (objects annotated at different depths).

    >>> ecotaxa_paths([("row 2", "living>Copepoda", "Copepoda"),
    ...                ("row 3", "living>Copepoda>Calanoida", "Calanoida")], "export.tsv")["Calanoida"]
    ('living', 'Copepoda', 'Calanoida')
    """
    by_class: dict[str, tuple[tuple, str]] = {}
    for where, hierarchy, category in objects:
        p = ecotaxa_path(hierarchy, category, f"{src}, {where}")
        prev = by_class.setdefault(p[-1], (p, where))
        if prev[0] != p:
            raise TaxonomyError(
                f"{src}, {where}: class {p[-1]!r} has hierarchy {'>'.join(p)!r} but {prev[1]} gives "
                f"{'>'.join(prev[0])!r}; one class needs one hierarchy.")
    if not by_class:
        raise TaxonomyError(f"{src}: no annotated objects in the export; expected rows with an {ECOTAXA_COLUMN}.")
    return {c: p for c, (p, _) in by_class.items()}


def ecotaxa_taxonomy(objects: Iterable[tuple[str, str, str | None]], src: str) -> Taxonomy:
    """The taxonomy of an export from its annotated objects ``(where, hierarchy, category)`` (see
    :func:`ecotaxa_paths`). Objects annotated at an internal node (``Copepoda`` while others are ``Calanoida``)
    make no class of their own: the node is already in the tree.

    >>> ecotaxa_taxonomy([("row 2", "living>Copepoda>Calanoida", "Calanoida"),
    ...                   ("row 3", "living>Appendicularia>tail", "tail<Appendicularia"),
    ...                   ("row 4", "living>Appendicularia", "Appendicularia")], "export.tsv").classes
    ('Calanoida', 'tail<Appendicularia')
    """
    from taxoclass.taxonomy.internal_labels import internal_classes

    paths = ecotaxa_paths(objects, src)
    internal = set(internal_classes(paths))
    return Taxonomy.from_paths([p for c, p in paths.items() if c not in internal],
                               origins=[f"class {c}" for c in paths if c not in internal], source=src)


def _from_ecotaxa(header, rows, src) -> Taxonomy:
    if ECOTAXA_COLUMN not in header:
        raise TaxonomyError(f"{src}: not an EcoTaxa export: no {ECOTAXA_COLUMN!r} column (columns: "
                            f"{', '.join(header[:8])}{', ...' if len(header) > 8 else ''}).")
    hi = header.index(ECOTAXA_COLUMN)
    ci = header.index(ECOTAXA_CATEGORY) if ECOTAXA_CATEGORY in header else None

    def annotated(cells) -> bool:  # unclassified objects (no hierarchy, no category) carry no taxonomy
        return bool(cells[hi].strip() or (ci is not None and cells[ci].strip()))

    return ecotaxa_taxonomy(((f"line {n}", cells[hi], None if ci is None else cells[ci])
                             for n, cells in rows if not is_type_row(cells) and annotated(cells)), src)
