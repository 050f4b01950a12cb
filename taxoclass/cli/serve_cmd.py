"""``taxoclass serve MODEL``: the model as an HTTP service (needs ``taxoclass[serve]``).

Thin layer over :func:`taxoclass.serve.serve`; FastAPI, uvicorn and TensorFlow are imported only when the command
runs.
"""

from __future__ import annotations

from taxoclass.cli.model_cmds import _progress
from taxoclass.cli.scale_args import add_mode_argument

from taxoclass.serve.app import DEFAULT_HOST, DEFAULT_PORT  # cheap: FastAPI and TensorFlow load when serving


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="serve a trained model over HTTP: JSON API and an upload page",
        description="Serve MODEL over HTTP (FastAPI + uvicorn; pip install 'taxoclass[serve]'): POST /predict "
                    "(multipart field 'files', one or several images; query threshold, top_k, mode) answers one "
                    "JSON prediction per image (class, probability, lineage, top-k, sure node); GET /health, GET "
                    "/model, GET / (an upload page), OpenAPI docs at /docs. Concurrent requests are batched into "
                    "one model call.")
    p.add_argument("model", metavar="MODEL", help="a model.taxoclass file written by train")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 opens it to the "
                        "network, without authentication)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    add_mode_argument(p)
    g = p.add_argument_group("limits and batching")
    g.add_argument("--max-upload-mb", type=float, default=20.0, metavar="MB",
                   help="largest request body in MiB (default 20; larger: 413)")
    g.add_argument("--max-images", type=int, default=64, metavar="N", help="images per request (default 64)")
    g.add_argument("--max-batch", type=int, default=64, metavar="N", help="images per model call (default 64)")
    g.add_argument("--batch-window-ms", type=float, default=5.0, metavar="MS",
                   help="how long a request waits for others to share its model call (default 5)")
    p.set_defaults(func=serve_cmd)


def serve_cmd(args) -> int:
    from taxoclass._checks import check_int
    from taxoclass.serve import Limits, serve

    check_int("--port", args.port, lo=1, hi=65535)
    limits = Limits(max_upload_mb=args.max_upload_mb, max_images=args.max_images, max_batch=args.max_batch,
                    batch_window_ms=args.batch_window_ms).check()
    _progress(f"serving {args.model} at http://{args.host}:{args.port}/ (API docs at /docs; Ctrl-C stops)")
    serve(args.model, host=args.host, port=args.port, mode=args.mode, limits=limits)
    return 0
