"""Calibrated "not sure" answers: temperature scaling, ECE, and the threshold that reaches a target precision
(taxoclass.calibration), on probabilities the tests build."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from taxoclass import Taxonomy
from taxoclass.calibration import (apply_temperature, choose_threshold, expected_calibration_error, fit_temperature,
                                   reliability_bins, threshold_curve, threshold_for_precision)
from taxoclass.exceptions import TaxoclassError
from taxoclass.metrics import hierarchical_precision_recall_f1, threshold_predictions


def _calibrated_sample(rng, n=3000, C=6):
    """Probabilities whose labels are drawn from them: calibrated by construction."""
    logits = rng.normal(0, 2.0, (n, C))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(C, p=row) for row in p])
    return p, y


def test_temperature_undoes_deliberate_over_confidence():
    rng = np.random.default_rng(0)
    p, y = _calibrated_sample(rng)
    over = apply_temperature(p, 1 / 3)  # log-probabilities tripled: a deliberately over-confident model
    before = expected_calibration_error(over, y)
    T = fit_temperature(over, y)
    after = expected_calibration_error(apply_temperature(over, T), y)
    assert T == pytest.approx(3.0, rel=0.15)
    assert before > 0.1 and after < 0.03 and after < before / 4, (before, after)
    # the argmax never changes: accuracy is untouched
    assert (apply_temperature(over, T).argmax(1) == over.argmax(1)).all()


def test_under_confident_model_gets_a_temperature_below_one():
    rng = np.random.default_rng(1)
    p, y = _calibrated_sample(rng)
    T = fit_temperature(apply_temperature(p, 2.0), y)
    assert T == pytest.approx(0.5, rel=0.15)


def test_ece_and_reliability_bins_by_hand():
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.55, 0.45]])
    y = np.array([0, 1, 0, 0])
    b = reliability_bins(p, y, n_bins=10)
    assert b["count"][5] == 2 and b["count"][9] == 2 and sum(b["count"]) == 4
    assert b["accuracy"][9] == 0.5 and b["accuracy"][5] == 1.0
    # |0.5 - 0.95| * 2/4 + |1.0 - 0.55| * 2/4
    assert expected_calibration_error(p, y, n_bins=10) == pytest.approx(0.45)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3), min_size=1, max_size=8),
       st.floats(0.2, 10.0))
def test_temperature_keeps_rows_normalised_and_the_ranking(rows, T):
    p = np.asarray(rows)
    p = p / p.sum(1, keepdims=True)
    q = apply_temperature(p, T)
    np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-5)
    for a, b in zip(p, q):
        order = np.argsort(a, kind="stable")
        assert (np.diff(b[order]) >= -1e-6).all()
    np.testing.assert_allclose(apply_temperature(p, 1.0), p, atol=1e-6)


TAX = Taxonomy.from_paths([["copepod", "calanoid"], ["copepod", "cyclopoid"], ["diatom", "chaetoceros"],
                           ["diatom", "rhizosolenia"]])


def _hand_made_case():
    """Confident answers are right, hesitant ones between sister classes: precision rises with the threshold."""
    rng = np.random.default_rng(2)
    y, rows = [], []
    for _ in range(200):
        c = int(rng.integers(4))
        sister = c ^ 1
        kind = rng.random()
        p = np.full(4, 0.01)
        if kind < 0.6:  # sure and right
            p[c] = 0.97
        elif kind < 0.85:  # sure of the group, unsure of the class: half of these are wrong
            wrong = rng.random() < 0.5
            p[sister if wrong else c], p[c if wrong else sister] = 0.55, 0.43
        else:  # the wrong group at 0.6
            other = (c + 2) % 4
            p[other], p[c] = 0.6, 0.38
        rows.append(p / p.sum())
        y.append(c)
    return np.array(rows), np.array(y)


def test_threshold_curve_matches_the_metrics_module():
    p, y = _hand_made_case()
    curve = threshold_curve(p, y, TAX, thresholds=[0.3, 0.5, 0.7, 0.9])
    for t, prec, rec in zip(curve["thresholds"], curve["precision"], curve["recall"]):
        hp, hr, _ = hierarchical_precision_recall_f1(np.asarray(TAX.classes, dtype=object)[y],
                                                     threshold_predictions(p, TAX, t), TAX)
        assert prec == pytest.approx(hp) and rec == pytest.approx(hr)
    shares = np.array(curve["depth_share"])
    np.testing.assert_allclose(shares.sum(0), 1.0)
    np.testing.assert_allclose(shares[2], curve["leaf_share"])  # every class of TAX is at depth 2


def test_target_precision_is_reached_as_deep_as_possible():
    p, y = _hand_made_case()
    curve = threshold_curve(p, y, TAX)
    names = np.asarray(TAX.classes, dtype=object)[y]
    for target in (0.8, 0.9, 0.95):
        sel = choose_threshold(curve, target)
        hp, _, _ = hierarchical_precision_recall_f1(names, threshold_predictions(p, TAX, sel["threshold"]), TAX)
        assert hp >= target and sel["precision"] == pytest.approx(hp)
        i = curve["thresholds"].index(sel["threshold"])
        if i:  # one step lower, the target is missed: the answers are as deep as the target allows
            lower, _, _ = hierarchical_precision_recall_f1(
                names, threshold_predictions(p, TAX, curve["thresholds"][i - 1]), TAX)
            assert lower < target
    # the hand-made case: at 95 % the hesitant answers stop at the group, the sure 60 % are named to a class
    sel = choose_threshold(curve, 0.95)
    assert 0.55 <= sel["leaf_share"] <= 0.7 and sel["depth_share"][1] > 0.2


def test_unreachable_target_and_models_without_a_curve_say_what_to_do():
    p, y = _hand_made_case()
    curve = threshold_curve(p, y, TAX, thresholds=[0.1, 0.2])
    with pytest.raises(TaxoclassError, match="no threshold reaches hierarchical precision 0.99"):
        choose_threshold(curve, 0.99)
    for bad in (0, 1.5, "x", True):
        with pytest.raises(TaxoclassError, match="target precision must be"):
            choose_threshold(curve, bad)

    class Old:
        threshold_curve_ = None

    with pytest.raises(TaxoclassError, match="no validation threshold curve"):
        threshold_for_precision(Old(), 0.9)
