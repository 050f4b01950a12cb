"""Safe outputs: files written completely or not at all, output folders that a failed command leaves as it found
them, one lock per output, and one JSON converter.

- :func:`atomic_write`: a file is written to a hidden ``.NAME.xxxx.part`` beside it and renamed onto it only when
  complete.
- :func:`prepare_output_dir` / :func:`prepare_output_file`: the one way train, evaluate, predict, benchmark and
  report claim their output. Checks happen when it is called (before anything is written); entering the returned
  context takes the lock, removes what killed earlier runs left (``.NAME.*.part``), and gives the folder to write
  into. A command that fails leaves the location exactly as it was; ``overwrite=True`` writes the new result
  beside the old one and swaps the two only once the new one is complete (an atomic exchange where the system has
  one), so a kill at any moment leaves the old or the new result complete.

JSON (numpy scalars and arrays, paths, taxonomies, Keras histories) is written by :mod:`taxoclass._json`.

Test hook (documented, for the kill tests only): with the environment variable ``TAXOCLASS_TEST_SWAP_PAUSE=S`` a
swap prints ``[taxoclass-test] swap`` on stderr and sleeps S seconds before and inside the swap;
``TAXOCLASS_TEST_SWAP_FALLBACK=1`` forces the two-rename swap used where no atomic exchange exists.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from taxoclass.exceptions import TaxoclassError

__all__ = ["check_writable", "atomic_write", "prepare_output_dir", "prepare_output_file", "temp_dir", "OutputError",
           "os_error_message"]


class OutputError(TaxoclassError):
    """An output location cannot be used (exists, is locked, cannot be written)."""


def check_writable(path, *, overwrite: bool = False, inputs=()) -> Path:
    """Refuse to write over an existing file (unless ``overwrite``) or over one of the ``inputs``.

    >>> check_writable("/tmp/__taxoclass_new_file__.json").name
    '__taxoclass_new_file__.json'
    """
    path = Path(path)
    for src in inputs:
        try:
            if src is not None and Path(src).exists() and path.exists() and path.resolve() == Path(src).resolve():
                raise OutputError(f"output {path} is the input file; choose another output path.")
        except OSError:
            pass
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name for the output (e.g. {path / 'out.csv'}).")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; choose another output path or pass --overwrite "
                          "(overwrite=True) to replace it.")
    if path.parent and not path.parent.exists():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist; create it first.")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def part_name(path: Path) -> str:
    """The hidden temporary name prefix used beside ``path`` (``.NAME.``); temporaries end in ``.part``."""
    return f".{path.name}."


def os_error_message(exc: OSError, target) -> str:
    """One line for an OS error met while writing ``target``: what went wrong and how to fix it, never the
    internal temporary names.

    >>> os_error_message(OSError(28, "No space left on device"), "out.csv")
    'cannot write out.csv: the disk is full (No space left on device); free some space or choose another location.'
    """
    hints = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
             errno.EACCES: "permission denied", errno.EPERM: "permission denied",
             errno.EROFS: "the file system is read-only", errno.EISDIR: "a folder is in the way",
             errno.ENOTDIR: "a file is in the way of a folder", errno.ENAMETOOLONG: "the name is too long",
             errno.EEXIST: "something else already exists there",
             errno.EFBIG: "the file is larger than the system allows"}
    what = hints.get(exc.errno, "the system refused")
    fix = {errno.ENOSPC: "free some space or choose another location",
           errno.EDQUOT: "free some space or choose another location",
           errno.EFBIG: "raise the file size limit (ulimit -f) or choose another location",
           errno.EISDIR: "remove that folder or choose another output path"}.get(
        exc.errno, "check the path and its permissions, or choose another output path")
    return f"cannot write {target}: {what} ({exc.strerror or exc}); {fix}."


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **kwargs):
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    An OS error (disk full, permissions) becomes one :class:`OutputError` naming ``path``, not the temporary file.

    >>> with atomic_write("/tmp/__taxoclass_atomic__.txt") as fh:
    ...     _ = fh.write("ok")
    >>> open("/tmp/__taxoclass_atomic__.txt").read()
    'ok'
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=part_name(path), suffix=".part", dir=str(path.parent or "."))
    except OSError as exc:
        raise OutputError(os_error_message(exc, path)) from None
    try:
        try:
            with os.fdopen(fd, mode, **kwargs) as fh:
                yield fh
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the user's usual permissions
            os.replace(tmp, path)
        except OSError as exc:  # disk full, permissions...: say it about `path`, never about the temporary name
            raise OutputError(os_error_message(exc, path)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------------- locking
def _holder_text() -> str:
    cmd = " ".join(sys.argv[:3]) if sys.argv else "python"
    return f"pid {os.getpid()} on {socket.gethostname()} ({os.path.basename(cmd)}), since " \
           f"{time.strftime('%Y-%m-%d %H:%M:%S')}"


class _Lock:
    """A ``filelock`` lock on ``.NAME.lock`` beside an output; the file names its holder and goes on release."""

    def __init__(self, target: Path):
        self.target = target
        self.path = target.parent / f".{target.name}.lock"
        self._lock = None

    def acquire(self):
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            try:
                who = self.path.read_text(encoding="utf-8").strip() or "another process"
            except OSError:
                who = "another process"
            raise OutputError(f"{self.target} is in use by another taxoclass command ({who}); wait for it to "
                              "finish or choose another output path.") from None
        except OSError as exc:
            raise OutputError(os_error_message(exc, self.target)) from None
        self._lock = lock
        with contextlib.suppress(OSError):
            self.path.write_text(_holder_text() + "\n", encoding="utf-8")

    def release(self):
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()  # while held: waiters notice the unlinked file and retry (filelock >= 4)
            self._lock.release()
            self._lock = None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def clean_stale_parts(target: Path) -> list[Path]:
    """Remove what killed writes left beside ``target`` (``.NAME.*.part``), restoring an old result that a killed
    two-step swap had moved aside. Call it only while holding the output's lock. Returns what was removed."""
    parent, prefix = target.parent, part_name(target)
    try:
        stale = sorted(p for p in parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".part"))
    except OSError:
        return []
    olds = [p for p in stale if p.name.endswith(".old.part")]
    if olds and not target.exists():  # killed between the two renames of a fallback swap: put the old back
        os.rename(olds[0], target)
        stale.remove(olds[0])
    for p in stale:
        _remove(p)
    return stale


