"""``mode="risk"``: rank the classes by expected mistake severity (conditional risk minimisation, Karthik et al.,
ICLR 2021) -- ``Taxonomy.ranked_classes`` decides, and ``evaluate_predictions``, ``TreeClassifier.predict`` and
``FlatClassifier.predict`` give its answer (``taxoclass predict/evaluate --mode risk`` and ``serve`` are checked in
test_workflows_cli.py and test_serve.py)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxoclass import Taxonomy
from taxoclass.exceptions import TaxoclassError
from taxoclass.metrics import evaluate_predictions

from test_threshold_rule import fixed_output_tree, trees_and_probabilities

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TAX = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["b", "z"]])  # x-y cost 1 (lca a), x-z and y-z cost 2 (root)


def slow_expected_severity(tax: Taxonomy, p):
    """sum_t p_t h(lca(c, t)) for every class c, with the taxonomy's own LCA height of a pair of names."""
    return [sum(p[j] * tax.lca_height(c, t) for j, t in enumerate(tax.classes)) for c in tax.classes]


def test_a_hand_made_case():
    P = np.array([[0.3, 0.3, 0.4], [0.45, 0.1, 0.45], [0.9, 0.05, 0.05]])
    np.testing.assert_allclose(TAX.expected_severity(P), [[1.1, 1.1, 1.2], [1.0, 1.35, 1.1], [0.15, 1.0, 1.9]])
    # row 0: z is the most likely class, but a (x or y) holds 0.6, so answer x (ties x / y: the likelier, then
    # the first); row 1: x and z tie on probability, x is cheaper to get wrong; row 2: a sure answer stays.
    # After the answer, the alternatives by probability
    assert TAX.ranked_classes(P, "risk").tolist() == [[0, 2, 1], [0, 2, 1], [0, 1, 2]]
    assert TAX.ranked_classes(P, "soft").tolist() == [[2, 0, 1], [0, 2, 1], [0, 1, 2]]
    assert TAX.ranked_classes(P, "risk", k=1).shape == (3, 1)
    with pytest.raises(TaxoclassError, match="expected one of soft, risk"):
        TAX.ranked_classes(P, "cheapest")
    with pytest.raises(TaxoclassError, match=r"shape \(N, 3\)"):
        TAX.expected_severity(P[:, :2])


def test_evaluate_predictions_scores_the_risk_answers():
    # both images are x or y; the model puts 0.4 on the distant z: soft answers z twice (severity 2 each time),
    # risk answers x: right once, and a sister of the truth the other time (severity 1)
    P = [[0.3, 0.3, 0.4], [0.3, 0.3, 0.4]]
    soft = evaluate_predictions(["x", "y"], P, TAX, k=2)
    risk = evaluate_predictions(["x", "y"], P, TAX, k=2, mode="risk")
    assert (soft["accuracy"], soft["mistake_severity"], soft["hierarchical_distance_at_1"]) == (0.0, 2.0, 2.0)
    assert (risk["accuracy"], risk["mistake_severity"], risk["hierarchical_distance_at_1"]) == (0.5, 1.0, 0.5)
    assert risk["top_k_accuracy"] == soft["top_k_accuracy"] == 0.5  # top-2: x, z against z, x
    assert risk["mode"] == "risk" and soft["mode"] == "soft"
    assert risk["confusion_matrix"] == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    with pytest.raises(TaxoclassError, match="mode 'argmin'"):
        evaluate_predictions(["x"], [[1.0, 0.0, 0.0]], TAX, mode="argmin")


@settings(max_examples=150, deadline=None)
@given(trees_and_probabilities())
def test_the_risk_answer_has_the_lowest_expected_severity(case):
    tax, p, _, y = case
    slow = np.array([slow_expected_severity(tax, row) for row in p])
    np.testing.assert_allclose(tax.expected_severity(p), slow, atol=1e-9)
    order = tax.ranked_classes(p, "risk")
    best = slow.min(axis=1)
    soft = tax.ranked_classes(p, "soft")  # the alternatives: every other class, by probability
    assert [[c for c in s if c != o[0]] for s, o in zip(soft.tolist(), order.tolist())] == order[:, 1:].tolist()
    cands = [np.flatnonzero(np.isclose(slow[i], best[i], rtol=0, atol=1e-9)) for i in range(len(p))]
    # among equally cheap answers, the likeliest (then the first)
    assert [int(c[np.argmax(p[i, c])]) for i, c in enumerate(cands)] == order[:, 0].tolist()
    assert evaluate_predictions(y, p, tax, k=1, mode="risk")["accuracy"] == np.mean(order[:, 0] == y)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 9), st.lists(st.integers(0, 9), min_size=2, max_size=40), st.integers(0, 2 ** 16))
def test_on_a_flat_taxonomy_risk_is_soft(n, weights, seed):
    """Every mistake costs the same on a one-level tree: the cheapest answer is the most probable one."""
    tax = Taxonomy.from_paths([[f"c{i}"] for i in range(n)])
    rng = np.random.default_rng(seed)
    w = rng.choice(np.asarray(weights, dtype=np.float64), size=(5, n))  # repeated values: many exact ties
    w[w.sum(axis=1) == 0, 0] = 1.0
    p = w / w.sum(axis=1, keepdims=True)
    assert tax.ranked_classes(p, "risk").tolist() == tax.ranked_classes(p, "soft").tolist()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees_and_probabilities())
def test_tree_classifier_predict_risk_agrees_with_the_ranking(case):
    tax, p, t, _ = case
    clf, X = fixed_output_tree(tax, p)
    proba = clf.predict_proba(X)
    best = tax.ranked_classes(proba, "risk", k=1)[:, 0]
    assert clf.predict(X, mode="risk").tolist() == clf.classes_[best].tolist()
    # the sure node depends on the probabilities only, not on how the classes are ranked
    assert clf.predict(X, mode="risk", threshold=t).tolist() == clf.predict(X, threshold=t).tolist()


def test_tree_and_flat_predict_refuse_unknown_modes_and_flat_predict_ranks_on_its_taxonomy():
    from taxoclass.exceptions import ModelError
    from taxoclass.models import FlatClassifier

    P = np.array([[0.3, 0.3, 0.4], [0.45, 0.1, 0.45]])
    clf, X = fixed_output_tree(TAX, P)
    assert clf.predict(X, mode="risk").tolist() == ["x", "x"]
    assert clf.predict(X).tolist() == ["z", "x"]
    with pytest.raises(ModelError, match="soft, greedy, risk"):
        clf.predict(X, mode="cheap")
    flat = FlatClassifier(TAX, input_shape=(1, 1, 3))  # a flat model given the taxonomy ranks on it too
    flat.model_, flat.taxonomy_, flat.classes_ = clf.model_, TAX, clf.classes_
    assert flat.predict(X, mode="risk").tolist() == ["x", "x"] and flat.predict(X).tolist() == ["z", "x"]
