"""``taxoclass train``, ``evaluate``, ``predict`` and ``benchmark``: the commands that train or use models.

Thin layer over :mod:`taxoclass.jobs` and :mod:`taxoclass.comparison`; TensorFlow is imported only when a
command runs, never when the parser is built.
"""

from __future__ import annotations

import argparse
import json
import sys

from taxoclass._console import keras_verbosity, plural
from taxoclass.cli._sources import add_source_arguments, load_from_args
from taxoclass.cli.cluster_cmd import add_cluster_levels_argument
from taxoclass.cli.model_args import add_pipeline, add_size, add_target_precision, add_training, prob, views
from taxoclass.cli.scale_args import add_mode_argument, add_scale_arguments
from taxoclass.data.augment import TTA_MODES
from taxoclass.exceptions import TaxoclassError
from taxoclass.models import DEFAULT_BACKBONE, NODE_HEAD_UNITS, TRAIN_MODELS


def _progress(msg: str) -> None:
    print(f"[taxoclass] {msg}", file=sys.stderr, flush=True)


def register(subparsers) -> None:
    # ------------------------------------------------------------------ train
    p = subparsers.add_parser("train", help="train a tree (or flat) classifier on labelled images",
                              description="Split the images (stratified, seeded), train a TreeClassifier on a "
                                          "taxonomy or an error-based tree (by default the combined model: the "
                                          "tree with a flat head on its trunk), or a flat model, and write a run "
                                          "folder: model.taxoclass, config.json, manifest.csv, training_log.csv, "
                                          "tensorboard/.")
    add_source_arguments(p)
    t = p.add_argument_group("model")
    t.add_argument("--taxonomy", metavar="FILE", help="taxonomy file (any reader format) for a tree model")
    t.add_argument("--from-confusion", metavar="CM", help="build the tree from this confusion matrix "
                                                            "(cluster-confusion input forms)")
    t.add_argument("--beta", type=prob, default=None, help="error threshold for --from-confusion (default: "
                                                            "chosen from the sweep, printed)")
    t.add_argument("--prune", action="store_true", help="restrict --taxonomy to the classes of the images (drops "
                                                         "the other branches and the chains that leaves)")
    t.add_argument("--model", choices=TRAIN_MODELS, default="combined",
                   help="combined (default): the tree plus a flat softmax head on its trunk, their leaf "
                        "probabilities mixed with a weight chosen on the validation split; tree: the tree alone; "
                        "flat: a flat softmax model")
    t.add_argument("--max-cluster-size", type=int, default=None, metavar="N",
                   help="with --from-confusion: never grow a group beyond N classes (default: chosen with beta)")
    add_size(t, dropout_default=0.0, dropout_help="default 0")
    add_pipeline(p, size_default=64)
    add_training(p, epochs_default=10)
    g = p.add_argument_group("run")
    g.add_argument("--manifest", metavar="CSV", help="reuse the split of an earlier run (manifest.csv)")
    g.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE")
    g.add_argument("--reduce-lr", type=int, default=None, metavar="PATIENCE",
                   help="with --lr-schedule plateau: epochs without improvement before the rate is cut (default 2)")
    g.add_argument("--resume", action="store_true",
                   help="insist on continuing an interrupted run in the output folder (the same command run again "
                        "after a crash or kill continues it anyway)")
    g.add_argument("--strategy", choices=("auto", "mirrored", "multiworker"), default="auto",
                   help="tf.distribute strategy (default auto)")
    g.add_argument("--mixed-precision", action="store_true", help="float16 compute on GPUs")
    g.add_argument("--config", metavar="JSON", help="repeat a run: options from its config.json (or a tune "
                                                    "best_config.json); options given here win")
    g.add_argument("-o", "--output", required=True, metavar="DIR", help="run folder to write")
    g.add_argument("--overwrite", action="store_true", help="replace an existing run folder's files")
    p.set_defaults(func=train_cmd, train_parser=p)

    # ------------------------------------------------------------------ evaluate
    p = subparsers.add_parser("evaluate", help="every metric of a saved model on labelled images",
                              description="Evaluate MODEL on labelled images: metrics.json, report.md and PNG "
                                          "figures (confusion matrix, taxonomy coloured by per-node accuracy).")
    p.add_argument("model", metavar="MODEL", help="a model.taxoclass file written by train")
    add_source_arguments(p)
    p.add_argument("--manifest", metavar="CSV", help="evaluate only one split of this manifest (a run's "
                                                      "manifest.csv)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split of --manifest (test)")
    p.add_argument("--threshold", type=prob, default=None, help="also score predictions stopped at the deepest "
                                                                  "node with probability >= T")
    add_target_precision(p)
    p.add_argument("-k", type=int, default=5, help="k of top-k accuracy and distance@k (5)")
    p.add_argument("--taxonomy", metavar="FILE", help="score the hierarchical metrics (hF1, severity, distances) "
                                                      "on this taxonomy instead of the model's own, e.g. an "
                                                      "error-based tree on the biological one (same classes)")
    p.add_argument("--tta", type=views, default=1, metavar="N",
                   help="test-time augmentation: average N fixed views (1 = none; see --tta-mode)")
    p.add_argument("--tta-mode", choices=("auto",) + TTA_MODES, default="auto",
                   help="which views: plankton (flips, rotations by 90 degrees, then the same turned by 45: up to "
                        "16), upright (the left-right mirror and "
                        "shifts by 1/16 of the side, for images with an up and down) or auto (default: upright "
                        "for a model trained with --augment upright, else plankton)")
    add_mode_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for metrics.json, report.md, PNGs")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=evaluate_cmd)

    # ------------------------------------------------------------------ predict
    p = subparsers.add_parser("predict", help="label new images with a saved model",
                              description="Label images: one CSV row per image with the predicted class, its "
                                          "probability, lineage, top-k, and with --threshold the deepest node "
                                          "the model is sure of.")
    p.add_argument("model", metavar="MODEL", help="a model.taxoclass file written by train")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files")
    p.add_argument("--dir", metavar="DIR", help="label every image under this folder")
    p.add_argument("--csv", metavar="FILE", help="label the images listed in this CSV")
    p.add_argument("--file-column", metavar="NAME", help="column of --csv holding the paths")
    p.add_argument("--ecotaxa", metavar="FILE", help="label the objects of an EcoTaxa export (zip, folder or TSV)")
    p.add_argument("--status", default="predicted,dubious,unclassified", metavar="S[,S]",
                   help="with --ecotaxa: the objects to label by object_annotation_status (default "
                        "predicted,dubious,unclassified: every object not yet validated; or all)")
    p.add_argument("--format", choices=("csv", "ecotaxa"), default="csv",
                   help="csv (default) or ecotaxa: an EcoTaxa import TSV (object_id, object_annotation_category, "
                        "object_annotation_status=predicted, probability, sure node) to upload for validation")
    p.add_argument("--threshold", type=prob, default=None,
                   help="stop at the deepest node whose probability is >= T (e.g. 0.8)")
    add_target_precision(p)
    p.add_argument("--top-k", type=int, default=None, help="alternatives to list (default 3, or the number of "
                                                            "classes when the model has fewer)")
    p.add_argument("--tta", type=views, default=1, metavar="N",
                   help="test-time augmentation: average N fixed views (1 = none; see --tta-mode)")
    p.add_argument("--tta-mode", choices=("auto",) + TTA_MODES, default="auto",
                   help="which views: plankton (flips, rotations by 90 degrees, then the same turned by 45: up to "
                        "16), upright (the left-right mirror and "
                        "shifts by 1/16 of the side, for images with an up and down) or auto (default: upright "
                        "for a model trained with --augment upright, else plankton)")
    add_scale_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="CSV",
                   help="predictions CSV (or EcoTaxa TSV) to write (- = standard output)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=predict_cmd)

    # ------------------------------------------------------------------ benchmark
    p = subparsers.add_parser("benchmark", help="flat vs taxonomy tree vs error-based tree, side by side",
                              description="Train a flat model, a tree on the taxonomy and a tree built from the "
                                          "flat model's confusion, on the same split, input size and epochs; write "
                                          "report.json, report.md, benchmark.json and figures. Without a source, "
                                          "runs on scikit-learn's digits.")
    add_source_arguments(p)
    p.add_argument("--taxonomy", metavar="FILE", help="biological taxonomy (default: the dataset's own)")
    p.add_argument("--models", default="flat,taxonomy_tree,error_tree",
                   help="comma-separated subset of flat,flat_block,taxonomy_tree,error_tree,combined (flat_block: "
                        "one softmax on the trees' node block, an ablation; combined: the taxonomy tree with a flat "
                        "head on the same trunk)")
    p.add_argument("--beta", type=prob, default=None, help="error threshold of the error-based tree (default: "
                                                             "chosen from the sweep, printed)")
    add_cluster_levels_argument(p, "error tree")
    p.add_argument("--max-size", dest="max_cluster_size", type=int, help=argparse.SUPPRESS)  # deprecated name
    p.add_argument("--max-cluster-size", type=int, default=None, metavar="N",
                   help="error tree: never grow a group beyond N classes (a low beta on many classes otherwise "
                        "gives one giant group)")
    p.add_argument("--max-per-class", type=int, default=None, metavar="N", help="use at most N images per class")
    add_size(p, dropout_default=None, dropout_help="default: 0.2 for the flat head, 0 for the node heads")
    add_pipeline(p)
    add_training(p, epochs_default=5)
    p.add_argument("--tta", type=views, default=None, metavar="N",
                   help="test-time views of the 'with TTA' scores (default 8, every model scored with and without; "
                        "1 for the named --dataset sets, whose images have an up and down); the views follow "
                        "--augment: mirror and small shifts for upright, flips and rotations by 90, then 45 "
                        "degrees otherwise")
    p.add_argument("--save-models", action="store_true", help="also save every trained model")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="report folder")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=benchmark_cmd, test_size=0.2)


