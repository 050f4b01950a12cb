"""The search space of ``taxoclass tune``: one :class:`Knob` per ``train_job`` option, with defaults that can be
fixed or narrowed from flat strings (``--fix NAME=VALUE``, ``--space NAME=SPEC``).

A knob's name is the ``train_job`` keyword it sets (``model`` chooses among the ``--models``). ``SPEC`` is
``LOW:HIGH`` or ``LOW:HIGH:log`` for a number range, or ``A,B,C`` for a list of values to choose from.

>>> space = SearchSpace(models=("flat",), fix=["learning_rate=0.002"], space=["image_size=32,48"])
>>> space.knobs["learning_rate"].fixed, space.knobs["image_size"].choices
(0.002, (32, 48))
>>> parse_assignment("weight_decay=1e-5:1e-3:log")
('weight_decay', '1e-5:1e-3:log')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from taxoclass.exceptions import TaxoclassError
from taxoclass.models import CLASS_LAYERS  # the package itself loads no Keras

__all__ = ["Knob", "KNOBS", "SearchSpace", "parse_assignment", "MODELS", "TREE_MODELS", "OBJECTIVES", "COSTS",
           "MINIMIZED"]

#: what a trial is scored by, on the validation split: top-1 accuracy (default), hierarchical F1 (micro),
#: balanced accuracy, mistake severity (mean taxonomy distance of the mistakes; lower is better)
OBJECTIVES = ("accuracy", "hf1", "balanced_accuracy", "severity")
#: the second objective of an accuracy-vs-cost search: training seconds or parameters
COSTS = ("seconds", "params")
#: objectives to minimise (every cost is minimised too)
MINIMIZED = ("severity",)

#: the model kinds a search chooses among (``tree``: on the taxonomy, or the error-based tree of --from-confusion;
#: ``combined``: that tree plus a flat head on its trunk, searched with the tree's knobs)
MODELS = ("flat", "tree", "combined")
TREE_MODELS = ("tree", "combined")
_SCRATCH = ("resnet_small", "vgg_bn", "small_cnn")
_ON = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}


@dataclass(frozen=True)
class Knob:
    """One tunable ``train_job`` option.

    ``kind``: ``"float"`` / ``"int"`` (a range ``low``-``high``, ``log`` scale or not) or ``"choice"`` (one of
    ``choices``); a number knob narrowed to a list becomes a choice. ``applies``: the models it is searched for
    (``"flat"``, ``"tree"``, ``"error_tree"``: a tree from ``--from-confusion``). ``fixed``: a value set by
    ``--fix`` (not searched).
    """

    name: str
    kind: str
    help: str
    applies: tuple = ("flat", "tree", "error_tree")
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    value_type: type = float
    bounds: tuple = (None, None)  # the values train_job accepts (inclusive), for numbers
    fixed: object = None

    def describe(self) -> str:
        """The knob's range as ``--space`` writes it.

        >>> KNOBS["learning_rate"].describe()
        '0.0001:0.01:log'
        """
        if self.fixed is not None:
            return f"fixed {_text(self.fixed).replace(',', '+')}"
        if self.kind == "choice":  # block_filters / head_units values: their integers joined by "+"
            return ",".join(_text(c).replace(",", "+") for c in self.choices)
        return f"{_text(self.low)}:{_text(self.high)}" + (":log" if self.log else "")


def _text(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


#: the flat model's losses (taxoclass.models.losses.LOSSES, written out: importing it would load Keras)
_LOSSES = ("crossentropy", "hxe", "soft_labels")
_ALL = ("flat", "tree", "error_tree")
_TREES = ("tree", "error_tree")
#: every knob and its default range; the order is the order of the suggestions (model first)
KNOBS: dict[str, Knob] = {k.name: k for k in (
    Knob("model", "choice", "the model kind (the --models given)", choices=MODELS, value_type=str),
    Knob("backbone", "choice", "flat model backbone (from scratch)", ("flat",), choices=_SCRATCH, value_type=str),
    Knob("trunk", "choice", "tree models: shared trunk under the node blocks (none, blocks reading the image, only "
         "if asked: --space trunk=none,resnet_small; slow and weak on NDSB)", _TREES, choices=_SCRATCH, value_type=str),
    Knob("width", "choice", "first-stage filters of resnet_small / vgg_bn (backbone or trunk)",
         choices=(16, 32, 48), value_type=int, bounds=(1, 1024)),
    Knob("node_block", "choice", "tree models on a trunk: each node's block, an MLP on the trunk's pooled "
         "features (dense) or convolutions of its own (small_cnn)", _TREES, choices=("dense", "small_cnn"),
         value_type=str),
    Knob("block_filters", "choice", "tree node block conv filters (small_cnn node blocks)", _TREES,
         choices=("16,32", "32,64", "48,96"),
         value_type=str),
    Knob("head_units", "choice", "dense units of each node head / the flat head",
         choices=("64", "128", "256", "1024"),
         value_type=str),
    Knob("learning_rate", "float", "peak learning rate", low=1e-4, high=1e-2, log=True, bounds=(1e-12, 10)),
    Knob("weight_decay", "float", "AdamW decoupled weight decay", low=1e-6, high=1e-2, log=True, bounds=(0, 0.999)),
    Knob("label_smoothing", "float", "label smoothing", low=0.0, high=0.2, bounds=(0, 0.999)),
    Knob("dropout", "float", "dropout before each head", low=0.0, high=0.5, bounds=(0, 0.999)),
    Knob("loss", "choice", "flat model loss: crossentropy, or hxe / soft_labels, which use the taxonomy", ("flat",),
         choices=_LOSSES, value_type=str),
    Knob("class_layer", "choice", "flat model class layer: dense, or lineage (each class's weights the sum of its "
         "taxonomy nodes'; uses the taxonomy)", ("flat",), choices=CLASS_LAYERS, value_type=str),
    Knob("augment", "choice", "training augmentation: plankton, upright or none", choices=("plankton", "none"),
         value_type=str),
    Knob("image_size", "choice", "side of the model input in pixels", choices=(48, 64, 96), value_type=int,
         bounds=(8, 1024)),
    Knob("class_weight", "choice", "weight classes by inverse frequency", choices=("none", "sqrt"),
         value_type=str),
    Knob("beta", "float", "error tree: confusion threshold of the grouping", ("error_tree",), low=0.05, high=0.5,
         bounds=(0, 1)),
    Knob("max_cluster_size", "int", "error tree: largest group of classes", ("error_tree",), low=2, high=12,
         value_type=int, bounds=(1, 100_000)),
    Knob("level_schedule", "choice", "tree level weights: constant or coarse_to_fine", _TREES,
         choices=("none", "coarse_to_fine"), value_type=str),
)}
_VALID = {"backbone": _SCRATCH + ("inception_v3", "mobilenet_v2", "resnet50", "densenet121", "efficientnet_b0"),
          "trunk": _SCRATCH + ("inception_v3", "mobilenet_v2", "resnet50", "densenet121", "efficientnet_b0", "none"),
          "class_weight": ("none", "balanced", "sqrt"), "augment": ("plankton", "upright", "none"),
          "node_block": ("dense", "small_cnn"), "level_schedule": ("none", "coarse_to_fine"), "model": MODELS,
          "loss": _LOSSES, "class_layer": CLASS_LAYERS}


def parse_assignment(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (NAME, VALUE); one message naming the knobs otherwise."""
    name, eq, value = str(text).partition("=")
    name, value = name.strip(), value.strip()
    if not eq or not name or not value:
        raise TaxoclassError(f"{text!r} is not NAME=VALUE; expected e.g. learning_rate=0.002 or "
                             f"learning_rate=1e-4:1e-2:log (knobs: {', '.join(KNOBS)}).")
    if name not in KNOBS:
        raise TaxoclassError(f"{name!r} is not a knob of the search; expected one of {', '.join(KNOBS)}.")
    return name, value


