"""FlatClassifier: learning, two-phase transfer learning, local weights, resume after kill -9, mirrored."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from taxoclass import Taxonomy  # noqa: E402
from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models.base import BaseClassifier  # noqa: E402
from taxoclass.models.flat import FlatClassifier  # noqa: E402

CLASSES = ("checker", "horizontal", "vertical")


def stripes(n, size=32, seed=0):
    """Gray images of horizontal stripes, vertical stripes or a checkerboard (random phase, period, noise):
    separable for a convolutional net, not for a pixel-wise rule."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    i, j = np.mgrid[:size, :size]
    X = np.empty((n, size, size, 1), "float32")
    for k in range(n):
        half = rng.choice([2, 3])
        a, b = (i + rng.integers(0, 4)) // half % 2, (j + rng.integers(0, 4)) // half % 2
        pattern = {0: (a + b) % 2, 1: a, 2: b}[y[k]]
        X[k, ..., 0] = np.clip(pattern * 150 + 50 + rng.normal(0, 25, (size, size)), 0, 255)
    return X, np.array(CLASSES)[y]


class Probe(keras.callbacks.Callback):
    """Reads the optimizer and the trainable weights at the start of every epoch."""

    def __init__(self):
        super().__init__()
        self.lr, self.n_trainable = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.lr.append(float(np.asarray(self.model.optimizer.learning_rate)))
        self.n_trainable.append(len(self.model.trainable_weights))


def test_small_cnn_learns_a_separable_problem_and_reloads_identically(tmp_path):
    X, y = stripes(480, seed=0)
    clf = FlatClassifier(backbone="small_cnn", input_shape=(32, 32, 1), weights=None, head_units=(32,),
                         epochs=(0, 4), batch_size=16, random_state=0)
    clf.fit(X[:400], y[:400], verbose=0)
    scores = clf.evaluate(X[400:], y[400:])
    assert scores["accuracy"] >= 0.9, scores  # stated target: >= 90 % held-out accuracy (chance: 33 %)
    assert scores["loss"] < 0.5
    proba = clf.predict_proba(X[400:])
    assert proba.shape == (80, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert list(clf.classes_) == sorted(CLASSES) == list(clf.taxonomy_.classes)
    assert clf.taxonomy_.height == 1  # one-level tree root -> classes
    assert clf.history_["phase"] == [2.0] * 4
    assert clf.history_["loss"][-1] < clf.history_["loss"][0]

    path = clf.save(tmp_path / "flat.taxoclass")
    again = BaseClassifier.load(path)
    assert isinstance(again, FlatClassifier) and again.get_params()["backbone"] == "small_cnn"
    np.testing.assert_array_equal(again.predict_proba(X[400:]), proba)
    assert "small_cnn on 32x32x1" in again.summary()


def test_phase_two_unfreezes_and_lowers_the_learning_rate(tmp_path):
    from taxoclass.models.backbones import build_backbone

    # a pretrained small_cnn written by this test: the local weights file the classifier starts from
    source = build_backbone("small_cnn", (16, 16, 1))
    weights = tmp_path / "small_cnn.weights.h5"
    source.get_layer("features").save_weights(weights)
    X, y = stripes(32, size=16, seed=1)
    probe = Probe()
    clf = FlatClassifier(backbone="small_cnn", input_shape=(16, 16, 1), weights=weights, head_units=(8,),
                         fine_tune_at="block2_conv", epochs=(1, 3), final_epochs=1, batch_size=8, random_state=0,
                         lr_schedule="constant")
    clf.fit(X, y, callbacks=[probe], verbose=0)

    # phase 1: head only (dense kernel+bias, logits kernel+bias); phase 2: + block2/block3 conv kernels, BN frozen
    assert probe.n_trainable == [4, 6, 6, 6]
    np.testing.assert_allclose(probe.lr, [1e-3, 1e-4, 1e-4, 1e-5], rtol=1e-6)
    np.testing.assert_allclose(clf.history_["learning_rate"], [1e-3, 1e-4, 1e-4, 1e-5], rtol=1e-6)
    assert clf.history_["phase"] == [1.0, 2.0, 2.0, 2.0]

    feats = clf.model_.get_layer("small_cnn_backbone").get_layer("features")
    ref = source.get_layer("features")
    # below fine_tune_at: the loaded weights, untouched; from it on: fine-tuned
    np.testing.assert_array_equal(np.asarray(feats.get_layer("block1_conv").kernel),
                                  np.asarray(ref.get_layer("block1_conv").kernel))
    # (exact comparison: on some random initialisations no gradient reaches block2 on these stripes and only
    # AdamW's weight decay, which touches trainable weights only, moves it by ~1e-7)
    assert not np.array_equal(np.asarray(feats.get_layer("block2_conv").kernel),
                              np.asarray(ref.get_layer("block2_conv").kernel))
    # BatchNorm stayed in inference mode: its moving statistics were never updated
    for name in ("block1_bn", "block2_bn", "block3_bn"):
        np.testing.assert_array_equal(np.asarray(feats.get_layer(name).moving_mean),
                                      np.asarray(ref.get_layer(name).moving_mean))


@pytest.mark.filterwarnings("ignore:Even though the:UserWarning")
def test_inception_v3_builds_at_75px_and_trains_one_step():
    import tensorflow as tf

    rng = np.random.default_rng(2)
    X = rng.uniform(0, 255, (4, 75, 75, 3)).astype("float32")
    y = ["a", "b", "a", "b"]
    probe = Probe()
    clf = FlatClassifier(backbone="inception_v3", input_shape=(75, 75, 3), weights=None, head_units=(16,),
                         batchnorm="frozen", epochs=(0, 1), batch_size=4, random_state=0)
    # one step: eager execution skips tracing InceptionV3's training graph (20+ s on two busy cores)
    tf.config.run_functions_eagerly(True)
    try:
        clf.fit(X, y, callbacks=[probe], verbose=0)
        proba = clf.predict_proba(X)
    finally:
        tf.config.run_functions_eagerly(False)
    feats = clf.model_.get_layer("inception_v3_backbone").get_layer("features")
    assert feats.output_shape == (None, 1, 1, 2048)
    n_bn = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in feats.layers)
    n_conv = sum(isinstance(layer, keras.layers.Conv2D) for layer in feats.layers)
    assert probe.n_trainable == [n_conv + 4]  # every conv kernel + the head, no BN weights
    assert n_bn == 94 and n_conv == 94
    assert len(clf.history_["loss"]) == 1 and np.isfinite(clf.history_["loss"][0])
    assert proba.shape == (4, 2)
    assert all(np.all(np.asarray(layer.moving_mean) == 0) for layer in feats.layers
               if isinstance(layer, keras.layers.BatchNormalization))


