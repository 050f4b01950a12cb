"""`taxoclass tune` (issue 15): a tiny search finds the learning rate that clearly wins, pruning stops a hopeless
trial after its first epoch, two processes share one SQLite study, a killed search continues, bad arguments are
refused before anything is written. Tiny images (16 px), small_cnn, 1-3 epochs, 48 images."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from taxoclass.cli.main import main
from taxoclass.exceptions import TaxoclassError

optuna = pytest.importorskip("optuna")

# four solid colours with noise: one epoch at a sound learning rate separates them, 1e-7 never does
COLOURS = {"red": ("warm", (220, 40, 40)), "yellow": ("warm", (220, 220, 40)), "green": ("cold", (40, 200, 40)),
           "blue": ("cold", (40, 40, 220))}
# every knob fixed but the learning rate: the flat small CNN on 16 px images, no augmentation
FIXED = ["model=flat", "backbone=small_cnn", "image_size=16", "augment=off", "head_units=32", "dropout=0",
         "weight_decay=0", "label_smoothing=0", "class_weight=none", "loss=crossentropy", "class_layer=dense"]
TINY = ["--models", "flat", "--batch-size", "8", "--val-size", "0.25", *[a for f in FIXED for a in ("--fix", f)]]


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for name, (_, rgb) in COLOURS.items():
        (root / name).mkdir()
        for i in range(12):
            img = np.clip(np.array(rgb)[None, None] + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    tax = root.parent / "colours.tsv"
    tax.write_text("class\tlineage\n" + "".join(f"{c}\t{g}/{c}\n" for c, (g, _) in COLOURS.items()))
    return root, tax


def _data(root):
    from taxoclass.data import ImageSet

    return ImageSet.from_folder(root)


@pytest.fixture(scope="module")
def search(colours, tmp_path_factory):
    """A 3-trial search over learning rate 1e-7 vs 1e-2 (random start-up trials, seeded), with refit."""
    from taxoclass import tune

    root, _ = colours
    out = tmp_path_factory.mktemp("search") / "study"
    result = tune(_data(root), out, models=["flat"], trials=3, epochs=2, batch_size=8, val_size=0.25,
                  fix=FIXED, space={"learning_rate": [1e-7, 1e-2]}, startup_trials=3, seed=0, refit=True)
    return out, result


def test_a_tiny_search_finds_the_learning_rate_that_wins_and_its_config_trains(search, colours, tmp_path, capsys):
    from taxoclass.data import read_manifest
    from taxoclass.jobs import train_job

    out, result = search
    root, _ = colours
    trials = pd.read_csv(out / "trials.csv")
    assert set(trials["learning_rate"]) == {1e-7, 1e-2}, trials  # both were tried (seeded random start-up)
    assert (trials["state"] == "complete").all() and len(trials) == 3
    good = trials[trials["learning_rate"] == 1e-2]["accuracy"]
    bad = trials[trials["learning_rate"] == 1e-7]["accuracy"]
    assert good.min() >= 0.75 and bad.max() <= 0.5, trials  # 4 classes: chance is 0.25
    assert result["best"]["arguments"]["learning_rate"] == 1e-2
    cfg = json.loads((out / "best_config.json").read_text())
    assert cfg["arguments"]["learning_rate"] == 1e-2 and cfg["tune"]["value"] == good.max()
    assert cfg["arguments"]["model"] == "flat" and cfg["arguments"]["backbone"] == "small_cnn"
    for name in ("search.png", "manifest.csv", "tune.json", "study.db"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000", "0001", "0002"]

    # best_config.json's arguments are train_job's keywords (what `train --config` reads)
    summary = train_job(_data(root), tmp_path / "again", **{**cfg["arguments"], "epochs": 1})
    assert summary["epochs_run"] == 1 and (tmp_path / "again" / "model.taxoclass").is_file()
    assert json.loads((tmp_path / "again" / "config.json").read_text())["learning_rate"] == 1e-2

    # refit: train + val of the study's split, the test images untouched
    study_split = read_manifest(out / "manifest.csv")
    refit_split = read_manifest(out / "refit" / "manifest.csv")
    assert (refit_split["split"] == "val").sum() == 0
    assert (refit_split["split"] == "train").sum() == study_split["split"].isin(["train", "val"]).sum()
    assert (refit_split[refit_split["split"] == "test"]["path"].tolist()
            == study_split[study_split["split"] == "test"]["path"].tolist())
    assert result["refit"]["epochs_run"] == 2 and (out / "refit" / "model.taxoclass").is_file()

    # the same command again: the study already holds its 3 trials, nothing is trained
    before = (out / "trials.csv").read_text()
    argv = ["tune", str(root), *TINY, "--space", "learning_rate=1e-7,1e-2", "--trials", "3", "--epochs", "2",
            "--startup-trials", "3", "-o", str(out)]
    assert main(argv) == 0
    assert (out / "trials.csv").read_text() == before
    # other options are refused, naming what differs
    capsys.readouterr()
    argv[argv.index("--epochs") + 1] = "3"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "holds a study with other options" in err and "epochs: 2 -> 3" in err, err


def test_pruning_stops_a_hopeless_trial_after_its_first_epoch(colours, tmp_path):
    """The median pruner with one finished trial (lr 1e-2, 3 epochs) stops the next one (lr 1e-7) at epoch 1."""
    from taxoclass.data import split, write_manifest
    from taxoclass.tuning.objective import TrialObjective
    from taxoclass.tuning.space import SearchSpace

    root, _ = colours
    data = _data(root)
    write_manifest(split(data, val_size=0.25, test_size=0.1, seed=0), tmp_path / "manifest.csv")
    space = SearchSpace(["flat"], fix=FIXED, space={"learning_rate": [1e-7, 1e-2]})
    objective = TrialObjective(data, tmp_path / "manifest.csv", space, {"epochs": 3, "batch_size": 8},
                               tmp_path / "trials")
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    study.enqueue_trial({"learning_rate": 1e-2})
    study.enqueue_trial({"learning_rate": 1e-7})
    study.optimize(objective, n_trials=2)
    good, hopeless = study.trials
    assert good.state.name == "COMPLETE" and good.user_attrs["epochs_run"] == 3 and good.value >= 0.75
    assert hopeless.state.name == "PRUNED" and hopeless.user_attrs["epochs_run"] == 1
    assert hopeless.user_attrs["stopped"] == "pruned" and list(hopeless.intermediate_values) == [0]
    assert hopeless.intermediate_values[0] < good.intermediate_values[0]

    # the other objectives score the trial's model on the validation split, its classes mapped onto the reference
    # taxonomy's order (red, yellow, green, blue; the flat model's is alphabetical)
    from taxoclass.taxonomy import load_taxonomy

    ref = load_taxonomy(colours[1])
    assert list(ref.classes) != sorted(ref.classes)
    model_file = tmp_path / "trials" / "0000" / "model.taxoclass"
    scores = {name: TrialObjective(data, tmp_path / "manifest.csv", space, {}, tmp_path, objective=name,
                                   reference=ref).score({"model_file": model_file})
              for name in ("hf1", "balanced_accuracy", "severity")}
    metrics = objective.validation_metrics(model_file)
    assert metrics["accuracy"] == pytest.approx(good.value)  # the same images, classes in another order
    via_ref = TrialObjective(data, tmp_path / "manifest.csv", space, {}, tmp_path, reference=ref)
    assert via_ref.validation_metrics(model_file)["accuracy"] == pytest.approx(good.value)
    assert scores["hf1"] >= good.value - 1e-9 and 0 < scores["balanced_accuracy"] <= 1
    assert scores["severity"] == 0.0 or scores["severity"] >= 1.0  # distance of the mistakes: 0 when none


def test_an_accuracy_vs_cost_study_writes_its_pareto_front(tmp_path):
    """results.py on a two-objective study (trials added by hand: no training needed to check the front)."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from taxoclass.tuning.results import write_results

    study = optuna.create_study(directions=["maximize", "minimize"])
    points = [(0.90, 100.0), (0.80, 20.0), (0.70, 50.0), (0.95, 400.0), (0.60, 10.0)]
    for i, (acc, secs) in enumerate(points):
        study.add_trial(create_trial(values=[acc, secs], params={"learning_rate": 10.0 ** -(i + 1)},
                                     distributions={"learning_rate": FloatDistribution(1e-6, 1, log=True)},
                                     user_attrs={"arguments": {"model": "flat", "learning_rate": 10.0 ** -(i + 1)},
                                                 "train_seconds": secs}))
    files = write_results(study, tmp_path, objective="accuracy", cost="seconds", base={"epochs": 2},
                          settings={"data": "x"})
    assert set(files) == {"trials", "best_config", "pareto", "plot"}
    front = pd.read_csv(tmp_path / "pareto.csv")
    assert front["trial"].tolist() == [4, 1, 0, 3]  # (0.70, 50 s) is dominated by (0.80, 20 s); sorted by cost
    cfg = json.loads((tmp_path / "best_config.json").read_text())
    assert cfg["tune"]["trial"] == 3 and cfg["tune"]["cost_value"] == 400.0  # the front's most accurate
    assert cfg["arguments"] == {"epochs": 2, "model": "flat", "learning_rate": 1e-4}
    assert (tmp_path / "search.png").stat().st_size > 10_000