def _scalar(knob: Knob, text: str):
    """One value of ``knob`` from its text, checked against what train_job accepts."""
    t = str(text).strip()
    if knob.value_type is bool:
        if t.lower() not in _ON:
            raise TaxoclassError(f"{knob.name}={t!r} is not valid; expected on or off.")
        return _ON[t.lower()]
    if knob.value_type is str:
        if knob.name in ("block_filters", "head_units"):
            parts = [p.strip() for p in t.split("+")]
            if not all(p.isdigit() and int(p) >= 1 for p in parts):
                raise TaxoclassError(f"{knob.name}={t!r} is not valid; expected positive integers, joined by '+' "
                                     f"inside a list (e.g. {knob.name}=32+64,64+128).")
            return ",".join(str(int(p)) for p in parts)
        if knob.name == "augment" and t.lower() in _ON:  # on / off, the spelling of earlier versions
            t = "plankton" if _ON[t.lower()] else "none"
        if t not in _VALID[knob.name]:
            raise TaxoclassError(f"{knob.name}={t!r} is not valid; expected one of {', '.join(_VALID[knob.name])}.")
        return t
    try:
        v = float(t)
    except ValueError:
        raise TaxoclassError(f"{knob.name}={t!r} is not a number; expected e.g. {knob.name}="
                             f"{_text(knob.low if knob.low is not None else knob.choices[0])}.") from None
    lo, hi = knob.bounds
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        raise TaxoclassError(f"{knob.name}={t} is not valid; expected a number from {lo:g} to {hi:g}.")
    if knob.value_type is int:
        if v != int(v):
            raise TaxoclassError(f"{knob.name}={t} is not valid; expected a whole number.")
        return int(v)
    return v


