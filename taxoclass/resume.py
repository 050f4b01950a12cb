"""Resuming an interrupted fit (``resume=True``, ``--resume``): nothing finished is ever trained again.

A fit with ``resume=True`` keeps its state in ``output_dir/backup/`` (:data:`BACKUP_DIR`):

- while it trains, Keras' ``BackupAndRestore`` files (:class:`ResumeBackup`): the weights, optimizer and epoch of the
  last finished epoch, so that a run killed mid-training (even with ``kill -9``) goes on from there;
- from the end of training until ``fit`` returns, ``trained.npz`` (:func:`save_trained`): the trained weights (the
  best epoch's, once restored) and the history. The steps after training (the combined model's mixing weight,
  calibration on the validation split) then run; a run killed during them loads these weights when run again
  (:func:`load_trained`) and does only what was left, without training a single epoch again.

The folder is deleted when ``fit`` returns (:func:`discard_backup`).

>>> import tempfile, keras
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
>>> folder = tempfile.mkdtemp()
>>> save_trained(model, {"loss": [0.9, 0.5]}, folder)
>>> load_trained(model, folder)
{'loss': [0.9, 0.5]}
>>> discard_backup(folder); load_trained(model, folder) is None
True
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np

from taxoclass._files import atomic_write
from taxoclass.exceptions import ModelError

__all__ = ["BACKUP_DIR", "TRAINED_FILE", "ResumeBackup", "save_trained", "load_trained", "discard_backup"]

#: the folder inside ``output_dir`` that holds an unfinished fit's state
BACKUP_DIR = "backup"
#: the trained weights and history, kept in :data:`BACKUP_DIR` between the end of training and the end of ``fit``
TRAINED_FILE = "trained.npz"

_RESUME_HINT = ("resume with the command and taxoclass version that started the run, or start it over: "
                "overwrite=True (--overwrite) without resume.")


class ResumeBackup(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` that refuses, with one clear message, a backup written by another model.

    A run interrupted under another architecture (other options, or a taxoclass version that built its layers
    differently) leaves weights that do not fit the model being resumed. Keras stops with a long loading error
    or, for a part of the model missing from the file, only warns and leaves that part freshly initialised. Here
    the weight arrays in the backup are compared (number and shapes) with the model's before anything is loaded.

    >>> import tempfile
    >>> isinstance(ResumeBackup(tempfile.mkdtemp()), keras.callbacks.BackupAndRestore)
    True
    """

    def on_train_begin(self, logs=None):
        saved = _saved_weight_shapes(self.weights_file())  # None: no backup, or one Keras must repair itself
        wanted = None if saved is None else sorted(tuple(v.shape) for v in self.model.weights)
        if saved != wanted:
            raise ModelError(f"the backup of an interrupted run in {self.backup_dir} does not fit this model "
                             f"({len(saved)} weight arrays saved, {len(wanted)} in the model, or of other shapes): it "
                             f"was written by a model with other options or by another taxoclass version; "
                             f"{_RESUME_HINT}")
        try:
            super().on_train_begin(logs)
        except ValueError as exc:  # what the shapes cannot tell (e.g. the same shapes in another order)
            raise ModelError(f"the backup of an interrupted run in {self.backup_dir} does not fit this model (Keras: "
                             f"{str(exc).splitlines()[0][:200]}); {_RESUME_HINT}") from None

    def weights_file(self) -> str:
        """Where Keras keeps the backed-up weights (the one private detail relied on; tests/test_training.py checks
        it on every Keras version)."""
        return self._weights_path


def _saved_weight_shapes(path) -> list[tuple] | None:
    """Sorted shapes of the model weight arrays in a Keras ``.weights.h5`` file (the optimizer's left out); None
    when there is no such file or it cannot be read (a backup cut short: Keras falls back to the one before)."""
    import h5py

    if not Path(path).is_file():
        return None
    shapes = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and not name.startswith("optimizer"):
            shapes.append(tuple(obj.shape))

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(visit)
    except OSError:
        return None
    return sorted(shapes)


def _trained_path(output_dir) -> Path:
    return Path(output_dir) / BACKUP_DIR / TRAINED_FILE


def save_trained(model, history: dict, output_dir) -> None:
    """Keep ``model``'s trained weights and ``history`` (``{metric: [one float per epoch]}``) in
    ``output_dir/backup/trained.npz`` until ``fit`` has done the steps after training (written whole or not at all:
    :func:`taxoclass._files.atomic_write`, flushed to disk before the rename)."""
    path = _trained_path(output_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    with atomic_write(path, "wb") as fh:
        np.savez(fh, history=np.array(json.dumps(history)), **arrays)
        fh.flush()
        os.fsync(fh.fileno())


def load_trained(model, output_dir) -> dict | None:
    """The history of a fit in ``output_dir`` whose training finished but which stopped before ``fit`` returned,
    its weights loaded into ``model``; None when there is no such fit. A file written by a model of another shape
    (other options, another taxoclass version) is refused with one message."""
    path = _trained_path(output_dir)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            weights = [saved[f"w{i}"] for i in range(sum(name.startswith("w") for name in saved.files))]
            history = json.loads(str(saved["history"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"the trained weights of an unfinished run, {path}, cannot be read ({type(exc).__name__}); "
                         f"{_RESUME_HINT}") from None
    saved_shapes, wanted = [tuple(w.shape) for w in weights], [tuple(v.shape) for v in model.weights]
    if saved_shapes != wanted:
        raise ModelError(f"the trained weights of an unfinished run, {path}, do not fit this model ({len(saved_shapes)} "
                         f"weight arrays saved, {len(wanted)} in the model, or of other shapes): they were written by "
                         f"a model with other options or by another taxoclass version; {_RESUME_HINT}")
    model.set_weights(weights)
    return history


def discard_backup(output_dir) -> None:
    """Delete ``output_dir/backup/``: the fit it belonged to has finished."""
    shutil.rmtree(Path(output_dir) / BACKUP_DIR, ignore_errors=True)
