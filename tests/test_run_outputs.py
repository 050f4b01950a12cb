"""What users feed onward and read (issue 13, sections 3-5): per-image predictions, the confusion matrix, the
confused-pairs page, calibration in the model file and the report, --target-precision, `-o -`, config.json round
trip, and a quiet console. One tiny model trained once (in-process CLI)."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from taxoclass.cli.main import main
from test_workflows_cli import CLASSES, _draw  # the same tiny hierarchical problem, drawn at 24 px


def _pixels(files) -> np.ndarray:
    """The model's input (16 x 16 RGB, float) of some image files."""
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((16, 16)), np.float32) for p in files])


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs") / "images"
    rng = np.random.default_rng(0)
    for name, (_, colour, shape) in CLASSES.items():
        (root / name).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(_draw(colour, shape, rng)).save(root / name / f"{i}.png")
    tax = root.parent / "tax.tsv"
    tax.write_text("class\tlineage\n" + "".join(f"{c}\t{g}/{c}\n" for c, (g, _, _) in CLASSES.items()))
    return root, tax


TRAIN = ["--image-size", "16", "--epochs", "8", "--block-filters", "8,16", "--head-units", "16", "--batch-size", "16",
         "--learning-rate", "5e-3",
         "--trunk", "none", "--no-augment", "--val-size", "0.25", "--test-size", "0.25"]


@pytest.fixture(scope="module")
def run(images, tmp_path_factory):
    root, tax = images
    out = tmp_path_factory.mktemp("run") / "run1"
    assert main(["train", str(root), "--taxonomy", str(tax), *TRAIN, "-o", str(out)]) == 0
    return out


def test_the_model_file_keeps_its_temperature_and_threshold_curve(run, images):
    from taxoclass.calibration import apply_temperature
    from taxoclass.models import BaseClassifier

    clf = BaseClassifier.load(run / "model.taxoclass")
    T = clf.temperature_
    assert 0.2 <= T <= 10 and T != 1.0
    assert clf.calibration_["n"] == 30
    curve = clf.threshold_curve_
    assert curve["n"] == 30 and len(curve["precision"]) == len(curve["thresholds"]) > 100
    # both were fitted on the validation split of the manifest: recompute them from its images
    from taxoclass.calibration import fit_temperature, threshold_curve
    from taxoclass.data import ImageSet
    from taxoclass.jobs import images_dataset, predict_proba

    val = ImageSet.from_folder(images[0]).select(pd.read_csv(run / "manifest.csv"), "val")
    y = val.encode(list(clf.taxonomy_.classes))
    p_val = predict_proba(clf, images_dataset(val, clf), calibrated=False)
    assert fit_temperature(p_val, y) == pytest.approx(T, rel=1e-3)
    nll = lambda p: -np.mean(np.log(p[np.arange(len(y)), y]))  # noqa: E731
    assert nll(apply_temperature(p_val, T)) < nll(p_val)
    assert threshold_curve(apply_temperature(p_val, T), y, clf.taxonomy_)["precision"] == pytest.approx(
        curve["precision"], abs=1e-6)
    files = sorted((images[0] / "red_disc").glob("*.png"))[:4]
    x = _pixels(files)
    raw = clf.predict_proba(x, calibrated=False)
    np.testing.assert_allclose(clf.predict_proba(x), apply_temperature(raw, T), atol=1e-5)
    # a model file written before calibration existed loads with temperature 1 and no curve
    old = run.parent / "old.taxoclass"
    with zipfile.ZipFile(run / "model.taxoclass") as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "metadata.json":
                meta = json.loads(data)
                del meta["calibration"]
                data = json.dumps(meta).encode()
            dst.writestr(item, data)
    clf_old = BaseClassifier.load(old)
    assert clf_old.temperature_ == 1.0 and clf_old.threshold_curve_ is None
    np.testing.assert_allclose(clf_old.predict_proba(x), raw, atol=1e-6)


