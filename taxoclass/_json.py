"""The one JSON converter: numpy scalars and arrays, NaN/inf, paths, taxonomies and Keras histories to plain JSON
values (:func:`to_jsonable`), and strict JSON files written atomically (:func:`write_json`)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from taxoclass._files import atomic_write
from taxoclass.exceptions import TaxoclassError

__all__ = ["to_jsonable", "write_json"]


def to_jsonable(obj, *, on_unknown=None):
    """Plain JSON values of ``obj``: numpy scalars/arrays -> Python, NaN/inf -> None, Path -> str, a Taxonomy ->
    its root, classes and leaf paths, a Keras History -> its dict; anything else -> ``on_unknown(obj)``, or a
    TaxoclassError without it.

    >>> import numpy as np
    >>> to_jsonable({"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
    {'a': 0.5, 'b': [0, 1], 'c': None}
    """
    import numpy as np

    if hasattr(obj, "leaf_paths") and hasattr(obj, "classes") and hasattr(obj, "root"):
        return {"root": obj.root[-1], "artificial_root": bool(obj.artificial_root), "classes": list(obj.classes),
                "leaf_paths": [list(p) for p in obj.leaf_paths(include_root=True)]}
    if hasattr(obj, "history") and isinstance(getattr(obj, "history"), dict):
        return to_jsonable(obj.history, on_unknown=on_unknown)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, on_unknown=on_unknown) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, on_unknown=on_unknown) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), on_unknown=on_unknown)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if on_unknown is not None:
        return on_unknown(obj)
    raise TaxoclassError(f"cannot write a {type(obj).__name__} to JSON; expected numbers, strings, lists and "
                         "dicts.")


def write_json(path, obj, *, indent: int = 1) -> Path:
    """Write ``to_jsonable(obj)`` to ``path`` atomically (strict JSON: no NaN)."""
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)  # \u escapes: any file name is valid
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return Path(path)
