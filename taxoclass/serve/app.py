"""The FastAPI app of ``taxoclass serve``: routes, limits, JSON errors. See :mod:`taxoclass.serve`."""

# no `from __future__ import annotations`: FastAPI reads the route signatures, built inside create_app
import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from taxoclass.exceptions import TaxoclassError

__all__ = ["Limits", "create_app", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class Limits:
    """What one request may hold and how requests are batched (``taxoclass serve`` flags of the same names)."""

    max_upload_mb: float = 20.0  #: largest request body, in MiB (413 beyond)
    max_images: int = 64  #: images per request (400 beyond)
    max_batch: int = 64  #: images per model call
    batch_window_ms: float = 5.0  #: how long the first request of a batch waits for others

    def check(self) -> "Limits":
        from taxoclass._checks import check_float, check_int

        check_float("max_upload_mb", self.max_upload_mb, lo=0.001, hi=4096)
        check_int("max_images", self.max_images, lo=1, hi=10_000)
        check_int("max_batch", self.max_batch, lo=1, hi=4096)
        check_float("batch_window_ms", self.batch_window_ms, lo=0, hi=1000)
        return self


class ApiError(Exception):
    """An error answered as JSON: ``{"error": code, "detail": message, ...}`` with an HTTP status."""

    def __init__(self, status: int, code: str, detail: str, **extra):
        super().__init__(detail)
        self.status, self.body = status, {"error": code, "detail": detail, **extra}


class _BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` with 413 (by Content-Length, or while it streams)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.responses import JSONResponse

        too_big = JSONResponse(status_code=413, content={
            "error": "upload_too_large", "detail": f"the request is larger than the limit of {self.max_bytes:,} "
                                                  "bytes; send fewer or smaller images per request."})
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await too_big(scope, receive, send)
        seen, started = 0, False

        async def counted():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return msg

        async def watched(msg):
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass


def _soft_function(clf):
    """images (N, H, W, C) -> class probabilities, renormalised as ``predict_proba`` does; one compiled graph (a
    Keras ``predict`` call costs ~60 ms of set-up, more than the model itself on small batches)."""
    import tensorflow as tf

    model, spec = clf.model_, clf.input_spec()
    shape = (None, spec["image_size"], spec["image_size"], spec["channels"])
    fn = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])

    def soft(x: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(fn(tf.constant(x, tf.float32)), dtype=np.float64), 0.0, None)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    return soft


def _model_info(clf, name: str, modes, limits: Limits) -> dict:
    from taxoclass import __version__
    from taxoclass.models.model_file import taxonomy_to_dict

    tax = clf.taxonomy_
    return {"name": name, "model_class": type(clf).__name__, "taxoclass_version": __version__,
            "classes": [str(c) for c in tax.classes], "lineage": {str(c): tax.lineage(c) for c in tax.classes},
            "taxonomy": taxonomy_to_dict(tax), "input_spec": clf.input_spec(), "modes": list(modes),
            "limits": asdict(limits)}


def create_app(model, *, mode: str = "soft", limits: Limits | None = None):
    """The ASGI app serving ``model`` (a fitted classifier or a ``model.taxoclass`` path); ``mode`` is the
    default of the ``mode`` query parameter.

    >>> import httpx                                                                     # doctest: +SKIP
    >>> app = create_app("run/model.taxoclass")                                          # doctest: +SKIP
    """
    try:
        from fastapi import FastAPI, File, Query, Request, UploadFile
        from fastapi.responses import HTMLResponse, JSONResponse
        from starlette.concurrency import run_in_threadpool
    except ImportError as exc:
        raise TaxoclassError(f"taxoclass serve needs FastAPI and uvicorn ({exc}); install them with pip install "
                             "'taxoclass[serve]'.") from None
    from taxoclass import __version__
    from taxoclass.jobs.rows import MODES, check_mode, json_records, prediction_columns
    from taxoclass.models import load_model
    from taxoclass.serve.batching import MicroBatcher
    from taxoclass.serve.images import BadUpload, prepare_upload
    from taxoclass.serve.page import PAGE

    limits = (limits or Limits()).check()
    name = Path(model).name if isinstance(model, (str, Path)) else type(model).__name__
    clf = load_model(model) if isinstance(model, (str, Path)) else model
    check_mode(clf, mode)
    modes = [m for m in MODES if m != "greedy" or hasattr(clf, "predict_path")]
    spec, tax = clf.input_spec(), clf.taxonomy_
    soft = _soft_function(clf)

    def run(key: str, x: np.ndarray) -> dict:
        x = x.astype(np.float32)
        return {"path": clf.predict_path(x, mode="greedy", batch_size=len(x))} if key == "greedy" else \
            {"proba": soft(x)}

    batcher = MicroBatcher(run, max_batch=limits.max_batch, window=limits.batch_window_ms / 1000)
    info = _model_info(clf, name, modes, limits)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        await batcher.start()
        run("soft", np.zeros((1, *soft_shape), np.uint8))  # compile before the first request
        yield
        await batcher.stop()

    soft_shape = (spec["image_size"], spec["image_size"], spec["channels"])
    app = FastAPI(title="taxoclass", version=__version__, lifespan=lifespan,
                  description=f"Hierarchical image classification with {name}: {len(tax.classes)} classes. POST "
                              "images to /predict; the page at / does it from a browser.")
    app.add_middleware(_BodyLimit, max_bytes=int(limits.max_upload_mb * 1024 * 1024))

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        return JSONResponse(status_code=exc.status, content=exc.body)

    @app.get("/health", summary="liveness and batching counters")
    async def health():
        return {"status": "ok", "model": name, **batcher.stats}

    @app.get("/model", summary="classes, taxonomy, input spec, modes, limits and version")
    async def model_info():
        return info

    @app.post("/predict", summary="predict one or several images (multipart field 'files')")
    async def predict(files: list[UploadFile] = File(..., description="image files (JPEG, PNG, GIF, BMP, TIFF)"),
                      threshold: float | None = Query(None, ge=0, le=1, description="also give the deepest node "
                                                      "whose probability is >= threshold (the sure node)"),
                      target_precision: float | None = Query(None, gt=0, le=1, description="instead of threshold: "
                                                             "the threshold at which the sure-node answers reach "
                                                             "this hierarchical precision on the model's validation "
                                                             "split (taxoclass.calibration.threshold_for_precision)"),
                      top_k: int | None = Query(None, ge=1, description="alternatives per image (default 3)"),
                      mode: Literal[MODES] | None = Query(None, description="soft (the most probable class), "
                                                                    "greedy (trees) or risk (the class with the "
                                                                    "lowest expected mistake severity)")):
        mode = mode or info_mode
        if mode not in modes:
            raise ApiError(400, "bad_mode", f"mode {mode!r} needs a tree model; this model offers "
                                            f"{', '.join(modes)}.")
        if len(files) > limits.max_images:
            raise ApiError(400, "too_many_images", f"{len(files)} images in one request; at most "
                                                   f"{limits.max_images}. Split them over several requests.")
        if target_precision is not None:  # the same choice as predict / evaluate --target-precision
            from taxoclass.calibration import threshold_for_precision

            if threshold is not None:
                raise ApiError(400, "bad_threshold", "give threshold or target_precision, not both.")
            try:
                threshold = float(threshold_for_precision(clf, target_precision)["threshold"])
            except TaxoclassError as exc:
                raise ApiError(400, "bad_target_precision", str(exc)) from None
        k = (1 if mode == "greedy" else min(3, len(tax.classes))) if top_k is None else top_k
        if k > len(tax.classes) or (mode == "greedy" and k != 1):
            raise ApiError(400, "bad_top_k", f"top_k={k} is not available: at most {len(tax.classes)} classes, and "
                                             "1 in greedy mode.")
        images = []
        for i, f in enumerate(files):
            part = f"files[{i}] ({f.filename or 'unnamed'})"
            data = await f.read()
            try:
                images.append(await run_in_threadpool(prepare_upload, part, data, spec))
            except BadUpload as exc:
                raise ApiError(exc.status, "not_an_image" if exc.status == 415 else "broken_image",
                               f"{exc.part}: {exc.reason}; send JPEG, PNG, GIF, BMP or TIFF images.",
                               part=f.filename, index=i) from None
        out = await batcher.submit("greedy" if mode == "greedy" else "soft", np.stack(images))  # risk: soft's batch
        records = json_records(prediction_columns(tax, top_k=k, threshold=threshold, mode=mode, **out))
        return {"model": name, "mode": mode, "threshold": threshold, "target_precision": target_precision,
                "predictions": [{"file": f.filename, **r} for f, r in zip(files, records)]}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return PAGE

    info_mode = mode
    return app


def serve(model, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, mode: str = "soft",
          limits: Limits | None = None, log_level: str = "warning") -> None:
    """Serve ``model`` over HTTP with uvicorn until interrupted (``taxoclass serve``).

    >>> serve("run/model.taxoclass", port=8000)      # doctest: +SKIP
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise TaxoclassError(f"taxoclass serve needs uvicorn ({exc}); install it with pip install "
                             "'taxoclass[serve]'.") from None
    app = create_app(model, mode=mode, limits=limits)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level)