def _cli(*args):
    return [sys.executable, "-c", "import sys; from taxoclass.cli.main import main; sys.exit(main(sys.argv[1:]))",
            "tune", *map(str, args)]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def test_two_processes_share_one_sqlite_study(colours, tmp_path):
    root, _ = colours
    out = tmp_path / "study"
    cmd = _cli(root, *TINY, "--trials", "4", "--epochs", "1", "--startup-trials", "4", "-o", out)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    trials = pd.read_csv(out / "trials.csv")
    done = trials[trials["state"] == "complete"]
    assert len(done) >= 4  # the second worker may finish one it had started when the fourth ended
    assert set(done["pid"]) == {p.pid for p in procs}, trials  # both contributed
    assert done["run_dir"].is_unique


def test_a_second_process_waits_for_a_folder_being_set_up(colours, tmp_path):
    """The race behind an old flaky failure: the first process has written manifest.csv but not yet tune.json
    (what makes the folder a study) when the second one checks the folder; it must wait for the set-up, not refuse
    a folder "holding files"."""
    import threading

    from filelock import FileLock

    from taxoclass import tune
    from taxoclass.tuning.study import may_be_study_folder

    root, _ = colours
    out = tmp_path / "study"
    out.mkdir()
    (out / "manifest.csv").write_text("path,label,split\n")  # half set up
    lock = FileLock(str(tmp_path / ".study.tune.lock"))
    lock.acquire()
    assert may_be_study_folder(out)  # the CLI's early check lets it through
    result = {}

    def second():
        try:
            result["value"] = tune(_data(root), out, models=["flat"], trials=1, epochs=1, batch_size=8,
                                   val_size=0.25, fix=[*FIXED, "learning_rate=0.01"], startup_trials=1)
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    t = threading.Thread(target=second)
    t.start()
    t.join(2.0)
    assert t.is_alive() and not result  # waiting for the lock, not refused
    (out / "manifest.csv").unlink()  # the "first process" gives up its set-up: the folder is empty again
    lock.release()
    t.join(300)
    assert "error" not in result, result
    assert result["value"]["n_trials"] == 1 and (out / "tune.json").is_file()


