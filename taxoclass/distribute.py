"""Distribution strategies (one machine, its GPUs, several machines) and mixed precision.

- :func:`get_strategy`: ``"auto"`` / ``"mirrored"`` / ``"multiworker"`` -> a ``tf.distribute.Strategy``;
- multi-worker training (``MultiWorkerMirroredStrategy``): :func:`multiworker_strategy` (made first in the program,
  with taxoclass's fix of Keras 3, :mod:`taxoclass._keras_multiworker`), :func:`multiworker_task` (is this process
  the chief?), :func:`local_cluster` (``TF_CONFIG`` values to try it on one machine);
- :func:`set_mixed_precision`.

TensorFlow and Keras are imported inside the functions, so that importing this module stays cheap.
"""

from __future__ import annotations

import json
import os

from taxoclass.exceptions import ModelError

__all__ = ["STRATEGIES", "get_strategy", "multiworker_strategy", "multiworker_task", "check_multiworker_options",
           "local_cluster", "set_mixed_precision"]

STRATEGIES = ("auto", "mirrored", "multiworker")


def _logical_devices(kind: str):
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices(kind)]


def get_strategy(name="auto"):
    """Return a ``tf.distribute.Strategy``; build and compile models inside its ``scope()``.

    - ``"auto"``: ``MirroredStrategy`` when several GPUs are visible, else TensorFlow's default strategy.
    - ``"mirrored"``: ``MirroredStrategy`` over all GPUs (synchronous data parallelism on one machine); without
      GPUs, over all logical CPU devices (useful for testing).
    - ``"multiworker"``: ``MultiWorkerMirroredStrategy``; each machine runs the same command with its own
      ``TF_CONFIG`` environment variable (cluster and task index), see TensorFlow's multi-worker guide.
    - a ``tf.distribute.Strategy`` instance is returned as is.

    >>> get_strategy("auto").num_replicas_in_sync >= 1
    True
    """
    import tensorflow as tf

    if isinstance(name, tf.distribute.Strategy):
        return name
    if not isinstance(name, str) or name.lower() not in STRATEGIES:
        raise ModelError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)} "
                         "or a tf.distribute.Strategy instance.")
    name = name.lower()
    if name == "multiworker":  # before anything else touches TensorFlow's context (listing devices does)
        return multiworker_strategy()
    gpus = _logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(gpus or _logical_devices("CPU"))


_MULTIWORKER = []  # TensorFlow allows one MultiWorkerMirroredStrategy per process: made once, then reused


def multiworker_strategy():
    """The process's ``MultiWorkerMirroredStrategy`` (made on the first call, reused after). TensorFlow configures
    its collective ops when the strategy is made, which must happen before any other TensorFlow operation: call
    ``get_strategy("multiworker")`` at the start of a program (``taxoclass train --strategy multiworker`` does).

    >>> multiworker_strategy().num_replicas_in_sync >= 1                  # doctest: +SKIP
    True
    """
    import tensorflow as tf

    if _MULTIWORKER:
        return _MULTIWORKER[0]
    if "TF_CONFIG" not in os.environ:
        import warnings

        warnings.warn("strategy='multiworker' without a TF_CONFIG environment variable runs as a single worker; "
                      "set TF_CONFIG on every machine to train on several.", stacklevel=3)
    try:
        _MULTIWORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
    except RuntimeError as exc:
        if "program startup" not in str(exc):
            raise
        raise ModelError("strategy='multiworker' must be set up before TensorFlow runs anything: call "
                         "taxoclass.training.get_strategy('multiworker') first in the program (taxoclass train "
                         "--strategy multiworker does it).") from None
    from taxoclass import _keras_multiworker

    _keras_multiworker.apply()  # Keras 3's fit fails under this strategy without it (see that module)
    return _MULTIWORKER[0]


def check_multiworker_options(time_budget=None) -> None:
    """What ``--strategy multiworker`` cannot train with: a time budget (each worker would stop by its own clock,
    and workers that stop at different epochs wait for each other forever)."""
    if time_budget is not None:
        raise ModelError("--time-budget stops each worker by its own clock, and workers that stop at different "
                         "epochs wait for each other forever; with --strategy multiworker give --epochs.")


def multiworker_task() -> tuple[bool, int]:
    """``(is_chief, index)`` of this process in the ``TF_CONFIG`` cluster: the chief is the ``chief`` task, or worker
    0 when the cluster names none; without ``TF_CONFIG`` the process is a chief alone.

    >>> import os, json
    >>> os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": ["a:1", "b:1"]},
    ...                                       "task": {"type": "worker", "index": 1}})
    >>> multiworker_task()
    (False, 1)
    >>> del os.environ["TF_CONFIG"]
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        return True, 0
    try:
        cfg = json.loads(text)
        kind, index = cfg["task"]["type"], int(cfg["task"]["index"])
        cluster = cfg["cluster"]
    except (ValueError, KeyError, TypeError):
        raise ModelError("TF_CONFIG is not valid: expected JSON such as {\"cluster\": {\"worker\": [\"host1:2222\", "
                         "\"host2:2222\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}.") from None
    return (kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)), index


def set_mixed_precision(enabled: bool) -> str:
    """Switch Keras' global dtype policy to ``"mixed_float16"`` (``enabled=True``) or ``"float32"``.

    Mixed precision speeds up training on recent GPUs (compute in float16, variables in float32); models keep
    their final softmax in float32. Returns the previous policy name so it can be restored. Call it before
    building the model.

    >>> previous = set_mixed_precision(False)
    >>> _ = set_mixed_precision(previous == "mixed_float16")
    """
    import keras

    if not isinstance(enabled, bool):
        raise ModelError(f"mixed_precision must be True or False, got {enabled!r}.")
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
    return previous


def local_cluster(n_workers: int = 2) -> list[str]:
    """``TF_CONFIG`` values for ``n_workers`` worker processes on this machine (loopback ports that are free now):
    start one ``taxoclass train ... --strategy multiworker`` per value, with ``TF_CONFIG`` set to it.

    >>> configs = local_cluster(2)
    >>> [json.loads(c)["task"] for c in configs]
    [{'type': 'worker', 'index': 0}, {'type': 'worker', 'index': 1}]
    """
    import socket

    socks = [socket.socket() for _ in range(int(n_workers))]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        ports = [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(len(ports))]
