"""The taxoclass model file: ONE zip holding ``metadata.json`` (format, version, parameters, taxonomy, classes,
history) and ``model.keras``; written by ``BaseClassifier.save`` and read by ``BaseClassifier.load``.

>>> from taxoclass.models.model_file import FORMAT, FORMAT_VERSION
>>> FORMAT, FORMAT_VERSION
('taxoclass-model', 1)
"""

from __future__ import annotations

import importlib
import inspect
import json
import zipfile
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from taxoclass.exceptions import ModelError, TaxoclassError
from taxoclass.taxonomy import Taxonomy

__all__ = ["FORMAT", "FORMAT_VERSION", "taxonomy_to_dict", "taxonomy_from_dict", "write_model_file",
           "read_model_file"]

#: identifies a taxoclass model file; bumped (FORMAT_VERSION) whenever old files cannot be read any more
FORMAT = "taxoclass-model"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
KERAS_FILE = "model.keras"

_REGISTRY: dict[str, type] = {}


# ---------------------------------------------------------------------------------------------- taxonomy <-> JSON
def taxonomy_to_dict(tax: Taxonomy) -> dict:
    """A JSON-able description of a taxonomy (its exact nodes, parents and class order).

    >>> t = Taxonomy.from_paths([["a", "x"], ["b", "y"]])
    >>> taxonomy_from_dict(taxonomy_to_dict(t)) == t
    True
    """
    nodes = list(tax.nodes)
    parents = [-1] + [tax.node_index(tax.parent(n)) for n in nodes[1:]]
    return {"nodes": [list(n) for n in nodes], "parents": parents, "classes": list(tax.classes),
            "artificial_root": bool(tax.artificial_root), "source": tax.source}


def taxonomy_from_dict(d: dict) -> Taxonomy:
    """Inverse of :func:`taxonomy_to_dict`."""
    return Taxonomy([tuple(n) for n in d["nodes"]], d["parents"], class_order=d["classes"],
                    artificial_root=d.get("artificial_root", False), source=d.get("source"))


def _jsonable(value):
    """Parameters as JSON (non-JSON values such as a Keras model or a callable become a description)."""
    from taxoclass._json import to_jsonable

    return to_jsonable(value, on_unknown=lambda v: {"__unserialisable__": repr(v)[:200]})