def _load_data(args, **kw):
    what = (getattr(args, "dataset", None) or " ".join(getattr(args, "source", None) or []) or args.table
            or args.ecotaxa or kw.get("default_dataset"))
    _progress(f"reading images: {what}")
    data = load_from_args(args, **kw)
    _progress(f"{plural(len(data), 'image')}, {plural(len(data.classes), 'class', 'classes')}")
    return data


def _load_taxonomy(path):
    if path is None:
        return None
    from taxoclass.taxonomy import load_taxonomy

    return load_taxonomy(path)


def _augment(args, named) -> str:
    if args.augment is not None:
        return args.augment
    if named:
        _progress(f"augmentation off: {named} images have an up and down (--augment upright turns on a fitting one)")
        return "none"
    return "plankton"


def _tta(args, named) -> int:
    if args.tta is not None:
        return args.tta
    if named:
        _progress(f"test-time augmentation off: {named} images have an up and down (--tta N turns it on)")
        return 1
    return 8


def _schedule(args) -> str:
    reduce_lr = getattr(args, "reduce_lr", None)
    if args.lr_schedule is None:
        return "plateau" if reduce_lr is not None else "cosine"
    if reduce_lr is not None and args.lr_schedule != "plateau":
        raise TaxoclassError(f"--reduce-lr applies to --lr-schedule plateau only, not {args.lr_schedule}; drop "
                             "--reduce-lr or pass --lr-schedule plateau.")
    return args.lr_schedule


