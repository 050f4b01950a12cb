"""The guide's "From EcoTaxa and back" walkthrough (section 5.8), run command by command on an export zip built
here. The only change: flags that make training tiny are appended to `train` (argparse keeps the last value)."""

import json
import shlex
from pathlib import Path

import pandas as pd
from ecotaxa_build import standard_export

from taxoclass.cli.main import main

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
TINY = ["--trunk", "none", "--block-filters", "4", "--head-units", "8", "--image-size", "16", "--channels", "1",
        "--epochs", "1", "--batch-size", "16"]


def walkthrough() -> list[list[str]]:
    text = GUIDE.read_text(encoding="utf-8")
    block = text.split("<!-- walkthrough: ecotaxa -->", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    return [shlex.split(line[2:]) for line in block.splitlines() if line.startswith("$ ")]


def test_the_ecotaxa_walkthrough_runs_as_written(tmp_path, monkeypatch, capsys):
    commands = walkthrough()
    assert [c[:2] for c in commands] == [["taxoclass", "data"], ["taxoclass", "train"], ["taxoclass", "evaluate"],
                                         ["taxoclass", "predict"]]
    standard_export(tmp_path / "export.zip")
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        extra = TINY if argv[1] == "train" else []
        assert main(argv[1:] + extra) == 0, argv
    out = capsys.readouterr()
    assert "labelled at an internal node (trained on the decisions above it): Appendicularia 2, Copepoda 2" in out.out
    assert (tmp_path / "run_eco" / "model.taxoclass").is_file()
    metrics = json.loads((tmp_path / "run_eco" / "eval" / "metrics.json").read_text())
    assert metrics["n_classes"] == 5 and 0 <= metrics["accuracy"] <= 1
    # the import file: header, EcoTaxa's type row, one row per object that was not validated
    tsv = tmp_path / "to_ecotaxa.tsv"
    types = tsv.read_text().splitlines()[1].split("\t")
    assert types == ["[t]", "[t]", "[t]", "[f]", "[t]", "[f]"]
    df = pd.read_csv(tsv, sep="\t", dtype=str, skiprows=[1], keep_default_na=False)
    assert df.columns.tolist() == ["object_id", "object_annotation_category", "object_annotation_status",
                                   "object_taxoclass_probability", "object_taxoclass_sure_node",
                                   "object_taxoclass_sure_probability"]
    assert sorted(df["object_id"]) == ["ap0", "ap1", "ap2", "bd0", "bu0", "bu1"]  # predicted, dubious, unclassified
    assert set(df["object_annotation_status"]) == {"predicted"}
    assert set(df["object_annotation_category"]) <= set(metrics["classes"])
    p = df["object_taxoclass_probability"].astype(float)
    assert ((p > 0) & (p <= 1)).all() and (df["object_taxoclass_sure_probability"].astype(float) >= 0.8).all()
