"""taxoclass: hierarchical (taxonomy-based) image classification.

Importing ``taxoclass`` is cheap: TensorFlow is imported only when a model is built or loaded.
"""

from taxoclass.exceptions import (ClassMismatchError, ClusteringError, DataError, ModelError, TaxoclassError,
                                  TaxonomyError)
from taxoclass.taxonomy import Taxonomy

__version__ = "0.1.0"

_LAZY = {
    # models import TensorFlow: resolved on first access only
    "TreeClassifier": "taxoclass.models",
    "FlatClassifier": "taxoclass.models",
    "load_model": "taxoclass.models",
    "cluster_confusion": "taxoclass.clustering",
    "load_taxonomy": "taxoclass.taxonomy",
    "save_taxonomy": "taxoclass.taxonomy",
    "read_classes": "taxoclass.taxonomy",
    "evaluate_predictions": "taxoclass.metrics",
    "write_report": "taxoclass.report",
    "run_benchmark": "taxoclass.comparison",
    "load_dataset": "taxoclass.datasets",
    "ImageSet": "taxoclass.data",
    "tune": "taxoclass.tuning",
}

_SUBMODULES = {name: name for name in ("metrics", "data", "clustering", "report", "comparison", "datasets", "models",
                                       "jobs", "tuning")}
_SUBMODULES["workflows"] = "jobs"  # the jobs' module before it became a package (taxoclass/workflows.py)
_SUBMODULES["benchmark"] = "comparison"  # the module's name before it was renamed (taxoclass/benchmark.py)


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"taxoclass.{_SUBMODULES[name]}")
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'taxoclass' has no attribute {name!r}")


def __dir__():
    """The module's names, the lazy ones included (so that tab completion and ``dir(taxoclass)`` list them)."""
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = ["Taxonomy", "TreeClassifier", "FlatClassifier", "load_model", "cluster_confusion", "load_taxonomy",
           "save_taxonomy", "read_classes", "ImageSet", "evaluate_predictions", "write_report", "run_benchmark",
           "load_dataset", "tune", "TaxoclassError", "TaxonomyError", "ClassMismatchError", "ClusteringError",
           "DataError", "ModelError", "__version__"]
