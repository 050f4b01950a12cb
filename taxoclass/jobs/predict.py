"""``predict_job``: label new images with a saved model and write a predictions table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from taxoclass._console import number, plural

from taxoclass.exceptions import TaxoclassError
from taxoclass.jobs.inference import check_tta, images_dataset, noop as _noop, predict_proba
from taxoclass.jobs.outputs import prediction_table
from taxoclass.models import load_model as _load_model

__all__ = ["predict_job"]


def predict_job(model_path, data, out_csv, *, threshold=None, target_precision=None, top_k: int | None = None,
                batch_size: int = 64, tta: int = 1, format: str = "csv", overwrite: bool = False,
                progress: Callable[[str], None] = _noop):
    """Label images with a saved model; write a CSV (file, class, probability, lineage, top-k, and the deepest
    node the model is sure of with ``threshold``, or with the threshold that reaches ``target_precision`` on the
    model's validation split, :func:`taxoclass.calibration.threshold_for_precision`). ``top_k`` defaults to 3, or
    the model's number of classes when it has fewer; ``tta=n`` averages the probabilities of ``n`` fixed views.
    ``format="ecotaxa"`` writes an EcoTaxa import TSV instead (see
    :func:`taxoclass.data.ecotaxa.ecotaxa_import_table`). ``out_csv="-"`` writes the table to standard output.
    Returns the DataFrame."""
    from taxoclass._checks import check_float, check_int
    from taxoclass._files import atomic_write, prepare_output_file

    tta = check_tta(tta)
    check_int("top_k", top_k, lo=1, none=True)
    check_int("batch_size", batch_size, lo=1, hi=4096)
    check_float("threshold", threshold, lo=0, hi=1, none=True)
    check_float("target_precision", target_precision, lo=0, hi=1, none=True)
    if threshold is not None and target_precision is not None:
        raise TaxoclassError("give a threshold or a target precision, not both.")
    if format not in ("csv", "ecotaxa"):
        raise TaxoclassError(f"format={format!r} is not valid; expected csv or ecotaxa.")
    to_stdout = str(out_csv) == "-"
    output = None if to_stdout else prepare_output_file(out_csv, overwrite=overwrite)
    clf = _load_model(model_path)
    if target_precision is not None:
        from taxoclass.calibration import threshold_for_precision

        sel = threshold_for_precision(clf, target_precision)
        threshold = sel["threshold"]
        progress(f"threshold {number(threshold)}: hierarchical precision {number(sel['precision'])} on the "
                 f"validation split, {sel['leaf_share']:.0%} of its images named to a class")
    tax = clf.taxonomy_
    top_k = min(3, tax.n_classes) if top_k is None else top_k
    if not 1 <= int(top_k) <= tax.n_classes:
        raise TaxoclassError(f"top_k must be between 1 and {tax.n_classes} (the model's classes), got {top_k}.")
    progress(f"predicting {plural(len(data), 'image')} with {Path(model_path).name} ...")
    ds = images_dataset(data, clf, batch_size=batch_size, with_labels=False)
    proba = predict_proba(clf, ds, tta)
    df = prediction_table([data._where(k) for k in data.keys], proba, tax, top_k=int(top_k), threshold=threshold)
    table, sep = df, ","
    if format == "ecotaxa":
        from taxoclass.data.ecotaxa import ecotaxa_import_table, object_ids_of

        table, sep = ecotaxa_import_table(object_ids_of(data), df["predicted_class"], df["probability"],
                                          df.get("sure_node"), df.get("sure_probability")), "\t"
    if to_stdout:
        table.to_csv(sys.stdout, index=False, sep=sep, float_format="%.6g")
        return df
    with output, atomic_write(output.path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        table.to_csv(fh, index=False, sep=sep, float_format="%.6g")
    progress(f"wrote {plural(len(df), 'prediction')} to {output.path}")
    return df
