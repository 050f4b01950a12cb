"""taxoclass.metrics.paired_bootstrap (and benchmarks/paired_bootstrap.py, its command-line form on predictions.csv
files): the paired bootstrap that says whether one model's lead is more than the luck of the test split."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass.exceptions import DataError, TaxoclassError
from taxoclass.metrics import mistake_severity, paired_bootstrap
from taxoclass.taxonomy import Taxonomy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from paired_bootstrap import paired_bootstrap as script_bootstrap  # noqa: E402

TAX = Taxonomy.from_paths([["a", "a1"], ["a", "a2"], ["b", "b1"], ["b", "b2"]], root="r")
FAST = settings(max_examples=40, deadline=None)


def _frame(true, pred):
    return pd.DataFrame({"file": [f"{i}.png" for i in range(len(true))], "true": true, "predicted_class": pred})


@st.composite
def labelled(draw, runs=1):
    n = draw(st.integers(1, 60))
    classes = st.sampled_from(TAX.classes)
    true = draw(st.lists(classes, min_size=n, max_size=n))
    preds = [[draw(st.lists(classes, min_size=n, max_size=n)) for _ in range(runs)] for _model in "ab"]
    return true, preds[0], preds[1]


@FAST
@given(labelled(), st.integers(0, 100))
def test_the_values_are_each_models_top1_and_severity(data, seed):
    true, (a,), (b,) = data
    res = paired_bootstrap(true, a, b, TAX, resamples=50, seed=seed)
    for key, pred in (("a", a), ("b", b)):
        assert res["accuracy"][key] == pytest.approx(np.mean(np.array(pred) == np.array(true)), abs=1e-4)
        wrong = np.array(pred) != np.array(true)
        if wrong.any():
            assert res["mistake_severity"][key] == pytest.approx(mistake_severity(true, pred, TAX), abs=1e-4)
        else:  # no mistake: no severity
            assert np.isnan(res["mistake_severity"][key])
    lo, hi = res["accuracy"]["ci95"]
    assert -1 <= lo <= hi <= 1 and res["accuracy"]["excludes_zero"] == (lo > 0 or hi < 0)


@FAST
@given(labelled(), st.integers(0, 100))
def test_swapping_the_models_negates_the_difference_and_mirrors_its_interval(data, seed):
    true, (a,), (b,) = data
    ab = paired_bootstrap(true, a, b, TAX, resamples=60, seed=seed)
    ba = paired_bootstrap(true, b, a, TAX, resamples=60, seed=seed)
    for metric in ("accuracy", "mistake_severity"):
        if np.isnan(ab[metric]["b_minus_a"]):
            continue
        assert ba[metric]["b_minus_a"] == pytest.approx(-ab[metric]["b_minus_a"], abs=2e-4)
        assert ba[metric]["ci95"] == pytest.approx([-ab[metric]["ci95"][1], -ab[metric]["ci95"][0]], abs=2e-4)


@FAST
@given(labelled(), st.integers(2, 4))
def test_runs_repeated_identically_give_the_single_runs_answer(data, runs):
    true, (a,), (b,) = data
    single = paired_bootstrap(true, a, b, TAX, resamples=40)
    pooled = paired_bootstrap(true, [a] * runs, [b] * runs, TAX, resamples=40)
    assert pooled["runs"] == runs
    for metric in ("accuracy", "mistake_severity"):
        for key in ("a", "b", "b_minus_a"):
            assert pooled[metric][key] == pytest.approx(single[metric][key], nan_ok=True)
        assert pooled[metric]["ci95"] == pytest.approx(single[metric]["ci95"], nan_ok=True)


def test_same_predictions_differ_by_nothing():
    rng = np.random.default_rng(0)
    true = rng.choice(TAX.classes, 300)
    pred = np.where(rng.random(300) < 0.6, true, rng.choice(TAX.classes, 300))
    res = paired_bootstrap(true, pred, pred, TAX, resamples=200)
    assert res["accuracy"]["b_minus_a"] == 0 and res["accuracy"]["ci95"] == [0, 0]
    assert not res["accuracy"]["excludes_zero"] and not res["mistake_severity"]["excludes_zero"]


def test_a_real_lead_is_beyond_luck_and_a_tiny_one_is_not():
    rng = np.random.default_rng(3)
    true = rng.choice(TAX.classes, 2000)
    other = np.array([{"a1": "a2", "a2": "a1", "b1": "b2", "b2": "b1"}[t] for t in true])
    a = np.where(rng.random(2000) < 0.70, true, other)
    b_far = np.where(rng.random(2000) < 0.80, true, other)   # 10 points ahead
    b_near = np.where(rng.random(2000) < 0.71, true, other)  # 1 point ahead, independent errors
    far = paired_bootstrap(true, a, b_far, TAX, resamples=500)
    near = paired_bootstrap(true, a, b_near, TAX, resamples=500)
    assert far["accuracy"]["excludes_zero"] and 0.06 < far["accuracy"]["ci95"][0] < far["accuracy"]["b_minus_a"]
    assert not near["accuracy"]["excludes_zero"]
    assert near["accuracy"]["ci95"][0] < 0 < near["accuracy"]["ci95"][1]


def test_near_misses_instead_of_far_ones_lower_severity_beyond_luck_from_csv_frames():
    true = np.array(["a1"] * 200 + ["b1"] * 200)
    far = np.where(np.arange(400) % 4 == 0, np.where(true == "a1", "b2", "a2"), true)   # wrong across the root
    near = np.where(np.arange(400) % 4 == 0, np.where(true == "a1", "a2", "b2"), true)  # wrong within the genus
    res = script_bootstrap(_frame(true, far), _frame(true, near), TAX, resamples=200)
    assert res["accuracy"]["a"] == res["accuracy"]["b"] == 0.75
    assert res["mistake_severity"]["a"] == 2.0 and res["mistake_severity"]["b"] == 1.0  # LCA root vs genus
    assert res["mistake_severity"]["excludes_zero"] and res["mistake_severity"]["ci95"][1] < 0


def test_pooled_runs_average_the_models_and_resample_images_together():
    rng = np.random.default_rng(1)
    true = rng.choice(TAX.classes, 400)
    wrong = np.array([{"a1": "a2", "a2": "a1", "b1": "b2", "b2": "b1"}[t] for t in true])  # near misses (distance 1)
    far = np.array([{"a1": "b1", "a2": "b2", "b1": "a1", "b2": "a2"}[t] for t in true])    # across the root (2)
    k = np.arange(400)
    a1 = _frame(true, np.where(k % 4 == 0, far, true))     # 0.75 right, mistakes at distance 2
    a2 = _frame(true, np.where(k % 2 == 0, far, true))     # 0.50 right
    b1 = _frame(true, np.where(k % 5 == 0, wrong, true))   # 0.80 right, mistakes at distance 1
    b2 = _frame(true, np.where(k % 10 == 0, wrong, true))  # 0.90 right
    res = script_bootstrap([a1, a2], [b1, b2], TAX, resamples=300)
    assert res["runs"] == 2 and res["n_images"] == 400
    assert res["accuracy"]["a"] == 0.625 and res["accuracy"]["b"] == 0.85   # the runs' mean top-1
    assert res["accuracy"]["b_minus_a"] == 0.225 and res["accuracy"]["excludes_zero"]
    assert res["mistake_severity"]["a"] == 2.0 and res["mistake_severity"]["b"] == 1.0
    single = script_bootstrap(a1, b1, TAX, resamples=300)
    assert single["runs"] == 1 and single["accuracy"]["b_minus_a"] == 0.05


def test_the_script_refuses_files_of_other_images():
    a = _frame(["a1", "b1"], ["a1", "b1"])
    b = _frame(["a1", "b1"], ["a1", "a2"]).assign(file=["x.png", "y.png"])
    with pytest.raises(SystemExit, match="same images in the same order"):
        script_bootstrap(a, b, TAX)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(DataError, match="2 predictions per run for 3 true labels"):
        paired_bootstrap(["a1", "a2", "b1"], ["a1", "a2"], ["a1", "a2", "b1"], TAX)
    with pytest.raises(DataError, match="as many runs of model B as of model A"):
        paired_bootstrap(["a1"], [["a1"], ["a2"]], [["a1"]], TAX)
    with pytest.raises(DataError, match="rows of \\[1, 2\\] predictions"):
        paired_bootstrap(["a1"], [["a1"], ["a2", "b1"]], [["a1"], ["a1"]], TAX)
    with pytest.raises(TaxoclassError, match="not classes of the taxonomy: zz"):
        paired_bootstrap(["a1"], ["zz"], ["a1"], TAX)
    with pytest.raises(TaxoclassError, match="resamples must be an integer"):
        paired_bootstrap(["a1"], ["a1"], ["a1"], TAX, resamples=0)
    with pytest.raises(TaxoclassError, match="expected a taxoclass.Taxonomy"):
        paired_bootstrap(["a1"], ["a1"], ["a1"], "tree.tsv")
