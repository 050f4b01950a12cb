"""--strategy multiworker for real: two worker processes on loopback ports, each with its own TF_CONFIG, train one
small tree for 2 epochs with MultiWorkerMirroredStrategy; both must end with identical weights, and only the chief
writes the run folder. Keras 3 needs taxoclass/_keras_multiworker.py's two fixes for this (keras-team/keras#20585);
the first test fails loudly when a Keras release renames what they replace."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from taxoclass.cli.main import main  # noqa: E402
from taxoclass.distribute import local_cluster  # noqa: E402

WORKER = r"""
import hashlib, sys, time
from taxoclass.training import get_strategy
get_strategy("multiworker")  # first: TensorFlow sets up its collective ops before anything else runs
import keras, numpy as np
from taxoclass.data import ImageSet
from taxoclass.jobs import train_job
from taxoclass.taxonomy import load_taxonomy

class Weights(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        for kind, vs in (("TRAINABLE", self.model.trainable_weights), ("OTHER", self.model.non_trainable_weights)):
            w = np.concatenate([np.asarray(v).ravel() for v in vs])
            print(kind, hashlib.sha1(w.tobytes()).hexdigest(), flush=True)

class Slow(keras.callbacks.Callback):  # slow steps: an epoch lasts long enough to be killed inside
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(float(sys.argv[5]))

root, tax, out, epochs = sys.argv[1:5]
summary = train_job(ImageSet.from_folder(root), out, model="tree", taxonomy=load_taxonomy(tax), trunk="small_cnn",
                    image_size=16, channels=3, augment="none", epochs=int(epochs), batch_size=8, learning_rate=0.01,
                    val_size=0.25, test_size=0.0, head_units=(16,), strategy="multiworker",
                    callbacks=[Weights(), Slow()], verbose=0)
print("EPOCHS", summary["epochs_run"], flush=True)
"""


@pytest.fixture
def colours(tmp_path):
    rng = np.random.default_rng(0)
    groups = {"red": "warm", "yellow": "warm", "green": "cold", "blue": "cold"}
    rgb = {"red": (220, 40, 40), "yellow": (220, 220, 40), "green": (40, 200, 40), "blue": (40, 40, 220)}
    root = tmp_path / "images"
    for name in groups:
        (root / name).mkdir(parents=True)
        for i in range(16):
            img = np.clip(np.array(rgb[name])[None, None] + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    tax = tmp_path / "colours.tsv"
    tax.write_text("class\tlineage\n" + "".join(f"{c}\t{g}/{c}\n" for c, g in groups.items()))
    return root, tax


def test_the_keras_functions_the_multiworker_fix_replaces_still_exist():
    from keras.src.backend.tensorflow import trainer

    from taxoclass import _keras_multiworker

    assert _keras_multiworker._missing(trainer) == [], (
        f"Keras {keras.__version__} renamed what taxoclass/_keras_multiworker.py patches: check whether it now trains "
        "under MultiWorkerMirroredStrategy by itself (benchmarks/multiworker.py) and update that module")


def _workers(root, tax, out, epochs: int, sleep: float = 0.0):
    procs = []
    for tf_config in local_cluster(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "TF_CONFIG": tf_config}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(tax), str(out), str(epochs),
                                       str(sleep)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def test_two_workers_train_the_same_tree_and_only_the_chief_writes(colours, tmp_path):
    root, tax = colours
    out = tmp_path / "run"
    procs = _workers(root, tax, out, epochs=2)
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-3000:] for _, e in outs]
    hashes = [[ln.split()[1] for ln in o.splitlines() if ln.startswith("TRAINABLE")] for o, _ in outs]
    assert all(len(h) == 1 for h in hashes) and hashes[0] == hashes[1], hashes  # synchronous: the same weights
    assert all("EPOCHS 2" in o for o, _ in outs), [o for o, _ in outs]
    # the chief (worker 0) wrote the run folder; worker 1's own folder (its backups, for a resume) is gone
    assert (out / "model.taxoclass").is_file() and (out / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colours.tsv", "images", "run"]
    log = (out / "training_log.csv").read_text().splitlines()
    assert len(log) == 3  # header + 2 epochs


def test_killed_workers_resume_at_the_last_finished_epoch(colours, tmp_path):
    """Kill both workers inside epoch 2 of 3, run the same command again: the chief continues from its run folder,
    the other worker from its own hidden folder, both at epoch 2, and they finish in step."""
    import time

    root, tax = colours
    out = tmp_path / "run"
    procs = _workers(root, tax, out, epochs=3, sleep=0.5)
    log = out / "training_log.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 2):
        time.sleep(0.1)
    # the log row is written with epoch 1's checkpoints: kill well inside epoch 2 (6 steps of 0.5 s), not during
    # a checkpoint write (a kill then can leave a truncated checkpoint: see the guide, "Resume")
    time.sleep(1.0)
    for p in procs:
        p.kill()
        p.communicate()
    rows = len(log.read_text().splitlines()) - 1
    assert rows == 1, rows  # killed inside the second epoch
    assert (tmp_path / ".run.worker1").is_dir()  # the other worker's checkpoints, kept for the resume
    procs = _workers(root, tax, out, epochs=3)
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-3000:] for _, e in outs]
    hashes = [[ln.split()[1] for ln in o.splitlines() if ln.startswith("TRAINABLE")] for o, _ in outs]
    assert hashes[0] == hashes[1], hashes
    assert [int(r.split(",")[0]) for r in log.read_text().splitlines()[1:]] == [0, 1, 2]  # no gap, no repeat
    assert not (tmp_path / ".run.worker1").exists()


def test_multiworker_refuses_a_time_budget_before_reading_or_writing(colours, tmp_path, capsys):
    root, tax = colours
    out = tmp_path / "run"
    code = main(["train", str(root), "--taxonomy", str(tax), "--strategy", "multiworker", "--time-budget", "1",
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "--epochs" in err and "Traceback" not in err, err
    assert not out.exists()
