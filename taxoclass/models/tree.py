"""The taxonomy cascade: :class:`TreeClassifier` and its fused Keras model :class:`TreeModel`.

Every internal node with two or more children (a *classifier node*) owns a branch -- a CNN feature block and an
MLP head ending in one logit per child (see :mod:`taxoclass.models.blocks`). All branches live in ONE Keras model,
optionally on a shared trunk (HD-CNN: shared lower layers, specialised upper layers). How that model trains and
predicts in one pass, with compute proportional to the samples under each node: :mod:`taxoclass.models.tree_model`.

>>> from taxoclass import Taxonomy
>>> from taxoclass.models.tree import TreeClassifier
>>> tax = Taxonomy.from_paths([["warm", "red"], ["warm", "yellow"], ["cold", "blue"], ["cold", "green"]])
>>> clf = TreeClassifier(tax, input_shape=(16, 16, 3), block_filters=(8,), head_units=(16,), epochs=2)
>>> clf.fit(X, y).predict(X[:2], mode="greedy")                             # doctest: +SKIP
array(['red', 'blue'], dtype=object)
"""

from __future__ import annotations

import re

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.validation import check_is_fitted

from taxoclass.exceptions import ModelError
from taxoclass.models import COARSE_LOSS_WEIGHT, FLAT_HEAD_UNITS, NODE_HEAD_UNITS, PREDICT_MODES
from taxoclass.models import backbones as _backbones  # noqa: F401 - registers ImagePreprocess for safe loading
from taxoclass.models.base import BaseClassifier
from taxoclass.training import TimeBudget
from taxoclass.models.blocks import build_branch, check_head, check_node_block
from taxoclass.models.coarse_heads import CoarseHeads, check_coarse_levels, coarse_targets, tap_trunk
from taxoclass.models.node_heads import NodeHeads
from taxoclass.models.level_weights import LevelWeightSchedule, _check_level_weights
from taxoclass.models.losses import _check_number, check_loss_params
from taxoclass.models.optim import check_weight_decay, make_optimizer
from taxoclass.models.tree_model import COMBINES, ROUTINGS, TreeModel
from taxoclass.models.tree_structure import TreeStructure
from taxoclass.models.trunk import build_trunk
from taxoclass.taxonomy import Taxonomy
from taxoclass.taxonomy.arrays import RANKINGS

__all__ = ["TreeClassifier", "TreeModel", "TreeStructure", "LevelWeightSchedule", "ROUTINGS",
           "PATH_MODES"]

PATH_MODES = ("soft", "greedy")  # how predict_path walks the tree (PREDICT_MODES: those of predict)
TRUNKS = _backbones.backbone_names()
LEVEL_SCHEDULES = ("coarse_to_fine",)


def _layer_name(k: int, node) -> str:
    return f"node{k}_" + re.sub(r"[^A-Za-z0-9_]", "_", node[-1])[:40]


