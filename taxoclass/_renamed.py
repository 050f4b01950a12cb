"""Old keyword names that still work for a while: :func:`renamed` returns the value of a renamed argument."""

from __future__ import annotations

import warnings

from taxoclass.exceptions import TaxoclassError


def renamed(new, old, new_name: str, old_name: str, *, default=None):
    """``new``; or ``old``, with a DeprecationWarning, when the caller used the old keyword ``old_name``.

    ``old`` is None when the old name was not used; giving both names (``new`` not its ``default``) is an error.

    >>> renamed(["a", "b"], None, "classes", "labels")
    ['a', 'b']
    """
    if old is None:
        return new
    if new is not default:
        raise TaxoclassError(f"{old_name}= is the old name of {new_name}=; pass only {new_name}=.")
    warnings.warn(f"{old_name}= is deprecated; use {new_name}= (same meaning).", DeprecationWarning, stacklevel=3)
    return old
