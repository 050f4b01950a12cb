"""Seeding one fit without touching the caller's random state: :func:`local_random_seed`."""

from __future__ import annotations

import contextlib
import random

__all__ = ["local_random_seed"]


@contextlib.contextmanager
def local_random_seed(seed):
    """Seed the random draws of one fit without touching the caller's random state.

    Keras draws the default seeds of its initialisers, dropout and augmentation layers (``seed=None``) from
    Python's ``random`` module; inside this block that module is seeded with ``seed`` and its previous state is
    restored on exit. NumPy's and TensorFlow's global generators are left alone: taxoclass seeds its shuffles and
    augmentation explicitly. ``seed=None`` changes nothing.

    >>> import random
    >>> state = random.getstate()
    >>> with local_random_seed(0):
    ...     a = random.random()
    >>> random.getstate() == state, round(a, 4)
    (True, 0.8444)
    """
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(int(seed))
    try:
        yield
    finally:
        random.setstate(state)
