"""EcoTaxa, both ways: read an export (a TSV, a folder or a zip of per-sample TSVs with their images) as an
:class:`~taxoclass.data.ImageSet`, and write predictions as an EcoTaxa import TSV.

An EcoTaxa export zip holds one TSV per sample (``<sample>/ecotaxa_<sample>.tsv``) or one for the project, each
with the images beside it; ``img_file_name`` is relative to the TSV's folder. The first line holds the column
names and EcoTaxa's second line may hold types (``[t]``, ``[f]``). Columns used: ``object_id``,
``img_file_name``, ``object_annotation_category`` (EcoTaxa's display name, ``tail<Appendicularia`` included),
``object_annotation_hierarchy`` (``living>Animalia>...``) and ``object_annotation_status`` (``validated``,
``predicted``, ``dubious``; empty for unclassified objects; an export without it counts every object with a
category as validated).

>>> ds = read_ecotaxa("export.zip")                                # doctest: +SKIP
>>> ds.left_out                                                    # doctest: +SKIP
{'predicted': 120, 'unclassified': 4}
"""

from __future__ import annotations

import io
import os
import posixpath
import zipfile
from collections import Counter
from pathlib import Path

from taxoclass.data.checks import DEFAULT_MAX_PIXELS
from taxoclass.exceptions import DataError

__all__ = ["STATUSES", "parse_status", "read_ecotaxa", "is_ecotaxa_export", "ecotaxa_import_table",
           "IMPORT_COLUMNS"]

#: object_annotation_status values (``unclassified``: objects without a category)
STATUSES = ("validated", "predicted", "dubious", "unclassified")
ID, FILE, CATEGORY, HIERARCHY, STATUS = ("object_id", "img_file_name", "object_annotation_category",
                                         "object_annotation_hierarchy", "object_annotation_status")
#: the columns of the import TSV written by ``taxoclass predict --format ecotaxa`` (with their EcoTaxa types)
IMPORT_COLUMNS = {ID: "[t]", CATEGORY: "[t]", STATUS: "[t]", "object_taxoclass_probability": "[f]",
                  "object_taxoclass_sure_node": "[t]", "object_taxoclass_sure_probability": "[f]"}


def _preview(names, n: int = 5) -> str:
    from taxoclass.taxonomy.tree import _first  # the first few names and the count

    return _first([str(v) for v in names], n)


def parse_status(status) -> frozenset:
    """``"validated"``, a comma list (``"validated,dubious"``) or ``"all"`` -> the set of statuses kept.

    >>> sorted(parse_status("validated,dubious"))
    ['dubious', 'validated']
    >>> len(parse_status("all"))
    4
    """
    words = [s.strip().lower() for s in (status.split(",") if isinstance(status, str) else status) if s.strip()]
    if words == ["all"]:
        return frozenset(STATUSES)
    bad = [w for w in words if w not in STATUSES]
    if bad or not words:
        raise DataError(f"status {status!r} is not valid; expected one or more of {', '.join(STATUSES)} separated "
                        "by commas, or all.")
    return frozenset(words)


# ---------------------------------------------------------------------------------------------------- finding TSVs
def _tsv_names(path: Path) -> tuple[str, list[str]]:
    """``("zip"|"folder"|"tsv", TSV names)``: members of a zip, paths relative to a folder, or the file itself."""
    if path.is_dir():
        names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.tsv") if p.is_file()
                       and not any(s.startswith(".") for s in p.relative_to(path).parts))
        return "folder", names
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.lower().endswith(".tsv") and "__MACOSX/" not in n]
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{path}: cannot read the zip archive ({exc}); check that it is a complete .zip "
                            "file.") from None
        return "zip", sorted(names)
    return "tsv", [path.name]


def _read_bytes(path: Path, kind: str, name: str) -> bytes:
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            return zf.read(name)
    return (path / name).read_bytes() if kind == "folder" else path.read_bytes()


def _header(data: bytes) -> list[str]:
    first = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    return [c.strip() for c in first.split("\t")]


def is_ecotaxa_export(path) -> bool:
    """Whether ``path`` (a zip or a folder) holds an EcoTaxa export: a TSV with ``img_file_name`` and
    ``object_annotation_category`` columns (folders: searched two levels deep)."""
    path = Path(path)
    if not path.exists():
        return False
    kind, names = _tsv_names(path)
    if kind == "folder":
        names = [n for n in names if n.count("/") <= 1]
    for name in names[:50]:
        try:
            cols = _header(_read_bytes(path, kind, name)[:65536])
        except OSError:
            continue
        if FILE in cols and CATEGORY in cols:
            return True
    return False