def train_cmd(args) -> int:
    if args.strategy == "multiworker":  # TensorFlow needs it made before it runs anything else
        from taxoclass.distribute import check_multiworker_options, get_strategy

        check_multiworker_options(args.time_budget)
        get_strategy("multiworker")
    from taxoclass.jobs import train_job

    from taxoclass.cli._config import apply_config, source_options
    from taxoclass.jobs.run_config import absolute_source

    if args.config:
        apply_config(args)
    provenance = {"command_line": ["taxoclass", *getattr(args, "argv", [])], "source": absolute_source(source_options(args))}
    if args.taxonomy and args.from_confusion:
        raise TaxoclassError("give --taxonomy or --from-confusion, not both.")
    from taxoclass._checks import check_training

    flat = args.model == "flat"
    check_training(model=args.model, backbone=args.backbone or DEFAULT_BACKBONE, weights=args.weights if flat else None,
                   trunk=args.trunk, trunk_weights=None if flat else args.weights,
                   node_block=args.node_block, block_filters=args.block_filters, head_units=args.head_units, image_size=args.image_size,
                   channels=args.channels, pad_value=args.pad_value, epochs=args.epochs,
                   fine_tune_epochs=args.fine_tune_epochs, batch_size=args.batch_size,
                   learning_rate=args.learning_rate, val_size=args.val_size, test_size=args.test_size, seed=args.seed,
                   early_stopping_patience=args.early_stopping, reduce_lr_patience=args.reduce_lr,
                   strategy=args.strategy)  # before any image is read
    if args.prune and not args.taxonomy:
        raise TaxoclassError("--prune restricts --taxonomy to the classes of the images: give --taxonomy FILE.")
    from taxoclass.jobs.train import check_model_options

    trunk = check_model_options(args.model, backbone=args.backbone, trunk=args.trunk, weights=args.weights,
                                loss=args.loss, class_layer=args.class_layer, level_schedule=args.level_schedule,
                                coarse_levels=args.coarse_levels, coarse_loss_weight=args.coarse_loss_weight,
                                node_label_smoothing=args.node_label_smoothing)
    tax = _load_taxonomy(args.taxonomy)
    if tax is not None and not flat:  # coarse levels and their weight; pruning can only lower the tree
        from taxoclass.models.coarse_heads import check_coarse_options

        check_coarse_options(args.coarse_levels, args.coarse_loss_weight, trunk, args.node_block or "auto",
                             {args.model: tax})
    data = _load_data(args)
    if args.prune:
        from taxoclass.taxonomy.pruning import prune_taxonomy

        n_before = tax.n_classes
        tax = prune_taxonomy(tax, data.classes, source=getattr(data, "source", "the images"))
        _progress(f"pruned {args.taxonomy} to the {tax.n_classes} classes of the images (of {n_before}), "
                  f"{len(tax)} nodes")
    cm = classes = None
    if args.from_confusion:
        from taxoclass.clustering import load_confusion

        cm, classes = load_confusion(args.from_confusion)
    summary = train_job(
        data, args.output, model=args.model, taxonomy=tax, confusion=cm, confusion_classes=classes, beta=args.beta,
        max_cluster_size=args.max_cluster_size, width=args.width, depth=args.depth, dropout=args.dropout,
        backbone=args.backbone, weights=args.weights, trunk=args.trunk, node_block=args.node_block,
        block_filters=args.block_filters,
        head_units=args.head_units, image_size=args.image_size, channels=args.channels, pad_value=args.pad_value,
        invert=args.invert, epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, augment=_augment(args, getattr(args, "dataset", None)),
        class_weight=args.class_weight,
        sampling=args.sampling, lr_schedule=_schedule(args), time_budget=args.time_budget,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, loss=args.loss,
        level_schedule=args.level_schedule, node_label_smoothing=args.node_label_smoothing,
        coarse_levels=args.coarse_levels, coarse_loss_weight=args.coarse_loss_weight,
        class_layer=args.class_layer, val_size=args.val_size,
        test_size=args.test_size, seed=args.seed, manifest=args.manifest, early_stopping_patience=args.early_stopping,
        reduce_lr_patience=args.reduce_lr, resume=args.resume, strategy=args.strategy,
        mixed_precision=args.mixed_precision, overwrite=args.overwrite, verbose=keras_verbosity(), progress=_progress,
        provenance=provenance)
    print(f"model written to {summary['model_file']}")
    return 0