def test_a_killed_search_continues_where_it_stopped(colours, tmp_path):
    root, _ = colours
    out = tmp_path / "study"
    cmd = _cli(root, *TINY, "--trials", "3", "--epochs", "2", "--startup-trials", "3", "-o", out)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    for line in proc.stderr:  # kill it as soon as trial 1 has started (a tiny trial can end within seconds)
        if line.startswith("[taxoclass] trial 1:"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=600)
    assert proc.returncode == -signal.SIGKILL
    study = optuna.load_study(study_name="taxoclass", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]
    first_model = (out / "trials" / "0000" / "model.taxoclass").stat().st_mtime_ns

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    trials = pd.read_csv(out / "trials.csv").set_index("trial")
    assert trials["state"].tolist() == ["complete", "fail", "complete", "complete"]
    assert trials.loc[2, "retry_of"] == 1 and trials.loc[2, "run_dir"] == "trials/0001"
    assert (out / "trials" / "0000" / "model.taxoclass").stat().st_mtime_ns == first_model  # not trained again
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000", "0001", "0003"]

    # --overwrite: a new study, staged beside the old one and swapped in once complete
    assert main(cmd[3:] + ["--trials", "1", "--overwrite"]) == 0
    trials = pd.read_csv(out / "trials.csv")
    assert trials["state"].tolist() == ["complete"] and trials["run_dir"].tolist() == ["trials/0000"]
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("extra, message", [
    (["--fix", "learning_rate=fast"], "learning_rate='fast' is not a number"),
    (["--fix", "colour=red"], "'colour' is not a knob"),
    (["--fix", "learning_rate"], "is not NAME=VALUE"),
    (["--space", "learning_rate=1e-2:1e-4"], "LOW must be below HIGH"),
    (["--space", "weight_decay=0:1e-2:log"], "log range needs LOW > 0"),
    (["--space", "learning_rate=1e-4:1e-2:cubic"], "is not a range"),
    (["--space", "backbone=small_cnn:vgg_bn"], "needs a number knob"),
    (["--fix", "backbone=alexnet"], "backbone='alexnet' is not valid"),
    (["--fix", "image_size=5000"], "image_size=5000 is not valid"),
    (["--fix", "learning_rate=0.01", "--space", "learning_rate=1e-3:1e-2"], "both fixed"),
    (["--models", "flat,forest"], "models=flat,forest is not valid"),
    (["--models", "flat", "--fix", "model=tree"], "not among --models"),
    (["--cost", "seconds", "--pruner", "median"], "cannot prune"),
    (["--storage", "not a url"], "is not a database URL"),
    (["--models", "flat", "--objective", "severity"], "is measured on a taxonomy"),
    (["--taxonomy", "TAX", "--from-confusion", "TAX"], "not both"),
    (["--val-size", "0"], "no validation images"),
])
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(extra, message, colours, tmp_path, capsys):
    root, tax = colours
    argv = ["tune", str(root), "--trials", "2", "-o", str(tmp_path / "o"), *[a.replace("TAX", str(tax))
                                                                             for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert [ln.startswith("taxoclass: error") for ln in err.strip().splitlines()][-1:] == [True]
    assert err.count("error") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_folder_of_other_files_is_refused(colours, tmp_path, capsys):
    root, _ = colours
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    assert main(["tune", str(root), "--models", "flat", "-o", str(tmp_path / "o")]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["notes.txt"]


# ---------------------------------------------------------------------------------------------- the space parser
@settings(max_examples=60, deadline=None)
@given(lo=st.floats(1e-6, 1e-2), factor=st.floats(1.01, 100), log=st.booleans())
def test_a_range_narrows_the_knob_exactly(lo, factor, log):
    from taxoclass.tuning.space import SearchSpace

    hi = min(lo * factor, 10.0)
    spec = f"{lo!r}:{hi!r}" + (":log" if log else "")
    knob = SearchSpace(["flat"], space=[f"learning_rate={spec}"]).knobs["learning_rate"]
    assert (knob.kind, knob.low, knob.high, knob.log) == ("float", lo, hi, log)
    trial = optuna.trial.FixedTrial({"learning_rate": lo, "model": "flat", "backbone": "small_cnn", "width": 16,
                                     "head_units": "64", "weight_decay": 1e-4, "label_smoothing": 0.1,
                                     "dropout": 0.1, "loss": "crossentropy", "class_layer": "dense",
                                     "augment": "plankton", "image_size": 48, "class_weight": "none"})
    assert SearchSpace(["flat"], space=[f"learning_rate={spec}"]).suggest(trial)["learning_rate"] == lo


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(8, 1024), min_size=1, max_size=5, unique=True))
def test_a_list_becomes_the_choices_in_order(sizes):
    from taxoclass.tuning.space import SearchSpace

    knob = SearchSpace(["flat"], space=["image_size=" + ",".join(map(str, sizes))]).knobs["image_size"]
    assert knob.kind == "choice" and knob.choices == tuple(sizes)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=30))
