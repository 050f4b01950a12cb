"""Entry point of the ``taxoclass`` command.

Each command group lives in its own module of this package and exposes ``register(subparsers)``; the module is
imported when the parser is built, so it must not import TensorFlow at module level (commands that do not train
or predict answer in well under a second). Bad input -> one line on stderr, exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from taxoclass.exceptions import TaxoclassError

# command-group modules, in the order they appear in --help
COMMAND_MODULES = [
    "taxoclass.cli.taxonomy_cmd",
    "taxoclass.cli.cluster_cmd",
    "taxoclass.cli.data_cmd",
    "taxoclass.cli.model_cmds",
    "taxoclass.cli.tune_cmd",
    "taxoclass.cli.export_cmd",
    "taxoclass.cli.serve_cmd",
]

EXIT_BAD_INPUT = 2
# commands that run TensorFlow: it is imported quietly before they start (taxoclass._console)
TENSORFLOW_COMMANDS = ("train", "evaluate", "predict", "benchmark", "export")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    from taxoclass import __version__

    parser = _Parser(prog="taxoclass", description="Hierarchical (taxonomy-based) image classification.")
    parser.add_argument("--version", action="version", version=f"taxoclass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up messages (oneDNN, CUDA, absl); also after the command name")
    _add_verbose(sub)
    return parser


def _add_verbose(subparsers_action) -> None:
    """``--verbose`` on every command (after the command name too), without overriding the top-level one."""
    for p in subparsers_action.choices.values():
        nested = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        for a in nested:
            _add_verbose(a)
        if not nested and not any("--verbose" in a.option_strings for a in p._actions):
            p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                           help=argparse.SUPPRESS)  # listed once, in `taxoclass --help`


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def _os_error(exc: OSError) -> str:
    """An OS error as one line that names the user's path, never an internal temporary name."""
    from taxoclass._files import os_error_message

    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    shown = [n for n in names if not (os.path.basename(os.fsdecode(n)).startswith(".")
                                      and os.fsdecode(n).endswith(".part"))]
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)) and shown:
        return f"{os.fsdecode(shown[0])}: no such file or folder ({exc.strerror}); check the path."
    if shown:
        return os_error_message(exc, os.fsdecode(shown[0]))
    return f"{exc.strerror or exc}; check the paths you gave and that the disk has room."


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command in TENSORFLOW_COMMANDS:
        from taxoclass._console import quiet_tensorflow_import

        quiet_tensorflow_import(verbose=bool(getattr(args, "verbose", False)))
    try:
        rc = args.func(args)
    except TaxoclassError as exc:
        print(f"taxoclass: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnicodeDecodeError as exc:
        print(f"taxoclass: error: a file is not valid UTF-8 text ({exc.reason} at byte {exc.start}); save it as "
              "UTF-8.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. `taxoclass taxonomy show big.tsv | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"taxoclass: error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("taxoclass: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
