"""taxoclass.report: every file is written, parses, and says what the metrics say; no silent overwrite."""

import json

import numpy as np
import pytest
from PIL import Image

from taxoclass import Taxonomy
from taxoclass.exceptions import TaxoclassError
from taxoclass.metrics import evaluate_predictions
from taxoclass.report import markdown_report, plot_confusion_matrix, plot_taxonomy_accuracy, write_report


def _tax(n_groups=4, per_group=3):
    return Taxonomy.from_paths([[f"g{g}", f"s{g}_{j // 2}", f"c{g}_{j}"] for g in range(n_groups)
                                for j in range(per_group)])


def _results(tax, n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, tax.n_classes, n)
    out = []
    for name, boost, cost in (("flat inception_v3", 0.9, 120.0), ("taxonomy tree", 0.3, 60.0)):
        P = rng.random((n, tax.n_classes))
        P[np.arange(n), y] += boost
        out.append({"name": name, "metrics": evaluate_predictions(y, P, tax, k=3), "taxonomy": tax,
                    "train_seconds": cost, "images_per_second": np.float32(1000 / cost), "n_params": 10**6 + int(cost)})
    out[0]["history"] = {"loss": [1.5, 1.0, 0.8], "val_loss": [1.6, 1.2, float("nan")],
                         "accuracy": np.array([0.3, 0.5, 0.6]), "val_accuracy": [0.28, 0.45, 0.5]}
    return out


