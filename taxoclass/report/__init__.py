"""Evaluation reports: ``report.json``, ``report.md`` and PNG figures comparing one or more models.

Each model is described by a dict (``results`` below)::

    {"name": "flat inception_v3",                 # unique; also names its figure files
     "metrics": evaluate_predictions(...),        # taxoclass.metrics.evaluate_predictions output
     "history": {"loss": [...], "val_loss": [...], "accuracy": [...], ...},   # optional (Keras History.history)
     "train_seconds": 812.4, "images_per_second": 153.0, "n_params": 21_800_000,  # optional costs
     "taxonomy": Taxonomy}                        # optional: the tree its hierarchical metrics used

:func:`write_report` writes everything; the ``plot_*`` functions return matplotlib Figures (drawn with the Agg
canvas, no pyplot and no global backend switch) for use in notebooks. Matplotlib is imported lazily.

Examples
--------
>>> import tempfile
>>> from taxoclass import Taxonomy
>>> from taxoclass.metrics import evaluate_predictions
>>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
>>> m = evaluate_predictions(["x", "y", "z"], [[.7, .2, .1], [.6, .3, .1], [.1, .1, .8]], tax, k=2)
>>> out = tempfile.mkdtemp()
>>> files = write_report([{"name": "demo", "metrics": m, "taxonomy": tax}], out)
>>> sorted(files)[:3]
['confusion_demo.png', 'report.json', 'report.md']
"""

from taxoclass.report.markdown import markdown_report
from taxoclass.report.plots import (plot_accuracy_vs_cost, plot_confusion_matrix, plot_taxonomy_accuracy,
                                    plot_training_curves)
from taxoclass.report.writer import write_report

__all__ = ["write_report", "markdown_report", "plot_confusion_matrix", "plot_taxonomy_accuracy",
           "plot_training_curves", "plot_accuracy_vs_cost"]
