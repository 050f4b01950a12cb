"""``predict_job``: label new images with a saved model and write a predictions table."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from taxoclass.exceptions import TaxoclassError
from taxoclass.jobs.inference import check_tta, noop as _noop
from taxoclass.jobs.stream import DEFAULT_CHUNK, ENGINES, ImageFiles
from taxoclass.models import load_model as _load_model

__all__ = ["predict_job"]


def predict_job(model_path, data, out_csv, *, threshold=None, top_k: int | None = None, batch_size: int = 64,
                tta: int = 1, mode: str = "soft", resume: bool = False, chunk_size: int = DEFAULT_CHUNK,
                engine: str = "local", overwrite: bool = False, progress: Callable[[str], None] = _noop) -> dict:
    """Label images with a saved model; write a CSV (file, class, probability, lineage, top-k, and the deepest
    node the model is sure of with ``threshold``). ``top_k`` defaults to 3, or the model's number of classes when it
    has fewer; ``tta=n`` averages the probabilities of ``n`` fixed views; ``mode="greedy"`` (trees) evaluates only
    the nodes on each image's path (no top-k). ``data`` is an ImageSet or an :class:`~taxoclass.jobs.stream.ImageFiles`
    listing; images are predicted and rows written ``chunk_size`` at a time (bounded memory), and ``resume=True``
    continues an interrupted run after its last written row. ``engine="ray"`` runs the model in a Ray Data
    pipeline (:mod:`taxoclass.jobs.ray_engine`) and writes the same rows. Returns ``{"rows", "images_per_second", ...}``.

    >>> predict_job("run/model.taxoclass", ImageFiles(folder="new/"), "labels.csv", threshold=0.8)  # doctest: +SKIP
    """
    from taxoclass._checks import check_float, check_int
    from taxoclass._files import prepare_output_file
    from taxoclass.jobs.rows import check_mode
    from taxoclass.jobs.stream import write_predictions

    tta = check_tta(tta)
    check_int("top_k", top_k, lo=1, none=True)
    check_int("batch_size", batch_size, lo=1, hi=4096)
    check_int("chunk_size", chunk_size, lo=1)
    check_float("threshold", threshold, lo=0, hi=1, none=True)
    if engine not in ENGINES:
        raise TaxoclassError(f"engine {engine!r} is not valid; expected one of {', '.join(ENGINES)}.")
    output = prepare_output_file(out_csv, overwrite=overwrite)
    clf = _load_model(model_path)
    check_mode(clf, mode, tta)
    tax = clf.taxonomy_
    top_k = (1 if mode == "greedy" else min(3, tax.n_classes)) if top_k is None else top_k
    if not 1 <= int(top_k) <= tax.n_classes:
        raise TaxoclassError(f"top_k must be between 1 and {tax.n_classes} (the model's classes), got {top_k}.")
    if mode == "greedy" and top_k != 1:
        raise TaxoclassError("top_k: mode 'greedy' computes only the nodes on each image's path, so it has no "
                             "alternatives; leave out --top-k or use mode 'soft'.")
    progress(f"predicting {'' if isinstance(data, ImageFiles) else f'{len(data)} '}images with "
             f"{Path(model_path).name} ...")
    with output:
        result = write_predictions(clf, data, output.path, mode=mode, threshold=threshold, top_k=int(top_k),
                                   tta=tta, batch_size=batch_size, chunk_size=chunk_size, resume=resume,
                                   overwrite=overwrite, engine=engine, model_path=model_path,
                                   config={"model": str(Path(model_path).resolve())},
                                   progress=progress)
    progress(f"wrote {result['rows']} predictions to {output.path}")
    return result
