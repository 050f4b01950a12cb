"""The shared training runner: callbacks from plain arguments, strategies, mixed precision."""

import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.training import build_callbacks, get_strategy, set_mixed_precision  # noqa: E402


def _tiny_model(lr):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    return model


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(32, 3)).astype("float32"), rng.integers(0, 2, 32)


def test_callbacks_from_plain_arguments(tmp_path):
    out = tmp_path / "run"  # created because its parent exists
    cbs = build_callbacks(output_dir=out, monitor="loss", early_stopping_patience=3, reduce_lr_patience=1,
                          checkpoint=True, csv_log=True, tensorboard=True, backup=True)
    kinds = [type(cb).__name__ for cb in cbs]
    assert kinds == ["ResumeBackup", "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint", "CSVLogger",
                     "TensorBoard"]
    es, rl, ck = cbs[1], cbs[2], cbs[3]
    assert (es.monitor, es.patience, es.restore_best_weights) == ("loss", 3, True)
    assert (rl.monitor, rl.patience) == ("loss", 1)
    assert ck.save_best_only and ck.filepath == str(out / "best.keras")
    assert out.is_dir()
    assert build_callbacks() == []


def test_early_stopping_and_plateau_act_on_a_real_fit(tmp_path):
    X, y = _data()
    model = _tiny_model(lr=0.0)  # lr 0: the loss never improves
    cbs = build_callbacks(output_dir=tmp_path, monitor="val_loss", early_stopping_patience=2,
                          reduce_lr_patience=1, checkpoint=True, csv_log=True)
    history = model.fit(X, y, validation_data=(X, y), epochs=20, callbacks=cbs, verbose=0)
    assert len(history.epoch) == 3  # first epoch sets the best, two more without improvement
    assert (tmp_path / "best.keras").is_file()
    assert len((tmp_path / "training_log.csv").read_text().splitlines()) == 4  # header + 3 epochs

    model = _tiny_model(lr=1e-2)
    cbs = build_callbacks(monitor="loss", reduce_lr_patience=0)
    cbs[0].min_delta = 10.0  # no epoch counts as an improvement: the lr is cut after every epoch
    model.fit(X, y, epochs=3, callbacks=cbs, verbose=0)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(1e-2 * 0.2 ** 2, rel=1e-5)


def test_outputs_of_an_earlier_run_are_not_overwritten(tmp_path):
    (tmp_path / "best.keras").write_text("earlier run")
    with pytest.raises(ModelError, match="best.keras already exists .* resume=True"):
        build_callbacks(output_dir=tmp_path, checkpoint=True)
    with pytest.raises(ModelError, match="already exists"):
        build_callbacks(output_dir=tmp_path, checkpoint=True, backup=True)  # no interrupted run to resume
    (tmp_path / "backup").mkdir()  # an interrupted run: its files belong to the run being resumed
    assert len(build_callbacks(output_dir=tmp_path, checkpoint=True, backup=True)) == 2
    assert len(build_callbacks(output_dir=tmp_path, checkpoint=True, overwrite=True)) == 1
    assert (tmp_path / "best.keras").read_text() == "earlier run"


@pytest.mark.parametrize("kwargs, message", [
    (dict(checkpoint=True), "checkpoint needs an output folder"),
    (dict(backup=True, csv_log=True), "csv_log, resume/backup needs an output folder"),
    (dict(early_stopping_patience=-1), "early_stopping_patience must be None or an integer >= 0"),
    (dict(reduce_lr_patience=1.5), "reduce_lr_patience"),
    (dict(monitor=""), "monitor must be a metric name"),
    (dict(extra=["not a callback"]), "extra callbacks must be keras.callbacks.Callback"),
])
def test_bad_callback_options_are_refused(kwargs, message):
    with pytest.raises(ModelError, match=message):
        build_callbacks(**kwargs)


def test_output_dir_must_be_creatable(tmp_path):
    with pytest.raises(ModelError, match="parent folder .* does not exist"):
        build_callbacks(output_dir=tmp_path / "a" / "b", csv_log=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="is not a folder"):
        build_callbacks(output_dir=tmp_path / "file", csv_log=True)


def test_extra_callbacks_are_appended():
    probe = keras.callbacks.LambdaCallback()
    assert build_callbacks(extra=probe) == [probe]
    assert build_callbacks(early_stopping_patience=1, extra=[probe])[-1] is probe


def test_strategies():
    import tensorflow as tf

    default = get_strategy("auto")
    assert default.num_replicas_in_sync == 1  # no GPU here
    assert get_strategy(default) is default
    mirrored = get_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))
    with pytest.raises(ModelError, match="unknown strategy 'tpu'; expected one of auto, mirrored, multiworker"):
        get_strategy("tpu")