def test_evaluate_writes_what_users_feed_onward(run, images, tmp_path, capsys):
    root, _ = images
    out = tmp_path / "eval"
    assert main(["evaluate", str(run / "model.taxoclass"), str(root), "--manifest", str(run / "manifest.csv"),
                 "--target-precision", "0.75", "-o", str(out)]) == 0
    console = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    # calibration before/after, in metrics.json, report.md and on the console
    c = m["calibration"]
    assert {"temperature", "ece_before", "ece_after"} <= set(c) and 0 <= c["ece_after"] <= 1
    report = (out / "report.md").read_text()
    assert "## Calibration" in report and "## Sure-node answers" in report and "reliability_model.png" in report
    assert (out / "reliability_model.png").is_file()
    assert "expected calibration error" in console and "chosen on the validation split for precision 0.75" in console
    thr = m["thresholded"]
    assert thr["target_precision"] == 0.75 and thr["validation_precision"] >= 0.75
    assert sum(thr["depth_share"].values()) == pytest.approx(1.0)
    # numbers printed with 4 significant digits at most
    assert not any(len(tok.split(".")[-1]) > 4 for tok in console.split() if tok.replace(".", "").isdigit())
    # per-image predictions with the sure node
    df = pd.read_csv(out / "predictions.csv")
    assert len(df) == m["n_samples"] == 30
    assert list(df.columns[:5]) == ["file", "true", "predicted_class", "probability", "lineage"]
    assert {"sure_node", "sure_lineage"} <= set(df.columns)
    assert (df["true"] == df["predicted_class"]).mean() == pytest.approx(m["accuracy"])
    assert all(f.split("/")[-2] == t for f, t in zip(df["file"], df["true"]))
    # the confusion matrix with its labels, and cluster-confusion reads it (the file or the whole folder)
    cm = np.load(out / "confusion.npy")
    assert cm.tolist() == m["confusion_matrix"]
    csv = pd.read_csv(out / "confusion.csv", index_col=0)
    assert list(csv.columns) == m["classes"] and csv.to_numpy().tolist() == m["confusion_matrix"]
    from taxoclass.clustering import load_confusion

    for src in (out, out / "confusion.csv", out / "predictions.csv"):
        cm2, names = load_confusion(src)
        order = [names.index(c) for c in m["classes"]]
        assert np.asarray(cm2)[np.ix_(order, order)].tolist() == m["confusion_matrix"], src
    # the confused-pairs page
    page = (out / "confused_pairs.md").read_text()
    assert page.startswith("# Most-confused class pairs")
    n_pairs = page.count("\n## ")
    assert n_pairs == min(10, int((cm - np.diag(np.diag(cm)) > 0).sum()))
    for k in range(1, n_pairs + 1):
        with Image.open(out / "confused_pairs" / f"pair_{k}.png") as im:
            assert im.size[0] > 200


def test_target_precision_and_threshold_are_one_or_the_other(run, images, tmp_path, capsys):
    root, _ = images
    rc = main(["predict", str(run / "model.taxoclass"), "--dir", str(root / "red_disc"), "--threshold", "0.5",
               "--target-precision", "0.9", "-o", str(tmp_path / "p.csv")])
    assert rc == 2 and "not both" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_predict_to_stdout_with_target_precision(run, images, capsys):
    from io import StringIO

    from taxoclass.calibration import threshold_for_precision
    from taxoclass.models import BaseClassifier

    root, _ = images
    assert main(["predict", str(run / "model.taxoclass"), "--dir", str(root / "blue_disc"), "--target-precision",
                 "0.75", "-o", "-"]) == 0
    captured = capsys.readouterr()
    df = pd.read_csv(StringIO(captured.out))
    assert len(df) == 30 and "sure_node" in df.columns
    t = threshold_for_precision(BaseClassifier.load(run / "model.taxoclass"), 0.75)["threshold"]
    assert f"threshold {t:.4g}" in captured.err
    assert (df["sure_probability"] >= t - 1e-6).all()


def test_train_config_round_trip(run, images, tmp_path):
    cfg1 = json.loads((run / "config.json").read_text())
    assert cfg1["command_line"][:2] == ["taxoclass", "train"]
    assert {"taxoclass", "tensorflow", "keras"} <= set(cfg1["versions"])
    assert cfg1["arguments"]["epochs"] == 8 and cfg1["arguments"]["block_filters"] == [8, 16]
    assert cfg1["source"]["taxonomy"].endswith("tax.tsv") and cfg1["source"]["source"][0].startswith("/")
    # no data source given: the recorded one is used; an explicit flag wins over the file
    out = tmp_path / "run2"
    assert main(["train", "--config", str(run / "config.json"), "--epochs", "1", "-o", str(out)]) == 0
    cfg2 = json.loads((out / "config.json").read_text())
    assert cfg2["arguments"] == {**cfg1["arguments"], "epochs": 1}
    assert cfg2["source"] == cfg1["source"] and cfg2["classes"] == cfg1["classes"]
    assert (pd.read_csv(out / "manifest.csv") == pd.read_csv(run / "manifest.csv")).all().all()
    # a best_config.json with only "arguments" (taxoclass tune) and an unknown name is refused in one line
    bad = tmp_path / "best_config.json"
    bad.write_text(json.dumps({"arguments": {"epochs": 2, "not_an_option": 1}}))
    assert main(["train", str(images[0]), "--config", str(bad), "-o", str(tmp_path / "run3")]) == 2
    assert not (tmp_path / "run3").exists()
    # what a tune best_config.json holds reaches the run: width, dropout (once silently dropped by --config)
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps({"arguments": {**cfg1["arguments"], "epochs": 1, "model": "flat", "trunk": None,
                                               "node_block": None, "backbone": "resnet_small", "width": 8,
                                               "dropout": 0.25, "augment": "upright"}}))
    assert main(["train", str(images[0]), "--config", str(tuned), "-o", str(tmp_path / "run4")]) == 0
    cfg4 = json.loads((tmp_path / "run4" / "config.json").read_text())["arguments"]
    assert (cfg4["width"], cfg4["dropout"], cfg4["augment"]) == (8, 0.25, "upright")
    # a recorded argument the command line cannot set is refused unless it is the default
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"arguments": {"epochs": 1, "resize": "stretch"}}))
    assert main(["train", str(images[0]), "--config", str(odd), "-o", str(tmp_path / "run5")]) == 2
    assert not (tmp_path / "run5").exists()


