"""``taxoclass export MODEL --target savedmodel|tflite|onnx -o DIR``: a trained model for serving.

Thin layer over :func:`taxoclass.export.export_model`; TensorFlow is imported only when the command runs.
"""

from __future__ import annotations

from taxoclass.cli.model_cmds import _progress
from taxoclass.export import MAX_REPRESENTATIVE, QUANTIZE_MODES, TARGETS  # cheap: no TensorFlow at module level


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export a trained model for serving: SavedModel, TFLite or ONNX",
        description="Write MODEL as a TensorFlow SavedModel (signatures serving_default: float images, "
                    "serving_bytes: encoded image files), a TFLite file (optionally float16 or int8 quantised) or "
                    "an ONNX file, into the folder -o DIR, with taxoclass.json beside it: class names, lineage "
                    "per class, input spec and taxoclass version.")
    p.add_argument("model", metavar="MODEL", help="a model.taxoclass file written by train")
    p.add_argument("--target", choices=TARGETS, default="savedmodel",
                   help="what the export is for: savedmodel (default; TensorFlow, TF Serving), tflite (phones, "
                        "embedded), onnx (ONNX Runtime; needs taxoclass[export])")
    p.add_argument("--quantize", choices=QUANTIZE_MODES, default="none",
                   help="tflite only: none (float32, default), float16, or int8 (needs --representative)")
    p.add_argument("--representative", metavar="DIR", default=None,
                   help=f"tflite only: folder of typical images (up to {MAX_REPRESENTATIVE} used) that calibrate int8 and measure "
                        "the export's top-1 agreement with the Keras model")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the export into")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export folder once the new one "
                                                            "is complete")
    p.set_defaults(func=export_cmd)


def export_cmd(args) -> int:
    from taxoclass.export import export_model

    out = export_model(args.model, args.output, target=args.target, quantize=args.quantize,
                       representative=args.representative, overwrite=args.overwrite, progress=_progress)
    print(f"export written to {out}")
    return 0