def test_mixed_precision_switch_returns_the_previous_policy():
    before = keras.mixed_precision.global_policy().name
    try:
        assert set_mixed_precision(True) == before
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert keras.layers.Dense(2).compute_dtype == "float16"
        assert set_mixed_precision(False) == "mixed_float16"
        assert keras.layers.Dense(2).compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(before)
    with pytest.raises(ModelError, match="mixed_precision must be True or False"):
        set_mixed_precision("yes")


class _LrProbe(keras.callbacks.Callback):
    """Records the learning rate every step uses (after the schedule set it) and the weights of every epoch."""

    def __init__(self):
        super().__init__()
        self.lr, self.weights = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.lr.append(float(np.asarray(self.model.optimizer.learning_rate)))

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])


def test_cosine_schedule_with_warmup_per_step():
    import math

    X, y = _data()
    model = _tiny_model(lr=0.5)  # the compiled rate is overwritten every step
    cbs = build_callbacks(learning_rate=1e-2, lr_schedule="cosine")
    probe = _LrProbe()
    history = model.fit(X, y, batch_size=8, epochs=5, callbacks=cbs + [probe], verbose=0)  # 4 steps x 5 epochs
    total, warm = 20, 2  # warm-up: 10 % of the steps, at most one epoch
    expected = [1e-2 * (s + 1) / warm if s < warm else
                0.5 * 1e-2 * (1 + math.cos(math.pi * (s + 1 - warm) / (total - warm))) for s in range(total)]
    np.testing.assert_allclose(probe.lr, expected, rtol=1e-5, atol=1e-9)
    assert probe.lr[1] == pytest.approx(1e-2) and probe.lr[-1] == pytest.approx(0.0, abs=1e-9)
    # logged once per epoch, by the schedule itself
    np.testing.assert_allclose(history.history["learning_rate"], [expected[s] for s in (3, 7, 11, 15, 19)],
                               rtol=1e-5, atol=1e-9)
    with pytest.raises(ModelError, match="lr_schedule='warm' is not valid"):
        build_callbacks(learning_rate=1e-3, lr_schedule="warm")
    with pytest.raises(ModelError, match="applies to lr_schedule='plateau' only"):
        build_callbacks(learning_rate=1e-3, lr_schedule="cosine", reduce_lr_patience=2)


def test_best_validation_weights_are_restored():
    X, y = _data()
    y = (X[:, 0] > 0).astype(int)  # learnable

    class Sabotage(keras.callbacks.Callback):  # the last epochs invert the epoch-4 model: they must not be kept
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 3:
                self.good = self.model.get_weights()

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch >= 4:
                self.model.set_weights([-w for w in self.good])

    keras.utils.set_random_seed(0)
    model = _tiny_model(lr=0.1)
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    probe = _LrProbe()
    cbs = build_callbacks(learning_rate=0.1, lr_schedule="constant", restore_best=True)
    history = model.fit(X, y, validation_data=(X, y), epochs=6, callbacks=[Sabotage(), probe] + cbs, verbose=0)
    val = history.history["val_accuracy"]
    best = int(np.argmax(val))
    assert best < 4 and val[-1] < val[best]
    for w, b in zip(model.get_weights(), probe.weights[best]):
        np.testing.assert_array_equal(w, b)


def test_time_budget_is_respected():
    import time

    from taxoclass.models import FlatClassifier

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, (96, 16, 16, 1)).astype("float32")
    y = np.array(["a", "b"] * 48)
    budget = 0.4  # minutes: 24 s
    clf = FlatClassifier(backbone="small_cnn", input_shape=(16, 16, 1), weights=None, head_units=(8,),
                         epochs=(0, 3), batch_size=16, random_state=0, time_budget=budget)
    t = time.perf_counter()
    clf.fit(X, y, validation_data=(X[:32], y[:32]), verbose=0)
    wall = time.perf_counter() - t
    run = len(clf.history_["loss"])
    assert run > 3  # the budget, not epochs=(0, 3), decided
    assert 0.85 * budget * 60 <= wall <= 1.15 * budget * 60, (wall, run)
    # the cosine schedule was fitted to the epochs that fitted: the last epoch ends near 0
    assert clf.history_["learning_rate"][-1] < 0.25 * max(clf.history_["learning_rate"])
    # after the warm-up epoch the rate follows the wall time left: it only ever falls, even if an epoch is slow
    lr = clf.history_["learning_rate"]
    assert all(b <= a for a, b in zip(lr[1:], lr[2:])), lr


