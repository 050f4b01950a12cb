"""EcoTaxa exports (``object_annotation_hierarchy`` + ``object_annotation_category``) as a taxonomy."""

from __future__ import annotations

import re

from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy.tree import Taxonomy

ECOTAXA_COLUMN = "object_annotation_hierarchy"
ECOTAXA_CATEGORY = "object_annotation_category"


def _from_ecotaxa(header, rows, src) -> Taxonomy:
    if ECOTAXA_COLUMN not in header:
        raise TaxonomyError(f"{src}: not an EcoTaxa export: no {ECOTAXA_COLUMN!r} column (columns: "
                            f"{', '.join(header[:8])}{', ...' if len(header) > 8 else ''}).")
    hi = header.index(ECOTAXA_COLUMN)
    ci = header.index(ECOTAXA_CATEGORY) if ECOTAXA_CATEGORY in header else None
    by_class: dict[str, tuple[tuple, int]] = {}
    paths, origins = [], []
    for n, cells in rows:
        if all(re.fullmatch(r"\[[a-z]\]", c) for c in cells if c):  # the type row of old exports: [t] [f]
            continue
        v = cells[hi]
        if not v:
            raise TaxonomyError(f"{src}, line {n}: empty {ECOTAXA_COLUMN}; this object is not annotated: remove "
                                "unannotated rows from the export (or filter on object_annotation_status).")
        p = [s.strip() for s in v.split(">")]
        if any(not s for s in p):
            raise TaxonomyError(f"{src}, line {n}: hierarchy {v!r} has an empty level; expected 'a>b>c'.")
        if ci is not None and cells[ci] and cells[ci] != p[-1]:
            p[-1] = cells[ci]  # EcoTaxa display names ('egg<Actinopterygii') keep same-named leaves apart
        p = tuple(p)
        cls = p[-1]
        if cls in by_class:
            if by_class[cls][0] != p:
                raise TaxonomyError(
                    f"{src}, line {n}: class {cls!r} has hierarchy {'>'.join(p)!r} but line {by_class[cls][1]} "
                    f"gives {'>'.join(by_class[cls][0])!r}; one class needs one hierarchy.")
            continue
        by_class[cls] = (p, n)
        paths.append(p)
        origins.append(f"line {n}")
    if not paths:
        raise TaxonomyError(f"{src}: no annotated objects in the export; expected rows with an {ECOTAXA_COLUMN}.")
    return Taxonomy.from_paths(paths, origins=origins, source=src)
