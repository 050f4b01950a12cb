"""CIFAR-10: the vehicle/animal taxonomy vs a flat CNN vs the error-based tree (2-core CPU sizes).

    python examples/cifar10_taxonomy_vs_flat.py [PATH/TO/cifar10_jpg.zip] [OUT_DIR]
"""

import sys
from pathlib import Path

from taxoclass import load_dataset, run_benchmark

default = Path(__file__).resolve().parents[2] / "shared/datasets/cifar10/cifar10_jpg.zip"
path = sys.argv[1] if len(sys.argv) > 1 else default
out = sys.argv[2] if len(sys.argv) > 2 else "results/cifar10"

images = load_dataset("cifar10", path)                  # train/<class>/*.jpg inside the zip, shipped taxonomy
summary = run_benchmark(images, backbone="small_cnn", image_size=32, channels=3, epochs=10,
                        max_per_class=1500, batch_size=64, seed=0, max_cluster_size=5,
                        models=("flat", "flat_block", "taxonomy_tree", "error_tree"), out_dir=out, overwrite=True)
for name, m in summary["models"].items():
    print(f"{name:14s} accuracy {m['accuracy']:.3f}  hF1 {m['hierarchical_f1_micro']:.3f}  "
          f"severity {m['mistake_severity']:.2f}  train {m['train_seconds']:.0f} s")