def test_any_text_is_a_knob_assignment_or_one_clear_error(text):
    from taxoclass.tuning.space import SearchSpace

    for kind in ("fix", "space"):
        try:
            SearchSpace(["flat", "tree"], **{kind: [f"learning_rate={text}"]})
        except TaxoclassError as exc:
            assert "learning_rate" in str(exc) and "\n" not in str(exc)


def test_conditional_knobs_follow_the_model_drawn():
    from taxoclass.tuning.space import SearchSpace

    sp = SearchSpace(["flat", "tree"], error_tree=True, fix=["trunk=vgg_bn", "backbone=small_cnn"])
    tree = sp.suggest(optuna.trial.FixedTrial({
        "model": "tree", "width": 48, "node_block": "small_cnn", "block_filters": "16,32", "head_units": "64", "learning_rate": 1e-3,
        "weight_decay": 1e-4, "label_smoothing": 0.1, "dropout": 0.0, "augment": "none", "image_size": 48,
        "class_weight": "none", "beta": 0.2, "max_cluster_size": 4, "level_schedule": "coarse_to_fine"}))
    assert tree["trunk"] == "vgg_bn" and tree["width"] == 48 and tree["block_filters"] == [16, 32]
    assert tree["beta"] == 0.2 and tree["max_cluster_size"] == 4 and "backbone" not in tree
    flat = sp.suggest(optuna.trial.FixedTrial({
        "model": "flat", "head_units": "128", "learning_rate": 1e-3, "weight_decay": 1e-4, "label_smoothing": 0.1,
        "dropout": 0.0, "loss": "hxe", "class_layer": "lineage", "augment": "plankton", "image_size": 64,
        "class_weight": "sqrt"}))
    assert flat["backbone"] == "small_cnn" and "width" not in flat and "beta" not in flat and "trunk" not in flat
    assert flat["loss"] == "hxe" and "loss" not in tree  # the flat model's loss only
    assert flat["class_layer"] == "lineage" and "class_layer" not in tree  # and its class layer
    assert set(sp.searched()) >= {"beta", "max_cluster_size", "level_schedule", "block_filters", "node_block"}
    dense = sp.suggest(optuna.trial.FixedTrial({
        "model": "tree", "width": 32, "node_block": "dense", "head_units": "64", "learning_rate": 1e-3,
        "weight_decay": 1e-4, "label_smoothing": 0.1, "dropout": 0.0, "augment": "none", "image_size": 48,
        "class_weight": "none", "beta": 0.2, "max_cluster_size": 4, "level_schedule": "none"}))
    assert dense["node_block"] == "dense" and "block_filters" not in dense  # conv filters: small_cnn blocks only


