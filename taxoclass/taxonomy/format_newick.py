"""Newick taxonomy files (``((a,b)c,d)root;``; several trees = a forest), read and written."""

from __future__ import annotations

import re

from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy.tree import ARTIFICIAL_ROOT, Taxonomy


# ====================================================================== Newick
_NEWICK_PLAIN = re.compile(r"[^\s()\[\]':;,]+")


def _newick_name(name: str) -> str:
    if _NEWICK_PLAIN.fullmatch(name):
        return name
    if "\\" in name:  # the newick package ends a quoted label at a backslash
        raise TaxonomyError(f"node name {name!r} has a backslash and characters that need quoting in Newick "
                            "(spaces or ()[]':;,), which Newick readers do not handle; rename it or write "
                            "TSV/JSON/YAML instead.")
    return "'" + name.replace("'", "''") + "'"


def _read_newick(text: str, src: str) -> Taxonomy:
    import newick

    try:
        trees = newick.loads(text.strip(), strip_comments=True)
    except (ValueError, IndexError) as exc:
        raise TaxonomyError(f"{src}: malformed Newick ({exc}); expected e.g. ((a,b)c,d)root; -- quote names with "
                            "spaces or punctuation in single quotes ('T-shirt/top', 'it''s').") from None
    trees = [t for t in trees if t.name is not None or t.descendants]
    if not trees:
        raise TaxonomyError(f"{src}: the file is empty; expected a Newick tree such as ((a,b)c,d)root;")
    paths: list[tuple] = []
    n_clades = 0
    for tree in trees:
        stack = [(tree, (), None)]
        while stack:
            node, prefix, name = stack.pop()
            if name is None:  # a top node
                name = node.unquoted_name if node.name is not None else ""
                if not name.strip():
                    if not node.descendants:
                        raise TaxonomyError(f"{src}: a tree consists of one unnamed node; name the class.")
                    n_clades += 1
                    name = f"clade_{n_clades}"
            p = prefix + (name,)
            if not node.descendants:
                paths.append(p)
                continue
            kids, seen = [], set()
            for d in node.descendants:
                nm = d.unquoted_name if d.name is not None else ""
                if not nm.strip():
                    if not d.descendants:
                        raise TaxonomyError(f"{src}: a leaf under {'/'.join(p)!r} has no name; every class (leaf) "
                                            "needs one.")
                    n_clades += 1
                    nm = f"clade_{n_clades}"  # unnamed internal node (common in phylogenies)
                if nm in seen:
                    raise TaxonomyError(f"{src}: duplicate child {nm!r} under {'/'.join(p)!r}; names under one "
                                        "parent must differ: merge the two subtrees or rename one.")
                seen.add(nm)
                kids.append((d, p, nm))
            stack.extend(reversed(kids))
    return Taxonomy.from_paths(paths, source=src, origins=["/".join(p) for p in paths])


def _write_newick(tax: Taxonomy) -> str:
    import newick

    built = {}
    for n in reversed(tax.nodes):  # children before parents
        kids = [built.pop(c) for c in tax.children(n)]
        built[n] = newick.Node(_newick_name(n[-1]), descendants=kids)
    root = built[tax.root]
    if tax.artificial_root and tax.root[-1] == ARTIFICIAL_ROOT and len(root.descendants) >= 2:
        return "\n".join(newick.dumps([d]) for d in root.descendants) + "\n"
    return newick.dumps([root]) + "\n"