def evaluate_cmd(args) -> int:
    from taxoclass._checks import check_int
    from taxoclass._files import prepare_output_dir
    from taxoclass.jobs import evaluate_job
    from taxoclass.jobs.evaluate import check_evaluate_mode
    from taxoclass.jobs.outputs import evaluation_lines

    check_int("-k", args.k, lo=1)
    check_evaluate_mode(args.mode)
    prepare_output_dir(args.output, overwrite=args.overwrite)  # checked before any image is read
    taxonomy = _load_taxonomy(args.taxonomy)
    data = _load_data(args)
    m = evaluate_job(args.model, data, args.output, manifest=args.manifest, split_name=args.split,
                     threshold=args.threshold, target_precision=args.target_precision, k=args.k, tta=args.tta,
                     tta_mode=args.tta_mode, mode=args.mode, taxonomy=taxonomy, overwrite=args.overwrite,
                     progress=_progress)
    print("\n".join(evaluation_lines(m)))
    print(f"report written to {args.output}/report.md")
    return 0


def predict_cmd(args) -> int:
    from taxoclass._checks import check_int
    from taxoclass._files import prepare_output_file
    from taxoclass.jobs import predict_job
    from taxoclass.jobs.stream import ImageFiles

    check_int("--top-k", args.top_k, lo=1, none=True)
    if args.output != "-":
        prepare_output_file(args.output, overwrite=args.overwrite)  # checked before any image is read
    if args.ecotaxa:
        from taxoclass.data.ecotaxa import read_ecotaxa

        if args.images or args.dir or args.csv:
            raise TaxoclassError("give --ecotaxa or images (IMAGE, --dir, --csv), not both.")
        data = read_ecotaxa(args.ecotaxa, status=args.status, labelled=False)
    else:
        data = ImageFiles(args.images, folder=args.dir, csv=args.csv, file_column=args.file_column)
    predict_job(args.model, data, args.output, threshold=args.threshold, target_precision=args.target_precision,
                top_k=args.top_k, tta=args.tta, tta_mode=args.tta_mode, format=args.format, mode=args.mode,
                resume=args.resume, chunk_size=args.chunk_size, engine=args.engine, overwrite=args.overwrite,
                progress=_progress)
    if args.output != "-":
        print(f"predictions written to {args.output}")
    return 0