def _tables(path: Path):
    """Yield ``(name, folder of the TSV inside the source, DataFrame without its type row, first data line)``."""
    import pandas as pd

    from taxoclass.taxonomy.format_ecotaxa import is_type_row

    kind, names = _tsv_names(path)
    found = 0
    for name in names:
        raw = _read_bytes(path, kind, name)
        if FILE not in _header(raw):
            continue
        try:
            df = pd.read_csv(io.BytesIO(raw), sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"{path}: cannot parse the EcoTaxa TSV {name} ({str(exc).strip()}); expected a "
                            "tab-separated export with a header row.") from None
        df.columns = [str(c).strip() for c in df.columns]
        first = 2
        if len(df) and is_type_row(map(str, df.iloc[0])):
            df, first = df.iloc[1:].reset_index(drop=True), 3
        found += 1
        yield (name if kind != "tsv" else str(path)), posixpath.dirname(name) if kind != "tsv" else "", df, first
    if not found:
        raise DataError(f"{path}: no EcoTaxa TSV found (looked for .tsv files with an {FILE} column"
                        + (f"; found {_preview(names)}" if names else "") + "); give an EcoTaxa export: a .tsv, "
                        "its folder or the .zip EcoTaxa wrote.")


# ---------------------------------------------------------------------------------------------------- reading
def read_ecotaxa(path, image_root=None, *, status="validated", internal_labels: str = "masked",
                 labelled: bool = True, check: bool = True, on_error: str = "warn",
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, n_jobs: int | None = None,
                 allow_outside_root: bool = False):
    """Read an EcoTaxa export -- a ``.tsv``, a folder holding the TSV(s) and images, or the export ``.zip`` (read
    in place) -- as an ImageSet with the export's taxonomy.

    ``status`` keeps the objects whose ``object_annotation_status`` is listed (default ``"validated"``: what an
    expert checked; a comma list or ``"all"``); the counts of the others are in ``ds.left_out``. Objects without a
    category are never training labels. ``internal_labels``: objects annotated at an internal node of the tree
    (``Copepoda`` beside ``Calanoida``) keep that node as their label (``"masked"``, see
    :mod:`taxoclass.taxonomy.internal_labels`) or get a class ``"Copepoda (other)"`` under it (``"own-class"``).
    ``labelled=False`` reads the objects to predict: every row whose status is kept, labels ``"?"``, no taxonomy.
    ``ds.object_ids`` maps each image key to its ``object_id``. ``image_root`` applies to a single TSV only.

    >>> ds = read_ecotaxa("export.zip", status="validated,dubious")       # doctest: +SKIP
    """
    from taxoclass.data.imageset import ImageSet
    from taxoclass.taxonomy.internal_labels import INTERNAL_LABELS

    keep = parse_status(status)
    if internal_labels not in INTERNAL_LABELS:
        raise DataError(f"internal_labels={internal_labels!r} is not valid; expected one of "
                        f"{', '.join(INTERNAL_LABELS)}.")
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: EcoTaxa export not found; check the path.")
    is_zip = path.is_file() and path.suffix.lower() == ".zip"
    if image_root is not None and (is_zip or path.is_dir()):
        raise DataError(f"{path}: --image-root applies to a single EcoTaxa TSV; the images of a folder or zip "
                        "export lie beside their TSVs.")
    root = Path(image_root) if image_root is not None else (path if path.is_dir() else path.parent)
    keys, ids, rows, left = [], [], [], Counter()
    for name, base, df, first in _tables(path):
        need = [FILE] + ([CATEGORY, HIERARCHY] if labelled else [])
        absent = [c for c in need if c not in df.columns]
        if absent:
            raise DataError(f"{path}: {name}: column(s) {', '.join(absent)} missing; an EcoTaxa export needs "
                            f"{', '.join(need)} (found: {_preview(df.columns, 12)}).")
        cat = df[CATEGORY].str.strip() if CATEGORY in df.columns else None
        st = df[STATUS].str.strip().str.lower() if STATUS in df.columns else (
            None if cat is None else cat.map(lambda c: "validated" if c else ""))
        st = st.where(st != "", "unclassified") if st is not None else None
        for i in range(len(df)):
            s = "unclassified" if st is None else st.iat[i]
            if (s not in keep) or (labelled and not cat.iat[i]):
                left[s] += 1
                continue
            f = df[FILE].iat[i].strip()
            key = posixpath.normpath(posixpath.join(base, f.replace("\\", "/"))) if base else f
            if not f or (not allow_outside_root and (posixpath.isabs(f) or key.split("/")[0] == "..")):
                raise DataError(f"{path}: {name}, line {i + first}: image path {f!r} is empty or leads outside the "
                                "export; fix img_file_name" + (" (or pass --allow-outside-root)" if base == ""
                                                               else "") + ".")
            keys.append(key)
            ids.append(df[ID].iat[i].strip() if ID in df.columns else posixpath.splitext(posixpath.basename(f))[0])
            rows.append((f"{name}, line {i + first}", df[HIERARCHY].iat[i] if labelled else "",
                         cat.iat[i] if labelled else ""))
    if not keys:
        raise DataError(f"{path}: no object left with status {', '.join(sorted(keep))} (left out: "
                        f"{_counts(left) or 'none'}); choose other statuses with --status (e.g. --status all).")
    dup = [k for k, n in Counter(keys).items() if n > 1]
    if dup:
        raise DataError(f"{path}: {len(dup)} image(s) listed more than once: {_preview(sorted(dup))}; list each "
                        "object once.")
    _check_present(path, root, keys, is_zip)
    taxonomy = None
    if labelled:
        labels, taxonomy = _labels_and_taxonomy(rows, str(path), internal_labels)
        classes = list(taxonomy.classes)
    else:
        labels, classes = ["?"] * len(keys), ["?"]
    src = dict(archive=path, root=None) if is_zip else dict(root=root)
    ds = ImageSet(keys, labels, classes, taxonomy=taxonomy, source=str(path), **src)
    ds.object_ids = dict(zip(keys, ids))
    ds.left_out = dict(left)
    return ds.check(on_error=on_error, max_pixels=max_pixels, n_jobs=n_jobs) if check else ds


