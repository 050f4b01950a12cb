"""Hyper-parameter search of flat and tree models with Optuna (``taxoclass tune``, :func:`tune`).

- :mod:`~taxoclass.tuning.space`: the knobs (train_job options), their default ranges, ``--fix`` / ``--space``;
- :mod:`~taxoclass.tuning.objective`: one trial (train_job + a pruning callback reporting validation top-1);
- :mod:`~taxoclass.tuning.study`: :func:`tune` (storage, sampler, pruner, resume, several workers, refit);
- :mod:`~taxoclass.tuning.results`: trials.csv, best_config.json, search.png, pareto.csv.

Optuna is an optional dependency: ``pip install taxoclass[tune]``. Importing this package does not import
TensorFlow or Optuna.
"""

__all__ = ["tune", "check_tune_options", "SearchSpace", "KNOBS"]


def __getattr__(name):
    if name in ("tune", "check_tune_options"):
        from taxoclass.tuning import study

        return getattr(study, name)
    if name in ("SearchSpace", "KNOBS"):
        from taxoclass.tuning import space

        return getattr(space, name)
    raise AttributeError(f"module 'taxoclass.tuning' has no attribute {name!r}")
