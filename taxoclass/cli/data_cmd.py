"""``taxoclass data inspect SOURCE``: the first thing to run on a new image collection.

Prints the number of images and classes, images per class (sorted, with the imbalance ratio), image size
statistics and every unreadable file with the reason; ``--format json`` for scripts. Does not import TensorFlow.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections import Counter

import numpy as np

from taxoclass.cli._sources import add_source_arguments, load_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="inspect image collections",
                              description="Inspect image collections (folders, zips, tables, EcoTaxa, IDX).")
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True
    ins = sub.add_parser("inspect", help="count images and classes, image sizes, unreadable files",
                         description="Read an image source like training would and report what is in it: images "
                                     "per class, imbalance, image sizes, and every unreadable file with its reason.")
    add_source_arguments(ins, named=False)
    ins.add_argument("--max-pixels", type=int, default=None, metavar="N",
                     help="images with more pixels are reported unreadable (decompression-bomb guard; "
                          "default 89478485)")
    ins.add_argument("--jobs", type=int, default=None, metavar="N", help="threads for decoding (default: CPUs)")
    ins.add_argument("--top", type=int, default=None, metavar="N", help="show only the N largest and N smallest "
                                                                       "classes in text output")
    ins.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    ins.add_argument("-o", "--output", metavar="CSV", help="also write the images per class as a CSV table (class, "
                                                           "images); - = standard output, instead of the report")
    ins.add_argument("--overwrite", action="store_true", help="replace the --output file if it exists")
    ins.set_defaults(func=inspect_cmd)


def _stats(values: np.ndarray) -> dict:
    if values.size == 0:
        return {}
    num = int if values.dtype.kind in "iu" else float  # sizes are integers, aspect ratios are not
    return {"min": num(values.min()), "median": float(np.median(values)), "mean": round(float(values.mean()), 1),
            "max": num(values.max())}


def inspect_report(ds) -> dict:
    """A JSON-able summary of an ImageSet (what ``taxoclass data inspect`` prints).

    >>> import numpy as np
    >>> from taxoclass.data import ImageSet
    >>> r = inspect_report(ImageSet.from_arrays(np.zeros((3, 4, 5), np.uint8), ["a", "b", "b"]))
    >>> r["images"], r["per_class"], r["imbalance_ratio"]
    (3, {'b': 2, 'a': 1}, 2.0)
    """
    counts = ds.counts()
    per_class = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    nonzero = [v for v in counts.values() if v > 0]
    report = {
        "source": ds.source,
        "kind": ds.kind,
        "images": len(ds),
        "classes": len(ds.classes),
        "per_class": per_class,
        "imbalance_ratio": round(max(nonzero) / min(nonzero), 2) if nonzero else None,
        "empty_classes": [c for c, v in counts.items() if v == 0],
    }
    if ds.sizes is not None and len(ds.sizes):
        h, w = ds.sizes[:, 0], ds.sizes[:, 1]
        report["size"] = {"height": _stats(h), "width": _stats(w), "aspect_w_over_h": {
            k: round(float(v), 3) for k, v in _stats(w / np.maximum(h, 1)).items()} if len(h) else {}}
    if ds.modes is not None:
        report["formats"] = dict(Counter(ds.modes.tolist()).most_common())
    elif ds.array is not None:
        report["formats"] = {f"array uint8 {ds.array.shape[-1]} channel(s)": len(ds)}
    report["converted"] = int(np.asarray(ds.convert).sum())
    report["unreadable"] = [{"file": ds._where(b.key), "reason": b.reason} for b in ds.bad_files]
    if ds.taxonomy is not None:
        report["taxonomy"] = {"nodes": len(ds.taxonomy), "height": ds.taxonomy.height}
    known = set(ds.classes)
    internal = Counter(v for v in ds.labels.tolist() if v not in known)
    if internal:  # EcoTaxa objects annotated at an internal node (taxoclass.taxonomy.internal_labels)
        report["labelled_at_internal_node"] = dict(sorted(internal.items(), key=lambda kv: (-kv[1], kv[0])))
    if getattr(ds, "left_out", None):
        report["left_out_by_status"] = dict(sorted(ds.left_out.items()))
    return report


def _text(report: dict, top: int | None) -> str:
    lines = [f"source: {report['source']} ({report['kind']})",
             f"images: {report['images']}", f"classes: {report['classes']}"]
    if "taxonomy" in report:
        lines.append(f"taxonomy: {report['taxonomy']['nodes']} nodes, height {report['taxonomy']['height']}")
    ratio = report["imbalance_ratio"]
    lines.append(f"images per class (imbalance ratio largest/smallest = {ratio:g}):" if ratio else
                 "images per class:")
    items = list(report["per_class"].items())
    width = max((len(c) for c, _ in items), default=5)
    if top and len(items) > 2 * top:
        shown = items[:top] + [("...", None)] + items[-top:]
    else:
        shown = items
    for c, v in shown:
        lines.append(f"  {c:<{width}}  {'' if v is None else v:>7}")
    if report.get("labelled_at_internal_node"):
        lines.append("labelled at an internal node (trained on the decisions above it): " + ", ".join(
            f"{k} {v}" for k, v in report["labelled_at_internal_node"].items()))
    if report.get("left_out_by_status"):
        lines.append("left out by status: " + ", ".join(f"{k} {v}" for k, v in report["left_out_by_status"].items()))
    if report["empty_classes"]:
        lines.append(f"classes without images: {', '.join(report['empty_classes'])}")
    if "size" in report:
        s = report["size"]
        for k in ("width", "height"):
            d = s[k]
            lines.append(f"{k}: min {d['min']}, median {d['median']:g}, mean {d['mean']:g}, max {d['max']}")
    if report.get("formats"):
        lines.append("formats: " + ", ".join(f"{k} x{v}" for k, v in report["formats"].items()))
    if report["converted"]:
        lines.append(f"converted with PIL (16-bit, alpha, CMYK, palette, ...): {report['converted']}")
    bad = report["unreadable"]
    lines.append(f"unreadable: {len(bad)}")
    for b in bad:
        lines.append(f"  {b['file']}: {b['reason']}")
    return "\n".join(lines)


def _write_counts(report: dict, output) -> None:
    """The images per class as a CSV table (largest class first), to ``output`` or to standard output."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["class", "images"])
    w.writerows(report["per_class"].items())
    if output is None:
        sys.stdout.write(buf.getvalue())
        return
    from taxoclass._files import atomic_write

    with output, atomic_write(output.path, "w", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())


def inspect_cmd(args) -> int:
    from taxoclass._checks import MAX_PIXELS_LIMIT, check_int
    from taxoclass.data.checks import DEFAULT_MAX_PIXELS

    check_int("--max-pixels", args.max_pixels, lo=1, hi=MAX_PIXELS_LIMIT, none=True)
    check_int("--top", args.top, lo=1, none=True)
    check_int("--jobs", args.jobs, lo=1, hi=256, none=True)
    output = None
    if args.output not in (None, "-"):
        from taxoclass._files import prepare_output_file

        output = prepare_output_file(args.output, overwrite=args.overwrite)  # checked before any image is read
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unreadable files are part of the report
        ds = load_from_args(args, on_error="ignore", max_pixels=DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels,
                            n_jobs=args.jobs)
    report = inspect_report(ds)
    if args.output is not None:
        _write_counts(report, output)
    if args.output != "-":  # with -o - the table is the whole output
        if args.format == "json":
            json.dump(report, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print(_text(report, args.top))
    if len(ds) == 0:
        print(f"taxoclass: error: {ds.source}: no readable image among {len(ds.bad_files)} file(s); see the list "
              "above.", file=sys.stderr)
        return 2
    return 0