def test_console_is_quiet_unless_verbose(run, images):
    img = sorted((images[0] / "red_square").glob("*.png"))[0]
    cmd = [sys.executable, "-m", "taxoclass.cli.main", "predict", str(run / "model.taxoclass"), str(img), "-o", "-"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    quiet = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr
    for noise in ("oneDNN", "cuInit", "absl", "cuda"):
        assert noise not in quiet.stderr, quiet.stderr
    assert quiet.stdout.startswith("file,predicted_class") and "predicting 1 image with" in quiet.stderr
    loud = subprocess.run(cmd[:4] + ["--verbose"] + cmd[4:], capture_output=True, text=True, timeout=300, env=env)
    assert loud.returncode == 0 and "oneDNN" in loud.stderr


def test_exports_carry_the_temperature(run, images, tmp_path):
    import tensorflow as tf

    from taxoclass.export import SIDECAR, export_model
    from taxoclass.models import BaseClassifier

    clf = BaseClassifier.load(run / "model.taxoclass")
    assert clf.temperature_ != 1.0
    files = sorted((images[0] / "blue_square").glob("*.png"))[:6]
    x = _pixels(files)
    out = export_model(clf, tmp_path / "sm", target="savedmodel")
    got = tf.saved_model.load(str(out)).signatures["serving_default"](images=tf.constant(x))["probabilities"].numpy()
    np.testing.assert_allclose(got, clf.predict_proba(x), atol=1e-4, rtol=0)
    assert not np.allclose(got, clf.predict_proba(x, calibrated=False), atol=1e-3)
    assert json.loads((out / SIDECAR).read_text())["temperature"] == pytest.approx(clf.temperature_)


def test_evaluate_scores_the_hierarchy_on_another_taxonomy(run, images, tmp_path, capsys):
    """``evaluate --taxonomy``: the same predictions, hierarchical metrics on the given tree (how an error-based
    tree or a flat model is judged on the biological taxonomy). On a tree without groups every mistake has
    severity 1 and hF1 is top-1, while the model's own two-level tree gives severity 2 to the cross-group ones."""
    root, _ = images
    flat_tax = tmp_path / "flat.tsv"
    flat_tax.write_text("class\tlineage\n" + "".join(f"{c}\t{c}\n" for c in reversed(CLASSES)))
    own, other = tmp_path / "own", tmp_path / "other"
    common = [str(run / "model.taxoclass"), str(root), "--manifest", str(run / "manifest.csv")]
    assert main(["evaluate", *common, "-o", str(own)]) == 0
    assert main(["evaluate", *common, "--taxonomy", str(flat_tax), "-o", str(other)]) == 0
    m_own = json.loads((own / "metrics.json").read_text())
    m = json.loads((other / "metrics.json").read_text())
    assert m["accuracy"] == m_own["accuracy"] < 1  # the same predictions; the tiny model makes mistakes
    assert m["confusion_matrix"] == m_own["confusion_matrix"] and m["classes"] == m_own["classes"]
    assert m["mistake_severity"] == pytest.approx(1.0)
    assert m["hierarchical_f1_micro"] == pytest.approx(m["accuracy"])
    assert m_own["hierarchical_f1_micro"] > m_own["accuracy"]  # own tree: right group, wrong class earns credit
    assert m["scored_on"].endswith("flat.tsv") and m_own["scored_on"] == "model taxonomy"
    # a taxonomy without the model's classes is refused before anything is written
    capsys.readouterr()
    bad = tmp_path / "bad.tsv"
    bad.write_text("class\tlineage\nred_square\tred_square\nblue_square\tblue_square\n")
    assert main(["evaluate", *common, "--taxonomy", str(bad), "-o", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "2 class(es) in the model but not in" in err and "bad.tsv: blue_disc, red_disc." in err, err
    assert not (tmp_path / "no").exists()
    assert main(["evaluate", *common, "--taxonomy", str(flat_tax), "--target-precision", "0.8",
                 "-o", str(tmp_path / "no")]) == 2
    assert "calibrated on the model's own tree" in capsys.readouterr().err and not (tmp_path / "no").exists()
