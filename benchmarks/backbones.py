"""Cost of the registry's from-scratch backbones on CPU: parameters, MFLOPs and seconds per epoch; prints JSON.

Each backbone gets global average pooling and a 121-way softmax (NDSB's class count) and trains with Keras fit on
random 48 x 48 x 1 images (the timing does not depend on the pixels), batch 64, AdamW; the epoch time is scaled to
a 19,000-image epoch (NDSB's 80 % train split at 48 px). One warm-up epoch, then the mean of two.

Usage: ``.venv/bin/python benchmarks/backbones.py [--size 48] [--images 640] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CONFIGS = [("small_cnn", None, None), ("resnet_small", 32, 1), ("resnet_small", 32, 2), ("resnet_small", 48, 1),
           ("vgg_bn", 32, 1), ("vgg_bn", 24, 2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--images", type=int, default=640)
    ap.add_argument("--quick", action="store_true", help="the two defaults only, 128 images")
    args = ap.parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    from taxoclass.models.backbones import build_backbone
    from taxoclass.models.blocks import block_flops

    n = 128 if args.quick else args.images
    configs = [("resnet_small", 32, 1), ("vgg_bn", 32, 1)] if args.quick else CONFIGS
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n, args.size, args.size, 1)).astype("float32")
    y = rng.integers(0, 121, n)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(64).cache()
    rows = []
    for name, width, depth in configs:
        net = build_backbone(name, (args.size, args.size, 1), width=width, depth=depth)
        inp = keras.Input((args.size, args.size, 1))
        out = keras.layers.Dense(121, activation="softmax")(keras.layers.GlobalAveragePooling2D()(net(inp)))
        model = keras.Model(inp, out)
        model.compile(keras.optimizers.AdamW(1e-3), "sparse_categorical_crossentropy")
        model.fit(ds, epochs=1, verbose=0)
        t = time.perf_counter()
        model.fit(ds, epochs=2, verbose=0)
        secs = (time.perf_counter() - t) / 2
        rows.append({"backbone": name, "width": width, "depth": depth, "params": int(net.count_params()),
                     "mflops_per_image": round(block_flops(net) / 1e6, 1), "output": list(net.output_shape[1:]),
                     "s_per_19k_epoch": round(secs / n * 19_000, 1)})
    print(json.dumps({"size": args.size, "images": n, "load_average": round(os.getloadavg()[0], 2),
                      "backbones": rows}, indent=1))


if __name__ == "__main__":
    main()
