"""``taxoclass serve``: a trained model as an HTTP service (FastAPI + uvicorn, the ``taxoclass[serve]`` extra).

- :func:`create_app` builds the ASGI app: ``POST /predict`` (multipart images -> one JSON prediction per image,
  the rows of :func:`taxoclass.jobs.rows.prediction_columns`), ``GET /health``, ``GET /model``, ``GET /`` (an
  upload page), OpenAPI docs at ``/docs``.
- Concurrent requests are gathered by :class:`taxoclass.serve.batching.MicroBatcher` (a short batching window) so
  that one model call serves many requests.
- :func:`serve` runs the app with uvicorn, bound to 127.0.0.1 unless told otherwise.

>>> app = create_app("run/model.taxoclass")             # doctest: +SKIP
>>> serve("run/model.taxoclass", port=8000)             # doctest: +SKIP
"""

from taxoclass.serve.app import Limits, create_app, serve

__all__ = ["create_app", "serve", "Limits"]
