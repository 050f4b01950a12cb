"""Tests of ``taxoclass cluster-confusion`` and of reading confusion matrices (``load_confusion``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass.cli.main import main
from taxoclass.clustering import cluster_confusion, load_confusion
from taxoclass.exceptions import ClusteringError

REPO = Path(__file__).resolve().parents[1]
LABELS = ["shirt", "coat", "bag", "sandal", "sneaker"]
CM = np.array([[80, 15, 5, 0, 0], [20, 75, 5, 0, 0], [0, 5, 90, 5, 0], [0, 0, 2, 90, 8], [0, 0, 0, 10, 90]])


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def files(tmp_path):
    """The same 5-class matrix in every input form."""
    d = tmp_path
    np.save(d / "cm.npy", CM)
    (d / "classes.txt").write_text("\n".join(LABELS) + "\n")
    body = "\n".join(",".join(str(v) for v in row) for row in CM)
    (d / "plain.csv").write_text(body + "\n")
    (d / "header_row.csv").write_text(",".join(LABELS) + "\n" + body + "\n")
    (d / "both.tsv").write_text("\t" + "\t".join(LABELS) + "\n" + "\n".join(
        name + "\t" + "\t".join(str(v) for v in row) for name, row in zip(LABELS, CM)) + "\n")
    (d / "header_col.csv").write_text("\n".join(
        name + "," + ",".join(str(v) for v in row) for name, row in zip(LABELS, CM)) + "\n")
    rows = ["id,true,pred,score"]
    k = 0
    for i, t in enumerate(LABELS):
        for j, p in enumerate(LABELS):
            for _ in range(CM[i, j]):
                rows.append(f"{k},{t},{p},0.5")
                k += 1
    (d / "preds.csv").write_text("\n".join(rows) + "\n")
    return d


FORMS = [("cm.npy", True), ("plain.csv", True), ("header_row.csv", False), ("both.tsv", False),
         ("header_col.csv", False), ("preds.csv", True)]


@pytest.mark.parametrize("name,needs_labels", FORMS)
def test_every_input_form_gives_the_same_clusters(files, capsys, name, needs_labels):
    expected = cluster_confusion(CM, 0.05, labels=LABELS)
    argv = ["cluster-confusion", files / name, "--beta", "0.05", "--format", "json"]
    if needs_labels:
        argv += ["--classes", files / "classes.txt"]
    rc, out, err = run(argv, capsys)
    assert rc == 0, err
    d = json.loads(out)
    got = [c["classes"] for c in d["clusters"]]
    assert got == expected.clusters
    assert d["isolated_error"] == pytest.approx(expected.isolated_error, abs=1e-6)
    cm, labels = load_confusion(files / name, labels=files / "classes.txt" if needs_labels else None)
    assert np.array_equal(np.asarray(cm), CM) and list(labels) == LABELS


def test_default_text_output_lists_clusters_then_isolated_error(files, capsys):
    rc, out, _ = run(["cluster-confusion", files / "cm.npy", "--beta", "0.1", "--classes", files / "classes.txt"],
                     capsys)
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("cluster_1") and lines[0].endswith("shirt, coat")
    assert lines[1].startswith("cluster_2") and lines[1].endswith("sandal, sneaker")
    assert lines[2] == "bag  (singleton)"
    res = cluster_confusion(CM, 0.1, labels=LABELS)
    assert f"{100 * res.cluster_error[0]:.1f}% of the error" in lines[0]
    assert lines[3].startswith(f"isolated error: {100 * res.isolated_error:.1f}%")


def test_unlabelled_npy_uses_indices(files, capsys):
    rc, out, _ = run(["cluster-confusion", files / "cm.npy", "--beta", "0.1"], capsys)
    assert rc == 0 and out.splitlines()[0].endswith(": 0, 1")


def test_labels_reorder_a_named_table(files, capsys):
    order = ["bag", "sneaker", "shirt", "coat", "sandal"]
    (files / "order.txt").write_text("\n".join(order))
    cm, labels = load_confusion(files / "both.tsv", labels=files / "order.txt")
    assert labels == order
    perm = [LABELS.index(x) for x in order]
    assert np.array_equal(cm, CM[np.ix_(perm, perm)])


def test_predictions_with_indices_and_labels(files, capsys):
    rows = ["true\tpred"] + [f"{i}\t{j}" for i in range(5) for j in range(5) for _ in range(CM[i, j])]
    (files / "idx.tsv").write_text("\n".join(rows) + "\n")
    cm, labels = load_confusion(files / "idx.tsv", labels=files / "classes.txt")
    assert np.array_equal(cm, CM) and labels == LABELS
    cm2, labels2 = load_confusion(files / "idx.tsv")
    assert np.array_equal(cm2, CM) and labels2 == ["0", "1", "2", "3", "4"]


def test_sweep_table_text_and_json(files, capsys):
    rc, out, _ = run(["cluster-confusion", files / "cm.npy", "--sweep", "0.01", "0.1", "0.5"], capsys)
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["beta", "clusters", "groups", "largest", "singletons", "isolated", "error"]
    assert [ln.split()[:4] for ln in lines[1:]] == [["0.01", "1", "1", "5"], ["0.1", "3", "2", "2"],
                                                   ["0.5", "5", "0", "1"]]
    rc, out, _ = run(["cluster-confusion", files / "cm.npy", "--sweep", "--format", "json"], capsys)
    rows = json.loads(out)
    assert rc == 0 and len(rows) == 12 and rows[0]["beta"] == 0.0 and rows[-1]["n_clusters"] == 5


def test_levels_all_prints_the_nested_tree(files, capsys):
    rc, out, _ = run(["cluster-confusion", files / "cm.npy", "--classes", files / "classes.txt", "--levels", "all"],
                     capsys)
    assert rc == 0
    assert "cluster_1.1.1  (2 classes, height 1)" in out


def test_spectral_from_the_command_line(files, capsys):
    rc, out, _ = run(["cluster-confusion", files / "cm.npy", "--classes", files / "classes.txt", "--method",
                      "spectral", "--n-clusters", "2", "--format", "json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["method"] == "spectral" and len(d["clusters"]) == 2


@pytest.mark.parametrize("ext,levels", [(".json", "1"), (".yaml", "all"), (".tsv", "1"), (".nwk", "all")])
def test_out_writes_a_taxonomy_that_validates_and_reloads(files, capsys, ext, levels):
    io = pytest.importorskip("taxoclass.taxonomy.io")
    out_path = files / f"tree{ext}"
    rc, out, err = run(["cluster-confusion", files / "cm.npy", "--classes", files / "classes.txt", "--beta", "0.1",
                        "--levels", levels, "--output", out_path], capsys)
    assert rc == 0, err
    assert f"wrote {out_path}" in out
    expected = cluster_confusion(CM, 0.1, labels=LABELS).to_taxonomy(1 if levels == "1" else "all")
    tax = io.load_taxonomy(out_path, classes=str(files / "classes.txt"))
    assert tax.classes == tuple(LABELS)
    assert sorted(tax.leaf_paths()) == sorted(expected.leaf_paths())
    rc, out, err = run(["taxonomy", "validate", out_path, "--classes", files / "classes.txt"], capsys)
    assert rc == 0, err
    # never silently overwritten; --overwrite replaces it
    before = out_path.read_bytes()
    rc, _, err = run(["cluster-confusion", files / "cm.npy", "--beta", "0.5", "--output", out_path], capsys)
    assert rc == 2 and "already exists" in err and out_path.read_bytes() == before
    rc, _, err = run(["cluster-confusion", files / "cm.npy", "--beta", "0.5", "--output", out_path, "--overwrite"],
                     capsys)
    assert rc == 0, err
    assert io.load_taxonomy(out_path).n_classes == 5 and out_path.read_bytes() != before


def test_out_with_the_real_fashion_mnist_class_names(tmp_path, capsys):
    """Class names with '/' (T-shirt/top) and spaces survive the round trip."""
    io = pytest.importorskip("taxoclass.taxonomy.io")
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"]
    (tmp_path / "classes.txt").write_text("\n".join(names) + "\n")
    cm = np.eye(10) * 90
    for a, b in [(0, 6), (2, 4), (4, 6), (0, 2), (5, 7), (7, 9)]:
        cm[a, b] = cm[b, a] = 10
    np.save(tmp_path / "cm.npy", cm)
    for ext in (".tsv", ".json", ".nwk"):
        out = tmp_path / f"t{ext}"
        rc, _, err = run(["cluster-confusion", tmp_path / "cm.npy", "--classes", tmp_path / "classes.txt",
                          "--levels", "all", "--output", out], capsys)
        assert rc == 0, err
        tax = io.load_taxonomy(out)
        assert sorted(tax.classes) == sorted(names), ext
        assert tax.lca("Sandal", "Ankle boot") == tax.lca("Sneaker", "Sandal") != tax.root


BAD = [
    ("square", lambda d: np.save(d / "x.npy", np.ones((2, 3))), "x.npy", []),
    ("empty", lambda d: np.save(d / "x.npy", np.ones((0, 0))), "x.npy", []),
    ("1 x 1", lambda d: np.save(d / "x.npy", np.ones((1, 1))), "x.npy", []),
    ("NaN", lambda d: (d / "x.csv").write_text("1,nan\n2,3\n"), "x.csv", []),
    ("infinite", lambda d: (d / "x.csv").write_text("1,inf\n2,3\n"), "x.csv", []),
    ("negative", lambda d: (d / "x.csv").write_text("1,-2\n2,3\n"), "x.csv", []),
    ("beta", lambda d: np.save(d / "x.npy", np.ones((3, 3))), "x.npy", ["--beta", "1.5"]),
    ("beta", lambda d: np.save(d / "x.npy", np.ones((3, 3))), "x.npy", ["--beta", "-0.01"]),
    ("3 labels", lambda d: (np.save(d / "x.npy", np.ones((2, 2))), (d / "l.txt").write_text("a\nb\nc\n")),
     "x.npy", ["--classes", "l.txt"]),
    ("labels", lambda d: ((d / "x.csv").write_text("a,b\n1,2\n3,4\n"), (d / "l.txt").write_text("a\nc\n")),
     "x.csv", ["--classes", "l.txt"]),
    ("not a readable .npy", lambda d: (d / "x.npy").write_bytes(b"garbage"), "x.npy", []),
    ("no such file", lambda d: None, "missing.npy", []),
    ("file type", lambda d: (d / "x.xlsx").write_bytes(b"PK"), "x.xlsx", []),
    ("empty", lambda d: (d / "x.csv").write_text("\n\n"), "x.csv", []),
    ("not a number", lambda d: (d / "x.csv").write_text("1,2\n3,x\n"), "x.csv", []),
    ("line 2", lambda d: (d / "x.csv").write_text("1,2\n3\n"), "x.csv", []),
    ("all zeros", lambda d: (d / "x.csv").write_text("1,2\n0,0\n"), "x.csv", []),
    ("UTF-8", lambda d: (d / "x.csv").write_bytes(b"\xff\xfe1,2\n"), "x.csv", []),
    ("n_clusters", lambda d: np.save(d / "x.npy", np.ones((3, 3))), "x.npy", ["--method", "spectral"]),
    ("invalid", lambda d: np.save(d / "x.npy", np.ones((3, 3))), "x.npy", ["--levels", "2"]),
    ("--sweep", lambda d: np.save(d / "x.npy", np.ones((3, 3))), "x.npy", ["--sweep", "--output", "o.json"]),
    ("differ", lambda d: (d / "x.tsv").write_text("\ta\tb\nc\t1\t2\nb\t3\t4\n"), "x.tsv", []),
    ("twice", lambda d: (d / "x.csv").write_text("a,a\n1,2\n3,4\n"), "x.csv", []),
    ("labels", lambda d: ((d / "p.csv").write_text("true,pred\na,b\nb,z\n"), (d / "l.txt").write_text("a\nb\n")),
     "p.csv", ["--classes", "l.txt"]),
]


@pytest.mark.parametrize("match,make,name,extra", BAD, ids=[f"{b[0]}-{k}" for k, b in enumerate(BAD)])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, match, make, name,
                                                            extra):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = ["cluster-confusion", name, *extra]
    if "--output" not in extra:
        argv += ["--output", "out.json"]
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors (usage line + one error line)
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    msg = [ln for ln in err.splitlines() if ln.strip()]
    assert msg and match in msg[-1], err
    assert "Traceback" not in err
    if extra[:2] != ["--levels", "2"]:
        assert len(msg) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.booleans(), st.booleans(), st.sampled_from([",", "\t", ";"]),
       st.lists(st.integers(0, 500), min_size=49, max_size=49))
def test_table_reader_roundtrip(n, header_row, header_col, sep, values):
    """Any square table, with or without names, in any delimiter, reads back exactly."""
    import tempfile

    cm = np.array(values[:n * n], dtype=float).reshape(n, n)
    names = [f"class {chr(97 + k)}" for k in range(n)]
    lines = []
    if header_row:
        lines.append(sep.join(([""] if header_col else []) + names))
    for k in range(n):
        cells = [str(int(v)) for v in cm[k]]
        lines.append(sep.join(([names[k]] if header_col else []) + cells))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / ("m.tsv" if sep == "\t" else "m.csv")
        p.write_text("\n".join(lines) + "\n")
        got, labels = load_confusion(p)
    assert np.array_equal(got, cm)
    assert labels == (names if header_row or header_col else None)


def test_load_confusion_is_library_api(tmp_path):
    (tmp_path / "m.csv").write_text("# exported by my tool\n1,2\n\n3,4\n")
    cm, labels = load_confusion(tmp_path / "m.csv")
    assert cm.tolist() == [[1, 2], [3, 4]] and labels is None
    with pytest.raises(ClusteringError, match="line 3"):
        (tmp_path / "r.csv").write_text("1,2\n3,4\n5\n")
        load_confusion(tmp_path / "r.csv")


def test_command_does_not_import_tensorflow(files):
    code = (
        "import argparse, sys\n"
        "from taxoclass.cli import cluster_cmd\n"
        "p = argparse.ArgumentParser(); sub = p.add_subparsers()\n"
        "cluster_cmd.register(sub)\n"
        f"a = p.parse_args(['cluster-confusion', {str(files / 'cm.npy')!r}, '--sweep'])\n"
        "rc = a.func(a)\n"
        f"a = p.parse_args(['cluster-confusion', {str(files / 'cm.npy')!r}, '--levels', 'all', '--output', "
        f"{str(files / 'o.json')!r}])\n"
        "rc = a.func(a)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'\n"
        "assert 'sklearn' not in sys.modules, 'scikit-learn imported for the greedy method'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
