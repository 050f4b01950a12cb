"""Bad-file detection: every image is opened and fully decoded once, when a dataset is built, never mid-epoch.

Each file ends up in one of three states:

- ``"ok"``: a plain 8-bit gray or RGB JPEG/PNG that TensorFlow decodes directly (the fast path);
- ``"convert"``: readable but odd (16-bit, RGBA/LA, CMYK, palette, 1-bit, TIFF/BMP/GIF/WebP...): decoded with PIL
  and normalised to 8-bit gray/RGB by :func:`pil_decode` (the pipeline routes only these files through PIL);
- ``"bad"``: unreadable (zero bytes, not an image, truncated or corrupt data, over the pixel limit); such files are
  dropped with one warning listing them, or raise with ``on_error="raise"``.

The decompression-bomb policy is explicit: an image whose header announces more than ``max_pixels`` pixels is
"bad" and is never decoded (PIL's own global ``Image.MAX_IMAGE_PIXELS`` is not consulted).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["FileCheck", "check_file", "check_files", "pil_decode", "DEFAULT_MAX_PIXELS", "FAST_FORMATS",
           "FAST_MODES"]

#: default pixel limit (PIL's own default, ~89.5 megapixels)
DEFAULT_MAX_PIXELS = 89_478_485
#: formats and modes that ``tf.io.decode_image`` decodes exactly as PIL would
FAST_FORMATS = frozenset({"JPEG", "PNG"})
FAST_MODES = frozenset({"L", "RGB"})

@dataclass(frozen=True)
class FileCheck:
    """Result of checking one image file.

    ``status`` is ``"ok"`` (TensorFlow decodes it), ``"convert"`` (PIL decodes and normalises it) or ``"bad"``
    (unreadable; ``reason`` says why). ``width``/``height``/``mode``/``format`` are those PIL reported (0/""
    when unknown).

    >>> FileCheck("a.jpg", "ok", "", 56, 53, "L", "JPEG").usable
    True
    """

    key: str
    status: str
    reason: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""
    format: str = ""

    @property
    def usable(self) -> bool:
        return self.status != "bad"


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def check_file(key: str, data: bytes | None = None, *, path: str | os.PathLike | None = None,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> FileCheck:
    """Open and fully decode one image (from ``data`` bytes or ``path``); classify it as ok / convert / bad.

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGBA", (4, 3)).save(buf, "PNG")
    >>> check_file("x.png", buf.getvalue()).status
    'convert'
    >>> check_file("empty.jpg", b"").reason
    'empty file (0 bytes)'
    """
    try:
        if data is None:
            with open(path if path is not None else key, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        return FileCheck(key, "bad", f"cannot read file: {exc.strerror or exc}")
    if len(data) == 0:
        return FileCheck(key, "bad", "empty file (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if _looks_like_text(data[:512]):
            return FileCheck(key, "bad", "not an image: the file holds text")
        return FileCheck(key, "bad", "not an image: unknown or corrupt format")
    except Image.DecompressionBombError as exc:  # only if PIL's global limit is stricter than ours
        return FileCheck(key, "bad", f"over the pixel limit: {exc}")
    except (OSError, ValueError, SyntaxError) as exc:
        return FileCheck(key, "bad", f"corrupt header: {exc}")
    w, h = im.size
    fmt, mode = im.format or "", im.mode
    if max_pixels is not None and w * h > max_pixels:
        return FileCheck(key, "bad", f"{w}x{h} = {w * h} pixels is over the pixel limit max_pixels={max_pixels} "
                                     "(decompression-bomb guard; raise max_pixels if the image is genuine)",
                         w, h, mode, fmt)
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        return FileCheck(key, "bad", f"over the pixel limit: {exc}", w, h, mode, fmt)
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        msg = str(exc) or type(exc).__name__
        kind = "truncated image data" if "truncat" in msg.lower() else "corrupt image data"
        return FileCheck(key, "bad", f"{kind}: {msg}", w, h, mode, fmt)
    if w == 0 or h == 0:
        return FileCheck(key, "bad", f"image has no pixels ({w}x{h})", w, h, mode, fmt)
    frames = getattr(im, "n_frames", 1)
    fast = fmt in FAST_FORMATS and mode in FAST_MODES and frames == 1 and "transparency" not in im.info
    return FileCheck(key, "ok" if fast else "convert", "" if fast else f"{fmt or '?'} {mode} converted with PIL",
                     w, h, mode, fmt)


def check_files(keys: Sequence[str], read: Callable[[str], bytes], *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                n_jobs: int | None = None, chunk: int = 128) -> list[FileCheck]:
    """Check many files in a thread pool (PIL releases the GIL while decoding). ``read(key)`` returns the bytes.

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("L", (5, 5)).save(buf, "PNG")
    >>> blobs = {"a.png": buf.getvalue(), "b.jpg": b"hello"}
    >>> [c.status for c in check_files(list(blobs), blobs.__getitem__)]
    ['ok', 'bad']
    """
    keys = list(keys)

    def one(key):
        try:
            data = read(key)
        except OSError as exc:
            return FileCheck(key, "bad", f"cannot read file: {exc.strerror or exc}")
        except KeyError:
            return FileCheck(key, "bad", "member missing from the archive")
        return check_file(key, data, max_pixels=max_pixels)

    def run(block):
        return [one(k) for k in block]

    blocks = [keys[i:i + chunk] for i in range(0, len(keys), chunk)]
    n_jobs = n_jobs or min(8, os.cpu_count() or 1)
    if n_jobs <= 1 or len(blocks) <= 1:
        return [r for b in blocks for r in run(b)]
    from taxoclass._console import progress_bar

    with ThreadPoolExecutor(max_workers=n_jobs) as pool, progress_bar(len(keys), "reading images", "image") as bar:
        out = []
        for res in pool.map(run, blocks):  # a bar on a terminal: large folders take a while
            out += res
            bar.update(len(res))
        return out


def pil_decode(data: bytes, channels: int = 3, background: float = 255) -> np.ndarray:
    """Decode any PIL-readable image to an 8-bit (H, W, channels) array.

    16-bit images are scaled to 8 bits (divided by 257, so 65535 -> 255); transparent images (RGBA, LA, palette
    with transparency) are composited over ``background`` (the colour the pipeline pads with); CMYK, palette and
    1-bit images are converted to gray (``channels=1``) or RGB (``channels=3``).

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGBA", (2, 2), (10, 20, 30, 0)).save(buf, "PNG")
    >>> pil_decode(buf.getvalue(), 3, background=255)[0, 0].tolist()
    [255, 255, 255]
    """
    im = Image.open(io.BytesIO(data))
    im.load()
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255):
            arr = arr / 257.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, mode="L")
        mode = "L"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info) or \
            (mode in ("L", "RGB") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = int(round(float(background)))
        base = Image.new("RGBA", rgba.size, (bg, bg, bg, 255))
        im = Image.alpha_composite(base, rgba)
    target = "L" if channels == 1 else "RGB"
    if im.mode != target:
        im = im.convert(target)
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)
