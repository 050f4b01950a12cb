"""End-to-end jobs behind ``taxoclass train / evaluate / predict``: read a source, split, train, write a run folder.

A **run folder** (``train_job``'s ``out_dir``) holds ``model.taxoclass`` (the model, its taxonomy and its input
pipeline), ``config.json`` (every option of the run), ``manifest.csv`` (the split), ``training_log.csv`` (history)
and ``tensorboard/``. ``evaluate_job`` writes ``metrics.json``, ``report.md`` and PNG figures; ``predict_job`` a
predictions CSV. The CLI only parses arguments and calls these functions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from taxoclass.exceptions import DataError, TaxoclassError
from taxoclass.models import DEFAULT_BACKBONE, trunk_choice

__all__ = ["train_job", "evaluate_job", "predict_job", "images_dataset", "predict_proba", "check_tta",
           "check_imbalance_options", "epochs_run", "CLASS_WEIGHTS"]

#: input pipeline options stored with every model, so that evaluate/predict prepare images exactly as training did


def _noop(_msg: str) -> None:
    pass


def images_dataset(data, model, *, batch_size: int = 64, with_labels: bool = True):
    """A tf.data.Dataset of ``data`` prepared with the model's input spec (``model.input_spec()``, saved with the
    model), labels in its class order."""
    from taxoclass.data import make_dataset

    kw = dict(**model.input_spec(), batch_size=batch_size, cache=False)
    if with_labels:
        return make_dataset(data, class_order=list(model.taxonomy_.classes), **kw)
    return make_dataset(data, with_labels=False, **kw)


def _unfinished_run(folder: Path) -> bool:
    """A run folder whose training started (config.json written) but never finished (no model.taxoclass)."""
    return (folder / "config.json").is_file() and not (folder / "model.taxoclass").exists()


def _config_differences(old: dict, new: dict) -> list[str]:
    keys = [k for k in dict.fromkeys([*new, *old]) if k not in ("n_images",)]
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


def train_job(data, out_dir, *, model: str = "tree", taxonomy=None, confusion=None, confusion_classes=None,
              beta: float | None = None, cluster_levels=1, backbone: str | None = None, weights=None, trunk=None,
              block_filters=(32, 64), head_units=(64,), dropout: float = 0.0,
              image_size: int = 64, channels: int = 3, pad_value: float | None = None, invert: bool = False,
              resize: str = "pad", epochs: int = 10, fine_tune_epochs: int | None = None, batch_size: int = 32,
              learning_rate: float = 1e-3, augment: bool = True, class_weight="none", sampling: str = "natural",
              lr_schedule: str = "cosine", time_budget: float | None = None, weight_decay: float | None = None,
              label_smoothing: float | None = None, loss: str | None = None, level_schedule: str | None = None,
              val_size: float = 0.1, test_size: float = 0.1, seed: int = 0, manifest=None,
              early_stopping_patience: int | None = None, reduce_lr_patience: int | None = None,
              resume: bool = False, strategy: str = "auto", mixed_precision: bool = False, overwrite: bool = False,
              verbose="auto", progress: Callable[[str], None] = _noop) -> dict:
    """Split ``data``, train a tree (``model="tree"``) or flat (``model="flat"``) classifier, write a run folder.

    The tree is ``taxonomy`` (a Taxonomy, or the data's own), or the error-based tree of ``confusion`` (a
    confusion matrix, with ``confusion_classes``; ``beta=None`` chooses beta and the group size from the sweep, see
    :func:`taxoclass.clustering.error_clustering`). ``backbone`` is the flat model's (default ``resnet_small``); a
    tree refuses it (its shared backbone is ``trunk``). ``weights`` are the initial weights of the flat model's
    backbone or the tree's ``trunk``; a tree without a trunk refuses them. The recipe defaults: plankton
    augmentation (``augment=True``), cosine learning-rate decay with warm-up (``lr_schedule``), best validation
    top-1 weights restored; ``time_budget`` (minutes) replaces ``epochs`` by what fits; ``class_weight="balanced"``
    or ``sampling="balanced"`` counter class imbalance. ``weight_decay``, ``label_smoothing`` (both models),
    ``loss`` (flat) and ``level_schedule`` (tree): None keeps the model's default. Returns a summary dict (paths, accuracy on the validation
    split, train seconds, epochs run).

    Every option is checked before anything is written. A new run is written in place, so that running the same
    command again after a crash or ``kill -9`` continues it (with other options it is refused, naming what
    differs); ``overwrite=True`` trains beside the old run and replaces it only once the new one is complete. A
    run that fails on bad input leaves ``out_dir`` as it was.

    >>> from taxoclass.datasets import load_dataset                                # doctest: +SKIP
    >>> train_job(load_dataset("digits"), "run1", model="flat", image_size=32)     # doctest: +SKIP
    """
    from taxoclass._checks import check_training
    from taxoclass.training import check_schedule_options
    from taxoclass._files import prepare_output_dir
    from taxoclass._json import write_json
    from taxoclass.data import make_dataset, read_manifest, split, write_manifest
    from taxoclass.taxonomy import save_taxonomy

    if model == "tree" and backbone is not None:
        raise TaxoclassError(f"--backbone {backbone} is the flat model's backbone; a tree model's shared backbone is "
                             f"its trunk: pass --trunk {backbone} (or --model flat).")
    if model == "tree":  # the tree's shared trunk: the default backbone unless named; "none": node blocks on the image
        trunk = trunk_choice(trunk, DEFAULT_BACKBONE)
    if model == "tree" and weights is not None and trunk is None:
        raise TaxoclassError(f"--weights {weights} would set the initial weights of a backbone, but this tree model has "
                             "none (--trunk none): name a --trunk (its weights are then --weights) or drop --weights.")
    if model == "flat" and trunk is not None:
        raise TaxoclassError(f"--trunk {trunk} is a tree model's shared backbone; a flat model's is --backbone.")
    if model == "tree" and loss is not None:
        raise TaxoclassError(f"--loss {loss} is the flat model's loss; a tree model's loss is its node losses "
                             "(see --level-schedule), so use --model flat or drop --loss.")
    if model == "flat" and level_schedule is not None:
        raise TaxoclassError(f"--level-schedule {level_schedule} weights a tree's levels; a flat model has none: "
                             "drop it or use a tree model.")
    backbone = DEFAULT_BACKBONE if backbone is None else backbone
    if pad_value is None:  # the data's own background (load_dataset knows it), else white
        pad_value = 255.0 if getattr(data, "background", None) is None else data.background
    cw = check_imbalance_options(class_weight, sampling)
    check_schedule_options(lr_schedule, time_budget, True, reduce_lr_patience)
    check_training(model=model, backbone=backbone, weights=weights if model == "flat" else None, trunk=trunk,
                   trunk_weights=weights if model == "tree" else None, block_filters=block_filters,
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
        res = error_clustering(confusion, classes, beta=beta, progress=progress)
        taxonomy = res.to_taxonomy(cluster_levels)
    if model == "tree" and taxonomy is None:
        raise TaxoclassError("a tree model needs a taxonomy: pass --taxonomy FILE, --from-confusion CM, or use "
                             "--model flat.")
    if taxonomy is not None:
        taxonomy.check_classes(data.classes, source=getattr(data, "source", "the data"))
        classes = list(taxonomy.classes)
    else:
        classes = list(data.classes)
    if len(classes) < 2:
        raise DataError(f"{getattr(data, 'source', 'the data')} has {len(classes)} class(es); a classifier needs "
                        "at least 2 classes.")
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
              "augment": bool(augment), "class_weight": "none" if cw is None else class_weight, "sampling": sampling,
              "lr_schedule": lr_schedule, "time_budget": time_budget, "weight_decay": weight_decay,
              "label_smoothing": label_smoothing, "loss": loss, "level_schedule": level_schedule, "seed": seed,
              "beta": res.beta if confusion is not None else None, "block_filters": list(block_filters),
              "head_units": list(head_units), "dropout": dropout, "pipeline": pipe,
              "data": getattr(data, "source", "images"), "n_images": len(data), "classes": classes}
    _check_resume(out, config, overwrite=overwrite, resume=resume)
    common = dict(class_order=classes, batch_size=batch_size, seed=seed, image_size=int(image_size),
                  channels=int(channels), **spec)
    train_ds = make_dataset(train, shuffle=True, augment=True if augment else None, sampling=sampling, **common)
    val_ds = make_dataset(val, **common) if len(val) else None
    input_shape = (int(image_size), int(image_size), int(channels))
    with prepare_output_dir(out, overwrite=overwrite, resumable=_unfinished_run) as run:
        folder = run.path
        if run.resuming:
            progress(f"{out} holds an unfinished run: continuing it from its last finished epoch")
            if not (folder / "backup").is_dir():  # killed before its first epoch ended: start it again
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
        if model == "tree":
            from taxoclass.models.tree import TreeClassifier

            clf = TreeClassifier(taxonomy, input_shape=input_shape, **spec, trunk=trunk, trunk_weights=weights,
                                 block_filters=tuple(block_filters), head_units=tuple(head_units), dropout=dropout,
                                 epochs=int(epochs), **loop,
                                 **({} if level_schedule is None else {"level_schedule": level_schedule}))
        else:
            from taxoclass.models.flat import FlatClassifier

            clf = FlatClassifier(taxonomy if taxonomy is not None else classes, backbone=backbone,
                                 input_shape=input_shape, **spec, weights=weights,
                                 head_units=tuple(head_units) or (128,), dropout=dropout,
                                 **flat_schedule(weights, epochs, fine_tune_epochs, learning_rate), **loop,
                                 **({} if loss is None else {"loss": loss}))
        if taxonomy is not None:
            save_taxonomy(taxonomy, folder / "taxonomy.tsv", overwrite=True)
        write_json(folder / "config.json", config)
        progress(f"training a {model} model for " + (f"{time_budget} min ..." if time_budget else f"{epochs} epochs ..."))
        t0 = time.perf_counter()
        clf.fit(train_ds, validation_data=val_ds, class_weight=cw, verbose=verbose)
        secs = time.perf_counter() - t0
        clf.save(folder / "model.taxoclass", overwrite=True)
        summary = {"train_seconds": secs, "history": clf.history_, "epochs_run": epochs_run(clf.history_)}
        if val_ds is not None:
            summary["val_accuracy"] = clf.evaluate(val_ds)["accuracy"]
    summary["model_file"] = str(out / "model.taxoclass")
    progress(f"trained in {secs:.1f} s" + (f"; validation accuracy {summary['val_accuracy']:.3f}"
                                           if "val_accuracy" in summary else ""))
    return summary


def epochs_run(history: dict) -> int:
    """The number of epochs a fitted model's ``history_`` holds.

    >>> epochs_run({"loss": [1.0, 0.5, 0.4]})
    3
    """
    return max((len(v) for v in (history or {}).values()), default=0)


CLASS_WEIGHTS = ("none", "balanced")


def check_imbalance_options(class_weight, sampling: str):
    """Check ``class_weight`` ("none", "balanced", None or a dict) and ``sampling`` ("natural" or "balanced");
    returns the class weight for ``fit`` (None for "none"). Balanced sampling and balanced weights together would
    correct twice, so they are refused.

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
                             "(--class-weight balanced or --balanced-sampling).")
    return cw


