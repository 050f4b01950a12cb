"""What the ``taxoclass`` command shows on the console: TensorFlow's start-up noise silenced, numbers rounded, plurals
right, progress bars when a person is watching.

>>> number(1.9166666666666667), plural(1, "epoch"), plural(3, "image")
('1.917', '1 epoch', '3 images')
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["quiet_tensorflow_import", "number", "plural", "progress_bar", "keras_progress", "keras_verbosity"]


@contextlib.contextmanager
def _stderr_to_devnull():
    """Point file descriptor 2 at /dev/null (C++ logging of TensorFlow writes there, not to ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow_import(verbose: bool = False) -> None:
    """Import TensorFlow and Keras and list the devices once, with file descriptor 2 silenced meanwhile (oneDNN
    notices, "failed call to cuInit ... (303)", absl's "All log messages before absl::InitializeLog()"); later
    imports are then silent. ``verbose=True`` imports normally, showing all of it. Used by the CLI entry point for
    the commands that run models.

    >>> quiet_tensorflow_import()          # doctest: +SKIP
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # also TensorFlow's C++ messages while it runs
    with _stderr_to_devnull():
        import tensorflow as tf
        import keras  # noqa: F401

        tf.config.list_physical_devices()  # the CUDA probe (cuInit) happens here
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # pragma: no cover - absl comes with TensorFlow
            pass
    tf.get_logger().setLevel("ERROR")


def number(value, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (integers unchanged; None as '-').

    >>> number(0.123456), number(12), number(None), number(1234567.8)
    ('0.1235', '12', '-', '1.235e+06')
    """
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.{digits}g}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 image"``, ``"2 images"`` (``many`` for an irregular plural).

    >>> plural(1, "class", "classes"), plural(0, "class", "classes")
    ('1 class', '0 classes')
    """
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _interactive() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar(total: int | None, desc: str, unit: str = "batch"):
    """A tqdm bar on stderr when it is a terminal, else a silent stand-in with the same ``update``/``close``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not _interactive(), leave=False)


def keras_progress(total: int | None, desc: str):
    """Keras callbacks showing a tqdm bar over the batches of ``model.predict`` (empty when not a terminal).

    >>> keras_progress(10, "predicting")      # doctest: +SKIP
    [<..._TqdmPredict ...>]
    """
    if not _interactive():
        return []
    import keras

    class _TqdmPredict(keras.callbacks.Callback):
        def on_predict_begin(self, logs=None):
            self.bar = progress_bar(total, desc)

        def on_predict_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_predict_end(self, logs=None):
            self.bar.close()

    return [_TqdmPredict()]


def keras_verbosity() -> int:
    """Keras ``fit`` verbosity: its progress bar (1) when stdout is a terminal, one line per epoch (2) otherwise.

    >>> keras_verbosity() in (1, 2)
    True
    """
    return 1 if getattr(sys.stdout, "isatty", lambda: False)() else 2
