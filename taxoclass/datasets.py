"""Named datasets: ``digits`` (ships with scikit-learn), ``fashion_mnist``, ``cifar10``, ``cifar100``.

Each loader returns an :class:`~taxoclass.data.ImageSet` whose ``taxonomy`` is the shipped class tree from
``taxonomies/`` (none for digits: its tree is built from a flat model's confusion). ``path`` points at a local copy
(an IDX folder for Fashion-MNIST, the class-folder zip or folder for CIFAR-10); without it the Keras downloader is
used, which needs internet access.

>>> ds = load_dataset("digits")
>>> len(ds), ds.classes[:3], ds.array.shape
(1797, ('0', '1', '2'), (1797, 8, 8, 1))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from taxoclass.exceptions import DataError
from taxoclass.taxonomy.io import taxonomy_dir

__all__ = ["DATASETS", "load_dataset", "shipped_taxonomy", "TAXONOMY_DIR"]

#: folder of the taxonomy files shipped with taxoclass (package data; the top-level taxonomies/ of a checkout)
TAXONOMY_DIR = taxonomy_dir()

#: name -> (background pixel value, shipped taxonomy file or None, what ``path`` may be)
DATASETS = {
    "digits": (0, None, "not used (scikit-learn ships the data)"),
    "fashion_mnist": (0, "fashion_mnist.tsv", "a folder holding the four IDX .gz files"),
    "cifar10": (None, "cifar10.tsv", "a zip or folder of train/<class>/*.jpg (and test/...)"),
    "cifar100": (None, "cifar100.tsv", "not supported: the Keras downloader is used"),
}

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def shipped_taxonomy(name: str):
    """The taxonomy shipped for a named dataset (None for ``digits``).

    >>> shipped_taxonomy("cifar10").n_classes
    10
    """
    from taxoclass.taxonomy import load_taxonomy

    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}.")
    fname = DATASETS[name][1]
    if fname is None:
        return None
    path = TAXONOMY_DIR / fname
    if not path.is_file():
        raise DataError(f"the shipped taxonomy {path} is missing: this taxoclass installation is incomplete; "
                        "reinstall taxoclass (pip install taxoclass, or pip install . in a clone).")
    return load_taxonomy(path)


def _keras_download(name: str, split: str):
    import keras

    loader = {"fashion_mnist": keras.datasets.fashion_mnist, "cifar10": keras.datasets.cifar10,
              "cifar100": keras.datasets.cifar100}[name]
    try:
        data = loader.load_data(label_mode="fine") if name == "cifar100" else loader.load_data()
    except Exception as exc:  # noqa: BLE001 - no network, proxy, ...
        raise DataError(f"could not download {name} with Keras ({exc}); pass path=... (or --data-path) to a local "
                        "copy instead.") from None
    (x_tr, y_tr), (x_te, y_te) = data
    return (x_tr, y_tr.reshape(-1)) if split == "train" else (x_te, y_te.reshape(-1))


def load_dataset(name: str, path=None, *, split: str = "train", check: bool = True):
    """Load a named dataset as an ImageSet (with its shipped taxonomy when there is one).

    Parameters
    ----------
    name : ``"digits"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"cifar100"``.
    path : local copy (see :data:`DATASETS`); None downloads with Keras (needs internet).
    split : ``"train"`` or ``"test"`` (the dataset's own split; digits has only one set).
    check : decode every file once when reading image files (bad-file check).

    >>> load_dataset("digits").taxonomy is None
    True
    """
    from taxoclass.data import ImageSet

    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}, or give an image "
                        "folder / zip / --table / --ecotaxa source instead.")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}.")
    tax = shipped_taxonomy(name)
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
        ds = ImageSet.from_arrays(x, [str(v) for v in d.target], classes=[str(i) for i in range(10)],
                                  source="digits")
        ds.background = DATASETS[name][0]
        return ds
    if name == "fashion_mnist":
        if path is not None:
            p = Path(path)
            prefix = "train" if split == "train" else "t10k"
            imgs, labs = p / f"{prefix}-images-idx3-ubyte.gz", p / f"{prefix}-labels-idx1-ubyte.gz"
            if not imgs.is_file() or not labs.is_file():
                raise DataError(f"{p}: expected {imgs.name} and {labs.name} (Fashion-MNIST IDX files) in this folder.")
            ds = ImageSet.from_idx(imgs, labs, classes=FASHION_CLASSES)
        else:
            x, y = _keras_download(name, split)
            ds = ImageSet.from_arrays(x, [FASHION_CLASSES[i] for i in y], classes=FASHION_CLASSES,
                                      source="fashion_mnist")
    elif name == "cifar10":
        if path is not None:
            p = Path(path)
            if p.suffix.lower() == ".zip":
                ds = ImageSet.from_zip(p, split, check=check)
            elif (p / split).is_dir():
                ds = ImageSet.from_folder(p / split, check=check)
            else:
                ds = ImageSet.from_folder(p, check=check)
        else:
            x, y = _keras_download(name, split)
            ds = ImageSet.from_arrays(x, [CIFAR10_CLASSES[i] for i in y], classes=CIFAR10_CLASSES, source="cifar10")
    else:  # cifar100
        if path is not None:
            raise DataError("cifar100 is read with the Keras downloader only; for a local copy, point taxoclass at "
                            "its class folders (a folder or zip source) with --taxonomy taxonomies/cifar100.tsv.")
        x, y = _keras_download(name, split)
        ds = ImageSet.from_arrays(x, [tax.classes[i] for i in y], classes=list(tax.classes), source="cifar100")
    ds.background = DATASETS[name][0]  # the pipeline pads with it (taxoclass train / benchmark --pad-value)
    tax.check_classes(ds.classes, source=f"{name} images")
    ds.taxonomy = tax.with_class_order(ds.classes) if tuple(ds.classes) != tax.classes else tax
    return ds
