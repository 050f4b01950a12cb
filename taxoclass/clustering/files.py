"""Reading a confusion matrix (or a predictions table) from a file: :func:`load_confusion`."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from taxoclass._renamed import renamed
from taxoclass.exceptions import ClusteringError


# ---------------------------------------------------------------------------------------------- reading files
def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank, non-comment rows of a delimited text file, with their line numbers."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ClusteringError(f"{path}: not a UTF-8 text file; save the table as UTF-8 text.") from None
    lines = [(k, ln) for k, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ClusteringError(f"{path}: the file is empty; expected a square table of counts or a predictions table "
                              "with 'true' and 'pred' columns.")
    first = lines[0][1]
    preferred = {".tsv": "\t", ".csv": ","}.get(path.suffix.lower())
    if preferred and preferred in first:
        delim = preferred
    else:
        delim = next((d for d in ("\t", ",", ";") if d in first), None)
    if delim is None:
        return [(k, ln.split()) for k, ln in lines]
    rows = csv.reader([ln for _, ln in lines], delimiter=delim)
    return [(k, [c.strip() for c in row]) for (k, _), row in zip(lines, rows)]


def _order_classes(names: list[str], classes: list[str] | None, path: Path) -> tuple[list[str], np.ndarray | None]:
    """Check file names against --classes; return (classes, permutation from file order to their order)."""
    if classes is None:
        return names, None
    if len(classes) != len(names):
        raise ClusteringError(f"{path}: {len(names)} classes in the file but {len(classes)} class names were given; "
                              "expected one name per class.")
    if names == classes:
        return classes, None
    missing = [x for x in classes if x not in set(names)]
    extra = [x for x in names if x not in set(classes)]
    if missing or extra:
        raise ClusteringError(f"{path}: the class names in the file differ from the given classes: "
                              + (f"not in the file: {', '.join(missing[:10])}" if missing else "")
                              + ("; " if missing and extra else "")
                              + (f"not in the given classes: {', '.join(extra[:10])}" if extra else "")
                              + "; expected the same classes (or leave out --classes).")
    pos = {x: k for k, x in enumerate(names)}
    return classes, np.array([pos[x] for x in classes])


_PRED_COLUMNS = ("pred", "predicted_class")  # predicted_class: the predictions.csv of taxoclass evaluate


def _matrix_from_predictions(rows, path: Path, classes: list[str] | None) -> tuple[np.ndarray, list[str]]:
    header = [c.strip().lower() for c in rows[0][1]]
    ti, pi = header.index("true"), next(header.index(c) for c in _PRED_COLUMNS if c in header)
    true, pred = [], []
    for line, row in rows[1:]:
        if len(row) <= max(ti, pi) or not row[ti] or not row[pi]:
            raise ClusteringError(f"{path}, line {line}: missing 'true' or 'pred' value; expected both on every "
                                  "row.")
        true.append(row[ti])
        pred.append(row[pi])
    if not true:
        raise ClusteringError(f"{path}: the predictions table has a header but no rows; expected one row per image.")
    values = set(true) | set(pred)
    if classes is not None:
        if values <= set(classes):
            names = classes
        elif all(v.lstrip("-").isdigit() for v in values):
            bad = sorted({v for v in values if not 0 <= int(v) < len(classes)}, key=int)
            if bad:
                raise ClusteringError(f"{path}: label index(es) {', '.join(bad[:10])} are outside 0..{len(classes) - 1}"
                                      f" ({len(classes)} classes given); expected indices into the classes file.")
            names = classes
            true = [classes[int(v)] for v in true]
            pred = [classes[int(v)] for v in pred]
        else:
            unknown = sorted(values - set(classes))
            raise ClusteringError(f"{path}: {len(unknown)} class(es) of the predictions are not in the given classes: "
                                  f"{', '.join(unknown[:10])}; expected names (or indices) from the classes file.")
    elif all(v.lstrip("-").isdigit() for v in values):
        names = sorted(values, key=int)
    else:
        names = sorted(values)
    index = {x: k for k, x in enumerate(names)}
    cm = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(cm, (np.array([index[v] for v in true]), np.array([index[v] for v in pred])), 1)
    return cm, names


def load_confusion(path, *, classes: Sequence[str] | str | Path | None = None,
                   labels: Sequence[str] | str | Path | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Read a confusion matrix from a file; returns ``(matrix, class names or None)``.

    Accepted: ``.npy`` (a square array); ``.csv`` / ``.tsv`` / ``.txt`` tables of numbers with or without a
    header row and/or a first column of class names; a predictions table with ``true`` and ``pred`` (or
    ``predicted_class``) columns (one row per image), from which the matrix is counted; or the output folder of
    ``taxoclass evaluate`` (its ``confusion.csv``). ``classes`` (a list or a ``classes.txt`` file, line *i*
    = class *i*) names the classes; names in the file must then be the same classes (the matrix is reordered to
    follow ``classes``), and a predictions table may hold class indices. ``labels`` is the deprecated old name of
    ``classes``.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "preds.csv"
    >>> _ = p.write_text("true,pred\\ncat,cat\\ncat,dog\\ndog,dog\\n")
    >>> cm, names = load_confusion(p)
    >>> cm.tolist(), names
    ([[1, 1], [0, 1]], ['cat', 'dog'])
    """
    path = Path(path)
    classes = renamed(classes, labels, "classes", "labels")
    if isinstance(classes, (str, Path)):
        from taxoclass.taxonomy.io import read_classes

        classes = read_classes(classes)
    elif classes is not None:
        classes = [str(x) for x in classes]
    if path.is_dir() and (path / "confusion.csv").is_file():  # the output folder of taxoclass evaluate
        path = path / "confusion.csv"
    if not path.exists():
        raise ClusteringError(f"{path}: no such file; expected a confusion matrix (.npy, .csv, .tsv) or a "
                              "predictions table.")
    if not path.is_file():
        raise ClusteringError(f"{path} is not a file; expected a confusion matrix (.npy, .csv, .tsv).")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ClusteringError(f"{path}: not a readable .npy array ({str(exc).splitlines()[0]}); expected a "
                                  "square numeric array saved with numpy.save.") from None
        if classes is not None and arr.ndim == 2 and arr.shape[0] == arr.shape[1] and len(classes) != arr.shape[0]:
            raise ClusteringError(f"{path}: {len(classes)} class names were given for a {arr.shape[0]} x "
                                  f"{arr.shape[1]} matrix; expected one name per class.")
        return arr, classes
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ClusteringError(f"{path}: unknown file type {suffix or '(none)'!r}; expected .npy, .csv, .tsv or .txt.")
    rows = _read_rows(path)
    head = [c.strip().lower() for c in rows[0][1]]
    if "true" in head and any(c in head for c in _PRED_COLUMNS):
        return _matrix_from_predictions(rows, path, classes)
    has_header_row = len(rows[0][1]) > 1 and not any(_is_number(c) for c in rows[0][1][1:])
    if len(rows[0][1]) == 1 and not _is_number(rows[0][1][0]):
        has_header_row = True
    body = rows[1:] if has_header_row else rows
    if not body:
        raise ClusteringError(f"{path}: only a header row, no numbers; expected a square table of counts.")
    first_cells = [r[0] if r else "" for _, r in body]
    has_header_col = all(c and not _is_number(c) for c in first_cells)
    col_names = first_cells if has_header_col else None
    values = [(line, r[1:] if has_header_col else r) for line, r in body]
    width = len(values[0][1])
    for line, r in values:
        if len(r) != width:
            raise ClusteringError(f"{path}, line {line}: {len(r)} values but the first row has {width}; expected "
                                  "every row to have the same number of columns.")
    arr = np.empty((len(values), width), dtype=np.float64)
    for a, (line, r) in enumerate(values):
        for b, cell in enumerate(r):
            try:
                arr[a, b] = float(cell)
            except ValueError:
                raise ClusteringError(f"{path}, line {line}, column {b + 1 + has_header_col}: {cell!r} is not a "
                                      "number; expected counts or fractions (class names only in the first row "
                                      "and column).") from None
    names = None
    if has_header_row:
        head_raw = rows[0][1]
        if len(head_raw) == width + 1:
            head_raw = head_raw[1:]  # corner cell
        if len(head_raw) != width:
            raise ClusteringError(f"{path}, line {rows[0][0]}: {len(head_raw)} class names in the header but "
                                  f"{width} columns of numbers; expected one name per column.")
        names = list(head_raw)
    if col_names is not None:
        if names is not None and names != col_names:
            example = next((f"{x!r} vs {y!r}" for x, y in zip(names, col_names) if x != y),
                           f"{len(names)} vs {len(col_names)} names")
            raise ClusteringError(f"{path}: the class names of the header row and of the first column differ "
                                  f"(e.g. {example}); "
                                  "expected the same classes in the same order.")
        names = col_names
    if names is not None:
        if arr.shape[0] != arr.shape[1]:
            raise ClusteringError(f"{path}: the table is {arr.shape[0]} x {arr.shape[1]}; expected a square "
                                  "matrix (true classes as rows, predicted classes as columns).")
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise ClusteringError(f"{path}: class name(s) {', '.join(map(repr, dup))} occur twice in the header; "
                                  "class names must be unique.")
        names, perm = _order_classes(names, classes, path)
        if perm is not None:
            arr = arr[np.ix_(perm, perm)]
        return arr, names
    return arr, classes
