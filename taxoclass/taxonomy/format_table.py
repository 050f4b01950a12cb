"""Table taxonomy files: TSV / CSV (level columns, a lineage column, parent/child edges), read and written."""

from __future__ import annotations

import csv
import io

from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy.format_ecotaxa import ECOTAXA_COLUMN, _from_ecotaxa
from taxoclass.taxonomy.tree import Taxonomy

LINEAGE_SEPARATORS = ("/", ">", ";", "|")
ROOT_DIRECTIVE = "# taxoclass-root:"


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
                hint = (" Make the last level of the lineage the class name, or name the class column with "
                        "class_column= / --class-column.")
            raise TaxonomyError(f"{src}, line {n}: the lineage {v!r} split on {sep!r} ends with {p[-1]!r}, not with "
                                f"the class {cls!r} of column {cc!r}.{hint}")
        paths.append(tuple(p))
        origins.append(f"line {n}")
    order = _label_order(header, rows, src, [p[-1] for p in paths])
    return Taxonomy.from_paths(paths, origins=origins, source=src, class_order=order, root=root_name)


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
