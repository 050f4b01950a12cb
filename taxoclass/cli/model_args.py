"""The flags that ``taxoclass train``, ``evaluate``, ``predict`` and ``benchmark`` share (input pipeline, training
recipe, model size, target precision) and the argparse types that check their values: each flag defined once,
for every command that takes it.
"""

from __future__ import annotations

import argparse

from taxoclass.data.augment import AUGMENT_MODES, TTA_UPRIGHT_VIEWS, TTA_VIEWS
from taxoclass.models import CLASS_LAYERS, COARSE_LOSS_WEIGHT, DEFAULT_BACKBONE, NODE_BLOCKS


def ints(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive integers.

    >>> ints("32,64")
    (32, 64)
    """
    try:
        vals = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,64, got {text!r}.") from None
    if any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}.")
    return vals


def number(cast, ok, expected: str):
    """An argparse type: ``cast(text)`` that must pass ``ok``; one message naming what was expected.

    >>> prob("0.25")
    0.25
    """
    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}.") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}.")
        return v
    return parse


prob = number(float, lambda v: 0 <= v <= 1, "a number between 0 and 1")
minutes = number(float, lambda v: v > 0, "a positive number of minutes such as 30 or 0.5")
decay = number(float, lambda v: 0 <= v < 1, "a number in [0, 1) such as 5e-4 or 0.1")
views = number(int, lambda v: 1 <= v <= len(TTA_VIEWS), f"a number of test-time views from 1 (none) to "
               f"{len(TTA_VIEWS)} ({len(TTA_UPRIGHT_VIEWS)} for upright views)")


def add_pipeline(p, *, size_default=None) -> None:
    g = p.add_argument_group("input pipeline")
    g.add_argument("--image-size", type=int, default=size_default, metavar="N",
                   help="side of the square model input in pixels" + (f" (default {size_default})"
                                                                       if size_default else ""))
    g.add_argument("--channels", type=int, choices=(1, 3), default=3, help="1 = gray, 3 = RGB (default 3)")
    g.add_argument("--pad-value", type=float, default=None, metavar="V",
                   help="background used to pad images to a square (plankton: 255 = white); default: the "
                        "--dataset's own (0 for digits and fashion_mnist), else 255")
    g.add_argument("--invert", action="store_true", help="invert images so that the background is 0")


def add_training(p, *, epochs_default: int) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs_default, metavar="N", help=f"epochs (default {epochs_default})")
    g.add_argument("--fine-tune-epochs", type=int, default=None, metavar="N",
                   help="with pretrained --weights: the last N epochs fine-tune the backbone (default: half)")
    g.add_argument("--batch-size", type=int, default=32, metavar="N", help="batch size (default 32)")
    g.add_argument("--learning-rate", type=float, default=1e-3, metavar="LR", help="Adam learning rate (1e-3)")
    g.add_argument("--backbone", default=None, metavar="NAME",
                   help=f"flat model backbone (default {DEFAULT_BACKBONE}, from scratch): resnet_small, vgg_bn, "
                        "small_cnn, inception_v3, mobilenet_v2, resnet50, densenet121, efficientnet_b0")
    g.add_argument("--weights", default=None, metavar="W",
                   help="initial backbone weights: imagenet (downloads once) or a local weights file; default: "
                        "none (train from scratch)")
    g.add_argument("--trunk", default=None, metavar="NAME", help="tree model: shared trunk backbone under the "
                                                                 f"node blocks (default {DEFAULT_BACKBONE}; in "
                                                                 "benchmark the flat --backbone; none: node blocks "
                                                                 "read the image)")
    g.add_argument("--node-block", choices=NODE_BLOCKS, default="auto",
                   help="tree model: each node's feature block: dense (an MLP on the whole trunk's pooled features: "
                        "the tree costs about what the flat model costs) or small_cnn (convolutions of its own on "
                        "the trunk's feature map, HD-CNN); auto (default): dense on a trunk, small_cnn with --trunk "
                        "none")
    g.add_argument("--block-filters", type=ints, default=(32, 64), metavar="F1,F2",
                   help="tree node block conv filters (default 32,64)")
    g.add_argument("--head-units", type=ints, default=None, metavar="U1[,U2]",
                   help="dense units of each node head (default 64), or of a flat model's head in train (default "
                        "1024); a combined model's flat head, like benchmark's flat model, has 1024 (small_cnn: twice "
                        "the node heads'); an empty value (--head-units '') gives linear node heads, without a "
                        "hidden layer")
    g.add_argument("--augment", nargs="?", const="plankton", choices=AUGMENT_MODES, default=None, metavar="MODE",
                   help="training augmentation: plankton (rotation 0-360 degrees with background fill, both flips, "
                        "zoom 0.8-1.25, shift 6%%; the default, and what --augment alone means), upright (left-right "
                        "flip, zoom 0.9-1.1, shift 12.5%%, no rotation: photographs with an up and down) or none "
                        "(default for the named --dataset sets)")
    g.add_argument("--no-augment", dest="augment", action="store_const", const="none",
                   help="no training augmentation (= --augment none)")
    g.add_argument("--lr-schedule", choices=("cosine", "constant", "plateau"), default=None,
                   help="learning-rate schedule: cosine decay with warm-up (default), constant, or plateau "
                        "(divided by 5 after --reduce-lr epochs without improvement; default with --reduce-lr)")
    g.add_argument("--time-budget", type=minutes, default=None, metavar="MINUTES",
                   help="train for this wall time instead of --epochs: epochs follow from the first one and the "
                        "cosine schedule is fitted to them")
    g.add_argument("--weight-decay", type=decay, default=None, metavar="W",
                   help="AdamW decoupled weight decay of every model (default 5e-4; 0 = Adam)")
    g.add_argument("--label-smoothing", type=decay, default=None, metavar="S",
                   help="share of the target spread over the classes / a node's children (default 0.1)")
    g.add_argument("--loss", choices=("crossentropy", "soft_labels", "hxe"), default=None,
                   help="flat model loss: cross-entropy (default), soft labels by taxonomy distance or hierarchical "
                        "cross-entropy (Making Better Mistakes)")
    g.add_argument("--class-layer", choices=CLASS_LAYERS, default=None,
                   help="flat model's class layer: dense (default) or lineage, each class's weights the sum of its "
                        "taxonomy nodes' (shares weights within families; needs --taxonomy)")
    g.add_argument("--level-schedule", choices=("coarse_to_fine",), default=None,
                   help="tree models: move the loss weight from the coarse levels to the fine ones (B-CNN)")
    g.add_argument("--coarse-levels", type=ints, default=None, metavar="D1[,D2]",
                   help="tree models: B-CNN's branch points, an extra softmax over the taxonomy's nodes at each "
                        "depth on the trunk's earlier stages, trained only (e.g. 2,3 on a vgg_bn trunk)")
    g.add_argument("--coarse-loss-weight", type=number(float, lambda v: 0 < v <= 10, "a number in (0, 10] such as "
                   f"{COARSE_LOSS_WEIGHT}"), default=None, metavar="W",
                   help=f"tree models: weight of each coarse head's loss (default {COARSE_LOSS_WEIGHT})")
    g.add_argument("--node-label-smoothing", type=decay, default=None, metavar="S",
                   help="tree models: label smoothing of the node heads (default for the combined model: "
                        "--label-smoothing spread over a class's path, 1-(1-S)^(1/decisions); --label-smoothing "
                        "for the tree alone)")
    g.add_argument("--class-weight", choices=("none", "balanced", "sqrt"), default="none",
                   help="weight the loss of every class by its inverse frequency (balanced), by its square root "
                        "(sqrt, milder) or not (none, default)")
    g.add_argument("--sampling", choices=("natural", "balanced"), default="natural",
                   help="balanced: draw every class equally often in training (default natural)")
    g.add_argument("--val-size", type=float, default=0.1, metavar="F", help="validation share (default 0.1)")
    g.add_argument("--test-size", type=float, default=0.1, metavar="F", help="test share (default 0.1)")
    g.add_argument("--seed", type=int, default=0, help="seed of the split and the initialisation (default 0)")


def add_size(p, *, dropout_default, dropout_help) -> None:
    p.add_argument("--width", type=int, default=None, metavar="N",
                   help="first-stage filters of a from-scratch backbone or trunk (resnet_small, vgg_bn; default 32, "
                        "doubled at each stage)")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="blocks per stage of a from-scratch backbone or trunk (resnet_small, vgg_bn; default 1)")
    p.add_argument("--dropout", type=float, default=dropout_default, metavar="F",
                   help=f"dropout before each node head / the flat head ({dropout_help})")


def add_target_precision(p) -> None:
    p.add_argument("--target-precision", type=number(float, lambda v: 0 < v <= 1, "a precision in (0, 1] such as 0.95"),
                   default=None, metavar="P",
                   help="instead of --threshold: the threshold at which the sure-node answers reach hierarchical "
                        "precision P on the model's validation split (e.g. 0.95)")
