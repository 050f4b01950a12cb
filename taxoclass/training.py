"""The training runner shared by every taxoclass model: callbacks, time budget, learning-rate schedules (the
distribution strategies and mixed precision live in :mod:`taxoclass.distribute`, re-exported here).

Everything here is built from plain arguments (Keras style) so that ``FlatClassifier`` and ``TreeClassifier``
turn their ``__init__`` options into the same Keras machinery:

>>> from taxoclass.training import build_callbacks, get_strategy
>>> cbs = build_callbacks(learning_rate=1e-3, lr_schedule="cosine", restore_best=True, time_budget=60)
>>> [type(cb).__name__ for cb in cbs]
['EarlyStopping', 'TimeBudget', 'CosineWarmup']
>>> with get_strategy("auto").scope():
...     pass  # build and compile the model here

Keras is imported with this module (its callbacks subclass ``keras.callbacks.Callback``); the model modules import
it lazily, so the CLI's parser stays fast.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np

from taxoclass.distribute import (STRATEGIES, check_multiworker_options, get_strategy,  # noqa: F401 (re-exported)
                                  multiworker_strategy, multiworker_task, set_mixed_precision)
from taxoclass.exceptions import ModelError
from taxoclass.resume import BACKUP_DIR, ResumeBackup  # noqa: F401 (re-exported)

#: learning-rate schedules: per-step cosine decay after a linear warm-up (default), constant, or divided on plateaus
LR_SCHEDULES = ("cosine", "constant", "plateau")
#: the quantity best weights are chosen by (validation top-1 accuracy)
BEST_MONITOR = "val_accuracy"
#: with a time budget, the epoch limit given to Keras (the budget stops training long before)
MAX_BUDGET_EPOCHS = 100_000
#: with a time budget, the least share of an epoch the budget's rest must hold to train a last, partial epoch
PARTIAL_EPOCH = 0.25

#: file and folder names written inside ``output_dir``
CHECKPOINT_FILE = "best.keras"
CSV_LOG_FILE = "training_log.csv"
TENSORBOARD_DIR = "tensorboard"


def _need_output_dir(output_dir, what: str) -> Path:
    if output_dir is None:
        raise ModelError(f"{what} needs an output folder, but output_dir is None; pass output_dir='some/folder' "
                         "(--output-dir) or switch the option off.")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"output_dir {out} exists and is not a folder; choose a folder path.")
    if not out.parent.exists():
        raise ModelError(f"cannot create output_dir {out}: its parent folder {out.parent} does not exist; "
                         "create it first.")
    out.mkdir(exist_ok=True)
    return out


def _refuse_existing(path: Path, *, overwrite: bool, resuming: bool):
    if path.exists() and not overwrite and not resuming:
        raise ModelError(f"{path} already exists from an earlier run; choose another output_dir, pass "
                         "resume=True (--resume) to continue that run, or overwrite=True to replace it.")


class TimeBudget(keras.callbacks.Callback):
    """Stops training before ``minutes`` of wall time are spent, and plans how many epochs fit.

    After every epoch it estimates the next epoch's duration (the slower of the last two epochs; after the first
    epoch of a ``fit``, which traces the graphs, from its steps after the first and its validation pass) and plans
    the full epochs that still fit; when the rest holds at least :data:`PARTIAL_EPOCH` of an epoch, a last partial
    epoch uses it. Any epoch is cut after the batch that spends the budget (then validated), so the budget holds
    whatever the epoch length (a large backbone on a CPU) and is used, not left idle;
    ``planned_epochs`` (epochs done + epochs that still fit; None until the first epoch ends) also tells
    :class:`CosineWarmup` that its warm-up epoch is over.
    The clock starts at the first ``on_train_begin`` and keeps running across several ``fit`` calls (the two
    phases of a pretrained flat model). At least one training batch always runs.

    >>> TimeBudget(2.5).seconds
    150.0
    """

    def __init__(self, minutes: float):
        super().__init__()
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
            raise ModelError(f"time_budget must be a positive number of minutes such as 30 or 0.5, got {minutes!r}.")
        self.seconds = float(minutes) * 60.0
        self.start = None
        self.planned_epochs = None
        self.epoch_seconds: list[float] = []
        self.epochs_run = 0
        self.cut_epoch = False  # True when the budget ran out inside an epoch (the last one ran partially)

    def elapsed(self) -> float:
        return 0.0 if self.start is None else time.perf_counter() - self.start

    def on_train_begin(self, logs=None):
        if self.start is None:
            self.start = time.perf_counter()
        self._fit_epochs = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()
        self._epoch = epoch
        self._batch_ends = []

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self._batch_ends.append(now)
        if now - self.start >= self.seconds:  # the budget is spent inside this epoch: end it here
            self.model.stop_training = True
            self.cut_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.epoch_seconds.append(now - self._t)
        self.epochs_run += 1
        self._fit_epochs += 1
        ends = self._batch_ends
        if self._fit_epochs == 1 and len(ends) >= 3:
            # the first epoch traces the graphs: estimate from its later steps (and its validation pass)
            estimate = (ends[-1] - ends[0]) / (len(ends) - 1) * len(ends) + (now - ends[-1])
        else:
            estimate = max(self.epoch_seconds[-min(2, self._fit_epochs - 1):])
        left = self.seconds - self.elapsed()
        more = max(int(left // estimate), 0) if estimate > 0 else 0
        # the rest of the budget, when it holds a good part of an epoch, trains a last partial epoch (cut by
        # on_train_batch_end): an epoch longer than a third of the budget would otherwise leave much of it unused
        partial = estimate > 0 and left - more * estimate >= PARTIAL_EPOCH * estimate
        self.planned_epochs = epoch + 1 + more + int(partial)
        if more == 0 and not partial:
            self.model.stop_training = True
        if logs is not None:
            logs["elapsed_seconds"] = self.elapsed()


class CosineWarmup(keras.callbacks.Callback):
    """Per-step learning rate: a linear warm-up to ``learning_rate``, then cosine decay to ``alpha`` times it
    (``keras.optimizers.schedules.CosineDecay``) at the end of the last epoch; logs ``learning_rate`` per epoch.

    The schedule spans the epochs from ``start_epoch`` (0; a two-phase model sets it to the first epoch of each
    phase) to the ``epochs`` of ``fit``. With a :class:`TimeBudget` the first epoch warms up and the decay then
    follows the wall time left in the budget (:meth:`time_rate`), reaching ``alpha`` at the budget's end.
    Warm-up: the first ``warmup`` share of the steps, at most one epoch. When training ends the optimizer gets its
    compiled rate back.

    >>> cb = CosineWarmup(1e-3)
    >>> cb.rate(step=0, total_steps=100, warmup_steps=10) < cb.rate(step=9, total_steps=100, warmup_steps=10)
    True
    >>> round(cb.rate(step=54, total_steps=100, warmup_steps=10), 8)   # half-way through the decay
    0.0005
    """

    def __init__(self, learning_rate: float, *, warmup: float = 0.1, alpha: float = 0.0,
                 budget: TimeBudget | None = None):
        super().__init__()
        self.learning_rate = float(learning_rate)
        self.warmup, self.alpha, self.budget = float(warmup), float(alpha), budget
        self.start_epoch = 0
        self._key = None

    def rate(self, step: int, total_steps: int, warmup_steps: int) -> float:
        """The learning rate of global step ``step`` (0-based) of ``total_steps``."""
        total_steps = max(int(total_steps), 1)
        warmup_steps = min(max(int(warmup_steps), 0), total_steps - 1)
        key = (total_steps, warmup_steps, self.learning_rate)
        if key != self._key:
            self._schedule = keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=max(total_steps - warmup_steps, 1), alpha=self.alpha,
                warmup_target=self.learning_rate if warmup_steps else None, warmup_steps=warmup_steps)
            if not warmup_steps:
                self._schedule = keras.optimizers.schedules.CosineDecay(self.learning_rate, total_steps,
                                                                        alpha=self.alpha)
            self._key = key
        # step + 1: the first step already moves (warm-up from 0 would waste it)
        return float(self._schedule(min(int(step) + 1, total_steps)))

    def on_train_begin(self, logs=None):
        self._compiled_rate = float(np.asarray(self.model.optimizer.learning_rate))
        self._steps = self.params.get("steps") if self.params else None
        self._epochs = int(self.params.get("epochs") or 1) if self.params else 1
        self._warm_end = None  # with a budget: when this fit's decay starts (see on_train_batch_begin)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def time_rate(self, elapsed: float, warm_end: float, seconds: float) -> float:
        """With a time budget, after the warm-up epoch: cosine decay over the wall time left, from ``warm_end`` to
        ``seconds`` (the budget), so the rate falls monotonically whatever the length of single epochs.

        >>> round(CosineWarmup(1e-3).time_rate(55.0, 10.0, 100.0), 8)   # half-way through the time left
        0.0005
        """
        frac = min(max((elapsed - warm_end) / max(seconds - warm_end, 1e-9), 0.0), 1.0)
        return self.learning_rate * (self.alpha + (1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * frac)))

    def on_train_batch_begin(self, batch, logs=None):
        spe = self._steps or getattr(self, "_seen_steps", None)
        epochs = self._epochs
        if self.budget is not None and self.budget.planned_epochs is not None:
            # the warm-up epoch is over: decay by the wall time used, not by a re-planned epoch count (one slow
            # epoch on a busy machine would otherwise shorten the plan, drop the rate to 0 and waste the rest)
            if self._warm_end is None:
                self._warm_end = self.budget.elapsed()
            self.model.optimizer.learning_rate.assign(
                self.time_rate(self.budget.elapsed(), self._warm_end, self.budget.seconds))
            return
        epoch, epochs = self._epoch - self.start_epoch, epochs - self.start_epoch
        if spe:
            step, total = epoch * spe + batch, epochs * spe
            warm = min(spe, int(round(self.warmup * total)))
            if self.budget is not None:
                # the budget's plan is known after the first epoch: warm up over it, ending at the full rate
                warm, total = spe, spe + 1
        else:  # unknown epoch length (first epoch of a dataset of unknown size): warm up over it
            step, total, warm = batch, batch + 2, batch + 2
        self.model.optimizer.learning_rate.assign(self.rate(step, total, warm))

    def on_epoch_end(self, epoch, logs=None):
        if not self._steps:
            self._seen_steps = max(getattr(self, "_seen_steps", 0) or 0, self._batch_seen(logs))
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch = batch

    def on_train_end(self, logs=None):
        # leave the optimizer as compiled (not at the schedule's final ~0) for any later plain model.fit
        self.model.optimizer.learning_rate.assign(self._compiled_rate)

    def _batch_seen(self, logs) -> int:
        return int(getattr(self, "_last_batch", -1)) + 1


def check_schedule_options(lr_schedule: str = "cosine", time_budget=None, restore_best: bool = True,
                           reduce_lr_patience=None) -> None:
    """Check the learning-rate schedule, time budget and best-weights options; one clear ModelError otherwise.

    >>> check_schedule_options("cosine", 0.5, True)
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ModelError(f"lr_schedule={lr_schedule!r} is not valid; expected one of {', '.join(LR_SCHEDULES)}.")
    if time_budget is not None and (isinstance(time_budget, bool) or not isinstance(time_budget, (int, float))
                                    or not time_budget > 0):
        raise ModelError(f"time_budget must be None or a positive number of minutes such as 30 or 0.5, got "
                         f"{time_budget!r}.")
    if not isinstance(restore_best, bool):
        raise ModelError(f"restore_best must be True or False, got {restore_best!r}.")
    if reduce_lr_patience is not None and lr_schedule != "plateau":
        raise ModelError(f"reduce_lr_patience={reduce_lr_patience!r} applies to lr_schedule='plateau' only (the "
                         f"schedule is {lr_schedule!r}); pass lr_schedule='plateau' or drop reduce_lr_patience.")