def test_knobs_the_data_leave_no_choice_for_are_pinned():
    from types import SimpleNamespace

    from taxoclass.tuning.space import SearchSpace
    from taxoclass.tuning.study import _pin_class_only_knobs

    said = []
    classes = ["red", "blue"]
    plain = SimpleNamespace(classes=classes, labels=np.array(["red", "blue"], dtype=object))
    sp = SearchSpace(["flat"])
    _pin_class_only_knobs(sp, plain, object(), said.append)  # a taxonomy, a class for every image: all searched
    assert {"loss", "class_layer", "class_weight"} <= set(sp.searched()) and not said
    _pin_class_only_knobs(sp, plain, None, said.append)  # no taxonomy: hxe / soft_labels / lineage cannot be
    assert sp.knobs["loss"].fixed == "crossentropy" and "class_weight" in sp.searched()
    assert sp.knobs["class_layer"].fixed == "dense"
    assert len(said) == 2 and all("taxonomy" in line for line in said)
    with pytest.raises(TaxoclassError, match="--fix class_layer=lineage cannot be used: the lineage class layer "
                                             "needs a taxonomy"):
        _pin_class_only_knobs(SearchSpace(["flat"], fix=["class_layer=lineage"]), plain, None, said.append)
    tree_only, before = SearchSpace(["tree"]), len(said)
    _pin_class_only_knobs(tree_only, plain, None, said.append)  # flat knobs are no business of a tree search
    assert tree_only.knobs["class_layer"].fixed is None and len(said) == before
    internal = SimpleNamespace(classes=classes, labels=np.array(["red", "warm", "blue"], dtype=object))
    sp = SearchSpace(["flat", "tree"])
    _pin_class_only_knobs(sp, internal, object(), said.append)
    assert (sp.knobs["loss"].fixed, sp.knobs["class_weight"].fixed) == ("crossentropy", "none")
    assert "1 image(s) are labelled at an internal node" in said[-1]
    with pytest.raises(TaxoclassError, match="--fix loss=hxe cannot be used: 1 image"):
        _pin_class_only_knobs(SearchSpace(["flat"], fix=["loss=hxe"]), internal, object(), said.append)


