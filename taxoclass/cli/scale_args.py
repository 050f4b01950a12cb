"""The options of ``taxoclass predict`` for large runs (prediction mode, chunked streaming, resume, engine); the
mode option is shared with ``taxoclass serve``. Cheap to import: nothing heavy at module level."""

from __future__ import annotations

import argparse

from taxoclass.models import PREDICT_MODES as MODES  # the package's __init__ imports nothing heavy

# == taxoclass.jobs.stream.ENGINES (tests/test_predict_stream.py checks): importing taxoclass.jobs here would load
# scikit-learn into every command's start-up
ENGINES = ("local", "ray")


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number such as 1024, got {text!r}.")
    return v


def add_mode_argument(p) -> None:
    """``--mode``: how the predicted class is chosen (``predict``, ``serve``, ``evaluate``)."""
    p.add_argument("--mode", choices=MODES, default="soft",
                   help="soft (default): every node evaluated, the most probable class; greedy (tree models, predict "
                        "and serve): only the nodes on each image's path, top-down (no top-k); risk: every node "
                        "evaluated, the class with the lowest expected mistake severity on the taxonomy (milder "
                        "mistakes at about the same accuracy)")


def add_scale_arguments(p) -> None:
    add_mode_argument(p)
    g = p.add_argument_group("large runs")
    g.add_argument("--chunk-size", type=_positive, default=1024, metavar="N",
                   help="images read, predicted and written at a time (default 1024); memory does not grow with "
                        "the number of images")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted run after its last written row (kept in OUTPUT.partial)")
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="local (default) or ray: a Ray Data pipeline on the cluster at RAY_ADDRESS, or a local Ray "
                        "instance (needs taxoclass[ray])")

