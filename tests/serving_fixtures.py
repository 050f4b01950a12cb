"""A tiny trained tree and a folder of its images, shared by the serving and streaming tests (not a test module).

The images are 16x16 RGB: colour (channel 0 or 2) = group, side of the bright square = class.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16
CLASSES = ["red_left", "red_right", "blue_left", "blue_right"]


def blobs(n, seed):
    """``n`` images (float32, 0-255) and their class names."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    X = rng.normal(110, 25, (n, SIZE, SIZE, 3))
    for i, k in enumerate(y):
        cols = slice(1, 7) if k % 2 == 0 else slice(9, 15)
        X[i, 5:11, cols, 0 if k < 2 else 2] += 120
    return np.clip(X, 0, 255).astype("float32"), np.array(CLASSES, dtype=object)[y]


def tiny_tree(folder: Path, *, n_images: int = 12, epochs: int = 1):
    """Train a small_cnn tree for ``epochs`` on 96 images, save it and ``n_images`` PNGs (two in a sub-folder);
    returns (model path, image paths in listing order)."""
    from taxoclass import Taxonomy
    from taxoclass.models import TreeClassifier

    tax = Taxonomy.from_paths([[c.split("_")[0], c] for c in CLASSES])
    X, y = blobs(96, seed=0)
    clf = TreeClassifier(tax, input_shape=(SIZE, SIZE, 3), trunk="small_cnn", block_filters=(8,), head_units=(8,),
                         epochs=epochs, batch_size=32, random_state=0)
    clf.fit(X, y)
    model = folder / "model.taxoclass"
    clf.save(model)
    imgs = folder / "images"
    (imgs / "sub").mkdir(parents=True)
    Xp, _ = blobs(n_images, seed=1)
    paths = []
    for i, x in enumerate(Xp):
        p = imgs / ("sub" if i < 2 else "") / f"img_{i:03d}.png"
        Image.fromarray(x.astype(np.uint8)).save(p)
        paths.append(p)
    return model, sorted(paths)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, *args: str):
    """``taxoclass serve MODEL`` in a subprocess on a free loopback port; returns (process, base URL)."""
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "taxoclass.cli.main", "serve", str(model), "--port", str(port),
                             *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, f"http://127.0.0.1:{port}"


def wait_until_up(proc, url: str, timeout: float = 240.0) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server did not answer /health within {timeout} s")


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
