"""Image-source arguments shared by the commands that read labelled images (train, evaluate, benchmark)."""

from __future__ import annotations

import sys
import warnings

from taxoclass.exceptions import DataError


def add_source_arguments(p, *, named: bool = True) -> None:
    """SOURCE [LABELS] | --table F --image-root R | --ecotaxa F | --dataset NAME [--data-path P]."""
    p.add_argument("source", nargs="*", metavar="SOURCE",
                   help="a folder of class folders, a .zip archive of them, or an IDX image file and its label file")
    g = p.add_argument_group("image source")
    g.add_argument("--table", metavar="FILE", help="CSV/TSV label table with a file and a label column")
    g.add_argument("--image-root", metavar="DIR", help="folder the table's (or EcoTaxa's) paths are relative to")
    g.add_argument("--allow-outside-root", action="store_true",
                   help="accept table paths that are absolute or lead out of --image-root with '..' (refused by "
                        "default)")
    g.add_argument("--file-column", metavar="NAME", help="table column holding the image paths")
    g.add_argument("--label-column", metavar="NAME", help="table column holding the labels")
    g.add_argument("--ecotaxa", metavar="FILE", help="EcoTaxa export: the zip EcoTaxa wrote, its extracted "
                                                     "folder or one TSV (images, labels and taxonomy)")
    g.add_argument("--status", default="validated", metavar="S[,S]",
                   help="EcoTaxa objects to use by object_annotation_status: validated (default), predicted, "
                        "dubious, unclassified, a comma list, or all")
    g.add_argument("--internal-labels", choices=("masked", "own-class"), default="masked",
                   help="EcoTaxa objects annotated at an internal node X (Copepoda beside Calanoida): train only "
                        "the decisions above X and score them at X's depth (masked, default), or give X a class "
                        "'X (other)' (own-class)")
    g.add_argument("--subdir", metavar="DIR", help="folder inside a zip archive (e.g. train)")
    g.add_argument("--nested-lineage", action="store_true", help="read nested folders as the class lineage")
    g.add_argument("--classes", metavar="CLASSES_TXT", help="classes.txt (line i = class i), e.g. for IDX labels or "
                                                             "a table with integer labels")
    if named:
        from taxoclass.datasets import DATASETS

        g.add_argument("--dataset", choices=sorted(DATASETS), help="a named dataset (digits ships with "
                       "scikit-learn; the others read --data-path or download with Keras)")
        g.add_argument("--data-path", metavar="PATH", help="local copy of --dataset (IDX folder, CIFAR-10 zip)")


def load_from_args(args, *, default_dataset: str | None = None, **options):
    """The ImageSet named by the source arguments (unreadable files skipped with one warning on stderr);
    ``options`` go to :func:`taxoclass.data.load_source` (e.g. ``on_error``, ``max_pixels``, ``n_jobs``)."""
    from taxoclass.data.imageset import load_source

    srcs = list(getattr(args, "source", None) or [])
    dataset = getattr(args, "dataset", None)
    if dataset is None and not srcs and not args.table and not args.ecotaxa:
        dataset = default_dataset
    if dataset is not None:
        if srcs or args.table or args.ecotaxa:
            raise DataError("give either --dataset NAME or an image source (SOURCE, --table, --ecotaxa), not both.")
        from taxoclass.datasets import load_dataset

        return load_dataset(dataset, getattr(args, "data_path", None))
    if len(srcs) > 2:
        raise DataError(f"too many sources: {' '.join(srcs)}; give one folder or zip, or an IDX image file and its "
                        "label file.")
    from taxoclass.data.ecotaxa import parse_status

    status = parse_status(args.status)  # checked before any file is read
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        data = load_source(srcs[0] if srcs else None, srcs[1] if len(srcs) == 2 else None, table=args.table,
                           image_root=args.image_root, ecotaxa=args.ecotaxa, file_column=args.file_column,
                           label_column=args.label_column, classes=args.classes, subdir=args.subdir,
                           nested_lineage=args.nested_lineage, allow_outside_root=args.allow_outside_root,
                           status=status, internal_labels=args.internal_labels, **options)
    left = getattr(data, "left_out", None)
    if left:
        print(f"[taxoclass] EcoTaxa: left out {sum(left.values())} object(s) by status ("
              + ", ".join(f"{k} {v}" for k, v in sorted(left.items())) + f"); kept {len(data)} with status "
              f"{', '.join(sorted(status))} (--status all keeps every classified object)", file=sys.stderr)
    return data
