"""Export a trained model for serving: a TensorFlow SavedModel, a TFLite file or an ONNX file, each with a
sidecar ``taxoclass.json`` (class names, taxonomy lineage per class, input spec, taxoclass version).

Every export is a folder written by :func:`export_model` (``taxoclass export MODEL --target ... -o DIR``):

- ``savedmodel``: ``saved_model.pb`` + ``variables/`` (Keras ``ExportArchive``) with two signatures:
  ``serving_default`` takes ``images``, a float32 batch (N, H, W, C) of raw [0, 255] pixel values already
  resized to the model's input (as ``taxoclass.data.make_dataset`` prepares them), and ``serving_bytes`` takes
  ``image_bytes``, a batch of encoded PNG/JPEG/GIF/BMP files, decoded, padded and resized in the graph with the
  model's own input spec (:func:`taxoclass.data.pipeline.fit_to_square`). Both return ``probabilities``
  (N, n_classes) in the sidecar's class order, equal to ``clf.predict_proba``.
- ``tflite``: ``model.tflite`` with the float signature; ``quantize="float16"`` halves the weights,
  ``quantize="int8"`` quantises weights and activations, calibrated on ``representative`` images.
- ``onnx``: ``model.onnx`` (tf2onnx, opset :data:`ONNX_OPSET`) with the float input; needs the ``export`` extra
  (``pip install 'taxoclass[export]'``).

>>> export_model("plankton.taxoclass", "plankton_tflite", target="tflite")      # doctest: +SKIP
PosixPath('plankton_tflite')
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from taxoclass.exceptions import DataError, ModelError, TaxoclassError
from taxoclass.models.inputs import check_images

__all__ = ["export_model", "tflite_interpreter", "TARGETS", "QUANTIZE_MODES", "SIDECAR", "ONNX_OPSET"]

TARGETS = ("savedmodel", "tflite", "onnx")
QUANTIZE_MODES = ("none", "float16", "int8")
SIDECAR = "taxoclass.json"
MODEL_FILES = {"tflite": "model.tflite", "onnx": "model.onnx"}
ONNX_OPSET = 17
#: at most this many representative images calibrate an int8 model and measure the agreement of a TFLite export
MAX_REPRESENTATIVE = 200


def _noop(_msg: str) -> None:
    pass


def check_export(target: str, quantize: str = "none", representative=None) -> None:
    """Check the export options (nothing is read or written); raise one TaxoclassError naming the fix.

    >>> check_export("tflite", "int8")
    Traceback (most recent call last):
    ...
    taxoclass.exceptions.TaxoclassError: quantize='int8' needs representative images to calibrate the \
activations; give a folder of typical images (--representative DIR).
    """
    if target not in TARGETS:
        raise TaxoclassError(f"target {target!r} is not known; expected one of {', '.join(TARGETS)}.")
    if quantize not in QUANTIZE_MODES:
        raise TaxoclassError(f"quantize {quantize!r} is not known; expected one of {', '.join(QUANTIZE_MODES)}.")
    if quantize != "none" and target != "tflite":
        raise TaxoclassError(f"quantize={quantize!r} applies to the tflite target only; use --target tflite or "
                             "leave out --quantize.")
    if representative is not None and target != "tflite":
        raise TaxoclassError("representative images are used by the tflite target only (int8 calibration and "
                             "the agreement check); leave out --representative or use --target tflite.")
    if quantize == "int8" and representative is None:
        raise TaxoclassError("quantize='int8' needs representative images to calibrate the activations; give a "
                             "folder of typical images (--representative DIR).")
    if target == "onnx":
        _onnx_modules()


def _onnx_modules():
    """tf2onnx and onnx, or one TaxoclassError saying how to install them."""
    try:
        import onnx  # noqa: F401
        import tf2onnx
    except ImportError as exc:
        raise TaxoclassError(f"ONNX export needs tf2onnx and onnx ({exc}); install them with "
                             "pip install 'taxoclass[export]'.") from None
    return tf2onnx


def _representative_images(representative, clf) -> np.ndarray:
    """Representative images as a float32 array prepared like the model's input: a folder of image files (read
    with the model's input spec) or an array (N, H, W[, C]) of [0, 255] pixel values."""
    if isinstance(representative, (str, Path)):
        from taxoclass.jobs import images_dataset

        ds = images_dataset(_representative_files(representative), clf, batch_size=64, with_labels=False).unbatch().take(MAX_REPRESENTATIVE)
        images = np.stack([np.asarray(x) for x in ds])
    else:
        images = check_images(np.asarray(representative), expected_shape=clf._expected_input_shape(),
                              what="representative")[:MAX_REPRESENTATIVE]
    return images.astype(np.float32)