def predict_proba(model, ds, tta: int = 1):
    """Class probabilities of a fitted model on a dataset of image batches, averaged over ``tta`` fixed views
    (test-time augmentation by :func:`taxoclass.data.tta_predict`; 1 = the images as they are).

    >>> proba = predict_proba(clf, images_dataset(data, clf), tta=8)    # doctest: +SKIP
    """
    from taxoclass.data import tta_predict

    tta = check_tta(tta)
    if tta == 1:
        return model.predict_proba(ds)
    return tta_predict(model.predict_proba, ds, tta).astype(np.float32)


def check_tta(tta) -> int:
    """``tta`` as an int number of views, 1 to 8; one clear error otherwise.

    >>> check_tta(4)
    4
    """
    from taxoclass.data.augment import TTA_VIEWS

    if isinstance(tta, bool) or not isinstance(tta, (int, np.integer)) or not 1 <= tta <= len(TTA_VIEWS):
        raise TaxoclassError(f"tta={tta!r} is not valid; expected the number of test-time views, 1 (none) to "
                             f"{len(TTA_VIEWS)} (identity, flips, rotations by 90 degrees, transposes).")
    return int(tta)


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


def _load_model(path):
    from taxoclass.models.base import BaseClassifier

    return BaseClassifier.load(path)