def test_write_report_writes_every_file_and_they_parse(tmp_path):
    tax = _tax()
    results = _results(tax)
    out = tmp_path / "rep"
    files = write_report(results, out)
    expected = {"report.json", "report.md", "confusion_flat_inception_v3.png", "confusion_taxonomy_tree.png",
                "taxonomy_flat_inception_v3.png", "taxonomy_taxonomy_tree.png", "training_curves.png",
                "accuracy_vs_cost.png"}
    assert set(files) == expected
    assert {p.name for p in out.iterdir()} == expected  # nothing else (no temporary files left)
    for name in expected - {"report.json", "report.md"}:
        with Image.open(out / name) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200
    doc = json.loads((out / "report.json").read_text())
    assert [m["name"] for m in doc["models"]] == ["flat inception_v3", "taxonomy tree"]
    assert doc["models"][0]["metrics"]["accuracy"] == results[0]["metrics"]["accuracy"]
    assert doc["models"][0]["history"]["val_loss"] == [1.6, 1.2, None]  # NaN -> null: strict JSON
    assert doc["models"][1]["taxonomy"]["classes"] == list(tax.classes)
    assert doc["models"][1]["images_per_second"] == pytest.approx(1000 / 60, rel=1e-6)
    assert set(doc["figures"]) == expected - {"report.json", "report.md"}

    md = (out / "report.md").read_text()
    assert "| metric | flat inception_v3 | taxonomy tree |" in md
    acc = [r["metrics"]["accuracy"] for r in results]
    row = next(line for line in md.splitlines() if line.startswith("| top-1 accuracy"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert [float(c.strip("*")) for c in cells] == pytest.approx(acc, abs=1e-4)
    best = int(np.argmax(acc))
    assert cells[best].startswith("**") and not cells[1 - best].startswith("**")  # best value in bold
    row = next(line for line in md.splitlines() if line.startswith("| training time"))
    assert "**60.0**" in row and "120.0" in row
    node_rows = [line for line in md.splitlines() if line.startswith("| root/g")]
    assert len(node_rows) == 4 + 8  # g0..g3 and their sub-groups s*_0, s*_1 (every internal node but the root)
    assert md.count("| c") >= tax.n_classes  # per-class table
    for name in expected - {"report.json", "report.md"}:
        assert f"]({name})" in md  # figures are embedded


def test_no_silent_overwrite(tmp_path):
    tax = _tax(2, 2)
    r = _results(tax, n=50)[1]
    results = [{"name": r["name"], "metrics": r["metrics"]}]  # one figure: quick
    files = write_report(results, tmp_path)
    assert sorted(files) == ["confusion_taxonomy_tree.png", "report.json", "report.md"]
    before = {n: p.read_bytes() for n, p in files.items()}
    results[0]["metrics"] = dict(results[0]["metrics"], accuracy=0.123456)
    with pytest.raises(TaxoclassError, match="already holds files"):
        write_report(results, tmp_path)
    assert {n: p.read_bytes() for n, p in files.items()} == before  # untouched, checked before writing
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    write_report(results, tmp_path, overwrite=True)
    assert "0.1235" in (tmp_path / "report.md").read_text()


def test_bad_results_are_refused(tmp_path):
    tax = _tax(2, 2)
    r = _results(tax, n=30)
    with pytest.raises(TaxoclassError, match="same name"):
        write_report([r[0], dict(r[1], name="flat inception_v3")], tmp_path)
    with pytest.raises(TaxoclassError, match="evaluate_predictions"):
        write_report([{"name": "x", "metrics": {"acc": 1}}], tmp_path)
    with pytest.raises(TaxoclassError, match="non-empty list"):
        write_report([], tmp_path)
    with pytest.raises(TaxoclassError, match="does not exist"):
        write_report(r, tmp_path / "missing" / "deeper")
    assert list(tmp_path.iterdir()) == []


def test_figures_scale_to_121_classes():
    tax = Taxonomy.from_paths([[f"g{i % 11}", f"s{i % 33}", f"c{i}"] for i in range(121)])
    rng = np.random.default_rng(1)
    y = rng.integers(0, 121, 2000)
    P = rng.random((2000, 121))
    P[np.arange(2000), y] += 0.7
    m = evaluate_predictions(y, P, tax)
    fig = plot_confusion_matrix(m["confusion_matrix"], m["classes"], taxonomy=tax)
    ax = fig.axes[0]
    assert len(ax.get_xticklabels()) == 121
    # classes are shown in tree order: all of g0's classes first
    assert {t.get_text() for t in ax.get_yticklabels()[:11]} == {f"c{i}" for i in range(0, 121, 11)}
    w, h = fig.get_size_inches() * fig.dpi
    assert w > 1500 and h > 1500  # big enough to read 121 labels
    fig = plot_taxonomy_accuracy(tax, m["per_node"])
    colours = fig.axes[0].collections[1].get_facecolors()  # internal-node markers, coloured by accuracy
    assert len(colours) == 1 + 11 + 33
    assert len({tuple(np.round(c, 3)) for c in colours}) > 3  # accuracies differ -> colours differ


def test_markdown_without_optional_parts():
    tax = Taxonomy.from_paths([["a", "x"], ["b", "y"]])
    m = evaluate_predictions(["x", "y"], None, tax, y_pred=["x", "x"])
    md = markdown_report([{"name": "only", "metrics": m}])
    assert "| top-1 accuracy (↑) | 0.5000 |" in md
    assert "top-k accuracy" not in md  # no probabilities -> no top-k row
    assert "## Cost" not in md


def test_the_comparison_with_flat_is_a_section_with_each_models_paired_difference():
    from taxoclass.metrics import paired_bootstrap

    tax = _tax()
    results = _results(tax)
    y = np.asarray(results[0]["metrics"]["classes"], dtype=object)  # any labels will do: the section prints vs_flat
    rng = np.random.default_rng(1)
    truth = rng.choice(y, 400)
    tree = np.where(rng.random(400) < 0.9, truth, rng.choice(y, 400))
    flat = np.where(rng.random(400) < 0.6, truth, rng.choice(y, 400))
    vs = paired_bootstrap(truth, flat, tree, tax, resamples=300)
    results[1]["vs_flat"] = {"tta": 8, "accuracy": vs["accuracy"], "mistake_severity": vs["mistake_severity"]}
    md = markdown_report(results)
    section = md.split("## Against the flat model")[1].split("\n## ")[0]
    assert "with 8 test-time views" in section
    lo, hi = vs["accuracy"]["ci95"]
    assert f"| taxonomy tree | {100 * vs['accuracy']['b_minus_a']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]*" in section
    assert "flat inception_v3 |" not in section  # the flat model is not compared with itself
    assert "## Against the flat model" not in markdown_report(_results(tax))  # no comparison: no section
