"""Resuming a fit that was killed after its training had finished (taxoclass.resume).

The steps after training (the combined model's mixing weight, calibration on the validation split) used to run
after Keras had deleted its per-epoch backup: a run killed during them was trained again from epoch 0.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

from taxoclass.exceptions import ModelError
from taxoclass.resume import BACKUP_DIR, TRAINED_FILE, discard_backup, load_trained, save_trained

# kill -9 inside one step after training on the first run (a marker file says it happened), then let it finish;
# both job scripts start with it
KILL_ONCE = textwrap.dedent("""
    import os, signal

    def kill_once(original, marker):
        def step_then_maybe_die(*args, **kwargs):
            if not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        return step_then_maybe_die
""")

JOB = KILL_ONCE + textwrap.dedent("""
    import json, sys
    import keras
    sys.path.insert(0, {tests!r})
    out, model, step = sys.argv[1], sys.argv[2], sys.argv[3]
    marker = os.path.join(out, "killed.txt")

    import taxoclass.models.base as base
    from taxoclass.models.tree_model import TreeModel

    if step == "calibrate":
        base.calibrate = kill_once(base.calibrate, marker)
    else:
        TreeModel.fit_combine_weight = kill_once(TreeModel.fit_combine_weight, marker)

    class Begun(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            with open(os.path.join(out, "begun.txt"), "a") as fh:
                fh.write(f"{{epoch}}\\n")

    opts = dict(epochs=3, batch_size=16, output_dir=out, resume=True, csv_log=True, random_state=0,
                learning_rate=3e-3)
    if model == "flat":
        from test_flat import stripes
        from taxoclass.models.flat import FlatClassifier
        X, y = stripes(96, size=16, seed=4)
        clf = FlatClassifier(backbone="small_cnn", input_shape=(16, 16, 1), weights=None, head_units=(8,), **opts)
    else:
        from test_tree import SIZE, TAX, synthetic
        from taxoclass.models.tree import TreeClassifier
        X, y = synthetic(96, seed=0)
        clf = TreeClassifier(TAX, input_shape=(SIZE, SIZE, 3), trunk="small_cnn", head_units=(16,), flat_head=True,
                             **opts)
    clf.fit(X[:64], y[:64], validation_data=(X[64:], y[64:]), callbacks=[Begun()], verbose=0)
    json.dump({{"history": clf.history_, "temperature": clf.temperature_,
               "combine_weight": getattr(clf, "combine_weight_", None),
               "proba": clf.predict_proba(X[64:70]).tolist()}}, open(os.path.join(out, "result.json"), "w"))
""")


def _run(script, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.parametrize("model, step", [("flat", "calibrate"), ("combined", "fit_combine_weight")])
def test_a_run_killed_after_training_is_not_trained_again(tmp_path, model, step):
    script = tmp_path / "job.py"
    script.write_text(JOB.format(tests=os.path.dirname(__file__)))
    out = tmp_path / "run"
    out.mkdir()
    first = _run(script, out, model, step)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert (out / BACKUP_DIR / TRAINED_FILE).is_file()  # training had finished: its weights are kept
    assert not (out / "result.json").exists()
    second = _run(script, out, model, step)
    assert second.returncode == 0, second.stderr[-2000:]

    begun = [int(v) for v in (out / "begun.txt").read_text().split()]
    assert begun == [0, 1, 2]  # the three epochs of the first run, none of them again
    result = json.loads((out / "result.json").read_text())
    log = pd.read_csv(out / "training_log.csv")
    assert log["epoch"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(result["history"]["loss"], log["loss"], rtol=1e-5)  # the first run's history
    assert result["temperature"] > 0  # calibration ran on the resumed run
    if model == "combined":
        assert 0.0 <= result["combine_weight"] <= 1.0
    np.testing.assert_allclose(np.sum(result["proba"], axis=1), 1.0, rtol=1e-5)
    assert not (out / BACKUP_DIR).exists()  # a finished fit leaves no backup behind


def _dense(*units):
    return keras.Sequential([keras.Input((4,)), *[keras.layers.Dense(u) for u in units]])


def test_trained_weights_round_trip_and_are_refused_by_another_model(tmp_path):
    a = _dense(3)
    save_trained(a, {"loss": [1.5, 0.75]}, tmp_path)
    assert sorted(p.name for p in (tmp_path / BACKUP_DIR).iterdir()) == [TRAINED_FILE]  # no temporary file left
    b = _dense(3)
    assert load_trained(b, tmp_path) == {"loss": [1.5, 0.75]}
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(b.predict(x, verbose=0), a.predict(x, verbose=0))
    with pytest.raises(ModelError, match=r"do not fit this model \(2 weight arrays saved, 4 in the model"):
        load_trained(_dense(3, 2), tmp_path)
    discard_backup(tmp_path)
    assert load_trained(_dense(3), tmp_path) is None


def test_a_damaged_trained_file_is_refused_with_one_message(tmp_path):
    (tmp_path / BACKUP_DIR).mkdir()
    (tmp_path / BACKUP_DIR / TRAINED_FILE).write_bytes(b"not a numpy archive")
    with pytest.raises(ModelError, match="cannot be read .*overwrite"):
        load_trained(_dense(3), tmp_path)


CLI_JOB = KILL_ONCE + textwrap.dedent("""
    import sys
    out = sys.argv[1]
    import taxoclass.models.base as base
    base.calibrate = kill_once(base.calibrate, os.path.join(os.path.dirname(out), "killed.txt"))
    from taxoclass.cli.main import main
    sys.exit(main(["train", "--dataset", "digits", "--model", "flat", "--backbone", "small_cnn", "--image-size", "8",
                   "--channels", "1", "--pad-value", "0", "--epochs", "2", "--no-augment", "-o", out]))
""")


def test_taxoclass_train_killed_after_training_finishes_the_run_without_training(tmp_path):
    script = tmp_path / "cli_job.py"
    script.write_text(CLI_JOB)
    out = tmp_path / "run"
    first = _run(script, out)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert not (out / "model.taxoclass").exists() and (out / BACKUP_DIR / TRAINED_FILE).is_file()
    second = _run(script, out)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "its training had finished" in second.stderr + second.stdout
    assert "Epoch" not in second.stdout  # no epoch trained again
    assert pd.read_csv(out / "training_log.csv")["epoch"].tolist() == [0, 1]
    assert (out / "model.taxoclass").is_file() and not (out / BACKUP_DIR).exists()
