"""Coarse heads (B-CNN's branch points): the group table, the loss on a hand-made case, training, saving, checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from taxoclass import Taxonomy, load_model  # noqa: E402
from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models.coarse_heads import CoarseHeads, check_coarse_levels, coarse_targets, tap_trunk  # noqa: E402
from taxoclass.models.tree import TreeClassifier  # noqa: E402
from taxoclass.models.trunk import build_trunk  # noqa: E402
from taxoclass.taxonomy.internal_labels import code_nodes  # noqa: E402

from test_tree import SIZE, TAX, synthetic  # noqa: E402

DEEP = Taxonomy.from_paths([["a", "x", "p"], ["a", "x", "q"], ["a", "y"], ["b", "z", "r"], ["b", "z", "s"]])


@st.composite
def taxonomies(draw):
    """Random trees of depth up to 4 with 2 to 12 classes (class names unique)."""
    n = draw(st.integers(2, 12))
    paths = []
    for i in range(n):
        depth = draw(st.integers(1, 4))
        groups = [f"g{d}_{draw(st.integers(0, 2))}" for d in range(1, depth)]
        # make each group name carry its parent so that a name never has two parents
        lineage = ["_".join(groups[: d + 1]) for d in range(len(groups))]
        paths.append([*lineage, f"c{i}"])
    return Taxonomy.from_paths(paths)


@settings(max_examples=60, deadline=None)
@given(taxonomies(), st.data())
def test_groups_are_the_ancestors_at_the_depth(tax, data):
    if tax.height < 2:
        return
    depths = tuple(sorted(data.draw(st.sets(st.integers(1, tax.height - 1), min_size=1))))
    table, sizes = coarse_targets(tax, depths)
    nodes = code_nodes(tax)
    assert table.shape == (len(nodes), len(depths))
    for j, d in enumerate(depths):
        col = table[: tax.n_classes, j]
        assert sorted(set(col.tolist())) == list(range(sizes[j]))  # every group has a class; indices 0..n-1
        key = []
        for c in tax.classes:
            path = tax.path(c)
            key.append(path[d] if len(path) > d else path[-1])  # the ancestor at depth d, or the shallow class
        for a in range(tax.n_classes):  # same group <=> same ancestor
            for b in range(tax.n_classes):
                assert (col[a] == col[b]) == (key[a] == key[b])
        for code in range(tax.n_classes, len(nodes)):  # a label at a node: its classes' group, or unknown
            under = tax.classes_under(tax.nodes[nodes[code]])
            groups = {int(col[tax.classes.index(c)]) for c in under}
            if len(groups) == 1 and (tax.depths[nodes[code]] >= d or tax.is_leaf(tax.nodes[nodes[code]])):
                assert table[code, j] == groups.pop()
            else:
                assert table[code, j] == -1


def test_loss_on_a_hand_made_case():
    """Two heads with fixed logits: weight * the summed, sample-weighted cross-entropy, unknown groups left out."""
    heads = CoarseHeads([2, 3], [[0, 2], [1, -1]], weight=0.5, name="c")
    heads.build([(None, 4, 4, 2), (None, 2, 2, 3)])
    for dense, bias in zip(heads.dense, ([1.0, 0.0], [0.0, 1.0, 2.0])):
        dense.kernel.assign(np.zeros(dense.kernel.shape, "float32"))
        dense.bias.assign(np.asarray(bias, "float32"))
    taps = [tf.ones([2, 4, 4, 2]), tf.ones([2, 2, 2, 3])]
    loss = float(heads.loss(taps, tf.constant([0, 1]), tf.constant([1.0, 2.0])))
    lp1 = np.log(np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum())
    lp2 = np.log(np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum())
    # head 1: sample 0 in group 0 (weight 1), sample 1 in group 1 (weight 2); head 2: sample 0 in group 2 only
    expected = 0.5 * (-(1.0 * lp1[0] + 2.0 * lp1[1]) - 1.0 * lp2[2])
    assert loss == pytest.approx(expected, rel=1e-5)
    smoothed = CoarseHeads([2, 3], [[0, 2], [1, -1]], weight=0.5, label_smoothing=0.2)
    smoothed.build([(None, 4, 4, 2), (None, 2, 2, 3)])
    smoothed.set_weights(heads.get_weights())
    ls = 0.8 * -lp1[[0, 1]] + 0.2 * -lp1.mean()
    assert float(smoothed.loss(taps, tf.constant([0, 1]), tf.constant([1.0, 2.0]))) == pytest.approx(
        0.5 * (ls[0] + 2 * ls[1] + 0.8 * -lp2[2] + 0.2 * -lp2.mean()), rel=1e-5)


def test_tapped_trunk_shares_the_layers():
    stem = build_trunk("vgg_bn", (32, 32, 1), width=4)
    tapped = tap_trunk(stem, "vgg_bn", 2)
    assert [tuple(s[1:]) for s in tapped.output_shape] == [(2, 2, 32), (8, 8, 8), (4, 4, 16)]
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(tapped(x)[0]), np.asarray(stem(x)), rtol=1e-6)
    assert tapped.count_params() == stem.count_params()


@pytest.fixture(scope="module")
def coarse_fit():
    X, y = synthetic(300, seed=3)
    clf = TreeClassifier(TAX, input_shape=(SIZE, SIZE, 3), trunk="vgg_bn", width=4, head_units=(16,),
                         flat_head=True, coarse_levels=(1,), coarse_loss_weight=1.0, label_smoothing=0.0,
                         epochs=6, batch_size=32, learning_rate=3e-3, random_state=0).fit(X, y, verbose=0)
    return clf, X, y


def test_training_adds_the_coarse_loss_and_the_head_learns_the_groups(coarse_fit):
    clf, X, y = coarse_fit
    m = clf.model_
    codes = np.array([list(clf.classes_).index(c) for c in y[:64]])
    loss, _, node_losses = m.tree_loss(X[:64], codes, training=False)
    out = m.stem(X[:64], training=False)
    coarse = float(m.coarse_heads.loss(out[1:], tf.constant(codes), tf.ones([64]))) / 64
    without = float(m._total_loss(node_losses, m.flat_head(out[0]), tf.constant(codes), tf.ones([64])))
    assert float(loss) == pytest.approx(without + coarse, rel=1e-5)
    assert coarse > 0
    # the depth-1 head (colour = group) is right far above chance (1/3) though it is never used to predict
    pred = np.argmax(np.asarray(m.coarse_heads(out[1:])[0]), axis=1)
    groups = coarse_targets(TAX, (1,))[0][codes, 0]
    assert (pred == groups).mean() > 0.8
    assert (clf.predict(X) == y).mean() > 0.8
    assert len(clf.predict_proba(X[:5])[0]) == TAX.n_classes


def test_save_and_load_keep_the_heads(coarse_fit, tmp_path):
    clf, X, _ = coarse_fit
    clf.save(tmp_path / "m.taxoclass")
    back = load_model(tmp_path / "m.taxoclass")
    np.testing.assert_allclose(back.predict_proba(X[:8]), clf.predict_proba(X[:8]), atol=1e-6)
    assert back.model_.coarse_heads.sizes == [3]
    for a, b in zip(back.model_.coarse_heads.get_weights(), clf.model_.coarse_heads.get_weights()):
        np.testing.assert_array_equal(a, b)  # the heads' weights too: a resumed run goes on training them
    assert back.coarse_levels == (1,) or list(back.coarse_levels) == [1]


@pytest.mark.parametrize("levels, trunk, words", [
    ((0,), "vgg_bn", "depths from 1 to 2"),
    ((3,), "vgg_bn", "depths from 1 to 2"),
    ((1, 1), "vgg_bn", "without repeats"),
    (("x",), "vgg_bn", "depths from 1 to 2"),
    ((1,), None, "no named stages"),
    ((1,), "small_cnn", "no named stages"),
])
def test_bad_levels_are_refused_with_one_message(levels, trunk, words):
    with pytest.raises(ModelError, match=words.replace("(", r"\(")):
        check_coarse_levels(levels, 0.3, DEEP, trunk)
    clf = TreeClassifier(DEEP, input_shape=(16, 16, 1), trunk=trunk, coarse_levels=levels)
    with pytest.raises(ModelError):
        clf._validate_params()


def test_a_cut_trunk_and_a_bad_weight_are_refused():
    with pytest.raises(ModelError, match="whole trunk"):
        TreeClassifier(DEEP, input_shape=(16, 16, 1), trunk="vgg_bn", node_block="small_cnn",
                       coarse_levels=(1,))._validate_params()
    for w in (0, -1, 11, True, "0.3"):
        with pytest.raises(ModelError, match="coarse_loss_weight"):
            check_coarse_levels((1,), w, DEEP, "vgg_bn")
    deeper = Taxonomy.from_paths([["a", "b", "c", "d"], ["a", "b", "c", "e"], ["f", "g", "h", "i"]])
    with pytest.raises(ModelError, match="3 coarse levels need 4 trunk stages"):
        check_coarse_levels((1, 2, 3), 0.3, deeper, "resnet_small")  # 3 stages: 2 coarse heads at most
    assert check_coarse_levels((1, 3), 0.3, deeper, "resnet_small") == (1, 3)
    assert check_coarse_levels(None, 0.3, DEEP, None) == ()
    assert check_coarse_levels([2, 1], 1, DEEP, "vgg_bn") == (1, 2)


def test_the_benchmark_checks_coarse_levels_for_every_tree_before_training():
    from taxoclass.comparison import _check_coarse

    # the error tree (one cluster level: height 2) cannot take depth 2, though the taxonomy tree (height 3) can
    with pytest.raises(ModelError, match="error_tree: coarse_levels .--coarse-levels. must be taxonomy depths from 1 to 1"):
        _check_coarse((2,), None, ["flat", "taxonomy_tree", "error_tree"], DEEP, "vgg_bn", None, "auto", 1)
    _check_coarse((1,), 0.5, ["flat", "taxonomy_tree", "error_tree"], DEEP, "vgg_bn", None, "auto", 1)
    with pytest.raises(Exception, match="trains none"):
        _check_coarse((1,), None, ["flat", "flat_block"], DEEP, "vgg_bn", None, "auto", 1)
    with pytest.raises(ModelError, match="no named stages"):
        _check_coarse((1,), None, ["combined"], DEEP, "small_cnn", None, "auto", 1)


def test_a_depth_with_one_group_and_odd_levels_are_refused():
    living = Taxonomy.from_paths([["life", "living", "a", "p"], ["life", "living", "a", "q"],
                                  ["life", "living", "b", "r"]])  # root "life", then one node at depth 1
    with pytest.raises(ModelError, match="same ancestor at depth 1"):  # a head with one group learns nothing
        check_coarse_levels((1,), 0.3, living, "vgg_bn")
    assert check_coarse_levels((2,), 0.3, living, "vgg_bn") == (2,)
    for bad in ("1", "12", [float("inf")], [True]):  # a string is not a list of depths; inf used to overflow
        with pytest.raises(ModelError, match="depths from 1 to 2"):
            check_coarse_levels(bad, 0.3, DEEP, "vgg_bn")
    with pytest.raises(ModelError, match="coarse_loss_weight"):  # checked without coarse levels too
        check_coarse_levels(None, -1, DEEP, "vgg_bn")


def test_a_misspelt_node_block_is_named_before_the_coarse_check():
    with pytest.raises(ModelError, match="unknown node_block 'Dense'"):
        TreeClassifier(DEEP, input_shape=(16, 16, 1), trunk="vgg_bn", node_block="Dense",
                       coarse_levels=(1,))._validate_params()


def test_the_error_tree_gets_the_coarse_levels_it_has_room_for():
    from taxoclass.comparison import _check_coarse, _error_coarse
    from taxoclass.models.coarse_heads import usable_coarse_levels

    # cluster_levels="all": the height is unknown before the merges; this used to be int("all"), a traceback
    _check_coarse((1, 2), None, ["flat", "error_tree"], None, "vgg_bn", None, "auto", "all")
    no_groups = Taxonomy.from_paths([["p"], ["q"], ["r"]])  # no cluster of two classes: height 1
    said = []
    assert _error_coarse((1,), no_groups, said.append) is None
    assert len(said) == 1 and "coarse levels none of 1" in said[0] and "height 1" in said[0]
    grouped = Taxonomy.from_paths([["cluster_1", "p"], ["cluster_1", "q"], ["r"]])
    said.clear()
    assert _error_coarse((1,), grouped, said.append) == (1,) and not said
    assert _error_coarse(None, grouped, said.append) is None and not said
    assert usable_coarse_levels((2, 1), DEEP) == (1, 2)
    assert usable_coarse_levels((1, 2, 3), grouped) == (1,)


def test_the_validation_loss_has_the_training_loss_terms(coarse_fit):
    clf, X, y = coarse_fit
    m = clf.model_
    codes = np.array([list(clf.classes_).index(c) for c in y[:64]])
    loss = float(m.tree_loss(X[:64], codes, training=False)[0])
    logs = m.evaluate(X[:64], codes, batch_size=64, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(loss, rel=1e-4)  # the coarse heads' loss included, as in training
