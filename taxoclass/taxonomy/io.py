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
import csv
import gc
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

from taxoclass._files import atomic_write, check_writable
from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy.tree import ARTIFICIAL_ROOT, Taxonomy

__all__ = ["load_taxonomy", "loads_taxonomy", "save_taxonomy", "dumps_taxonomy", "read_classes", "FORMATS",
           "WRITE_FORMATS", "format_from_path"]

FORMATS = ("json", "yaml", "tsv", "csv", "ecotaxa", "edges", "newick")
WRITE_FORMATS = ("json", "yaml", "tsv", "newick")
EXTENSIONS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".tsv": "tsv", ".csv": "csv", ".txt": "edges",
              ".edges": "edges", ".nwk": "newick", ".newick": "newick", ".tree": "newick", ".tre": "newick"}
LINEAGE_SEPARATORS = ("/", ">", ";", "|")
ECOTAXA_COLUMN = "object_annotation_hierarchy"
ECOTAXA_CATEGORY = "object_annotation_category"
ROOT_DIRECTIVE = "# taxoclass-root:"
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
            f"{', '.join(sorted(EXTENSIONS))}, or pass format= (--format) with one of {', '.join(FORMATS)}.")
    return EXTENSIONS[suffix]


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
        raise TaxonomyError(f"{path}: no such file; check the path.")
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
    if classes is not None:
        order = read_classes(classes) if isinstance(classes, (str, Path)) else [str(c) for c in classes]
        tax.check_classes(order, source=str(classes) if isinstance(classes, (str, Path)) else "the class list")
        if tuple(order) != tax.classes:
            tax = tax.with_class_order(order)
    return tax


def read_classes(path) -> list[str]:
    """Read a ``classes.txt``: one class name per line, line *i* = class index *i* (trailing blank lines allowed).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "classes.txt"
    >>> _ = p.write_text("cat\\ndog\\n")
    >>> read_classes(p)
    ['cat', 'dog']
    """
    path = Path(path)
    if not path.is_file():
        raise TaxonomyError(f"{path}: no such classes file; expected a text file with one class name per line.")
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


# ====================================================================== nested (JSON / YAML)
class _Entry:
    __slots__ = ("name", "line", "kids")

    def __init__(self, name, line, kids):
        self.name, self.line, self.kids = name, line, kids  # kids: None for a leaf, else list of _Entry


def _entries_to_taxonomy(entries: list, src: str) -> Taxonomy:
    """Pre-order walk of the parsed nesting: duplicate names under one parent, leaf paths with their lines."""
    paths, origins = [], []
    stack = [((), iter(entries), {})]
    while stack:
        prefix, it, seen = stack[-1]
        e = next(it, None)
        if e is None:
            stack.pop()
            continue
        where = f", line {e.line}" if e.line else ""
        if not e.name.strip():
            raise TaxonomyError(f"{src}{where}: empty node name under {'/'.join(prefix) or 'the top level'!r}; give "
                                "the node a name.")
        if e.name in seen:
            also = f" (also line {seen[e.name]})" if seen[e.name] else ""
            raise TaxonomyError(
                f"{src}{where}: duplicate child {e.name!r} under {'/'.join(prefix) or 'the top level'!r}{also}; "
                "names under one parent must differ: merge the two entries or rename one.")
        seen[e.name] = e.line
        p = prefix + (e.name,)
        if e.kids:
            stack.append((p, iter(e.kids), {}))
        else:
            paths.append(p)
            origins.append(f"line {e.line}" if e.line else "/".join(p))
    return Taxonomy.from_paths(paths, origins=origins, source=src)