def write_model_file(clf, path, *, overwrite: bool = False) -> Path:
    """Write fitted ``clf`` to ONE file (a zip: ``metadata.json`` + ``model.keras``); returns its path.

    Use it as ``clf.save(path)``. An existing file is not replaced unless ``overwrite=True``.

    >>> write_model_file(clf, "plankton.taxoclass")            # doctest: +SKIP
    PosixPath('plankton.taxoclass')
    """
    from taxoclass._files import atomic_write, check_writable, temp_dir

    check_is_fitted(clf, "model_")
    path = check_writable(path, overwrite=overwrite)
    meta = clf._metadata()
    with temp_dir() as tmp:
        kpath = Path(tmp) / KERAS_FILE
        clf.model_.save(str(kpath))
        with atomic_write(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(METADATA_FILE, json.dumps(meta, indent=1))
            zf.write(kpath, KERAS_FILE)
    return path


def read_model_file(path, *, expected: type | None = None):
    """Load a model written by :func:`write_model_file` (Keras ``safe_mode=True``); returns a fitted instance of
    the class that wrote it. ``expected``: refuse a file holding a model that is not an instance of this class.

    Use it as ``BaseClassifier.load(path)`` or ``TreeClassifier.load(path)``.

    >>> clf = read_model_file("plankton.taxoclass")    # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist.")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ModelError(f"{path} is not a taxoclass model file (not a zip archive); expected a file written "
                         "by model.save().") from None
    with zf:
        names = set(zf.namelist())
        if METADATA_FILE not in names or KERAS_FILE not in names:
            raise ModelError(f"{path} is not a taxoclass model file: it lacks {METADATA_FILE} or {KERAS_FILE}.")
        try:
            meta = json.loads(zf.read(METADATA_FILE))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: {METADATA_FILE} is not valid JSON ({exc}); the file is damaged.") from None
        from taxoclass import __version__

        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            meta = meta if isinstance(meta, dict) else {}
            raise ModelError(f"{path} is not a taxoclass model file (format {meta.get('format')!r}).")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"{path} was written by taxoclass {meta.get('taxoclass_version', '?')} in model format "
                f"{meta.get('format_version')!r}; this taxoclass {__version__} reads format {FORMAT_VERSION} "
                f"only. Load it with taxoclass {meta.get('taxoclass_version', '?')} or retrain the model.")
        name, module = meta.get("class"), str(meta.get("module", ""))
        if name not in _REGISTRY and module.startswith("taxoclass."):
            importlib.import_module(module)  # registers the class and its Keras layers
        importlib.import_module("taxoclass.models.backbones")  # registers the backbones' custom layers
        klass = _REGISTRY.get(name)
        if klass is None:
            raise ModelError(f"{path} holds a {name!r} model, which this taxoclass {__version__} does not know.")
        if expected is not None and not issubclass(klass, expected):
            raise ModelError(f"{path} holds a {name}, not a {expected.__name__}; load it with {name}.load or "
                             "BaseClassifier.load.")
        import keras

        from taxoclass._files import temp_dir

        _check_metadata(meta, path)
        with temp_dir() as tmp:
            kpath = Path(tmp) / KERAS_FILE
            kpath.write_bytes(zf.read(KERAS_FILE))
            try:
                model = keras.saving.load_model(str(kpath), compile=False, safe_mode=True)
            except TaxoclassError:
                raise
            except Exception as exc:  # noqa: BLE001 - Keras raises many types on a bad file
                raise ModelError(f"{path}: the Keras model inside cannot be loaded ({exc}).") from exc
    try:
        tax = taxonomy_from_dict(meta["taxonomy"])
    except TaxoclassError as exc:
        raise ModelError(f"{path}: the taxonomy stored in {METADATA_FILE} is invalid ({exc}); the file is "
                         "damaged: save the model again or retrain it.") from None
    params = {k: (None if isinstance(v, dict) and "__unserialisable__" in v else v)
              for k, v in meta.get("params", {}).items()}
    params = {k: tuple(v) if isinstance(v, list) and k in ("input_shape",) else v for k, v in params.items()}
    valid = {name for name, p in inspect.signature(klass.__init__).parameters.items()
             if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    kwargs = {k: v for k, v in params.items() if k in valid}
    for key in ("pad_value", "invert", "resize"):  # files written before these were estimator parameters
        if key in valid and key not in kwargs and key in (meta.get("pipeline") or {}):
            kwargs[key] = meta["pipeline"][key]
    if "flat_head_units" in valid and "flat_head_units" not in kwargs and kwargs.get("flat_head"):
        kwargs["flat_head_units"] = kwargs.get("head_units")  # written before it: the node heads' units
    if "taxonomy" in valid:
        kwargs["taxonomy"] = tax
    if list(meta["classes"]) != list(tax.classes):
        raise ModelError(f"{path}: the classes in {METADATA_FILE} differ from its taxonomy's; the file is damaged.")
    obj = klass(**kwargs)
    obj.taxonomy_ = tax
    obj.classes_ = np.array(meta["classes"], dtype=object)
    obj.model_ = model
    obj.history_ = meta.get("history", {})
    from taxoclass.data.augment import AUGMENT_MODES

    if meta.get("augment") in AUGMENT_MODES:  # the training augmentation, when the job that trained it recorded it
        obj.augment_ = meta["augment"]
    obj._restore_extra(meta.get("extra", {}))
    from taxoclass.calibration import from_metadata

    from_metadata(obj, meta.get("calibration"))  # files without it (older taxoclass) load with temperature 1
    return obj


def _check_metadata(meta: dict, path) -> None:
    """The shape of ``metadata.json`` (so that a damaged file ends in one ModelError, never a KeyError)."""
    def bad(what):
        return ModelError(f"{path}: {METADATA_FILE} {what}; the file is damaged: save the model again or retrain it.")

    tax = meta.get("taxonomy")
    if not isinstance(tax, dict):
        raise bad("lacks the taxonomy")
    nodes, parents, classes = tax.get("nodes"), tax.get("parents"), tax.get("classes")
    if not (isinstance(nodes, list) and isinstance(parents, list) and len(nodes) == len(parents) and nodes
            and all(isinstance(n, list) and n and all(isinstance(x, str) for x in n) for n in nodes)
            and all(isinstance(i, int) and not isinstance(i, bool) and -1 <= i < len(nodes) for i in parents)
            and isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise bad("holds a malformed taxonomy (nodes, parents, classes)")
    if not isinstance(meta.get("classes"), list) or not all(isinstance(c, str) for c in meta["classes"]):
        raise bad("lacks the list of classes")
    for key, kind in (("params", dict), ("history", dict), ("extra", dict), ("calibration", dict)):
        if key in meta and not isinstance(meta[key], kind):
            raise bad(f"has a malformed {key!r} entry")
    if meta.get("pipeline") is not None and not isinstance(meta["pipeline"], dict):
        raise bad("has a malformed 'pipeline' entry")
