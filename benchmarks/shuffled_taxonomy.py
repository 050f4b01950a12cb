"""Write a taxonomy of the same shape with the classes moved to random leaves: the null model of a tree.

For the "does the taxonomy's content matter?" pairs in docs/benchmarks.md: a tree model trained on this file has the
same number of decision nodes, the same fan-outs and the same depths as one trained on the real taxonomy, but its
groups are random, so whatever it gains over a flat model comes from the extra heads, not from the biology. Score
both on the real taxonomy (``taxoclass evaluate ... --taxonomy REAL``). Prints a JSON line: the seed, the classes
that moved, and the share of class pairs whose lowest common ancestor is the same in both trees.

    .venv/bin/python benchmarks/shuffled_taxonomy.py taxonomies/ndsb_plankton.tsv shuffled_1.tsv --seed 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def shuffled_taxonomy(tax, seed: int):
    """``tax`` with its classes permuted over its leaf positions (seeded); class order and root name kept.

    >>> from taxoclass import Taxonomy
    >>> t = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"], ["b", "w"]])
    >>> s = shuffled_taxonomy(t, 0)
    >>> sorted(s.classes) == sorted(t.classes), s.classes == t.classes, s.height == t.height
    (True, True, True)
    """
    import numpy as np

    from taxoclass import Taxonomy

    classes = list(tax.classes)
    order = np.random.default_rng(seed).permutation(len(classes))
    paths = [tax.lineage(c)[:-1] + [classes[j]] for c, j in zip(classes, order)]
    return Taxonomy.from_paths(paths, root=tax.name(tax.root), class_order=classes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("taxonomy", help="the real taxonomy (any reader format)")
    ap.add_argument("out", help="where to write the shuffled taxonomy (.tsv)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the permutation")
    ap.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = ap.parse_args(argv)

    import numpy as np

    from taxoclass import load_taxonomy
    from taxoclass.taxonomy.io import save_taxonomy

    tax = load_taxonomy(args.taxonomy)
    new = shuffled_taxonomy(tax, args.seed)
    save_taxonomy(new, args.out, overwrite=args.overwrite)
    a, b = tax.leaf_matrices()["lca_height"], new.leaf_matrices()["lca_height"]
    off = ~np.eye(tax.n_classes, dtype=bool)
    moved = sum(tax.lineage(c) != new.lineage(c) for c in tax.classes)
    print(json.dumps({"seed": args.seed, "classes": tax.n_classes, "classes_moved": int(moved),
                      "same_lca_height_share": round(float((a == b)[off].mean()), 4), "out": args.out}))


if __name__ == "__main__":
    main()
