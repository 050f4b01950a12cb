"""Two fixes that let Keras 3's ``model.fit`` train under ``tf.distribute.MultiWorkerMirroredStrategy``.

Keras 3 (checked 3.15 with TensorFlow 2.21) fails under that strategy (keras-team/keras#20585), in two places of its
TensorFlow trainer (``keras/src/backend/tensorflow/trainer.py``):

1. ``TensorFlowTrainer._maybe_symbolic_build`` takes a first batch to build the metrics and the optimizer and
   "reduces" the whole ``(x, y)`` structure of per-replica values with ``strategy.reduce``; the multi-worker
   cross-device ops accept one value, not a structure: ``ValueError: Attempt to convert a value (PerReplica:...)``.
   The batch is only needed for its shapes, so the fix takes this worker's local batch instead.
2. ``reduce_per_replica`` averages the per-step logs across workers with ``strategy.reduce("MEAN", v, axis=0)``;
   the logs are scalars, so axis 0 does not exist: ``Invalid reduction dimension 0 for input with 0 dimensions``.
   The fix averages them across replicas with ``axis=None``.

These are private Keras functions: the fixes are applied only when a multi-worker strategy is made
(:func:`taxoclass.distribute.multiworker_strategy`), checked against the names they replace (a Keras release that
renames them makes :func:`apply` refuse with a clear message instead of training wrongly), and guarded by
``tests/test_multiworker.py`` (two real worker processes must end with identical weights). Reproduction without
taxoclass: ``benchmarks/multiworker.py``.
"""

from __future__ import annotations

from taxoclass.exceptions import ModelError

__all__ = ["apply", "PATCHED"]

#: the private Keras names the fixes replace or use (checked before patching)
PATCHED = ("TensorFlowTrainer._maybe_symbolic_build", "reduce_per_replica", "_collective_all_reduce_multi_worker",
           "_is_per_replica_instance")
_applied: list[bool] = []


def _missing(trainer) -> list[str]:
    missing = []
    for name in PATCHED:
        obj = trainer
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            missing.append(name)
    return missing


def apply() -> None:
    """Install the two fixes (once per process); a Keras without the functions they replace is refused.

    >>> apply(); apply()   # idempotent                                       # doctest: +SKIP
    """
    if _applied:
        return
    import keras
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    missing = _missing(trainer)
    if missing:
        raise ModelError(f"strategy='multiworker' needs taxoclass's fix of Keras' multi-worker training, but Keras "
                         f"{keras.__version__} has no {', '.join(missing)} (keras/src/backend/tensorflow/trainer.py); "
                         "check whether this Keras trains under MultiWorkerMirroredStrategy without it "
                         "(benchmarks/multiworker.py) and update taxoclass/_keras_multiworker.py.")

    def local_batch(strategy, batch):
        def first(v):
            if isinstance(v, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(v)[0]
            return v
        return tree.map_structure(first, batch)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = local_batch(self.distribute_strategy, next(it))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            def mean(v):
                if not trainer._is_per_replica_instance(v):
                    return v
                return strategy.reduce("MEAN", v, axis=None)
            return tree.map_structure(mean, values)
        return original_reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _applied.append(True)
