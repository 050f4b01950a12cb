"""The sources an :class:`~taxoclass.data.ImageSet` is built from, as class methods of a mixin that ``ImageSet``
inherits (``ImageSet.from_folder(...)`` etc.), and :func:`load_source`, the dispatcher used by the command line:
folders, zip archives, CSV/TSV tables, EcoTaxa exports, numpy arrays and MNIST-style IDX files.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from taxoclass.data.checks import DEFAULT_MAX_PIXELS
from taxoclass.exceptions import DataError
from taxoclass.taxonomy.io import read_classes

if TYPE_CHECKING:
    from taxoclass.data.imageset import ImageSet

#: file extensions read as images (case-insensitive); other files in a folder tree are ignored
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp"})


def _is_image_name(name: str) -> bool:
    base = PurePosixPath(name).name
    return not base.startswith(".") and PurePosixPath(base).suffix.lower() in IMAGE_EXTENSIONS


class ImageSources:
    """The ``from_*`` constructors of :class:`~taxoclass.data.ImageSet`."""

    @classmethod
    def from_folder(cls, root, *, nested_lineage: bool = False, classes: Sequence[str] | None = None,
                    check: bool = True, on_error: str = "warn", max_pixels: int | None = DEFAULT_MAX_PIXELS,
                    n_jobs: int | None = None) -> "ImageSet":
        """Read a class-folder tree ``root/<class>/*.jpg|png|tif|bmp``.

        With ``nested_lineage=True`` every folder holding images is a class and the folders above it are its
        lineage (``root/crustaceans/copepods/<class>/*.jpg``): the ImageSet then carries a Taxonomy.
        Classes are in sorted folder-name order unless ``classes`` (a list or a ``classes.txt`` path) is given.

        >>> ds = ImageSet.from_folder("images/")           # doctest: +SKIP
        >>> ds.classes[:2], ds.counts()["copepod"]         # doctest: +SKIP
        """
        root = Path(root)
        if not root.exists():
            raise DataError(f"{root}: folder not found; give the folder holding one sub-folder per class.")
        if not root.is_dir():
            raise DataError(f"{root}: not a folder; give the folder holding one sub-folder per class "
                            "(or a .zip archive, a table with --table, an EcoTaxa TSV with --ecotaxa).")
        rel = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            base = Path(dirpath).relative_to(root)
            rel.extend((base / f).as_posix() for f in sorted(filenames) if _is_image_name(f))
        ds = cls._from_relative(rel, nested_lineage=nested_lineage, classes=classes, where=str(root),
                                root=root, source=str(root))
        return ds.check(on_error=on_error, max_pixels=max_pixels, n_jobs=n_jobs) if check else ds

    @classmethod
    def from_zip(cls, path, subdir: str | None = None, *, nested_lineage: bool = False,
                 classes: Sequence[str] | None = None, check: bool = True, on_error: str = "warn",
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, n_jobs: int | None = None) -> "ImageSet":
        """Read a class-folder tree stored in a zip archive, in place (no unpacking).

        ``subdir`` selects a folder inside the archive (the shared CIFAR-10 zip holds ``train/<class>/*.jpg`` and
        ``test/<class>/*.jpg``).

        >>> train = ImageSet.from_zip("cifar10_jpg.zip", subdir="train")   # doctest: +SKIP
        >>> len(train), train.classes[0]                                  # doctest: +SKIP
        (50000, 'airplane')
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: zip archive not found; check the path.")
        try:
            with zipfile.ZipFile(path) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{path}: cannot read the zip archive ({exc}); check that it is a complete .zip file."
                            ) from None
        prefix = ""
        if subdir:
            prefix = subdir.strip("/") + "/"
            names = [n for n in names if n.startswith(prefix)]
            if not names:
                raise DataError(f"{path}: no files under {prefix!r} in the archive; check subdir "
                                f"(top-level folders: {', '.join(_top_dirs(path)) or 'none'}).")
        rel = [n[len(prefix):] for n in names if _is_image_name(n) and "__MACOSX/" not in n]
        ds = cls._from_relative(rel, nested_lineage=nested_lineage, classes=classes,
                                where=f"{path}" + (f" [{prefix}]" if prefix else ""), root=None, source=str(path),
                                archive=path, prefix=prefix)
        return ds.check(on_error=on_error, max_pixels=max_pixels, n_jobs=n_jobs) if check else ds

    @classmethod
    def _from_relative(cls, rel: list[str], *, nested_lineage, classes, where, root, source, archive=None,
                       prefix="") -> "ImageSet":
        if not rel:
            raise DataError(f"{where}: no image files found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}); "
                            "expected one sub-folder per class holding the images.")
        parts = [PurePosixPath(r).parts for r in rel]
        loose = [r for r, p in zip(rel, parts) if len(p) == 1]
        if loose:
            raise DataError(f"{where}: {len(loose)} image(s) lie directly in the top folder (e.g. {loose[0]}); "
                            "put every image in a sub-folder named after its class.")
        taxonomy = None
        if not nested_lineage:
            deep = [r for r, p in zip(rel, parts) if len(p) > 2]
            if deep:
                tops = sorted({p[0] for p in parts if len(p) > 2})
                hint = (f"pass subdir= (--subdir) one of {', '.join(tops)} to read one of these folders, or "
                        if archive is not None and all(len(p) > 2 for p in parts) else "")
                raise DataError(f"{where}: {len(deep)} image(s) lie in nested folders (e.g. {deep[0]}); expected "
                                f"<class>/<image>; {hint}use nested_lineage=True (--nested-lineage) to read nested "
                                "folders as a lineage.")
            labels = [p[0] for p in parts]
        else:
            from taxoclass.taxonomy import Taxonomy

            labels = [p[-2] for p in parts]
            lineage: dict[str, tuple] = {}
            for r, p in zip(rel, parts):
                lin = tuple(p[:-1])
                if lineage.setdefault(p[-2], lin) != lin:
                    raise DataError(f"{where}: class folder name {p[-2]!r} occurs twice ("
                                    f"{'/'.join(lineage[p[-2]])} and {'/'.join(lin)}); class names must be unique: "
                                    "rename one folder.")
            folder_order = sorted(lineage)
            taxonomy = Taxonomy.from_paths([lineage[c] for c in folder_order], root=None, source=where,
                                           origins=[f"folder {'/'.join(lineage[c])}" for c in folder_order])
        if classes is not None:
            classes = read_classes(classes) if isinstance(classes, (str, os.PathLike)) else list(classes)
        else:
            classes = sorted(set(labels))
        if taxonomy is not None:
            taxonomy = taxonomy.with_class_order(classes)
        keys = [prefix + r for r in rel] if archive is not None else rel
        return cls(keys, labels, classes, taxonomy=taxonomy, root=root, archive=archive, source=source)

    @classmethod
    def from_table(cls, table, image_root=None, *, file_column: str | None = None, label_column: str | None = None,
                   sep: str | None = None, classes: Sequence[str] | None = None, check: bool = True,
                   on_error: str = "warn", max_pixels: int | None = DEFAULT_MAX_PIXELS,
                   n_jobs: int | None = None, allow_outside_root: bool = False) -> "ImageSet":
        """Read a CSV/TSV with one row per image: a file column and a label column (e.g. whale ``train.csv``).

        File paths are relative to ``image_root`` (default: the table's folder) and must stay inside it (no
        absolute paths, no ``..`` leading out) unless ``allow_outside_root=True``. Columns are guessed when not
        given (file: file/filename/path/image/img_file_name; label: label/class/category/species/id). Files that
        do not exist are listed, all of them, in one DataError.

        >>> ds = ImageSet.from_table("train.csv", "train/", file_column="Image", label_column="Id")  # doctest: +SKIP
        """
        import pandas as pd

        table = Path(table)
        if not table.is_file():
            raise DataError(f"{table}: label table not found; check the path.")
        if sep is None:
            sep = "\t" if table.suffix.lower() in (".tsv", ".tab", ".txt") else ","
        try:
            df = pd.read_csv(table, sep=sep, dtype=str, keep_default_na=False, comment=None)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"{table}: cannot parse the table ({str(exc).strip()}); expected a header row and one "
                            f"row per image, separated by {sep!r}.") from None
        file_column = _pick_column(df, file_column, ("file", "filename", "file_name", "path", "image", "img",
                                                     "img_file_name", "image_path", "filepath"), table, "file")
        label_column = _pick_column(df, label_column, ("label", "class", "category", "species", "taxon", "id",
                                                       "object_annotation_category"), table, "label")
        root = Path(image_root) if image_root is not None else table.parent
        return cls._from_rows(df, file_column, label_column, root, table, classes=classes, check=check,
                              on_error=on_error, max_pixels=max_pixels, n_jobs=n_jobs,
                              allow_outside_root=allow_outside_root)

    @classmethod
    def _from_rows(cls, df, file_column, label_column, root, table, *, classes, check, on_error, max_pixels,
                   n_jobs, taxonomy=None, line_offset=2, allow_outside_root=False) -> "ImageSet":
        if not root.is_dir():
            raise DataError(f"{root}: image folder not found; give the folder the paths in {table} are relative "
                            "to (--image-root).")
        files = df[file_column].astype(str).str.strip().tolist()
        labels = df[label_column].astype(str).str.strip().tolist()
        empty = [i + line_offset for i, (f, lab) in enumerate(zip(files, labels)) if not f or not lab]
        if empty:
            raise DataError(f"{table}: empty file name or label on line(s) {', '.join(map(str, empty[:30]))}"
                            + (f" ... ({len(empty) - 30} more)" if len(empty) > 30 else "")
                            + "; give every row a file and a label, or delete those rows.")
        dup = [f for f, n in Counter(files).items() if n > 1]
        if dup:
            raise DataError(f"{table}: {len(dup)} file(s) listed more than once: {', '.join(sorted(dup)[:20])}; "
                            "list each image once.")
        if not allow_outside_root:
            outside = [(i + line_offset, f) for i, f in enumerate(files)
                       if os.path.isabs(f) or os.path.normpath(f).split(os.sep)[0] == os.pardir]
            if outside:
                raise DataError(f"{table}: {len(outside)} path(s) lead outside the image root {root}: "
                                + ", ".join(f"{f} (line {ln})" for ln, f in outside[:20])
                                + (" ..." if len(outside) > 20 else "") + "; give paths relative to the image root "
                                "(--image-root), or pass --allow-outside-root (allow_outside_root=True) if the "
                                "table is meant to point elsewhere.")
        missing = [(i + line_offset, f) for i, f in enumerate(files) if not (root / f).is_file()]
        if missing:
            raise DataError(f"{table}: {len(missing)} of {len(files)} listed file(s) do not exist under {root}: "
                            + ", ".join(f"{f} (line {ln})" for ln, f in missing)
                            + "; fix the paths, the image root (--image-root), or remove those rows.")
        if classes is not None:
            classes = read_classes(classes) if isinstance(classes, (str, os.PathLike)) else list(classes)
            labels = _indices_to_names(labels, classes, table, line_offset)
        else:
            classes = list(dict.fromkeys(labels))
        ds = cls(files, labels, classes, root=root, taxonomy=taxonomy, source=str(table))
        return ds.check(on_error=on_error, max_pixels=max_pixels, n_jobs=n_jobs) if check else ds

    @classmethod
    def from_ecotaxa(cls, path, image_root=None, *, status="validated", internal_labels: str = "masked",
                     labelled: bool = True, check: bool = True, on_error: str = "warn",
                     max_pixels: int | None = DEFAULT_MAX_PIXELS, n_jobs: int | None = None,
                     allow_outside_root: bool = False) -> "ImageSet":
        """Read an EcoTaxa export (a TSV, its folder or the export zip): ``img_file_name``,
        ``object_annotation_category`` and ``object_annotation_hierarchy`` give images, labels and the taxonomy;
        ``status`` filters on ``object_annotation_status`` (default: validated objects only). See
        :func:`taxoclass.data.ecotaxa.read_ecotaxa` for every option.

        >>> ds = ImageSet.from_ecotaxa("export.zip")                  # doctest: +SKIP
        >>> ds.taxonomy.lineage("Calanoida")                          # doctest: +SKIP
        """
        from taxoclass.data.ecotaxa import read_ecotaxa

        return read_ecotaxa(path, image_root, status=status, internal_labels=internal_labels, labelled=labelled,
                            check=check, on_error=on_error, max_pixels=max_pixels, n_jobs=n_jobs,
                            allow_outside_root=allow_outside_root)

    @classmethod
    def from_arrays(cls, x, y, classes: Sequence[str] | None = None, *, source: str = "arrays") -> "ImageSet":
        """Wrap an image array (N, H, W) or (N, H, W, C) (uint8, or floats in [0, 255]) and its labels.

        ``y`` holds class names, or int indices into ``classes`` (default class names: the index as a string).

        >>> from taxoclass.data import ImageSet
        >>> import numpy as np
        >>> ds = ImageSet.from_arrays(np.zeros((3, 28, 28), np.uint8), [0, 1, 1], classes=["shirt", "shoe"])
        >>> ds.labels.tolist()
        ['shirt', 'shoe', 'shoe']
        """
        x = np.asarray(x)
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3, 4)):
            raise DataError(f"{source}: images have shape {x.shape}; expected (N, H, W) or (N, H, W, C) with C in "
                            "1, 3 or 4.")
        if x.dtype != np.uint8:
            if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
                raise DataError(f"{source}: image dtype {x.dtype} is not a real number type; expected uint8 or "
                                "floats in [0, 255].")
            if x.size and not np.isfinite(x).all():
                raise DataError(f"{source}: the images hold NaN or infinite values; expected uint8 or floats in "
                                "[0, 255].")
            lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
            if np.issubdtype(x.dtype, np.floating) and 0 < hi <= 1:
                raise DataError(f"{source}: float pixel values span [{lo:g}, {hi:g}]: images scaled to [0, 1]; "
                                "expected [0, 255]: multiply them by 255.")
            if lo < 0 or hi > 255:
                raise DataError(f"{source}: pixel values span [{lo:g}, {hi:g}]; expected [0, 255] (multiply images "
                                "scaled to [0, 1] by 255).")
            x = np.rint(x).astype(np.uint8)
        if x.ndim == 3:
            x = x[..., None]
        y = np.asarray(y)
        if len(y) != len(x):
            raise DataError(f"{source}: {len(x)} images but {len(y)} labels; give one label per image.")
        if np.issubdtype(y.dtype, np.integer):
            if classes is None:
                classes = [str(i) for i in range(int(y.max(initial=-1)) + 1)]
            classes = list(classes)
            bad = sorted({int(v) for v in y if v < 0 or v >= len(classes)})
            if bad:
                raise DataError(f"{source}: label indices {bad[:10]} are outside 0..{len(classes) - 1}; give a "
                                "class name for every index (classes=).")
            labels = [classes[int(v)] for v in y]
        else:
            labels = [str(v) for v in y]
        return cls([str(i) for i in range(len(x))], labels, classes, array=x, source=source,
                   sizes=np.tile(np.array(x.shape[1:3]), (len(x), 1)))

    @classmethod
    def from_idx(cls, images, labels, classes: Sequence[str] | str | None = None) -> "ImageSet":
        """Read an MNIST-format IDX image file and label file (``.gz`` or plain), e.g. Fashion-MNIST.

        ``classes`` is a list or a ``classes.txt`` path (line i = label i); by default a ``classes.txt`` beside
        the image file is used when present, else the label numbers become the class names.

        >>> ds = ImageSet.from_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")  # doctest: +SKIP
        """
        x = _read_idx(images, expect_dims=(3, 4))
        y = _read_idx(labels, expect_dims=(1,))
        if len(x) != len(y):
            raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels; give the matching "
                            "pair of IDX files.")
        if classes is None:
            beside = Path(images).parent / "classes.txt"
            classes = beside if beside.is_file() else None
        if isinstance(classes, (str, os.PathLike)):
            classes = read_classes(classes)
        return cls.from_arrays(x, y.astype(np.int64), classes=classes, source=str(images))


def _indices_to_names(labels: list[str], classes: list[str], table, line_offset: int) -> list[str]:
    """Integer labels (``0``, ``1``, ...) with a class list that does not name them: label i is class i (line i of
    ``classes.txt``); out-of-range indices are listed in one DataError."""
    names = set(classes)
    if all(v in names for v in labels) or not all(v.lstrip("-").isdigit() for v in labels):
        return labels
    bad = [(i + line_offset, v) for i, v in enumerate(labels) if not 0 <= int(v) < len(classes)]
    if bad:
        raise DataError(f"{table}: {len(bad)} integer label(s) are outside 0..{len(classes) - 1} (the class list "
                        f"has {len(classes)} lines): " + ", ".join(f"{v} (line {ln})" for ln, v in bad[:5])
                        + (f", ... ({len(bad)} in all)" if len(bad) > 5 else "") + "; label i names line i of the "
                        "class list (counting from 0).")
    return [classes[int(v)] for v in labels]


def name_is_zip(path) -> bool:
    """Whether ``path`` names an existing .zip file."""
    return Path(path).suffix.lower() == ".zip" and Path(path).is_file()


def _top_dirs(path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return sorted({n.split("/")[0] + "/" for n in zf.namelist() if "/" in n})


def _pick_column(df, given, candidates, table, what) -> str:
    cols = [str(c) for c in df.columns]
    if given is not None:
        if given not in cols:
            raise DataError(f"{table}: no column {given!r}; the columns are {', '.join(cols)}; choose the {what} "
                            "column among them.")
        return given
    low = {c.lower(): c for c in cols}
    for cand in candidates:
        if cand in low:
            return low[cand]
    raise DataError(f"{table}: cannot tell which column holds the {what}s (columns: {', '.join(cols)}); name it with "
                    f"{what}_column= (--{what}-column).")


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx(path, expect_dims) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: IDX file not found; check the path.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); expected an IDX file, optionally gzip-compressed.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number); expected MNIST-format IDX data "
                        "(e.g. train-images-idx3-ubyte.gz).")
    ndim = raw[3]
    if ndim not in expect_dims:
        kind = "image" if 1 not in expect_dims else "label"
        raise DataError(f"{path}: IDX data has {ndim} dimension(s); an {kind} file needs "
                        f"{' or '.join(map(str, expect_dims))} -- are the image and label files swapped?")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    start = 4 + 4 * ndim
    need = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - start < need:
        raise DataError(f"{path}: truncated IDX file: header announces shape {shape} ({need} bytes) but only "
                        f"{len(raw) - start} bytes follow; download the file again.")
    return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=start).reshape(shape)


def load_source(source=None, labels=None, *, table=None, image_root=None, ecotaxa=None, file_column=None,
                label_column=None, classes=None, subdir=None, nested_lineage: bool = False, check: bool = True,
                on_error: str = "warn", max_pixels: int | None = DEFAULT_MAX_PIXELS,
                n_jobs: int | None = None, allow_outside_root: bool = False, status="validated",
                internal_labels: str = "masked") -> ImageSet:
    """Build an ImageSet from whatever the user points at (used by ``taxoclass data inspect`` and ``train``).

    - ``table=F`` (with optional ``image_root``, ``file_column``, ``label_column``): a label table;
    - ``ecotaxa=F`` (with optional ``image_root``, ``status``, ``internal_labels``): an EcoTaxa export (TSV,
      folder or zip);
    - ``source`` a folder: class folders; a ``.zip``: class folders in an archive (``subdir``); a folder or zip
      holding an EcoTaxa export is read as one;
    - ``source`` an IDX image file with ``labels`` the IDX label file.

    >>> ds = load_source("/data/plankton/images")                    # doctest: +SKIP
    >>> ds = load_source(table="train.csv", image_root="train/")     # doctest: +SKIP
    """
    from taxoclass.data.imageset import ImageSet

    kw = dict(check=check, on_error=on_error, max_pixels=max_pixels, n_jobs=n_jobs)
    given = [n for n, v in (("SOURCE", source), ("--table", table), ("--ecotaxa", ecotaxa)) if v is not None]
    if len(given) != 1:
        raise DataError("give exactly one image source: a folder, a .zip, an IDX image + label file pair, "
                        f"--table FILE or --ecotaxa FILE (got {', '.join(given) or 'none'}).")
    if table is not None:
        return ImageSet.from_table(table, image_root, file_column=file_column, label_column=label_column,
                                   classes=classes, allow_outside_root=allow_outside_root, **kw)
    eco = dict(status=status, internal_labels=internal_labels, allow_outside_root=allow_outside_root)
    if ecotaxa is not None:
        return ImageSet.from_ecotaxa(ecotaxa, image_root, **eco, **kw)
    src = Path(source)
    if labels is None and subdir is None and not nested_lineage and (src.is_dir() or name_is_zip(src)):
        from taxoclass.data.ecotaxa import is_ecotaxa_export

        if is_ecotaxa_export(src):  # an EcoTaxa export is no class-folder tree: its sample folders are no classes
            return ImageSet.from_ecotaxa(src, **eco, **kw)
    name = src.name.lower()
    if labels is not None or "idx" in name or name.endswith("-ubyte"):
        if labels is None:
            raise DataError(f"{src}: an IDX image file needs its label file too (e.g. "
                            "train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz).")
        return ImageSet.from_idx(src, labels, classes=classes)
    if src.is_dir():
        return ImageSet.from_folder(src, nested_lineage=nested_lineage, classes=classes, **kw)
    if name.endswith(".zip"):
        return ImageSet.from_zip(src, subdir, nested_lineage=nested_lineage, classes=classes, **kw)
    if not src.exists():
        raise DataError(f"{src}: not found; give an image folder, a .zip archive, an IDX pair, --table or --ecotaxa.")
    if name.endswith((".tsv", ".csv")):
        raise DataError(f"{src}: a table; read it with --table {src} --image-root FOLDER (or --ecotaxa {src} for an "
                        "EcoTaxa export).")
    raise DataError(f"{src}: unknown source kind; expected a folder of class folders, a .zip archive, an IDX pair, "
                    "--table or --ecotaxa.")