def build_callbacks(*, output_dir=None, monitor: str = "val_loss", early_stopping_patience: int | None = None,
                    reduce_lr_patience: int | None = None, checkpoint: bool = False, csv_log: bool = False,
                    tensorboard: bool = False, backup: bool = False, extra=None, overwrite: bool = False,
                    reduce_lr_factor: float = 0.2, min_lr: float = 1e-7, learning_rate: float | None = None,
                    lr_schedule: str | None = None, restore_best: bool = False, time_budget: float | None = None
                    ) -> list:
    """Turn plain training options into a list of ``keras.callbacks.Callback``.

    - ``lr_schedule``: ``"cosine"`` (:class:`CosineWarmup` from ``learning_rate``, per step), ``"constant"``
      (``keras.callbacks.LearningRateScheduler`` keeping the rate, which logs it) or ``"plateau"``
      (``ReduceLROnPlateau`` on ``monitor``, lr x ``reduce_lr_factor`` after ``reduce_lr_patience``, default 2,
      epochs without improvement); every schedule logs ``learning_rate`` per epoch. None (default): no schedule
      callback, or ``"plateau"`` when ``reduce_lr_patience`` is given.
    - ``restore_best=True``: the weights of the epoch with the best validation top-1 (``val_accuracy``) are
      restored when training ends (Keras' ``EarlyStopping(restore_best_weights=True)``, never stopping unless
      ``early_stopping_patience`` is given).
    - ``early_stopping_patience=n``: ``EarlyStopping`` on ``monitor`` (on ``val_accuracy`` with ``restore_best``;
      best weights restored).
    - ``time_budget=minutes``: :class:`TimeBudget` stops training before the budget is spent; the cosine schedule
      is fitted to the epochs that fit.
    - ``checkpoint=True``: ``ModelCheckpoint`` keeping only the best model, ``output_dir/best.keras``.
    - ``csv_log=True``: ``CSVLogger`` to ``output_dir/training_log.csv`` (appended to when resuming).
    - ``tensorboard=True``: ``TensorBoard`` logs in ``output_dir/tensorboard/``.
    - ``backup=True``: :class:`ResumeBackup` (Keras' ``BackupAndRestore``) in ``output_dir/backup/``: a run
      killed (even with ``kill -9``) resumes at its last finished epoch when the same command is run again; the
      backup is deleted when training finishes.
    - ``extra``: callbacks appended as given (a callback or a list of them).

    A checkpoint or log left by an earlier run in ``output_dir`` is refused unless that run was interrupted and
    ``backup=True`` resumes it, or ``overwrite=True``.
    ``output_dir`` is created if its parent exists.

    >>> import tempfile
    >>> cbs = build_callbacks(output_dir=tempfile.mkdtemp(), checkpoint=True, csv_log=True, backup=True)
    >>> [type(cb).__name__ for cb in cbs]
    ['ResumeBackup', 'ModelCheckpoint', 'CSVLogger']
    """
    if not isinstance(monitor, str) or not monitor:
        raise ModelError(f"monitor must be a metric name such as 'val_loss' or 'loss', got {monitor!r}.")
    for name, value in (("early_stopping_patience", early_stopping_patience),
                        ("reduce_lr_patience", reduce_lr_patience)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ModelError(f"{name} must be None or an integer >= 0 (epochs without improvement), got {value!r}.")

    if lr_schedule is None:  # no schedule callback, unless a plateau patience asks for one
        lr_schedule = "plateau" if reduce_lr_patience is not None else None
    check_schedule_options(lr_schedule or "constant", time_budget, restore_best,
                           reduce_lr_patience if lr_schedule not in (None, "plateau") else None)
    if lr_schedule == "cosine" and learning_rate is None:
        raise ModelError("lr_schedule='cosine' needs the peak learning_rate.")
    callbacks = []
    out = None
    if checkpoint or csv_log or tensorboard or backup:
        what = ", ".join(n for n, on in (("checkpoint", checkpoint), ("csv_log", csv_log),
                                         ("tensorboard", tensorboard), ("resume/backup", backup)) if on)
        out = _need_output_dir(output_dir, what)
    # an interrupted run left its backup: its checkpoint and log belong to the run being resumed
    resuming = bool(backup) and (out / BACKUP_DIR).is_dir()
    # the backup first: it sets the starting epoch before the other callbacks see on_train_begin.
    if backup:
        callbacks.append(ResumeBackup(str(out / BACKUP_DIR), save_freq="epoch", delete_checkpoint=True))
    if restore_best:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=BEST_MONITOR, mode="max", restore_best_weights=True, verbose=0,
            patience=early_stopping_patience if early_stopping_patience is not None else 10**9))
    elif early_stopping_patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=early_stopping_patience,
                                                       restore_best_weights=True, verbose=1))
    budget = TimeBudget(time_budget) if time_budget is not None else None
    if budget is not None:
        callbacks.append(budget)
    if lr_schedule == "cosine":
        callbacks.append(CosineWarmup(learning_rate, budget=budget))
    elif lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, patience=2 if reduce_lr_patience is None else reduce_lr_patience,
            factor=reduce_lr_factor, min_lr=min_lr, verbose=1))
    elif lr_schedule == "constant":
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr))  # logs learning_rate
    if checkpoint:
        path = out / CHECKPOINT_FILE
        _refuse_existing(path, overwrite=overwrite, resuming=resuming)
        callbacks.append(keras.callbacks.ModelCheckpoint(str(path), monitor=monitor, save_best_only=True))
    if csv_log:
        path = out / CSV_LOG_FILE
        _refuse_existing(path, overwrite=overwrite, resuming=resuming)
        callbacks.append(keras.callbacks.CSVLogger(str(path), append=resuming and path.exists()))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / TENSORBOARD_DIR)))
    if extra is not None:
        extra = [extra] if isinstance(extra, keras.callbacks.Callback) else list(extra)
        for cb in extra:
            if not isinstance(cb, keras.callbacks.Callback):
                raise ModelError(f"extra callbacks must be keras.callbacks.Callback instances, got {cb!r}.")
        callbacks.extend(extra)
    return callbacks


