"""The guide's "I have no taxonomy" walkthrough, `-o -` for data inspect and cluster-confusion, rounded numbers and
plurals, and a taxonomy figure that stays readable at 121 classes (issue 13, sections 3 and 5)."""

import itertools
import json
import re
import shlex
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from taxoclass.cli.main import main

REPO = Path(__file__).resolve().parents[1]


def _guide_block(marker: str) -> list[list[str]]:
    """The `$ taxoclass ...` commands of the console block after ``marker`` in docs/guide.md."""
    text = (REPO / "docs" / "guide.md").read_text(encoding="utf-8")
    block = text.split(marker, 1)[1].split("```console", 1)[1].split("```", 1)[0]
    return [shlex.split(line[2:])[1:] for line in block.splitlines() if line.startswith("$ taxoclass ")]


@pytest.fixture(scope="module")
def plankton(tmp_path_factory):
    """A folder `plankton` of 4 class folders whose images only differ in colour and size: a flat model confuses
    the sizes, so the error-based tree groups by colour."""
    root = tmp_path_factory.mktemp("walk")
    rng = np.random.default_rng(0)
    for name, colour, r in (("red_big", (220, 30, 30), 6), ("red_small", (220, 30, 30), 5),
                            ("blue_big", (30, 30, 220), 6), ("blue_small", (30, 30, 220), 5)):
        (root / "plankton" / name).mkdir(parents=True)
        for i in range(16):
            img = np.full((16, 16, 3), 255, np.uint8)
            c = rng.integers(6, 10, 2)
            yy, xx = np.mgrid[:16, :16]
            img[(yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r * r] = colour
            Image.fromarray(img).save(root / "plankton" / name / f"{i}.png")
    return root


def test_the_no_taxonomy_walkthrough_runs(plankton, monkeypatch, capsys):
    commands = _guide_block("<!-- no-taxonomy walkthrough -->")
    assert [c[0] for c in commands] == ["train", "evaluate", "train"]
    monkeypatch.chdir(plankton)
    tiny = ["--image-size", "16", "--epochs", "2", "--batch-size", "16", "--head-units", "8", "--val-size", "0.25"]
    for argv in commands:
        if argv[0] == "train":  # the guide's commands as written, with a tiny model appended
            argv = argv + tiny + (["--backbone", "small_cnn"] if "flat" in argv else
                                  ["--trunk", "none", "--block-filters", "4,8"])
        assert main(argv) == 0, argv
    cm = np.load(plankton / "flat_eval" / "confusion.npy")
    assert cm.sum() == 16  # the validation split: a quarter of 64 images
    cfg = json.loads((plankton / "tree_run" / "config.json").read_text())
    assert cfg["model"] == "combined" and cfg["beta"] is not None  # the default model
    assert cfg["source"]["from_confusion"] == str(plankton / "flat_eval")
    tree = (plankton / "tree_run" / "taxonomy.tsv").read_text()
    assert all(c in tree for c in ("red_big", "red_small", "blue_big", "blue_small"))
    # cluster-confusion reads the same folder; `-o -` prints the taxonomy (TSV) and nothing else
    capsys.readouterr()
    assert main(["cluster-confusion", "flat_eval", "--beta", "0", "-o", "-"]) == 0
    out = capsys.readouterr().out
    from taxoclass.taxonomy.io import loads_taxonomy

    tax = loads_taxonomy(out, "tsv")
    assert sorted(tax.classes) == sorted(["red_big", "red_small", "blue_big", "blue_small"])
    assert not list(plankton.glob("-*"))


def test_data_inspect_table_to_stdout_and_file(plankton, tmp_path, capsys):
    assert main(["data", "inspect", str(plankton / "plankton"), "-o", "-"]) == 0
    df = pd.read_csv(StringIO(capsys.readouterr().out))
    assert list(df.columns) == ["class", "images"] and df["images"].tolist() == [16] * 4
    out = tmp_path / "counts.csv"
    assert main(["data", "inspect", str(plankton / "plankton"), "-o", str(out)]) == 0
    assert "images: 64" in capsys.readouterr().out  # the report still prints
    assert pd.read_csv(out).equals(df)
    assert main(["data", "inspect", str(plankton / "plankton"), "-o", str(out)]) == 2  # no silent overwrite


def test_numbers_are_rounded_and_plurals_right():
    from taxoclass._console import number, plural
    from taxoclass.jobs.outputs import evaluation_lines

    assert number(1.9166666666666667) == "1.917" and number(0.5) == "0.5" and number(3) == "3"
    assert [plural(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert plural(1, "class", "classes") == "1 class" and plural(121, "class", "classes") == "121 classes"
    line = evaluation_lines({"accuracy": 2 / 3, "k": 5, "top_k_accuracy": 1.0, "hierarchical_f1_micro": 0.8333333,
                             "mistake_severity": 1.9166666666666667})[0]
    assert line == "accuracy 0.6667  top-5 1  hF1 0.8333  mistake severity 1.917"
    assert not re.search(r"\d\.\d{5,}", line)


def test_taxonomy_figure_is_readable_at_121_classes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from taxoclass import load_taxonomy
    from taxoclass.report.plots import plot_taxonomy_accuracy

    tax = load_taxonomy(REPO / "taxonomies" / "ndsb_plankton.tsv")
    assert tax.n_classes == 121
    per_node = {"/".join(n): {"accuracy": 0.8, "n": 10} for n in tax.nodes}
    fig = plot_taxonomy_accuracy(tax, per_node)
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = fig.axes[0].texts
    assert len(texts) == len(tax.nodes)  # every node is labelled
    boxes = [t.get_window_extent(renderer) for t in texts]
    overlaps = [(texts[a].get_text(), texts[b].get_text())
                for a, b in itertools.combinations(range(len(boxes)), 2) if boxes[a].overlaps(boxes[b])]
    assert overlaps == []
    leaf_sizes = [t.get_fontsize() for t in texts if t.get_text() in set(tax.classes)]
    assert len(leaf_sizes) == 121 and min(leaf_sizes) >= 6  # was 4.1 pt


def test_train_config_fills_only_what_the_command_line_leaves_out(tmp_path):
    from taxoclass.cli._config import apply_config
    from taxoclass.cli.main import build_parser

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({
        "arguments": {"epochs": 7, "learning_rate": 0.01, "block_filters": [4, 8], "early_stopping_patience": 3},
        "source": {"source": ["/data/old"], "taxonomy": "/t/tree.tsv", "manifest": "/r/manifest.csv",
                   "from_confusion": None}}))

    def parsed(*argv):
        argv = ["train", *argv, "--config", str(cfg), "-o", str(tmp_path / "out")]
        args = build_parser().parse_args(argv)
        args.argv = argv
        apply_config(args)
        return args

    a = parsed("--epochs", "10")  # 10 is also the default: given explicitly, it still wins
    assert (a.epochs, a.learning_rate, a.block_filters, a.early_stopping) == (10, 0.01, (4, 8), 3)
    assert (a.source, a.taxonomy, a.manifest) == (["/data/old"], "/t/tree.tsv", "/r/manifest.csv")
    b = parsed("/data/new")  # other images: the recorded images and their split are not used, the tree is
    assert (b.source, b.taxonomy, b.manifest, b.epochs) == (["/data/new"], "/t/tree.tsv", None, 7)
    c = parsed("--from-confusion", "cm.npy")  # another tree
    assert (c.taxonomy, c.from_confusion, c.source) == (None, "cm.npy", ["/data/old"])


def test_confused_pairs_page_from_an_array_subset(tmp_path):
    from taxoclass.data import ImageSet
    from taxoclass.jobs.outputs import most_confused_pairs, write_confused_pairs

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (40, 8, 8), dtype=np.uint8)
    labels = np.array(["a", "b", "c", "d"])[np.arange(40) % 4]
    data = ImageSet.from_arrays(x, labels).subset(np.arange(20, 40))  # row numbers no longer start at 0
    y = data.encode(["a", "b", "c", "d"])
    pred = y.copy()
    pred[[0, 4, 8]] = 1  # three "a" taken for "b"
    pred[1] = 2  # one "b" taken for "c"
    assert most_confused_pairs(np.bincount(y * 4 + pred, minlength=16).reshape(4, 4), list("abcd")) == [
        ("a", "b", 3), ("b", "c", 1)]
    written = write_confused_pairs(tmp_path, data, y, pred, list("abcd"))
    assert written == ["confused_pairs.md", "confused_pairs/pair_1.png", "confused_pairs/pair_2.png"]
    page = (tmp_path / "confused_pairs.md").read_text()
    assert "## 1. a taken for b: 3 images" in page and "## 2. b taken for c: 1 image\n" in page