def _fit_slow_epochs(minutes: float, batch_seconds: float, epochs: int):
    """A tiny model fitted for 200 one-image batches an epoch, each made to last ``batch_seconds``, under a
    ``TimeBudget(minutes)``; returns (history, budget, wall seconds)."""
    import time

    import keras

    from taxoclass.training import TimeBudget

    class SlowBatches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(batch_seconds)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.zeros((200, 4), "float32"), np.zeros(200, "int64")
    budget = TimeBudget(minutes)
    t = time.perf_counter()
    history = model.fit(x, y, batch_size=1, epochs=epochs, verbose=0, callbacks=[SlowBatches(), budget])
    return history, budget, time.perf_counter() - t


def test_time_budget_cuts_an_epoch_longer_than_the_budget():
    """A large backbone on a CPU can need more than the whole budget for one epoch: the budget still holds."""
    history, budget, wall = _fit_slow_epochs(0.03, 0.05, epochs=5)  # 1.8 s budget, epochs of 200 x 50 ms = 10 s
    assert budget.cut_epoch and len(history.history["loss"]) == 1
    assert 1.8 <= wall <= 1.8 + 1.5, wall  # about 36 of the 200 batches ran


def test_time_budget_uses_its_rest_for_a_last_partial_epoch():
    """Epochs of 6-8 s in a 12 s budget: one full epoch, then the last 4-6 s (over half an epoch) train a partial
    one instead of being left idle."""
    history, budget, wall = _fit_slow_epochs(0.2, 0.03, epochs=50)
    assert len(history.history["loss"]) == 2 and budget.cut_epoch, history.history
    assert 12.0 <= wall <= 14.0, wall


class _StopAt(keras.callbacks.Callback):
    """Interrupts training when ``epoch`` begins (as a kill would), after the backup of the epochs before it."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_backup_of_another_model_is_refused_with_one_message(tmp_path):
    """A run interrupted under other options (here: node blocks of their own instead of dense NodeHeads, the layout
    taxoclass used before NodeHeads) cannot be resumed into this model: one ModelError, not Keras' traceback."""
    from taxoclass import Taxonomy
    from taxoclass.models.tree import TreeClassifier

    tax = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(24, 16, 16, 1)).astype("float32")
    y = np.array(["x", "y", "z"] * 8, dtype=object)
    opts = dict(input_shape=(16, 16, 1), trunk="small_cnn", head_units=(8,), block_filters=(4,), epochs=3,
                batch_size=8, output_dir=tmp_path, resume=True, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        TreeClassifier(tax, node_block="small_cnn", **opts).fit(X, y, callbacks=[_StopAt(1)], verbose=0)
    assert (tmp_path / "backup").is_dir()  # epoch 0 was backed up
    # the one private detail ResumeBackup relies on: where Keras keeps the weights (fails loudly if Keras moves it)
    from taxoclass.training import ResumeBackup

    assert os.path.isfile(ResumeBackup(str(tmp_path / "backup")).weights_file())
    with pytest.raises(ModelError, match="backup of an interrupted run .* does not fit this model"):
        TreeClassifier(tax, node_block="dense", **opts).fit(X, y, verbose=0)
    # the same options as the interrupted run resume it and finish it: the backup is then removed
    clf = TreeClassifier(tax, node_block="small_cnn", **opts).fit(X, y, verbose=0)
    assert len(clf.history_["loss"]) == 2 and not (tmp_path / "backup").exists()


def test_a_backup_of_other_shapes_is_refused_before_loading(tmp_path):
    """A Dense(2) backup resumed into a Dense(3) -> Dense(2) model: ResumeBackup compares the saved weight arrays
    with the model's before Keras loads anything (Keras itself would stop with a many-line loading error, or -- for
    a nested part missing from the file -- only warn and keep fresh weights there)."""
    from taxoclass.training import ResumeBackup

    X, y = _data()

    def model(hidden):
        layers = [keras.Input((3,)), *([keras.layers.Dense(hidden)] if hidden else []),
                  keras.layers.Dense(2, activation="softmax")]
        m = keras.Sequential(layers)
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return m

    with pytest.raises(KeyboardInterrupt):
        model(0).fit(X, y, epochs=3, callbacks=[ResumeBackup(str(tmp_path)), _StopAt(1)], verbose=0)
    with pytest.raises(ModelError, match=r"\(2 weight arrays saved, 4 in the model"):
        model(3).fit(X, y, epochs=3, callbacks=[ResumeBackup(str(tmp_path))], verbose=0)
    history = model(0).fit(X, y, epochs=3, callbacks=[ResumeBackup(str(tmp_path))], verbose=0)
    assert len(history.history["loss"]) == 2  # the same model resumes at epoch 1
