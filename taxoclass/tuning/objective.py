"""One trial of ``taxoclass tune``: train the configuration an Optuna trial draws with ``train_job``, report the
validation top-1 after every epoch (so the pruner can stop a hopeless trial), and score it.

:class:`PruningCallback` is a small Keras callback calling ``trial.report`` / ``trial.should_prune`` (the same
contract as optuna-integration's ``KerasPruningCallback``, without the extra package); a pruned trial stops
training at the end of the epoch instead of raising inside ``fit``, so its run folder is still complete.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import keras
import numpy as np

from taxoclass.tuning.space import MINIMIZED

__all__ = ["PruningCallback", "TrialObjective"]

_METRIC_KEY = {"accuracy": "accuracy", "hf1": "hierarchical_f1_micro", "balanced_accuracy": "balanced_accuracy",
               "severity": "mistake_severity"}


class PruningCallback(keras.callbacks.Callback):
    """Report the validation top-1 (``val_accuracy``) of every epoch to an Optuna ``trial`` and stop training when
    ``trial.should_prune()`` (or when the search's ``deadline``, a ``time.time()`` value, has passed).

    ``minimize=True`` reports the top-1 error (1 - accuracy) instead, for studies whose direction is minimise.
    After ``fit``, ``stopped`` is ``"pruned"``, ``"deadline"`` or None.

    >>> cb = PruningCallback(trial=None)
    >>> cb.stopped is None
    True
    """

    def __init__(self, trial, *, minimize: bool = False, deadline: float | None = None):
        super().__init__()
        self.trial, self.minimize, self.deadline = trial, bool(minimize), deadline
        self.stopped = None
        self.reported: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        acc = (logs or {}).get("val_accuracy")
        if acc is not None and self.trial is not None:
            value = 1.0 - float(acc) if self.minimize else float(acc)
            self.reported.append(value)
            self.trial.report(value, epoch)
            if self.trial.should_prune():
                self.stopped = "pruned"
                self.model.stop_training = True
                return
        if self.deadline is not None and time.time() >= self.deadline:
            self.stopped = "deadline"
            self.model.stop_training = True


class TrialObjective:
    """The objective Optuna calls: ``objective(trial) -> value`` (or ``(value, cost)`` with ``cost``).

    - ``data``: the ImageSet; ``manifest``: the study's split (every trial trains on the same images);
    - ``space``: a :class:`~taxoclass.tuning.space.SearchSpace`; ``base``: the ``train_job`` arguments that are not
      searched (epochs, batch size, channels, time budget, seed, taxonomy, confusion ...);
    - ``objective``: one of :data:`OBJECTIVES`; ``reference``: the taxonomy ``hf1`` and ``severity`` are measured
      on (one tree for every trial, whatever tree a trial trains); ``cost``: None or one of :data:`COSTS`;
    - ``trials_dir``: trial ``n`` trains in ``trials_dir/NNNN`` (a retried trial continues its old folder), a
      ``trials`` folder inside the study folder;
    - ``deadline``: ``time.time()`` after which a running trial stops and is recorded as pruned.
    """

    def __init__(self, data, manifest, space, base: dict, trials_dir, *, objective: str = "accuracy",
                 reference=None, cost: str | None = None, deadline: float | None = None, progress=None):
        self.data, self.manifest, self.space, self.base = data, manifest, space, dict(base)
        self.trials_dir = Path(trials_dir)
        self.objective, self.reference, self.cost, self.deadline = objective, reference, cost, deadline
        self.progress = progress or (lambda _m: None)

    def run_dir(self, trial) -> str:
        """The trial's run folder, relative to the study folder (``trials/NNNN``; a retried trial keeps its old
        one), so that the records stay true when the folder moves (an --overwrite search is staged elsewhere)."""
        return trial.user_attrs.get("run_dir") or f"{self.trials_dir.name}/{trial.number:04d}"

    def __call__(self, trial):
        import optuna

        from taxoclass.jobs import train_job

        args = self.space.suggest(trial)
        run_dir = self.run_dir(trial)
        folder = self.trials_dir.parent / run_dir
        folder.parent.mkdir(parents=True, exist_ok=True)
        trial.set_user_attr("run_dir", run_dir)
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("arguments", args)
        single = self.cost is None
        cb = PruningCallback(trial if single else None, minimize=self.objective in MINIMIZED, deadline=self.deadline)
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
        self.progress(f"trial {trial.number}: {shown}")
        summary = train_job(self.data, folder, **self.base, **args, manifest=self.manifest, callbacks=[cb],
                            verbose=0)
        for key in ("train_seconds", "epochs_run", "n_params", "val_accuracy"):
            if key in summary:
                trial.set_user_attr(key, int(summary[key]) if key in ("epochs_run", "n_params") else
                                    float(summary[key]))
        if cb.stopped is not None:
            trial.set_user_attr("stopped", cb.stopped)
            self.progress(f"trial {trial.number} {cb.stopped} after {summary['epochs_run']} epoch(s)")
            raise optuna.TrialPruned(f"{cb.stopped} after {summary['epochs_run']} epoch(s)")
        value = self.score(summary)
        trial.set_user_attr("value", value)
        self.progress(f"trial {trial.number}: {self.objective} {value:.4f} in {summary['train_seconds']:.1f} s")
        if single:
            return value
        return value, float(summary["train_seconds"] if self.cost == "seconds" else summary["n_params"])

    def score(self, summary: dict) -> float:
        """The trial's objective on the validation split."""
        if self.objective == "accuracy" and "val_accuracy" in summary:
            return float(summary["val_accuracy"])
        return float(self.validation_metrics(summary["model_file"])[_METRIC_KEY[self.objective]] or 0.0)

    def validation_metrics(self, model_file) -> dict:
        """Every metric of a trained trial on the validation split, its probabilities mapped onto the reference
        taxonomy's classes (a flat model, a taxonomy tree and an error tree are then scored on the same tree)."""
        from taxoclass.jobs.inference import images_dataset, predict_proba
        from taxoclass.metrics import evaluate_predictions
        from taxoclass.models import load_model
        from taxoclass.taxonomy import Taxonomy

        clf = load_model(model_file)
        val = self.data.select(self.manifest, "val")
        proba = predict_proba(clf, images_dataset(val, clf))
        ref = self.reference or Taxonomy.from_paths([[c] for c in clf.taxonomy_.classes], root="root")
        order = [list(clf.taxonomy_.classes).index(c) for c in ref.classes]
        y = np.asarray(ref.classes)[val.encode(ref)]
        return evaluate_predictions(y, np.asarray(proba)[:, order], ref)
