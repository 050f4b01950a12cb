"""Streaming prediction: chunked runs write the same table as one chunk, rows equal the model's own predictions
(soft and greedy), an interrupted run resumes after its last written row, and the one row builder follows the
threshold rule (hypothesis)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from taxoclass import Taxonomy
from taxoclass.cli.main import main
from taxoclass.exceptions import TaxoclassError
from taxoclass.jobs.rows import json_records, prediction_columns

tf = pytest.importorskip("tensorflow")

from serving_fixtures import tiny_tree  # noqa: E402

from taxoclass.jobs import images_dataset, predict_job, unlabelled_images  # noqa: E402
from taxoclass.jobs.stream import ImageFiles, partial_paths  # noqa: E402
from taxoclass.models import load_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    model, paths = tiny_tree(folder, n_images=11)
    clf = load_model(model)
    X = np.stack([np.asarray(x) for x in images_dataset(unlabelled_images(paths), clf, with_labels=False).unbatch()])
    return model, paths, clf, X


def test_folder_listing_is_sorted_and_lazy(tiny):
    model, paths, _, _ = tiny
    files = ImageFiles(folder=paths[0].parent.parent)
    assert list(files) == [str(p) for p in sorted(paths)] and files.count() == len(paths)
    with pytest.raises(TaxoclassError, match="do not exist"):
        ImageFiles([str(paths[0]), "/nonexistent/x.png"]).count()


def test_chunks_write_the_same_table_as_one_chunk_and_equal_the_model(tiny, tmp_path):
    model, paths, clf, X = tiny
    folder = paths[0].parent.parent
    one = predict_job(model, ImageFiles(folder=folder), tmp_path / "one.csv", threshold=0.45, top_k=2,
                      chunk_size=1000)
    many = predict_job(model, ImageFiles(folder=folder), tmp_path / "many.csv", threshold=0.45, top_k=2,
                       chunk_size=3)
    assert one["rows"] == many["rows"] == len(paths)
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "many.csv").read_text()
    df = pd.read_csv(tmp_path / "many.csv")
    assert df["file"].tolist() == [str(p.resolve()) for p in paths]
    proba = clf.predict_proba(X)
    assert df["predicted_class"].tolist() == clf.classes_[proba.argmax(1)].tolist()
    np.testing.assert_allclose(df["probability"], proba.max(1), rtol=1e-5)
    assert df["sure_node"].tolist() == clf.predict(X, threshold=0.45).tolist()
    assert not partial_paths(tmp_path / "many.csv")[0].exists()


def test_greedy_rows_equal_tree_greedy_predictions(tiny, tmp_path):
    model, paths, clf, X = tiny
    out = tmp_path / "g.csv"
    assert main(["predict", str(model), "--dir", str(paths[0].parent.parent), "--mode", "greedy",
                 "--threshold", "0.3", "--chunk-size", "4", "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert df["predicted_class"].tolist() == clf.predict(X, mode="greedy").tolist()
    assert df["sure_node"].tolist() == clf.predict(X, mode="greedy", threshold=0.3).tolist()
    np.testing.assert_allclose(df["probability"], clf.predict_path(X, mode="greedy")["p_level_2"], rtol=1e-5)
    assert "top2_class" not in df.columns


class _KilledAt(ImageFiles):
    """A listing interrupted (as by Ctrl-C) when its n-th image is reached in the predicting pass (the second)."""

    def __init__(self, n, **kw):
        super().__init__(**kw)
        self.n, self.passes = n, 0

    def __iter__(self):
        self.passes += 1
        for i, p in enumerate(super().__iter__()):
            if self.passes == 2 and i == self.n:
                raise KeyboardInterrupt
            yield p


def test_interrupted_run_resumes_after_its_last_row(tiny, tmp_path):
    model, paths, _, _ = tiny
    folder = paths[0].parent.parent
    full = tmp_path / "full.csv"
    predict_job(model, ImageFiles(folder=folder), full, threshold=0.4, chunk_size=4)
    out = tmp_path / "p.csv"
    with pytest.raises(KeyboardInterrupt):  # killed while listing the 9th image: two chunks of 4 are written
        predict_job(model, _KilledAt(8, folder=folder), out, threshold=0.4, chunk_size=4)
    partial, state = partial_paths(out)
    assert not out.exists() and len(pd.read_csv(partial)) == 8
    with open(partial, "a") as fh:  # a chunk that was being written when the run was killed
        fh.write("/half/written.png,red_")
    with pytest.raises(TaxoclassError, match="--resume"):
        predict_job(model, ImageFiles(folder=folder), out, threshold=0.4, chunk_size=4)
    with pytest.raises(TaxoclassError, match="other options"):
        predict_job(model, ImageFiles(folder=folder), out, threshold=0.9, chunk_size=4, resume=True)
    done = predict_job(model, ImageFiles(folder=folder), out, threshold=0.4, chunk_size=4, resume=True)
    assert done["images"] == len(paths) - 8 and done["rows"] == len(paths)
    assert out.read_text() == full.read_text()
    assert not partial.exists() and not state.exists()
    with pytest.raises(TaxoclassError, match="no unfinished prediction"):
        predict_job(model, ImageFiles(folder=folder), tmp_path / "new.csv", resume=True)


def test_greedy_needs_a_tree_and_no_tta(tiny, tmp_path):
    from taxoclass.jobs.rows import check_mode
    from taxoclass.models import FlatClassifier

    model, paths, clf, _ = tiny
    with pytest.raises(TaxoclassError, match="test-time"):
        predict_job(model, ImageFiles(paths[:1]), tmp_path / "x.csv", mode="greedy", tta=2)
    with pytest.raises(TaxoclassError, match="alternatives"):
        predict_job(model, ImageFiles(paths[:1]), tmp_path / "x.csv", mode="greedy", top_k=2)
    with pytest.raises(TaxoclassError, match="has none"):
        check_mode(FlatClassifier(["a", "b"]), "greedy")
    assert not (tmp_path / "x.csv").exists()


TAX = Taxonomy.from_paths([["a", "x1"], ["a", "x2"], ["a", "x3"], ["b", "z1"], ["b", "z2"], ["c", "w"]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0.001, 1.0), min_size=6, max_size=6), min_size=1, max_size=5),
       st.floats(0.0, 1.0), st.integers(1, 6))
def test_rows_follow_the_threshold_rule_and_sort_top_k(rows, threshold, k):
    P = np.array(rows)
    P = P / P.sum(axis=1, keepdims=True)
    cols = prediction_columns(TAX, proba=P, top_k=k, threshold=threshold)
    sure = TAX.threshold(P, threshold)
    assert cols["sure_node"] == [TAX.nodes[v][-1] for v in sure]
    np.testing.assert_allclose(cols["sure_probability"], TAX.node_proba(P)[np.arange(len(P)), sure])
    for i, rec in enumerate(json_records(cols)):
        probs = [t["probability"] for t in rec["top_k"]]
        assert len(probs) == k and probs == sorted(probs, reverse=True) and probs[0] == pytest.approx(P[i].max())
        assert [lv["name"] for lv in rec["lineage"]] == TAX.lineage(rec["class"])
        lin = [lv["probability"] for lv in rec["lineage"]]
        assert all(a >= b - 1e-12 for a, b in zip(lin, lin[1:])) and lin[-1] == pytest.approx(rec["probability"])


def test_cli_choices_are_the_library_ones():
    from taxoclass.cli import scale_args
    from taxoclass.jobs.rows import MODES
    from taxoclass.jobs.stream import ENGINES

    assert scale_args.MODES == MODES and scale_args.ENGINES == ENGINES


def test_greedy_rows_on_a_tree_of_unequal_depths():
    """Past a shallow leaf the path holds None (or NaN, as pandas stores a missing string): the leaf is the last
    named level, the sure node follows the path probabilities."""
    tax = Taxonomy.from_paths([["a", "x", "x1"], ["a", "x", "x2"], ["b"]])
    path = pd.DataFrame({"level_1": ["a", "b"], "p_level_1": [0.9, 0.6], "level_2": ["x", None],
                         "p_level_2": [0.8, np.nan], "level_3": ["x2", None], "p_level_3": [0.5, np.nan]})
    for frame in (path, path.astype({"level_2": "str", "level_3": "str"}).replace("None", np.nan)):
        cols = prediction_columns(tax, path=frame, threshold=0.7)
        assert list(cols["predicted_class"]) == ["x2", "b"]
        assert cols["lineage"] == [["a", "x", "x2"], ["b"]] and cols["sure_node"] == ["x", "root"]
        np.testing.assert_allclose(cols["probability"], [0.5, 0.6])
        np.testing.assert_allclose(cols["sure_probability"], [0.8, 1.0])
        assert cols["lineage_probability"] == [[0.9, 0.8, 0.5], [0.6]]
