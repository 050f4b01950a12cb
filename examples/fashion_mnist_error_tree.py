"""Fashion-MNIST: a flat CNN, the tree built from its confusion (error-based) and the garment taxonomy.

Reproduces the Fashion-MNIST row of the version 0.1 table in docs/benchmarks.md (2-core CPU sizes). Usage:

    python examples/fashion_mnist_error_tree.py [PATH/TO/fashion_mnist IDX folder] [OUT_DIR]
"""

import sys
from pathlib import Path

from taxoclass import load_dataset, run_benchmark

path = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/datasets/fashion_mnist"
out = sys.argv[2] if len(sys.argv) > 2 else "results/fashion_mnist"

images = load_dataset("fashion_mnist", path)            # 60,000 training images with the shipped taxonomy
summary = run_benchmark(images, backbone="small_cnn", image_size=28, channels=1, pad_value=0, epochs=10,
                        max_per_class=1500, batch_size=64, beta=0.05, seed=0,
                        models=("flat", "flat_block", "taxonomy_tree", "error_tree"), out_dir=out, overwrite=True)
print("error-based clusters:", summary["error_clusters"])
for name, m in summary["models"].items():
    print(f"{name:14s} accuracy {m['accuracy']:.3f}  hF1 {m['hierarchical_f1_micro']:.3f}  "
          f"severity {m['mistake_severity']:.2f}  train {m['train_seconds']:.0f} s")
