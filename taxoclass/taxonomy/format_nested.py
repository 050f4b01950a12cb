"""Nested taxonomy files: JSON and YAML (``{node: {child: {...}}}``), read and written."""

from __future__ import annotations

import json
import re

from taxoclass.exceptions import TaxonomyError
from taxoclass.taxonomy.tree import ARTIFICIAL_ROOT, Taxonomy


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


#: most YAML nodes a file may expand to once its aliases (*name) are followed (a "billion laughs" file of a few
#: hundred bytes otherwise expands to 10^9 nodes)
MAX_YAML_NODES = 1_000_000


def _check_yaml_size(root, src: str) -> None:
    """Refuse a YAML node graph whose aliases expand beyond MAX_YAML_NODES (counted without expanding)."""
    import yaml

    def kids(node):
        if isinstance(node, yaml.MappingNode):
            return [x for kv in node.value for x in kv]
        return node.value if isinstance(node, yaml.SequenceNode) else []

    size: dict[int, int] = {}
    entered: set[int] = set()
    stack = [(root, False)]
    while stack:  # iterative post-order over the shared graph: linear in the file, not in its expansion
        node, done = stack.pop()
        if id(node) in size:
            continue
        if not done and id(node) in entered:  # entered, not finished: an ancestor of itself
            raise TaxonomyError(f"{src}, line {node.start_mark.line + 1}: a YAML alias refers to a node that "
                                "contains it (a recursive structure); a taxonomy is a finite tree.")
        entered.add(id(node))
        if done:
            size[id(node)] = min(1 + sum(size.get(id(k), 0) for k in kids(node)), MAX_YAML_NODES + 1)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids(node) if id(k) not in size)
    if size[id(root)] > MAX_YAML_NODES:
        raise TaxonomyError(f"{src}: the YAML aliases (*name) expand to more than {MAX_YAML_NODES:,} nodes; write "
                            "the tree out without aliases.")


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
    _check_yaml_size(root, src)
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
