"""Models: the backbone registry, node blocks, TreeClassifier, FlatClassifier and their shared base.

Submodules import TensorFlow; this package's ``__init__`` does not, so ``import taxoclass`` stays fast.
"""

__all__ = ["TreeClassifier", "FlatClassifier", "BaseClassifier", "load_model", "MODEL_NAMES", "TRAIN_MODELS",
           "NODE_HEAD_UNITS", "FLAT_HEAD_UNITS", "COARSE_LOSS_WEIGHT", "make_estimator"]

_LAZY = {
    "TreeClassifier": "taxoclass.models.tree",
    "FlatClassifier": "taxoclass.models.flat",
    "BaseClassifier": "taxoclass.models.base",
    "make_estimator": "taxoclass.models.factory",
}

#: the model names a comparison accepts (see :func:`taxoclass.models.factory.make_estimator`)
MODEL_NAMES = ("flat", "flat_block", "taxonomy_tree", "error_tree", "combined")
#: what ``train_job(model=...)`` / ``taxoclass train --model`` trains: a tree on the taxonomy (or on the error-based
#: groups of a confusion matrix), a flat softmax, or the combined model (the tree plus a flat softmax head on its
#: trunk, their leaf probabilities mixed with a weight chosen on the validation split: never worse there than
#: either head alone)
TRAIN_MODELS = ("tree", "flat", "combined")
#: the node heads' hidden Dense units by default (TreeClassifier, `train`, `benchmark`)
NODE_HEAD_UNITS = (64,)
#: a flat model's head (FlatClassifier, `train --model flat`, the combined model's flat head, `benchmark`)
FLAT_HEAD_UNITS = (1024,)
#: the default weight of each coarse head's loss (``TreeClassifier(coarse_loss_weight=)``, ``--coarse-loss-weight``)
COARSE_LOSS_WEIGHT = 0.3
#: the one default backbone of FlatClassifier, the trees' trunk, `train` and `benchmark` (from scratch, CPU-sized)
DEFAULT_BACKBONE = "resnet_small"
#: how a prediction is chosen (``predict(mode=)``, ``taxoclass predict/evaluate --mode``, ``serve``): "soft" the
#: most probable class (every node evaluated), "greedy" (trees) the top-down argmax evaluating only the nodes on
#: the chosen path, "risk" the class with the lowest expected mistake severity (Taxonomy.ranked_classes)
PREDICT_MODES = ("soft", "greedy", "risk")
#: a flat model's class layer (``FlatClassifier(class_layer=)``, ``--class-layer``): one weight vector per class,
#: or each class's weights summed along its lineage in the taxonomy
CLASS_LAYERS = ("dense", "lineage")
#: a tree node's feature block (see :func:`taxoclass.models.blocks.build_branch`); "auto": dense on a trunk
NODE_BLOCKS = ("auto", "small_cnn", "dense")


def trunk_choice(trunk, default):
    """A tree's ``trunk`` option as a builder takes it: None -> ``default``; ``"none"`` -> None (node blocks read
    the image); any other value (a backbone name) as given.

    >>> trunk_choice(None, "resnet_small"), trunk_choice("none", "resnet_small"), trunk_choice("vgg_bn", None)
    ('resnet_small', None, 'vgg_bn')
    """
    if trunk is None:
        return default
    return None if trunk == "none" else trunk


def __dir__():
    return sorted(set(globals()) | set(__all__))


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "load_model":
        from taxoclass.models.base import BaseClassifier

        return BaseClassifier.load
    raise AttributeError(f"module 'taxoclass.models' has no attribute {name!r}")