# ============================================================================================ classifier
class TreeClassifier(BaseClassifier):
    """Taxonomy cascade of CNN node classifiers, trained in one pass as one fused Keras model.

    Parameters
    ----------
    taxonomy : Taxonomy
        The tree; its leaves are the classes (class order = ``taxonomy.classes``).
    input_shape : (height, width, channels)
        Image size the model takes; images are float32 [0, 255] pixel values.
    pad_value, invert, resize :
        The rest of the model's input spec (see :meth:`~taxoclass.models.base.BaseClassifier.input_spec`): how
        image files are fitted to ``input_shape`` -- background value of the padding (255 = white), whether
        images are inverted, ``"pad"`` (keep the aspect ratio) or ``"stretch"``. Saved with the model and used by
        ``taxoclass evaluate`` and ``predict``.
    trunk : backbone name (default ``"resnet_small"``, the default backbone of the flat model; see
        :func:`taxoclass.models.backbones.backbone_names`), a ``keras.Model`` or None
        Shared lower layers under every node block (HD-CNN: shared trunk, small node blocks on its feature map).
        ``None``: each node block reads the image (scaled to [-1, 1]). A ``keras.Model`` must map [0, 255] images
        of ``input_shape`` to a feature map.
    trunk_layer : ``"auto"``, None, str or int
        Layer to cut the trunk at. ``"auto"`` (default): with ``node_block="dense"`` the whole network; with
        ``"small_cnn"`` node blocks before the last stage of a from-scratch backbone (``resnet_small``:
        ``"stage2_out"``, ``vgg_bn``: ``"stage3_pool"``, ``small_cnn``: ``"block2_pool"``), the whole network
        otherwise; None: the whole network; or a layer name / index (e.g. ``"mixed7"``).
    trunk_weights : None, ``"imagenet"`` or a weights file path
        Initial trunk weights (named trunks).
    width, depth : int or None
        Size of a ``resnet_small`` / ``vgg_bn`` trunk (see :func:`taxoclass.models.backbones.build_backbone`).
    trunk_trainable : bool
        Whether the trunk is trained along with the node blocks.
    node_block : ``"auto"``, ``"small_cnn"``, ``"dense"`` or callable ``f(x) -> x``
        Feature block of every node (see :func:`taxoclass.models.blocks.build_branch`): ``"small_cnn"``
        convolutions of the node's own on the trunk's feature map (HD-CNN), ``"dense"`` an MLP on the whole
        trunk's pooled features (the tree then costs about what a flat model on the trunk costs). ``"auto"``
        (default): ``"dense"`` on a trunk, ``"small_cnn"`` without one (trunk=None). On NDSB at equal training
        time the dense tree about ties the flat model while the small_cnn one loses 7 points (docs/benchmarks.md).
    block_filters : sequence of int
        Convolution filters of the ``"small_cnn"`` block (one 3x3 conv + 2x2 max-pool per entry).
    head_units : sequence of int
        Hidden Dense layers of each node's MLP head.
    dropout : float
        Dropout after each hidden Dense layer.
    level_loss_weights : None or sequence of float
        Weight of the loss of the nodes at each depth (root = 0; one value per level, ``taxonomy.height``
        values). Use :class:`LevelWeightSchedule` (a callback) to change them during training.
    level_schedule : None or ``"coarse_to_fine"``
        B-CNN's branch training strategy: the level weights move from the coarse levels to the fine ones during
        training (:meth:`LevelWeightSchedule.coarse_to_fine`; the last stage weights every level 1); with a
        ``time_budget`` the stages follow the wall time spent. Not with ``level_loss_weights``.
    coarse_levels : None or sequence of int
        B-CNN's branch points: one auxiliary softmax per entry over the taxonomy's nodes at that depth, on the
        trunk's stages before its last (coarsest on the earliest; e.g. ``(2, 3)`` on a ``vgg_bn`` trunk: stages 2
        and 3), trained with ``coarse_loss_weight`` times its cross-entropy and never used to predict
        (:mod:`taxoclass.models.coarse_heads`). A ``vgg_bn`` or ``resnet_small`` trunk only.
    coarse_loss_weight : float
        Weight of each coarse head's loss (default 0.3).
    flat_head : bool
        The *combined* model: a flat softmax over all classes (a node block with one output per class) on the
        same trunk, trained jointly with the node heads; the leaf probabilities combine both (``combine``).
    flat_head_units : sequence of int
        With ``flat_head``: the flat head's hidden Dense layers; default (1024,), the head of a FlatClassifier.
    combine : ``"mean"`` or ``"geometric"``
        With ``flat_head``: per leaf, the mean of the tree's and the flat head's probabilities, or their
        normalised geometric mean.
    weight_decay : float
        AdamW's decoupled weight decay (biases and batch-norm parameters excluded); 0 = Adam.
    label_smoothing : float
        Label smoothing of the flat head's cross-entropy and, unless ``node_label_smoothing`` says otherwise, of
        every node's (spread over the node's children).
    node_label_smoothing : None or float
        Label smoothing of the node heads. None (default): for the combined model (``flat_head=True``),
        ``label_smoothing`` spread over the path, ``1 - (1 - label_smoothing) ** (1 / D)`` with D the mean number
        of decisions on a class's path, so that a leaf is smoothed about as much as the flat head's classes (0.043
        on the six-level NDSB taxonomy with 0.17; smoothing each node by the full amount smooths a leaf once per
        level; docs/benchmarks.md, runs ND); ``label_smoothing`` for the tree alone.
    routing : ``"gather"`` or ``"mask"``
        ``"gather"`` (default): in training each node block runs only on the samples under its node. ``"mask"``:
        every block on every sample with the loss masked -- the naive reference, for benchmarks only. (Dense node
        heads are one :class:`~taxoclass.models.node_heads.NodeHeads` layer, the weights of all nodes stacked; the
        routing applies to them alike.)
    lr_schedule : ``"cosine"`` (default: linear warm-up, then cosine decay per step), ``"constant"`` or
        ``"plateau"`` (``ReduceLROnPlateau``, patience ``reduce_lr_patience``).
    restore_best : True (default): the weights of the epoch with the best validation top-1 are restored at the end.
    time_budget : minutes of training; None: ``epochs`` decide. With a budget the epochs follow from the measured
        first epoch, the cosine schedule is fitted to them and training stops before the budget is spent.
    epochs, batch_size, learning_rate, output_dir, early_stopping_patience, reduce_lr_patience, checkpoint,
    csv_log, tensorboard, resume, strategy, mixed_precision, random_state
        Training loop (see :class:`~taxoclass.models.base.BaseClassifier` and :mod:`taxoclass.training`).

    Attributes
    ----------
    classes_, taxonomy_, model_ (:class:`TreeModel`), history_, structure_ (:class:`TreeStructure`).

    Examples
    --------
    >>> tax = Taxonomy.from_paths([["warm", "red"], ["warm", "yellow"], ["cold", "blue"]])
    >>> clf = TreeClassifier(tax, input_shape=(16, 16, 3), block_filters=(8,), epochs=3)
    >>> clf.fit(X, y).predict(X, threshold=0.9)                           # doctest: +SKIP
    array(['red', 'warm', 'blue'], dtype=object)
    """

    def __init__(self, taxonomy, input_shape=(64, 64, 3), pad_value=255.0, invert=False, resize="pad",
                 trunk=_backbones.DEFAULT_BACKBONE, trunk_layer="auto", trunk_weights=None, trunk_trainable=True,
                 width=None, depth=None, node_block="auto", block_filters=(32, 64), head_units=NODE_HEAD_UNITS,
                 dropout=0.0, level_loss_weights=None, level_schedule=None, coarse_levels=None,
                 coarse_loss_weight=COARSE_LOSS_WEIGHT,
                 flat_head=False, flat_head_units=FLAT_HEAD_UNITS,
                 combine="mean", routing="gather", weight_decay=5e-4, label_smoothing=0.1, node_label_smoothing=None,
                 epochs=10, batch_size=32,
                 learning_rate=1e-3, output_dir=None, early_stopping_patience=None, reduce_lr_patience=None,
                 checkpoint=False, csv_log=False, tensorboard=False, resume=False, strategy="auto",
                 mixed_precision=False, random_state=None, lr_schedule="cosine", restore_best=True,
                 time_budget=None):
        self.taxonomy = taxonomy
        self.input_shape = input_shape
        self.pad_value = pad_value
        self.invert = invert
        self.resize = resize
        self.trunk = trunk
        self.trunk_layer = trunk_layer
        self.trunk_weights = trunk_weights
        self.trunk_trainable = trunk_trainable
        self.width = width
        self.depth = depth
        self.node_block = node_block
        self.block_filters = block_filters
        self.head_units = head_units
        self.dropout = dropout
        self.level_loss_weights = level_loss_weights
        self.level_schedule = level_schedule
        self.coarse_levels = coarse_levels
        self.coarse_loss_weight = coarse_loss_weight
        self.flat_head = flat_head
        self.flat_head_units = flat_head_units
        self.combine = combine
        self.routing = routing
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.node_label_smoothing = node_label_smoothing
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.output_dir = output_dir
        self.early_stopping_patience = early_stopping_patience
        self.reduce_lr_patience = reduce_lr_patience
        self.checkpoint = checkpoint
        self.csv_log = csv_log
        self.tensorboard = tensorboard
        self.resume = resume
        self.strategy = strategy
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.lr_schedule = lr_schedule
        self.restore_best = restore_best
        self.time_budget = time_budget

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_confusion(cls, cm, classes=None, *, beta: float = 0.05, cluster_levels=1, **kwargs) -> "TreeClassifier":
        """A tree classifier whose taxonomy groups the classes a model confuses (error-based hierarchy).

        ``cm`` (true x predicted) and ``classes`` go to :func:`taxoclass.clustering.cluster_confusion` together
        with ``beta`` and any of its keyword options (``symmetrize``, ``linkage``, ``max_cluster_size``,
        ``method``, ``n_clusters``, ``drop_empty``); ``cluster_levels`` to its ``to_taxonomy``; every other keyword
        goes to :class:`TreeClassifier`. ``labels=`` and ``levels=``: deprecated old names of ``classes`` and
        ``cluster_levels``.

        >>> clf = TreeClassifier.from_confusion(cm, classes=classes, beta=0.05)  # doctest: +SKIP
        """
        import inspect

        from taxoclass._renamed import renamed
        from taxoclass.clustering import cluster_confusion

        classes = renamed(classes, kwargs.pop("labels", None), "classes", "labels")
        cluster_levels = renamed(cluster_levels, kwargs.pop("levels", None), "cluster_levels", "levels", default=1)
        names = set(inspect.signature(cluster_confusion).parameters) - {"cm", "beta", "classes", "labels"}
        ckw = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        if "taxonomy" in kwargs:
            raise ModelError("from_confusion builds the taxonomy from the confusion matrix; do not pass taxonomy=.")
        tax = cluster_confusion(cm, beta, classes=classes, **ckw).to_taxonomy(cluster_levels)
        return cls(tax, **kwargs)

    def _validate_params(self):
        super()._validate_params()
        if not isinstance(self.taxonomy, Taxonomy):
            raise ModelError(f"taxonomy must be a taxoclass.Taxonomy (e.g. taxoclass.load_taxonomy('tree.tsv')), "
                             f"got {type(self.taxonomy).__name__}.")
        try:
            shape = tuple(int(v) for v in self.input_shape)
        except (TypeError, ValueError):
            shape = ()
        if len(shape) != 3 or min(shape) < 1:
            raise ModelError(f"input_shape must be (height, width, channels), e.g. (64, 64, 3), got "
                             f"{self.input_shape!r}.")
        if self.routing not in ROUTINGS:
            raise ModelError(f"routing must be one of {', '.join(ROUTINGS)}, got {self.routing!r}.")
        if not (self.trunk is None or isinstance(self.trunk, (str, keras.Model))):
            raise ModelError(f"trunk must be None, a backbone name ({', '.join(TRUNKS)}) or a keras.Model, got "
                             f"{type(self.trunk).__name__}.")
        if isinstance(self.trunk, str) and self.trunk not in TRUNKS:
            raise ModelError(f"unknown trunk {self.trunk!r}; expected one of {', '.join(TRUNKS)}, a keras.Model or "
                             "None (node blocks on the image).")
        if not isinstance(self.trunk_trainable, bool):
            raise ModelError(f"trunk_trainable must be True or False, got {self.trunk_trainable!r}.")
        if isinstance(self.trunk, str):
            _backbones.check_size(_backbones.backbone_spec(self.trunk), self.width, self.depth)
        elif self.width is not None or self.depth is not None:
            raise ModelError("width and depth size a named trunk (resnet_small, vgg_bn); with trunk=None or a "
                             "keras.Model leave them unset.")
        if self.level_loss_weights is not None:
            _check_level_weights(self.level_loss_weights, max(self.taxonomy.height, 1))
        if self.level_schedule not in (None, *LEVEL_SCHEDULES):
            raise ModelError(f"level_schedule must be None or one of {', '.join(LEVEL_SCHEDULES)}, got "
                             f"{self.level_schedule!r}.")
        if self.level_schedule is not None and self.level_loss_weights is not None:
            raise ModelError("give level_loss_weights (fixed) or level_schedule (changing), not both.")
        check_node_block(self.node_block)
        check_coarse_levels(self.coarse_levels, self.coarse_loss_weight, self.taxonomy, self.trunk, self._whole_trunk())
        if not isinstance(self.flat_head, bool):
            raise ModelError(f"flat_head must be True or False, got {self.flat_head!r}.")
        if self.combine not in COMBINES:
            raise ModelError(f"combine must be one of {', '.join(COMBINES)}, got {self.combine!r}.")
        check_weight_decay(self.weight_decay)
        check_loss_params("crossentropy", self.label_smoothing, 1.0, 0.0)
        if self.node_label_smoothing is not None:
            _check_number("node_label_smoothing", self.node_label_smoothing, 0.0, 1.0, hi_open=True)

    def _build_stem(self) -> keras.Model:
        return build_trunk(self.trunk, self.input_shape, trunk_layer=self.trunk_layer, weights=self.trunk_weights,
                           width=self.width, depth=self.depth, trainable=self.trunk_trainable,
                           dense_nodes=self._node_block() == "dense")

    def _whole_trunk(self) -> bool:
        return self._node_block() == "dense" and (self.trunk_layer is None or self.trunk_layer == "auto")

    def _node_block(self):
        """``node_block`` with ``"auto"`` resolved: dense heads on a trunk, small_cnn blocks on the image."""
        if isinstance(self.node_block, str) and self.node_block == "auto":
            return "small_cnn" if self.trunk is None else "dense"
        return self.node_block

    def _node_smoothing(self) -> float:
        """``node_label_smoothing`` with None resolved: with a flat head, ``label_smoothing`` spread over the path
        (:meth:`TreeStructure.path_smoothing`); for the tree alone, ``label_smoothing``."""
        if self.node_label_smoothing is None:
            ls = float(self.label_smoothing)
            return self.structure_.path_smoothing(ls) if self.flat_head else ls
        return float(self.node_label_smoothing)

    def _build_model(self) -> TreeModel:
        from taxoclass.models.partial_labels import tree_targets  # rows for samples labelled at a node too

        s = TreeStructure(self.taxonomy_)
        self.structure_ = s
        stem, coarse = self._build_stem(), None
        depths = check_coarse_levels(self.coarse_levels, self.coarse_loss_weight, s.taxonomy, self.trunk,
                                     self._whole_trunk())
        if depths:  # the stem then returns [features, tap_1, ...]
            stem = tap_trunk(stem, self.trunk, len(depths))
            table, sizes = coarse_targets(s.taxonomy, depths)
            coarse = CoarseHeads(sizes, table, self.coarse_loss_weight, float(self.label_smoothing), name="coarse_heads")
            coarse.build(list(stem.output_shape[1:]))
        feat_shape = tuple((stem.output_shape[0] if depths else stem.output_shape)[1:])
        heads, branches = None, []
        if isinstance(self._node_block(), str) and self._node_block() == "dense":  # all heads in one layer
            units = check_head(self.head_units, self.dropout)
            heads = NodeHeads(s.n_children, units=units, dropout=float(self.dropout), name="node_heads")
            heads.build((None, *feat_shape))
        else:
            branches = [build_branch(feat_shape, s.n_children[k], node_block=self._node_block(),
                                     block_filters=self.block_filters, head_units=self.head_units,
                                     dropout=self.dropout, name=_layer_name(k, node))
                        for k, node in enumerate(s.classifier_nodes)]
        flat = None
        if self.flat_head:
            flat = build_branch(feat_shape, s.taxonomy.n_classes, node_block=self._node_block(),
                                block_filters=self.block_filters, head_units=self.flat_head_units, dropout=self.dropout,
                                name="flat_head")
        model = TreeModel(stem, branches, s.edge_matrix, tree_targets(s), s.levels, s.next_classifier, entry=s.entry,
                          n_levels=s.n_levels, routing=self.routing, label_smoothing=float(self.label_smoothing),
                          node_label_smoothing=self._node_smoothing(),
                          flat_head=flat, combine=self.combine, node_heads=heads, coarse_heads=coarse, name="tree")
        if self.level_loss_weights is not None:
            model.level_weights.assign(np.asarray(self.level_loss_weights, dtype=np.float32))
        return model

    def _compile(self, model):
        model.compile(optimizer=make_optimizer(self.learning_rate, self.weight_decay), jit_compile=False)
        # create the optimizer's slots now: otherwise they are created while tracing the train step, and
        # tf.function traces the whole step twice (once to lift the variable initialisers)
        model.optimizer.build(model.trainable_variables)

    def _train(self, train_ds, val_ds, epochs, callbacks, class_weight, verbose):
        if self.level_schedule == "coarse_to_fine":  # over the epochs, or over the wall-time budget's minutes
            budget = next((cb for cb in callbacks if isinstance(cb, TimeBudget)), None)
            n = self.structure_.n_levels
            stages = (LevelWeightSchedule.coarse_to_fine(n, epochs) if budget is None else
                      LevelWeightSchedule.coarse_to_fine_in_time(n, budget))
            callbacks = [stages, *callbacks]
        return super()._train(train_ds, val_ds, epochs, callbacks, class_weight, verbose)

    def _after_train(self, val_ds) -> None:
        if self.model_.flat_head is not None and val_ds is not None:
            self.model_.fit_combine_weight(val_ds)  # never worse on validation than either head alone

    @property
    def combine_weight_(self) -> float | None:
        """Combined model: the tree heads' weight ``w`` in the leaf distribution (the flat head's is ``1 - w``),
        chosen on the validation split at the end of ``fit`` (0.5 without validation data); None otherwise."""
        check_is_fitted(self, "model_")
        w = getattr(self.model_, "combine_weight", None)
        return None if w is None else float(w)

    def _restore_extra(self, extra):
        self.structure_ = TreeStructure(self.taxonomy_)

    # ---------------------------------------------------------------- prediction
    def _greedy(self, X, batch_size=None):
        model = self.model_
        fn = getattr(self, "_greedy_fn", None)
        if fn is None or getattr(self, "_greedy_model", None) is not model:
            fn = tf.function(model.greedy_decisions, reduce_retracing=True)
            self._greedy_fn, self._greedy_model = fn, model
        choices, probs = [], []
        for batch in self._predict_input(X, batch_size):
            c, p = fn(batch)
            choices.append(c.numpy())
            probs.append(p.numpy())
        return np.concatenate(choices), np.concatenate(probs)

    def _paths(self, X, mode, batch_size=None):
        """(N, height+1) node indices along the chosen path (-1 past its end) and their path probabilities."""
        if mode not in PATH_MODES:
            raise ModelError(f"mode must be one of {', '.join(PATH_MODES)}, got {mode!r}.")
        if mode == "soft":
            return self.structure_.soft_paths(self.predict_proba(X, batch_size))
        return self.structure_.greedy_paths(*self._greedy(X, batch_size))

    def predict(self, X, mode: str = "soft", threshold: float | None = None, batch_size=None) -> np.ndarray:
        """Class names per image.

        - ``mode="soft"`` (default): argmax of the leaf distribution (every node evaluated, one model call).
        - ``mode="greedy"``: top-down argmax at each node, evaluating only the nodes on the chosen path.
        - ``mode="risk"``: the class with the lowest expected mistake severity under the leaf distribution
          (:meth:`Taxonomy.ranked_classes <taxoclass.taxonomy.arrays.TaxonomyArrays.ranked_classes>`): milder
          mistakes at about the same accuracy.
        - ``threshold=t``: the node the model is sure of, by taxoclass' one threshold rule
          (:meth:`Taxonomy.threshold <taxoclass.taxonomy.arrays.TaxonomyArrays.threshold>`, also used by
          ``evaluate_predictions`` and ``taxoclass predict``): from the root, move to the most probable child while
          its probability (the sum of its classes' probabilities) is >= t. An internal node's name is returned
          when the model is not sure enough ("copepod, not sure which"). With ``mode="greedy"`` the same walk runs
          on the probabilities of the greedy path (the product of the chosen children's conditional
          probabilities), the only ones that mode computes; with ``"soft"`` and ``"risk"`` it runs on the leaf
          distribution (the sure node does not depend on how the classes are ranked).

        >>> clf.predict(X, threshold=0.8)           # doctest: +SKIP
        array(['calanoid', 'copepods', 'root'], dtype=object)
        """
        check_is_fitted(self, "model_")
        if mode not in PREDICT_MODES:
            raise ModelError(f"mode must be one of {', '.join(PREDICT_MODES)}, got {mode!r}.")
        if threshold is None and mode in RANKINGS:
            return super().predict(X, batch_size, mode=mode)
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not 0 <= threshold <= 1):
            raise ModelError(f"threshold must be a probability in [0, 1], got {threshold!r}.")
        if mode in RANKINGS:  # threshold is not None here
            return self.structure_.names[self.taxonomy_.threshold(self.predict_proba(X, batch_size), threshold)]
        end = self.structure_.path_ends(*self._paths(X, mode, batch_size), threshold)
        return self.classes_[self.structure_.leaf_pos[end]] if threshold is None else self.structure_.names[end]

    def predict_path(self, X, mode: str = "soft", batch_size=None):
        """Per level the chosen node and its path probability, as a ``pandas.DataFrame``.

        Columns ``level_1``, ``p_level_1``, ... (``level_d`` = node at depth d below the root); past a leaf the
        cells are empty. ``mode`` as in :meth:`predict`: soft follows the most probable leaf's path (path
        probability = the sum of its leaves' probabilities), greedy the top-down argmax.

        >>> clf.predict_path(X[:1])                                  # doctest: +SKIP
           level_1  p_level_1   level_2  p_level_2
        0     warm       0.97       red       0.95
        """
        check_is_fitted(self, "model_")
        return self.structure_.path_frame(*self._paths(X, mode, batch_size))

    # ---------------------------------------------------------------- summary
    def _summary_lines(self) -> list[str]:
        from taxoclass.models.tree_summary import tree_summary_lines

        return tree_summary_lines(self)