def evaluate_job(model_path, data, out_dir, *, manifest=None, split_name: str = "test", threshold=None, k: int = 5,
                 batch_size: int = 64, tta: int = 1, overwrite: bool = False,
                 progress: Callable[[str], None] = _noop) -> dict:
    """Evaluate a saved model on ``data`` (or on one split of it, given the run's ``manifest``); write
    ``metrics.json``, ``report.md`` and figures into ``out_dir``. ``tta=n`` averages the probabilities of ``n``
    fixed views (flips, 90-degree rotations). Returns the metrics dict."""
    from taxoclass._checks import check_float, check_int
    from taxoclass._files import prepare_output_dir
    from taxoclass._json import write_json
    from taxoclass.metrics import evaluate_predictions
    from taxoclass.report.writer import write_report_files

    tta = check_tta(tta)
    check_int("k", k, lo=1)
    check_int("batch_size", batch_size, lo=1, hi=4096)
    check_float("threshold", threshold, lo=0, hi=1, none=True)
    check_split = ("train", "val", "test")
    if split_name not in check_split:
        raise DataError(f"split {split_name!r} is not valid; expected one of {', '.join(check_split)}.")
    output = prepare_output_dir(out_dir, overwrite=overwrite)  # checked now; written only at the end
    clf = _load_model(model_path)
    if manifest is not None:
        data = data.select(manifest, split_name)
    if len(data) == 0:
        raise DataError("no images to evaluate on.")
    y = data.encode(clf.taxonomy_)  # lists every class the model does not know, before anything is written
    progress(f"evaluating {Path(model_path).name} on {len(data)} images ...")
    ds = images_dataset(data, clf, batch_size=batch_size)
    t0 = time.perf_counter()
    proba = predict_proba(clf, ds, tta)
    secs = time.perf_counter() - t0
    metrics = evaluate_predictions(y, proba, clf.taxonomy_, k=k, threshold=threshold)
    metrics["tta"] = tta
    result = {"name": Path(model_path).stem, "metrics": metrics, "history": getattr(clf, "history_", None),
              "images_per_second": len(proba) / max(secs, 1e-9), "n_params": int(clf.model_.count_params()),
              "taxonomy": clf.taxonomy_}
    with output as out:
        write_report_files([result], out.path, title=f"taxoclass evaluation: {Path(model_path).name}")
        write_json(out.path / "metrics.json", metrics)
    progress(f"accuracy {metrics['accuracy']:.4f}, hierarchical F1 {metrics['hierarchical_f1_micro']:.4f}, "
             f"mistake severity {metrics['mistake_severity']}")
    return metrics


