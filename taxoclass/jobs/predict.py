"""``predict_job``: label new images with a saved model and write a predictions table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from taxoclass._console import number, plural
from taxoclass.exceptions import TaxoclassError
from taxoclass.jobs.inference import check_tta, noop as _noop, tta_mode_of
from taxoclass.jobs.stream import DEFAULT_CHUNK, ENGINES, ImageFiles
from taxoclass.models import load_model as _load_model

__all__ = ["predict_job"]


def predict_job(model_path, data, out_csv, *, threshold=None, target_precision=None, top_k: int | None = None,
                batch_size: int = 64, tta: int = 1, tta_mode: str = "auto", mode: str = "soft", format: str = "csv",
                resume: bool = False, chunk_size: int = DEFAULT_CHUNK, engine: str = "local", overwrite: bool = False,
                progress: Callable[[str], None] = _noop) -> dict:
    """Label images with a saved model; write a CSV (file, class, probability, lineage, top-k, and the deepest
    node the model is sure of with ``threshold``, or with the threshold that reaches ``target_precision`` on the
    model's validation split, :func:`taxoclass.calibration.threshold_for_precision`). ``top_k`` defaults to 3, or
    the model's number of classes when it has fewer; ``tta=n`` averages the probabilities of ``n`` fixed views
    of family ``tta_mode`` (``"auto"``: the one matching the model's training augmentation; ``"plankton"``,
    ``"upright"``, see :func:`taxoclass.jobs.predict_proba`);
    ``mode="greedy"`` (trees) evaluates only the nodes on each image's path (no top-k). ``data`` is an ImageSet or
    an :class:`~taxoclass.jobs.stream.ImageFiles` listing; images are predicted and rows written ``chunk_size`` at
    a time (bounded memory), and ``resume=True`` continues an interrupted run after its last written row.
    ``engine="ray"`` runs the model in a Ray Data pipeline (:mod:`taxoclass.jobs.ray_engine`) and writes the same
    rows. ``format="ecotaxa"`` writes an EcoTaxa import TSV instead (see
    :func:`taxoclass.data.ecotaxa.ecotaxa_import_table`); ``out_csv="-"`` writes the table to standard output
    (both hold the table in memory). Returns ``{"rows", "images_per_second", ...}``.

    >>> predict_job("run/model.taxoclass", ImageFiles(folder="new/"), "labels.csv", threshold=0.8)  # doctest: +SKIP
    """
    from taxoclass._checks import check_float, check_int
    from taxoclass._files import prepare_output_file
    from taxoclass.jobs.rows import check_mode
    from taxoclass.jobs.stream import write_predictions

    tta = check_tta(tta, tta_mode)
    tta_mode_of(None, tta_mode)  # the name, before anything is read or written
    check_int("top_k", top_k, lo=1, none=True)
    check_int("batch_size", batch_size, lo=1, hi=4096)
    check_int("chunk_size", chunk_size, lo=1)
    check_float("threshold", threshold, lo=0, hi=1, none=True)
    check_float("target_precision", target_precision, lo=0, hi=1, none=True)
    if threshold is not None and target_precision is not None:
        raise TaxoclassError("give a threshold or a target precision, not both.")
    if format not in ("csv", "ecotaxa"):
        raise TaxoclassError(f"format={format!r} is not valid; expected csv or ecotaxa.")
    if engine not in ENGINES:
        raise TaxoclassError(f"engine {engine!r} is not valid; expected one of {', '.join(ENGINES)}.")
    to_stdout = str(out_csv) == "-"
    in_memory = to_stdout or format == "ecotaxa"
    if in_memory and (resume or engine != "local"):
        raise TaxoclassError("resume and engine='ray' stream rows into a file; they do not apply to -o - or "
                             "format='ecotaxa'.")
    output = None if to_stdout else prepare_output_file(out_csv, overwrite=overwrite)
    clf = _load_model(model_path)
    check_mode(clf, mode, tta)
    check_tta(tta, tta_mode_of(clf, tta_mode))  # the model's family of views may have fewer
    if target_precision is not None:
        from taxoclass.calibration import threshold_for_precision

        sel = threshold_for_precision(clf, target_precision)
        threshold = sel["threshold"]
        progress(f"threshold {number(threshold)}: hierarchical precision {number(sel['precision'])} on the "
                 f"validation split, {sel['leaf_share']:.0%} of its images named to a class")
    tax = clf.taxonomy_
    top_k = (1 if mode == "greedy" else min(3, tax.n_classes)) if top_k is None else top_k
    if not 1 <= int(top_k) <= tax.n_classes:
        raise TaxoclassError(f"top_k must be between 1 and {tax.n_classes} (the model's classes), got {top_k}.")
    if mode == "greedy" and top_k != 1:
        raise TaxoclassError("top_k: mode 'greedy' computes only the nodes on each image's path, so it has no "
                             "alternatives; leave out --top-k or use mode 'soft'.")
    if in_memory:
        return _write_table(clf, data, output, format=format, mode=mode, threshold=threshold, top_k=int(top_k),
                            tta=tta, tta_mode=tta_mode, batch_size=batch_size, progress=progress,
                            name=Path(model_path).name)
    progress(f"predicting {'' if isinstance(data, ImageFiles) else plural(len(data), 'image') + ' '}with "
             f"{Path(model_path).name} ...")
    with output:
        result = write_predictions(clf, data, output.path, mode=mode, threshold=threshold, top_k=int(top_k),
                                   tta=tta, tta_mode=tta_mode, batch_size=batch_size, chunk_size=chunk_size,
                                   resume=resume,
                                   overwrite=overwrite, engine=engine, model_path=model_path,
                                   config={"model": str(Path(model_path).resolve())},
                                   progress=progress)
    progress(f"wrote {plural(result['rows'], 'prediction')} to {output.path}")
    return result


def _write_table(clf, data, output, *, format, mode, threshold, top_k, tta, tta_mode, batch_size, progress,
                 name) -> dict:
    """The whole table at once: to standard output (``output`` None) or as an EcoTaxa import TSV."""
    import time

    from taxoclass._files import atomic_write
    from taxoclass.jobs.inference import images_dataset
    from taxoclass.jobs.rows import csv_frame, model_outputs, prediction_columns

    if isinstance(data, ImageFiles):
        data = data.image_set(list(data))
    progress(f"predicting {plural(len(data), 'image')} with {name} ...")
    t0 = time.perf_counter()
    out = model_outputs(clf, images_dataset(data, clf, batch_size=batch_size, with_labels=False), mode, tta=tta,
                        tta_mode=tta_mode)
    secs = time.perf_counter() - t0
    df = csv_frame(prediction_columns(clf.taxonomy_, **out, top_k=top_k, threshold=threshold),
                   [data._where(k) for k in data.keys])
    table, sep = df, ","
    if format == "ecotaxa":
        from taxoclass.data.ecotaxa import ecotaxa_import_table, object_ids_of

        table, sep = ecotaxa_import_table(object_ids_of(data), df["predicted_class"], df["probability"],
                                          df.get("sure_node"), df.get("sure_probability")), "\t"
    if output is None:
        table.to_csv(sys.stdout, index=False, sep=sep, float_format="%.6g")
    else:
        with output, atomic_write(output.path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            table.to_csv(fh, index=False, sep=sep, float_format="%.6g")
        progress(f"wrote {plural(len(df), 'prediction')} to {output.path}")
    return {"rows": len(df), "images": len(df), "seconds": secs, "images_per_second": len(df) / max(secs, 1e-9),
            "output": "-" if output is None else str(output.path)}