def narrow(knob: Knob, spec: str) -> Knob:
    """``knob`` with the range or list of ``spec`` (``LOW:HIGH[:log]`` or ``A,B,C``).

    >>> narrow(KNOBS["learning_rate"], "1e-3:1e-2:log").low
    0.001
    >>> narrow(KNOBS["learning_rate"], "1e-7,1e-2").choices
    (1e-07, 0.01)
    """
    spec = str(spec).strip()
    if ":" in spec:
        if knob.value_type not in (int, float) or knob.name in ("model",):
            raise TaxoclassError(f"{knob.name}={spec!r}: a LOW:HIGH range needs a number knob; {knob.name} takes a "
                                 f"list of values such as {knob.name}={','.join(_text(c) for c in knob.choices)}.")
        parts = spec.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise TaxoclassError(f"{knob.name}={spec!r} is not a range; expected LOW:HIGH or LOW:HIGH:log, e.g. "
                                 f"{knob.name}={KNOBS[knob.name].describe() if knob.kind != 'choice' else '16:64'}.")
        lo, hi = _scalar(knob, parts[0]), _scalar(knob, parts[1])
        if not lo < hi:
            raise TaxoclassError(f"{knob.name}={spec!r}: LOW must be below HIGH (use --fix {knob.name}={lo:g} "
                                 "for a single value).")
        if log and lo <= 0:
            raise TaxoclassError(f"{knob.name}={spec!r}: a log range needs LOW > 0.")
        kind = "int" if knob.value_type is int else "float"
        return replace(knob, kind=kind, low=lo, high=hi, log=log, choices=())
    values = [v for v in spec.split(",")]
    if any(not v.strip() for v in values):
        raise TaxoclassError(f"{knob.name}={spec!r} has an empty value; expected a list such as "
                             f"{knob.name}={','.join(_text(c) for c in (knob.choices or (knob.low, knob.high)))}.")
    chosen = tuple(dict.fromkeys(_scalar(knob, v) for v in values))
    return replace(knob, kind="choice", choices=chosen, low=None, high=None, log=False)


def fix(knob: Knob, value: str) -> Knob:
    """``knob`` fixed at ``value`` (text); block_filters / head_units take ``32,64`` or ``32+64``.

    >>> fix(KNOBS["block_filters"], "16,32").fixed
    '16,32'
    """
    text = str(value).strip()
    if knob.name in ("block_filters", "head_units"):
        text = text.replace(",", "+")
    return replace(knob, fixed=_scalar(knob, text))