def _read_json(text: str, src: str) -> Taxonomy:
    class Pairs(list):
        pass

    try:
        obj = json.loads(text, object_pairs_hook=Pairs)
    except json.JSONDecodeError as exc:
        raise TaxonomyError(f"{src}, line {exc.lineno}: invalid JSON ({exc.msg}, column {exc.colno}); expected a "
                            "nested object {\"node\": {\"child\": {}}}.") from None
    key_lines: dict[str, list[int]] = {}

    def line_of(key: str, nth: int) -> int | None:
        if key not in key_lines:
            pat = re.compile(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:")
            key_lines[key] = [text.count("\n", 0, m.start()) + 1 for m in pat.finditer(text)]
            if not key_lines[key]:  # written with \u escapes
                pat = re.compile(re.escape(json.dumps(key)) + r"\s*:")
                key_lines[key] = [text.count("\n", 0, m.start()) + 1 for m in pat.finditer(text)]
        lines = key_lines[key]
        return lines[nth] if nth < len(lines) else None

    counts: dict[str, int] = {}

    def convert(obj, where):
        out = []
        if isinstance(obj, Pairs):
            for k, v in obj:
                nth = counts.get(k, 0)
                counts[k] = nth + 1
                out.append(_Entry(str(k), line_of(k, nth), convert_value(v, k)))
        elif isinstance(obj, list):
            for item in obj:
                if isinstance(item, Pairs):
                    out.extend(convert(item, where))
                elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
                    out.append(_Entry(str(item), None, None))
                else:
                    raise TaxonomyError(f"{src}: under {where!r}, list item {item!r} is neither a name nor an "
                                        "object; expected names (leaves) or {\"node\": {...}} objects.")
        else:
            raise TaxonomyError(f"{src}: expected an object {{\"node\": {{\"child\": {{}}}}}} or a list at the top "
                                f"level, found {type(obj).__name__}.")
        return out

    def convert_value(v, key):
        if v is None or (isinstance(v, (Pairs, list)) and not v):
            return None
        if isinstance(v, (Pairs, list)):
            return convert(v, key)
        if isinstance(v, str):
            return [_Entry(v, None, None)]
        raise TaxonomyError(f"{src}: under {key!r}, unexpected value {v!r}; expected an object of children, a list "
                            "of names, or {} / null for a leaf.")

    entries = convert(obj, "the top level")
    if not entries:
        raise TaxonomyError(f"{src}: the file holds no nodes; expected a nested object {{\"node\": {{...}}}}.")
    return _entries_to_taxonomy(entries, src)


def _read_yaml(text: str, src: str) -> Taxonomy:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise TaxonomyError(f"{src}{line}: invalid YAML ({exc.problem}); expected nested mappings "
                            "'node:' / '  child:'.") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{src}: invalid YAML ({exc}).") from None
    if root is None:
        raise TaxonomyError(f"{src}: the file is empty; expected nested mappings 'node:' / '  child:'.")
    null = "tag:yaml.org,2002:null"

    def scalar_name(node, where):
        if not isinstance(node, yaml.ScalarNode):
            raise TaxonomyError(f"{src}, line {node.start_mark.line + 1}: under {where!r}, a node name must be a "
                                "plain name, not a mapping or list.")
        return node.value

    def convert(node, where):
        out = []
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                name = scalar_name(k, where)
                if isinstance(v, yaml.ScalarNode):
                    kids = None if v.tag == null or v.value == "" else [_Entry(v.value, v.start_mark.line + 1, None)]
                else:
                    kids = convert(v, name) or None
                out.append(_Entry(name, k.start_mark.line + 1, kids))
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                if isinstance(item, yaml.ScalarNode):
                    if item.tag == null:
                        raise TaxonomyError(f"{src}, line {item.start_mark.line + 1}: empty list item under "
                                            f"{where!r}; give the class a name or remove the item.")
                    out.append(_Entry(item.value, item.start_mark.line + 1, None))
                else:
                    out.extend(convert(item, where))
        else:
            raise TaxonomyError(f"{src}, line {node.start_mark.line + 1}: expected a mapping 'node:' (or a list of "
                                f"names) at {where!r}, found the single value {node.value!r}.")
        return out

    entries = convert(root, "the top level")
    if not entries:
        raise TaxonomyError(f"{src}: the file holds no nodes; expected nested mappings 'node:' / '  child:'.")
    return _entries_to_taxonomy(entries, src)


def _to_nested(tax: Taxonomy, leaf):
    nodes = tax.nodes
    obj_of = {}
    top: dict = {}
    skip_root = tax.artificial_root and tax.root[-1] == ARTIFICIAL_ROOT and len(tax.children(tax.root)) >= 2
    for n in nodes:
        is_leaf = tax.is_leaf(n)
        container = top if len(n) == 1 else (top if skip_root and len(n) == 2 else obj_of[n[:-1]])
        if len(n) == 1 and skip_root:
            continue
        if is_leaf:
            container[n[-1]] = {} if isinstance(leaf, dict) else leaf
        else:
            d: dict = {}
            container[n[-1]] = d
            obj_of[n] = d
    return top


# ====================================================================== tables (TSV / CSV / EcoTaxa / edges)
def _split_lines(text: str):
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        yield n, line


def _read_table(text: str, src: str, delimiter: str):
    """-> header (list), rows (list of (line number, cells)); checks the column count of every row."""
    header = None
    rows = []
    for n, line in _split_lines(text):
        if delimiter == "\t":
            cells = line.split("\t")
            if " " in line or "\x0b" in line or "\x0c" in line:
                cells = [c.strip() for c in cells]
        else:
            try:
                cells = [c.strip() for c in next(csv.reader([line]))]
            except csv.Error as exc:
                raise TaxonomyError(f"{src}, line {n}: malformed CSV line ({exc}).") from None
        if header is None:
            header = cells
            dup = sorted({c for c in header if header.count(c) > 1})
            if dup:
                raise TaxonomyError(f"{src}, line {n}: duplicate column name(s) {', '.join(dup)} in the header; "
                                    "rename them.")
            continue
        if len(cells) != len(header):
            name = "tab" if delimiter == "\t" else "comma"
            raise TaxonomyError(
                f"{src}, line {n}: malformed line: {len(cells)} {name}-separated column(s), but the header "
                f"({', '.join(header)}) has {len(header)}; fix the line (a missing or extra {name}?).")
        rows.append((n, cells))
    if header is None:
        raise TaxonomyError(f"{src}: the file is empty; expected a header line and one row per class.")
    if not rows:
        raise TaxonomyError(f"{src}: the file has a header ({', '.join(header)}) but no rows; expected one row per "
                            "class.")
    return header, rows


def _root_directive(text: str) -> str | None:
    for line in text.splitlines():  # the comment block above the header
        if line.startswith(ROOT_DIRECTIVE):
            return line[len(ROOT_DIRECTIVE):].strip() or None
        if line.strip() and not line.lstrip().startswith("#"):
            return None
    return None


def _read_table_taxonomy(text, src, delimiter, *, levels, lineage, sep, class_column) -> Taxonomy:
    header, rows = _read_table(text, src, delimiter)
    cols = {c: i for i, c in enumerate(header)}
    lower = {c.lower(): c for c in header}
    tried = []
    if levels is not None:
        if isinstance(levels, str):
            levels = [s.strip() for s in levels.split(",")]
        levels = list(levels)
        missing = [c for c in levels if c not in cols]
        if not levels or missing:
            raise TaxonomyError(f"{src}: level column(s) {', '.join(missing) or '(none given)'} not in the header; "
                                f"the columns are {', '.join(header)}.")
        return _from_levels(header, rows, src, levels, _root_directive(text))
    tried.append("level columns (pass levels=[...] / --levels top,...,class)")
    if lineage is not None and lineage not in cols:
        raise TaxonomyError(f"{src}: lineage column {lineage!r} not in the header; the columns are "
                            f"{', '.join(header)}.")
    if lineage is None and ECOTAXA_COLUMN in cols:
        return _from_ecotaxa(header, rows, src)
    tried.append(f"EcoTaxa export (no {ECOTAXA_COLUMN!r} column)")
    lin_col = lineage or lower.get("lineage")
    if lin_col is not None:
        return _from_lineage(header, rows, src, lin_col, sep, class_column, _root_directive(text))
    tried.append("lineage column (no 'lineage' column; pass lineage=COLUMN / --lineage COLUMN)")
    if len(header) == 2 and "class" in lower:
        # "group, class" (or "class, group"): one level column above the class, not a parent/child edge list
        cls = lower["class"]
        group = header[1] if header[0] == cls else header[0]
        return _from_levels(header, rows, src, [group, cls], _root_directive(text))
    if len(header) == 2:
        return _from_edge_rows(header, rows, src)
    tried.append(f"parent/child edge list or group + class columns (the header has {len(header)} columns, not 2)")
    raise TaxonomyError(f"{src}: cannot tell how this table describes the tree; tried " + "; ".join(tried)
                        + f". Columns found: {', '.join(header)}.")


def _label_order(header, rows, src, classes: list[str]):
    """Class order from an integer ``label`` column, if there is one."""
    lab = {c.lower(): i for i, c in enumerate(header)}.get("label")
    if lab is None:
        return None
    seen: dict[int, int] = {}
    keyed = []
    for (n, cells), cls in zip(rows, classes):
        try:
            v = int(cells[lab])
        except ValueError:
            raise TaxonomyError(f"{src}, line {n}: label {cells[lab]!r} is not an integer; the 'label' column holds "
                                "class indices 0, 1, 2, ... (or remove the column).") from None
        if v in seen:
            raise TaxonomyError(f"{src}, line {n}: label {v} is used twice (also line {seen[v]}); each class needs "
                                "its own index.")
        seen[v] = n
        keyed.append((v, cls))
    return [c for _, c in sorted(keyed)]


def _from_levels(header, rows, src, levels, root_name) -> Taxonomy:
    idx = [header.index(c) for c in levels]
    paths, origins = [], []
    for n, cells in rows:
        p = tuple(cells[i] for i in idx if cells[i])
        if not p:
            raise TaxonomyError(f"{src}, line {n}: every level column ({', '.join(levels)}) is empty; fill in at "
                                "least the class.")
        paths.append(p)
        origins.append(f"line {n}")
    order = _label_order(header, rows, src, [p[-1] for p in paths])
    return Taxonomy.from_paths(paths, origins=origins, source=src, class_order=order, root=root_name)


def _split_escaped(s: str, sep: str) -> list[str]:
    if "\\" not in s:
        parts = s.split(sep)
        if " " + sep in s or sep + " " in s:  # cells are already stripped at both ends
            return [p.strip() for p in parts]
        return parts
    out, cur, i = [], [], 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in (sep, "\\"):
            cur.append(s[i + 1])
            i += 2
            continue
        if s.startswith(sep, i):
            out.append("".join(cur).strip())
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur).strip())
    return out


