"""``FlatClassifier``: the flat baseline — one softmax over all classes on a pretrained backbone.

Trained by two-phase transfer learning, as the InceptionV3 plankton studies did: phase 1 trains a new head on
the frozen backbone (AdamW, ``learning_rate``) -- with ``weights=None`` there is nothing pretrained to protect and
phase 1 trains the whole network from scratch --; phase 2 unfreezes the backbone (all of it, or from
``fine_tune_at``) and re-compiles with ``fine_tune_learning_rate``. With ``lr_schedule="cosine"`` (default) each
phase's rate is the peak of a per-step cosine decay with warm-up over that phase's epochs; with ``"constant"``
phase 2 drops to ``final_learning_rate`` for the last ``final_epochs``. BatchNormalization layers of a pretrained
backbone stay in inference mode throughout.

It speaks the same language as ``TreeClassifier``: ``predict_proba`` gives leaf probabilities in
``taxonomy_.classes`` order, so every metric and report works on both.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from taxoclass.exceptions import ModelError
from taxoclass.models import CLASS_LAYERS, FLAT_HEAD_UNITS
from taxoclass.models.backbones import DEFAULT_BACKBONE as _DEFAULT_BACKBONE
from taxoclass.models.base import BaseClassifier
from taxoclass.taxonomy import Taxonomy

__all__ = ["FlatClassifier", "lineage_logits"]

_PHASE1_DONE = "phase1_done.weights.h5"


def _phase_epochs(epochs) -> tuple[int, int]:
    """``epochs`` -> (phase 1, phase 2); an int means phase 1 only."""
    if isinstance(epochs, (int, np.integer)) and not isinstance(epochs, bool):
        pair = (int(epochs), 0)
    elif isinstance(epochs, (tuple, list)) and len(epochs) == 2 and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in epochs):
        pair = (int(epochs[0]), int(epochs[1]))
    else:
        raise ModelError(f"epochs must be (phase1, phase2) — head-only epochs, then fine-tuning epochs — or one "
                         f"integer for phase 1 only, got {epochs!r}.")
    if min(pair) < 0 or sum(pair) < 1:
        raise ModelError(f"epochs={epochs!r}: both phases need >= 0 epochs and at least one epoch in all.")
    return pair


class FlatClassifier(BaseClassifier):
    """Flat image classifier: a keras.applications backbone + dense head + softmax over the classes.

    Parameters
    ----------
    taxonomy : a :class:`~taxoclass.Taxonomy`, a list of class names, or None (the sorted classes of ``y``).
        With a list or None, ``taxonomy_`` is a one-level tree root -> classes; with a taxonomy, ``taxonomy_`` is
        that taxonomy (only its leaf classes matter to a flat model, but hierarchical metrics can use it).
    backbone : one of :func:`taxoclass.models.backbones.backbone_names` (inception_v3, mobilenet_v2, resnet50,
        densenet121, efficientnet_b0, resnet_small, vgg_bn, small_cnn).
    width, depth : size of the from-scratch families ``resnet_small`` and ``vgg_bn`` (first-stage filters,
        blocks per stage); None = the family's default (32, 1). Refused for the other backbones.
    input_shape : (height, width, channels) of the images; (299, 299, 3) suits InceptionV3 (minimum 75 px).
    pad_value, invert, resize : the rest of the model's input spec, as for ``TreeClassifier`` (how image files are
        fitted to ``input_shape``; saved with the model).
    weights : ``"imagenet"`` (needs internet once), None (train from scratch) or a local weights file.
    head_units : sizes of the dense layers between the pooled features and the softmax.
    dropout : dropout rate after each head layer.
    class_layer : ``"dense"`` (default: one weight vector per class) or ``"lineage"``: each class's weight vector
        is the **sum of the vectors of the nodes on its lineage** in ``taxonomy`` (the tree-based prior of
        Srivastava and Salakhutdinov, NeurIPS 2013): classes of one family share most of their weights, so a rare
        class starts from its family's. Costs nothing measurable. On NDSB with a tenth of the images it was +1.7
        points of top-1 with test-time views (three pairs); with all of them it tied (docs/benchmarks.md, pairs
        TP). Needs a ``taxonomy`` with internal nodes.
    pooling : ``"avg"`` or ``"max"`` global pooling of the feature map.
    fine_tune_at : phase 2 unfreezes the backbone layers from this index (negative: the top N layers) or layer
        name; None unfreezes every layer.
    batchnorm : ``"auto"`` (frozen, i.e. inference mode, with pretrained weights; trained with weights=None),
        ``"frozen"`` or ``"trainable"``.
    epochs : ``(phase1, phase2)`` epochs; an int = phase 1 only. With ``weights=None`` use e.g. ``(0, 20)``.
    learning_rate : AdamW learning rate of phase 1 (head only; the whole network with ``weights=None``).
    fine_tune_learning_rate : AdamW learning rate of phase 2.
    weight_decay : AdamW's decoupled weight decay (each step ``w -= learning_rate * weight_decay * w``; biases
        and batch-norm parameters are not decayed); 0 = plain Adam.
    loss : ``"crossentropy"``, ``"soft_labels"`` (targets softened by taxonomy distance) or ``"hxe"``
        (hierarchical cross-entropy); see :mod:`taxoclass.models.losses`. The hierarchy-aware losses need a
        ``taxonomy`` with more than one level to differ from cross-entropy.
    label_smoothing : share of the target spread uniformly over the classes (0.1 = 10 %).
    soft_labels_beta : ``loss="soft_labels"``: target ``softmax(-beta * LCA height)``; larger = harder labels.
    hxe_alpha : ``loss="hxe"``: weight ``exp(-alpha * (depth - 1))`` of each decision on the path; 0 = plain
        cross-entropy, larger = more weight on the coarse decisions.
    final_learning_rate : with ``lr_schedule="constant"``: learning rate of the last ``final_epochs`` epochs of
        phase 2.
    final_epochs : None = a third of phase 2 (``phase2 // 3``).
    lr_schedule : ``"cosine"`` (default: linear warm-up, then cosine decay per step), ``"constant"`` or
        ``"plateau"`` (``ReduceLROnPlateau``, patience ``reduce_lr_patience``).
    restore_best : True (default): the weights of the epoch with the best validation top-1 are restored at the end.
    time_budget : minutes of training (None: ``epochs`` decide). With a budget, phase 2 (or phase 1 when it is the
        only one) runs as many epochs as fit, measured from the first epoch; the cosine schedule is fitted to them.
    batch_size, output_dir, early_stopping_patience, reduce_lr_patience, checkpoint, csv_log, tensorboard, resume,
    strategy, mixed_precision, random_state : the shared training-loop options (see ``taxoclass.training``);
        ``resume=True`` + ``output_dir`` continue a killed run at its last finished epoch, in either phase.

    Examples
    --------
    >>> import numpy as np
    >>> from taxoclass.models import FlatClassifier
    >>> X = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 1)).astype("float32")
    >>> y = ["copepod", "diatom"] * 4
    >>> clf = FlatClassifier(backbone="small_cnn", input_shape=(32, 32, 1), weights=None, head_units=(16,),
    ...                      epochs=(1, 1), batch_size=4, random_state=0).fit(X, y, verbose=0)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> list(clf.classes_)
    ['copepod', 'diatom']
    """

    def __init__(self, taxonomy=None, *, backbone=_DEFAULT_BACKBONE, input_shape=(64, 64, 3), pad_value=255.0,
                 invert=False, resize="pad", weights=None, width=None, depth=None, head_units=FLAT_HEAD_UNITS,
                 dropout=0.2, pooling="avg", class_layer="dense", fine_tune_at=None, batchnorm="auto", epochs=(5, 5),
                 learning_rate=1e-3,
                 fine_tune_learning_rate=1e-4, final_learning_rate=1e-5, final_epochs=None, weight_decay=5e-4,
                 loss="crossentropy", label_smoothing=0.1, soft_labels_beta=4.0, hxe_alpha=0.1, batch_size=32,
                 output_dir=None, early_stopping_patience=None,
                 reduce_lr_patience=None, checkpoint=False, csv_log=False, tensorboard=False, resume=False,
                 strategy="auto", mixed_precision=False, random_state=None, lr_schedule="cosine", restore_best=True,
                 time_budget=None):
        self.taxonomy = taxonomy
        self.backbone = backbone
        self.input_shape = input_shape
        self.pad_value = pad_value
        self.invert = invert
        self.resize = resize
        self.weights = weights
        self.width = width
        self.depth = depth
        self.head_units = head_units
        self.dropout = dropout
        self.pooling = pooling
        self.class_layer = class_layer
        self.fine_tune_at = fine_tune_at
        self.batchnorm = batchnorm
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.final_learning_rate = final_learning_rate
        self.final_epochs = final_epochs
        self.weight_decay = weight_decay
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.soft_labels_beta = soft_labels_beta
        self.hxe_alpha = hxe_alpha
        self.batch_size = batch_size
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

    # ------------------------------------------------------------------ parameters
    def _param(self, name):
        # the base loop counts epochs in total; the split into phases is kept in self._phases
        if name == "epochs":
            return sum(_budget_phases(_phase_epochs(self.epochs), self.time_budget))
        return super()._param(name)

    def _validate_params(self) -> None:
        from taxoclass.models.backbones import backbone_spec, check_size
        from taxoclass.models.losses import check_loss_params
        from taxoclass.models.optim import check_weight_decay

        _phase_epochs(self.epochs)
        super()._validate_params()
        check_size(backbone_spec(self.backbone), self.width, self.depth)
        check_loss_params(self.loss, self.label_smoothing, self.soft_labels_beta, self.hxe_alpha)
        check_weight_decay(self.weight_decay)
        for name in ("fine_tune_learning_rate", "final_learning_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ModelError(f"{name} must be a positive number such as 1e-4, got {v!r}.")
        units = self.head_units
        if isinstance(units, (int, np.integer)) and not isinstance(units, bool):
            units = (units,)
        if not isinstance(units, (tuple, list)) or not all(
                isinstance(u, (int, np.integer)) and not isinstance(u, bool) and u > 0 for u in units):
            raise ModelError(f"head_units must be a tuple of positive layer sizes such as (1024,) or () for none, "
                             f"got {self.head_units!r}.")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ModelError(f"dropout must be a rate in [0, 1), got {self.dropout!r}.")
        if self.pooling not in ("avg", "max"):
            raise ModelError(f"pooling must be 'avg' or 'max', got {self.pooling!r}.")
        if self.class_layer not in CLASS_LAYERS:
            raise ModelError(f"class_layer must be one of {', '.join(CLASS_LAYERS)}, got {self.class_layer!r}.")
        if self.class_layer == "lineage" and not isinstance(self.taxonomy, Taxonomy):
            raise ModelError("class_layer='lineage' builds each class's weights from its lineage in a taxonomy; pass "
                             "taxonomy=Taxonomy(...) (or load_taxonomy('tree.tsv')), or use class_layer='dense'.")
        if self.batchnorm not in ("auto", "frozen", "trainable"):
            raise ModelError(f"batchnorm must be 'auto', 'frozen' or 'trainable', got {self.batchnorm!r}.")
        fe = self.final_epochs
        if fe is not None and (isinstance(fe, bool) or not isinstance(fe, (int, np.integer)) or fe < 0):
            raise ModelError(f"final_epochs must be None or an integer >= 0, got {fe!r}.")

    def _head_units(self) -> tuple[int, ...]:
        u = self.head_units
        return (int(u),) if isinstance(u, (int, np.integer)) else tuple(int(v) for v in u)

    def _batchnorm_mode(self) -> str:
        if self.batchnorm != "auto":
            return self.batchnorm
        return "trainable" if self.weights is None else "frozen"

    def _make_taxonomy(self, labels) -> Taxonomy:
        tax = self.taxonomy
        if isinstance(tax, Taxonomy):
            return tax
        if tax is None:
            if labels is None:
                raise ModelError("FlatClassifier() without taxonomy takes its classes from y; with a tf.data.Dataset "
                                 "pass the classes: FlatClassifier(['class_a', 'class_b', ...]) in the dataset's "
                                 "label order.")
            classes = sorted(set(labels))
        elif isinstance(tax, (list, tuple, np.ndarray)) and all(isinstance(c, str) for c in tax):
            classes = list(tax)
            dupes = sorted({c for c in classes if classes.count(c) > 1})
            if dupes:
                raise ModelError(f"the class list names {', '.join(dupes)} more than once; each class once.")
        else:
            raise ModelError(f"taxonomy must be a taxoclass.Taxonomy, a list of class names or None, got "
                             f"{type(tax).__name__}.")
        if len(classes) < 2:
            raise ModelError(f"a classifier needs at least 2 classes, got {classes}.")
        return Taxonomy.from_paths([[c] for c in classes])

    # ------------------------------------------------------------------ model
    def _build_model(self):
        from taxoclass.models.backbones import build_backbone, set_trainable

        backbone = build_backbone(self.backbone, tuple(self.input_shape), weights=self.weights, width=self.width,
                                  depth=self.depth)
        set_trainable(backbone, False)
        inputs = keras.Input(tuple(int(v) for v in self.input_shape), name="image")
        x = backbone(inputs)
        pool = keras.layers.GlobalAveragePooling2D if self.pooling == "avg" else keras.layers.GlobalMaxPooling2D
        x = pool(name="pool")(x)
        for i, units in enumerate(self._head_units()):
            x = keras.layers.Dense(units, activation="relu", name=f"head_dense{i + 1}")(x)
            if self.dropout:
                x = keras.layers.Dropout(float(self.dropout), name=f"head_dropout{i + 1}")(x)
        if self.class_layer == "lineage":
            x = lineage_logits(x, self.taxonomy_)
        else:
            x = keras.layers.Dense(self.taxonomy_.n_classes, name="logits")(x)
        outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
        return keras.Model(inputs, outputs, name=f"flat_{self.backbone}")

    def _backbone_model(self):
        return self.model_.get_layer(f"{self.backbone}_backbone")

    def _compile_with(self, learning_rate: float, model=None) -> None:
        from taxoclass.models.losses import make_loss
        from taxoclass.models.optim import make_optimizer
        from taxoclass.models.partial_labels import NodeAccuracy

        with self._strategy.scope():
            (self.model_ if model is None else model).compile(
                optimizer=make_optimizer(learning_rate, self.weight_decay),
                loss=make_loss(self.loss, self.taxonomy_, label_smoothing=self.label_smoothing,
                               soft_labels_beta=self.soft_labels_beta, hxe_alpha=self.hxe_alpha),
                metrics=[NodeAccuracy.for_taxonomy(self.taxonomy_)])  # labels at internal nodes too

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None, *, validation_data=None, epochs=None, batch_size=None, class_weight=None,
            callbacks=None, verbose="auto"):
        """Two-phase training (see the class docstring); ``epochs`` may override ``(phase1, phase2)``.

        Other arguments as :meth:`BaseClassifier.fit`. ``history_`` has one entry per epoch of both phases,
        with ``phase`` (1 or 2) and ``learning_rate``.

        >>> clf.fit(X_train, y_train, validation_data=(X_val, y_val), epochs=(3, 10))   # doctest: +SKIP
        """
        self._validate_params()
        self._phases = _budget_phases(_phase_epochs(self.epochs if epochs is None else epochs), self.time_budget)
        return super().fit(X, y, validation_data=validation_data, epochs=sum(self._phases), batch_size=batch_size,
                           class_weight=class_weight, callbacks=callbacks, verbose=verbose)

    def _train(self, train_ds, val_ds, epochs, callbacks, class_weight, verbose):
        from taxoclass.models.backbones import set_trainable
        from taxoclass.resume import BACKUP_DIR, ResumeBackup
        from taxoclass.training import CosineWarmup

        p1, p2 = getattr(self, "_phases", None) or _phase_epochs(self.epochs)
        final = p2 // 3 if self.final_epochs is None else min(int(self.final_epochs), p2)
        switch = p1 + p2 - final  # first epoch at final_learning_rate

        backup = [cb for cb in callbacks if isinstance(cb, keras.callbacks.BackupAndRestore)]
        others = [cb for cb in callbacks if not isinstance(cb, keras.callbacks.BackupAndRestore)]
        backup_root = Path(self.output_dir) / BACKUP_DIR if backup else None
        phase1_done = backup_root / _PHASE1_DONE if backup else None

        final_lr = float(self.final_learning_rate)

        def phase_callbacks(phase):
            for cb in others:  # the cosine schedule peaks at this phase's rate
                if isinstance(cb, CosineWarmup):
                    cb.learning_rate = float(self.learning_rate if phase == 1 else self.fine_tune_learning_rate)
                    cb.start_epoch = 0 if phase == 1 else p1
            cbs = [_PhaseLogger(phase)]
            if phase == 2 and self.lr_schedule == "constant" and final:
                cbs.append(keras.callbacks.LearningRateScheduler(
                    lambda epoch, lr: min(lr, final_lr) if epoch >= switch else lr))
            if backup:
                cbs.append(ResumeBackup(str(backup_root / f"phase{phase}"), save_freq="epoch", delete_checkpoint=True))
            return cbs + others

        def fit(model, **kwargs):
            return model.fit(train_ds, validation_data=val_ds, class_weight=class_weight, verbose=verbose,
                             shuffle=False, **kwargs)

        histories = []
        if p1 and not (backup and phase1_done.is_file()):
            if self.weights is None:  # from scratch: no pretrained features to protect, the whole network trains
                set_trainable(self._backbone_model(), True, batchnorm=self._batchnorm_mode())
            else:
                set_trainable(self._backbone_model(), False)
            # phase 1 trains a second Keras model over the same layers (the weights are shared): a resumed
            # BackupAndRestore records its starting epoch on the model it trains, which phase 2 must not inherit
            phase1 = keras.Model(self.model_.inputs, self.model_.outputs, name=self.model_.name)
            self._compile_with(self.learning_rate, phase1)
            histories.append(fit(phase1, epochs=p1, callbacks=phase_callbacks(1)))
            if backup and p2:
                backup_root.mkdir(exist_ok=True)
                tmp = backup_root / f".tmp_{_PHASE1_DONE}"
                self.model_.save_weights(str(tmp))
                os.replace(tmp, phase1_done)
        elif p1:
            self.model_.load_weights(str(phase1_done))  # phase 1 finished before the interruption
        if p2:
            set_trainable(self._backbone_model(), True, fine_tune_at=self.fine_tune_at,
                          batchnorm=self._batchnorm_mode())
            self._compile_with(self.fine_tune_learning_rate if switch > p1 or self.lr_schedule != "constant"
                               else self.final_learning_rate)
            for cb in others:  # the log of phase 1 continues
                if isinstance(cb, keras.callbacks.CSVLogger) and p1:
                    cb.append = True
            histories.append(fit(self.model_, initial_epoch=p1, epochs=p1 + p2, callbacks=phase_callbacks(2)))
        if backup:
            shutil.rmtree(backup_root, ignore_errors=True)
        return _merge_histories(histories)

    # ------------------------------------------------------------------ reporting
    def _summary_lines(self) -> list[str]:
        backbone = self._backbone_model()
        shape = tuple(self.input_shape)
        units = self._head_units()
        return [f"backbone: {self.backbone} on {shape[0]}x{shape[1]}x{shape[2]} images "
                f"({backbone.count_params():,} parameters), weights: {self.weights!r}",
                f"head: {self.pooling} pooling -> {' -> '.join(map(str, units)) + ' -> ' if units else ''}"
                f"{len(self.classes_)}-way softmax (dropout {self.dropout})",
                f"trainable parameters now: {sum(int(np.prod(w.shape)) for w in self.model_.trainable_weights):,}"]


def lineage_logits(x, taxonomy: Taxonomy, *, name: str = "logits"):
    """Class logits whose weights are sums along the taxonomy: a Dense layer of one score per node below the root
    (``node_scores``), then the fixed 0/1 matrix that adds up the nodes of each class's lineage (``name``, not
    trained). Class c's weight vector (and bias) is the sum of those of its ancestors and its own.

    >>> tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    >>> inp = keras.Input((4,))
    >>> model = keras.Model(inp, lineage_logits(inp, tax))
    >>> model.output_shape, int(model.get_layer("logits").kernel.numpy().sum())  # 5 nodes; paths of 2 nodes each
    ((None, 3), 6)
    """
    m = np.delete(np.asarray(taxonomy.membership, np.float32), taxonomy.node_index(taxonomy.root), axis=1)
    x = keras.layers.Dense(m.shape[1], name="node_scores")(x)
    layer = keras.layers.Dense(taxonomy.n_classes, use_bias=False, trainable=False, name=name)
    out = layer(x)
    layer.set_weights([m.T])
    return out


def _merge_histories(histories):
    """One History-like object holding the epochs of both phases."""
    merged = keras.callbacks.History()
    merged.history, merged.epoch = {}, []
    for h in histories:
        n = len(h.epoch)
        for key in set(merged.history) | set(h.history):
            merged.history.setdefault(key, [math.nan] * len(merged.epoch))
            merged.history[key] += list(h.history.get(key, [math.nan] * n))
        merged.epoch += list(h.epoch)
    return merged


class _PhaseLogger(keras.callbacks.Callback):
    """Adds the training ``phase`` (1 or 2) to each epoch's logs (history, CSV log); the learning rate is logged
    by the schedule callbacks (see :func:`taxoclass.training.build_callbacks`)."""

    def __init__(self, phase: int):
        super().__init__()
        self.phase = phase

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["phase"] = self.phase


def _budget_phases(phases: tuple[int, int], time_budget) -> tuple[int, int]:
    """With a time budget the last phase runs until the budget stops it (an upper limit of epochs)."""
    from taxoclass.training import MAX_BUDGET_EPOCHS

    if time_budget is None:
        return phases
    p1, p2 = phases
    return (p1, MAX_BUDGET_EPOCHS - p1) if p2 else (MAX_BUDGET_EPOCHS, 0)
