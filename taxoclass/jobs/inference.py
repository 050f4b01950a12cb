"""Shared pieces of the inference jobs: load a saved model, turn images into its input batches, average
test-time views, list unlabelled images."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from taxoclass.exceptions import DataError, TaxoclassError

__all__ = ["images_dataset", "predict_proba", "check_tta", "unlabelled_images", "noop"]


def noop(_msg: str) -> None:
    """The default ``progress`` callback of the jobs: print nothing."""


def images_dataset(data, model, *, batch_size: int = 64, with_labels: bool = True):
    """A tf.data.Dataset of ``data`` prepared with the model's input spec (``model.input_spec()``, saved with the
    model), labels in its class order."""
    from taxoclass.data import make_dataset

    kw = dict(**model.input_spec(), batch_size=batch_size, cache=False)
    if with_labels:
        return make_dataset(data, class_order=list(model.taxonomy_.classes), **kw)
    return make_dataset(data, with_labels=False, **kw)


def predict_proba(model, ds, tta: int = 1):
    """Class probabilities of a fitted model on a dataset of image batches, averaged over ``tta`` fixed views
    (test-time augmentation by :func:`taxoclass.data.tta_predict`; 1 = the images as they are).

    >>> proba = predict_proba(clf, images_dataset(data, clf), tta=8)    # doctest: +SKIP
    """
    from taxoclass.data import tta_predict

    tta = check_tta(tta)
    if tta == 1:
        return model.predict_proba(ds)
    return tta_predict(model.predict_proba, ds, tta).astype(np.float32)


def check_tta(tta) -> int:
    """``tta`` as an int number of views, 1 to 8; one clear error otherwise.

    >>> check_tta(4)
    4
    """
    from taxoclass.data.augment import TTA_VIEWS

    if isinstance(tta, bool) or not isinstance(tta, (int, np.integer)) or not 1 <= tta <= len(TTA_VIEWS):
        raise TaxoclassError(f"tta={tta!r} is not valid; expected the number of test-time views, 1 (none) to "
                             f"{len(TTA_VIEWS)} (identity, flips, rotations by 90 degrees, transposes).")
    return int(tta)


def unlabelled_images(paths: Sequence[str] = (), *, folder=None, csv=None, file_column: str | None = None):
    """An ImageSet of images to label (files, a folder searched recursively, or a CSV column of paths); for
    millions of images use :class:`taxoclass.jobs.stream.ImageFiles`, which lists them lazily."""
    from taxoclass.jobs.stream import ImageFiles

    files = ImageFiles(paths, folder=folder, csv=csv, file_column=file_column)
    files.count()  # every file exists
    return files.image_set(list(files))