def _escape(name: str, sep: str) -> str:
    return name.replace("\\", "\\\\").replace(sep, "\\" + sep)


def _guess_sep(values: list[str], classes: list[str] | None) -> str:
    """The separator the lineages use: the most frequent of ``/ > ; |`` that ends every lineage with its class
    (when a class column exists), else the most frequent one."""
    counts = {s: sum(1 for v in values if s in v) for s in LINEAGE_SEPARATORS}
    ranked = sorted(LINEAGE_SEPARATORS, key=lambda s: -counts[s])  # stable: ties keep the / > ; | order
    if classes is not None:
        for s in ranked:
            if all(not c or _split_escaped(v, s)[-1] == c for v, c in zip(values, classes)):
                return s
    return ranked[0] if counts[ranked[0]] else "/"


def _from_lineage(header, rows, src, col, sep, class_column, root_name) -> Taxonomy:
    li = header.index(col)
    if class_column is not None and class_column not in header:
        raise TaxonomyError(f"{src}: class column {class_column!r} not in the header; the columns are "
                            f"{', '.join(header)}.")
    cc = class_column or {c.lower(): c for c in header}.get("class")
    ci = header.index(cc) if cc is not None else None
    values = [cells[li] for _, cells in rows]
    if sep is None:
        sep = _guess_sep(values, [cells[ci] for _, cells in rows] if ci is not None else None)
    elif not sep:
        raise TaxonomyError(f"{src}: the lineage separator is empty; pass one of {' '.join(LINEAGE_SEPARATORS)}.")
    paths, origins = [], []
    for (n, cells), v in zip(rows, values):
        if not v:
            raise TaxonomyError(f"{src}, line {n}: empty {col!r}; every row needs its path, e.g. 'animal{sep}cat'.")
        p = _split_escaped(v, sep)
        if any(not s for s in p):
            raise TaxonomyError(f"{src}, line {n}: lineage {v!r} has an empty level (a doubled or trailing "
                                f"{sep!r}); remove it.")
        if ci is not None and cells[ci] and p[-1] != cells[ci]:
            cls = cells[ci]
            hint = ""
            if sep in cls:
                # the class name itself contains the separator: suggest the level columns or an escape
                cand = [(v.find(cells[i]), header[i]) for i in range(len(header))
                        if i not in (li,) and header[i].lower() not in ("label", "note", "notes", "comment")
                        and cells[i] and v.find(cells[i]) >= 0]
                lv = ",".join(h for _, h in sorted(cand))
                hint = (f" The class name contains the separator {sep!r}: read the level columns instead "
                        f"(levels=[{', '.join(repr(h) for _, h in sorted(cand))}] / --levels {lv}), or escape the "
                        f"separator inside names in the lineage ('{_escape(cls, sep)}').")
            else:
                hint = (f" Make the last level of the lineage the class name, or name the class column with "
                        f"class_column= / --class-column.")
            raise TaxonomyError(f"{src}, line {n}: the lineage {v!r} split on {sep!r} ends with {p[-1]!r}, not with "
                                f"the class {cls!r} of column {cc!r}.{hint}")
        paths.append(tuple(p))
        origins.append(f"line {n}")
    order = _label_order(header, rows, src, [p[-1] for p in paths])
    return Taxonomy.from_paths(paths, origins=origins, source=src, class_order=order, root=root_name)


