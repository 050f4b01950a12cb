"""Refine a taxonomy with a flat model's mistakes: inside each wide node, group the children the model confuses.

An experiment of issue 10 (docs/benchmarks.md, "The taxonomy refined by a flat model's confusions"): the taxonomy keeps
every biological group, and each node with many children gets new intermediate nodes over the children that a
flat model confuses with one another (HD-CNN's idea of specialists for confusable groups, inside the taxonomy, so a
mistake between two groups stays as far apart as before). The confusion between two children ``a`` and ``b`` of a
node is the mean, over the classes under ``a``, of the share of their validation images predicted as a class
under ``b`` (from a row-normalised confusion matrix); :func:`taxoclass.clustering.cluster_confusion` groups the
children at ``--beta``; every group of two or more children, fewer than all, becomes a node named
``<node>~<k>``. Train on the refined file, score on the real one (``taxoclass evaluate ... --taxonomy REAL``).
Prints a JSON line: β, the number of decision nodes before and after, and the groups added.

    .venv/bin/python benchmarks/refined_taxonomy.py taxonomies/ndsb_plankton.tsv RUN_val/confusion.csv refined.tsv --beta 0.1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def refined_taxonomy(tax, cm, beta: float, min_children: int = 4):
    """``(refined taxonomy, added)``: ``tax`` with confusable children of every node of ``min_children`` or more
    children grouped under new nodes (groups of at most half of the node's children, so each new level
    decides something); ``added`` maps each new node's name to its children's names.

    ``cm``: a confusion matrix (counts or fractions) with ``tax.classes`` as rows and columns, in that order.

    >>> from taxoclass import Taxonomy
    >>> t = Taxonomy.from_paths([["a", "w"], ["a", "x"], ["a", "y"], ["a", "z"]])
    >>> cm = [[8, 2, 0, 0], [3, 7, 0, 0], [0, 0, 10, 0], [0, 0, 0, 10]]
    >>> r, added = refined_taxonomy(t, cm, beta=0.05)
    >>> added
    {'a~1': ['w', 'x']}
    >>> r.lineage("x"), r.lineage("y")
    (['a', 'a~1', 'x'], ['a', 'y'])
    """
    import numpy as np

    from taxoclass import Taxonomy
    from taxoclass.clustering import cluster_confusion

    classes = list(tax.classes)
    cm = np.asarray(cm, dtype=float)
    seen = cm.sum(axis=1) > 0  # a class without validation images has no row to learn from
    C = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1e-12)
    lineages = {c: tax.lineage(c) for c in classes}
    group_of = {}  # (prefix tuple of the node, child name) -> new node name
    added = {}
    for node in tax.classifier_nodes:
        kids = list(tax.children(node))
        if len(kids) < min_children:
            continue
        names = [tax.name(k) for k in kids]
        members = [[tax.class_index(c) for c in tax.classes_under(k)] for k in kids]
        rows = [[i for i in m if seen[i]] for m in members]
        if sum(map(bool, rows)) < 2:  # fewer than two children with validation images: nothing to compare
            continue
        A = np.array([[C[np.ix_(ra, mb)].sum(axis=1).mean() if ra else 0.0 for mb in members] for ra in rows])
        res = cluster_confusion(A, beta, classes=names, drop_empty=True, max_cluster_size=(len(kids) + 1) // 2)
        prefix = tuple(tax.lineage(node))
        base = prefix[-1] if prefix else tax.name(node)
        for group in res.clusters:
            if 2 <= len(group) < len(kids):
                k = 1 + sum(name.rsplit("~", 1)[0] == base for name in added)  # unique over nodes of one name
                new = f"{base}~{k}"
                added[new] = list(group)
                for child in group:
                    group_of[(prefix, child)] = new
    paths = []
    for c in classes:
        lin, path = lineages[c], []
        for depth, name in enumerate(lin):
            g = group_of.get((tuple(lin[:depth]), name))
            if g is not None:
                path.append(g)
            path.append(name)
        paths.append(path)
    root = tax.name(tax.root)
    return Taxonomy.from_paths(paths, root=root if tax.artificial_root else None, class_order=classes), added


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("taxonomy", help="the real taxonomy (any reader format)")
    ap.add_argument("confusion", help="a flat model's validation confusion (taxoclass evaluate --split val)")
    ap.add_argument("out", help="where to write the refined taxonomy (.tsv)")
    ap.add_argument("--beta", type=float, default=0.1, help="confusion between two children to group them")
    ap.add_argument("--min-children", type=int, default=4, help="refine only nodes with this many children or more")
    ap.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = ap.parse_args(argv)

    from taxoclass import load_taxonomy
    from taxoclass.clustering import load_confusion
    from taxoclass.taxonomy.io import save_taxonomy

    tax = load_taxonomy(args.taxonomy)
    cm, _ = load_confusion(args.confusion, classes=list(tax.classes))
    new, added = refined_taxonomy(tax, cm, args.beta, args.min_children)
    save_taxonomy(new, args.out, overwrite=args.overwrite)
    print(json.dumps({"beta": args.beta, "nodes_before": len(tax.classifier_nodes),
                      "nodes_after": len(new.classifier_nodes), "added": added}))


if __name__ == "__main__":
    main()
