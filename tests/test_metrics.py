"""taxoclass.metrics: hand-computed values, agreement with scikit-learn, properties on random trees."""

import json

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taxoclass import Taxonomy
from taxoclass import metrics as M
from taxoclass.exceptions import ClassMismatchError, DataError, TaxoclassError

# ------------------------------------------------------------------------------------------------ the 3-level toy
#            root (artificial, excluded from the ancestor sets; height 3)
#         /                 \
#      animal (h 2)        plant (h 2)
#      /      \            /      \
#  mammal(1)  bird(1)   tree(1)  flower(1)
#   /   \       |         |        |
#  cat  dog    owl       oak      rose          every class at depth 3
TOY_PATHS = [["animal", "mammal", "cat"], ["animal", "mammal", "dog"], ["animal", "bird", "owl"],
             ["plant", "tree", "oak"], ["plant", "flower", "rose"]]
TRUE = ["cat", "cat", "owl", "oak", "rose"]
PRED = ["cat", "dog", "cat", "rose", "cat"]
#                 cat   dog   owl   oak   rose         top-1, top-2
PROBA = np.array([[.60, .30, .05, .03, .02],   # cat,  dog
                  [.30, .60, .05, .03, .02],   # dog,  cat
                  [.60, .05, .30, .03, .02],   # cat,  owl
                  [.02, .03, .05, .30, .60],   # rose, oak
                  [.60, .05, .03, .02, .30]])  # cat,  rose


@pytest.fixture
def toy():
    return Taxonomy.from_paths(TOY_PATHS)


def test_hierarchical_scores_by_hand(toy):
    # anc() without the root; |anc(p) & anc(t)| = depth of the LCA:
    #   cat->cat  {animal,mammal,cat}            3      |alpha| 3  |beta| 3
    #   cat->dog  {animal,mammal}                2              3         3
    #   owl->cat  {animal}                       1              3         3
    #   oak->rose {plant}                        1              3         3
    #   rose->cat {}                             0              3         3
    #   dog->animal/mammal (internal node)  {animal,mammal} 2   2         3
    y_true = TRUE + ["dog"]
    y_pred = PRED + [("animal", "mammal")]
    hp, hr, hf = M.hierarchical_precision_recall_f1(y_true, y_pred, toy)
    assert hp == pytest.approx(9 / 17)            # (3+2+1+1+0+2) / (3*5 + 2)
    assert hr == pytest.approx(9 / 18)            # 9 / (3*6)
    assert hf == pytest.approx(18 / 35)           # 2 * 9/17 * 1/2 / (9/17 + 1/2)
    hp, hr, hf = M.hierarchical_precision_recall_f1(y_true, y_pred, toy, average="macro")
    assert hp == pytest.approx((1 + 2 / 3 + 1 / 3 + 1 / 3 + 0 + 1) / 6)        # 5/9
    assert hr == pytest.approx((1 + 2 / 3 + 1 / 3 + 1 / 3 + 0 + 2 / 3) / 6)    # 1/2
    # per-sample F: 1, 2/3, 1/3, 1/3, 0 and 2*1*(2/3)/(1+2/3) = 0.8  ->  (7/3 + 4/5) / 6 = 47/90
    assert hf == pytest.approx(47 / 90)
    # a node given by its '/'-path or unique name is the same node
    assert M.hierarchical_f1(["dog"], ["animal/mammal"], toy) == M.hierarchical_f1(["dog"], ["mammal"], toy)


def test_mistake_severity_and_distances_by_hand(toy):
    # wrong top-1: cat->dog LCA mammal (height 1), owl->cat animal (2), oak->rose plant (2), rose->cat root (3)
    assert M.mistake_severity(TRUE, PRED, toy) == pytest.approx((1 + 2 + 2 + 3) / 4)
    # distance@1 also averages the correct sample (0): 8 / 5
    assert M.average_hierarchical_distance(TRUE, PROBA, toy, k=1) == pytest.approx(8 / 5)
    # the second-ranked classes: dog (h 1 from cat), cat (0), owl (0), oak (0), rose (0): (8 + 1) / 10
    assert M.average_hierarchical_distance(TRUE, PROBA, toy, k=2) == pytest.approx(9 / 10)
    assert M.average_hierarchical_distance(TRUE, PRED, toy) == pytest.approx(8 / 5)
    assert M.mistake_severity(TRUE, TRUE, toy) == 0.0


