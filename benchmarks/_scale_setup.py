"""Shared by benchmarks/serve.py and benchmarks/predict_scale.py: a tree on the NDSB plankton taxonomy (121
classes; fitted for one epoch on generated images: its speed, not its accuracy, is measured) and folders of
generated PNG images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def demo_model(path: Path, image_size: int = 32) -> Path:
    """Write a TreeClassifier on the NDSB taxonomy (default trunk and blocks) to ``path``."""
    from taxoclass.models import TreeClassifier
    from taxoclass.taxonomy import load_taxonomy

    tax = load_taxonomy(REPO / "taxonomies" / "ndsb_plankton.tsv")
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, (2 * len(tax.classes), image_size, image_size, 1)).astype("float32")
    y = np.array(tax.classes, dtype=object)[np.arange(len(X)) % len(tax.classes)]
    clf = TreeClassifier(tax, input_shape=(image_size, image_size, 1), epochs=1, batch_size=64, random_state=0)
    clf.fit(X, y, verbose=0)
    clf.save(path, overwrite=True)
    return path


def write_images(folder: Path, n: int, size: int = 40, per_folder: int = 1000) -> list[Path]:
    """``n`` small gray PNGs (a dark ellipse on white, like a plankton image), ``per_folder`` per sub-folder."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        sub = folder / f"{i // per_folder:04d}"
        if i % per_folder == 0:
            sub.mkdir(parents=True, exist_ok=True)
        im = Image.new("L", (size, size), 255)
        a, b = rng.integers(4, size // 2, 2)
        ImageDraw.Draw(im).ellipse([size // 2 - a, size // 2 - b, size // 2 + a, size // 2 + b],
                                   fill=int(rng.integers(0, 160)))
        p = sub / f"img_{i:07d}.png"
        im.save(p)
        paths.append(p)
    return paths