def test_input_below_the_backbone_minimum_is_refused_before_training():
    X = np.zeros((2, 64, 64, 3), "float32")
    clf = FlatClassifier(backbone="inception_v3", input_shape=(64, 64, 3), weights=None, epochs=(0, 1))
    with pytest.raises(ModelError, match="at least 75x75 pixels"):
        clf.fit(X, ["a", "b"], verbose=0)


def test_classes_come_from_a_list_a_taxonomy_or_the_labels():
    X, y = stripes(8, size=16, seed=3)
    kw = dict(backbone="small_cnn", input_shape=(16, 16, 1), weights=None, head_units=(), epochs=1, batch_size=8)
    order = ["vertical", "horizontal", "checker", "unused"]
    clf = FlatClassifier(order, **kw).fit(X, y, verbose=0)
    assert list(clf.classes_) == order and clf.predict_proba(X).shape == (8, 4)
    tax = Taxonomy.from_paths([["lines", "horizontal"], ["lines", "vertical"], ["grid", "checker"]])
    clf = FlatClassifier(tax, **kw).fit(X, y, verbose=0)
    assert clf.taxonomy_ is tax and list(clf.classes_) == list(tax.classes)
    assert clf.history_["phase"] == [1.0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=(0, 0)), "at least one epoch"),
    (dict(epochs=(1, 2, 3)), r"epochs must be \(phase1, phase2\)"),
    (dict(backbone="vgg"), "unknown backbone 'vgg'"),
    (dict(head_units=(0,)), "head_units"),
    (dict(dropout=1.0), "dropout"),
    (dict(pooling="sum"), "pooling"),
    (dict(fine_tune_learning_rate=0), "fine_tune_learning_rate"),
    (dict(batchnorm="on"), "batchnorm"),
])
def test_bad_parameters_are_refused_with_one_message(kwargs, message):
    params = dict(backbone="small_cnn", input_shape=(16, 16, 1), weights=None) | kwargs
    with pytest.raises(ModelError, match=message):
        FlatClassifier(**params).fit(np.zeros((2, 16, 16, 1), "float32"), ["a", "b"], verbose=0)


def test_a_dataset_needs_the_class_list():
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((np.zeros((2, 16, 16, 1), "float32"), [0, 1])).batch(2)
    with pytest.raises(ModelError, match="pass the classes"):
        FlatClassifier(backbone="small_cnn", input_shape=(16, 16, 1), weights=None).fit(ds)