_TEMP_PREFIX = "taxoclass-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def clean_stale_temp() -> None:
    """Remove temporary folders of taxoclass processes that no longer run (``taxoclass-PID-xxxx`` in the system
    temporary folder, e.g. a ``model.keras`` left by a killed save or load)."""
    root = Path(tempfile.gettempdir())
    try:
        entries = list(root.glob(f"{_TEMP_PREFIX}*-*"))
    except OSError:
        return
    for p in entries:
        pid = p.name[len(_TEMP_PREFIX):].split("-", 1)[0]
        try:
            mine = p.is_dir() and p.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def temp_dir():
    """A private temporary folder named after this process (``taxoclass-PID-xxxx``), removed on exit; folders of
    processes that were killed are removed when the next one is made.

    >>> with temp_dir() as tmp:
    ...     tmp.name.startswith(f"taxoclass-{os.getpid()}-")
    True
    """
    clean_stale_temp()
    try:
        path = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-"))
    except OSError as exc:
        raise OutputError(os_error_message(exc, tempfile.gettempdir())) from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- swapping
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if os.environ.get("TAXOCLASS_TEST_SWAP_FALLBACK") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _test_pause() -> None:
    secs = os.environ.get("TAXOCLASS_TEST_SWAP_PAUSE")
    if secs:
        print("[taxoclass-test] swap", file=sys.stderr, flush=True)
        time.sleep(float(secs))


def swap_into_place(new: Path, target: Path) -> None:
    """Put the complete ``new`` (beside ``target``) at ``target``; an old ``target`` is removed only afterwards.

    With an atomic exchange the path always holds the old or the new result; otherwise the old one is first
    renamed to ``.NAME.xxxx.old.part`` and :func:`clean_stale_parts` puts it back if a kill comes in between.
    """
    _test_pause()
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        os.replace(new, target)  # rename over nothing or over an empty folder
        return
    if _exchange(new, target):
        _test_pause()
        _remove(new)  # `new` now holds the old result
        return
    old = Path(tempfile.mkdtemp(prefix=part_name(target), suffix=".old.part", dir=str(target.parent)))
    os.rmdir(old)
    os.rename(target, old)
    _test_pause()
    os.rename(new, target)
    _remove(old)


# ---------------------------------------------------------------------------------------------------- outputs
class _Output:
    """Shared by folder and file outputs: lock, stale clean-up, rollback."""

    def __init__(self, target: Path, overwrite: bool):
        self.target, self.overwrite = target, bool(overwrite)
        self._lock = _Lock(target)

    def _check_parent(self):
        if not self.target.parent.is_dir():
            raise OutputError(f"cannot create {self.target}: its folder {self.target.parent} does not exist; "
                              "create it first.")
        if not os.access(self.target.parent, os.W_OK):
            raise OutputError(f"cannot write in {self.target.parent}: permission denied; choose another output "
                              "path.")