class SearchSpace:
    """The knobs of one search: the defaults of :data:`KNOBS`, narrowed by ``space`` and fixed by ``fix``.

    ``models``: the model kinds searched (``flat``, ``tree``, ``combined``); ``error_tree=True`` when the tree comes
    from a confusion matrix (then beta and max_cluster_size are searched). ``fix`` / ``space``: ``NAME=VALUE`` /
    ``NAME=SPEC`` strings, or dicts {name: value or spec}.
    """

    def __init__(self, models=("flat", "tree"), *, error_tree: bool = False, fix=None, space=None):
        models = tuple(dict.fromkeys(models))
        if not models or any(m not in MODELS for m in models):
            raise TaxoclassError(f"models={','.join(map(str, models)) or '(none)'} is not valid; expected one or "
                                 f"more of {', '.join(MODELS)} (e.g. --models flat,tree).")
        self.models, self.error_tree = models, bool(error_tree)
        knobs = dict(KNOBS)
        knobs["model"] = replace(knobs["model"], choices=models)
        fixed_names = set()
        for name, value in _pairs(fix, fixing=True):
            fixed_names.add(name)
            knobs[name] = globals()["fix"](knobs[name], value)
        for name, spec in _pairs(space, fixing=False):
            if name in fixed_names:
                raise TaxoclassError(f"{name} is both fixed (--fix) and searched (--space); give one of the two.")
            knobs[name] = narrow(knobs[name], spec)
        m = knobs["model"]
        bad = [c for c in ((m.fixed,) if m.fixed is not None else m.choices) if c not in models]
        if bad:
            raise TaxoclassError(f"model={bad[0]} is not among --models {','.join(models)}; add it there.")
        self.knobs = knobs

    def pin(self, name: str, value, why: str) -> bool:
        """Fix knob ``name`` at ``value`` because the data allow nothing else (``why`` says so in the error when
        the user fixed it otherwise); True when it was searched before.

        >>> sp = SearchSpace(models=("flat",))
        >>> sp.pin("loss", "crossentropy", "no taxonomy"), sp.knobs["loss"].fixed
        (True, 'crossentropy')
        """
        knob = self.knobs[name]
        if knob.fixed is not None:
            if knob.fixed != value:
                raise TaxoclassError(f"--fix {name}={_text(knob.fixed)} cannot be used: {why}; drop it (the search "
                                     f"then keeps {name}={_text(value)}).")
            return False
        self.knobs[name] = replace(knob, fixed=value)
        return True

    def searched(self) -> dict[str, Knob]:
        """The knobs whose value a trial draws (applying to at least one of the models)."""
        kinds = {"flat"} & set(self.models)
        if set(TREE_MODELS) & set(self.models):
            kinds.add("error_tree" if self.error_tree else "tree")
        return {n: k for n, k in self.knobs.items() if k.fixed is None and set(k.applies) & kinds}

    def describe(self) -> dict[str, str]:
        """{knob: range text} of every knob, as tune.json records it (a rerun with other ranges is refused)."""
        return {n: k.describe() for n, k in self.knobs.items()}

    def suggest(self, trial) -> dict:
        """The ``train_job`` keyword arguments of one trial (an ``optuna.Trial``), conditional knobs included only
        for the model drawn (a width only with a resnet_small / vgg_bn backbone or trunk, block filters only
        for small_cnn node blocks)."""
        args: dict = {}
        model = self._value(trial, self.knobs["model"])
        kind = "flat" if model == "flat" else ("error_tree" if self.error_tree else "tree")
        for name, knob in self.knobs.items():
            if name == "model" or kind not in knob.applies:
                continue
            if name == "width" and (args.get("backbone") if kind == "flat" else args.get("trunk")) not in (
                    "resnet_small", "vgg_bn"):
                continue
            if name == "node_block" and args.get("trunk") == "none":  # no trunk: the blocks read the image
                continue
            if name == "block_filters" and args.get("node_block", "small_cnn") != "small_cnn":
                continue
            args[name] = self._value(trial, knob)
        args["model"] = model
        return to_train_args(args)

    @staticmethod
    def _value(trial, knob: Knob):
        if knob.fixed is not None:
            return knob.fixed
        if knob.kind == "float":
            return trial.suggest_float(knob.name, knob.low, knob.high, log=knob.log)
        if knob.kind == "int":
            return trial.suggest_int(knob.name, int(knob.low), int(knob.high), log=knob.log)
        return trial.suggest_categorical(knob.name, list(knob.choices))


def to_train_args(values: dict) -> dict:
    """Knob values -> ``train_job`` keyword arguments (lists of integers, "none" -> None).

    >>> to_train_args({"block_filters": "16,32", "level_schedule": "none", "class_weight": "none"})
    {'block_filters': [16, 32], 'level_schedule': None, 'class_weight': 'none'}
    """
    out = dict(values)
    for name in ("block_filters", "head_units"):
        if name in out:
            out[name] = [int(v) for v in str(out[name]).split(",")]
    if out.get("level_schedule") == "none":
        out["level_schedule"] = None
    return out


def _pairs(items, *, fixing: bool) -> list[tuple[str, str]]:
    """``NAME=TEXT`` strings, or a dict {name: value}, as (name, text) pairs. In a dict a value may be a number,
    bool or string, a list of integers for block_filters / head_units (fixed) or, for ``space``, a (low, high) or
    (low, high, "log") tuple or a list of choices."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, dict):
        return [parse_assignment(t) for t in items]
    pairs = []
    for name, value in items.items():
        if name not in KNOBS:
            raise TaxoclassError(f"{name!r} is not a knob of the search; expected one of {', '.join(KNOBS)}.")
        if fixing and isinstance(value, (list, tuple)):
            text = "+".join(map(str, value))
        elif isinstance(value, tuple) and len(value) in (2, 3):
            text = ":".join(map(_exact, value))
        elif isinstance(value, list):
            text = ",".join("+".join(map(str, v)) if isinstance(v, (list, tuple)) else _exact(v) for v in value)
        else:
            text = _exact(value)
        pairs.append((name, text))
    return pairs


def _exact(v) -> str:
    return _text(v) if isinstance(v, bool) else str(v)
