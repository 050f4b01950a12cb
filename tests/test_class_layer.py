"""The flat model's lineage class layer (``class_layer="lineage"``, ``--class-layer lineage``): each class's weight
vector and bias are the sums of those of the nodes on its lineage (the tree-based prior of pairs TP in
docs/benchmarks.md); the summing matrix is fixed, saved with the model and never trained."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")

from taxoclass import Taxonomy  # noqa: E402
from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models import load_model  # noqa: E402
from taxoclass.models.flat import FlatClassifier, lineage_logits  # noqa: E402
from test_flat import stripes  # noqa: E402  (the separable stripes problem and its >= 0.9 target)

TAX = Taxonomy.from_paths([["lines", "horizontal"], ["lines", "vertical"], ["grid", "checker"]])


def test_lineage_logits_by_hand():
    """Nodes below the root in pre-order: lines, horizontal, vertical, grid, checker. Class logit = its family's
    score + its own."""
    inp = keras.Input((2,))
    model = keras.Model(inp, lineage_logits(inp, TAX))
    scores = model.get_layer("node_scores")
    # node score = x @ column + bias, one column per node
    kernel = np.array([[1.0, 10.0, 100.0, 1000.0, 10000.0],
                       [2.0, 20.0, 200.0, 2000.0, 20000.0]], "float32")
    bias = np.array([0.5, 0.0, 0.0, -0.5, 0.25], "float32")
    scores.set_weights([kernel, bias])
    names = [TAX.name(v) for v in TAX.nodes if v != TAX.root]
    assert names == ["lines", "horizontal", "vertical", "grid", "checker"]
    x = np.array([[1.0, 1.0]], "float32")
    node = x @ kernel + bias                                   # 3.5, 30, 300, 2999.5, 30000.25
    expected = {"horizontal": node[0, 0] + node[0, 1], "vertical": node[0, 0] + node[0, 2],
                "checker": node[0, 3] + node[0, 4]}
    got = np.asarray(model(x))[0]
    np.testing.assert_allclose(got, [expected[c] for c in TAX.classes], rtol=1e-6)
    assert model.get_layer("logits").trainable is False and not model.get_layer("logits").trainable_weights


@st.composite
def trees(draw):
    """Random trees of 2-9 classes, 1-4 levels deep, families of random sizes (pass-through nodes included)."""
    n = draw(st.integers(2, 9))
    depth = draw(st.integers(1, 4))
    paths = []
    for c in range(n):
        groups = [f"g{d}_{draw(st.integers(0, 2))}" for d in range(depth - 1)]
        paths.append([*[f"{'_'.join(groups[:d + 1])}" for d in range(len(groups))], f"class{c}"])
    return Taxonomy.from_paths(paths)


@settings(max_examples=15, deadline=None)
@given(tax=trees(), seed=st.integers(0, 1000))
def test_each_class_weight_is_the_sum_over_its_lineage(tax, seed):
    rng = np.random.default_rng(seed)
    inp = keras.Input((3,))
    model = keras.Model(inp, lineage_logits(inp, tax))
    scores = model.get_layer("node_scores")
    kernel = rng.normal(size=(3, len(tax.nodes) - 1)).astype("float32")
    bias = rng.normal(size=len(tax.nodes) - 1).astype("float32")
    scores.set_weights([kernel, bias])
    column = {tax.name(v): j for j, v in enumerate(v for v in tax.nodes if v != tax.root)}
    # a named root (one top group) is on every lineage: a vector common to all classes, which a softmax ignores,
    # so the layer leaves it out
    path = {c: [n for n in tax.lineage(c) if n != tax.name(tax.root)] for c in tax.classes}
    w = np.stack([sum(kernel[:, column[n]] for n in path[c]) for c in tax.classes], axis=1)
    b = np.array([sum(bias[column[n]] for n in path[c]) for c in tax.classes])
    x = rng.normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), x @ w + b, rtol=1e-4, atol=1e-4)


def test_a_flat_model_with_the_lineage_layer_learns_saves_and_keeps_the_summing_matrix(tmp_path):
    X, y = stripes(480, seed=0)
    clf = FlatClassifier(TAX, class_layer="lineage", backbone="small_cnn", input_shape=(32, 32, 1), weights=None,
                         head_units=(32,), epochs=(0, 4), batch_size=16, random_state=0)
    fixed = np.asarray(clf.fit(X[:400], y[:400], verbose=0).model_.get_layer("logits").kernel)
    expected = np.delete(TAX.membership, TAX.node_index(TAX.root), axis=1).T
    np.testing.assert_array_equal(fixed, expected)            # trained 4 epochs, never changed
    assert clf.evaluate(X[400:], y[400:])["accuracy"] >= 0.9    # the target test_flat sets the dense layer
    clf.save(tmp_path / "m.taxoclass")
    back = load_model(tmp_path / "m.taxoclass")
    assert back.class_layer == "lineage"
    np.testing.assert_allclose(back.predict_proba(X[400:]), clf.predict_proba(X[400:]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(class_layer="tree"), "class_layer must be one of dense, lineage"),
    (dict(class_layer="lineage", taxonomy=None), "pass taxonomy="),
])
def test_bad_class_layers_are_refused(kwargs, message):
    params = dict(backbone="small_cnn", input_shape=(16, 16, 1), weights=None, taxonomy=TAX) | kwargs
    tax = params.pop("taxonomy")
    with pytest.raises(ModelError, match=message):
        FlatClassifier(tax, **params).fit(np.zeros((2, 16, 16, 1), "float32"), ["checker", "vertical"], verbose=0)
