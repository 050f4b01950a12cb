"""What every part of a report shares: the results check, summary rows, names of files (JSON conversion:
:func:`taxoclass._files.to_jsonable`)."""

from __future__ import annotations

import re

from taxoclass.exceptions import TaxoclassError
from taxoclass.taxonomy.tree import Taxonomy

# (metrics key, label, "higher" | "lower" is better, format)
SUMMARY_ROWS = [
    ("accuracy", "top-1 accuracy", "higher", "{:.4f}"),
    ("accuracy_tta", "top-1 accuracy with test-time augmentation", "higher", "{:.4f}"),
    ("top_k_accuracy", "top-k accuracy", "higher", "{:.4f}"),
    ("balanced_accuracy", "balanced accuracy", "higher", "{:.4f}"),
    ("f1_macro", "macro F1 (flat)", "higher", "{:.4f}"),
    ("hierarchical_f1_micro", "hierarchical F1 (micro)", "higher", "{:.4f}"),
    ("hierarchical_f1_macro", "hierarchical F1 (macro)", "higher", "{:.4f}"),
    ("hierarchical_precision_micro", "hierarchical precision (micro)", "higher", "{:.4f}"),
    ("hierarchical_recall_micro", "hierarchical recall (micro)", "higher", "{:.4f}"),
    ("mistake_severity", "mistake severity (mean LCA height of errors)", "lower", "{:.3f}"),
    ("accuracy_risk", "top-1 accuracy answering by expected severity (mode risk; with TTA when on)", "higher",
     "{:.4f}"),
    ("mistake_severity_risk", "mistake severity answering by expected severity (mode risk)", "lower", "{:.3f}"),
    ("hierarchical_distance_at_1", "avg hierarchical distance@1", "lower", "{:.3f}"),
    ("hierarchical_distance_at_k", "avg hierarchical distance@k", "lower", "{:.3f}"),
    ("n_samples", "test samples", None, "{:d}"),
]
COST_ROWS = [
    ("epochs_run", "epochs run", None, "{:d}"),
    ("train_seconds", "training time (s)", "lower", "{:.1f}"),
    ("images_per_second", "prediction speed (images/s)", "higher", "{:.1f}"),
    ("n_params", "parameters", "lower", "{:,d}"),
]


# ---------------------------------------------------------------------------------------------------- helpers
def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "model"


def _history_dict(h) -> dict:
    if h is None:
        return {}
    if hasattr(h, "history") and isinstance(h.history, dict):
        h = h.history
    if not isinstance(h, dict):
        raise TaxoclassError(f"a result's 'history' must be a dict of lists (Keras History.history), got "
                             f"{type(h).__name__}.")
    return h


def _check_results(results) -> list[dict]:
    if isinstance(results, dict):
        results = [results]
    if not isinstance(results, (list, tuple)) or not results:
        raise TaxoclassError("write_report needs a non-empty list of result dicts "
                             "({'name': ..., 'metrics': evaluate_predictions(...), ...}).")
    seen: dict[str, str] = {}
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise TaxoclassError(f"result {i + 1} is a {type(r).__name__}; expected a dict with 'name' and 'metrics'.")
        name = r.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TaxoclassError(f"result {i + 1} has no 'name'; give each model a non-empty name.")
        m = r.get("metrics")
        if not isinstance(m, dict) or "accuracy" not in m:
            raise TaxoclassError(f"result {name!r}: 'metrics' must be the dict returned by "
                                 "taxoclass.metrics.evaluate_predictions.")
        tax = r.get("taxonomy")
        if tax is not None and not isinstance(tax, Taxonomy):
            raise TaxoclassError(f"result {name!r}: 'taxonomy' must be a Taxonomy (or absent), got "
                                 f"{type(tax).__name__}.")
        slug = _slug(name)
        if slug in seen:
            raise TaxoclassError(f"results {seen[slug]!r} and {name!r} have the same name (for file names); "
                                 "give each model a distinct name.")
        seen[slug] = name
        _history_dict(r.get("history"))
    return list(results)