def test_the_loss_and_class_layer_knobs_offer_every_choice_of_the_flat_model():
    from taxoclass.models import CLASS_LAYERS
    from taxoclass.models.losses import LOSSES
    from taxoclass.tuning.space import KNOBS

    assert set(KNOBS["loss"].choices) == set(LOSSES)
    assert set(KNOBS["class_layer"].choices) == set(CLASS_LAYERS)


def test_a_search_with_a_taxonomy_trains_the_lineage_class_layer(colours, tmp_path):
    """--fix class_layer=lineage with --taxonomy: the trial is a flat model whose class weights are summed along
    the colours' two-level tree (warm / cold), and best_config.json records the choice for `train --config`."""
    from taxoclass import tune
    from taxoclass.models import load_model
    from taxoclass.taxonomy import load_taxonomy

    root, tax = colours
    fix = [f for f in FIXED if not f.startswith("class_layer=")] + ["class_layer=lineage", "learning_rate=0.01"]
    result = tune(_data(root), tmp_path / "study", models=["flat"], taxonomy=load_taxonomy(tax), trials=1,
                  epochs=2, batch_size=8, val_size=0.25, fix=fix, seed=0)
    assert result["best"]["arguments"]["class_layer"] == "lineage"
    clf = load_model(tmp_path / "study" / "trials" / "0000" / "model.taxoclass")
    assert clf.class_layer == "lineage"
    assert clf.model_.get_layer("node_scores").units == 2 + 4  # warm, cold and the four colours
    assert pd.read_csv(tmp_path / "study" / "trials.csv")["accuracy"].iloc[0] >= 0.5  # chance is 0.25


def test_a_search_can_draw_the_combined_model(colours, tmp_path):
    """--models combined: the tree's knobs (not the flat backbone or loss) and a trained tree with a flat head."""
    from taxoclass import tune
    from taxoclass.models import load_model
    from taxoclass.tuning.space import SearchSpace

    sp = SearchSpace(["flat", "combined"])
    assert {"trunk", "node_block", "level_schedule", "backbone", "loss"} <= set(sp.searched())
    args = sp.suggest(optuna.trial.FixedTrial({
        "model": "combined", "trunk": "small_cnn", "node_block": "dense", "head_units": "64", "learning_rate": 1e-3,
        "weight_decay": 1e-4, "label_smoothing": 0.1, "dropout": 0.0, "augment": "none", "image_size": 48,
        "class_weight": "none", "level_schedule": "none"}))
    assert args["model"] == "combined" and args["trunk"] == "small_cnn" and not {"backbone", "loss"} & set(args)
    from taxoclass.taxonomy import load_taxonomy

    root, tax = colours
    out = tmp_path / "study"
    fix = ["trunk=small_cnn", "node_block=dense", "head_units=16", "image_size=16", "augment=off", "dropout=0",
           "weight_decay=0", "label_smoothing=0", "class_weight=none", "level_schedule=none", "learning_rate=0.01"]
    result = tune(_data(root), out, models=["combined"], taxonomy=load_taxonomy(tax), trials=1, epochs=2,
                  batch_size=8, val_size=0.25, fix=fix, seed=0)
    trials = pd.read_csv(out / "trials.csv")
    assert trials["model"].tolist() == ["combined"] and trials["state"].tolist() == ["complete"]
    assert result["best"]["arguments"]["model"] == "combined"
    clf = load_model(out / "trials" / "0000" / "model.taxoclass")
    assert clf.flat_head and 0.0 <= clf.combine_weight_ <= 1.0
    assert trials["accuracy"].iloc[0] >= 0.5  # four solid colours, chance 0.25
