"""Reading and writing taxonomy files.

Formats (chosen from the file extension, or with ``format=``):

========== ===================== ==========================================================================
format     extensions            layout
========== ===================== ==========================================================================
``json``   .json                 nested ``{node: {child: {...}}}``; leaves ``{}``, ``null`` or list items
``yaml``   .yaml .yml            the same nesting in YAML
``tsv``    .tsv                  a table with one row per class: level columns (``levels=[...]``), or one
                                 lineage column (``lineage``, separator ``/ > ; |``), or an EcoTaxa export
                                 (``object_annotation_hierarchy``), or a two-column parent/child edge list
``csv``    .csv                  the same, comma-separated (quotes allowed)
``ecotaxa`` -                    an EcoTaxa export TSV (many rows per class, deduplicated)
``edges``  .txt .edges           ``parent<TAB>child`` lines (an optional ``parent child`` header)
``newick`` .nwk .newick .tree    ``((a,b)c,d)root;`` (several trees = a forest); names quoted as needed
========== ===================== ==========================================================================

Everywhere, lines starting with ``#`` are comments and blank lines are ignored (tables and edge lists). Our own TSV
(what :func:`save_taxonomy` writes) has the columns ``label, class, lineage, level_1 ... level_K`` and may have a
``note`` column; a separator or backslash inside a name is escaped in the lineage (``T-shirt\\/top``).

Class order: a ``label`` column (integers) orders the classes of a table; otherwise classes follow the file. JSON,
YAML and Newick store no class order (it is the leaf pre-order); pass ``classes=`` (a list or a ``classes.txt``)
to impose one -- this also checks that both sides list the same classes.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Sequence
from pathlib import Path

from taxoclass._files import atomic_write, check_writable
from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy.format_ecotaxa import ECOTAXA_CATEGORY, ECOTAXA_COLUMN, _from_ecotaxa  # noqa: F401
from taxoclass.taxonomy.format_nested import _read_json, _read_yaml, _to_nested
from taxoclass.taxonomy.format_newick import _read_newick, _write_newick
from taxoclass.taxonomy.format_table import (LINEAGE_SEPARATORS, ROOT_DIRECTIVE, _read_edges,  # noqa: F401
                                             _read_table, _read_table_taxonomy, _write_tsv)
from taxoclass.taxonomy.tree import Taxonomy

__all__ = ["load_taxonomy", "loads_taxonomy", "save_taxonomy", "dumps_taxonomy", "read_classes", "FORMATS",
           "WRITE_FORMATS", "format_from_path"]

FORMATS = ("json", "yaml", "tsv", "csv", "ecotaxa", "edges", "newick")
WRITE_FORMATS = ("json", "yaml", "tsv", "newick")
EXTENSIONS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".tsv": "tsv", ".csv": "csv", ".txt": "edges",
              ".edges": "edges", ".nwk": "newick", ".newick": "newick", ".tree": "newick", ".tre": "newick"}
_TABLE_OPTIONS = ("levels", "lineage", "sep", "class_column")


@contextlib.contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ====================================================================== public API
def format_from_path(path, format: str | None = None) -> str:
    """The format of a file: ``format`` if given (checked), else from the extension.

    >>> format_from_path("tree.nwk")
    'newick'
    """
    if format is not None:
        fmt = str(format).lower()
        if fmt == "yml":
            fmt = "yaml"
        if fmt not in FORMATS:
            raise TaxonomyError(f"unknown taxonomy format {format!r}; expected one of {', '.join(FORMATS)}.")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise TaxonomyError(
            f"{path}: cannot tell the taxonomy format from the extension {suffix or '(none)'!r}; expected one of "
            f"{', '.join(sorted(EXTENSIONS))}, or pass format= (--from on the command line) with one of {', '.join(FORMATS)}.")
    return EXTENSIONS[suffix]


def taxonomy_dir() -> Path:
    """The folder of the taxonomies shipped with taxoclass: package data (``taxoclass/taxonomies``) in an installed
    package, the top-level ``taxonomies/`` folder of a source checkout (editable install).

    >>> (taxonomy_dir() / "cifar10.tsv").is_file()
    True
    """
    from importlib.resources import files

    packaged = files("taxoclass") / "taxonomies"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "taxonomies"


def shipped_taxonomy_file(path) -> Path | None:
    """The shipped file a path ``taxonomies/<name>`` stands for, or None.

    >>> shipped_taxonomy_file("taxonomies/cifar10.tsv").name, shipped_taxonomy_file("elsewhere/cifar10.tsv")
    ('cifar10.tsv', None)
    """
    parts = Path(path).parts
    if len(parts) == 2 and parts[0] == "taxonomies":
        candidate = taxonomy_dir() / parts[-1]
        if candidate.is_file():
            return candidate
    return None


def load_taxonomy(path, format: str | None = None, *, levels: Sequence[str] | None = None,
                  lineage: str | None = None, sep: str | None = None, class_column: str | None = None,
                  classes=None) -> Taxonomy:
    """Read a taxonomy file (see the module docstring for the formats).

    Parameters
    ----------
    path : str or Path
        The file.
    format : str, optional
        One of ``json, yaml, tsv, csv, ecotaxa, edges, newick``; default: from the extension.
    levels : list of str, optional
        Table files: the level columns from the top down to the class, e.g. ``["supergroup", "group", "class"]``.
        Empty cells are skipped (a class may have fewer levels).
    lineage : str, optional
        Table files: the column holding the whole path (default ``lineage`` when present).
    sep : str, optional
        Lineage separator; default: whichever of ``/ > ; |`` the lineages use.
    class_column : str, optional
        Table files: the class-name column (default ``class`` when present); checked against each lineage so that
        a class name containing the separator is never split silently.
    classes : list of str or path, optional
        The classes in index order (e.g. ``classes.txt``): checked against the taxonomy (every class missing on
        either side is listed) and used as the class order.

    A path ``taxonomies/<file>`` that does not exist where you are names the taxonomy of that name shipped with
    taxoclass (``taxonomies/ndsb_plankton.tsv`` works from any folder, in a clone or an installed package).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "tax.tsv"
    >>> _ = p.write_text("class\\tlineage\\ncat\\tanimal/cat\\ndog\\tanimal/dog\\n")
    >>> load_taxonomy(p).classes
    ('cat', 'dog')
    """
    path = Path(path)
    fmt = format_from_path(path, format)
    if not path.exists():
        shipped = shipped_taxonomy_file(path)
        if shipped is None:
            raise TaxonomyError(f"{path}: no such file; check the path.")
        path = shipped
    if path.is_dir():
        raise TaxonomyError(f"{path} is a folder; expected a taxonomy file ({', '.join(sorted(EXTENSIONS))}).")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); save it as "
                            "UTF-8 text.") from None
    return loads_taxonomy(text, fmt, source=str(path), levels=levels, lineage=lineage, sep=sep,
                          class_column=class_column, classes=classes, _suffix=path.suffix.lower())


def loads_taxonomy(text: str, format: str, *, source: str | None = None, levels: Sequence[str] | None = None,
                   lineage: str | None = None, sep: str | None = None, class_column: str | None = None,
                   classes=None, _suffix: str | None = None) -> Taxonomy:
    """Parse a taxonomy from a string (same options as :func:`load_taxonomy`).

    >>> loads_taxonomy("((cat,dog)animal,(car)vehicle)root;", "newick").classes
    ('cat', 'dog', 'car')
    """
    fmt = format_from_path("", format)
    src = source or f"<{fmt} text>"
    opts = {"levels": levels, "lineage": lineage, "sep": sep, "class_column": class_column}
    if fmt not in ("tsv", "csv"):
        given = [k for k in _TABLE_OPTIONS if opts[k] is not None]
        if given:
            raise TaxonomyError(f"{src}: option(s) {', '.join(given)} apply only to TSV/CSV tables, not to a "
                                f"{fmt} file; remove them.")
    if levels is not None and lineage is not None:
        raise TaxonomyError(f"{src}: pass either levels= (level columns) or lineage= (one path column), not both.")
    if not text.strip():
        raise TaxonomyError(f"{src}: the file is empty; expected a {fmt} taxonomy (see `taxoclass taxonomy "
                            "--help` for the formats).")
    try:
        tax = _parse(text, fmt, src, opts, _suffix)
    except RecursionError:  # a nested format (JSON, YAML, Newick) nested deeper than the parsers can follow
        from taxoclass.taxonomy.construction import MAX_DEPTH

        raise TaxonomyError(f"{src}: the {fmt} text is nested too deeply to read; taxoclass reads taxonomies of at "
                            f"most {MAX_DEPTH} levels.") from None
    if classes is not None:
        order = read_classes(classes) if isinstance(classes, (str, Path)) else [str(c) for c in classes]
        tax.check_classes(order, source=str(classes) if isinstance(classes, (str, Path)) else "the class list")
        if tuple(order) != tax.classes:
            tax = tax.with_class_order(order)
    return tax


def _parse(text: str, fmt: str, src: str, opts: dict, _suffix) -> Taxonomy:
    with _gc_paused():  # building ~10^5 small tuples triggers many useless cyclic-GC passes (~40 % of the time)
        if fmt == "json":
            tax = _read_json(text, src)
        elif fmt == "yaml":
            tax = _read_yaml(text, src)
        elif fmt == "newick":
            tax = _read_newick(text, src)
        elif fmt == "edges":
            tax = _read_edges(text, src, delimiter=None)
        elif fmt == "ecotaxa":
            header, rows = _read_table(text, src, "\t" if _suffix != ".csv" else ",")
            tax = _from_ecotaxa(header, rows, src)
        else:
            tax = _read_table_taxonomy(text, src, "\t" if fmt == "tsv" else ",", **opts)
    return tax


def read_classes(path) -> list[str]:
    """Read a ``classes.txt``: one class name per line, line *i* = class index *i* (trailing blank lines allowed);
    or, given a folder of class folders, their names in sorted order.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "classes.txt"
    >>> _ = p.write_text("cat\\ndog\\n")
    >>> read_classes(p)
    ['cat', 'dog']
    """
    path = Path(path)
    if path.is_dir():  # a folder of class folders: their names, sorted (the order ImageSet.from_folder uses)
        names = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not names:
            raise TaxonomyError(f"{path}: no class folders in this folder; give a classes file (one name per line) "
                                "or the folder holding one sub-folder per class.")
        return names
    if not path.is_file():
        raise TaxonomyError(f"{path}: no such classes file; expected a text file with one class name per line "
                            "(or a folder of class folders).")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise TaxonomyError(f"{path}: not a UTF-8 text file; save the class list as UTF-8 text.") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise TaxonomyError(f"{path}: the file is empty; expected one class name per line.")
    seen: dict[str, int] = {}
    out = []
    for n, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            raise TaxonomyError(f"{path}, line {n}: blank line; line i must hold the name of class i, so remove "
                                "the blank line.")
        if name in seen:
            raise TaxonomyError(f"{path}, line {n}: class {name!r} is listed twice (also line {seen[name]}); "
                                "list each class once.")
        seen[name] = n
        out.append(name)
    return out


def dumps_taxonomy(tax: Taxonomy, format: str) -> str:
    """The text of a taxonomy in one of ``json, yaml, tsv, newick``.

    >>> t = Taxonomy.from_paths([["animal", "cat"], ["animal", "dog"]])
    >>> print(dumps_taxonomy(t, "newick"), end="")
    (cat,dog)animal;
    """
    fmt = format_from_path("", format)
    if fmt not in WRITE_FORMATS:
        raise TaxonomyError(f"cannot write the {fmt} format; expected one of {', '.join(WRITE_FORMATS)}.")
    if fmt == "json":
        return json.dumps(_to_nested(tax, leaf={}), indent=1, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        import yaml
        return yaml.safe_dump(_to_nested(tax, leaf=None), sort_keys=False, allow_unicode=True,
                              default_flow_style=False, width=1000)
    if fmt == "newick":
        return _write_newick(tax)
    return _write_tsv(tax)


def save_taxonomy(tax: Taxonomy, path, format: str | None = None, overwrite: bool = False) -> Path:
    """Write a taxonomy file atomically (never a half-written file, never silently over an existing one).

    ``format`` defaults to the extension (``.json .yaml .yml .tsv .nwk .newick .tree``).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.json"
    >>> _ = save_taxonomy(Taxonomy.from_paths([["a", "x"], ["a", "y"]]), p)
    >>> load_taxonomy(p).classes
    ('x', 'y')
    """
    path = Path(path)
    fmt = format_from_path(path, format)
    if fmt not in WRITE_FORMATS:
        raise TaxonomyError(f"{path}: cannot write the {fmt} format; expected one of {', '.join(WRITE_FORMATS)} "
                            "(choose the format with --to / format=).")
    text = dumps_taxonomy(tax, fmt)  # fails before anything is written
    check_writable(path, overwrite=overwrite, inputs=[tax.source])
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return path