def _representative_files(folder):
    """The image files under ``folder`` (an ImageSet), or one DataError saying what to give."""
    from taxoclass.data.imageset import IMAGE_EXTENSIONS
    from taxoclass.jobs import unlabelled_images

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"representative images: {folder} is not a folder; give a folder of typical images.")
    if not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.rglob("*")):
        raise DataError(f"representative images: {folder} holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}"
                        "); give a folder of typical images.")
    return unlabelled_images(folder=folder)


def _serving_function(clf):
    """images (N, H, W, C) float32 -> {"probabilities": (N, n_classes)}, renormalised and calibrated (the model's
    temperature, :func:`taxoclass.calibration.apply_temperature`) like ``predict_proba``."""
    import tensorflow as tf

    model = clf.model_
    T = float(getattr(clf, "temperature_", 1.0))

    def serve(images):
        p = tf.maximum(tf.cast(model(images, training=False), tf.float32), 0.0)
        p = p / tf.reduce_sum(p, axis=1, keepdims=True)
        if T != 1.0:
            p = tf.nn.softmax(tf.math.log(tf.maximum(p, 1e-12)) / T, axis=1)
        return {"probabilities": p}

    return serve


def _bytes_function(clf, serve):
    """image_bytes (N,) encoded files -> the same probabilities, prepared in the graph like the input pipeline."""
    import tensorflow as tf

    from taxoclass.data.pipeline import fit_to_square

    spec = clf.input_spec()
    size, channels = spec["image_size"], spec["channels"]

    def prepare(blob):
        img = tf.io.decode_image(blob, channels=channels, expand_animations=False, dtype=tf.uint8)
        img = tf.ensure_shape(img, (None, None, channels))
        out = fit_to_square(img, size, resize=spec["resize"], pad_value=spec["pad_value"], invert=spec["invert"])
        return tf.round(out)  # the pipeline keeps resized images as uint8

    def serve_bytes(image_bytes):
        images = tf.map_fn(prepare, image_bytes, fn_output_signature=tf.TensorSpec((size, size, channels),
                                                                                   tf.float32))
        return serve(images)

    return serve_bytes


def _input_signature(clf):
    import tensorflow as tf

    spec = clf.input_spec()
    if spec["image_size"] is None:
        raise ModelError("the model has no fixed input_shape, so its export would have no input size; set "
                         "input_shape=(size, size, channels) and train it again.")
    return tf.TensorSpec((None, spec["image_size"], spec["image_size"], spec["channels"]), tf.float32,
                         name="images")


def _write_savedmodel(clf, folder: Path, *, with_bytes: bool = True) -> None:
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(clf.model_)
    serve = _serving_function(clf)
    archive.add_endpoint("serving_default", serve, input_signature=[_input_signature(clf)])
    if with_bytes:
        archive.add_endpoint("serving_bytes", _bytes_function(clf, serve),
                             input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
    archive.write_out(str(folder), verbose=False)


def tflite_interpreter(path_or_content):
    """A TFLite interpreter (LiteRT's ``ai_edge_litert`` when installed, else ``tf.lite``) with its tensors
    allocated; ``interpreter.get_signature_runner()(images=x)["probabilities"]`` runs the export.

    >>> runner = tflite_interpreter("plankton_tflite/model.tflite").get_signature_runner()   # doctest: +SKIP
    """
    kw = {"model_content": path_or_content} if isinstance(path_or_content, bytes) else \
        {"model_path": str(path_or_content)}
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moves to LiteRT (ai_edge_litert)
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
        itp = Interpreter(**kw)
    itp.allocate_tensors()
    return itp


def _tflite_bytes(clf, quantize: str, images: np.ndarray | None) -> bytes:
    import tensorflow as tf

    from taxoclass._files import temp_dir

    with temp_dir() as tmp:
        _write_savedmodel(clf, tmp / "savedmodel", with_bytes=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "savedmodel"), signature_keys=["serving_default"])
        if quantize != "none":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            conv.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            conv.representative_dataset = lambda: ([x[None]] for x in images)
        return conv.convert()


def _agreement(clf, content: bytes, images: np.ndarray) -> dict:
    """How far a TFLite export is from ``predict_proba`` on ``images``: top-1 agreement and largest difference."""
    runner = tflite_interpreter(content).get_signature_runner("serving_default")
    got = np.concatenate([runner(images=images[i:i + 1])["probabilities"] for i in range(len(images))])
    ref = clf.predict_proba(images)
    return {"images": int(len(images)), "top1_agreement": float(np.mean(got.argmax(1) == ref.argmax(1))),
            "max_abs_difference": float(np.abs(got - ref).max())}


