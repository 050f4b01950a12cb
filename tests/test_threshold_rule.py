"""One threshold rule (issue 11, defect 1): ``Taxonomy.threshold`` decides, and ``TreeClassifier.predict(threshold=)``,
``threshold_predictions``, ``evaluate_predictions(threshold=)`` and ``taxoclass predict --threshold`` (checked in
test_workflows_cli.py) all give its answer.

The rule: from the root, move to the most probable child (node probability = sum of its classes' probabilities)
while that child's probability is >= t. Before the fix ``TreeClassifier.predict`` followed the most probable leaf's
path instead, and answered ``root`` where the metrics answered ``a`` on the example of the issue.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxoclass import Taxonomy
from taxoclass.metrics import evaluate_predictions, hierarchical_precision_recall_f1, threshold_predictions

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ISSUE_TAX = Taxonomy.from_paths([["a", "x1"], ["a", "x2"], ["a", "x3"], ["b", "z1"], ["b", "z2"]])
ISSUE_P = np.array([[0.2, 0.2, 0.2, 0.4, 0.0]])


def reference(tax: Taxonomy, p, t: float):
    """The documented rule, written the slow obvious way (path tuples, Python sums)."""
    node = tax.root
    while tax.children(node):
        kids = tax.children(node)
        probs = [sum(p[tax.class_index(c)] for c in tax.classes_under(k)) for k in kids]
        j = int(np.argmax(probs))  # ties: the first child
        if probs[j] < t - 1e-9:
            break
        node = kids[j]
    return node


def fixed_output_tree(tax: Taxonomy, proba: np.ndarray):
    """A fitted TreeClassifier whose network is one softmax layer returning ``proba`` for image i = row i."""
    import keras

    from taxoclass.models.tree import TreeClassifier, TreeStructure

    L = tax.n_classes
    clf = TreeClassifier(tax, input_shape=(1, 1, L))
    inp = keras.Input((1, 1, L))
    clf.model_ = keras.Model(inp, keras.layers.Softmax()(keras.layers.Reshape((L,))(inp)))
    clf.taxonomy_, clf.classes_ = tax, np.array(tax.classes, dtype=object)
    clf.structure_ = TreeStructure(tax)
    logits = np.log(np.clip(proba, 1e-12, None))
    X = (logits - logits.min(axis=1, keepdims=True))[:, None, None, :].astype(np.float32) + 2.0
    return clf, X


def test_the_example_of_the_issue_gives_a_everywhere():
    t = 0.55
    assert ISSUE_TAX.nodes[ISSUE_TAX.threshold(ISSUE_P, t)[0]] == ("root", "a")
    assert threshold_predictions(ISSUE_P, ISSUE_TAX, t) == [("root", "a")]
    res = evaluate_predictions(["x1"], ISSUE_P, ISSUE_TAX, k=1, threshold=t)["thresholded"]
    assert res["mean_depth"] == 1.0 and res["leaf_fraction"] == 0.0
    assert res["hierarchical_precision_micro"] == 1.0 and res["hierarchical_recall_micro"] == 0.5
    clf, X = fixed_output_tree(ISSUE_TAX, ISSUE_P)
    assert clf.predict(X, threshold=t).tolist() == ["a"]  # was "root" before the fix
    assert clf.predict(X, threshold=0.39).tolist() == ["a"]  # a (0.6) is walked into first, then x1 (0.2) fails
    assert clf.predict(X, threshold=0.0).tolist() == ["x1"]  # ties go to the first child
    assert clf.predict(X, threshold=0.61).tolist() == ["root"]


@st.composite
def trees_and_probabilities(draw):
    n = draw(st.integers(2, 8))
    paths = []
    for i in range(n):
        groups = draw(st.lists(st.sampled_from("AB"), max_size=3))
        paths.append([f"{g}{d}" for d, g in enumerate(groups)] + [f"c{i}"])
    tax = Taxonomy.from_paths(paths)
    rows = draw(st.integers(1, 4))
    w = np.array(draw(st.lists(st.lists(st.integers(0, 12), min_size=n, max_size=n), min_size=rows,
                               max_size=rows)), dtype=np.float64)
    w[w.sum(axis=1) == 0, 0] = 1
    # multiples of 2**-20: every sum is exact, so near-ties cannot be broken differently by rounding
    p = np.round(w / w.sum(axis=1, keepdims=True) * 2 ** 20) / 2 ** 20
    t = draw(st.integers(0, 64)) / 64
    y = draw(st.lists(st.integers(0, n - 1), min_size=rows, max_size=rows))
    return tax, p, t, y


@settings(max_examples=150, deadline=None)
@given(trees_and_probabilities())
def test_taxonomy_threshold_metrics_and_evaluate_follow_the_documented_rule(case):
    tax, p, t, y = case
    expected = [reference(tax, row, t) for row in p]
    assert [tax.nodes[v] for v in tax.threshold(p, t)] == expected
    assert threshold_predictions(p, tax, t) == expected
    got = evaluate_predictions(y, p, tax, k=1, threshold=t)["thresholded"]
    hp, hr, hf = hierarchical_precision_recall_f1(y, expected, tax)
    assert (got["hierarchical_precision_micro"], got["hierarchical_recall_micro"]) == pytest.approx((hp, hr))
    assert got["mean_depth"] == pytest.approx(np.mean([len(n) - 1 for n in expected]))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees_and_probabilities())
def test_tree_classifier_predict_agrees_with_the_metrics(case):
    tax, p, t, _ = case
    clf, X = fixed_output_tree(tax, p)
    proba = clf.predict_proba(X)  # what the model outputs (float32 softmax of the logits), the input of every rule
    names = [n[-1] for n in threshold_predictions(proba, tax, t)]
    assert clf.predict(X, threshold=t).tolist() == names


def test_greedy_paths_answer_with_their_deepest_sure_node():
    """The greedy mode's form of the rule (``TreeStructure.path_ends``): the deepest node of the greedy path whose
    path probability (product of the chosen children's conditional probabilities) is >= t; by hand on a 2-level tree."""
    from taxoclass.models.tree_structure import TreeStructure

    s = TreeStructure(ISSUE_TAX)  # classifier nodes: root (a, b), a (x1, x2, x3), b (z1, z2)
    # row 0 goes root -> a (0.9) -> x2 (0.5); row 1 root -> b (0.6) -> z1 (0.95)
    choice = np.array([[0, 1, -1], [1, -1, 0]])
    cprob = np.array([[0.9, 0.5, np.nan], [0.6, np.nan, 0.95]])
    nodes, probs = s.greedy_paths(choice, cprob)
    assert [[s.names[n] for n in row] for row in nodes] == [["root", "a", "x2"], ["root", "b", "z1"]]
    np.testing.assert_allclose(probs, [[1.0, 0.9, 0.45], [1.0, 0.6, 0.57]])
    ends = lambda t: [s.names[n] for n in s.path_ends(nodes, probs, t)]  # noqa: E731
    assert ends(None) == ["x2", "z1"]
    assert ends(0.4) == ["x2", "z1"]
    assert ends(0.5) == ["a", "z1"]
    assert ends(0.58) == ["a", "b"]
    assert ends(0.95) == ["root", "root"]
    frame = s.path_frame(nodes, probs)
    assert list(frame.columns) == ["level_1", "p_level_1", "level_2", "p_level_2"]
    assert frame["level_2"].tolist() == ["x2", "z1"] and frame["p_level_1"].tolist() == [0.9, 0.6]
