"""The shared base of every taxoclass model: :class:`BaseClassifier`.

``TreeClassifier`` and ``FlatClassifier`` subclass it. The base owns everything that is the same for both:
checking labels against the taxonomy, turning arrays or a ``tf.data.Dataset`` into batches (the functions of
:mod:`taxoclass.models.inputs`), class weights, callbacks (via :mod:`taxoclass.training`), the distribution
strategy, ``history_``, ``predict_proba`` / ``predict`` / ``evaluate``, and the one-file ``save`` / ``load``
artefact.

A subclass stores its ``__init__`` arguments unchanged (scikit-learn style) and implements:

- ``_build_model(self) -> keras.Model``: the network mapping float32 [0, 255] images (N, H, W, C) to leaf
  probabilities in ``self.taxonomy_.classes`` order; called inside the distribution strategy's scope, after
  ``taxonomy_`` and ``classes_`` are set.
- optionally ``_train(self, train_ds, val_ds, epochs, callbacks, class_weight, verbose) -> keras History``
  (the default compiles with Adam(``learning_rate``) + sparse categorical cross-entropy and calls
  ``model.fit``), ``_after_train(self, val_ds)`` (what is chosen on the validation split once training has
  ended, before calibration), ``_make_taxonomy(self, labels)``, ``_validate_params(self)`` and
  ``_summary_lines(self)``.

Training-loop arguments read from the instance (each optional; defaults in :data:`TRAINING_DEFAULTS`):
epochs, batch_size, learning_rate, lr_schedule, restore_best, time_budget, output_dir, early_stopping_patience,
reduce_lr_patience, checkpoint, csv_log,
tensorboard, resume (-> ``BackupAndRestore``, then the trained weights until ``fit`` returns:
:mod:`taxoclass.resume`), strategy, mixed_precision, random_state.

TensorFlow is imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from taxoclass.calibration import apply_temperature, calibrate, to_metadata as calibration_metadata
from taxoclass.exceptions import ClassMismatchError, DataError, ModelError
from taxoclass.models.inputs import (arrays_dataset, check_dataset, check_images, encode_labels, is_dataset,
                                     labels_of)
from taxoclass.models.model_file import (FORMAT, FORMAT_VERSION, _REGISTRY, _jsonable, read_model_file,
                                         taxonomy_from_dict, taxonomy_to_dict, write_model_file)
from taxoclass.models.seeding import local_random_seed
from taxoclass.taxonomy import Taxonomy

__all__ = ["BaseClassifier", "FORMAT", "FORMAT_VERSION", "TRAINING_DEFAULTS", "taxonomy_to_dict",
           "taxonomy_from_dict"]

TRAINING_DEFAULTS = {
    "epochs": 10, "batch_size": 32, "learning_rate": 1e-3, "output_dir": None, "early_stopping_patience": None,
    "reduce_lr_patience": None, "checkpoint": False, "csv_log": False, "tensorboard": False, "resume": False,
    "strategy": "auto", "mixed_precision": False, "random_state": None, "pad_value": 255.0, "invert": False,
    "resize": "pad", "lr_schedule": "cosine", "restore_best": True, "time_budget": None,
}


class BaseClassifier(ClassifierMixin, BaseEstimator):
    """Shared base of :class:`~taxoclass.models.tree.TreeClassifier` and ``FlatClassifier``.

    Not used directly: subclasses define ``__init__`` (storing their arguments) and ``_build_model``.
    Every fitted model has ``classes_`` (class names, taxonomy order), ``taxonomy_``, ``model_`` (the Keras
    model, images -> class probabilities) and ``history_`` (dict of per-epoch lists).

    Examples
    --------
    >>> from taxoclass.models import TreeClassifier                      # doctest: +SKIP
    >>> clf = TreeClassifier(tax, input_shape=(32, 32, 3)).fit(X, y)     # doctest: +SKIP
    >>> clf.save("model.taxoclass")                                       # doctest: +SKIP
    >>> BaseClassifier.load("model.taxoclass").predict(X[:3])            # doctest: +SKIP
    array(['cat', 'dog', 'car'], dtype=object)
    """

    _estimator_type = "classifier"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # ------------------------------------------------------------------ parameters
    def _param(self, name):
        return getattr(self, name, TRAINING_DEFAULTS.get(name))

    def _validate_params(self) -> None:
        """Check constructor arguments (subclasses extend); raise ModelError with one clear message."""
        for name in ("epochs", "batch_size"):
            v = self._param(name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ModelError(f"{name} must be a positive integer, got {v!r}.")
        lr = self._param("learning_rate")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ModelError(f"learning_rate must be a positive number such as 1e-3, got {lr!r}.")
        from taxoclass.training import check_schedule_options

        check_schedule_options(self._param("lr_schedule"), self._param("time_budget"), self._param("restore_best"),
                               self._param("reduce_lr_patience"))
        pad = self._param("pad_value")
        if isinstance(pad, bool) or not isinstance(pad, (int, float, np.integer, np.floating)) or not 0 <= pad <= 255:
            raise ModelError(f"pad_value must be a pixel value between 0 and 255 (the background), got {pad!r}.")
        if not isinstance(self._param("invert"), (bool, np.bool_)):
            raise ModelError(f"invert must be True or False, got {self._param('invert')!r}.")
        if self._param("resize") not in ("pad", "stretch"):
            raise ModelError(f"resize must be 'pad' (keep the aspect ratio) or 'stretch', got "
                             f"{self._param('resize')!r}.")
        if self._param("resume") and self._param("output_dir") is None:
            raise ModelError("resume=True needs output_dir (where the backup of an interrupted run is kept); "
                             "pass output_dir='some/folder'.")

    def _make_taxonomy(self, labels) -> Taxonomy:
        """The taxonomy of the model (default: the ``taxonomy`` argument); ``labels`` are the class names
        seen in ``y`` (or None for a dataset). Subclasses override (a flat model builds root -> classes)."""
        tax = getattr(self, "taxonomy", None)
        if not isinstance(tax, Taxonomy):
            raise ModelError(f"taxonomy must be a taxoclass.Taxonomy (e.g. taxoclass.load_taxonomy('tree.tsv')), "
                             f"got {type(tax).__name__}.")
        return tax

    def input_spec(self) -> dict:
        """How image files are prepared for this model: ``image_size``, ``channels`` (from ``input_shape``),
        ``pad_value``, ``invert`` and ``resize`` (estimator parameters). Saved with the model; ``taxoclass
        evaluate`` / ``predict`` and :func:`taxoclass.jobs.images_dataset` prepare images with it.

        >>> from taxoclass.models import TreeClassifier
        >>> from taxoclass import Taxonomy
        >>> TreeClassifier(Taxonomy.from_paths([["a"], ["b"]]), input_shape=(32, 32, 1), pad_value=0).input_spec()
        {'image_size': 32, 'channels': 1, 'pad_value': 0.0, 'invert': False, 'resize': 'pad'}
        """
        shape = self._expected_input_shape()
        return {"image_size": None if shape is None else int(shape[0]),
                "channels": None if shape is None else int(shape[-1]),
                "pad_value": float(self._param("pad_value")), "invert": bool(self._param("invert")),
                "resize": str(self._param("resize"))}

    def _expected_input_shape(self):
        shape = getattr(self, "input_shape", None)
        return None if shape is None else tuple(int(v) for v in shape)

    # ------------------------------------------------------------------ inputs
    def _class_weight(self, class_weight, y_idx, tax: Taxonomy):
        from taxoclass.data.weights import fit_class_weight

        return fit_class_weight(class_weight, y_idx, list(tax.classes))

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, validation_data=None, epochs=None, batch_size=None, class_weight=None,
            callbacks=None, verbose="auto"):
        """Train the model; returns ``self``.

        Parameters
        ----------
        X : array (N, H, W[, C]) of [0, 255] pixel values, or a ``tf.data.Dataset`` of (images, int label)
            batches (labels are class indices in ``taxonomy.classes`` order).
        y : class names or class indices (with an array ``X``).
        validation_data : ``(X_val, y_val)`` or a dataset like ``X``.
        epochs, batch_size : override the constructor's values for this call.
        class_weight : None, ``"balanced"`` (inverse class frequency), ``"sqrt"`` (its square root, milder) or
            ``{class name or index: weight}``.
        callbacks : extra ``keras.callbacks.Callback`` objects.
        verbose : Keras verbosity ("auto", 0, 1, 2).

        Labels are checked first: every unknown class is listed in one ``ClassMismatchError``.

        >>> clf.fit(X_train, y_train, validation_data=(X_val, y_val), epochs=5)   # doctest: +SKIP
        """
        import time

        fit_start = time.perf_counter()  # a time budget covers the whole call: model building and tracing too
        self._validate_params()
        epochs = self._param("epochs") if epochs is None else epochs
        if self._param("time_budget") is not None:  # the budget decides how many epochs run
            from taxoclass.training import MAX_BUDGET_EPOCHS

            epochs = MAX_BUDGET_EPOCHS
        batch_size = self._param("batch_size") if batch_size is None else batch_size
        for name, v in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ModelError(f"{name} must be a positive integer, got {v!r}.")
        is_ds = is_dataset(X)
        # 1. labels first
        if is_ds:
            if y is not None:
                raise DataError("y must be None when X is a tf.data.Dataset (the dataset yields the labels).")
            tax = self._make_taxonomy(None)
            y_idx = None
        else:
            if y is None:
                raise DataError("fit(X, y) needs y (class names or indices) when X is an array.")
            y_arr = np.asarray(y)
            names = [str(v) for v in y_arr.reshape(-1)] if y_arr.dtype.kind not in "iuf" else None
            tax = self._make_taxonomy(names)
            y_idx = encode_labels(y_arr, tax)
        val = None
        if validation_data is not None:
            if is_dataset(validation_data):
                val = ("ds", validation_data)
            elif isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
                yv = encode_labels(validation_data[1], tax, what="validation y")
                val = ("xy", validation_data[0], yv)
            else:
                raise DataError("validation_data must be (X_val, y_val) or a tf.data.Dataset of (images, labels).")
        cw = self._class_weight(class_weight, y_idx if y_idx is not None else
                                (labels_of(X) if class_weight in ("balanced", "sqrt") else None), tax)
        # 2. images
        if is_ds:
            train_ds = check_dataset(X, tax, what="X")
        else:
            Xa = check_images(X, expected_shape=self._expected_input_shape())
            if len(Xa) != len(y_idx):
                raise DataError(f"X has {len(Xa)} images but y has {len(y_idx)} labels; they must match.")
            train_ds = arrays_dataset(Xa, y_idx, batch_size=int(batch_size), shuffle=True,
                                      seed=self._param("random_state"))
        val_ds = None
        if val is not None:
            if val[0] == "ds":
                val_ds = check_dataset(val[1], tax, what="validation_data")
            else:
                Xv = check_images(val[1], expected_shape=self._expected_input_shape(), what="validation X")
                if len(Xv) != len(val[2]):
                    raise DataError(f"validation X has {len(Xv)} images but validation y has {len(val[2])} labels.")
                val_ds = arrays_dataset(Xv, val[2], batch_size=int(batch_size))
        # 3. model
        import tensorflow as tf

        from taxoclass import training
        from taxoclass.resume import discard_backup, load_trained, save_trained

        self.taxonomy_ = tax
        self.classes_ = np.array(tax.classes, dtype=object)
        kept = self._param("output_dir") if self._param("resume") else None  # where an unfinished fit is kept
        previous_policy = training.set_mixed_precision(bool(self._param("mixed_precision")))
        try:
            # random_state seeds this fit only (initialisers, dropout, augmentation); the caller's state is kept
            with local_random_seed(self._param("random_state")):
                self._strategy = training.get_strategy(self._param("strategy"))
                with self._strategy.scope():
                    self.model_ = self._build_model()
                cbs = training.callbacks_for(self._param, validation=val_ds is not None, extra=callbacks,
                                             start=fit_start)
                # a run killed after its training finished (resume=True) is not trained again
                history = None if kept is None else load_trained(self.model_, kept)
                if history is None:
                    history = self._train(train_ds, val_ds, int(epochs), cbs, cw, verbose)
                    history = {k: [float(v) for v in vals] for k, vals in (history.history if history else {}).items()}
                    if kept is not None:
                        save_trained(self.model_, history, kept)
        except tf.errors.InvalidArgumentError as exc:
            if "not a class index" in str(exc) or "negative label" in str(exc):
                raise ClassMismatchError(f"the dataset yields labels outside 0..{tax.n_classes - 1}; labels "
                                         "must be class indices in taxonomy.classes order.") from None
            raise
        finally:
            training.set_mixed_precision(previous_policy == "mixed_float16")
        self.history_ = history
        self._after_train(val_ds)
        self.temperature_, self.calibration_, self.threshold_curve_ = 1.0, None, None  # fitted on validation data:
        if val_ds is not None:
            calibrate(self, self.predict_proba(val_ds, batch_size, calibrated=False), labels_of(val_ds))
        if kept is not None:
            discard_backup(kept)
        return self

    def _after_train(self, val_ds) -> None:
        """Fit what is chosen on the validation split once training has ended (before calibration); nothing here.
        It also runs when an interrupted run that had finished training is resumed (:mod:`taxoclass.resume`)."""

    def _compile(self, model) -> None:
        """Compile ``model`` for the default training loop (Adam + sparse categorical cross-entropy)."""
        import keras

        model.compile(optimizer=keras.optimizers.Adam(float(self._param("learning_rate"))),
                      loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def _train(self, train_ds, val_ds, epochs, callbacks, class_weight, verbose):
        """Default training loop: compile (inside the strategy scope) and ``model.fit``; returns the History."""
        with self._strategy.scope():
            self._compile(self.model_)
        return self.model_.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks,
                               class_weight=class_weight, verbose=verbose, shuffle=False)

    def _build_model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ prediction
    def _predict_input(self, X, batch_size=None):
        """Arrays -> batched dataset of images; a dataset passes through (labels dropped)."""
        check_is_fitted(self, "model_")
        bs = int(batch_size or self._param("batch_size") or 32)
        if is_dataset(X):
            spec = X.element_spec
            return X.map(lambda *t: t[0]) if isinstance(spec, tuple) else X
        return arrays_dataset(check_images(X, expected_shape=self._expected_input_shape()), batch_size=bs)

    def predict_proba(self, X, batch_size=None, *, calibrated: bool = True, callbacks=None) -> np.ndarray:
        """Class probabilities (N, n_classes) in ``taxonomy_.classes`` order; rows sum to 1.

        ``calibrated``: apply ``temperature_``, fitted on the validation split by ``fit`` (1.0 without one;
        :mod:`taxoclass.calibration`). ``callbacks``: Keras callbacks of the prediction loop (a progress bar).

        >>> clf.predict_proba(X[:2]).sum(axis=1)      # doctest: +SKIP
        array([1., 1.], dtype=float32)
        """
        ds = self._predict_input(X, batch_size)
        p = np.asarray(self.model_.predict(ds, verbose=0, callbacks=callbacks), dtype=np.float64)
        p = np.clip(p, 0.0, None)
        p = p / p.sum(axis=1, keepdims=True)
        T = getattr(self, "temperature_", 1.0) if calibrated else 1.0
        return p.astype(np.float32) if T == 1.0 else apply_temperature(p, T)

    def predict(self, X, batch_size=None, *, mode: str = "soft") -> np.ndarray:
        """Class name per image: the most probable (``mode="soft"``) or the one with the lowest expected mistake
        severity on ``taxonomy_`` (``mode="risk"``, :meth:`~taxoclass.taxonomy.Taxonomy.ranked_classes`).

        >>> clf.predict(X[:2])       # doctest: +SKIP
        array(['cat', 'car'], dtype=object)
        """
        return self.classes_[self.taxonomy_.ranked_classes(self.predict_proba(X, batch_size), mode, 1)[:, 0]]

    def evaluate(self, X, y=None, batch_size=None) -> dict:
        """Loss (mean negative log-likelihood of the true class), accuracy and sample count.

        ``X`` is an array with ``y``, or a dataset of (images, labels).

        >>> clf.evaluate(X_test, y_test)       # doctest: +SKIP
        {'loss': 0.31, 'accuracy': 0.9, 'n': 200}
        """
        check_is_fitted(self, "model_")
        if is_dataset(X):
            y_idx = labels_of(X)
        else:
            if y is None:
                raise DataError("evaluate(X, y) needs y when X is an array.")
            y_idx = encode_labels(y, self.taxonomy_)
        p = self.predict_proba(X, batch_size).astype(np.float64)
        if len(p) != len(y_idx):
            raise DataError(f"X has {len(p)} images but y has {len(y_idx)} labels; they must match.")
        from taxoclass.taxonomy.internal_labels import label_hits, label_mass

        pt = label_mass(self.taxonomy_, y_idx, p)  # a label at an internal node: its classes' summed probability
        return {"loss": float(-np.mean(np.log(np.clip(pt, 1e-12, None)))),
                "accuracy": float(np.mean(label_hits(self.taxonomy_, y_idx, np.argmax(p, axis=1)))),
                "n": int(len(p))}

    # ------------------------------------------------------------------ summary
    def _summary_lines(self) -> list[str]:
        return []

    def summary(self) -> str:
        """A text summary: model type, classes, parameters and the subclass's details (nodes, levels...)."""
        check_is_fitted(self, "model_")
        lines = [f"{type(self).__name__}: {len(self.classes_)} classes, "
                 f"{self.model_.count_params():,} parameters"]
        lines += self._summary_lines()
        return "\n".join(lines)

    # ------------------------------------------------------------------ save / load
    def _metadata(self) -> dict:
        from taxoclass import __version__

        params = {k: _jsonable(v) for k, v in self.get_params(deep=False).items() if k != "taxonomy"}
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "taxoclass_version": __version__,
                "class": type(self).__name__, "module": type(self).__module__, "params": params,
                "taxonomy": taxonomy_to_dict(self.taxonomy_), "classes": [str(c) for c in self.classes_],
                "history": getattr(self, "history_", {}), "pipeline": self.input_spec(),
                "augment": getattr(self, "augment_", None),
                "extra": self._extra_metadata(), "calibration": calibration_metadata(self)}

    def _extra_metadata(self) -> dict:
        """Subclass hook: more JSON saved with the model (restored by ``_restore_extra``)."""
        return {}

    def _restore_extra(self, extra: dict) -> None:
        pass

    def save(self, path, *, overwrite: bool = False):
        """Write the fitted model to ONE file (a zip: ``metadata.json`` + ``model.keras``); returns its path.

        The file holds the taxonomy, classes and parameters; :meth:`load` restores a model that predicts
        identically. An existing file is not replaced unless ``overwrite=True``. Format:
        :mod:`taxoclass.models.model_file`.

        >>> clf.save("plankton.taxoclass")            # doctest: +SKIP
        PosixPath('plankton.taxoclass')
        """
        return write_model_file(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (Keras ``safe_mode=True``); returns a fitted instance.

        ``BaseClassifier.load`` returns whichever model class wrote the file; ``TreeClassifier.load`` refuses a
        file holding another kind of model. A file from an incompatible taxoclass version is refused with a
        :class:`ModelError` naming both versions.

        >>> clf = BaseClassifier.load("plankton.taxoclass")    # doctest: +SKIP
        """
        return read_model_file(path, expected=None if cls is BaseClassifier else cls)
