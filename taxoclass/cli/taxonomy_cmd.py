"""``taxoclass taxonomy``: show, validate and convert taxonomy files (no TensorFlow, answers instantly).

Examples::

    taxoclass taxonomy show taxonomies/ndsb_plankton.tsv --max-depth 2
    taxoclass taxonomy validate taxonomy.tsv --classes classes.txt
    taxoclass taxonomy convert taxonomy.tsv --to newick -o taxonomy.nwk
    taxoclass taxonomy prune taxonomies/ndsb_plankton.tsv --classes images/ -o my_taxonomy.tsv
    taxoclass taxonomy show fashion_taxonomy.tsv --levels supergroup,group,class
"""

from __future__ import annotations

import argparse
import sys

from taxoclass.exceptions import TaxonomyError

FORMATS_HELP = ("json (.json), yaml (.yaml/.yml), tsv (.tsv), csv (.csv), ecotaxa, edges (.txt/.edges), "
                "newick (.nwk/.newick/.tree)")


def _reader_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("reader options")
    g.add_argument("--from", dest="in_format", metavar="FORMAT",
                   help=f"format of FILE; default from the extension: {FORMATS_HELP}")
    g.add_argument("--levels", metavar="COL,COL,...",
                   help="TSV/CSV: level columns from the top down to the class, e.g. supergroup,group,class")
    g.add_argument("--lineage", metavar="COL", help="TSV/CSV: the column with the whole path (default: lineage)")
    g.add_argument("--sep", metavar="S", help="lineage separator (default: the one of / > ; | that is used)")
    g.add_argument("--class-column", metavar="COL",
                   help="TSV/CSV: the class-name column, checked against each lineage (default: class)")
    return p


def register(subparsers) -> None:
    """Add the ``taxonomy`` command group to the ``taxoclass`` parser."""
    reader = _reader_options()
    tp = subparsers.add_parser("taxonomy", help="show, validate and convert taxonomy files",
                               description="Show, validate and convert taxonomy files. Formats: " + FORMATS_HELP)
    sub = tp.add_subparsers(dest="taxonomy_command", metavar="ACTION", parser_class=type(tp))
    sub.required = True

    show = sub.add_parser("show", parents=[reader], help="print the tree (leaves under each node, depth)",
                          description="Print the tree as an indented outline: each internal node with its number "
                                      "of classes and height, then its children.")
    show.add_argument("file", metavar="FILE", help="taxonomy file")
    show.add_argument("--max-depth", type=int, metavar="N", help="draw only the first N levels below the root")
    show.set_defaults(func=_show)

    val = sub.add_parser("validate", parents=[reader], help="check a taxonomy (and a class list) and summarise it",
                         description="Read a taxonomy, report any problem with its file, line and node, and print "
                                     "a summary. With --classes, also check that the class list and the taxonomy "
                                     "have exactly the same classes.")
    val.add_argument("file", metavar="FILE", help="taxonomy file")
    val.add_argument("--classes", metavar="CLASSES_TXT",
                     help="classes.txt (one class per line), or a folder of class folders, that must match the "
                          "taxonomy's classes")
    val.set_defaults(func=_validate)

    prune = sub.add_parser("prune", parents=[reader], help="restrict a taxonomy to the classes you have",
                           description="Keep only the classes named by --classes (a classes file or a folder of "
                                       "class folders), drop the emptied branches and the single-child chains "
                                       "that the pruning created, and write the result (format from OUT's "
                                       "extension, or --to).")
    prune.add_argument("file", metavar="FILE", help="reference taxonomy file (e.g. taxonomies/ndsb_plankton.tsv)")
    prune.add_argument("--classes", required=True, metavar="CLASSES_TXT",
                       help="classes.txt (one class per line) or a folder of class folders")
    prune.add_argument("--to", choices=["json", "yaml", "tsv", "newick"], default=None,
                       help="output format (default: from OUT's extension)")
    prune.add_argument("-o", "--output", required=True, metavar="OUT", help="output file")
    prune.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    prune.set_defaults(func=_prune)

    conv = sub.add_parser("convert", parents=[reader], help="write a taxonomy in another format",
                          description="Read a taxonomy and write it as json, yaml, tsv or newick. The output is "
                                      "written completely or not at all, and never over an existing file unless "
                                      "--overwrite.")
    conv.add_argument("file", metavar="FILE", help="taxonomy file")
    conv.add_argument("--to", required=True, choices=["json", "yaml", "tsv", "newick"], help="output format")
    conv.add_argument("-o", "--output", required=True, metavar="OUT", help="output file")
    conv.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    conv.set_defaults(func=_convert)


def _load(args):
    from taxoclass.taxonomy.io import load_taxonomy

    levels = None
    if args.levels is not None:
        levels = [s.strip() for s in args.levels.split(",") if s.strip()]
        if not levels:
            raise TaxonomyError("--levels needs column names separated by commas, e.g. supergroup,group,class.")
    return load_taxonomy(args.file, args.in_format, levels=levels, lineage=args.lineage, sep=args.sep,
                         class_column=args.class_column)


def _summary(tax) -> str:
    depths = [tax.depth(leaf) for leaf in tax.leaves]
    root = tax.root[-1] + (" (artificial)" if tax.artificial_root else "")
    return (f"{tax.n_classes} classes, {len(tax)} nodes, depth {tax.height} (leaves at depth {min(depths)}-"
            f"{max(depths)}), {len(tax.classifier_nodes)} classifier nodes, root {root}")


def _show(args) -> int:
    if args.max_depth is not None and args.max_depth < 0:
        raise TaxonomyError(f"--max-depth must be 0 or more, got {args.max_depth}.")
    tax = _load(args)
    out = f"{args.file}: {_summary(tax)}\n{tax.format_tree(max_depth=args.max_depth)}\n"
    sys.stdout.write(out)
    return 0


def _validate(args) -> int:
    tax = _load(args)
    if args.classes is not None:
        from taxoclass.taxonomy.io import read_classes

        classes = read_classes(args.classes)
        tax.check_classes(classes, source=args.classes)
    lines = [f"{args.file}: OK", f"  classes:          {tax.n_classes}", f"  nodes:            {len(tax)}",
             f"  depth:            {tax.height}", f"  classifier nodes: {len(tax.classifier_nodes)}",
             f"  root:             {tax.root[-1]}{' (artificial: the file has several tops)' if tax.artificial_root else ''}"]
    if args.classes is not None:
        lines.append(f"  class list:       {args.classes} matches ({tax.n_classes} classes)")
    print("\n".join(lines))
    return 0


def _prune(args) -> int:
    from taxoclass._files import prepare_output_file
    from taxoclass.taxonomy.io import read_classes, save_taxonomy
    from taxoclass.taxonomy.pruning import prune_taxonomy

    prepare_output_file(args.output, overwrite=args.overwrite)  # checked before anything is read
    classes = read_classes(args.classes)
    ref = _load(args)
    tax = prune_taxonomy(ref, classes, source=args.classes)
    path = save_taxonomy(tax, args.output, format=args.to, overwrite=args.overwrite)
    print(f"wrote {path}: {tax.n_classes} of {ref.n_classes} classes, {len(tax)} of {len(ref)} nodes, depth "
          f"{tax.height}")
    return 0


def _convert(args) -> int:
    from taxoclass.taxonomy.io import save_taxonomy

    tax = _load(args)
    path = save_taxonomy(tax, args.output, format=args.to, overwrite=args.overwrite)
    print(f"wrote {path} ({args.to}, {tax.n_classes} classes, {len(tax)} nodes)")
    return 0