def test_per_level_and_per_node_by_hand(toy):
    levels = M.per_level_accuracy(TRUE, PRED, toy)
    # depth 1: only rose->cat crosses animal/plant (4/5); depth 2: cat->cat, cat->dog (2/5); depth 3: 1/5
    assert [lv["accuracy"] for lv in levels] == pytest.approx([4 / 5, 2 / 5, 1 / 5])
    assert [lv["n"] for lv in levels] == [5, 5, 5]
    nodes = M.per_node_accuracy(TRUE, PRED, toy)
    assert list(nodes) == ["root", "root/animal", "root/animal/mammal", "root/animal/bird", "root/plant",
                           "root/plant/tree", "root/plant/flower"]
    acc = {k: v["accuracy"] for k, v in nodes.items()}
    assert acc["root"] == pytest.approx(4 / 5)
    assert acc["root/animal"] == pytest.approx(2 / 3)        # cat, cat -> mammal right; owl -> mammal wrong
    assert acc["root/animal/mammal"] == pytest.approx(1 / 2)  # cat->cat right, cat->dog wrong
    assert acc["root/animal/bird"] == 0.0 and acc["root/plant"] == 0.0
    assert nodes["root/animal/bird"]["n_reached"] == 0                      # owl was sent to mammal/cat
    assert nodes["root/animal/bird"]["accuracy_given_reached"] is None
    assert nodes["root/plant"]["n"] == 2 and nodes["root/plant"]["n_reached"] == 1  # rose->cat left plant
    assert nodes["root/animal"]["n_children"] == 2 and nodes["root/animal/bird"]["n_children"] == 1


def test_evaluate_predictions_bundles_everything(toy):
    m = M.evaluate_predictions(TRUE, PROBA, toy, k=2, threshold=0.62)
    json.dumps(m, allow_nan=False)  # strict JSON
    assert m["accuracy"] == pytest.approx(1 / 5)
    assert m["top_k_accuracy"] == 1.0 and m["k"] == 2
    assert m["mistake_severity"] == pytest.approx(2.0) and m["n_mistakes"] == 4
    assert m["hierarchical_f1_micro"] == pytest.approx(7 / 15)      # (3+2+1+1+0) / 15, balanced tree: P = R
    assert m["hierarchical_distance_at_1"] == pytest.approx(8 / 5)
    assert m["hierarchical_distance_at_k"] == pytest.approx(9 / 10)
    assert m["confusion_matrix"][0] == [1, 1, 0, 0, 0]
    assert m["per_class"]["cat"]["precision"] == pytest.approx(1 / 3)  # 3 predicted cat, 1 right
    assert m["per_node"]["root/animal/mammal"]["accuracy"] == pytest.approx(1 / 2)
    # threshold .62 on node probabilities (sums of class probabilities), descending to the likeliest child:
    #   1: animal .95 -> mammal .90 -> cat .60 (< .62)       stop at mammal
    #   2: animal .95 -> mammal .90 -> dog .60               mammal
    #   3: animal .95 -> mammal .65 (bird .30) -> cat .60    mammal
    #   4: plant .90 -> flower .60 (tree .30)                plant
    #   5: animal .68 -> mammal .65 -> cat .60               mammal
    th = M.threshold_predictions(PROBA, toy, 0.62)
    assert [toy.name(n) for n in th] == ["mammal", "mammal", "mammal", "plant", "mammal"]
    assert m["thresholded"]["mean_depth"] == pytest.approx((2 + 2 + 2 + 1 + 2) / 5)
    assert m["thresholded"]["leaf_fraction"] == 0.0
    hp, hr, _ = M.hierarchical_precision_recall_f1(TRUE, th, toy)
    # |anc(p) & anc(t)|: cat/mammal 2, cat/mammal 2, owl/mammal 1, oak/plant 1, rose/mammal 0 = 6; |anc(p)| = 9
    assert hp == pytest.approx(6 / 9) and hr == pytest.approx(6 / 15)
    assert m["thresholded"]["hierarchical_precision_micro"] == pytest.approx(hp)
    # with final node predictions the hierarchical part follows them, the flat part the top-1
    m2 = M.evaluate_predictions(TRUE, PROBA, toy, y_pred=th)
    assert m2["hierarchical_precision_micro"] == pytest.approx(hp) and m2["accuracy"] == m["accuracy"]
    # without probabilities
    m3 = M.evaluate_predictions(TRUE, None, toy, y_pred=PRED)
    assert m3["top_k_accuracy"] is None and m3["mistake_severity"] == pytest.approx(2.0)