class OutputDir(_Output):
    """An output folder claimed by :func:`prepare_output_dir`; use it as a context manager (see there)."""

    def __init__(self, target: Path, overwrite: bool, resumable):
        super().__init__(target, overwrite)
        self._resumable = resumable
        self.resuming = False
        self.path: Path | None = None
        self._mode = ""
        self._created = False
        self.check()

    def holds_files(self) -> bool:
        return self.target.is_dir() and any(p for p in self.target.iterdir() if not p.name.endswith(".part"))

    def can_resume(self) -> bool:
        return (self._resumable is not None and self.target.is_dir() and not self.overwrite
                and bool(self._resumable(self.target)))

    def check(self) -> None:
        t = self.target
        if t.exists() and not t.is_dir():
            raise OutputError(f"{t} exists and is not a folder; choose another output folder.")
        self._check_parent()
        if self.holds_files() and not self.overwrite and not self.can_resume():
            raise OutputError(f"{t} already holds files; choose a new folder or pass --overwrite "
                              "(overwrite=True) to replace them once the new result is complete.")

    def __enter__(self) -> "OutputDir":
        self._lock.acquire()
        try:
            clean_stale_parts(self.target)
            self.check()  # again, under the lock
            t = self.target
            if self.can_resume():
                self._mode, self.path, self.resuming = "resume", t, True
                for p in t.iterdir():
                    if p.name.startswith(".") and p.name.endswith(".part"):
                        _remove(p)
            elif self._resumable is not None and not self.holds_files():
                self._created = not t.exists()
                t.mkdir(exist_ok=True)  # a new run is written in place, so that a killed run can be resumed there
                self._mode, self.path = "new", t
            else:
                self._mode = "staged"
                self.path = Path(tempfile.mkdtemp(prefix=part_name(t), suffix=".part", dir=str(t.parent)))
                os.chmod(self.path, 0o777 & ~_umask())
        except OSError as exc:
            self._lock.release()
            raise OutputError(os_error_message(exc, self.target)) from None
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                if self._mode == "staged":
                    try:
                        swap_into_place(self.path, self.target)
                    except OSError as err:
                        _remove(self.path)
                        raise OutputError(os_error_message(err, self.target)) from None
            elif self._mode == "new":
                # bad input leaves nothing behind; a crash or Ctrl-C after training started keeps the run to resume
                if isinstance(exc, TaxoclassError) or not self._resumable(self.target):
                    if self._created:
                        _remove(self.target)
                    else:
                        for p in self.target.iterdir():
                            _remove(p)
            elif self._mode == "staged":
                _remove(self.path)
        finally:
            self._lock.release()
        if isinstance(exc, OSError) and not isinstance(exc, TaxoclassError):
            raise OutputError(os_error_message(exc, self.target)) from None
        return False


def prepare_output_dir(path, *, overwrite: bool = False, resumable=None) -> OutputDir:
    """Claim an output folder: check it now (nothing is written), write it inside ``with``.

    - a folder that holds files is refused unless ``overwrite``; then the new result is written beside it
      (``.NAME.xxxx.part``) and swapped in only when the ``with`` block ends without error;
    - a failed block leaves the location exactly as it was; what killed runs left beside it is removed on entry;
    - the folder is locked (``filelock``) while the block runs; a second command on it is refused, naming the
      process that holds it;
    - ``resumable(folder) -> bool`` (training): a new run is written in place and a folder holding an interrupted
      run is continued in place (``out.resuming`` is then True).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> with prepare_output_dir(target) as out:
    ...     _ = (out.path / "a.txt").write_text("ok")
    >>> sorted(p.name for p in target.iterdir())
    ['a.txt']
    """
    return OutputDir(Path(path), overwrite, resumable)


class OutputFile(_Output):
    """An output file claimed by :func:`prepare_output_file`: ``with`` it, write with ``atomic_write(out.path)``."""

    def __init__(self, target: Path, overwrite: bool, inputs):
        super().__init__(target, overwrite)
        self.path = target
        check_writable(target, overwrite=overwrite, inputs=inputs)
        self._check_parent()

    def __enter__(self) -> "OutputFile":
        self._lock.acquire()
        clean_stale_parts(self.target)
        return self

    def __exit__(self, exc_type, exc, tb):
        self._lock.release()
        if isinstance(exc, OSError) and not isinstance(exc, TaxoclassError):
            raise OutputError(os_error_message(exc, self.target)) from None
        return False


def prepare_output_file(path, *, overwrite: bool = False, inputs=()) -> OutputFile:
    """Claim one output file: checked now, locked and cleaned of stale ``.NAME.*.part`` inside ``with``.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "p.csv"
    >>> with prepare_output_file(target) as out, atomic_write(out.path) as fh:
    ...     _ = fh.write("file\\n")
    >>> target.read_text()
    'file\\n'
    """
    return OutputFile(Path(path), overwrite, inputs)
