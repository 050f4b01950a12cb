"""``train_job``: read a source, split, train a flat or tree classifier, write a run folder.

A **run folder** holds ``model.taxoclass`` (the model, its taxonomy and its input pipeline), ``config.json``
(every option of the run), ``manifest.csv`` (the split), ``training_log.csv`` (history) and ``tensorboard/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from taxoclass._console import number, plural
from taxoclass.exceptions import DataError, TaxoclassError
from taxoclass.jobs.inference import noop as _noop
from taxoclass.models import (CLASS_LAYERS, DEFAULT_BACKBONE, FLAT_HEAD_UNITS, NODE_HEAD_UNITS, TRAIN_MODELS,
                              trunk_choice)

__all__ = ["train_job", "check_class_layer", "check_imbalance_options", "epochs_run", "flat_schedule", "CLASS_WEIGHTS"]


def _unfinished_run(folder: Path) -> bool:
    """A run folder whose training started (config.json written) but never finished (no model.taxoclass)."""
    return (folder / "config.json").is_file() and not (folder / "model.taxoclass").exists()


def _config_differences(old: dict, new: dict) -> list[str]:
    keys = [k for k in dict.fromkeys([*new, *old]) if k not in ("n_images", "arguments", "source", "command_line",
                                                                 "versions")]
    return [f"{k}: {old.get(k, '(not recorded)')!r} -> {new.get(k, '(not recorded)')!r}" for k in keys
            if json.loads(json.dumps(old.get(k))) != json.loads(json.dumps(new.get(k)))]


def _check_resume(out_dir, config: dict, *, overwrite: bool, resume: bool) -> bool:
    """Whether ``out_dir`` holds an unfinished run of the same configuration (refusing one of another)."""
    out = Path(out_dir)
    unfinished = out.is_dir() and _unfinished_run(out)
    if resume and (overwrite or not unfinished):
        raise TaxoclassError(f"--resume: {out} holds no unfinished run to continue" + (" (--overwrite starts a new "
                             "one)" if overwrite else "") + "; run without --resume to start a new run.")
    if not unfinished or overwrite:
        return False
    try:
        old = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise TaxoclassError(f"{out} holds an unfinished run whose config.json cannot be read; pass --overwrite to "
                             "replace that run.") from None
    diff = _config_differences(old if isinstance(old, dict) else {}, config)
    if diff:
        raise TaxoclassError(f"{out} holds an unfinished run with other options ({'; '.join(diff[:6])}); run the "
                             "same command again to continue it, or pass --overwrite to start a new run there.")
    return True


def train_job(data, out_dir, *, model: str = "combined", taxonomy=None, confusion=None, confusion_classes=None,
              beta: float | None = None, cluster_levels=1, max_cluster_size: int | None = None,
              backbone: str | None = None, weights=None, trunk=None, width: int | None = None,
              depth: int | None = None, node_block: str = "auto", block_filters=(32, 64), head_units=None,
              dropout: float = 0.0,
              image_size: int = 64, channels: int = 3, pad_value: float | None = None, invert: bool = False,
              resize: str = "pad", epochs: int = 10, fine_tune_epochs: int | None = None, batch_size: int = 32,
              learning_rate: float = 1e-3, augment="plankton", class_weight="none", sampling: str = "natural",
              lr_schedule: str = "cosine", time_budget: float | None = None, weight_decay: float | None = None,
              label_smoothing: float | None = None, loss: str | None = None, level_schedule: str | None = None,
              node_label_smoothing: float | None = None, coarse_levels=None, coarse_loss_weight: float | None = None,
              class_layer: str | None = None, val_size: float = 0.1,
              test_size: float = 0.1, seed: int = 0,
              manifest=None,
              early_stopping_patience: int | None = None, reduce_lr_patience: int | None = None,
              resume: bool = False, strategy: str = "auto", mixed_precision: bool = False, overwrite: bool = False,
              verbose="auto", callbacks=None, progress: Callable[[str], None] = _noop,
              provenance: dict | None = None) -> dict:
    """Split ``data``, train a combined (``model="combined"``, the default: the tree plus a flat softmax head on its
    trunk, their leaf probabilities mixed with a weight chosen on the validation split), tree (``model="tree"``:
    the tree alone) or flat (``model="flat"``) classifier, write a run folder.

    The tree is ``taxonomy`` (a Taxonomy, or the data's own), or the error-based tree of ``confusion`` (a confusion
    matrix, with ``confusion_classes``; ``beta=None`` chooses beta and the group size from the sweep, see
    :func:`taxoclass.clustering.error_clustering`; ``max_cluster_size`` caps the groups). ``backbone`` is the flat
    model's (default ``resnet_small``); a tree refuses it (its shared backbone is ``trunk``). ``weights`` are the
    initial weights of the flat model's backbone or the tree's ``trunk``; a tree without a trunk refuses them.
    ``width`` / ``depth``: first-stage filters / blocks per stage of a from-scratch backbone or trunk
    (``resnet_small``, ``vgg_bn``; None: its default, 32 / 1). The recipe defaults: plankton augmentation
    (``augment="plankton"``; ``"upright"`` for images with an up and down, ``"none"``), cosine learning-rate decay
    with warm-up (``lr_schedule``), best validation top-1 weights restored; ``time_budget`` (minutes) replaces
    ``epochs`` by what fits; ``class_weight="balanced"`` / ``"sqrt"`` or ``sampling="balanced"`` counter class
    imbalance. ``weight_decay``, ``label_smoothing`` (both models), ``loss`` and ``class_layer`` (flat) and
    ``level_schedule``, ``node_label_smoothing``, ``coarse_levels`` and ``coarse_loss_weight`` (trees): None keeps
    the model's default.
    ``callbacks``: extra Keras callbacks for ``fit`` (e.g. the pruning callback of ``taxoclass tune``). Returns a
    summary dict (paths, accuracy on the validation split, train seconds, epochs run, parameter count).

    Every option is checked before anything is written. A new run is written in place, so that running the same
    command again after a crash or ``kill -9`` continues it (with other options it is refused, naming what
    differs); ``overwrite=True`` trains beside the old run and replaces it only once the new one is complete. A
    run that fails on bad input leaves ``out_dir`` as it was.

    >>> from taxoclass.datasets import load_dataset                                # doctest: +SKIP
    ``config.json`` records the keyword arguments (``"arguments"``, :mod:`taxoclass.jobs.run_config`), the
    versions, and ``provenance`` (the CLI adds the command line and its data-source options).

    >>> train_job(load_dataset("digits"), "run1", model="flat", image_size=32)     # doctest: +SKIP
    """
    from taxoclass.jobs.run_config import run_arguments, versions

    arguments = run_arguments(dict(locals()))
    from taxoclass._checks import check_choice, check_training
    from taxoclass.models.backbones import check_size
    from taxoclass.training import check_schedule_options
    from taxoclass._files import prepare_output_dir
    from taxoclass._json import write_json
    from taxoclass.data import make_dataset, read_manifest, split, write_manifest
    from taxoclass.data.augment import augment_mode
    from taxoclass.taxonomy import save_taxonomy

    check_choice("model", model, TRAIN_MODELS)
    tree = model != "flat"  # "tree", or "combined": the tree with a flat head on its trunk
    if head_units is None:  # the node heads' default, or the flat model's (FlatClassifier's)
        head_units = NODE_HEAD_UNITS if tree else FLAT_HEAD_UNITS
    trunk = check_model_options(model, backbone=backbone, trunk=trunk, weights=weights, loss=loss,
                                class_layer=class_layer, level_schedule=level_schedule, coarse_levels=coarse_levels,
                                coarse_loss_weight=coarse_loss_weight, node_label_smoothing=node_label_smoothing)
    backbone = DEFAULT_BACKBONE if backbone is None else backbone
    node_block = "auto" if node_block is None else node_block  # a flat run's config.json records None
    if pad_value is None:  # the data's own background (load_dataset knows it), else white
        pad_value = 255.0 if getattr(data, "background", None) is None else data.background
    cw = check_imbalance_options(class_weight, sampling)
    augment = augment_mode(augment)
    check_size(backbone if model == "flat" else trunk, width, depth)
    if max_cluster_size is not None:
        from taxoclass._checks import check_int

        if confusion is None:
            raise TaxoclassError(f"max_cluster_size={max_cluster_size} sizes the groups of an error-based tree; give a "
                                 "confusion matrix (--from-confusion CM) or drop it.")
        check_int("max_cluster_size", max_cluster_size, lo=1, hint=" (classes per group of the error-based tree)")
    check_schedule_options(lr_schedule, time_budget, True, reduce_lr_patience)
    check_training(model=model, backbone=backbone, weights=weights if model == "flat" else None, trunk=trunk,
                   trunk_weights=weights if tree else None, node_block=node_block,
                   block_filters=block_filters,
                   head_units=head_units, dropout=dropout, image_size=image_size, channels=channels,
                   pad_value=pad_value, resize=resize, epochs=epochs, fine_tune_epochs=fine_tune_epochs,
                   batch_size=batch_size, learning_rate=learning_rate, class_weight=cw, sampling=sampling,
                   val_size=val_size, test_size=test_size, seed=seed,
                   early_stopping_patience=early_stopping_patience, reduce_lr_patience=reduce_lr_patience,
                   strategy=strategy)
    if taxonomy is None:
        taxonomy = getattr(data, "taxonomy", None)
    if confusion is not None:
        from taxoclass.clustering import error_clustering

        classes = list(confusion_classes) if confusion_classes is not None else list(data.classes)
        res = error_clustering(confusion, classes, beta=beta, max_cluster_size=max_cluster_size,
                               progress=progress)
        taxonomy = res.to_taxonomy(cluster_levels)
    if tree and taxonomy is None:
        raise TaxoclassError(f"a {model} model needs a taxonomy: pass --taxonomy FILE, --from-confusion CM, or use "
                             "--model flat.")
    check_class_layer(class_layer, taxonomy)
    coarse = {k: v for k, v in (("coarse_levels", coarse_levels), ("coarse_loss_weight", coarse_loss_weight))
              if v is not None}
    if tree:
        from taxoclass.models.coarse_heads import check_coarse_options

        check_coarse_options(coarse_levels, coarse_loss_weight, trunk, node_block, {model: taxonomy})
    if taxonomy is not None:
        taxonomy.check_classes(data.classes, source=getattr(data, "source", "the data"))
        classes = list(taxonomy.classes)
    else:
        classes = list(data.classes)
    from taxoclass.taxonomy.internal_labels import check_internal_options

    check_internal_options(data, class_weight=cw, loss=loss)  # labels at internal nodes: class-only options
    if len(classes) < 2:
        raise DataError(f"{getattr(data, 'source', 'the data')} has {len(classes)} class(es); a classifier needs "
                        "at least 2 classes.")
    worker_dir = None
    if strategy == "multiworker":
        from taxoclass.distribute import check_multiworker_options, multiworker_task

        check_multiworker_options(time_budget)
        chief, index = multiworker_task()
        if not chief:  # every worker trains the same model; only the chief writes the run folder
            final = Path(out_dir)
            out_dir = worker_dir = final.parent / f".{final.name}.worker{index}"  # its backups, for a resume
    out = Path(out_dir)
    if manifest is not None:
        man = read_manifest(manifest)
    elif out.is_dir() and _unfinished_run(out) and (out / "manifest.csv").is_file() and not overwrite:
        man = read_manifest(out / "manifest.csv")
    else:
        man = split(data, val_size=val_size, test_size=test_size, seed=seed)
    train, val = data.select(man, "train"), data.select(man, "val")  # a manifest of other images is refused here
    if len(train) == 0:
        raise DataError("the split leaves no training image; use more images or smaller val/test sizes.")
    spec = dict(pad_value=float(pad_value), invert=bool(invert), resize=resize)  # the model's input spec
    pipe = {"image_size": int(image_size), "channels": int(channels), **spec}  # == clf.input_spec()
    config = {"model": model, "backbone": backbone if model == "flat" else None, "trunk": trunk,
              "weights": None if weights is None else str(weights), "epochs": int(epochs),
              "fine_tune_epochs": fine_tune_epochs, "batch_size": int(batch_size), "learning_rate": learning_rate,
              "augment": augment, "class_weight": "none" if cw is None else class_weight, "sampling": sampling,
              "lr_schedule": lr_schedule, "time_budget": time_budget, "weight_decay": weight_decay,
              "label_smoothing": label_smoothing, "loss": loss, "level_schedule": level_schedule,
              **({} if class_layer is None else {"class_layer": class_layer}),
              **({} if node_label_smoothing is None else {"node_label_smoothing": node_label_smoothing}), "seed": seed,
              **({} if coarse_levels is None else {"coarse_levels": list(coarse_levels)}),
              **({} if coarse_loss_weight is None else {"coarse_loss_weight": coarse_loss_weight}),
              "beta": res.beta if confusion is not None else None, "node_block": node_block if tree else None,
              "block_filters": list(block_filters),
              **({} if width is None else {"width": int(width)}), **({} if depth is None else {"depth": int(depth)}),
              **({} if max_cluster_size is None else {"max_cluster_size": int(max_cluster_size)}),
              "head_units": list(head_units), "dropout": dropout, "pipeline": pipe,
              "data": getattr(data, "source", "images"), "n_images": len(data), "classes": classes,
              "arguments": arguments,
              "versions": versions(), **(provenance or {})}
    _check_resume(out, config, overwrite=overwrite, resume=resume)
    common = dict(class_order=taxonomy if taxonomy is not None else classes,  # a taxonomy codes node labels too
                  batch_size=batch_size, seed=seed, image_size=int(image_size), channels=int(channels), **spec)
    train_ds = make_dataset(train, shuffle=True, augment=augment, sampling=sampling, **common)
    val_ds = make_dataset(val, **common) if len(val) else None
    input_shape = (int(image_size), int(image_size), int(channels))
    with prepare_output_dir(out, overwrite=overwrite, resumable=_unfinished_run) as run:
        folder = run.path
        if run.resuming:
            from taxoclass.resume import BACKUP_DIR, TRAINED_FILE

            trained = (folder / BACKUP_DIR / TRAINED_FILE).is_file()
            progress(f"{out} holds an unfinished run: " + ("its training had finished; choosing what the validation "
                     "split decides, without training again" if trained else
                     "continuing it from its last finished epoch"))
            if not (folder / BACKUP_DIR).is_dir():  # killed before its first epoch ended: start it again
                for name in ("training_log.csv", "best.keras"):
                    (folder / name).unlink(missing_ok=True)
                import shutil

                shutil.rmtree(folder / "tensorboard", ignore_errors=True)
        write_manifest(man, folder / "manifest.csv", overwrite=True)
        progress(f"split: {len(train)} train, {len(val)} val, {int((man['split'] == 'test').sum())} test images")
        loop = dict(batch_size=batch_size, learning_rate=learning_rate, output_dir=str(folder), csv_log=True,
                    tensorboard=True, resume=True, strategy=strategy, mixed_precision=mixed_precision,
                    early_stopping_patience=early_stopping_patience, reduce_lr_patience=reduce_lr_patience,
                    random_state=seed, lr_schedule=lr_schedule, time_budget=time_budget,
                    **{k: v for k, v in (("weight_decay", weight_decay), ("label_smoothing", label_smoothing))
                       if v is not None})
        if tree:
            from taxoclass.models.tree import TreeClassifier

            clf = TreeClassifier(taxonomy, input_shape=input_shape, **spec, trunk=trunk, trunk_weights=weights,
                                 width=width, depth=depth, node_block=node_block,
                                 block_filters=tuple(block_filters), head_units=tuple(head_units), dropout=dropout,
                                 epochs=int(epochs), flat_head=model == "combined", **loop,
                                 **({} if level_schedule is None else {"level_schedule": level_schedule}),
                                 **({} if node_label_smoothing is None else
                                    {"node_label_smoothing": node_label_smoothing}), **coarse)
        else:
            from taxoclass.models.flat import FlatClassifier

            clf = FlatClassifier(taxonomy if taxonomy is not None else classes, backbone=backbone,
                                 input_shape=input_shape, **spec, weights=weights, width=width, depth=depth,
                                 head_units=tuple(head_units) or (128,), dropout=dropout,
                                 **flat_schedule(weights, epochs, fine_tune_epochs, learning_rate), **loop,
                                 **({} if loss is None else {"loss": loss}),
                                 **({} if class_layer is None else {"class_layer": class_layer}))
        if taxonomy is not None:
            save_taxonomy(taxonomy, folder / "taxonomy.tsv", overwrite=True)
        write_json(folder / "config.json", config)
        progress(f"training a {model} model for " + (f"{number(time_budget)} min ..." if time_budget else
                                                    f"{plural(epochs, 'epoch')} ..."))
        t0 = time.perf_counter()
        clf.fit(train_ds, validation_data=val_ds, class_weight=cw, callbacks=callbacks, verbose=verbose)
        secs = time.perf_counter() - t0
        clf.augment_ = augment  # saved with it: `evaluate --tta` picks the test-time views that match it
        clf.save(folder / "model.taxoclass", overwrite=True)
        summary = {"train_seconds": secs, "history": clf.history_, "epochs_run": epochs_run(clf.history_),
                   "n_params": int(clf.model_.count_params())}
        if val_ds is not None:
            summary["val_accuracy"] = clf.evaluate(val_ds)["accuracy"]
        if getattr(clf, "combine_weight_", None) is not None:
            summary["combine_weight"] = clf.combine_weight_
    if worker_dir is not None:  # a finished worker's folder has served its purpose: the chief holds the run
        import shutil

        shutil.rmtree(worker_dir, ignore_errors=True)
        out = final
    summary["model_file"] = str(out / "model.taxoclass")
    progress(f"trained in {secs:.1f} s" + (f"; validation accuracy {number(summary['val_accuracy'])}"
                                           if "val_accuracy" in summary else "")
             + (f"; tree weight {number(summary['combine_weight'])} against the flat head (chosen on the validation "
                "split)" if "combine_weight" in summary else "") + _calibration_note(clf))
    return summary


def _calibration_note(clf) -> str:
    c = getattr(clf, "calibration_", None)
    if not c:
        return ""
    return (f"; temperature {number(c['temperature'])} (expected calibration error {number(c['ece_before'])} -> "
            f"{number(c['ece_after'])} on the validation split)")


def epochs_run(history: dict) -> int:
    """The number of epochs a fitted model's ``history_`` holds.

    >>> epochs_run({"loss": [1.0, 0.5, 0.4]})
    3
    """
    return max((len(v) for v in (history or {}).values()), default=0)


CLASS_WEIGHTS = ("none", "balanced", "sqrt")


def check_model_options(model: str, *, backbone=None, trunk=None, weights=None, loss=None, class_layer=None,
                        level_schedule=None, coarse_levels=None, coarse_loss_weight=None,
                        node_label_smoothing=None):
    """Refuse options that belong to the other kind of model (a flat model's ``--loss`` on a tree, a tree's
    ``--coarse-levels`` on a flat model, ...); returns the tree's trunk with its default resolved (``trunk`` as
    given for a flat model). Needs no data, so the CLI runs it before reading any image.

    >>> check_model_options("flat", level_schedule="coarse_to_fine")
    Traceback (most recent call last):
    ...
    taxoclass.exceptions.TaxoclassError: --level-schedule coarse_to_fine weights a tree's levels; a flat model has none: drop it or use a tree model.
    """
    tree = model != "flat"
    if tree and backbone is not None:
        raise TaxoclassError(f"--backbone {backbone} is the flat model's backbone; a {model} model's shared backbone "
                             f"is its trunk: pass --trunk {backbone} (or --model flat).")
    if tree:  # the tree's shared trunk: the default backbone unless named; "none": node blocks on the image
        trunk = trunk_choice(trunk, DEFAULT_BACKBONE)
    if tree and weights is not None and trunk is None:
        raise TaxoclassError(f"--weights {weights} would set the initial weights of a backbone, but this tree model has "
                             "none (--trunk none): name a --trunk (its weights are then --weights) or drop --weights.")
    if model == "flat" and trunk is not None:
        raise TaxoclassError(f"--trunk {trunk} is a tree model's shared backbone; a flat model's is --backbone.")
    if tree and loss is not None:
        raise TaxoclassError(f"--loss {loss} is the flat model's loss; a {model} model's loss is its node losses "
                             "(see --level-schedule), so use --model flat or drop --loss.")
    if tree and class_layer is not None:
        raise TaxoclassError(f"--class-layer {class_layer} is the flat model's class layer; a {model} model's "
                             "classes come from its node heads, so use --model flat or drop --class-layer.")
    if model == "flat" and level_schedule is not None:
        raise TaxoclassError(f"--level-schedule {level_schedule} weights a tree's levels; a flat model has none: "
                             "drop it or use a tree model.")
    if model == "flat" and (coarse_levels is not None or coarse_loss_weight is not None):
        raise TaxoclassError("--coarse-levels and --coarse-loss-weight add coarse heads to a tree's trunk; a flat "
                             "model has no taxonomy levels to predict: drop them or use a tree model.")
    if model == "flat" and node_label_smoothing is not None:
        raise TaxoclassError(f"--node-label-smoothing {node_label_smoothing} smooths a tree's node heads; a flat "
                             "model has none: drop it (its smoothing is --label-smoothing) or use a tree model.")
    return trunk


def check_class_layer(class_layer, taxonomy) -> None:
    """Check the flat model's ``class_layer`` (None, "dense" or "lineage") before anything is written: "lineage"
    sums each class's weights along ``taxonomy``, so it needs one.

    >>> check_class_layer("dense", None)
    """
    from taxoclass._checks import check_choice

    if class_layer is None:
        return
    check_choice("class_layer", class_layer, CLASS_LAYERS)
    if class_layer == "lineage" and taxonomy is None:
        raise TaxoclassError("--class-layer lineage sums each class's weights along its taxonomy lineage: pass "
                             "--taxonomy FILE, or drop --class-layer.")


def check_imbalance_options(class_weight, sampling: str):
    """Check ``class_weight`` ("none", "balanced", "sqrt", None or a dict) and ``sampling`` ("natural" or
    "balanced"); returns the class weight for ``fit`` (None for "none"). Balanced sampling and class weights
    together would correct twice, so they are refused.

    >>> check_imbalance_options("none", "balanced") is None
    True
    """
    from taxoclass.data.pipeline import SAMPLING_MODES

    if sampling not in SAMPLING_MODES:
        raise TaxoclassError(f"sampling={sampling!r} is not valid; expected one of {', '.join(SAMPLING_MODES)}.")
    if class_weight is None or isinstance(class_weight, dict):
        cw = class_weight
    elif class_weight in CLASS_WEIGHTS:
        cw = None if class_weight == "none" else class_weight
    else:
        raise TaxoclassError(f"class_weight={class_weight!r} is not valid; expected one of {', '.join(CLASS_WEIGHTS)}"
                             " or a {class: weight} dict.")
    if cw is not None and sampling == "balanced":
        raise TaxoclassError("class_weight and balanced sampling both correct the class imbalance; choose one "
                             "(--class-weight balanced or --sampling balanced).")
    return cw


def flat_schedule(weights, epochs: int, fine_tune_epochs: int | None, learning_rate: float) -> dict:
    """FlatClassifier phase arguments for an epoch budget.

    From scratch (``weights=None``) every epoch trains the whole network at ``learning_rate`` (the same budget a
    tree gets); with pretrained weights the head trains first, then the last ``fine_tune_epochs`` (default half)
    fine-tune at the library's lower learning rates.

    >>> flat_schedule(None, 10, None, 1e-3)["epochs"]
    (0, 10)
    >>> flat_schedule("imagenet", 10, None, 1e-3)["epochs"]
    (5, 5)
    """
    epochs = int(epochs)
    if weights is None:
        return {"epochs": (0, epochs), "fine_tune_learning_rate": learning_rate,
                "final_learning_rate": learning_rate}
    ft = epochs // 2 if fine_tune_epochs is None else int(fine_tune_epochs)
    if not 0 <= ft <= epochs:
        raise TaxoclassError(f"fine_tune_epochs must be between 0 and epochs ({epochs}), got {fine_tune_epochs}.")
    return {"epochs": (epochs - ft, ft)}
