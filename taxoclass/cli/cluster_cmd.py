"""``taxoclass cluster-confusion``: build a class hierarchy from a confusion matrix (no TensorFlow).

Examples::

    taxoclass cluster-confusion cm.npy --beta 0.05 --classes classes.txt
    taxoclass cluster-confusion cm.csv --sweep                      # choose beta
    taxoclass cluster-confusion predictions.csv --cluster-levels all -o error_tree.json
    taxoclass cluster-confusion cm.tsv --method spectral --n-clusters 4 --format json
"""

from __future__ import annotations

import argparse
import json
import sys

from taxoclass.exceptions import ClusteringError

FORMATS = ("json", "yaml", "tsv", "newick")


def _cluster_levels(value: str):
    if value == "1":
        return 1
    if value == "all":
        return "all"
    raise argparse.ArgumentTypeError(f"invalid value {value!r}; expected 1 or all")


def add_cluster_levels_argument(p, what: str) -> None:
    """``--cluster-levels 1|all`` (the ``cluster_levels`` of ``ConfusionClustering.to_taxonomy``), shared by
    ``cluster-confusion`` and ``benchmark``; ``--levels`` is its hidden deprecated old name."""
    p.add_argument("--cluster-levels", type=_cluster_levels, default=1, metavar="1|all",
                   help=f"{what}: one level of clusters (1, default) or the nested merge tree (all)")
    p.add_argument("--levels", dest="cluster_levels", type=_cluster_levels, help=argparse.SUPPRESS)  # deprecated


def register(subparsers) -> None:
    """Add the ``cluster-confusion`` command to the ``taxoclass`` parser."""
    p = subparsers.add_parser(
        "cluster-confusion", help="group the classes a model confuses (error-based hierarchy)",
        description="Cluster a confusion matrix into groups of classes that a model confuses, as the top level of "
                    "a class tree (the greedy algorithm of the plankton study: row-normalise, symmetrise, drop "
                    "similarities <= beta, merge the most similar pair until none is left). CM is a .npy array, a "
                    ".csv/.tsv table with or without a header row/column of class names, or a predictions table "
                    "with 'true' and 'pred' columns. See docs/clustering.md.")
    p.add_argument("cm", metavar="CM", help="confusion matrix (.npy, .csv, .tsv, .txt) or predictions table")
    p.add_argument("--beta", type=float, default=0.05,
                   help="similarities <= beta are ignored: the confusion you accept, in [0, 1] (default 0.05)")
    p.add_argument("--classes", metavar="CLASSES_TXT", help="class names, one per line (line i = class i)")
    p.add_argument("--labels", dest="classes", help=argparse.SUPPRESS)  # deprecated name of --classes
    p.add_argument("--symmetrize", choices=["product", "hadamard", "mean"], default="product",
                   help="S = C C^T (product, default), C * C^T (hadamard) or (C + C^T) / 2 (mean)")
    p.add_argument("--linkage", choices=["sum", "mean", "max"], default="sum",
                   help="similarity of a merged cluster: sum (default), mean or max of its classes'")
    p.add_argument("--max-cluster-size", type=int, metavar="N", help="never build a cluster of more than N classes")
    p.add_argument("--max-size", dest="max_cluster_size", type=int, help=argparse.SUPPRESS)  # deprecated name
    p.add_argument("--method", choices=["greedy", "spectral"], default="greedy",
                   help="greedy (default) or scikit-learn spectral clustering (needs --n-clusters)")
    p.add_argument("--n-clusters", type=int, metavar="K", help="number of clusters of --method spectral")
    p.add_argument("--drop-empty", action="store_true", help="leave out classes without any image (zero rows)")
    add_cluster_levels_argument(p, "taxonomy written by --output")
    p.add_argument("-o", "--output", metavar="FILE", help="write the clusters as a taxonomy file (format from the "
                                                          "extension: .json .yaml .tsv .nwk, or --to; - = standard "
                                                          "output, TSV unless --to)")
    p.add_argument("--out", dest="output", help=argparse.SUPPRESS)  # deprecated name of --output
    p.add_argument("--to", choices=FORMATS, help="format of --output (default: from its extension)")
    p.add_argument("--overwrite", action="store_true", help="replace the --output file if it exists")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output on stdout (default text)")
    p.add_argument("--sweep", nargs="*", type=float, metavar="BETA",
                   help="instead of one clustering, a table over a range of beta (default 0 ... 0.5): number of "
                        "clusters, largest cluster, isolated error -- to choose beta")
    p.set_defaults(func=_run)


def _sweep_text(rows) -> str:
    head = f"{'beta':>7}  {'clusters':>8}  {'groups':>6}  {'largest':>7}  {'singletons':>10}  {'isolated error':>14}"
    lines = [head]
    for r in rows:
        lines.append(f"{r['beta']:>7.4g}  {r['n_clusters']:>8d}  {r['n_groups']:>6d}  {r['largest']:>7d}  "
                     f"{r['singletons']:>10d}  {100 * r['isolated_error']:>13.1f}%")
    return "\n".join(lines)


def _run(args) -> int:
    from taxoclass._files import check_writable
    from taxoclass.clustering import cluster_confusion, load_confusion, sweep

    if args.output is not None and args.sweep is not None:
        raise ClusteringError("--output writes one clustering, --sweep prints a table over several betas; use one of "
                              "the two.")
    if args.to is not None and args.output is None:
        raise ClusteringError("--to sets the format of --output; give --output FILE too.")
    to_stdout = args.output == "-"
    if args.output is not None and not to_stdout:
        check_writable(args.output, overwrite=args.overwrite, inputs=[args.cm, args.classes])
    cm, classes = load_confusion(args.cm, classes=args.classes)
    opts = dict(classes=classes, symmetrize=args.symmetrize, linkage=args.linkage,
                max_cluster_size=args.max_cluster_size, drop_empty=args.drop_empty)
    if args.sweep is not None:
        if args.method != "greedy" or args.n_clusters is not None:
            raise ClusteringError("--sweep varies beta, which only --method greedy uses; drop --method spectral / "
                                  "--n-clusters.")
        rows = sweep(cm, args.sweep or None, **opts)
        out = json.dumps(rows, indent=1) if args.format == "json" else _sweep_text(rows)
        sys.stdout.write(out + "\n")
        return 0
    res = cluster_confusion(cm, args.beta, method=args.method, n_clusters=args.n_clusters, **opts)
    tax = res.to_taxonomy(args.cluster_levels) if args.output is not None or args.cluster_levels == "all" else None
    if to_stdout:  # the taxonomy is the output: nothing else on stdout
        from taxoclass.taxonomy.io import dumps_taxonomy

        sys.stdout.write(dumps_taxonomy(tax, args.to or "tsv"))
        return 0
    if args.output is not None:
        from taxoclass.taxonomy.io import save_taxonomy

        save_taxonomy(tax, args.output, format=args.to, overwrite=args.overwrite)
    if args.format == "json":
        d = res.to_dict()
        if args.output is not None:
            d["output"] = str(args.output)
        out = json.dumps(d, indent=1, ensure_ascii=False)
    else:
        out = res.summary()
        if args.cluster_levels == "all":
            out += "\n\n" + tax.format_tree()
        if args.output is not None:
            out += f"\nwrote {args.output}"
    sys.stdout.write(out + "\n")
    return 0