def _write_onnx(clf, path: Path) -> None:
    import tensorflow as tf

    tf2onnx = _onnx_modules()
    fn = tf.function(_serving_function(clf), input_signature=[_input_signature(clf)])
    tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=ONNX_OPSET, output_path=str(path))


def sidecar(clf, *, target: str, quantize: str = "none", check: dict | None = None) -> dict:
    """What travels with an export (``taxoclass.json``): classes, lineage per class, taxonomy, input spec,
    inputs and outputs, taxoclass version."""
    from taxoclass import __version__
    from taxoclass.models.model_file import taxonomy_to_dict

    tax, spec = clf.taxonomy_, clf.input_spec()
    shape = f"(batch, {spec['image_size']}, {spec['image_size']}, {spec['channels']})"
    inputs = {"images": f"float32 {shape}: raw pixel values 0-255, padded and resized as input_spec says"}
    if target == "savedmodel":
        inputs["image_bytes"] = "string (batch,): encoded image files (signature serving_bytes)"
    meta = {"target": target, "file": MODEL_FILES.get(target), "quantize": quantize,
            "taxoclass_version": __version__, "model_class": type(clf).__name__,
            "classes": [str(c) for c in tax.classes],
            "lineage": {str(c): tax.lineage(c) for c in tax.classes}, "input_spec": spec, "inputs": inputs,
            "outputs": {"probabilities": "float32 (batch, n_classes): leaf probabilities in 'classes' order, "
                                         "calibrated with the model's temperature"},
            "temperature": float(getattr(clf, "temperature_", 1.0)), "taxonomy": taxonomy_to_dict(tax)}
    if target == "onnx":
        meta["onnx_opset"] = ONNX_OPSET
    if check is not None:
        meta["check"] = check
    return meta


def export_model(model, output, *, target: str = "savedmodel", quantize: str = "none", representative=None,
                 overwrite: bool = False, progress: Callable[[str], None] = _noop) -> Path:
    """Export a fitted classifier (or a ``model.taxoclass`` path) into the folder ``output``; returns it.

    Parameters
    ----------
    model : a fitted TreeClassifier / FlatClassifier, or the path of a saved model file.
    output : folder to write: the export plus ``taxoclass.json``. An existing folder holding files is replaced
        only with ``overwrite=True``, once the new export is complete; a failed export leaves it as it was.
    target : "savedmodel", "tflite" or "onnx": what the export is for.
    quantize : tflite only: "none" (float32), "float16" or "int8".
    representative : tflite only (required for "int8"): a folder of typical images, or an array (N, H, W[, C])
        of [0, 255] pixels; up to :data:`MAX_REPRESENTATIVE` of them calibrate int8, and the top-1 agreement of
        the export with ``predict_proba`` on them is recorded in ``taxoclass.json`` (``check``).

    >>> export_model(clf, "export/plankton", target="savedmodel")             # doctest: +SKIP
    PosixPath('export/plankton')
    >>> export_model("m.taxoclass", "export/q", target="tflite", quantize="int8",
    ...              representative="images/sample")                          # doctest: +SKIP
    PosixPath('export/q')
    """
    from taxoclass._files import prepare_output_dir
    from taxoclass._json import write_json

    check_export(target, quantize, representative)
    if isinstance(representative, (str, Path)):
        _representative_files(representative)  # before anything is loaded or written
    output = Path(output)
    claim = prepare_output_dir(output, overwrite=overwrite)  # checked now, written only at the end
    if isinstance(model, (str, Path)):
        from taxoclass.models.base import BaseClassifier

        clf = BaseClassifier.load(model)
    else:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(model, "model_")
        clf = model
    _input_signature(clf)
    images = None if representative is None else _representative_images(representative, clf)
    progress(f"exporting {type(clf).__name__} ({len(clf.classes_)} classes) as {target}"
             + (f", {quantize} quantised" if quantize != "none" else "") + " ...")
    check = None
    with claim as out:
        if target == "savedmodel":
            _write_savedmodel(clf, out.path)
        elif target == "tflite":
            content = _tflite_bytes(clf, quantize, images)
            (out.path / MODEL_FILES["tflite"]).write_bytes(content)
            if images is not None:
                check = _agreement(clf, content, images)
                progress(f"top-1 agreement with the Keras model on {check['images']} representative images: "
                         f"{check['top1_agreement']:.1%}")
        else:
            _write_onnx(clf, out.path / MODEL_FILES["onnx"])
        write_json(out.path / SIDECAR, sidecar(clf, target=target, quantize=quantize, check=check))
    return output
