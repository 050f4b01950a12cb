"""The :class:`ImageSet`: images (files, zip members or an array), their labels, the classes and an optional taxonomy.

Sources, each a class method (and a module-level function of the same name):

- :meth:`ImageSet.from_folder` -- ``root/<class>/*.jpg`` (or nested folders read as lineage),
- :meth:`ImageSet.from_table` -- a CSV/TSV with a file column and a label column, paths relative to an image root,
- :meth:`ImageSet.from_ecotaxa` -- an EcoTaxa export: zip, folder or TSV (images, labels and the taxonomy in one
  go; see :mod:`taxoclass.data.ecotaxa`),
- :meth:`ImageSet.from_arrays` / :meth:`ImageSet.from_idx` -- numpy arrays / MNIST-style IDX ``.gz`` files,
- :meth:`ImageSet.from_zip` -- a zip archive holding a class-folder tree, read in place,

and :func:`load_source`, the dispatcher used by the command line. File-based sources are checked when they are built
(see :mod:`taxoclass.data.checks`): unreadable files are dropped with ONE warning listing them (or raise with
``on_error="raise"``), odd-but-readable files are flagged so the pipeline converts them with PIL.

Importing this module does not import TensorFlow (nor pandas or scikit-learn).
"""

from __future__ import annotations

import os
import threading
import warnings
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from taxoclass.data.checks import DEFAULT_MAX_PIXELS, FileCheck, check_files
from taxoclass.data.readers import IMAGE_EXTENSIONS, ImageSources, load_source
from taxoclass.exceptions import DataError

__all__ = ["ImageSet", "BadFilesWarning", "IMAGE_EXTENSIONS", "from_folder", "from_table", "from_ecotaxa",
           "from_arrays", "from_idx", "from_zip", "load_source"]

_ON_ERROR = ("warn", "raise", "ignore")


class BadFilesWarning(UserWarning):
    """Unreadable images were skipped when a dataset was built."""



class _ZipReader:
    """Reader of zip members shared by threads: the central directory is parsed once (one ZipFile handle;
    zipfile serialises reads on the shared file internally)."""

    def __init__(self, path):
        self.path = str(path)
        self._lock = threading.Lock()
        self._zf = None

    def read(self, member: str) -> bytes:
        if self._zf is None:
            with self._lock:
                if self._zf is None:
                    self._zf = zipfile.ZipFile(self.path)
        return self._zf.read(member)

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])


