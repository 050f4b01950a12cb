"""Tree training logs (top-1 vs path accuracy), label smoothing of node losses, the coarse-to-fine level schedule on
the shared trunk, and the combined model (tree heads + flat head on one trunk)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from taxoclass import Taxonomy  # noqa: E402
from taxoclass.exceptions import ModelError  # noqa: E402
from taxoclass.models.base import BaseClassifier  # noqa: E402
from taxoclass.models.tree import TreeClassifier, TreeStructure  # noqa: E402
from taxoclass.models.tree_model import TreeModel  # noqa: E402

from test_tree import SMALL, TAX, synthetic  # noqa: E402


# ------------------------------------------------------------------ node losses by hand
def _fixed_logit_tree(tax, biases, label_smoothing, routing="gather", node_label_smoothing=None):
    """A TreeModel whose every branch outputs fixed logits (zero kernel + bias), on an identity stem."""
    s = TreeStructure(tax)
    inp = keras.Input((2,))
    stem = keras.Model(inp, inp)
    branches = []
    for k, b in enumerate(biases):
        i = keras.Input((2,))
        layer = keras.layers.Dense(len(b), kernel_initializer="zeros")
        branches.append(keras.Model(i, layer(i), name=f"b{k}"))
        layer.bias.assign(np.asarray(b, "float32"))
    return TreeModel(stem, branches, s.edge_matrix, s.targets, s.levels, s.next_classifier, entry=s.entry,
                     n_levels=s.n_levels, routing=routing, label_smoothing=label_smoothing,
                     node_label_smoothing=node_label_smoothing)


# root -> {a, b}; a -> {x, y, w} (3 children: the root's 2 logits are padded in the gathered step); b -> z
HAND = Taxonomy.from_paths([["a", "x"], ["a", "y"], ["a", "w"], ["b", "z"]])


def _nll(logits):
    z = np.asarray(logits, float)
    return np.log(np.exp(z).sum()) - z  # -log softmax


@pytest.mark.parametrize("routing", ["gather", "mask"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_node_losses_with_label_smoothing_by_hand(routing, eps):
    root, a = [1.0, 0.0], [0.0, 2.0, 1.0]
    m = _fixed_logit_tree(HAND, [root, a], eps, routing)
    x = np.zeros((2, 2), "float32")
    y = HAND.encode(["x", "z"])

    def smooth(nll, j):  # (1 - e) * CE + e * mean over the node's real children
        return (1 - eps) * nll[j] + eps * nll.mean()

    expected_x = smooth(_nll(root), 0) + smooth(_nll(a), 0)  # x: root -> a, a -> x
    expected_z = smooth(_nll(root), 1)  # z: root -> b, then no decision
    loss, correct, node_losses = m.tree_loss(x, y)
    assert float(loss) == pytest.approx((expected_x + expected_z) / 2, rel=1e-5)
    assert node_losses.numpy().tolist() == pytest.approx([smooth(_nll(root), 0) + smooth(_nll(root), 1),
                                                          smooth(_nll(a), 0)], rel=1e-5)
    # path accuracy: x needs root->a (right: logit 1 > 0) and a->x (wrong: y has the top logit); z's root
    # decision (b) is wrong
    assert correct.numpy().tolist() == [0.0, 0.0]
    logs = m.test_step((x, y))  # the validation step computes the same loss from every node on every sample
    assert float(logs["loss"]) == pytest.approx(float(loss), rel=1e-5)
    if eps == 0:
        p = np.asarray(m(x))
        assert float(loss) == pytest.approx(-np.log(p[[0, 1], y]).mean(), rel=1e-5)


@pytest.mark.parametrize("routing", ["gather", "mask"])
def test_node_label_smoothing_is_set_apart_from_the_flat_heads(routing):
    root, a = [1.0, 0.0], [0.0, 2.0, 1.0]
    x, y = np.zeros((2, 2), "float32"), HAND.encode(["x", "z"])

    def loss(label_smoothing, node_label_smoothing=None):
        m = _fixed_logit_tree(HAND, [root, a], label_smoothing, routing, node_label_smoothing)
        return float(m.tree_loss(x, y)[0]), float(m.test_step((x, y))["loss"]), m

    plain, smoothed = loss(0.0), loss(0.1)
    assert smoothed[0] != pytest.approx(plain[0], rel=1e-3)  # so that the checks below can fail
    apart, unsmoothed = loss(0.0, 0.1), loss(0.1, 0.0)
    assert apart[:2] == pytest.approx(smoothed[:2], rel=1e-6)  # the nodes follow node_label_smoothing alone
    assert unsmoothed[:2] == pytest.approx(plain[:2], rel=1e-6)
    m = unsmoothed[2]
    assert (m.label_smoothing, m.node_label_smoothing) == (0.1, 0.0)
    config = m.get_config()
    assert (config["label_smoothing"], config["node_label_smoothing"]) == (0.1, 0.0)
    config.pop("node_label_smoothing")  # a model file from before the option: the nodes take label_smoothing
    assert TreeModel.from_config(config).node_label_smoothing == 0.1


# ------------------------------------------------------------------ logs
@pytest.fixture(scope="module")
def fitted_with_validation():
    X, y = synthetic(192, seed=11)
    Xv, yv = synthetic(96, seed=12)
    # the last epoch's weights are kept, so that its logged validation figures can be recomputed from the model
    clf = TreeClassifier(TAX, epochs=2, restore_best=False, **SMALL).fit(X, y, validation_data=(Xv, yv), verbose=0)
    return clf, Xv, yv


def test_val_accuracy_is_top1_and_path_accuracy_has_its_own_name(fitted_with_validation):
    clf, Xv, yv = fitted_with_validation
    h = clf.history_
    assert set(h) >= {"loss", "path_accuracy", "val_loss", "val_path_accuracy", "val_accuracy"}
    assert "accuracy" not in h  # top-1 is not computed on training batches (it needs every node)
    # val_accuracy: argmax of the leaf probabilities, the quantity every other model logs
    top1 = float((clf.predict(Xv) == yv).mean())
    assert h["val_accuracy"][-1] == pytest.approx(top1, abs=1e-6)
    assert h["val_accuracy"][-1] == pytest.approx(clf.evaluate(Xv, yv)["accuracy"], abs=1e-6)
    # val_path_accuracy: every decision on the true path right
    m, s = clf.model_, clf.structure_
    logp = m.node_log_probs(Xv).numpy()
    tgt = s.targets[TAX.encode(yv)]
    ok = np.ones(len(yv), bool)
    for k in range(s.n_classifiers):
        lo, hi = s.offsets[k], s.offsets[k + 1]
        under = tgt[:, k] >= 0
        ok &= ~under | (logp[:, lo:hi].argmax(axis=1) == tgt[:, k])
    assert h["val_path_accuracy"][-1] == pytest.approx(ok.mean(), abs=1e-6)


# ------------------------------------------------------------------ B-CNN schedule on the shared trunk
def test_coarse_to_fine_level_schedule_on_the_shared_trunk():
    X, y = synthetic(96, seed=13)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(self.model.level_weights.numpy().tolist())

    clf = TreeClassifier(TAX, epochs=3, level_schedule="coarse_to_fine", **SMALL)
    clf.fit(X, y, verbose=0, callbacks=[Spy()])
    assert clf.model_.stem.name == "resnet_small_backbone"  # the default shared trunk
    assert seen == [pytest.approx([1.0, 0.01]), pytest.approx([0.1, 1.0]), [1.0, 1.0]]
    with pytest.raises(ModelError, match="not both"):
        TreeClassifier(TAX, level_schedule="coarse_to_fine", level_loss_weights=[1, 1], **SMALL).fit(X, y)
    with pytest.raises(ModelError, match="level_schedule must be None or one of coarse_to_fine"):
        TreeClassifier(TAX, level_schedule="fine_first", **SMALL).fit(X, y)


def test_coarse_to_fine_follows_the_time_budget():
    """With time_budget the number of epochs is unknown in advance: the stages follow the share of the budget spent
    (stage s from s/3 of it, two levels). On a clock the test sets, every stage at its share; in a real 24-second fit,
    the stages in order, from the coarse one to every level (the middle stage's 8 s can fall inside the first
    epoch, which traces the graphs, on a loaded machine)."""
    from taxoclass.models.level_weights import LevelWeightSchedule

    class Clock:
        seconds, spent = 30.0, 0.0

        def elapsed(self):
            return self.spent

    clock = Clock()
    schedule = LevelWeightSchedule.coarse_to_fine_in_time(2, clock)
    expected = {0.0: [1.0, 0.01], 9.9: [1.0, 0.01], 10.0: [0.1, 1.0], 19.9: [0.1, 1.0], 20.0: [1.0, 1.0],
                45.0: [1.0, 1.0]}
    for spent, weights in expected.items():
        clock.spent = spent
        assert schedule.weights_at(99) == weights, spent  # the epoch number plays no part

    X, y = synthetic(96, seed=13)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append([round(float(v), 3) for v in self.model.level_weights.numpy()])

    clf = TreeClassifier(TAX, time_budget=0.4, level_schedule="coarse_to_fine", **SMALL)
    clf.fit(X, y, validation_data=(X[:32], y[:32]), verbose=0, callbacks=[Spy()])
    stages = [[[1.0, 0.01], [0.1, 1.0], [1.0, 1.0]].index(w) for w in seen]
    assert stages == sorted(stages) and stages[0] == 0 and stages[-1] == 2 and len(seen) >= 3, seen


# ------------------------------------------------------------------ combined model
@pytest.fixture(scope="module")
def combined():
    X, y = synthetic(192, seed=14)
    return TreeClassifier(TAX, epochs=2, flat_head=True, flat_head_units=(12,), combine="mean",
                          **SMALL).fit(X, y, verbose=0)


def test_combined_model_averages_the_tree_and_flat_heads(combined, tmp_path):
    X, y = synthetic(40, seed=15)
    p = combined.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    p_tree, p_flat = (np.asarray(v) for v in combined.model_.heads_proba(X))
    np.testing.assert_allclose(p_tree.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(p_flat.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(p_tree, p_flat, atol=1e-3)  # two different heads, so the check below can fail
    np.testing.assert_allclose(p, (p_tree + p_flat) / 2, rtol=1e-4, atol=1e-6)
    again = BaseClassifier.load(combined.save(tmp_path / "combined.taxoclass"))
    np.testing.assert_allclose(again.predict_proba(X), p, rtol=1e-5, atol=1e-7)
    assert again.model_.flat_head is not None and again.model_.combine == "mean"
    # the flat head has its own hidden layer (flat_head_units), not the node heads' (head_units)
    assert tuple(again.flat_head_units) == (12,) and again.model_.flat_head.get_layer("flat_head_dense1").units == 12
    assert combined.model_.node_heads.units == tuple(combined.head_units) == (16,)
    assert "flat head: 9-way softmax on the trunk" in again.summary()


def test_geometric_combination_is_the_normalised_geometric_mean(combined):
    X, _ = synthetic(20, seed=16)
    m = combined.model_
    m.combine = "geometric"
    try:
        p = np.asarray(m(X))
    finally:
        m.combine = "mean"
    p_tree, p_flat = (np.asarray(v, float) for v in m.heads_proba(X))
    g = np.sqrt(p_tree * p_flat)
    np.testing.assert_allclose(p, g / g.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_combined_training_loss_adds_the_flat_cross_entropy(combined):
    X, y = synthetic(16, seed=17)
    m = combined.model_
    yi = TAX.encode(y)
    loss, _, node_losses = m.tree_loss(X, yi)
    _, p_flat = m.heads_proba(X)
    flat_nll = -np.log(np.asarray(p_flat)[np.arange(len(yi)), yi])
    flat_uniform = -np.log(np.asarray(p_flat)).mean(axis=1)
    flat = (0.9 * flat_nll + 0.1 * flat_uniform).sum()  # label smoothing 0.1 (the default)
    assert float(loss) == pytest.approx((float(np.sum(node_losses)) + flat) / len(yi), rel=1e-4)
    # by default a combined model's node heads share the label smoothing out over the path: every class of TAX
    # lies two decisions deep (colour, then shape), so each node is smoothed by 1 - 0.9 ** (1 / 2) = 0.0513
    assert combined.structure_.mean_path_classifiers() == 2.0
    assert m.label_smoothing == 0.1 and m.node_label_smoothing == pytest.approx(1 - 0.9 ** 0.5, rel=1e-6)
    assert (1 - m.node_label_smoothing) ** 2 == pytest.approx(0.9)  # the true leaf keeps 0.9 of the path's mass
    with pytest.raises(ModelError, match="combine must be one of mean, geometric"):
        TreeClassifier(TAX, flat_head=True, combine="max", **SMALL).fit(X, y)
    assert math.isfinite(float(loss))


# ------------------------------------------------------------------ dense node blocks on the whole trunk
def test_dense_node_blocks_read_the_whole_trunk_and_cost_about_a_flat_model():
    """node_block="dense": every node is an MLP on the whole trunk's pooled features (trunk_layer "auto" does not
    cut the trunk), so the tree's multiply-adds are the flat model's plus a few small Dense layers; it learns."""
    from taxoclass.models.backbones import build_backbone, default_trunk_cut
    from taxoclass.models.blocks import block_flops, build_branch

    X, y = synthetic(192, seed=21)
    tree = TreeClassifier(TAX, trunk="small_cnn", node_block="dense", head_units=(16,), epochs=8, batch_size=32,
                          learning_rate=3e-3, random_state=0, input_shape=SMALL["input_shape"], weight_decay=0.0,
                          label_smoothing=0.0).fit(X, y)
    stem = tree.model_.stem
    whole = build_backbone("small_cnn", SMALL["input_shape"])
    cut = build_backbone("small_cnn", SMALL["input_shape"], cut_layer=default_trunk_cut("small_cnn"))
    assert stem.output_shape == whole.output_shape  # the whole trunk, not cut before its last stage
    heads = tree.model_.node_heads  # every dense head in one layer of stacked weights
    assert heads is not None and not tree.model_.branches and heads.units == (16,)
    per_node = max(heads.node_flops(k) for k in range(len(heads.widths)))
    # the same count as the equivalent one-model-per-node branch
    assert per_node == max(block_flops(build_branch(stem.output_shape[1:], w, node_block="dense", head_units=(16,)))
                           for w in heads.widths)
    assert per_node < 0.02 * block_flops(stem)  # a node head is negligible next to the trunk
    conv_node = build_branch(cut.output_shape[1:], 3, block_filters=(8, 16), head_units=(16,))
    assert block_flops(conv_node) > 10 * per_node
    X_test, y_test = synthetic(64, seed=22)
    assert (tree.predict(X_test) == y_test).mean() > 0.8


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), st.integers(1, 30), st.integers(0, 2**32 - 1), st.sampled_from(["mean", "geometric"]))
def test_chosen_combine_weight_is_never_worse_than_either_head(n_classes, n, seed, how):
    from taxoclass.models.tree_model import choose_combine_weight, combine_log_proba

    rng = np.random.default_rng(seed)
    p_tree, p_flat = rng.dirichlet(np.ones(n_classes), n), rng.dirichlet(np.ones(n_classes), n)
    y = rng.integers(0, n_classes, n)
    w = choose_combine_weight(p_tree, p_flat, y, how)
    assert 0.0 <= w <= 1.0
    acc = (np.asarray(combine_log_proba(np.log(p_tree), np.log(p_flat), w, how)).argmax(1) == y).mean()
    assert acc >= max((p_tree.argmax(1) == y).mean(), (p_flat.argmax(1) == y).mean()) - 1e-12


def test_node_label_smoothing_defaults_and_refusals():
    X, y = synthetic(64, seed=18)
    tree = TreeClassifier(TAX, epochs=1, **SMALL).fit(X, y, verbose=0)
    assert tree.model_.node_label_smoothing == pytest.approx(0.1)  # the tree alone: label_smoothing
    unsmoothed = TreeClassifier(TAX, epochs=1, flat_head=True, node_label_smoothing=0, **SMALL).fit(X, y, verbose=0)
    m = unsmoothed.model_
    yi = TAX.encode(y[:16])
    _, _, node_losses = m.tree_loss(X[:16], yi)
    p_tree, _ = m.heads_proba(X[:16])  # unsmoothed nodes: their losses sum to the tree's leaf NLL
    tree_nll = -np.log(np.asarray(p_tree, float)[np.arange(16), yi])
    assert float(np.sum(node_losses)) == pytest.approx(tree_nll.sum(), rel=1e-4)
    given = TreeClassifier(TAX, epochs=1, flat_head=True, node_label_smoothing=0.05, **SMALL).fit(X, y, verbose=0)
    assert (given.model_.label_smoothing, given.model_.node_label_smoothing) == pytest.approx((0.1, 0.05))
    for bad in (1.0, -0.1, "0.1"):
        with pytest.raises(ModelError, match="node_label_smoothing must be a number in"):
            TreeClassifier(TAX, node_label_smoothing=bad, **SMALL).fit(X, y)


def test_combined_model_chooses_its_weight_on_the_validation_split(tmp_path):
    X, y = synthetic(160, seed=31)
    Xv, yv = synthetic(64, seed=32)
    clf = TreeClassifier(TAX, epochs=2, flat_head=True, **SMALL).fit(X, y, validation_data=(Xv, yv), verbose=0)
    w = clf.combine_weight_
    p_tree, p_flat = (np.asarray(v, float) for v in clf.model_.heads_proba(Xv))
    yi = TAX.encode(yv)
    p = clf.predict_proba(Xv, calibrated=False)  # the mixture itself; the temperature comes on top
    np.testing.assert_allclose(p, w * p_tree + (1 - w) * p_flat, rtol=1e-4, atol=1e-6)
    assert (p.argmax(1) == yi).mean() >= max((p_tree.argmax(1) == yi).mean(), (p_flat.argmax(1) == yi).mean())
    assert f"tree weight {w:.2f}" in clf.summary()
    again = BaseClassifier.load(clf.save(tmp_path / "c.taxoclass"))
    assert again.combine_weight_ == pytest.approx(w)
    assert TreeClassifier(TAX, **SMALL).fit(X[:32], y[:32], epochs=1, verbose=0).combine_weight_ is None


def test_a_combined_model_file_from_before_flat_head_units_loads_with_its_head(tmp_path):
    """Files written before ``flat_head_units`` existed had a flat head of ``head_units``; they load with it."""
    import json
    import zipfile

    X, y = synthetic(96, seed=16)
    old_style = TreeClassifier(TAX, epochs=1, flat_head=True, flat_head_units=tuple(SMALL["head_units"]),
                               **SMALL).fit(X, y, verbose=0)
    path = old_style.save(tmp_path / "new.taxoclass")
    old = tmp_path / "old.taxoclass"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "metadata.json":
                meta = json.loads(data)
                assert meta["params"].pop("flat_head_units") == list(SMALL["head_units"])
                data = json.dumps(meta).encode()
            dst.writestr(item, data)
    again = BaseClassifier.load(old)
    assert tuple(again.flat_head_units) == tuple(SMALL["head_units"])
    np.testing.assert_allclose(again.predict_proba(X[:20]), old_style.predict_proba(X[:20]), rtol=1e-5, atol=1e-7)
