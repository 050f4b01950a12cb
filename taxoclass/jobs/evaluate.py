"""``evaluate_job``: every metric of a saved model on labelled images, written as a report folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from taxoclass.exceptions import DataError
from taxoclass.jobs.inference import check_tta, images_dataset, noop as _noop, predict_proba
from taxoclass.models import load_model as _load_model

__all__ = ["evaluate_job"]


def evaluate_job(model_path, data, out_dir, *, manifest=None, split_name: str = "test", threshold=None, k: int = 5,
                 batch_size: int = 64, tta: int = 1, overwrite: bool = False,
                 progress: Callable[[str], None] = _noop) -> dict:
    """Evaluate a saved model on ``data`` (or on one split of it, given the run's ``manifest``); write
    ``metrics.json``, ``report.md`` and figures into ``out_dir``. ``tta=n`` averages the probabilities of ``n``
    fixed views (flips, 90-degree rotations). Images labelled at an internal node are scored apart, at their own
    depth (``metrics["internal_labels"]``, see :func:`taxoclass.taxonomy.internal_labels.depth_scores`); every
    other metric is on the images labelled with a class. Returns the metrics dict."""
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
    from taxoclass.taxonomy.internal_labels import depth_scores

    at_class = y < clf.taxonomy_.n_classes  # the others are labelled at an internal node: scored at its depth
    if not at_class.any():
        raise DataError(f"{data.source}: every image is labelled at an internal node; the metrics need images "
                        "labelled with a class.")
    metrics = evaluate_predictions(y[at_class], proba[at_class], clf.taxonomy_, k=k, threshold=threshold)
    if not at_class.all():
        metrics["internal_labels"] = depth_scores(clf.taxonomy_, y[~at_class], proba[~at_class])
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