def test_flat_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    tax = Taxonomy.from_paths([[f"g{i % 4}", f"c{i}"] for i in range(12)])
    y = rng.integers(0, 12, 400)
    P = rng.random((400, 12))
    P[np.arange(400), y] += rng.random(400) * 0.8
    pred = P.argmax(1)
    m = M.evaluate_predictions(y, P, tax, k=3)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["top_k_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, P, k=3))
    assert M.top_k_accuracy(y, P, tax, k=3) == pytest.approx(skm.top_k_accuracy_score(y, P, k=3))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert np.array_equal(np.array(m["confusion_matrix"]), skm.confusion_matrix(y, pred))
    pr, rc, f1, sup = skm.precision_recall_fscore_support(y, pred)
    names = [tax.classes[i] for i in y]
    per = M.per_class_scores(names, [tax.classes[i] for i in pred], tax)
    assert [per[c]["f1"] for c in tax.classes] == pytest.approx(f1)
    assert [per[c]["support"] for c in tax.classes] == sup.tolist()
    assert M.accuracy(names, pred, tax) == pytest.approx(skm.accuracy_score(y, pred))  # names and indices mix
    assert np.array_equal(M.confusion_matrix(names, pred, tax), skm.confusion_matrix(y, pred))


def test_bad_inputs_raise_clear_errors(toy):
    with pytest.raises(ClassMismatchError, match="wolf"):
        M.accuracy(["cat", "wolf"], ["cat", "cat"], toy)
    with pytest.raises(ClassMismatchError, match="internal node"):
        M.hierarchical_f1(["mammal"], ["cat"], toy)
    with pytest.raises(ClassMismatchError, match="0..4"):
        M.accuracy([0, 7], [0, 1], toy)
    with pytest.raises(ClassMismatchError, match="6 columns"):
        M.top_k_accuracy(TRUE, np.ones((5, 6)), toy)
    with pytest.raises(DataError, match="5 samples but y_pred has 4"):
        M.hierarchical_f1(TRUE, PRED[:4], toy)
    with pytest.raises(DataError, match="internal nodes"):
        M.mistake_severity(["cat"], ["mammal"], toy)
    with pytest.raises(DataError, match="NaN"):
        M.evaluate_predictions(["cat"], [[np.nan, 0, 0, 0, 1]], toy)
    with pytest.raises(DataError, match="empty"):
        M.accuracy([], [], toy)
    with pytest.raises(TaxoclassError, match="k must be"):
        M.top_k_accuracy(TRUE, PROBA, toy, k=0)
    with pytest.raises(TaxoclassError, match="Taxonomy"):
        M.accuracy(TRUE, PRED, ["cat", "dog"])


# ------------------------------------------------------------------------------------------------ properties
@st.composite
def trees_and_data(draw, max_nodes=14):
    """A random tree (node i's parent is drawn among nodes < i), a class order, labels and probabilities."""
    n = draw(st.integers(3, max_nodes))
    parents = [0, 0] + [draw(st.integers(0, i - 1)) for i in range(3, n)]  # nodes 1, 2 under the root
    children = {i: [] for i in range(n)}
    for child, par in enumerate(parents, start=1):
        children[par].append(child)
    paths = []

    def walk(v, prefix):
        p = prefix + (f"n{v}",)
        if not children[v]:
            paths.append(p)
        for c in children[v]:
            walk(c, p)

    walk(0, ())
    order = draw(st.permutations([p[-1] for p in paths]))
    tax = Taxonomy.from_paths(paths, class_order=order)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    N = draw(st.integers(1, 40))
    y = rng.integers(0, tax.n_classes, N)
    P = rng.random((N, tax.n_classes)) ** 3
    P[np.arange(N), y] += rng.random(N) * draw(st.sampled_from([0.0, 0.5, 2.0]))
    P /= P.sum(1, keepdims=True)
    return tax, y, P


def reference_hierarchical(tax, y_true, y_pred_nodes):
    """HiClass's set formulas written plainly: sets of node paths without the root."""
    inter = pred = true = 0
    per_sample = []
    for t, p in zip(y_true, y_pred_nodes):
        a = set(tax.path(p)[1:])
        b = set(tax.path(tax.classes[t])[1:])
        inter, pred, true = inter + len(a & b), pred + len(a), true + len(b)
        ps = len(a & b) / len(a) if a else 0.0
        rs = len(a & b) / len(b)
        per_sample.append((ps, rs, 2 * ps * rs / (ps + rs) if ps + rs else 0.0))
    hp, hr = (inter / pred if pred else 0.0), inter / true
    return (hp, hr, 2 * hp * hr / (hp + hr) if hp + hr else 0.0), tuple(np.mean(per_sample, axis=0))


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(trees_and_data(), st.integers(0, 2**16))
def test_vectorised_hierarchical_scores_match_the_set_definition(data, seed):
    tax, y, P = data
    rng = np.random.default_rng(seed)
    nodes = [tax.nodes[i] for i in rng.integers(0, len(tax.nodes), len(y))]  # any node, root included
    micro, macro = reference_hierarchical(tax, y, nodes)
    assert M.hierarchical_precision_recall_f1(y, nodes, tax) == pytest.approx(micro)
    assert M.hierarchical_precision_recall_f1(y, nodes, tax, average="macro") == pytest.approx(macro)


@FAST
@given(trees_and_data())
def test_perfect_predictions_score_one(data):
    tax, y, _ = data
    P = np.eye(tax.n_classes)[y]
    m = M.evaluate_predictions(y, P, tax, k=2)
    for key in ("accuracy", "top_k_accuracy", "balanced_accuracy", "f1_macro", "hierarchical_precision_micro",
                "hierarchical_recall_micro", "hierarchical_f1_micro", "hierarchical_f1_macro"):
        assert m[key] == 1.0, key
    assert m["mistake_severity"] == 0.0 and m["hierarchical_distance_at_1"] == 0.0 and m["n_mistakes"] == 0
    assert all(lv["accuracy"] == 1.0 for lv in m["per_level"] if lv["n"])
    assert all(nd["accuracy"] == 1.0 for nd in m["per_node"].values() if nd["n"])


@FAST
@given(trees_and_data())
def test_bounds(data):
    tax, y, P = data
    m = M.evaluate_predictions(y, P, tax, k=3)
    # a correct sample scores hF_i = 1, a wrong one >= 0: macro hF >= accuracy; everything in [0, 1]
    assert m["accuracy"] - 1e-12 <= m["hierarchical_f1_macro"] <= 1.0
    assert m["accuracy"] <= m["top_k_accuracy"]
    if m["n_mistakes"]:
        assert 1.0 <= m["mistake_severity"] <= tax.height  # a mistake's LCA is internal: height >= 1
        assert m["hierarchical_f1_micro"] < 1.0
    # distance@1 = severity * error rate
    assert m["hierarchical_distance_at_1"] == pytest.approx(m["mistake_severity"] * (1 - m["accuracy"]))
    depths = {len(leaf) for leaf in tax.leaves}
    if len(depths) == 1:  # all classes at one depth: hP = hR = hF_micro >= accuracy
        assert m["hierarchical_precision_micro"] == pytest.approx(m["hierarchical_recall_micro"])
        assert m["hierarchical_f1_micro"] >= m["accuracy"] - 1e-12
    # the root routes every sample; its accuracy is the level-1 accuracy
    assert m["per_node"]["n0"]["accuracy"] == pytest.approx(m["per_level"][0]["accuracy"])


@FAST
@given(trees_and_data(), st.randoms(use_true_random=False))
def test_invariant_to_class_order(data, rnd):
    tax, y, P = data
    names = [tax.classes[i] for i in y]
    perm = list(tax.classes)
    rnd.shuffle(perm)
    tax2 = tax.with_class_order(perm)
    cols = [tax.class_index(c) for c in perm]
    P2 = P[:, cols]
    top = -np.sort(-P, axis=1)[:, :3]
    assume(np.all(np.diff(top, axis=1) < 0))  # ties among the top-k may break differently under another order
    a = M.evaluate_predictions(names, P, tax, k=2)
    b = M.evaluate_predictions(names, P2, tax2, k=2)
    for key, v in a.items():
        if key in ("classes", "confusion_matrix"):
            continue
        if isinstance(v, float):
            assert b[key] == pytest.approx(v), key
        elif key == "per_class":
            assert b[key] == {c: v[c] for c in perm}
        else:
            assert b[key] == v, key
    inv = [perm.index(c) for c in tax.classes]
    assert np.array_equal(np.array(b["confusion_matrix"])[np.ix_(inv, inv)], a["confusion_matrix"])


@FAST
@given(trees_and_data())
def test_flat_taxonomy_reduces_hierarchical_scores_to_accuracy(data):
    tax, y, P = data
    flat = Taxonomy.from_paths([[c] for c in tax.classes])  # artificial root -> one level
    m = M.evaluate_predictions(y, P, flat, k=1)
    for key in ("hierarchical_precision_micro", "hierarchical_recall_micro", "hierarchical_f1_micro",
                "hierarchical_f1_macro"):
        assert m[key] == pytest.approx(m["accuracy"]), key
    assert m["mistake_severity"] == (1.0 if m["n_mistakes"] else 0.0)


@FAST
@given(trees_and_data(), st.floats(0.0, 1.0))
def test_threshold_predictions_stop_at_the_deepest_sure_node(data, threshold):
    tax, y, P = data
    nodes = M.threshold_predictions(P, tax, threshold)
    for row, node in zip(P, nodes):
        prob = lambda v: row[[tax.class_index(c) for c in tax.classes_under(v)]].sum()  # noqa: E731
        if node != tax.root:
            assert prob(node) >= threshold - 1e-12
        kids = tax.children(node)
        if kids:
            assert max(prob(k) for k in kids) < threshold
    if threshold == 0.0:  # always descends to a class
        assert all(tax.is_leaf(n) for n in nodes)
