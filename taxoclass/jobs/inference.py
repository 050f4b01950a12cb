"""Shared pieces of the inference jobs: load a saved model, turn images into its input batches, average
test-time views, list unlabelled images."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from taxoclass.exceptions import TaxoclassError

__all__ = ["images_dataset", "predict_proba", "predict_proba_pair", "check_tta", "tta_mode_of", "unlabelled_images",
           "noop"]


def noop(_msg: str) -> None:
    """The default ``progress`` callback of the jobs: print nothing."""


def images_dataset(data, model, *, batch_size: int = 64, with_labels: bool = True):
    """A tf.data.Dataset of ``data`` prepared with the model's input spec (``model.input_spec()``, saved with the
    model), labels in its class order."""
    from taxoclass.data import make_dataset

    kw = dict(**model.input_spec(), batch_size=batch_size, cache=False)
    if with_labels:
        return make_dataset(data, class_order=model.taxonomy_, **kw)  # its nodes too: labels at internal nodes
    return make_dataset(data, with_labels=False, **kw)


def predict_proba(model, ds, tta: int = 1, *, calibrated: bool = True, tta_mode: str = "auto"):
    """Class probabilities of a fitted model on a dataset of image batches, averaged over ``tta`` fixed views
    (test-time augmentation by :func:`taxoclass.data.tta_predict`; 1 = the images as they are); ``calibrated``
    as in ``model.predict_proba``. ``tta_mode``: the family of views, ``"plankton"`` (flips and rotations by 90,
    then 45 degrees: up to 16 views), ``"upright"`` (mirror and small shifts: up to 8) or ``"auto"``
    (:func:`tta_mode_of`: the family that matches the model's training augmentation). A progress bar shows on a
    terminal.

    >>> proba = predict_proba(clf, images_dataset(data, clf), tta=8)    # doctest: +SKIP
    """
    from functools import partial

    return _averaged(partial(model.predict_proba, calibrated=calibrated, callbacks=_progress_bar(ds)), ds, tta,
                     model, tta_mode)


def predict_proba_pair(model, ds, tta: int = 1, *, tta_mode: str = "auto"):
    """``(uncalibrated, calibrated)`` probabilities as :func:`predict_proba` gives them, from one pass over the
    images."""
    from taxoclass.calibration import apply_temperature

    T = float(getattr(model, "temperature_", 1.0))
    bar = _progress_bar(ds)

    def both(x):  # side by side, so that the views are averaged for each
        raw = model.predict_proba(x, calibrated=False, callbacks=bar)
        return np.concatenate([raw, apply_temperature(raw, T) if T != 1.0 else raw], axis=1)

    p = _averaged(both, ds, tta, model, tta_mode)
    return p[:, :p.shape[1] // 2], p[:, p.shape[1] // 2:]


def _progress_bar(ds):
    from taxoclass._console import keras_progress

    n = int(ds.cardinality()) if hasattr(ds, "cardinality") else -1
    return keras_progress(n if n > 0 else None, "predicting")


def _averaged(fn, ds, tta, model, tta_mode):
    from taxoclass.data import tta_predict
    from taxoclass.data.pipeline import background

    mode = tta_mode_of(model, tta_mode)
    tta = check_tta(tta, mode)
    if tta == 1:
        return np.asarray(fn(ds), dtype=np.float32)
    spec = model.input_spec()
    fill = background(spec["pad_value"], spec["invert"])  # what the shifted views uncover: the input's background
    return np.asarray(tta_predict(fn, ds, tta, mode, fill), dtype=np.float32)


def tta_mode_of(model, tta_mode: str = "auto") -> str:
    """The family of test-time views to use for ``model``: ``tta_mode`` itself (``"plankton"`` or ``"upright"``),
    or for ``"auto"`` the family matching the training augmentation recorded with the model (``model.augment_``,
    set by ``taxoclass train`` and ``benchmark``): ``"upright"`` for a model trained with the upright
    augmentation, else ``"plankton"``.

    >>> from types import SimpleNamespace
    >>> tta_mode_of(SimpleNamespace(augment_="upright")), tta_mode_of(SimpleNamespace())
    ('upright', 'plankton')
    """
    from taxoclass.data.augment import check_tta_mode, tta_mode_for

    if check_tta_mode(tta_mode, auto=True) == "auto":
        return tta_mode_for(getattr(model, "augment_", None))
    return tta_mode


def check_tta(tta, mode: str = "auto") -> int:
    """``tta`` as an int number of test-time views for the view family ``mode``: 1 to 16 for ``"plankton"`` (and
    for ``"auto"``, before the model says which family), 1 to 8 for ``"upright"``; one clear error otherwise.

    >>> check_tta(16), check_tta(8, "upright")
    (16, 8)
    """
    from taxoclass.data.augment import TTA_FAMILY_VIEWS, TTA_UPRIGHT_VIEWS, TTA_VIEWS

    most = len(TTA_FAMILY_VIEWS.get(mode, TTA_VIEWS))  # "auto": the largest family, until the model says which
    if isinstance(tta, bool) or not isinstance(tta, (int, np.integer)) or not 1 <= tta <= most:
        views = ("the mirror and small shifts, for upright images" if mode == "upright" else
                 "flips, rotations by 90 degrees, transposes, then the same turned by 45 degrees; 1 to "
                 f"{len(TTA_UPRIGHT_VIEWS)} for upright images: the mirror and small shifts")
        raise TaxoclassError(f"tta={tta!r} is not valid; expected the number of test-time views, 1 (none) to "
                             f"{most} ({views}).")
    return int(tta)


def unlabelled_images(paths: Sequence[str] = (), *, folder=None, csv=None, file_column: str | None = None):
    """An ImageSet of images to label (files, a folder searched recursively, or a CSV column of paths); for
    millions of images use :class:`taxoclass.jobs.stream.ImageFiles`, which lists them lazily."""
    from taxoclass.jobs.stream import ImageFiles

    files = ImageFiles(paths, folder=folder, csv=csv, file_column=file_column)
    files.count()  # every file exists
    return files.image_set(list(files))
