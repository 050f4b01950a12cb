"""Split: stratified, seeded, reproducible, >= 1 train image per class, manifest round trip; class weights."""

import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass.data import ImageSet, RareClassWarning, class_weights, read_manifest, split, write_manifest
from taxoclass.exceptions import ClassMismatchError, DataError, TaxoclassError


def _data(counts):
    keys, labels = [], []
    for c, n in enumerate(counts):
        for i in range(n):
            keys.append(f"c{c}/img{i:03d}.jpg")
            labels.append(f"c{c}")
    return keys, labels


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
       val=st.sampled_from([0.0, 0.1, 0.2, 0.3]), test=st.sampled_from([0.0, 0.1, 0.25]),
       seed=st.integers(0, 10_000), perm_seed=st.integers(0, 100))
def test_split_properties(counts, val, test, seed, perm_seed):
    keys, labels = _data(counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RareClassWarning)
        m = split((keys, labels), val_size=val, test_size=test, seed=seed)
        # order-independent and reproducible: a shuffled listing gives the same assignment
        perm = np.random.default_rng(perm_seed).permutation(len(keys))
        m2 = split(([keys[i] for i in perm], [labels[i] for i in perm]), val_size=val, test_size=test, seed=seed)
    assert m["path"].tolist() == keys and m["label"].tolist() == labels
    assert set(m["split"]) <= {"train", "val", "test"}
    assert dict(zip(m2["path"], m2["split"])) == dict(zip(m["path"], m["split"]))
    per = Counter(zip(m["label"], m["split"]))
    for c, n in enumerate(counts):
        got = {s: per[(f"c{c}", s)] for s in ("train", "val", "test")}
        assert got["train"] >= 1
        assert sum(got.values()) == n
        if n == 2 and test > 0:
            assert got == {"train": 1, "val": 0, "test": 1}
        if val == 0:
            assert got["val"] == 0
        if test == 0:
            assert got["test"] == 0


def test_split_is_stratified_and_seeded():
    keys, labels = _data([100, 200, 50, 300])
    m = split((keys, labels), val_size=0.1, test_size=0.2, seed=3)
    for c, n in zip(["c0", "c1", "c2", "c3"], [100, 200, 50, 300]):
        sub = m[m.label == c]["split"].value_counts()
        assert abs(sub["test"] - 0.2 * n) <= 1
        assert abs(sub["val"] - 0.1 * n) <= 1
    assert split((keys, labels), val_size=0.1, test_size=0.2, seed=3).equals(m)
    other = split((keys, labels), val_size=0.1, test_size=0.2, seed=4)
    assert not other["split"].equals(m["split"])


def test_rare_classes_warn_and_stay_in_train():
    keys, labels = _data([30, 1, 2])
    with pytest.warns(RareClassWarning, match="c1"):
        m = split((keys, labels), val_size=0.1, test_size=0.1, seed=0)
    assert m[m.label == "c1"]["split"].tolist() == ["train"]
    assert sorted(m[m.label == "c2"]["split"]) == ["test", "train"]


@pytest.mark.parametrize("kw", [dict(val_size=0.5, test_size=0.5), dict(val_size=-0.1), dict(test_size=1.0)])
def test_bad_fractions(kw):
    with pytest.raises(DataError):
        split(_data([5, 5]), **kw)


def test_manifest_round_trip_and_select(tmp_path):
    x = np.arange(40 * 4 * 4, dtype=np.uint8).reshape(40, 4, 4)
    ds = ImageSet.from_arrays(x, ["a"] * 25 + ["b"] * 15)
    m = split(ds, val_size=0.2, test_size=0.2, seed=1)
    path = write_manifest(m, tmp_path / "split.csv")
    with pytest.raises(TaxoclassError, match="already exists"):
        write_manifest(m, tmp_path / "split.csv")
    back = read_manifest(path)
    pd.testing.assert_frame_equal(back, m)
    parts = {s: ds.select(path, s) for s in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == 40
    assert set(parts["train"].keys) | set(parts["val"].keys) | set(parts["test"].keys) == set(ds.keys)
    np.testing.assert_array_equal(parts["test"].array[:, 0, 0, 0], x[[int(k) for k in parts["test"].keys], 0, 0])
    bad = m.copy()
    bad.loc[0, "split"] = "holdout"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="holdout.*line 2"):
        read_manifest(tmp_path / "bad.csv")
    other = ImageSet.from_arrays(x[:10], ["a"] * 10)
    with pytest.raises(DataError, match="does not have"):
        other.select(m, "train")


def test_class_weights_balanced():
    w = class_weights(["a"] * 30 + ["b"] * 10, ["a", "b", "c"])
    assert w == pytest.approx({0: 40 / (2 * 30), 1: 40 / (2 * 10), 2: 0.0})
    assert class_weights(np.array([0, 0, 1]), ["x", "y"]) == pytest.approx({0: 0.75, 1: 1.5})
    assert class_weights(["a"] * 9 + ["b"], mode="sqrt")[1] == pytest.approx(np.sqrt(5.0))
    # what a model's fit(class_weight="sqrt") gets: the square root of the balanced weights, classes without images 1
    from taxoclass.data.weights import fit_class_weight

    assert fit_class_weight("sqrt", np.array([0] * 9 + [1]), ["a", "b", "c"]) == pytest.approx(
        {0: np.sqrt(10 / 18), 1: np.sqrt(5.0), 2: 1.0})
    with pytest.raises(ClassMismatchError, match="zebra"):
        class_weights(["zebra"], ["a"])