def _from_ecotaxa(header, rows, src) -> Taxonomy:
    if ECOTAXA_COLUMN not in header:
        raise TaxonomyError(f"{src}: not an EcoTaxa export: no {ECOTAXA_COLUMN!r} column (columns: "
                            f"{', '.join(header[:8])}{', ...' if len(header) > 8 else ''}).")
    hi = header.index(ECOTAXA_COLUMN)
    ci = header.index(ECOTAXA_CATEGORY) if ECOTAXA_CATEGORY in header else None
    by_class: dict[str, tuple[tuple, int]] = {}
    paths, origins = [], []
    for n, cells in rows:
        if all(re.fullmatch(r"\[[a-z]\]", c) for c in cells if c):  # the type row of old exports: [t] [f]
            continue
        v = cells[hi]
        if not v:
            raise TaxonomyError(f"{src}, line {n}: empty {ECOTAXA_COLUMN}; this object is not annotated: remove "
                                "unannotated rows from the export (or filter on object_annotation_status).")
        p = [s.strip() for s in v.split(">")]
        if any(not s for s in p):
            raise TaxonomyError(f"{src}, line {n}: hierarchy {v!r} has an empty level; expected 'a>b>c'.")
        if ci is not None and cells[ci] and cells[ci] != p[-1]:
            p[-1] = cells[ci]  # EcoTaxa display names ('egg<Actinopterygii') keep same-named leaves apart
        p = tuple(p)
        cls = p[-1]
        if cls in by_class:
            if by_class[cls][0] != p:
                raise TaxonomyError(
                    f"{src}, line {n}: class {cls!r} has hierarchy {'>'.join(p)!r} but line {by_class[cls][1]} "
                    f"gives {'>'.join(by_class[cls][0])!r}; one class needs one hierarchy.")
            continue
        by_class[cls] = (p, n)
        paths.append(p)
        origins.append(f"line {n}")
    if not paths:
        raise TaxonomyError(f"{src}: no annotated objects in the export; expected rows with an {ECOTAXA_COLUMN}.")
    return Taxonomy.from_paths(paths, origins=origins, source=src)


