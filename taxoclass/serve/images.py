"""Uploaded image bytes -> the model's input array, exactly as the input pipeline prepares an image file
(:func:`taxoclass.data.make_dataset`): checked and decoded like a file (plain JPEG/PNG by TensorFlow, other
formats through PIL), fitted to the square input with the model's input spec, rounded to uint8."""

from __future__ import annotations

import numpy as np

from taxoclass.data.checks import DEFAULT_MAX_PIXELS, check_file, pil_decode

__all__ = ["BadUpload", "prepare_upload"]


class BadUpload(Exception):
    """An uploaded part that is not a readable image; ``status`` 415 (not an image) or 400 (broken image)."""

    def __init__(self, part: str, reason: str, status: int):
        super().__init__(f"{part}: {reason}")
        self.part, self.reason, self.status = part, reason, status


def prepare_upload(part: str, data: bytes, spec: dict, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One uploaded image (``data``, named ``part`` in errors) as a uint8 (size, size, channels) array prepared
    with the model's ``input_spec()``; :class:`BadUpload` when it cannot be read.

    >>> import io; from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (4, 2), (255, 0, 0)).save(buf, "PNG")
    >>> spec = dict(image_size=8, channels=3, pad_value=255.0, invert=False, resize="pad")
    >>> prepare_upload("a.png", buf.getvalue(), spec).shape
    (8, 8, 3)
    """
    import tensorflow as tf

    from taxoclass.data.pipeline import fit_to_square

    check = check_file(part, data, max_pixels=max_pixels)
    if check.status == "bad":
        raise BadUpload(part, check.reason, 415 if check.reason.startswith("not an image") else 400)
    channels = int(spec["channels"])
    if check.status == "convert":
        img = tf.constant(pil_decode(data, channels, float(spec["pad_value"])))
    else:
        img = tf.io.decode_image(data, channels=channels, expand_animations=False, dtype=tf.uint8)
    out = fit_to_square(img, spec["image_size"], resize=spec["resize"], pad_value=spec["pad_value"],
                        invert=spec["invert"])
    return tf.cast(tf.round(out), tf.uint8).numpy()
