"""``evaluate_job``: every metric of a saved model on labelled images, written as a report folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from taxoclass._console import plural
from taxoclass.exceptions import DataError, TaxoclassError
from taxoclass.jobs.inference import check_tta, images_dataset, noop as _noop, predict_proba_pair, tta_mode_of
from taxoclass.models import load_model as _load_model
from taxoclass.taxonomy.arrays import check_ranking

__all__ = ["evaluate_job", "check_evaluate_mode"]


def check_evaluate_mode(mode) -> str:
    """``mode`` if ``evaluate`` can score it (``"soft"`` or ``"risk"``); one clear error otherwise."""
    if mode == "greedy":
        raise TaxoclassError("evaluate scores every class of every image, which mode 'greedy' does not compute; "
                             "use mode 'soft' or 'risk' (greedy predictions: taxoclass predict --mode greedy).")
    return check_ranking(mode)


def evaluate_job(model_path, data, out_dir, *, manifest=None, split_name: str = "test", threshold=None,
                 target_precision=None, k: int = 5, batch_size: int = 64, tta: int = 1, tta_mode: str = "auto",
                 mode: str = "soft", taxonomy=None, overwrite: bool = False,
                 progress: Callable[[str], None] = _noop) -> dict:
    """Evaluate a saved model on ``data`` (or on one split of it, given the run's ``manifest``); write
    ``metrics.json``, ``report.md``, figures, ``predictions.csv`` (one row per image), ``confusion.npy`` /
    ``confusion.csv`` and ``confused_pairs.md`` into ``out_dir``. ``tta=n`` averages the probabilities of ``n``
    fixed views of family ``tta_mode`` (``"auto"``: the one matching the model's training augmentation;
    ``"plankton"``: flips, rotations by 90, then 45 degrees; ``"upright"``: the mirror and small shifts).
    ``threshold`` (or the threshold reaching ``target_precision`` on the model's validation split) also scores the
    sure-node answers.
    Metrics hold the calibration (expected calibration error before and after the model's temperature). Images
    labelled at an internal node are scored apart, at their own depth (``metrics["internal_labels"]``, see
    :func:`taxoclass.taxonomy.internal_labels.depth_scores`); every other metric is on the images labelled with a
    class. ``taxonomy`` (a :class:`~taxoclass.taxonomy.Taxonomy` with the model's classes) scores the hierarchical
    metrics on that tree instead of the model's own: an error-based tree or a flat model judged on the biological
    taxonomy, as ``benchmark`` does. Returns the metrics dict.

    >>> evaluate_job("run/model.taxoclass", data, "run_eval", manifest="run/manifest.csv",
    ...              taxonomy=load_taxonomy("taxonomies/ndsb_plankton.tsv"))  # doctest: +SKIP
    """
    from taxoclass._checks import check_float, check_int
    from taxoclass._files import atomic_write, prepare_output_dir
    from taxoclass._json import write_json
    from taxoclass.calibration import expected_calibration_error, reliability_bins
    from taxoclass.jobs.outputs import depth_shares, prediction_table, write_confused_pairs, write_confusion
    from taxoclass.metrics import evaluate_predictions
    from taxoclass.report.writer import write_report_files

    tta = check_tta(tta, tta_mode)
    tta_mode_of(None, tta_mode)  # the name, before anything is read or written
    check_evaluate_mode(mode)
    check_int("k", k, lo=1)
    check_int("batch_size", batch_size, lo=1, hi=4096)
    check_float("threshold", threshold, lo=0, hi=1, none=True)
    check_float("target_precision", target_precision, lo=0, hi=1, none=True)
    if threshold is not None and target_precision is not None:
        raise TaxoclassError("give a threshold or a target precision, not both.")
    if taxonomy is not None and target_precision is not None:
        raise TaxoclassError("a target precision is calibrated on the model's own tree, so it cannot be scored on "
                             "another taxonomy; give a threshold instead, or leave the taxonomy out.")
    check_split = ("train", "val", "test")
    if split_name not in check_split:
        raise DataError(f"split {split_name!r} is not valid; expected one of {', '.join(check_split)}.")
    output = prepare_output_dir(out_dir, overwrite=overwrite)  # checked now; written only at the end
    clf = _load_model(model_path)
    if taxonomy is not None:  # the same classes, on another tree: the model's class order, for its probabilities
        taxonomy.check_classes(clf.taxonomy_.classes, source="the model")
    tax = clf.taxonomy_ if taxonomy is None else taxonomy.with_class_order(clf.taxonomy_.classes)
    tta_mode = tta_mode_of(clf, tta_mode)
    check_tta(tta, tta_mode)  # the model's family of views may have fewer
    sel = None
    if target_precision is not None:
        from taxoclass.calibration import threshold_for_precision

        sel = threshold_for_precision(clf, target_precision)
        threshold = sel["threshold"]
    if manifest is not None:
        data = data.select(manifest, split_name)
    if len(data) == 0:
        raise DataError("no images to evaluate on.")
    y = data.encode(tax)  # lists every class the model does not know, before anything is written
    progress(f"evaluating {Path(model_path).name} on {plural(len(data), 'image')} ...")
    ds = images_dataset(data, clf, batch_size=batch_size)
    t0 = time.perf_counter()
    raw, proba = predict_proba_pair(clf, ds, tta, tta_mode=tta_mode)
    secs = time.perf_counter() - t0
    from taxoclass.taxonomy.internal_labels import depth_scores

    T = float(getattr(clf, "temperature_", 1.0))
    at_class = y < tax.n_classes  # the others are labelled at an internal node: scored at its depth
    if not at_class.any():
        raise DataError(f"{data.source}: every image is labelled at an internal node; the metrics need images "
                        "labelled with a class.")
    yc, pc, rc = y[at_class], proba[at_class], raw[at_class]
    ranked = clf.taxonomy_.ranked_classes(proba, mode)  # the answers of predict --mode: on the model's own tree
    metrics = evaluate_predictions(yc, pc, tax, k=k, threshold=threshold, mode=mode, ranked=ranked[at_class])
    if not at_class.all():
        metrics["internal_labels"] = depth_scores(tax, y[~at_class], proba[~at_class])
    metrics["tta"] = tta
    metrics["tta_mode"] = tta_mode
    metrics["scored_on"] = "model taxonomy" if taxonomy is None else (tax.source or "given taxonomy")
    metrics["calibration"] = {"temperature": T, "ece_before": expected_calibration_error(rc, yc),
                              "ece_after": expected_calibration_error(pc, yc),
                              "reliability_before": reliability_bins(rc, yc),
                              "reliability_after": reliability_bins(pc, yc)}
    if threshold is not None:
        d = depth_shares(pc, yc, tax, threshold)
        metrics["thresholded"]["depth_share"] = d["shares"]
        if sel is not None:
            metrics["thresholded"].update(target_precision=sel["target_precision"], validation_precision=sel["precision"])
    result = {"name": Path(model_path).stem, "metrics": metrics, "history": getattr(clf, "history_", None),
              "images_per_second": len(proba) / max(secs, 1e-9), "n_params": int(clf.model_.count_params()),
              "taxonomy": tax}
    files = [data._where(key) for key in data.keys]
    table = prediction_table(files, proba, tax, top_k=min(3, tax.n_classes), threshold=threshold, true=y,
                             ranked=ranked)
    with output as out:
        write_report_files([result], out.path, title=f"taxoclass evaluation: {Path(model_path).name}")
        write_json(out.path / "metrics.json", metrics)
        with atomic_write(out.path / "predictions.csv", "w", encoding="utf-8", errors="surrogateescape",
                          newline="") as fh:
            table.to_csv(fh, index=False, float_format="%.6g")
        write_confusion(out.path, metrics["confusion_matrix"], list(tax.classes))
        write_confused_pairs(out.path, data, np.where(at_class, y, -1), ranked[:, 0], list(tax.classes))
    return metrics

