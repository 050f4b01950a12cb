"""``taxoclass predict --engine ray``: prediction as a Ray Data pipeline (the ``taxoclass[ray]`` extra).

The image paths become a Ray dataset; ``map_batches`` runs a pool of model actors (each loads the model file
once, then predicts ``chunk_size`` images per call with the same row builder as the local path); the driver
receives the rows in listing order (``preserve_order``) and writes them exactly as the local engine does
(:func:`taxoclass.jobs.stream.write_predictions`: partial file, progress, ``--resume``).

Where it runs: on the Ray cluster named by ``RAY_ADDRESS`` (e.g. ``ray://head:10001`` or ``auto`` on a node of
the cluster), else on a local Ray instance started with this machine's CPUs. Every node needs taxoclass and the
model file at the same path (a shared file system), and so do the images.

>>> ray.init(num_cpus=2)                                                                    # doctest: +SKIP
>>> predict_job("m.taxoclass", ImageFiles(folder="imgs"), "p.csv", engine="ray")            # doctest: +SKIP
"""

from __future__ import annotations

import os

from taxoclass.exceptions import TaxoclassError

__all__ = ["ray_tables"]

_INDEX = "_listing_index"


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise TaxoclassError(f"--engine ray needs Ray Data ({exc}); install it with pip install 'taxoclass[ray]', "
                             "or use --engine local.") from None
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False)
    return ray


class _Predictor:
    """A Ray actor: the model, loaded once; a batch of {index, path} -> its table rows (pandas), index kept."""

    def __init__(self, model_path: str, opts: dict):
        from taxoclass.jobs.stream import _local_tables
        from taxoclass.models import load_model

        self.clf, self.opts, self._local_tables = load_model(model_path), opts, _local_tables

    def __call__(self, batch):
        import pandas as pd

        from taxoclass.jobs.stream import ImageFiles

        paths = [str(p) for p in batch["path"]]
        files = ImageFiles(paths)
        (_, frame), = self._local_tables(self.clf, files, **{**self.opts, "chunk_size": len(paths)})(0)
        if frame is None:
            return pd.DataFrame({_INDEX: pd.Series([], dtype="int64")})
        where = {os.path.realpath(p): int(i) for p, i in zip(paths, batch[_INDEX])}
        frame.insert(0, _INDEX, [where[os.path.realpath(f)] for f in frame["file"]])
        return frame


def ray_tables(model_path, data, *, total: int, chunk_size: int, workers: int | None = None, **opts):
    """skip -> iterator of (images of the listing consumed, table rows) computed by Ray actors, in listing order;
    the Ray counterpart of :func:`taxoclass.jobs.stream._local_tables`."""
    from taxoclass.jobs.stream import ImageFiles

    if model_path is None or not isinstance(data, ImageFiles):
        raise TaxoclassError("--engine ray needs a model file and images listed as files, a folder or a CSV.")
    ray = _ray()
    model_path = str(os.path.realpath(model_path))

    def tables(skip: int):
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        items = [{_INDEX: i, "path": p} for i, p in enumerate(data) if i >= skip]
        if not items:
            return
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        pipeline = ray.data.from_items(items).map_batches(
            _Predictor, fn_constructor_args=(model_path, opts), batch_size=int(chunk_size), batch_format="numpy",
            concurrency=workers or max(1, cpus - 1), num_cpus=1)
        for frame in pipeline.iter_batches(batch_size=None, batch_format="pandas"):
            if len(frame):
                consumed = int(frame[_INDEX].max()) + 1
                yield consumed, frame.drop(columns=[_INDEX]).reset_index(drop=True)
        yield total, None

    return tables