def predict_job(model_path, data, out_csv, *, threshold=None, top_k: int | None = None, batch_size: int = 64,
                tta: int = 1, overwrite: bool = False, progress: Callable[[str], None] = _noop):
    """Label images with a saved model; write a CSV (file, class, probability, lineage, top-k, and the deepest
    node the model is sure of with ``threshold``). ``top_k`` defaults to 3, or the model's number of classes when it
    has fewer; ``tta=n`` averages the probabilities of ``n`` fixed views. Returns the DataFrame."""
    import pandas as pd

    from taxoclass._checks import check_float, check_int
    from taxoclass._files import atomic_write, prepare_output_file

    tta = check_tta(tta)
    check_int("top_k", top_k, lo=1, none=True)
    check_int("batch_size", batch_size, lo=1, hi=4096)
    check_float("threshold", threshold, lo=0, hi=1, none=True)
    output = prepare_output_file(out_csv, overwrite=overwrite)
    out_csv = output.path
    clf = _load_model(model_path)
    tax = clf.taxonomy_
    top_k = min(3, tax.n_classes) if top_k is None else top_k
    if not 1 <= int(top_k) <= tax.n_classes:
        raise TaxoclassError(f"top_k must be between 1 and {tax.n_classes} (the model's classes), got {top_k}.")
    progress(f"predicting {len(data)} images with {Path(model_path).name} ...")
    ds = images_dataset(data, clf, batch_size=batch_size, with_labels=False)
    proba = predict_proba(clf, ds, tta)
    order = np.argsort(-proba, axis=1)[:, :top_k]
    classes = np.asarray(tax.classes, dtype=object)
    rows = {"file": [data._where(k) for k in data.keys], "predicted_class": classes[order[:, 0]],
            "probability": proba[np.arange(len(proba)), order[:, 0]],
            "lineage": [" > ".join(tax.lineage(c)) for c in classes[order[:, 0]]]}
    for j in range(1, top_k):
        rows[f"top{j + 1}_class"] = classes[order[:, j]]
        rows[f"top{j + 1}_probability"] = proba[np.arange(len(proba)), order[:, j]]
    if threshold is not None:  # the one threshold rule (Taxonomy.threshold), as TreeClassifier.predict(threshold=)
        sure = tax.threshold(proba, float(threshold))
        nodes = [tax.nodes[v] for v in sure]
        rows["sure_node"] = [n[-1] for n in nodes]
        rows["sure_lineage"] = [" > ".join(n[1:] if tax.artificial_root else n) for n in nodes]
        rows["sure_probability"] = tax.node_proba(proba)[np.arange(len(proba)), sure]
    df = pd.DataFrame(rows)
    with output, atomic_write(out_csv, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        df.to_csv(fh, index=False, float_format="%.6g")
    progress(f"wrote {len(df)} predictions to {out_csv}")
    return df


def unlabelled_images(paths: Sequence[str] = (), *, folder=None, csv=None, file_column: str | None = None):
    """An ImageSet of images to label (files, a folder searched recursively, or a CSV column of paths)."""
    from taxoclass.data import ImageSet
    from taxoclass.data.imageset import IMAGE_EXTENSIONS

    files: list[Path] = [Path(p) for p in paths]
    if folder is not None:
        root = Path(folder)
        if not root.is_dir():
            raise DataError(f"{root} is not a folder.")
        files += sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if csv is not None:
        import pandas as pd

        csv = Path(csv)
        sep = "\t" if csv.suffix.lower() in (".tsv", ".tab", ".txt") else ","
        try:
            df = pd.read_csv(csv, sep=sep, dtype=str, keep_default_na=False, encoding_errors="surrogateescape")
        except FileNotFoundError:
            raise DataError(f"{csv}: file not found; give the CSV that lists the images.") from None
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
            raise DataError(f"{csv}: cannot read the list of images ({str(exc).strip() or 'empty file'}); expected "
                            "a header line such as 'file' and one image path per line.") from None
        col = file_column or next((c for c in df.columns if c.strip().lower() in (
            "file", "path", "filename", "image", "img_file_name")), None)
        if col is None and len(df.columns) == 1:
            col = df.columns[0]  # a plain list of paths
        if col is None or col not in df.columns:
            raise DataError(f"{csv}: no file column found (columns: {', '.join(df.columns)}); name it with "
                            "--file-column.")
        base = Path(csv).parent
        files += [p if p.is_absolute() else base / p for p in (Path(v) for v in df[col].astype(str) if v.strip())]
    if not files:
        raise DataError("no images to predict: give image files, --dir FOLDER or --csv FILE.")
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise DataError(f"{len(missing)} image file(s) do not exist: {', '.join(missing[:20])}"
                        + (" ..." if len(missing) > 20 else ""))
    keys = [str(p.resolve()) for p in files]
    ds = ImageSet(keys, ["?"] * len(keys), ["?"], root="/", source="images to predict")
    return ds.check(on_error="warn")
