"""Safe output files: written completely or not at all, never silently overwriting."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from taxoclass.exceptions import TaxoclassError


def check_writable(path, *, overwrite: bool = False, inputs=()) -> Path:
    """Refuse to write over an existing file (unless ``overwrite``) or over one of the ``inputs``.

    >>> check_writable("/tmp/__taxoclass_new_file__.json").name
    '__taxoclass_new_file__.json'
    """
    path = Path(path)
    for src in inputs:
        try:
            if src is not None and Path(src).exists() and path.exists() and path.resolve() == Path(src).resolve():
                raise TaxoclassError(f"output {path} is the input file; choose another output path.")
        except OSError:
            pass
    if path.exists() and not overwrite:
        raise TaxoclassError(f"{path} already exists; choose another output path or pass --overwrite "
                             "(overwrite=True) to replace it.")
    if path.parent and not path.parent.exists():
        raise TaxoclassError(f"cannot write {path}: folder {path.parent} does not exist; create it first.")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **kwargs):
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    >>> with atomic_write("/tmp/__taxoclass_atomic__.txt") as fh:
    ...     _ = fh.write("ok")
    >>> open("/tmp/__taxoclass_atomic__.txt").read()
    'ok'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=str(path.parent or "."))
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the user's usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
