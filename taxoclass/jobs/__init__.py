"""End-to-end jobs behind ``taxoclass train / evaluate / predict``; the CLI only parses arguments and calls them.

- :mod:`taxoclass.jobs.train`: ``train_job`` writes a run folder (model, config, split manifest, training log).
- :mod:`taxoclass.jobs.evaluate`: ``evaluate_job`` writes ``metrics.json``, ``report.md`` and figures.
- :mod:`taxoclass.jobs.predict`: ``predict_job`` writes a predictions table.
- :mod:`taxoclass.jobs.inference`: what evaluate and predict share (loading, input batches, test-time views).
"""

from taxoclass.jobs.evaluate import evaluate_job
from taxoclass.jobs.inference import check_tta, images_dataset, predict_proba, unlabelled_images
from taxoclass.jobs.predict import predict_job
from taxoclass.jobs.train import (CLASS_WEIGHTS, check_class_layer, check_imbalance_options, epochs_run, flat_schedule,
                                  train_job)

__all__ = ["train_job", "evaluate_job", "predict_job", "images_dataset", "predict_proba", "check_tta",
           "unlabelled_images", "check_class_layer", "check_imbalance_options", "epochs_run", "flat_schedule", "CLASS_WEIGHTS"]
