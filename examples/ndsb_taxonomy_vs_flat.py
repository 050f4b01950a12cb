"""NDSB 2015 plankton: the Kaggle class tree (121 classes) vs a flat CNN vs the error-based tree.

Reproduces the NDSB row of the version 0.1 table in docs/benchmarks.md (2-core CPU sizes). Usage:

    python examples/ndsb_taxonomy_vs_flat.py [PATH/TO/ndsb_plankton] [OUT_DIR]
"""

import sys
from pathlib import Path

from taxoclass import load_taxonomy, run_benchmark
from taxoclass.data import ImageSet

default = Path(__file__).resolve().parents[2] / "shared/datasets/ndsb_plankton"
root = Path(sys.argv[1] if len(sys.argv) > 1 else default)
out = sys.argv[2] if len(sys.argv) > 2 else "results/ndsb"

images = ImageSet.from_folder(root / "images")                               # images/<class>/*.jpg
taxonomy = load_taxonomy(Path(__file__).resolve().parents[1] / "taxonomies/ndsb_plankton.tsv")
summary = run_benchmark(images, taxonomy=taxonomy, backbone="small_cnn", image_size=48, channels=1,
                        pad_value=255, invert=True, epochs=12, max_per_class=150, batch_size=64, seed=0,
                        beta=0.05, max_cluster_size=15,
                        models=("flat", "flat_block", "taxonomy_tree", "error_tree"),
                        out_dir=out, overwrite=True)
for name, m in summary["models"].items():
    print(f"{name:14s} accuracy {m['accuracy']:.3f}  hF1 {m['hierarchical_f1_micro']:.3f}  "
          f"severity {m['mistake_severity']:.2f}  train {m['train_seconds']:.0f} s")
