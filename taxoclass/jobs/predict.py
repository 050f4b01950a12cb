"""``predict_job``: label new images with a saved model and write a predictions table."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from taxoclass.exceptions import TaxoclassError
from taxoclass.jobs.inference import check_tta, images_dataset, noop as _noop, predict_proba
from taxoclass.models import load_model as _load_model

__all__ = ["predict_job"]


def predict_job(model_path, data, out_csv, *, threshold=None, top_k: int | None = None, batch_size: int = 64,
                tta: int = 1, format: str = "csv", overwrite: bool = False,
                progress: Callable[[str], None] = _noop):
    """Label images with a saved model; write a CSV (file, class, probability, lineage, top-k, and the deepest
    node the model is sure of with ``threshold``). ``top_k`` defaults to 3, or the model's number of classes when it
    has fewer; ``tta=n`` averages the probabilities of ``n`` fixed views. ``format="ecotaxa"`` writes an EcoTaxa
    import TSV instead (see :func:`taxoclass.data.ecotaxa.ecotaxa_import_table`). Returns the DataFrame."""
    import pandas as pd

    from taxoclass._checks import check_float, check_int
    from taxoclass._files import atomic_write, prepare_output_file

    tta = check_tta(tta)
    check_int("top_k", top_k, lo=1, none=True)
    check_int("batch_size", batch_size, lo=1, hi=4096)
    check_float("threshold", threshold, lo=0, hi=1, none=True)
    if format not in ("csv", "ecotaxa"):
        raise TaxoclassError(f"format={format!r} is not valid; expected csv or ecotaxa.")
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
    table, sep = df, ","
    if format == "ecotaxa":
        from taxoclass.data.ecotaxa import ecotaxa_import_table, object_ids_of

        table, sep = ecotaxa_import_table(object_ids_of(data), df["predicted_class"], df["probability"],
                                          df.get("sure_node"), df.get("sure_probability")), "\t"
    with output, atomic_write(out_csv, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        table.to_csv(fh, index=False, sep=sep, float_format="%.6g")
    progress(f"wrote {len(df)} predictions to {out_csv}")
    return df
