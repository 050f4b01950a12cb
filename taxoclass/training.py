"""The training runner shared by every taxoclass model: callbacks, distribution strategy, mixed precision.

Everything here is built from plain arguments (Keras style) so that ``FlatClassifier`` and ``TreeClassifier``
turn their ``__init__`` options into the same Keras machinery:

>>> from taxoclass.training import build_callbacks, get_strategy
>>> cbs = build_callbacks(early_stopping_patience=3, reduce_lr_patience=2)
>>> [type(cb).__name__ for cb in cbs]
['EarlyStopping', 'ReduceLROnPlateau']
>>> with get_strategy("auto").scope():
...     pass  # build and compile the model here

TensorFlow/Keras are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

from taxoclass.exceptions import ModelError

STRATEGIES = ("auto", "mirrored", "multiworker")

#: file and folder names written inside ``output_dir``
CHECKPOINT_FILE = "best.keras"
CSV_LOG_FILE = "training_log.csv"
TENSORBOARD_DIR = "tensorboard"
BACKUP_DIR = "backup"


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


def build_callbacks(*, output_dir=None, monitor: str = "val_loss", early_stopping_patience: int | None = None,
                    reduce_lr_patience: int | None = None, checkpoint: bool = False, csv_log: bool = False,
                    tensorboard: bool = False, backup: bool = False, extra=None, overwrite: bool = False,
                    reduce_lr_factor: float = 0.2, min_lr: float = 1e-7) -> list:
    """Turn plain training options into a list of ``keras.callbacks.Callback``.

    - ``early_stopping_patience=n``: ``EarlyStopping`` on ``monitor`` (best weights restored).
    - ``reduce_lr_patience=n``: ``ReduceLROnPlateau`` on ``monitor`` (lr x ``reduce_lr_factor``).
    - ``checkpoint=True``: ``ModelCheckpoint`` keeping only the best model, ``output_dir/best.keras``.
    - ``csv_log=True``: ``CSVLogger`` to ``output_dir/training_log.csv`` (appended to when resuming).
    - ``tensorboard=True``: ``TensorBoard`` logs in ``output_dir/tensorboard/``.
    - ``backup=True``: ``BackupAndRestore`` in ``output_dir/backup/``: a run killed (even with ``kill -9``)
      resumes at its last finished epoch when the same command is run again; the backup is deleted when
      training finishes.
    - ``extra``: callbacks appended as given (a callback or a list of them).

    A checkpoint or log left by an earlier run in ``output_dir`` is refused unless that run was interrupted and
    ``backup=True`` resumes it, or ``overwrite=True``.
    ``output_dir`` is created if its parent exists.

    >>> import tempfile
    >>> cbs = build_callbacks(output_dir=tempfile.mkdtemp(), checkpoint=True, csv_log=True, backup=True)
    >>> [type(cb).__name__ for cb in cbs]
    ['BackupAndRestore', 'ModelCheckpoint', 'CSVLogger']
    """
    import keras

    if not isinstance(monitor, str) or not monitor:
        raise ModelError(f"monitor must be a metric name such as 'val_loss' or 'loss', got {monitor!r}.")
    for name, value in (("early_stopping_patience", early_stopping_patience),
                        ("reduce_lr_patience", reduce_lr_patience)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ModelError(f"{name} must be None or an integer >= 0 (epochs without improvement), got {value!r}.")

    callbacks = []
    out = None
    if checkpoint or csv_log or tensorboard or backup:
        what = ", ".join(n for n, on in (("checkpoint", checkpoint), ("csv_log", csv_log),
                                         ("tensorboard", tensorboard), ("resume/backup", backup)) if on)
        out = _need_output_dir(output_dir, what)
    # an interrupted run left its backup: its checkpoint and log belong to the run being resumed
    resuming = bool(backup) and (out / BACKUP_DIR).is_dir()
    # BackupAndRestore first: it sets the starting epoch before the other callbacks see on_train_begin.
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(str(out / BACKUP_DIR), save_freq="epoch",
                                                          delete_checkpoint=True))
    if early_stopping_patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=early_stopping_patience,
                                                       restore_best_weights=True, verbose=1))
    if reduce_lr_patience is not None:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, patience=reduce_lr_patience,
                                                           factor=reduce_lr_factor, min_lr=min_lr, verbose=1))
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


def _logical_devices(kind: str):
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices(kind)]


def get_strategy(name="auto"):
    """Return a ``tf.distribute.Strategy``; build and compile models inside its ``scope()``.

    - ``"auto"``: ``MirroredStrategy`` when several GPUs are visible, else TensorFlow's default strategy.
    - ``"mirrored"``: ``MirroredStrategy`` over all GPUs (synchronous data parallelism on one machine); without
      GPUs, over all logical CPU devices (useful for testing).
    - ``"multiworker"``: ``MultiWorkerMirroredStrategy``; each machine runs the same command with its own
      ``TF_CONFIG`` environment variable (cluster and task index), see TensorFlow's multi-worker guide.
    - a ``tf.distribute.Strategy`` instance is returned as is.

    >>> get_strategy("auto").num_replicas_in_sync >= 1
    True
    """
    import tensorflow as tf

    if isinstance(name, tf.distribute.Strategy):
        return name
    if not isinstance(name, str) or name.lower() not in STRATEGIES:
        raise ModelError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)} "
                         "or a tf.distribute.Strategy instance.")
    name = name.lower()
    gpus = _logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(gpus or _logical_devices("CPU"))
    if "TF_CONFIG" not in os.environ:
        import warnings

        warnings.warn("strategy='multiworker' without a TF_CONFIG environment variable runs as a single worker; "
                      "set TF_CONFIG on every machine to train on several.", stacklevel=2)
    return tf.distribute.MultiWorkerMirroredStrategy()


def set_mixed_precision(enabled: bool) -> str:
    """Switch Keras' global dtype policy to ``"mixed_float16"`` (``enabled=True``) or ``"float32"``.

    Mixed precision speeds up training on recent GPUs (compute in float16, variables in float32); models keep
    their final softmax in float32. Returns the previous policy name so it can be restored. Call it before
    building the model.

    >>> previous = set_mixed_precision(False)
    >>> _ = set_mixed_precision(previous == "mixed_float16")
    """
    import keras

    if not isinstance(enabled, bool):
        raise ModelError(f"mixed_precision must be True or False, got {enabled!r}.")
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
    return previous