def _counts(counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


def _check_present(path: Path, root: Path, keys: list[str], is_zip: bool) -> None:
    if is_zip:
        with zipfile.ZipFile(path) as zf:
            members = set(zf.namelist())
        missing = [k for k in keys if k not in members]
    else:
        missing = [k for k in keys if not (root / k).is_file()]
    if missing:
        raise DataError(f"{path}: {len(missing)} of {len(keys)} image(s) named by img_file_name are not in the "
                        f"export: {_preview(missing)}; export again with the images, or fix the paths.")


def _labels_and_taxonomy(rows, src: str, internal_labels: str):
    """Class names per object and the taxonomy (see :func:`read_ecotaxa` for ``internal_labels``)."""
    from taxoclass.taxonomy import Taxonomy
    from taxoclass.taxonomy.format_ecotaxa import ecotaxa_path, ecotaxa_paths
    from taxoclass.taxonomy.internal_labels import internal_classes, own_class_name

    paths = ecotaxa_paths(rows, src)  # the one EcoTaxa parser (also behind load_taxonomy)
    labels = [ecotaxa_path(h, c, w)[-1] for w, h, c in rows]
    internal = internal_classes(paths)
    if internal and internal_labels == "own-class":
        for name in internal:
            paths[own_class_name(name)] = paths[name] + (own_class_name(name),)
        moved = set(internal)
        labels = [own_class_name(v) if v in moved else v for v in labels]
    leaves = {c: p for c, p in paths.items() if c not in set(internal)}
    taxonomy = Taxonomy.from_paths(list(leaves.values()), origins=[f"class {c}" for c in leaves], source=src)
    return labels, taxonomy


# ---------------------------------------------------------------------------------------------------- writing
def ecotaxa_import_table(object_ids, categories, probability, sure_node=None, sure_probability=None):
    """A DataFrame ready to write as an EcoTaxa import TSV (:data:`IMPORT_COLUMNS`; the type row first):
    every object ``predicted``, its category and probability, and the sure node when a threshold was given.

    A class ``"X (other)"`` (``internal_labels="own-class"``) is written as its node ``X``, the name EcoTaxa knows.

    >>> ecotaxa_import_table(["o1"], ["Calanoida"], [0.9]).iloc[1].tolist()[:3]
    ['o1', 'Calanoida', 'predicted']
    """
    import pandas as pd

    def ecotaxa_name(c: str) -> str:
        return c[:-len(" (other)")] if c.endswith(" (other)") else c

    n = len(object_ids)
    cols = {ID: list(map(str, object_ids)), CATEGORY: [ecotaxa_name(str(c)) for c in categories],
            STATUS: ["predicted"] * n, "object_taxoclass_probability": [f"{float(p):.6g}" for p in probability]}
    if sure_node is not None:
        cols["object_taxoclass_sure_node"] = [ecotaxa_name(str(c)) for c in sure_node]
        cols["object_taxoclass_sure_probability"] = [f"{float(p):.6g}" for p in sure_probability]
    df = pd.DataFrame(cols)
    types = pd.DataFrame([{c: IMPORT_COLUMNS[c] for c in df.columns}])
    return pd.concat([types, df], ignore_index=True)


def object_ids_of(data) -> list[str]:
    """The EcoTaxa ``object_id`` of every image of ``data`` (read by :func:`read_ecotaxa`), else the file name
    without its extension."""
    ids = getattr(data, "object_ids", None) or {}
    return [ids.get(k) or os.path.splitext(os.path.basename(str(k)))[0] for k in data.keys]