RESUME_JOB = textwrap.dedent("""
    import os, signal, sys, json
    import numpy as np, keras
    sys.path.insert(0, {tests!r})
    from test_flat import stripes
    from taxoclass.models.flat import FlatClassifier

    out, kill_at = sys.argv[1], int(sys.argv[2])

    class KillMinus9(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            with open(os.path.join(out, "begun.txt"), "a") as fh:
                fh.write(f"{{epoch}}\\n")
            if epoch == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    X, y = stripes(32, size=16, seed=4)
    clf = FlatClassifier(backbone="small_cnn", input_shape=(16, 16, 1), weights=None, head_units=(8,),
                         epochs=(2, 2), batch_size=8, output_dir=out, resume=True, csv_log=True, random_state=0,
                         lr_schedule="constant")
    clf.fit(X, y, callbacks=[KillMinus9()], verbose=0)
    with open(os.path.join(out, "history.json"), "w") as fh:
        json.dump(clf.history_, fh)
""")


def _run(script, *args, env_extra=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", **(env_extra or {}))
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


def test_a_run_killed_with_sigkill_resumes_at_its_last_finished_epoch(tmp_path):
    import pandas as pd

    script = tmp_path / "job.py"
    script.write_text(RESUME_JOB.format(tests=os.path.dirname(__file__)))
    out = tmp_path / "run"
    out.mkdir()
    # epochs 0-1 are phase 1 (frozen backbone), 2-3 phase 2 (fine-tuning)
    first = _run(script, out, 1)  # killed at the start of epoch 1 (phase 1)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    second = _run(script, out, 3)  # same command: resumes phase 1 at epoch 1, killed at the start of epoch 3
    assert second.returncode == -signal.SIGKILL, second.stderr[-2000:]
    third = _run(script, out, -1)  # resumes phase 2 at epoch 3 and finishes
    assert third.returncode == 0, third.stderr[-2000:]

    begun = [int(v) for v in (out / "begun.txt").read_text().split()]
    assert begun == [0, 1, 1, 2, 3, 3]  # no finished epoch was ever run twice
    log = pd.read_csv(out / "training_log.csv")
    assert log["epoch"].tolist() == [0, 1, 2, 3]
    assert log["phase"].tolist() == [1, 1, 2, 2]
    np.testing.assert_allclose(log["learning_rate"], [1e-3, 1e-3, 1e-4, 1e-4], rtol=1e-6)
    history = json.loads((out / "history.json").read_text())
    assert history["phase"] == [2.0]  # the last run trained epoch 3 only
    assert not (out / "backup").exists()  # a finished run leaves no backup behind


MIRRORED_JOB = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {tests!r})
    from test_flat import stripes
    from taxoclass.models.flat import FlatClassifier

    X, y = stripes(64, size=16, seed=5)
    clf = FlatClassifier(backbone="small_cnn", input_shape=(16, 16, 1), weights=None, head_units=(8,),
                         epochs=(0, 2), batch_size=16, strategy="mirrored", random_state=0).fit(X, y, verbose=0)
    p = clf.predict_proba(X)
    print(json.dumps({{"replicas": clf._strategy.num_replicas_in_sync,
                      "devices": list(clf._strategy.extended.worker_devices),
                      "loss": clf.history_["loss"], "shape": list(p.shape),
                      "row_sums": p.sum(axis=1).tolist(), "predicted": sorted(set(clf.predict(X)))}}))
""")


def test_mirrored_strategy_on_two_logical_cpus_trains_and_predicts(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_JOB.format(tests=os.path.dirname(__file__)))
    done = _run(script)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert len(result["devices"]) == 2 and all("CPU" in d for d in result["devices"])
    assert len(result["loss"]) == 2 and all(np.isfinite(result["loss"]))
    assert result["shape"] == [64, 3]
    np.testing.assert_allclose(result["row_sums"], 1.0, rtol=1e-5)
    assert set(result["predicted"]) <= set(CLASSES)


def test_from_scratch_phase_one_trains_the_whole_network():
    """Issue 11, defect 6: with weights=None there is no pretrained backbone to keep frozen; phase 1 used to train
    only the head on a frozen random backbone, silently."""

    class BackboneChange(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.before = [w.copy() for w in self.model.get_layer("small_cnn_backbone").get_weights()]

        def on_train_end(self, logs=None):
            after = self.model.get_layer("small_cnn_backbone").get_weights()
            self.changed = sum(not np.array_equal(a, b) for a, b in zip(self.before, after))

    X, y = stripes(24, size=16)
    probe = BackboneChange()
    FlatClassifier(backbone="small_cnn", input_shape=(16, 16, 1), weights=None, head_units=(8,), epochs=1,
                   batch_size=8, random_state=0).fit(X, y, callbacks=[probe], verbose=0)
    assert probe.changed >= 4  # the conv kernels and biases of the backbone moved in phase 1