def _from_edge_rows(header, rows, src) -> Taxonomy:
    edges, origins = [], []
    first = [h.lower() for h in header]
    if not (first[0].startswith("parent") and first[1].startswith("child")):
        rows = [(0, header)] + list(rows)  # no header: the first line is an edge
    for n, cells in rows:
        edges.append((cells[0], cells[1]))
        origins.append(f"line {n}" if n else "line 1")
    return Taxonomy.from_edges(edges, origins=origins, source=src)


def _read_edges(text: str, src: str, delimiter=None) -> Taxonomy:
    lines = list(_split_lines(text))
    if delimiter is None:
        delimiter = "\t" if any("\t" in ln for _, ln in lines) else ("," if all("," in ln for _, ln in lines)
                                                                     else None)
    edges, origins = [], []
    for k, (n, line) in enumerate(lines):
        cells = [c.strip() for c in (line.split(delimiter) if delimiter else line.split())]
        if len(cells) != 2:
            what = {"\t": "tab", ",": "comma"}.get(delimiter, "whitespace")
            raise TaxonomyError(f"{src}, line {n}: malformed line: expected 2 {what}-separated columns (parent, "
                                f"child), found {len(cells)}: {line.strip()!r}.")
        if k == 0 and cells[0].lower().startswith("parent") and cells[1].lower().startswith("child"):
            continue
        edges.append((cells[0], cells[1]))
        origins.append(f"line {n}")
    if not edges:
        raise TaxonomyError(f"{src}: no edges found; expected lines of 'parent<TAB>child'.")
    return Taxonomy.from_edges(edges, origins=origins, source=src)


