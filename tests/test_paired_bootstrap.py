"""benchmarks/paired_bootstrap.py: the paired bootstrap that says whether one model's lead is more than luck."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from taxoclass.taxonomy import Taxonomy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from paired_bootstrap import paired_bootstrap  # noqa: E402

TAX = Taxonomy.from_paths([["a", "a1"], ["a", "a2"], ["b", "b1"], ["b", "b2"]], root="r")


def _frame(true, pred):
    return pd.DataFrame({"file": [f"{i}.png" for i in range(len(true))], "true": true, "predicted_class": pred})


def test_same_predictions_differ_by_nothing():
    rng = np.random.default_rng(0)
    true = rng.choice(TAX.classes, 300)
    pred = np.where(rng.random(300) < 0.6, true, rng.choice(TAX.classes, 300))
    res = paired_bootstrap(_frame(true, pred), _frame(true, pred), TAX, resamples=200)
    assert res["accuracy"]["b_minus_a"] == 0 and res["accuracy"]["ci95"] == [0, 0]
    assert not res["accuracy"]["excludes_zero"] and not res["mistake_severity"]["excludes_zero"]


def test_near_misses_instead_of_far_ones_lower_severity_beyond_luck():
    true = np.array(["a1"] * 200 + ["b1"] * 200)
    far = np.where(np.arange(400) % 4 == 0, np.where(true == "a1", "b2", "a2"), true)   # wrong across the root
    near = np.where(np.arange(400) % 4 == 0, np.where(true == "a1", "a2", "b2"), true)  # wrong within the genus
    res = paired_bootstrap(_frame(true, far), _frame(true, near), TAX, resamples=200)
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
    res = paired_bootstrap([a1, a2], [b1, b2], TAX, resamples=300)
    assert res["runs"] == 2 and res["n_images"] == 400
    assert res["accuracy"]["a"] == 0.625 and res["accuracy"]["b"] == 0.85   # the runs' mean top-1
    assert res["accuracy"]["b_minus_a"] == 0.225 and res["accuracy"]["excludes_zero"]
    assert res["mistake_severity"]["a"] == 2.0 and res["mistake_severity"]["b"] == 1.0
    single = paired_bootstrap(a1, b1, TAX, resamples=300)
    assert single["runs"] == 1 and single["accuracy"]["b_minus_a"] == 0.05
