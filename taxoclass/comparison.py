"""Flat vs hierarchical, on the same split, the same input size and the same epoch budget.

:func:`run_benchmark` trains, in one run:

1. ``flat``: a :class:`~taxoclass.models.flat.FlatClassifier` (``resnet_small`` from scratch by default, any registry backbone);
   ``flat_block`` (optional ablation): one softmax over every class on the trees' own node block (a
   TreeClassifier on the one-level tree root -> classes), which separates what the hierarchy brings from what
   the block architecture brings;
2. ``taxonomy_tree``: a :class:`~taxoclass.models.tree.TreeClassifier` on the biological taxonomy (when one is
   given or the data carries one);
3. ``error_tree``: a TreeClassifier on the error-based tree: the flat model's confusion on the *validation*
   split, clustered by :func:`taxoclass.clustering.cluster_confusion` (the LOV study's structure);
4. ``combined`` (optional): the taxonomy tree with a flat softmax head (the flat model's head) on the same trunk,
   trained jointly, leaf probabilities mixed per leaf with a weight chosen on the validation split.

The trees' shared trunk is the flat model's backbone (whole under the default dense node heads, cut before its
last stage for ``small_cnn`` node blocks), so tree and flat compare like for like; the tree models are built by
:func:`taxoclass.models.factory.make_estimator`, the flat model with a dense head of 1,024 units (``small_cnn``:
twice the node heads' last layer) whatever ``head_units`` says.

Every model is evaluated on the same test split with :func:`taxoclass.metrics.evaluate_predictions` against one
reference tree (the biological taxonomy, or the error-based tree when there is none), every other model is compared
with the flat model on the same images by :func:`taxoclass.metrics.paired_bootstrap` (``vs_flat``: top-1 and mistake
severity differences with 95 % intervals), and the report (JSON, Markdown, PNG figures) is written by
:func:`taxoclass.report.write_report`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from taxoclass.exceptions import DataError, TaxoclassError
from taxoclass.models import DEFAULT_BACKBONE, FLAT_HEAD_UNITS, MODEL_NAMES, NODE_HEAD_UNITS, trunk_choice

__all__ = ["run_benchmark", "MODEL_KINDS", "DEFAULT_MODELS", "subsample"]

# the model options that only the flat model / only the trees take (the rest go to every model)
_FLAT_ONLY = ("loss", "class_layer")
_TREE_ONLY = ("level_schedule", "node_label_smoothing", "coarse_levels", "coarse_loss_weight")

MODEL_KINDS = MODEL_NAMES  # one list, in taxoclass.models
DEFAULT_MODELS = ("flat", "taxonomy_tree", "error_tree")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def subsample(data, max_per_class: int | None, *, seed: int = 0):
    """At most ``max_per_class`` images of every class, drawn reproducibly (every class keeps its images when it
    has fewer).

    >>> import numpy as np
    >>> from taxoclass.data import ImageSet
    >>> ds = ImageSet.from_arrays(np.zeros((6, 4, 4), np.uint8), ["a"] * 5 + ["b"])
    >>> subsample(ds, 2).counts()
    {'a': 2, 'b': 1}
    """
    if max_per_class is None:
        return data
    if int(max_per_class) < 1:
        raise DataError(f"max_per_class must be >= 1, got {max_per_class!r}.")
    rng = np.random.default_rng(seed)
    keep = []
    for c in data.classes:
        idx = np.flatnonzero(data.labels == c)
        if len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, int(max_per_class), replace=False))
        keep.append(idx)
    return data.subset(np.sort(np.concatenate(keep)))


def _timed_proba(model, ds, ref_classes: Sequence[str]) -> tuple[np.ndarray, float]:
    """Probabilities in ``ref_classes`` order and the images/s of the prediction pass (after a warm-up batch)."""
    for batch in ds.take(1):  # warm-up: graph tracing is not throughput
        model.predict_proba(batch[0] if isinstance(batch, tuple) else batch)
    t0 = time.perf_counter()
    p = model.predict_proba(ds)
    dt = time.perf_counter() - t0
    order = [model.taxonomy_.class_index(c) for c in ref_classes]
    return p[:, order], len(p) / max(dt, 1e-9)


def run_benchmark(data, *, taxonomy=None, models: Sequence[str] = DEFAULT_MODELS, backbone: str = DEFAULT_BACKBONE,
                  weights=None, image_size: int | None = None, channels: int = 3, pad_value: float | None = None,
                  invert: bool = False, epochs: int = 5, fine_tune_epochs: int | None = None, batch_size: int = 32,
                  learning_rate: float = 1e-3, beta: float | None = None, cluster_levels=1,
                  max_cluster_size: int | None = None, lr_schedule: str = "cosine", time_budget: float | None = None,
                  class_weight="none", sampling: str = "natural", tta: int = 8, weight_decay: float | None = None,
                  label_smoothing: float | None = None, loss: str | None = None, level_schedule: str | None = None,
                  node_label_smoothing: float | None = None, class_layer: str | None = None, coarse_levels=None,
                  coarse_loss_weight: float | None = None, node_block: str = "auto", block_filters=(32, 64),
                  head_units=NODE_HEAD_UNITS, trunk=None,
                  width: int | None = None, depth: int | None = None, dropout: float | None = None,
                  val_size: float = 0.1, test_size: float = 0.2, seed: int = 0,
                  max_per_class: int | None = None, augment="plankton", out_dir=None, overwrite: bool = False,
                  save_models: bool = False, k: int = 5, verbose=0,
                  progress: Callable[[str], None] | None = _stderr) -> dict:
    """Train and compare a flat model and tree models on one split; returns the benchmark summary dict.

    Parameters
    ----------
    data : ImageSet (see :mod:`taxoclass.data`; its ``taxonomy`` is used when ``taxonomy`` is None).
    taxonomy : the biological tree for ``taxonomy_tree`` and for the hierarchical metrics.
    models : which of :data:`taxoclass.models.MODEL_NAMES` to run (``"flat"``, ``"flat_block"``,
        ``"taxonomy_tree"``, ``"error_tree"``, ``"combined"``; see :func:`taxoclass.models.factory.make_estimator`);
        ``error_tree`` needs ``flat``.
    backbone, weights : the flat model's backbone and its initial weights (None, ``"imagenet"`` or a file).
    image_size : side of the square model input (default: the backbone's minimum or 64).
    channels, pad_value, invert : input pipeline (see :func:`taxoclass.data.make_dataset`), saved with every model
        as its input spec; ``pad_value=None``: the data's own background (``load_dataset`` sets it: 0 for digits
        and Fashion-MNIST), else 255.
    epochs : training epochs of every model. With pretrained ``weights`` the flat model trains its head for
        ``epochs - fine_tune_epochs`` epochs then fine-tunes for ``fine_tune_epochs`` (default: half).
    beta, cluster_levels, max_cluster_size : error-based tree options. ``beta=None`` (default) chooses beta and the
        largest group from the sweep (:func:`taxoclass.clustering.error_clustering`, the choice is printed); a
        given ``beta`` is used as is.
    augment, lr_schedule, time_budget : the training recipe of every model: the training augmentation (``"plankton"``,
        default; ``"upright"`` for images with an up and down; ``"none"``),
        ``"cosine"`` / ``"constant"`` / ``"plateau"`` learning rate, and ``time_budget`` minutes per model instead
        of ``epochs`` (equal cost: each model trains for the same wall time; epochs follow from its first epoch).
    class_weight, sampling : ``"none"`` / ``"balanced"`` class weights or ``"natural"`` / ``"balanced"`` sampling.
    tta : every model is scored without and with test-time augmentation over ``tta`` fixed views
        (``accuracy`` and ``accuracy_tta``; 1 skips the second pass); the views match ``augment`` (mirror and
        small shifts for ``"upright"``, flips and rotations by 90, then 45 degrees otherwise). Given a
        ``taxonomy``, every model is also scored answering by expected mistake severity (``accuracy_risk`` and
        ``mistake_severity_risk``: the ``mode="risk"`` of :meth:`~taxoclass.models.base.BaseClassifier.predict`,
        on the test-time views when ``tta`` > 1).
    weight_decay, label_smoothing : every model's AdamW weight decay and label smoothing; ``loss`` the flat model's
        loss and ``class_layer`` its class layer, ``level_schedule``, ``node_label_smoothing``, ``coarse_levels`` and
        ``coarse_loss_weight`` the trees' (see FlatClassifier and TreeClassifier); None keeps their defaults.
    node_block, block_filters, head_units : tree node blocks (see :class:`~taxoclass.models.tree.TreeClassifier`).
    trunk : the trees' shared trunk: None (default) = the flat model's ``backbone`` with its ``weights`` (whole under
        dense node heads, cut before its last stage for ``small_cnn`` blocks), ``"none"`` = node blocks on the
        image, or another backbone name (``weights`` are then also its initial weights).
    width, depth : first-stage filters and blocks per stage of a from-scratch ``backbone`` (``resnet_small``,
        ``vgg_bn``; None: its default, 32 and 1), for the flat model and the trees' trunk alike. ``dropout``: rate
        before every model's heads (None: each model's default, 0.2 for the flat head and 0 for the node heads).
    val_size, test_size, seed : the stratified split (written to ``manifest.csv``).
    max_per_class : subsample every class to at most this many images first (CPU-sized runs).
    out_dir : where ``report.json``, ``report.md``, the figures, ``manifest.csv`` and ``error_taxonomy.tsv`` go.

    >>> from taxoclass.datasets import load_dataset                                       # doctest: +SKIP
    >>> run_benchmark(load_dataset("digits"), backbone="small_cnn", image_size=32,        # doctest: +SKIP
    ...               epochs=5, out_dir="demo_output")["models"]["flat"]["accuracy"]
    0.95
    """
    from taxoclass._checks import check_benchmark
    from taxoclass._files import prepare_output_dir
    from taxoclass.training import check_schedule_options
    from taxoclass.jobs import check_class_layer, check_imbalance_options, check_tta
    from taxoclass.data.augment import augment_mode, tta_mode_for

    say = progress or (lambda _m: None)
    models = list(dict.fromkeys(models))
    image_size = check_benchmark(models=models, backbone=backbone, weights=weights, image_size=image_size,
                                 channels=channels, pad_value=pad_value, epochs=epochs,
                                 fine_tune_epochs=fine_tune_epochs, batch_size=batch_size,
                                 learning_rate=learning_rate, beta=beta, cluster_levels=cluster_levels,
                                 max_cluster_size=max_cluster_size, node_block=node_block,
                                 block_filters=block_filters,
                                 head_units=head_units, trunk=trunk, width=width, depth=depth, dropout=dropout,
                                 val_size=val_size, test_size=test_size, seed=seed, max_per_class=max_per_class, k=k)
    taxonomy = taxonomy if taxonomy is not None else getattr(data, "taxonomy", None)
    for needs_tax in ("taxonomy_tree", "combined"):
        if needs_tax in models and taxonomy is None:
            say(f"no taxonomy given: skipping {needs_tax} (pass taxonomy=... / --taxonomy FILE to add it)")
            models.remove(needs_tax)
    if taxonomy is not None:
        taxonomy.check_classes(data.classes, source=getattr(data, "source", "the data"))
    check_class_layer(class_layer, taxonomy)
    _check_coarse(coarse_levels, coarse_loss_weight, models, taxonomy, backbone, trunk, node_block, cluster_levels)
    cw = check_imbalance_options(class_weight, sampling)
    augment = augment_mode(augment)
    check_schedule_options(lr_schedule, time_budget)
    tta = check_tta(tta, tta_mode_for(augment))  # the views follow the augmentation
    # the folder is claimed now (checked, nothing written) and filled only inside `with` below
    output = prepare_output_dir(out_dir, overwrite=overwrite) if out_dir is not None else None
    with output if output is not None else contextlib.nullcontext() as claimed:
        out = claimed.path if claimed is not None else None
        summary = _run(data, taxonomy, models, out, say, backbone=backbone, weights=weights,
                       image_size=image_size, channels=channels, pad_value=pad_value, invert=invert, epochs=epochs,
                       fine_tune_epochs=fine_tune_epochs, batch_size=batch_size, learning_rate=learning_rate,
                       beta=beta, cluster_levels=cluster_levels, max_cluster_size=max_cluster_size,
                       node_block=node_block, block_filters=block_filters,
                       head_units=head_units, trunk=trunk, width=width, depth=depth, dropout=dropout, val_size=val_size,
                       test_size=test_size, seed=seed, max_per_class=max_per_class, augment=augment,
                       save_models=save_models, k=k,
                       verbose=verbose, lr_schedule=lr_schedule, time_budget=time_budget, class_weight=cw,
                       sampling=sampling, tta=tta, model_options={
                           k: v for k, v in (("weight_decay", weight_decay), ("label_smoothing", label_smoothing),
                                             ("loss", loss), ("level_schedule", level_schedule),
                                             ("node_label_smoothing", node_label_smoothing),
                                             ("coarse_levels", coarse_levels),
                                             ("coarse_loss_weight", coarse_loss_weight),
                                             ("class_layer", class_layer)) if v is not None})
    if out is not None:
        summary["files"] = sorted(str(Path(out_dir) / Path(f).name) for f in summary["files"])
    return summary


def _check_coarse(levels, weight, models, taxonomy, backbone, trunk, node_block, cluster_levels):
    """Coarse heads go on every tree but ``flat_block`` (one level); the error tree, whose height is known only
    once built, is checked against the greatest it can have and later gets the depths it has (:func:`_error_coarse`)."""
    from types import SimpleNamespace

    from taxoclass.models.coarse_heads import check_coarse_options

    if levels is None and weight is None:
        return
    trees = {n: taxonomy for n in ("taxonomy_tree", "combined") if n in models}
    if "error_tree" in models:
        # its greatest possible height (one cluster level: 2; "all": unknown before the merges), the built tree's
        # may be lower (no group of two classes): _error_coarse then drops the depths it lacks
        trees["error_tree"] = SimpleNamespace(height=2 if str(cluster_levels) == "1" else 1 << 30)
    if not trees:
        raise TaxoclassError("--coarse-levels adds coarse heads to the trees, but this benchmark trains none: add "
                             "taxonomy_tree, error_tree or combined to --models, or drop --coarse-levels.")
    check_coarse_options(levels, weight, trunk_choice(trunk, backbone or DEFAULT_BACKBONE), node_block, trees)


def _error_coarse(levels, error_tax, say):
    """The coarse levels the built error tree has room for (None: none), said when some are dropped."""
    if levels is None:
        return None
    from taxoclass.models.coarse_heads import usable_coarse_levels

    kept = usable_coarse_levels(levels, error_tax)
    if len(kept) < len(tuple(levels)):
        say(f"[error_tree] coarse levels {', '.join(map(str, kept)) or 'none'} of {', '.join(map(str, levels))}: "
            f"the error tree has height {error_tax.height}, and a coarse head needs a depth above its classes "
            "with two or more groups")
    return kept or None


def _run(data, taxonomy, models, out, say, *, backbone, weights, image_size, channels, pad_value, invert, epochs,
         fine_tune_epochs, batch_size, learning_rate, beta, cluster_levels, max_cluster_size, node_block, block_filters, head_units,
         trunk, width, depth, dropout, val_size, test_size, seed, max_per_class, augment, save_models, k, verbose,
         lr_schedule, time_budget,
         class_weight, sampling, tta, model_options) -> dict:
    """The body of :func:`run_benchmark`, once every option is checked; writes into ``out`` (a claimed folder)."""
    from taxoclass import __version__
    from taxoclass.clustering import error_clustering
    from taxoclass.data import make_dataset, split, write_manifest
    from taxoclass.metrics import confusion_matrix, evaluate_predictions, paired_bootstrap
    from taxoclass.models.factory import make_estimator
    from taxoclass.models.flat import FlatClassifier
    from taxoclass.report.writer import write_report_files
    from taxoclass.taxonomy import save_taxonomy
    from taxoclass.jobs import epochs_run, flat_schedule, predict_proba

    cw = class_weight
    t_start = time.perf_counter()
    data = subsample(data, max_per_class, seed=seed)
    manifest = split(data, val_size=val_size, test_size=test_size, seed=seed)
    ref_classes = list(taxonomy.classes) if taxonomy is not None else list(data.classes)
    parts = {name: data.select(manifest, name) for name in ("train", "val", "test")}
    counts = {name: len(d) for name, d in parts.items()}
    say(f"data: {len(data)} images, {len(ref_classes)} classes; split {counts} (seed {seed}); "
        f"input {image_size}x{image_size}x{channels}")
    if min(counts.values()) == 0:
        raise DataError(f"the split left an empty part ({counts}); use more images or other val/test sizes.")
    if out is not None:
        write_manifest(manifest, out / "manifest.csv", overwrite=True)
    if pad_value is None:
        pad_value = 255.0 if getattr(data, "background", None) is None else data.background
    spec = dict(pad_value=float(pad_value), invert=bool(invert))  # every model's input spec
    common = dict(class_order=ref_classes, image_size=image_size, channels=channels, batch_size=batch_size,
                  seed=seed, cache=True, **spec)
    train_ds = make_dataset(parts["train"], shuffle=True, augment=augment, sampling=sampling, **common)
    val_ds = make_dataset(parts["val"], **common)
    test_ds = make_dataset(parts["test"], **common)
    if sampling != "balanced":  # (balanced sampling repeats per-class streams: no single pass to run)
        say("reading the images once into the cache, so that no model's time budget pays for decoding them ...")
        for ds in (train_ds, val_ds, test_ds):
            ds.reduce(0, lambda n, _batch: n)  # one pass, in-graph, fills the in-memory cache
    y_val = parts["val"].encode(ref_classes)
    y_test = parts["test"].encode(ref_classes)
    input_shape = (int(image_size), int(image_size), int(channels))
    loop = dict(batch_size=batch_size, learning_rate=learning_rate, random_state=seed, lr_schedule=lr_schedule,
                time_budget=time_budget, **({} if dropout is None else {"dropout": dropout}),
                **{k: v for k, v in model_options.items() if k not in _FLAT_ONLY + _TREE_ONLY})
    flat_only = {k: v for k, v in model_options.items() if k in _FLAT_ONLY}
    tree_only = {k: v for k, v in model_options.items() if k in _TREE_ONLY}
    tree_kw = dict(input_shape=input_shape, **spec, node_block=node_block, block_filters=tuple(block_filters), head_units=tuple(head_units),
                   trunk=trunk, trunk_weights=weights if trunk is not None else None, epochs=int(epochs), **loop,
                   **tree_only)
    flat_phases = flat_schedule(weights, epochs, fine_tune_epochs, learning_rate)
    # flat's, and combined's; linear node heads (head_units=()) leave the small flat head at its 64-unit floor
    flat_head = (max(2 * head_units[-1] if head_units else 0, 64),) if backbone == "small_cnn" else FLAT_HEAD_UNITS

    results, summary_models, fitted = [], {}, {}
    error_tax, clustering, error_coarse = None, None, None
    ref_tax = taxonomy

    def train(name, make):
        say(f"[{name}] training (" + (f"{time_budget} min" if time_budget else f"{epochs} epochs") + ") ...")
        clf = make()
        t0 = time.perf_counter()
        clf.fit(train_ds, validation_data=val_ds, class_weight=cw, verbose=verbose)
        secs = time.perf_counter() - t0
        clf.augment_ = augment  # the TTA scores use the views that match it (and --save-models records it)
        say(f"[{name}] trained in {secs:.1f} s, {epochs_run(clf.history_)} epochs")
        fitted[name] = (clf, secs)
        return clf

    if "flat" in models:
        # given a taxonomy, the flat model keeps it as `train --taxonomy` does (for a hierarchy-aware loss, and for
        # `predict --mode risk` with a saved model); otherwise it knows only the class list
        flat_tax = taxonomy.with_class_order(ref_classes) if taxonomy is not None else list(ref_classes)
        flat = train("flat", lambda: FlatClassifier(flat_tax, backbone=backbone, input_shape=input_shape, **spec,
                                                    weights=weights, width=width, depth=depth,
                                                    head_units=flat_head,
                                                    **flat_phases, **loop, **flat_only))
        if "error_tree" in models:
            p_val, _ = _timed_proba(flat, val_ds, ref_classes)
            cm = confusion_matrix(y_val, p_val.argmax(axis=1), _flat_tax(ref_classes))
            keep = cm.sum(axis=1) > 0
            clustering = error_clustering(cm, ref_classes, beta=beta, drop_empty=not keep.all(),
                                          max_cluster_size=max_cluster_size,
                                          progress=lambda m: say(f"[error_tree] {m}"))
            error_tax = clustering.to_taxonomy(cluster_levels)
            missing = [c for c in ref_classes if c not in error_tax.classes]
            if missing:  # classes absent from the validation split sit directly under the root
                from taxoclass.taxonomy import Taxonomy

                error_tax = Taxonomy.from_paths(list(error_tax.leaf_paths(include_root=False)) + [[c] for c in missing],
                                                root=error_tax.root[-1])
            error_tax = error_tax.with_class_order(ref_classes)
            error_coarse = _error_coarse(tree_kw.get("coarse_levels"), error_tax, say)
            if out is not None:
                save_taxonomy(error_tax, out / "error_taxonomy.tsv", overwrite=True)
    if ref_tax is None:
        ref_tax = error_tax if error_tax is not None else _flat_tax(ref_classes)
    # the trees' shared trunk is the flat model's backbone (and weights) unless trunk names another ("none": no trunk)
    tree_trunk = trunk_choice(trunk, "auto")
    for name, tax in (("flat_block", _flat_tax(ref_classes)), ("taxonomy_tree", taxonomy), ("error_tree", error_tax),
                      ("combined", taxonomy)):
        if name not in models:
            continue
        kw = {k: v for k, v in tree_kw.items() if k != "trunk_weights"}
        if name == "flat_block":  # one level: no coarse heads
            kw = {k: v for k, v in kw.items() if not k.startswith("coarse_")}
        elif name == "error_tree" and "coarse_levels" in kw:
            kw["coarse_levels"] = error_coarse  # the depths the built tree has room for
        train(name, lambda name=name, tax=tax, kw={**kw, "trunk": tree_trunk}: make_estimator(
            name, tax.with_class_order(ref_classes), backbone=backbone, weights=weights, width=width, depth=depth,
            tree_options={"flat_head_units": flat_head} if name == "combined" else None, **kw))

    answers = {}  # each model's top-1 classes (with the views when tta > 1), for the paired comparison with flat
    for name, (clf, secs) in fitted.items():
        say(f"[{name}] evaluating on {counts['test']} test images ...")
        p_test, ips = _timed_proba(clf, test_ds, ref_classes)
        metrics = evaluate_predictions(y_test, p_test, ref_tax, k=k)
        tta_metrics, p_best = None, p_test
        if tta > 1:
            order = [clf.taxonomy_.class_index(c) for c in ref_classes]
            p_best = predict_proba(clf, test_ds, tta)[:, order]
            tta_metrics = evaluate_predictions(y_test, p_best, ref_tax, k=k)
            metrics["accuracy_tta"] = tta_metrics["accuracy"]
        if taxonomy is not None:  # the same probabilities (with the views when tta > 1), answers by `--mode risk`
            risk_metrics = evaluate_predictions(y_test, p_best, ref_tax, k=k, mode="risk")
            metrics["accuracy_risk"] = risk_metrics["accuracy"]
            metrics["mistake_severity_risk"] = risk_metrics["mistake_severity"]
        answers[name] = p_best.argmax(axis=1)  # class indices, in the order y_test and ref_tax use
        n_params = int(clf.model_.count_params())
        n_epochs = epochs_run(clf.history_)
        entry = {"name": name, "metrics": metrics, "history": clf.history_, "train_seconds": secs,
                 "images_per_second": ips, "n_params": n_params, "taxonomy": ref_tax, "epochs_run": n_epochs}
        results.append(entry)
        summary_models[name] = {
            "accuracy": metrics["accuracy"], "top_k_accuracy": metrics["top_k_accuracy"],
            "balanced_accuracy": metrics["balanced_accuracy"], "f1_macro": metrics["f1_macro"],
            "hierarchical_f1_micro": metrics["hierarchical_f1_micro"],
            "mistake_severity": metrics["mistake_severity"],
            "hierarchical_distance_at_1": metrics["hierarchical_distance_at_1"],
            "train_seconds": secs, "predict_images_per_second": ips, "n_params": n_params,
            "epochs_run": n_epochs,
            "classifier_nodes": 1 if isinstance(clf, FlatClassifier) else len(clf.taxonomy_.classifier_nodes),
            "combine_weight": getattr(clf, "combine_weight_", None),
            "tta": tta if tta_metrics else None,
            "accuracy_tta": tta_metrics["accuracy"] if tta_metrics else None,
            "hierarchical_f1_micro_tta": tta_metrics["hierarchical_f1_micro"] if tta_metrics else None,
            "mistake_severity_tta": tta_metrics["mistake_severity"] if tta_metrics else None,
            "accuracy_risk": metrics.get("accuracy_risk"),
            "mistake_severity_risk": metrics.get("mistake_severity_risk")}
        if save_models and out is not None:
            clf.save(out / f"{name}.taxoclass", overwrite=True)
    for entry in results:  # each model against flat: more than the split's luck or not?
        if "flat" in answers and entry["name"] != "flat":
            vs = paired_bootstrap(y_test, answers["flat"], answers[entry["name"]], ref_tax, resamples=1000, seed=seed)
            entry["vs_flat"] = summary_models[entry["name"]]["vs_flat"] = {
                "tta": tta if tta > 1 else None, **{m: vs[m] for m in ("accuracy", "mistake_severity")}}
    summary = {
        "taxoclass_version": __version__, "data": getattr(data, "source", "images"), "n_images": len(data),
        "n_classes": len(ref_classes), "split": counts, "seed": seed, "image_size": int(image_size),
        "channels": int(channels), "node_block": node_block, "epochs": None if time_budget else int(epochs), "time_budget": time_budget,
        "augment": augment, "lr_schedule": lr_schedule, "class_weight": "none" if cw is None
        else cw, "sampling": sampling, "tta": tta, "backbone": backbone, "width": width, "depth": depth,
        "dropout": dropout,
        "weights": None if weights is None else str(weights), "batch_size": int(batch_size),
        "reference_taxonomy": "given taxonomy" if taxonomy is not None else "error-based tree",
        "beta": clustering.beta if clustering is not None else None,
        "beta_chosen": beta is None if clustering is not None else None,
        "max_cluster_size": max_cluster_size if error_tax is not None else None,
        "error_clusters": None if clustering is None else [list(c) for c in clustering.clusters if len(c) > 1],
        "isolated_error": None if clustering is None else float(clustering.isolated_error),
        "model_options": model_options,
        "models": summary_models,
    }
    files = {} if out is None else write_report_files(results, out,
                                                 title=f"taxoclass benchmark: {summary['data']}")
    summary["wall_seconds"] = time.perf_counter() - t_start  # the same figure in benchmark.json and the return
    if out is not None:
        from taxoclass._json import write_json

        write_json(out / "benchmark.json", summary)
        summary["files"] = sorted([str(p) for p in files.values()] + [str(out / "benchmark.json")])
    return summary


def _flat_tax(classes):
    from taxoclass.taxonomy import Taxonomy

    return Taxonomy.from_paths([[c] for c in classes], root="root")