def callbacks_for(param, *, validation: bool, extra=None, start: float | None = None) -> list:
    """The callbacks of a taxoclass estimator's ``fit``: :func:`build_callbacks` from its parameters (``param(name)``
    reads one, e.g. ``BaseClassifier._param``); best weights are restored only with ``validation`` data, and a time
    budget's clock starts at ``start`` (``time.perf_counter()`` when ``fit`` began).

    >>> defaults = {"learning_rate": 1e-3, "lr_schedule": "cosine", "restore_best": True}
    >>> [type(cb).__name__ for cb in callbacks_for(defaults.get, validation=True)]
    ['EarlyStopping', 'CosineWarmup']
    """
    cbs = build_callbacks(
        output_dir=param("output_dir"), monitor="val_loss" if validation else "loss",
        early_stopping_patience=param("early_stopping_patience"), reduce_lr_patience=param("reduce_lr_patience"),
        checkpoint=bool(param("checkpoint")), csv_log=bool(param("csv_log")), tensorboard=bool(param("tensorboard")),
        backup=bool(param("resume")), extra=extra, learning_rate=param("learning_rate"),
        lr_schedule=param("lr_schedule"), time_budget=param("time_budget"),
        restore_best=bool(param("restore_best")) and validation)
    for cb in cbs:
        if isinstance(cb, TimeBudget) and start is not None:
            cb.start = start
    return cbs
