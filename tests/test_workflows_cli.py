"""End to end: `taxoclass train -> evaluate -> predict` and `benchmark` on tiny generated images, in-process."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from taxoclass.cli.main import main

# colour = group (warm / cold), shape = class: a tiny hierarchical problem a model learns in a few epochs
CLASSES = {"red_square": ("warm", (220, 30, 30), "square"), "red_disc": ("warm", (220, 30, 30), "disc"),
           "blue_square": ("cold", (30, 30, 220), "square"), "blue_disc": ("cold", (30, 30, 220), "disc")}


def _draw(colour, shape, rng, size=24):
    img = np.full((size, size, 3), 255, np.uint8)
    c = rng.integers(9, size - 9, 2)
    r = int(rng.integers(5, 8))
    yy, xx = np.mgrid[:size, :size]
    if shape == "square":
        mask = (abs(yy - c[0]) <= r) & (abs(xx - c[1]) <= r)
    else:
        mask = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r * r
    img[mask] = colour
    return img


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for name, (_, colour, shape) in CLASSES.items():
        (root / name).mkdir()
        for i in range(30):
            Image.fromarray(_draw(colour, shape, rng)).save(root / name / f"{i}.png")
    tax = root.parent / "tax.tsv"
    tax.write_text("class\tlineage\n" + "".join(f"{c}\t{g}/{c}\n" for c, (g, _, _) in CLASSES.items()))
    return root, tax


@pytest.fixture(scope="module")
def trained_run(image_folder, tmp_path_factory):
    root, tax = image_folder
    out = tmp_path_factory.mktemp("run") / "run"
    # the tree alone: the default combined model's 1,024-unit flat head learns these 96 images to certainty, and
    # the TTA tests below need probabilities that the views can move
    rc = main(["train", str(root), "--taxonomy", str(tax), "--model", "tree", "--image-size", "24", "--epochs", "12",
               "--block-filters", "8,16", "--head-units", "16", "--batch-size", "16", "--learning-rate", "3e-3",
               "--no-augment", "-o", str(out)])  # 96 images, 72 steps: too few to learn through augmentation
    assert rc == 0
    return out


def test_train_writes_a_complete_run_folder(trained_run):
    for name in ("model.taxoclass", "config.json", "manifest.csv", "training_log.csv", "taxonomy.tsv"):
        assert (trained_run / name).is_file(), name
    assert (trained_run / "tensorboard").is_dir()
    cfg = json.loads((trained_run / "config.json").read_text())
    assert cfg["model"] == "tree" and cfg["pipeline"]["image_size"] == 24
    # the recipe: cosine schedule and no class weights by default; augmentation switched off here
    assert (cfg["augment"], cfg["lr_schedule"], cfg["class_weight"], cfg["sampling"]) == ("none", "cosine", "none",
                                                                                           "natural")
    man = pd.read_csv(trained_run / "manifest.csv")
    assert set(man["split"]) == {"train", "val", "test"} and len(man) == 120
    log = pd.read_csv(trained_run / "training_log.csv")
    assert len(log) == 12 and "val_accuracy" in log.columns
    lr = log["learning_rate"].to_numpy()
    # logged at the end of each epoch: the peak after the warm-up (epoch 1), then cosine decay to about 0
    assert lr[0] == pytest.approx(3e-3) and (np.diff(lr) <= 0).all() and lr[-1] < 0.05 * lr[0]


def test_evaluate_on_the_test_split(trained_run, image_folder, tmp_path):
    root, _ = image_folder
    out = tmp_path / "eval"
    rc = main(["evaluate", str(trained_run / "model.taxoclass"), str(root), "--manifest",
               str(trained_run / "manifest.csv"), "--threshold", "0.8", "-o", str(out)])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_samples"] == 12  # 10 % of 120 images
    assert m["accuracy"] >= 0.75, m["accuracy"]  # separable problem; chance is 0.25
    assert m["hierarchical_f1_micro"] >= m["accuracy"]
    assert "thresholded" in m
    assert (out / "report.md").read_text().count("|") > 10
    for png in ("confusion_model.png", "taxonomy_model.png"):
        with Image.open(out / png) as im:
            assert im.size[0] > 100


def test_tta_averages_the_views(trained_run, image_folder, tmp_path):
    from taxoclass.data import ImageSet, load_images, tta_views
    from taxoclass.models import BaseClassifier
    from taxoclass.jobs import images_dataset, predict_proba

    root, _ = image_folder
    clf = BaseClassifier.load(trained_run / "model.taxoclass")
    data = ImageSet.from_folder(root).subset(np.arange(10))
    ds = images_dataset(data, clf, batch_size=4)
    x, _ = load_images(data, image_size=24, channels=3, class_order=list(clf.taxonomy_.classes))
    manual = np.mean([clf.predict_proba(v) for v in tta_views(x, 4)], axis=0)
    np.testing.assert_allclose(predict_proba(clf, ds, tta=4), manual, atol=1e-5)
    np.testing.assert_allclose(predict_proba(clf, ds, tta=1), clf.predict_proba(x), atol=1e-5)
    assert not np.allclose(manual, clf.predict_proba(x), atol=1e-4)  # the views do change the answer
    out = tmp_path / "eval_tta"
    assert main(["evaluate", str(trained_run / "model.taxoclass"), str(root), "--manifest",
                 str(trained_run / "manifest.csv"), "--tta", "8", "-o", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["tta"] == 8


def test_tta_views_follow_the_training_augmentation(trained_run, image_folder, tmp_path):
    from taxoclass.data import ImageSet, load_images, tta_views
    from taxoclass.models import BaseClassifier
    from taxoclass.jobs import images_dataset, predict_proba

    root, _ = image_folder
    clf = BaseClassifier.load(trained_run / "model.taxoclass")
    assert clf.augment_ == "none"  # `train --no-augment` recorded it in the model file
    data = ImageSet.from_folder(root).subset(np.arange(10))
    ds = images_dataset(data, clf, batch_size=4)
    x, _ = load_images(data, image_size=24, channels=3, class_order=list(clf.taxonomy_.classes))
    rotated = np.mean([clf.predict_proba(v) for v in tta_views(x, 4)], axis=0)
    upright = np.mean([clf.predict_proba(v) for v in tta_views(x, 4, mode="upright", fill_value=255.0)], axis=0)
    assert not np.allclose(rotated, upright, atol=1e-4)
    np.testing.assert_allclose(predict_proba(clf, ds, tta=4), rotated, atol=1e-5)  # auto: not trained upright
    np.testing.assert_allclose(predict_proba(clf, ds, tta=4, tta_mode="upright"), upright, atol=1e-5)
    clf.augment_ = "upright"  # as `train --augment upright` records it; kept by save and load
    path = clf.save(tmp_path / "upright.taxoclass")
    again = BaseClassifier.load(path)
    assert again.augment_ == "upright"
    np.testing.assert_allclose(predict_proba(again, ds, tta=4), upright, atol=1e-5)
    out = tmp_path / "eval_upright"
    assert main(["evaluate", str(path), str(root), "--manifest", str(trained_run / "manifest.csv"), "--tta", "8",
                 "-o", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["tta_mode"] == "upright"
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(path), str(root), "--tta", "2", "--tta-mode", "rotations", "-o", str(tmp_path / "x")])
    assert e.value.code == 2 and not (tmp_path / "x").exists()


def _exit_code(argv) -> int:
    """main's exit status, whether argparse (SystemExit) or the command (return value) refused the input."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_sixteen_plankton_views_and_eight_upright_ones(trained_run, image_folder, tmp_path, capsys):
    from taxoclass.models import BaseClassifier

    root, _ = image_folder
    model, man = str(trained_run / "model.taxoclass"), str(trained_run / "manifest.csv")
    out = tmp_path / "eval16"
    assert main(["evaluate", model, str(root), "--manifest", man, "--tta", "16", "-o", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["tta"], m["tta_mode"]) == (16, "plankton") and m["n_samples"] == 12  # (trained without turns)
    for argv in (["--tta", "9", "--tta-mode", "upright"], ["--tta", "17"]):
        capsys.readouterr()
        assert _exit_code(["evaluate", model, str(root), "--manifest", man, *argv, "-o", str(tmp_path / "bad")]) == 2
        assert not (tmp_path / "bad").exists()
        assert ("1 (none) to 8" if "upright" in argv else "to 16") in capsys.readouterr().err
    clf = BaseClassifier.load(trained_run / "model.taxoclass")
    clf.augment_ = "upright"  # trained upright: --tta-mode auto picks the 8 upright views, found once it is loaded
    upright = clf.save(tmp_path / "upright.taxoclass")
    for cmd in (["predict", str(upright), "--dir", str(root / "red_square"), "--tta", "9",
                 "-o", str(tmp_path / "p.csv")],
                ["evaluate", str(upright), str(root), "--manifest", man, "--tta", "9", "-o", str(tmp_path / "e")]):
        capsys.readouterr()
        assert _exit_code(cmd) == 2, cmd
        assert "1 (none) to 8" in capsys.readouterr().err
        assert not (tmp_path / "p.csv").exists() and not (tmp_path / "e").exists()


def test_predict_writes_csv_with_lineage_and_threshold(trained_run, image_folder, tmp_path):
    root, _ = image_folder
    files = sorted((root / "blue_disc").glob("*.png"))[:3] + sorted((root / "red_square").glob("*.png"))[:3]
    out = tmp_path / "pred.csv"
    rc = main(["predict", str(trained_run / "model.taxoclass"), *map(str, files), "--threshold", "0.5",
               "--top-k", "2", "-o", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df.columns[:4]) == ["file", "predicted_class", "probability", "lineage"]
    assert {"top2_class", "sure_node", "sure_lineage", "sure_probability"} <= set(df.columns)
    assert len(df) == 6
    assert (df["probability"] >= df["top2_probability"]).all()
    assert all(lin.endswith(c) for lin, c in zip(df["lineage"], df["predicted_class"]))
    groups = {"blue_disc": "cold", "red_square": "warm"}
    # the group (colour) is easy: at threshold 0.5 every image is at least placed in its group
    for f, lin in zip(df["file"], df["sure_lineage"]):
        assert lin.split(" > ")[0] == groups[f.split("/")[-2]], (f, lin)
    # no silent overwrite
    assert main(["predict", str(trained_run / "model.taxoclass"), str(files[0]), "-o", str(out)]) == 2


def test_predict_cli_threshold_agrees_with_tree_classifier_predict(trained_run, image_folder, tmp_path):
    """`taxoclass predict --threshold` and TreeClassifier.predict(threshold=) use one rule (issue 11, defect 1)."""
    from taxoclass.models import load_model
    from taxoclass.jobs import images_dataset, unlabelled_images

    root, _ = image_folder
    files = sorted(root.rglob("*.png"))[::7]
    clf = load_model(trained_run / "model.taxoclass")
    ds = images_dataset(unlabelled_images(list(map(str, files))), clf, batch_size=64, with_labels=False)
    proba = clf.predict_proba(ds)
    for t in (0.3, 0.9, 0.99):
        out = tmp_path / f"pred_{t}.csv"
        assert main(["predict", str(trained_run / "model.taxoclass"), *map(str, files), "--threshold", str(t),
                     "-o", str(out)]) == 0
        df = pd.read_csv(out)
        assert df["sure_node"].tolist() == clf.predict(ds, threshold=t).tolist(), t
        node_p = proba.astype(np.float64) @ clf.taxonomy_.membership
        assert (df["sure_probability"] >= t - 1e-5).all()
        assert np.allclose(df["sure_probability"], node_p[np.arange(len(df)), clf.taxonomy_.threshold(proba, t)],
                           atol=1e-5)


def test_mode_risk_in_predict_and_evaluate_is_the_taxonomy_ranking(trained_run, image_folder, tmp_path):
    """`--mode risk` answers ``Taxonomy.ranked_classes(proba, "risk")``, in predict's CSV and in evaluate's
    metrics and predictions table, as TreeClassifier.predict(mode="risk") does."""
    from taxoclass.data import ImageSet
    from taxoclass.jobs import images_dataset
    from taxoclass.models import load_model

    root, _ = image_folder
    clf = load_model(trained_run / "model.taxoclass")
    tax = clf.taxonomy_
    test = ImageSet.from_folder(root).select(trained_run / "manifest.csv", "test")
    ds = images_dataset(test, clf, batch_size=64)
    proba, y = clf.predict_proba(ds), test.encode(tax)
    risk = tax.ranked_classes(proba, "risk")
    out = tmp_path / "eval_risk"
    assert main(["evaluate", str(trained_run / "model.taxoclass"), str(root), "--manifest",
                 str(trained_run / "manifest.csv"), "--mode", "risk", "-k", "2", "-o", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "risk"
    assert m["accuracy"] == pytest.approx(np.mean(risk[:, 0] == y))
    assert m["top_k_accuracy"] == pytest.approx(np.mean((risk[:, :2] == y[:, None]).any(axis=1)))
    table = pd.read_csv(out / "predictions.csv")
    assert table["predicted_class"].tolist() == clf.classes_[risk[:, 0]].tolist()
    assert table["predicted_class"].tolist() == clf.predict(ds, mode="risk").tolist()
    files = [test._where(k) for k in test.keys]
    pred = tmp_path / "pred_risk.csv"
    assert main(["predict", str(trained_run / "model.taxoclass"), *files, "--mode", "risk", "--top-k", "3",
                 "-o", str(pred)]) == 0
    df = pd.read_csv(pred)
    assert df["predicted_class"].tolist() == table["predicted_class"].tolist()
    assert df["top3_class"].tolist() == clf.classes_[risk[:, 2]].tolist()
    np.testing.assert_allclose(df["probability"], proba[np.arange(len(df)), risk[:, 0]], atol=1e-5)


def test_benchmark_writes_every_report_file(image_folder, tmp_path):
    root, tax = image_folder
    out = tmp_path / "bench"
    rc = main(["benchmark", str(root), "--taxonomy", str(tax), "--backbone", "small_cnn", "--image-size", "24",
               "--epochs", "2", "--block-filters", "8", "--head-units", "8", "--batch-size", "32",
               "--models", "flat,flat_block,taxonomy_tree,error_tree,combined", "--loss", "hxe", "--weight-decay", "0",
               "-o", str(out)])
    assert rc == 0
    summary = json.loads((out / "benchmark.json").read_text())
    assert summary["model_options"] == {"weight_decay": 0.0, "loss": "hxe"}
    assert set(summary["models"]) == {"flat", "flat_block", "taxonomy_tree", "error_tree", "combined"}
    assert summary["models"]["flat_block"]["classifier_nodes"] == 1
    assert summary["models"]["flat"]["classifier_nodes"] == 1  # one softmax, though it keeps the taxonomy
    assert summary["models"]["taxonomy_tree"]["classifier_nodes"] == 3  # root, warm, cold
    assert summary["models"]["combined"]["classifier_nodes"] == 3
    # the trees share the flat model's backbone as trunk; the combined model adds a flat head to the tree
    assert summary["models"]["combined"]["n_params"] > summary["models"]["taxonomy_tree"]["n_params"]
    for m in summary["models"].values():
        assert 0 <= m["accuracy"] <= 1 and m["train_seconds"] > 0 and m["n_params"] > 0
        assert m["epochs_run"] == 2 and 0 <= m["accuracy_tta"] <= 1 and m["tta"] == 8
        assert 0 <= m["accuracy_risk"] <= 1 and m["mistake_severity_risk"] is not None
    assert summary["beta_chosen"] is True and summary["augment"] == "plankton"
    # every other model against flat on the same test images (paired bootstrap), the flat model against nothing
    assert "vs_flat" not in summary["models"]["flat"]
    for name in ("flat_block", "taxonomy_tree", "error_tree", "combined"):
        vs, m = summary["models"][name]["vs_flat"], summary["models"][name]
        assert vs["tta"] == 8
        assert vs["accuracy"]["b_minus_a"] == pytest.approx(m["accuracy_tta"] - summary["models"]["flat"]["accuracy_tta"],
                                                           abs=2e-4)
        assert vs["accuracy"]["ci95"][0] <= vs["accuracy"]["ci95"][1]
    md = (out / "report.md").read_text()
    assert "top-1 accuracy with test-time augmentation" in md and "epochs run" in md
    assert "## Against the flat model" in md and "| combined |" in md.split("## Against the flat model")[1]
    for name in ("report.json", "report.md", "manifest.csv", "error_taxonomy.tsv", "training_curves.png",
                 "accuracy_vs_cost.png", "confusion_flat.png", "confusion_taxonomy_tree.png",
                 "confusion_error_tree.png"):
        assert (out / name).is_file(), name
    json.loads((out / "report.json").read_text())
    # a second run into the same folder is refused
    assert main(["benchmark", str(root), "--backbone", "small_cnn", "-o", str(out)]) == 2


def test_benchmark_risk_scores_are_what_evaluate_mode_risk_gives_the_saved_models(image_folder, tmp_path):
    root, tax = image_folder
    out = tmp_path / "bench"
    assert main(["benchmark", str(root), "--taxonomy", str(tax), "--backbone", "small_cnn", "--image-size", "24",
                 "--epochs", "2", "--block-filters", "8", "--head-units", "8", "--batch-size", "32",
                 "--models", "flat,taxonomy_tree", "--tta", "2", "--save-models", "-o", str(out)]) == 0
    summary = json.loads((out / "benchmark.json").read_text())
    evaluated = {}
    for name in ("flat", "taxonomy_tree"):
        m = summary["models"][name]
        scores = {}
        for mode in ("soft", "risk"):
            ev = tmp_path / f"{name}_{mode}"
            assert main(["evaluate", str(out / f"{name}.taxoclass"), str(root), "--manifest", str(out / "manifest.csv"),
                         "--taxonomy", str(tax), "--tta", "2", "--mode", mode, "-o", str(ev)]) == 0
            scores[mode] = json.loads((ev / "metrics.json").read_text())
        # the flat model keeps the taxonomy (as `train --taxonomy` does), so its saved model ranks on it too
        assert m["accuracy_tta"] == pytest.approx(scores["soft"]["accuracy"])
        assert m["accuracy_risk"] == pytest.approx(scores["risk"]["accuracy"])
        assert m["mistake_severity_risk"] == pytest.approx(scores["risk"]["mistake_severity"])
        evaluated[name] = pd.read_csv(tmp_path / f"{name}_soft" / "predictions.csv")
    # the benchmark's tree-vs-flat comparison is the paired bootstrap of what evaluate gives the saved models
    from taxoclass import load_taxonomy
    from taxoclass.metrics import paired_bootstrap

    flat, tree = evaluated["flat"], evaluated["taxonomy_tree"]
    assert (flat["file"] == tree["file"]).all()
    again = paired_bootstrap(flat["true"], flat["predicted_class"], tree["predicted_class"], load_taxonomy(tax),
                             resamples=1000, seed=0)
    vs = summary["models"]["taxonomy_tree"]["vs_flat"]
    assert vs["tta"] == 2 and vs["accuracy"] == again["accuracy"]


def test_an_empty_head_units_gives_linear_node_heads_in_train_and_benchmark(image_folder, tmp_path):
    """`--head-units ''`: no hidden layer in the node heads (linear heads on the trunk's pooled features, pairs LH
    of docs/benchmarks.md); the combined model's flat head keeps its own hidden layer."""
    from taxoclass.models import load_model

    root, tax = image_folder
    common = ["--taxonomy", str(tax), "--image-size", "24", "--epochs", "1", "--head-units", "", "--batch-size", "32",
              "--no-augment"]
    assert main(["train", str(root), *common, "--model", "combined", "--trunk", "small_cnn", "-o",
                 str(tmp_path / "run")]) == 0
    clf = load_model(tmp_path / "run" / "model.taxoclass")
    assert tuple(clf.head_units) == () and clf.model_.node_heads.units == ()
    hidden = [la for la in clf.model_.flat_head.layers if isinstance(la, keras.layers.Dense)][:-1]
    assert [la.units for la in hidden] == [1024]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["head_units"] == []
    # benchmark's small flat head is twice the node heads', at least 64 units: 64 here
    out = tmp_path / "bench"
    assert main(["benchmark", str(root), *common, "--backbone", "small_cnn", "--models", "flat,combined",
                 "--save-models", "-o", str(out)]) == 0
    flat = load_model(out / "flat.taxoclass")
    assert [la.units for la in flat.model_.layers if la.name.startswith("head_dense")] == [64]
    assert load_model(out / "combined.taxoclass").model_.node_heads.units == ()


def test_train_class_layer_lineage_and_its_refusals(image_folder, tmp_path, capsys):
    """`train --class-layer lineage`: a flat model whose class weights are sums along the taxonomy; refused
    without a taxonomy and for the tree models, before anything is written."""
    from taxoclass.models import load_model

    root, tax = image_folder
    common = ["--image-size", "16", "--epochs", "1", "--batch-size", "32", "--no-augment"]
    out = tmp_path / "run"
    assert main(["train", str(root), "--taxonomy", str(tax), "--model", "flat", "--backbone", "small_cnn",
                 "--class-layer", "lineage", *common, "-o", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["class_layer"] == "lineage"
    assert load_model(out / "model.taxoclass").model_.get_layer("node_scores") is not None
    for args, message in [
            (["--model", "flat", "--class-layer", "lineage"], "pass --taxonomy FILE"),
            (["--taxonomy", str(tax), "--model", "combined", "--class-layer", "lineage"], "flat model's class layer")]:
        target = tmp_path / "refused"
        assert main(["train", str(root), *args, *common, "-o", str(target)]) == 2
        assert message in capsys.readouterr().err
        assert not target.exists()


def test_benchmark_width_and_depth_size_the_flat_backbone_and_the_trees_trunk(image_folder, tmp_path):
    root, tax = image_folder
    params = {}
    for width, depth in ((4, None), (8, None), (4, 2)):
        out = tmp_path / f"w{width}d{depth}"
        assert main(["benchmark", str(root), "--taxonomy", str(tax), "--backbone", "resnet_small", "--width",
                     str(width), *(["--depth", str(depth)] if depth else []), "--dropout", "0.1", "--image-size", "16",
                     "--epochs", "1", "--head-units", "8", "--models", "flat,taxonomy_tree", "--tta", "1",
                     "-o", str(out)]) == 0
        summary = json.loads((out / "benchmark.json").read_text())
        assert (summary["width"], summary["depth"], summary["dropout"]) == (width, depth, 0.1)
        params[width, depth] = {m: v["n_params"] for m, v in summary["models"].items()}
    # resnet_small's convolutions grow with width squared, and with the blocks per stage: both the flat model and
    # the tree's trunk follow --width and --depth
    for m in ("flat", "taxonomy_tree"):
        assert params[8, None][m] > 1.5 * params[4, None][m], (m, params)
        assert params[4, 2][m] > 1.2 * params[4, None][m], (m, params)


@pytest.mark.parametrize("argv, message", [
    (["train", "SRC", "--model", "flat", "--level-schedule", "coarse_to_fine", "-o", "OUT"], "weights a tree's levels"),
    (["train", "SRC", "--model", "flat", "--node-label-smoothing", "0", "-o", "OUT"], "smooths a tree's node heads"),
    (["train", "SRC", "--taxonomy", "TAX", "--loss", "hxe", "-o", "OUT"], "is the flat model's loss"),
    # model options and coarse levels are refused before any image is read (the folder does not exist)
    (["train", "/nonexistent/folder", "--model", "flat", "--coarse-levels", "1", "-o", "OUT"],
     "flat model has no taxonomy levels"),
    (["train", "/nonexistent/folder", "--taxonomy", "TAX", "--trunk", "vgg_bn", "--coarse-levels", "9", "-o", "OUT"],
     "must be taxonomy depths"),
    (["train", "/nonexistent/folder", "--taxonomy", "TAX", "--coarse-loss-weight", "0.5", "-o", "OUT"],
     "but none is asked for"),
    (["train", "/nonexistent/folder", "--taxonomy", "TAX", "-o", "OUT"], "not found"),
    (["train", "SRC", "--taxonomy", "/nonexistent/tax.tsv", "-o", "OUT"], "/nonexistent/tax.tsv"),
    (["train", "SRC", "-o", "OUT"], "needs a taxonomy"),
    (["evaluate", "/nonexistent/model.taxoclass", "--dataset", "digits", "-o", "OUT"], "does not exist"),
    (["predict", "MODEL", "-o", "OUT.csv"], "no images"),
    (["benchmark", "--dataset", "digits", "--models", "flat,forest", "-o", "OUT"], "unknown model kind"),
    (["benchmark", "--dataset", "digits", "--beta", "1.5", "-o", "OUT"], "between 0 and 1"),
    (["benchmark", "--dataset", "digits", "--class-layer", "lineage", "-o", "OUT"], "pass --taxonomy FILE"),
    (["benchmark", "--dataset", "digits", "--backbone", "mobilenet_v2", "--width", "8", "-o", "OUT"],
     "sizes a from-scratch backbone"),
    (["benchmark", "--dataset", "digits", "--backbone", "mobilenet_v2", "--depth", "2", "-o", "OUT"],
     "depth=2 sizes a from-scratch backbone"),
    (["train", "SRC", "--taxonomy", "TAX", "--depth", "0", "-o", "OUT"], "depth=0 is not valid"),
    # issue 11, defect 6: a tree used to ignore these two flags silently (and record them in config.json)
    (["train", "SRC", "--taxonomy", "TAX", "--backbone", "mobilenet_v2", "-o", "OUT"], "pass --trunk mobilenet_v2"),
    (["train", "SRC", "--taxonomy", "TAX", "--trunk", "none", "--weights", "imagenet", "-o", "OUT"],
     "name a --trunk"),
    # the default trunk (resnet_small, from scratch) has no ImageNet weights: refused, not ignored
    (["train", "SRC", "--taxonomy", "TAX", "--weights", "imagenet", "-o", "OUT"], "not available for this backbone"),
])
def test_bad_inputs_exit_2_with_one_line(argv, message, image_folder, tmp_path, capsys):
    root, tax = image_folder
    argv = [a.replace("SRC", str(root)).replace("TAX", str(tax)).replace("OUT", str(tmp_path / "o")).replace("MODEL", str(tmp_path / "m"))
            for a in argv]
    if "--beta" in argv:  # argparse's own check: SystemExit(2)
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    else:
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_tree_weights_flag_sets_the_trunk_weights(image_folder, tmp_path):
    """Issue 11, defect 6: `train --trunk NAME --weights FILE` builds the tree's trunk from FILE."""
    from taxoclass.models import load_model
    from taxoclass.models.backbones import build_backbone

    root, tax = image_folder
    source = build_backbone("small_cnn", (24, 24, 3)).get_layer("features")
    path = tmp_path / "trunk.weights.h5"
    source.save_weights(path)
    out = tmp_path / "run"
    assert main(["train", str(root), "--taxonomy", str(tax), "--trunk", "small_cnn", "--weights", str(path),
                 "--image-size", "24", "--epochs", "1", "--learning-rate", "1e-12", "--block-filters", "8",
                 "--head-units", "8", "-o", str(out)]) == 0
    clf = load_model(out / "model.taxoclass")
    assert clf.trunk == "small_cnn" and clf.trunk_weights == str(path)
    assert json.loads((out / "config.json").read_text())["weights"] == str(path)
    kernel = np.asarray(source.weights[0])
    matches = [w for w in clf.model_.weights if tuple(w.shape) == kernel.shape]
    assert any(np.allclose(np.asarray(w), kernel, atol=1e-6) for w in matches)
    fresh = build_backbone("small_cnn", (24, 24, 3)).get_layer("features")  # so the check above can fail
    assert not np.allclose(np.asarray(fresh.weights[0]), kernel, atol=1e-6)


def test_rerun_into_a_finished_run_folder_is_refused(trained_run, image_folder, capsys):
    root, tax = image_folder
    before = sorted(p.name for p in trained_run.iterdir())
    stamp = (trained_run / "model.taxoclass").stat().st_mtime_ns
    assert main(["train", str(root), "--taxonomy", str(tax), "-o", str(trained_run)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert main(["train", str(root), "--taxonomy", str(tax), "--resume", "-o", str(trained_run)]) == 2
    assert "no unfinished run" in capsys.readouterr().err
    assert sorted(p.name for p in trained_run.iterdir()) == before
    assert (trained_run / "model.taxoclass").stat().st_mtime_ns == stamp


def test_train_model_combined_saves_the_tree_with_a_flat_head(image_folder, tmp_path, capsys):
    """`train --model combined`: the benchmark's combined model (tree + flat softmax head on one trunk, mixed with
    a weight chosen on the validation split) as a run folder that evaluate and predict read like any other."""
    from taxoclass.models import load_model
    from taxoclass.models.tree_model import combine_log_proba

    root, tax = image_folder
    out = tmp_path / "run"
    assert main(["train", str(root), "--taxonomy", str(tax), "--model", "combined", "--trunk", "small_cnn",
                 "--image-size", "24", "--epochs", "3", "--head-units", "8", "--batch-size", "16", "--no-augment",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    clf = load_model(out / "model.taxoclass")
    assert clf.flat_head is True and clf.model_.flat_head is not None
    assert json.loads((out / "config.json").read_text())["model"] == "combined"
    w = clf.combine_weight_
    assert f"tree weight {w:g}" in err
    # the chosen weight is never worse on the validation split than either head alone
    man = pd.read_csv(out / "manifest.csv")
    val = man[man["split"] == "val"]
    X = np.stack([np.asarray(Image.open(root / p).convert("RGB")) for p in val["path"]]).astype("float32")
    p_tree, p_flat = (np.asarray(v) for v in clf.model_.heads_proba(X))
    y = clf.taxonomy_.encode(list(val["label"]))
    mixed = np.asarray(combine_log_proba(np.log(p_tree), np.log(p_flat), w)).argmax(1)
    assert 0 <= w <= 1 and (mixed == y).mean() >= max((p_tree.argmax(1) == y).mean(), (p_flat.argmax(1) == y).mean())
    assert main(["evaluate", str(out / "model.taxoclass"), str(root), "--manifest", str(out / "manifest.csv"),
                 "-o", str(tmp_path / "ev")]) == 0
    # a combined model takes a taxonomy, like the tree, and the flat model's --loss is refused for it
    assert main(["train", str(root), "--model", "combined", "-o", str(tmp_path / "x")]) == 2
    assert "a combined model needs a taxonomy" in capsys.readouterr().err
    assert main(["train", str(root), "--taxonomy", str(tax), "--model", "combined", "--loss", "hxe",
                 "-o", str(tmp_path / "y")]) == 2
    assert "a combined model's loss is its node losses" in capsys.readouterr().err