def _write_tsv(tax: Taxonomy) -> str:
    paths = tax.leaf_paths()
    for p in paths:
        for s in p:
            if "\t" in s or "\n" in s or "\r" in s:
                raise TaxonomyError(f"node name {s!r} contains a tab or line break, which a TSV cannot hold; "
                                    "rename it or write JSON/YAML.")
    if tax.artificial_root:
        for s in tax.root:
            if "\t" in s or "\n" in s or "\r" in s:
                raise TaxonomyError(f"root name {s!r} contains a tab or line break; rename it or write JSON.")
    k = max(len(p) for p in paths)
    out = io.StringIO()
    out.write("# taxoclass taxonomy: one row per class; lineage = path from the top ('/'-separated, '\\/' = '/' "
              "inside a name)\n")
    if tax.artificial_root:
        out.write(f"{ROOT_DIRECTIVE} {tax.root[-1]}\n")
    out.write("\t".join(["label", "class", "lineage"] + [f"level_{i + 1}" for i in range(k)]) + "\n")
    for i, p in enumerate(paths):
        lin = "/".join(_escape(s, "/") for s in p)
        out.write("\t".join([str(i), p[-1], lin] + list(p) + [""] * (k - len(p))) + "\n")
    return out.getvalue()


# ====================================================================== Newick
_NEWICK_PLAIN = re.compile(r"[^\s()\[\]':;,]+")


def _newick_name(name: str) -> str:
    if _NEWICK_PLAIN.fullmatch(name):
        return name
    if "\\" in name:  # the newick package ends a quoted label at a backslash
        raise TaxonomyError(f"node name {name!r} has a backslash and characters that need quoting in Newick "
                            "(spaces or ()[]':;,), which Newick readers do not handle; rename it or write "
                            "TSV/JSON/YAML instead.")
    return "'" + name.replace("'", "''") + "'"


def _read_newick(text: str, src: str) -> Taxonomy:
    import newick

    try:
        trees = newick.loads(text.strip(), strip_comments=True)
    except (ValueError, IndexError) as exc:
        raise TaxonomyError(f"{src}: malformed Newick ({exc}); expected e.g. ((a,b)c,d)root; -- quote names with "
                            "spaces or punctuation in single quotes ('T-shirt/top', 'it''s').") from None
    trees = [t for t in trees if t.name is not None or t.descendants]
    if not trees:
        raise TaxonomyError(f"{src}: the file is empty; expected a Newick tree such as ((a,b)c,d)root;")
    paths: list[tuple] = []
    n_clades = 0
    for tree in trees:
        stack = [(tree, (), None)]
        while stack:
            node, prefix, name = stack.pop()
            if name is None:  # a top node
                name = node.unquoted_name if node.name is not None else ""
                if not name.strip():
                    if not node.descendants:
                        raise TaxonomyError(f"{src}: a tree consists of one unnamed node; name the class.")
                    n_clades += 1
                    name = f"clade_{n_clades}"
            p = prefix + (name,)
            if not node.descendants:
                paths.append(p)
                continue
            kids, seen = [], set()
            for d in node.descendants:
                nm = d.unquoted_name if d.name is not None else ""
                if not nm.strip():
                    if not d.descendants:
                        raise TaxonomyError(f"{src}: a leaf under {'/'.join(p)!r} has no name; every class (leaf) "
                                            "needs one.")
                    n_clades += 1
                    nm = f"clade_{n_clades}"  # unnamed internal node (common in phylogenies)
                if nm in seen:
                    raise TaxonomyError(f"{src}: duplicate child {nm!r} under {'/'.join(p)!r}; names under one "
                                        "parent must differ: merge the two subtrees or rename one.")
                seen.add(nm)
                kids.append((d, p, nm))
            stack.extend(reversed(kids))
    return Taxonomy.from_paths(paths, source=src, origins=["/".join(p) for p in paths])


def _write_newick(tax: Taxonomy) -> str:
    import newick

    built = {}
    for n in reversed(tax.nodes):  # children before parents
        kids = [built.pop(c) for c in tax.children(n)]
        built[n] = newick.Node(_newick_name(n[-1]), descendants=kids)
    root = built[tax.root]
    if tax.artificial_root and tax.root[-1] == ARTIFICIAL_ROOT and len(root.descendants) >= 2:
        return "\n".join(newick.dumps([d]) for d in root.descendants) + "\n"
    return newick.dumps([root]) + "\n"
