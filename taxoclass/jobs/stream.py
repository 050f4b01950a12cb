"""Prediction over any number of images in bounded memory: the images are listed lazily
(:class:`ImageFiles`), read, predicted and written chunk by chunk, rows appended as they are predicted
(:func:`write_predictions`), and an interrupted run continues after its last written row (``resume=True``).

While it runs, ``OUT.partial`` holds the rows written so far and ``OUT.partial.json`` how far the listing got
(images consumed, bytes of rows kept, the options); the finished table is renamed onto ``OUT``.

>>> files = ImageFiles(folder="cruise_42/")                                      # doctest: +SKIP
>>> write_predictions(clf, files, "cruise_42.csv", chunk_size=4096)              # doctest: +SKIP
{'rows': 1250000, ...}
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

from taxoclass.exceptions import DataError, TaxoclassError

__all__ = ["ImageFiles", "write_predictions", "partial_paths", "DEFAULT_CHUNK", "ENGINES"]

#: images read, predicted and written at a time
DEFAULT_CHUNK = 1024
#: where the model runs: this process, or a Ray Data pipeline (taxoclass[ray])
ENGINES = ("local", "ray")


def _walk(root: Path) -> Iterator[str]:
    """Image files under ``root`` in sorted path order (as ``sorted(root.rglob("*"))``), one folder in memory at
    a time."""
    from taxoclass.data.imageset import IMAGE_EXTENSIONS

    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            yield from _walk(Path(e.path))
        elif os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and e.is_file():
            yield e.path


class ImageFiles:
    """Images to label, listed lazily: files, a folder searched recursively, and/or a CSV column of paths.

    Checked when built (folder exists, CSV readable with a file column); :meth:`count` walks the listing once,
    checking that every file exists, without keeping it; iterating lists the paths again in the same order.

    >>> files = ImageFiles(csv="to_label.csv", file_column="path")               # doctest: +SKIP
    >>> files.count()                                                            # doctest: +SKIP
    120000
    """

    def __init__(self, paths: Sequence[str] = (), *, folder=None, csv=None, file_column: str | None = None):
        self.paths = [str(p) for p in paths]
        self.folder = None if folder is None else Path(folder)
        self.csv = None if csv is None else Path(csv)
        self.file_column = file_column
        if self.folder is not None and not self.folder.is_dir():
            raise DataError(f"{self.folder} is not a folder.")
        self._sep = "\t" if self.csv is not None and self.csv.suffix.lower() in (".tsv", ".tab", ".txt") else ","
        if self.csv is not None:
            self._column = self._csv_column()
        if not self.paths and self.folder is None and self.csv is None:
            raise DataError("no images to predict: give image files, --dir FOLDER or --csv FILE.")

    def describe(self) -> dict:
        """The sources, as recorded with a partial run (a resumed run must list the same images)."""
        return {"paths": [str(Path(p).resolve()) for p in self.paths][:1000], "n_paths": len(self.paths),
                "folder": None if self.folder is None else str(self.folder.resolve()),
                "csv": None if self.csv is None else str(self.csv.resolve()), "file_column": self.file_column}

    def _read_csv(self, **kw):
        import pandas as pd

        try:
            return pd.read_csv(self.csv, sep=self._sep, dtype=str, keep_default_na=False,
                               encoding_errors="surrogateescape", **kw)
        except FileNotFoundError:
            raise DataError(f"{self.csv}: file not found; give the CSV that lists the images.") from None
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
            raise DataError(f"{self.csv}: cannot read the list of images ({str(exc).strip() or 'empty file'}); "
                            "expected a header line such as 'file' and one image path per line.") from None

    def _csv_column(self) -> str:
        columns = list(self._read_csv(nrows=0).columns)
        col = self.file_column or next((c for c in columns if c.strip().lower() in (
            "file", "path", "filename", "image", "img_file_name")), None)
        if col is None and len(columns) == 1:
            col = columns[0]  # a plain list of paths
        if col is None or col not in columns:
            raise DataError(f"{self.csv}: no file column found (columns: {', '.join(columns)}); name it with "
                            "--file-column.")
        return col

    def __iter__(self) -> Iterator[str]:
        yield from self.paths
        if self.folder is not None:
            yield from _walk(self.folder)
        if self.csv is not None:
            base = self.csv.parent
            for chunk in self._read_csv(usecols=[self._column], chunksize=65536):
                for v in chunk[self._column].astype(str):
                    if v.strip():
                        p = Path(v)
                        yield str(p if p.is_absolute() else base / p)

    def count(self) -> int:
        """The number of images; one DataError listing the files that do not exist (up to 20)."""
        n, missing = 0, []
        for p in self:
            n += 1
            if not os.path.isfile(p):
                missing.append(p)
        if missing:
            raise DataError(f"{len(missing)} image file(s) do not exist: {', '.join(missing[:20])}"
                            + (" ..." if len(missing) > 20 else ""))
        if n == 0:
            raise DataError("no images to predict: the folder or CSV lists no image files "
                            "(.jpg, .jpeg, .png, .gif, .bmp, .tif, .tiff).")
        return n

    def image_set(self, paths: Sequence[str], *, check: bool = True):
        """An ImageSet of these paths (unreadable files dropped with one warning when ``check``)."""
        from taxoclass.data import ImageSet

        keys = [str(Path(p).resolve()) for p in paths]
        ds = ImageSet(keys, ["?"] * len(keys), ["?"], root="/", source="images to predict")
        return ds.check(on_error="warn") if check else ds


def partial_paths(out_csv) -> tuple[Path, Path]:
    """(rows written so far, progress record) of an unfinished prediction into ``out_csv``."""
    out = Path(out_csv)
    return out.with_name(out.name + ".partial"), out.with_name(out.name + ".partial.json")


def _chunks(data, size: int, skip: int):
    """(number of listed images consumed, ImageSet) per chunk; ``data`` is an ImageFiles or an ImageSet."""
    if isinstance(data, ImageFiles):
        buf, done = [], 0
        for p in data:
            done += 1
            if done <= skip:
                continue
            buf.append(p)
            if len(buf) == size:
                yield done, data.image_set(buf)
                buf = []
        if buf:
            yield done, data.image_set(buf)
        return
    import numpy as np

    for start in range(skip, len(data), size):
        stop = min(start + size, len(data))
        yield stop, data.subset(np.arange(start, stop))


def _duration(secs: float) -> str:
    secs = int(round(secs))
    return f"{secs // 3600} h {secs % 3600 // 60:02d} min" if secs >= 3600 else \
        f"{secs // 60} min {secs % 60:02d} s" if secs >= 60 else f"{secs} s"


def _start(partial: Path, state: Path, config: dict, *, resume: bool, overwrite: bool) -> dict:
    """The progress to continue from ({"consumed", "rows", "bytes"}), after checking a partial run."""
    if not resume:
        if state.exists() and not overwrite:
            raise TaxoclassError(f"{partial} holds an unfinished prediction; run with --resume to continue it, or "
                                 "with --overwrite to start again.")
        partial.unlink(missing_ok=True)
        state.unlink(missing_ok=True)
        return {"consumed": 0, "rows": 0, "bytes": 0}
    try:
        saved = json.loads(state.read_text(encoding="utf-8"))
        size = partial.stat().st_size
    except (OSError, ValueError):
        raise TaxoclassError(f"--resume: no unfinished prediction to continue beside {partial.name[:-8]} (no "
                             f"readable {state.name}); run without --resume to start.") from None
    old = saved.get("config", {})
    diff = [f"{k}: {old.get(k)!r} -> {v!r}" for k, v in config.items() if old.get(k) != v]
    if diff:
        raise TaxoclassError(f"--resume: the unfinished prediction used other options ({'; '.join(diff[:4])}); "
                             "resume with the same ones, or run with --overwrite to start again.")
    if size < saved["bytes"]:
        raise TaxoclassError(f"--resume: {partial} is shorter than recorded; run with --overwrite to start again.")
    with open(partial, "r+b") as fh:  # drop rows of a chunk that was being written when the run stopped
        fh.truncate(saved["bytes"])
    return saved


def _local_tables(clf, data, *, chunk_size: int, mode: str, threshold, top_k: int, tta: int, batch_size: int,
                  tta_mode: str = "auto"):
    """skip -> iterator of (images of the listing consumed, table rows of the chunk) on this machine."""
    from taxoclass.jobs.inference import images_dataset
    from taxoclass.jobs.rows import csv_frame, model_outputs, prediction_columns

    def tables(skip: int):
        for consumed, chunk in _chunks(data, chunk_size, skip):
            if not len(chunk):
                yield consumed, None
                continue
            ds = images_dataset(chunk, clf, batch_size=batch_size, with_labels=False)
            cols = prediction_columns(clf.taxonomy_, top_k=top_k, threshold=threshold,
                                      **model_outputs(clf, ds, mode, tta=tta, tta_mode=tta_mode))
            yield consumed, csv_frame(cols, [chunk._where(k) for k in chunk.keys])

    return tables


def write_predictions(clf, data, out_csv, *, mode: str = "soft", threshold=None, top_k: int = 1, tta: int = 1,
                      tta_mode: str = "auto", batch_size: int = 64, chunk_size: int = DEFAULT_CHUNK,
                      resume: bool = False,
                      overwrite: bool = False, engine: str = "local", model_path=None, config: dict | None = None,
                      progress: Callable[[str], None] = lambda _m: None) -> dict:
    """Predict ``data`` (an :class:`ImageFiles` or an ImageSet) chunk by chunk, appending the table rows of
    :func:`taxoclass.jobs.rows.csv_frame` to ``OUT.partial`` as they are predicted; rename it onto ``out_csv``
    when all are written. ``resume=True`` continues an interrupted run after its last written row.
    ``engine="ray"`` predicts in a Ray Data pipeline (:mod:`taxoclass.jobs.ray_engine`; needs ``model_path`` and
    an ImageFiles) and writes the same rows in the same order. The caller has checked the options and claimed
    ``out_csv`` (:func:`taxoclass._files.prepare_output_file`). Returns ``{"rows", "images", "seconds",
    "images_per_second", "output"}``."""
    from taxoclass._files import OutputError, atomic_write, os_error_message

    out = Path(out_csv)
    partial, state = partial_paths(out)
    total = data.count() if isinstance(data, ImageFiles) else len(data)
    opts = dict(chunk_size=int(chunk_size), mode=mode, threshold=threshold, top_k=top_k, tta=tta,
                tta_mode=tta_mode, batch_size=batch_size)
    if engine == "ray":
        from taxoclass.jobs.ray_engine import ray_tables

        tables = ray_tables(model_path, data, total=total, **opts)
    else:
        tables = _local_tables(clf, data, **opts)
    config = {**(config or {}), "mode": mode, "threshold": threshold, "top_k": top_k, "tta": tta,
              **({} if tta_mode == "auto" else {"tta_mode": tta_mode}), "images": total,
              "source": data.describe() if isinstance(data, ImageFiles) else None}
    config = json.loads(json.dumps(config))
    done = _start(partial, state, config, resume=resume, overwrite=overwrite)
    if done["consumed"]:
        progress(f"resuming after {done['rows']:,} written rows ({done['consumed']:,} of {total:,} images done)")
    t0, last, seen = time.perf_counter(), 0.0, 0
    try:
        with open(partial, "ab") as fh:
            for consumed, frame in tables(done["consumed"]):
                if frame is not None and len(frame):
                    text = frame.to_csv(index=False, header=done["bytes"] == 0, float_format="%.6g",
                                        lineterminator="\n")
                    fh.write(text.encode("utf-8", "surrogateescape"))
                    fh.flush()
                    os.fsync(fh.fileno())
                seen += consumed - done["consumed"]
                done = {"consumed": consumed, "rows": done["rows"] + (0 if frame is None else len(frame)),
                        "bytes": fh.tell()}
                with atomic_write(state, "w", encoding="utf-8") as sf:
                    json.dump({**done, "config": config}, sf)
                now = time.perf_counter() - t0
                if now - last >= 2.0 or consumed == total:
                    last, rate = now, seen / max(now, 1e-9)
                    progress(f"{consumed:,}/{total:,} images ({consumed / total:.0%}), {rate:,.0f} img/s, "
                             f"{_duration((total - consumed) / max(rate, 1e-9))} left")
        os.replace(partial, out)
        state.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(os_error_message(exc, out)) from None
    except BaseException:
        if done["rows"]:
            progress(f"stopped: {done['rows']:,} predictions kept in {partial}; run the same command with --resume "
                     "to continue after them")
        raise
    secs = time.perf_counter() - t0
    return {"rows": done["rows"], "images": seen, "seconds": secs, "images_per_second": seen / max(secs, 1e-9),
            "output": str(out)}
