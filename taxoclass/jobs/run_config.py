"""A run's ``config.json`` as a recipe: what ``train_job`` records so that a run can be repeated, and reading it
back for ``taxoclass train --config run1/config.json -o run2``.

``config.json`` keeps its descriptive top-level keys (model, epochs, pipeline, data, classes, ...) and adds:

- ``"arguments"``: ``train_job``'s keyword arguments by their Python names (the hyperparameters; ``taxoclass tune``
  writes ``best_config.json`` in the same layout);
- ``"source"``: the command line's data-source options (paths made absolute), so that the same images are read;
- ``"command_line"`` and ``"versions"`` (taxoclass, TensorFlow, Keras, Python).

>>> "learning_rate" in argument_names() and "data" not in argument_names()
True
"""

from __future__ import annotations

import inspect
import json
import os
import platform
from pathlib import Path

from taxoclass.exceptions import TaxoclassError

__all__ = ["argument_names", "run_arguments", "versions", "read_config", "cli_to_argument", "argument_to_cli",
           "PATH_OPTIONS"]

#: train_job keywords that are not hyperparameters of a recipe (objects, output handling, callbacks)
_NOT_RECORDED = {"taxonomy", "confusion", "confusion_classes", "manifest", "overwrite", "resume", "verbose", "callbacks",
                 "progress", "provenance"}
#: train_job keyword -> CLI option destination where they differ
_CLI_NAMES = {"early_stopping_patience": "early_stopping", "reduce_lr_patience": "reduce_lr"}
#: CLI destinations holding paths (made absolute in the recorded "source")
PATH_OPTIONS = ("source", "table", "image_root", "ecotaxa", "classes", "data_path", "taxonomy", "from_confusion",
                "manifest")


def _recorded_parameters() -> list[inspect.Parameter]:
    from taxoclass.jobs.train import train_job

    return [p for n, p in inspect.signature(train_job).parameters.items()
            if p.kind == p.KEYWORD_ONLY and n not in _NOT_RECORDED]


def argument_names() -> tuple[str, ...]:
    """train_job's keyword arguments recorded in ``config.json["arguments"]`` (its hyperparameters)."""
    return tuple(p.name for p in _recorded_parameters())


def argument_defaults() -> dict:
    """The default of every recorded train_job argument (what a run that did not set it records)."""
    return {p.name: p.default for p in _recorded_parameters()}


def run_arguments(values: dict) -> dict:
    """The recorded ``"arguments"``: ``values`` (train_job's locals) restricted to :func:`argument_names`, as JSON."""
    from taxoclass._json import to_jsonable

    return {k: to_jsonable(values[k]) for k in argument_names() if k in values}


def versions() -> dict:
    """The versions a run used."""
    from importlib.metadata import PackageNotFoundError, version

    from taxoclass import __version__

    out = {"taxoclass": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "keras"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = None
    return out


def cli_to_argument(dest: str) -> str:
    """The train_job keyword of a CLI destination (``early_stopping`` -> ``early_stopping_patience``)."""
    return {v: k for k, v in _CLI_NAMES.items()}.get(dest, dest)


def argument_to_cli(name: str) -> str:
    """The CLI destination of a train_job keyword."""
    return _CLI_NAMES.get(name, name)


def absolute_source(source: dict) -> dict:
    """``source`` with its path options made absolute (so that a recorded run reads the same files from anywhere)."""
    out = {}
    for k, v in source.items():
        if k in PATH_OPTIONS and v not in (None, [], ""):
            v = [os.path.abspath(x) for x in v] if isinstance(v, list) else os.path.abspath(v)
        out[k] = v
    return out


def read_config(path) -> dict:
    """Read a ``config.json`` (or ``best_config.json``) for ``train --config``: a JSON object with an
    ``"arguments"`` object of train_job keyword names (unknown names refused, listed) and optionally a ``"source"``
    object. Returns ``{"arguments": {...}, "source": {...}}``.

    >>> read_config("run1/config.json")["arguments"]["epochs"]      # doctest: +SKIP
    10
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxoclassError(f"--config {path}: no such file; give the config.json of an earlier run.") from None
    except (OSError, ValueError) as exc:
        raise TaxoclassError(f"--config {path}: not a readable JSON file ({exc}); give the config.json of an "
                             "earlier run.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("arguments"), dict):
        raise TaxoclassError(f"--config {path}: no \"arguments\" object; expected the config.json of a run written "
                             "by this taxoclass (or a best_config.json of taxoclass tune).")
    args = doc["arguments"]
    unknown = sorted(k for k in args if k not in argument_names())
    if unknown:
        raise TaxoclassError(f"--config {path}: unknown argument(s) {', '.join(unknown[:10])}; expected names of "
                             f"train options such as {', '.join(argument_names()[:6])}.")
    source = doc.get("source") if isinstance(doc.get("source"), dict) else {}
    return {"arguments": args, "source": source}
