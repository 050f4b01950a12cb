"""``taxoclass train --config FILE``: fill the options not given on the command line from a run's ``config.json``
(layout: :mod:`taxoclass.jobs.run_config`), and record the command line for the next run."""

from __future__ import annotations

import argparse

from taxoclass.exceptions import TaxoclassError

# namespace entries that are not options of a recipe
_NOT_SOURCE = {"func", "argv", "command", "config", "output", "overwrite", "resume", "verbose", "train_parser"}
_UNSET = object()


def _explicit(parser: argparse.ArgumentParser, argv: list[str], command: str) -> set[str]:
    """The destinations given explicitly on the command line (parsed again with every default unset)."""
    rest = argv[argv.index(command) + 1:] if command in argv else argv
    saved = [(a, a.default) for a in parser._actions]
    saved_defaults = dict(parser._defaults)
    try:
        for a in parser._actions:
            a.default = _UNSET
        parser._defaults.clear()
        ns, _ = parser.parse_known_args(rest, argparse.Namespace())
    finally:
        for a, d in saved:
            a.default = d
        parser._defaults.update(saved_defaults)
    return {k for k, v in vars(ns).items() if v is not _UNSET and v != []}


def source_options(args) -> dict:
    """The command line's options that are not train_job arguments (data source, taxonomy, manifest)."""
    from taxoclass.jobs.run_config import argument_names, cli_to_argument

    names = set(argument_names())
    return {k: v for k, v in vars(args).items()
            if k not in _NOT_SOURCE and cli_to_argument(k) not in names and not callable(v)}


def apply_config(args) -> None:
    """Options of ``args.config`` (``"arguments"`` by train_job names, ``"source"`` by CLI names) for every option
    not given on the command line; explicit flags win. An image source given here replaces the recorded one (and
    its manifest) as a whole; a ``--taxonomy`` or ``--from-confusion`` given here replaces the recorded tree."""
    from taxoclass.jobs.run_config import argument_defaults, argument_to_cli, read_config

    cfg = read_config(args.config)
    explicit = _explicit(args.train_parser, getattr(args, "argv", []), "train")
    defaults = argument_defaults()
    for name, value in cfg["arguments"].items():
        dest = argument_to_cli(name)
        if not hasattr(args, dest):  # a train_job argument the command line cannot set: only its default is fine
            if name in defaults and value != defaults[name] and not (isinstance(defaults[name], tuple)
                                                                    and list(defaults[name]) == value):
                raise TaxoclassError(f"--config {args.config}: {name}={value!r} cannot be set from the command "
                                     f"line (only its default {defaults[name]!r}); train with "
                                     "taxoclass.jobs.train_job in Python, or remove it from the file.")
            continue
        if dest in explicit or (value is None and getattr(args, dest) is not None):  # None: "not used", e.g. a
            continue                                                              # flat run's node_block
        if dest in ("block_filters", "head_units", "coarse_levels") and isinstance(value, list):
            value = tuple(value)
        setattr(args, dest, value)
    data_dests = {"source"} | {a.dest for g in args.train_parser._action_groups if g.title == "image source"
                               for a in g._group_actions}
    new_data = bool(explicit & data_dests)
    new_tree = bool(explicit & {"taxonomy", "from_confusion"})
    for dest, value in cfg["source"].items():
        if not hasattr(args, dest):
            raise TaxoclassError(f"--config {args.config}: unknown source option {dest!r}; expected the config.json "
                                 "of a run written by this taxoclass.")
        if dest in explicit:
            continue
        if new_data and (dest in data_dests or dest == "manifest"):  # other images: their own split
            continue
        if new_tree and dest in ("taxonomy", "from_confusion"):  # a tree given here replaces the recorded one
            continue
        setattr(args, dest, value)