class ImageSet(ImageSources):
    """A labelled collection of images: file paths (or zip members, or an array), class-name labels, classes.

    Build one with a ``from_*`` class method; feed it to :func:`taxoclass.data.make_dataset`, split it with
    :func:`taxoclass.data.split`.

    Attributes
    ----------
    keys : numpy array of str
        One identifier per image: the path relative to ``root`` (folders, tables), the member name (zip), or the
        row number as a string (arrays, IDX). Manifests store these.
    labels : numpy array of str
        The class name of each image; with a taxonomy, a label may also name an internal node (an object
        annotated only to that depth, see :mod:`taxoclass.taxonomy.internal_labels`).
    classes : tuple of str
        Class names in class-index order (sorted folder names, first appearance in a table, ``classes.txt``...).
    taxonomy : Taxonomy or None
        The tree, when the source gives one (nested folders, EcoTaxa).
    root, archive, array :
        Where the pixels live: a folder (``root``), a zip file (``archive``) or an in-memory uint8 ``array``.
    convert : numpy array of bool
        Files that the pipeline must decode with PIL (16-bit, RGBA, CMYK, palette, TIFF...).
    sizes : numpy array (N, 2) of int or None
        (height, width) of each image, measured by the check.
    bad_files : list of FileCheck
        Files dropped because they could not be read.
    background : float or None
        Pixel value of the image background when known (``load_dataset`` sets it: 0 for digits and
        Fashion-MNIST); training pads images with it unless told otherwise (``--pad-value``).

    Examples
    --------
    >>> import numpy as np
    >>> ds = ImageSet.from_arrays(np.zeros((4, 8, 8), np.uint8), ["cat", "dog", "cat", "cat"])
    >>> len(ds), ds.classes, ds.counts()
    (4, ('cat', 'dog'), {'cat': 3, 'dog': 1})
    """

    def __init__(self, keys, labels, classes=None, *, taxonomy=None, root=None, archive=None, array=None,
                 convert=None, sizes=None, modes=None, bad_files=(), source: str = "images", background=None):
        self.keys = np.asarray(list(keys), dtype=object)
        self.labels = np.asarray([str(x) for x in labels], dtype=object)
        if len(self.keys) != len(self.labels):
            raise DataError(f"{source}: {len(self.keys)} images but {len(self.labels)} labels; give one label per "
                            "image.")
        if classes is None:
            classes = sorted(set(self.labels.tolist()))
        self.classes = tuple(str(c) for c in classes)
        if len(set(self.classes)) != len(self.classes):
            dup = sorted(c for c, n in Counter(self.classes).items() if n > 1)
            raise DataError(f"{source}: class names listed twice: {', '.join(dup)}; list each class once.")
        unknown = sorted(set(self.labels.tolist()) - set(self.classes))
        if unknown and taxonomy is not None:  # labels at an internal node (taxoclass.taxonomy.internal_labels)
            from taxoclass.taxonomy.internal_labels import internal_label_names

            unknown = sorted(set(unknown) - set(internal_label_names(taxonomy, unknown)))
        if unknown:
            raise DataError(f"{source}: {len(unknown)} label(s) not among the classes: {', '.join(unknown[:5])}"
                            + (f", ... ({len(unknown)} in all)" if len(unknown) > 5 else "") + "; add them to the "
                            "class list or fix the labels (integer labels name the lines of --classes).")
        self.taxonomy = taxonomy
        if taxonomy is not None:
            taxonomy.check_classes(self.classes, source=source)
        self.root = None if root is None else Path(root)
        self.archive = None if archive is None else Path(archive)
        self.array = array
        n = len(self.keys)
        self.convert = np.zeros(n, bool) if convert is None else np.asarray(convert, bool)
        self.sizes = None if sizes is None else np.asarray(sizes, dtype=np.int64).reshape(n, 2)
        self.modes = None if modes is None else np.asarray(modes, dtype=object)
        self.bad_files = list(bad_files)
        self.source = source
        self.background = background  # pixel value of the image background when known (load_dataset), else None
        self._zip = _ZipReader(self.archive) if self.archive is not None else None

    # ------------------------------------------------------------------ basics
    @property
    def kind(self) -> str:
        """``"array"``, ``"zip"`` or ``"files"``."""
        return "array" if self.array is not None else "zip" if self.archive is not None else "files"

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return (f"ImageSet({len(self)} images, {len(self.classes)} classes, {self.kind} from {self.source}"
                + (f", {len(self.bad_files)} unreadable skipped" if self.bad_files else "") + ")")

    @property
    def paths(self) -> list[str]:
        """Full file paths (files), ``archive.zip/member`` strings (zip) or row numbers (arrays)."""
        if self.kind == "files":
            return [str(self.root / k) if self.root is not None else str(k) for k in self.keys]
        if self.kind == "zip":
            return [f"{self.archive}/{k}" for k in self.keys]
        return [str(k) for k in self.keys]

    def read_bytes(self, key: str) -> bytes:
        """The encoded bytes of one image (file or zip member)."""
        if self.kind == "zip":
            return self._zip.read(key)
        if self.kind == "files":
            p = self.root / key if self.root is not None else Path(key)
            return p.read_bytes()
        raise DataError(f"{self.source}: images held in an array have no encoded bytes.")

    def counts(self) -> dict[str, int]:
        """Images per class, in class order (classes without images included with 0)."""
        c = Counter(self.labels.tolist())
        return {k: c.get(k, 0) for k in self.classes}

    def encode(self, class_order: Sequence[str] | None = None) -> np.ndarray:
        """Labels as int indices into ``class_order`` (default: ``self.classes``; a Taxonomy's classes work).

        >>> import numpy as np
        >>> ImageSet.from_arrays(np.zeros((2, 4, 4), np.uint8), ["b", "a"]).encode(["b", "a"]).tolist()
        [0, 1]
        """
        from taxoclass.taxonomy import Taxonomy
        from taxoclass.taxonomy.internal_labels import encode_labels

        if class_order is None and self.taxonomy is not None:
            class_order = self.taxonomy  # its internal nodes are labels too
        tax = class_order if isinstance(class_order, Taxonomy) else Taxonomy.from_paths(
            [[c] for c in (self.classes if class_order is None else class_order)], root="classes")
        # the one label encoder; a label at an internal node gets the node's code (see internal_labels)
        return encode_labels(tax, self.labels, what=self.source).astype(np.int32)

    def subset(self, indices, *, source: str | None = None) -> "ImageSet":
        """A new ImageSet with the images at ``indices`` (int array or boolean mask); classes and taxonomy kept."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        new = ImageSet.__new__(ImageSet)
        new.__dict__.update(self.__dict__)
        new.keys = self.keys[idx]
        new.labels = self.labels[idx]
        new.convert = self.convert[idx]
        new.sizes = None if self.sizes is None else self.sizes[idx]
        new.modes = None if self.modes is None else self.modes[idx]
        new.array = None if self.array is None else self.array[idx]
        new.source = source or self.source
        return new

    def select(self, manifest, split: str) -> "ImageSet":
        """The images that ``manifest`` (a DataFrame or manifest CSV path) puts in ``split`` (train/val/test).

        Every manifest row must name an image of this set with the same label; otherwise one DataError lists the
        rows that do not match.
        """
        from taxoclass.data.split import read_manifest

        if isinstance(manifest, (str, os.PathLike)):
            manifest = read_manifest(manifest)
        rows = manifest[manifest["split"] == split]
        pos = {k: i for i, k in enumerate(self.keys.tolist())}
        missing = [p for p in rows["path"].tolist() if p not in pos]
        if missing:
            raise DataError(f"{self.source}: the manifest names {len(missing)} image(s) of split {split!r} that "
                            f"this source does not have: {', '.join(missing[:20])}"
                            + (f" ... ({len(missing) - 20} more)" if len(missing) > 20 else "")
                            + "; use the manifest written for this source, or re-split.")
        idx = np.array([pos[p] for p in rows["path"].tolist()], dtype=np.int64)
        wrong = [p for p, lab in zip(rows["path"].tolist(), rows["label"].astype(str).tolist())
                 if self.labels[pos[p]] != lab]
        if wrong:
            raise DataError(f"{self.source}: the manifest gives other labels than the source for "
                            f"{len(wrong)} image(s): {', '.join(wrong[:20])}; re-split after relabelling.")
        return self.subset(idx, source=f"{self.source} [{split}]")

    # ------------------------------------------------------------------ checking
    def check(self, *, on_error: str = "warn", max_pixels: int | None = DEFAULT_MAX_PIXELS,
              n_jobs: int | None = None) -> "ImageSet":
        """Open and fully decode every file once; drop unreadable ones, flag odd ones for PIL conversion.

        ``on_error``: ``"warn"`` (skip them with one :class:`BadFilesWarning` listing them and their count),
        ``"raise"`` (one DataError listing them) or ``"ignore"`` (skip silently; they stay in ``bad_files``).
        Returns a new ImageSet (arrays are returned unchanged).
        """
        if on_error not in _ON_ERROR:
            raise DataError(f"on_error={on_error!r} is not valid; expected one of {', '.join(_ON_ERROR)}.")
        if self.kind == "array":
            return self
        results: list[FileCheck] = check_files(self.keys.tolist(), self.read_bytes, max_pixels=max_pixels,
                                               n_jobs=n_jobs)
        bad = [r for r in results if r.status == "bad"]
        keep = np.array([r.status != "bad" for r in results], dtype=bool)
        if bad:
            listing = "\n".join(f"  {self._where(r.key)}: {r.reason}" for r in bad)
            msg = f"{self.source}: {len(bad)} unreadable image(s) of {len(results)}"
            if on_error == "raise":
                raise DataError(f"{msg}:\n{listing}\nremove or replace these files, or pass on_error='warn' to "
                                "skip them.")
            if on_error == "warn":
                warnings.warn(f"{msg} skipped:\n{listing}", BadFilesWarning, stacklevel=3)
        new = self.subset(keep)
        kept = [r for r in results if r.status != "bad"]
        new.convert = np.array([r.status == "convert" for r in kept], dtype=bool)
        new.sizes = np.array([(r.height, r.width) for r in kept], dtype=np.int64).reshape(len(kept), 2)
        new.modes = np.array([f"{r.format} {r.mode}" for r in kept], dtype=object)
        new.bad_files = list(self.bad_files) + bad
        return new

    def _where(self, key: str) -> str:
        if self.kind == "zip":
            return f"{self.archive}:{key}"
        return str(self.root / key) if self.root is not None else str(key)

    # ------------------------------------------------------------------ sources


# module-level readers (the same as the class methods)
from_folder = ImageSet.from_folder
from_table = ImageSet.from_table
from_ecotaxa = ImageSet.from_ecotaxa
from_arrays = ImageSet.from_arrays
from_idx = ImageSet.from_idx
from_zip = ImageSet.from_zip