def benchmark_cmd(args) -> int:
    from taxoclass._checks import check_benchmark
    from taxoclass._files import prepare_output_dir
    from taxoclass.comparison import run_benchmark
    from taxoclass.report.markdown import versus_cell

    backbone = args.backbone or DEFAULT_BACKBONE
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    heads = NODE_HEAD_UNITS if args.head_units is None else args.head_units  # node heads; () = linear heads
    check_benchmark(models=models, backbone=backbone, weights=args.weights, image_size=args.image_size,
                    channels=args.channels, pad_value=args.pad_value, epochs=args.epochs,
                    fine_tune_epochs=args.fine_tune_epochs, batch_size=args.batch_size,
                    learning_rate=args.learning_rate, beta=args.beta, cluster_levels=args.cluster_levels,
                    max_cluster_size=args.max_cluster_size, node_block=args.node_block, block_filters=args.block_filters,
                    head_units=heads, trunk=args.trunk, width=args.width, depth=args.depth,
                    dropout=args.dropout, val_size=args.val_size, test_size=args.test_size, seed=args.seed,
                    max_per_class=args.max_per_class)  # before any image is read
    prepare_output_dir(args.output, overwrite=args.overwrite)  # the folder is checked now too
    tax = _load_taxonomy(args.taxonomy)
    data = _load_data(args, default_dataset="digits")
    from taxoclass.taxonomy.internal_labels import check_internal_options

    check_internal_options(data, what="benchmark")
    named = getattr(args, "dataset", None) or (None if (args.source or args.table or args.ecotaxa) else "digits")
    summary = run_benchmark(
        data, taxonomy=tax, models=models, backbone=backbone, weights=args.weights, image_size=args.image_size,
        channels=args.channels, pad_value=args.pad_value, invert=args.invert, epochs=args.epochs,
        fine_tune_epochs=args.fine_tune_epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        beta=args.beta, cluster_levels=args.cluster_levels, max_cluster_size=args.max_cluster_size,
        node_block=args.node_block, block_filters=args.block_filters, head_units=heads, trunk=args.trunk,
        width=args.width, depth=args.depth, dropout=args.dropout, val_size=args.val_size, test_size=args.test_size,
        seed=args.seed,
        max_per_class=args.max_per_class, augment=_augment(args, named),
        lr_schedule=_schedule(args), time_budget=args.time_budget, class_weight=args.class_weight,
        sampling=args.sampling, tta=_tta(args, named), weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
        loss=args.loss, level_schedule=args.level_schedule, node_label_smoothing=args.node_label_smoothing,
        class_layer=args.class_layer, coarse_levels=args.coarse_levels, coarse_loss_weight=args.coarse_loss_weight,
        out_dir=args.output, overwrite=args.overwrite, save_models=args.save_models, verbose=keras_verbosity(),
        progress=_progress)
    tta = f"acc TTA{summary['tta']}" if summary["tta"] > 1 else "acc TTA"
    rows = [("model", "accuracy", tta, "hF1", "severity", "acc risk", "sev. risk", "epochs", "train s", "img/s",
             "params", "top-1 - flat, points [95 %]")]

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    for name, m in summary["models"].items():
        rows.append((name, cell(m["accuracy"], ".4f"), cell(m["accuracy_tta"], ".4f"),
                     cell(m["hierarchical_f1_micro"], ".4f"), cell(m["mistake_severity"], ".2f"),
                     cell(m["accuracy_risk"], ".4f"), cell(m["mistake_severity_risk"], ".2f"),
                     str(m["epochs_run"]), f"{m['train_seconds']:.1f}", f"{m['predict_images_per_second']:.0f}",
                     f"{m['n_params']:,}", versus_cell(m["vs_flat"]["accuracy"], 100) if m.get("vs_flat") else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(json.dumps({"wall_seconds": round(summary["wall_seconds"], 1)}))
    print(f"report written to {args.output}/report.md")
    return 0

