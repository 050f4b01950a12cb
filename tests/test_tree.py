"""TreeClassifier / TreeModel: learning, masking, in-graph path products, greedy/threshold inference, save/load."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxoclass import Taxonomy
from taxoclass.exceptions import ClassMismatchError, ModelError

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from taxoclass.models.base import BaseClassifier  # noqa: E402
from taxoclass.models.tree import LevelWeightSchedule, TreeClassifier, TreeStructure  # noqa: E402

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
SHAPES = ("square", "disc", "bar")
SIZE = 16


def _mask(kind):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    c = (SIZE - 1) / 2
    if kind == "square":
        return (abs(yy - c) < 5) & (abs(xx - c) < 5)
    if kind == "disc":
        return (yy - c) ** 2 + (xx - c) ** 2 < 25
    return abs(yy - c) < 2


def synthetic(n, seed=0, classes=None):
    """Colour = group, shape = class, on a grey background with pixel noise."""
    rng = np.random.default_rng(seed)
    classes = classes or [f"{g}_{s}" for g in COLOURS for s in SHAPES]
    y = rng.choice(classes, n)
    X = np.full((n, SIZE, SIZE, 3), 128.0, dtype="float32")
    for i, c in enumerate(y):
        g, s = c.split("_")
        X[i][_mask(s)] = COLOURS[g]
    X += rng.normal(0, 20, X.shape).astype("float32")
    return np.clip(X, 0, 255).astype("float32"), y


TAX = Taxonomy.from_paths([[g, f"{g}_{s}"] for g in COLOURS for s in SHAPES])
SMALL = dict(input_shape=(SIZE, SIZE, 3), block_filters=(8, 16), head_units=(16,), batch_size=32,
             learning_rate=3e-3, random_state=0)


@pytest.fixture(scope="module")
def trained():
    X, y = synthetic(600, seed=0)
    # no label smoothing: the loss is then the leaf NLL, whose fall the tests check
    clf = TreeClassifier(TAX, epochs=8, label_smoothing=0.0, **SMALL).fit(X, y, verbose=0)
    return clf


@pytest.fixture(scope="module")
def test_set():
    return synthetic(300, seed=1)


def node_logits(m, feats, k):
    """Node ``k``'s logits computed by hand (numpy) from the stacked weights of the tree's NodeHeads layer."""
    h = m.node_heads
    x = np.asarray(feats, np.float64)
    x = x.mean(axis=(1, 2)) if x.ndim == 4 else x
    for j, (kernel, bias) in enumerate(zip(h.kernels, h.biases)):
        kernel = kernel.numpy()
        x = np.maximum(x @ (kernel[:, k, :] if j == 0 else kernel[k]) + bias.numpy()[k], 0.0)
    kernel = h.logits_kernel.numpy()
    z = x @ (kernel[k] if h.units else kernel[:, k, :]) + h.logits_bias.numpy()[k]
    return z[:, :h.widths[k]]


def node_weights(m, k, arrays=None):
    """Node ``k``'s slices of the NodeHeads variables (of ``arrays``, {variable path: array}, when given)."""
    h = m.node_heads

    def value(v):
        return np.asarray(v.numpy() if arrays is None else arrays[v.path])

    # kernels: the first (c, K, units) and, with no hidden layer, the logits' (c, K, width) are sliced on axis 1;
    # the others (K, a, b) and every bias (K, b) on axis 0
    first = h.kernels[0] if h.kernels else h.logits_kernel
    return [value(v)[:, k] if v is first else value(v)[k]
            for v in [*h.kernels, h.logits_kernel, *h.biases, h.logits_bias]]


def test_synthetic_hierarchy_learned_above_90_percent(trained, test_set):
    X, y = test_set
    assert (trained.predict(X) == y).mean() > 0.9
    assert (trained.predict(X, mode="greedy") == y).mean() > 0.9
    assert trained.history_["loss"][-1] < 0.5 * trained.history_["loss"][0]
    assert set(trained.history_) >= {"loss", "path_accuracy"}


def test_predict_proba_is_the_product_of_node_probabilities_along_paths(trained, test_set):
    X = test_set[0][:50]
    p = trained.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    m, s = trained.model_, trained.structure_
    assert m.node_heads is not None and not m.branches  # dense heads on the default trunk: one stacked layer
    feats = m.stem(X)
    cond = [tf.nn.softmax(node_logits(m, feats, k)).numpy() for k in range(s.n_classifiers)]
    for li, leaf in enumerate(TAX.leaves):
        expected = np.ones(len(X))
        for d in range(len(leaf) - 1):
            k = s.cls_index[leaf[:d + 1]]
            expected *= cond[k][:, s.children[k].index(leaf[:d + 2])]
        np.testing.assert_allclose(p[:, li], expected, rtol=1e-4, atol=1e-6)


def _random_tree(draw_sizes):
    """A taxonomy from nested child counts (a list per node, depth-first)."""
    paths, counter = [], [0]

    def grow(prefix, depth):
        k = draw_sizes[counter[0] % len(draw_sizes)] if depth < 3 else 0
        counter[0] += 1
        if k == 0 or counter[0] > 40:
            paths.append(prefix)
            return
        for i in range(k):
            grow(prefix + (f"{prefix[-1]}.{i}",), depth + 1)

    grow(("r",), 0)
    return Taxonomy.from_paths(paths) if len(paths) > 1 else None


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 3), min_size=1, max_size=12), seed=st.integers(0, 10_000))
def test_edge_matrix_gives_normalised_path_products(sizes, seed):
    tax = _random_tree(sizes)
    if tax is None:
        return
    s = TreeStructure(tax)
    rng = np.random.default_rng(seed)
    cond = [rng.dirichlet(np.ones(c)) for c in s.n_children]
    logp = np.concatenate([np.log(c) for c in cond]) @ s.edge_matrix
    p = np.exp(logp)
    assert p.sum() == pytest.approx(1.0, abs=1e-9)
    for li, leaf in enumerate(tax.leaves):
        expected = 1.0
        for d in range(len(leaf) - 1):
            k = s.cls_index.get(leaf[:d + 1])
            if k is not None:
                expected *= cond[k][s.children[k].index(leaf[:d + 2])]
            assert s.targets[li, k] == s.children[k].index(leaf[:d + 2]) if k is not None else True
        assert p[li] == pytest.approx(expected, rel=1e-9)
    # every leaf's number of decisions = classifier nodes on its path
    assert (s.targets >= 0).sum(axis=1).tolist() == [sum(leaf[:d + 1] in s.cls_index for d in range(len(leaf) - 1))
                                                     for leaf in tax.leaves]


def _loss_and_grads(model, X, y):
    with tf.GradientTape() as tape:
        loss, correct, node_losses = model.tree_loss(X, y, training=False)
    grads = tape.gradient(loss, model.trainable_variables)
    return loss, node_losses, {v.path: g for v, g in zip(model.trainable_variables, grads)}


def test_masking_node_loss_and_gradients_ignore_samples_outside_subtree(trained):
    m, s = trained.model_, trained.structure_
    red, blue = s.cls_index[("root", "red")], s.cls_index[("root", "blue")]
    X, y = synthetic(12, seed=5, classes=["red_square", "red_disc", "green_bar"])
    yi = TAX.encode(y)
    loss, node_losses, grads = _loss_and_grads(m, X, yi)
    # node 'blue' has no sample under it: zero loss, zero gradients (its head ran on one masked padding row)
    assert float(node_losses[blue]) == 0.0
    arrays = {path: g.numpy() for path, g in grads.items()}
    assert not any(np.any(a) for a in node_weights(m, blue, arrays))
    assert any(np.any(a) for a in node_weights(m, red, arrays))
    # node 'red' sees exactly its samples: its loss is the cross-entropy over the red samples only
    under = np.isin(y, ["red_square", "red_disc"])
    logits = node_logits(m, m.stem(X[under]), red)
    t = [s.children[red].index(TAX.node(c)) for c in y[under]]
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=logits).numpy().sum()
    assert float(node_losses[red]) == pytest.approx(ce, rel=1e-4, abs=1e-6)  # float32 model, float64 by hand
    # changing the images outside red's subtree changes neither red's loss nor its gradients
    X2 = X.copy()
    X2[~under] = np.random.default_rng(0).uniform(0, 255, X2[~under].shape)
    _, node_losses2, grads2 = _loss_and_grads(m, X2, yi)
    assert float(node_losses2[red]) == pytest.approx(float(node_losses[red]), rel=1e-6)
    arrays2 = {path: g.numpy() for path, g in grads2.items()}
    for a2, a in zip(node_weights(m, red, arrays2), node_weights(m, red, arrays)):
        np.testing.assert_allclose(a2, a, rtol=1e-5, atol=1e-7)
    # total loss = mean leaf negative log-likelihood (unit level weights)
    p = trained.predict_proba(X)
    assert float(loss) == pytest.approx(-np.log(p[np.arange(len(y)), yi]).mean(), rel=1e-4)


def test_gathered_and_masked_routing_give_the_same_loss_and_gradients(trained):
    m = trained.model_
    X, y = synthetic(20, seed=7)
    yi = TAX.encode(y)
    loss_g, _, grads_g = _loss_and_grads(m, X, yi)
    m.routing = "mask"
    try:
        loss_m, _, grads_m = _loss_and_grads(m, X, yi)
    finally:
        m.routing = "gather"
    assert float(loss_g) == pytest.approx(float(loss_m), rel=1e-5)
    for k, g in grads_g.items():
        np.testing.assert_allclose(g.numpy(), grads_m[k].numpy(), rtol=1e-4, atol=1e-6)


def test_greedy_agrees_with_soft_on_confident_inputs_and_evaluates_only_the_path(trained, test_set):
    X = test_set[0]
    p = trained.predict_proba(X)
    confident = p.max(axis=1) > 0.9
    assert confident.sum() > 100
    np.testing.assert_array_equal(trained.predict(X[confident], mode="greedy"), trained.predict(X[confident]))
    choice, prob = trained._greedy(X[:40])
    # each sample reaches the root node and exactly one of the three colour nodes
    assert ((choice >= 0).sum(axis=1) == 2).all() and (choice[:, 0] >= 0).all()
    assert ((prob > 0) == (choice >= 0)).all()


def test_threshold_stops_at_the_right_depth(trained, test_set):
    X = test_set[0][:60]
    path = trained.predict_path(X)
    assert list(path.columns) == ["level_1", "p_level_1", "level_2", "p_level_2"]
    np.testing.assert_allclose(path["p_level_2"], trained.predict_proba(X).max(axis=1), rtol=1e-5)
    assert (path["p_level_1"] >= path["p_level_2"] - 1e-6).all()
    assert (trained.predict(X, threshold=0.0) == path["level_2"]).all()
    for t in (0.5, 0.9, 0.999):
        got = trained.predict(X, threshold=t)
        expected = np.where(path["p_level_2"] >= t, path["level_2"],
                            np.where(path["p_level_1"] >= t, path["level_1"], "root"))
        np.testing.assert_array_equal(got, expected)
    # an uncertain input: stops above the leaves
    grey = np.full((1, SIZE, SIZE, 3), 128.0, "float32")
    pp = trained.predict_path(grey).iloc[0]
    got = trained.predict(grey, threshold=0.999)[0]
    assert got == (pp["level_2"] if pp["p_level_2"] >= 0.999 else pp["level_1"] if pp["p_level_1"] >= 0.999
                   else "root")
    with pytest.raises(ModelError, match="threshold"):
        trained.predict(X, threshold=2)
    with pytest.raises(ModelError, match="mode"):
        trained.predict(X, mode="beam")


def test_save_load_identical_predictions(trained, test_set, tmp_path):
    X = test_set[0][:40]
    path = trained.save(tmp_path / "tree.taxoclass")
    for loader in (TreeClassifier.load, BaseClassifier.load):
        back = loader(path)
        assert isinstance(back, TreeClassifier) and back.taxonomy_ == TAX
        np.testing.assert_array_equal(back.predict_proba(X), trained.predict_proba(X))
        np.testing.assert_array_equal(back.predict(X, mode="greedy"), trained.predict(X, mode="greedy"))
        np.testing.assert_array_equal(back.predict(X, threshold=0.9), trained.predict(X, threshold=0.9))
    assert tuple(back.block_filters) == (8, 16)
    assert back.summary() == trained.summary()


def test_forest_with_artificial_root_and_single_child_chains():
    # tops 'warm' and 'cold' (artificial root); warm -> hot -> {red, yellow} is a single-child chain
    tax = Taxonomy.from_paths([["warm", "hot", "red_square"], ["warm", "hot", "red_disc"],
                               ["cold", "blue_square"], ["cold", "blue_bar"], ["green_disc"]])
    assert tax.artificial_root
    s = TreeStructure(tax)
    assert [n[-1] for n in s.classifier_nodes] == ["root", "hot", "cold"]
    X, y = synthetic(300, seed=3, classes=list(tax.classes))
    clf = TreeClassifier(tax, epochs=6, **SMALL).fit(X, y, verbose=0)
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (clf.predict(X) == y).mean() > 0.8
    path = clf.predict_path(X[:20], mode="greedy")
    warm = path["level_1"] == "warm"
    # the chain node 'hot' carries the same path probability as 'warm'
    np.testing.assert_allclose(path.loc[warm, "p_level_2"], path.loc[warm, "p_level_1"], rtol=1e-6)
    assert (path.loc[path["level_1"] == "green_disc", "level_2"].isna()).all()
    np.testing.assert_array_equal(clf.predict(X[:50], mode="greedy")[p[:50].max(axis=1) > 0.95],
                                  clf.predict(X[:50])[p[:50].max(axis=1) > 0.95])


def test_empty_nodes_in_batches_cost_nothing_and_break_nothing():
    # only red classes in the data: nodes 'green' and 'blue' never get a sample
    X, y = synthetic(64, seed=4, classes=["red_square", "red_disc", "red_bar"])
    clf = TreeClassifier(TAX, epochs=1, weight_decay=0.0, **SMALL)  # AdamW's decay shrinks every weight
    clf.fit(X[:1], y[:1], verbose=0, epochs=1)  # a batch of one sample: most nodes empty
    s = clf.structure_
    before = [node_weights(clf.model_, k) for k in range(s.n_classifiers)]
    clf.model_.fit(tf.data.Dataset.from_tensor_slices((X, TAX.encode(y).astype("int32"))).batch(16), verbose=0,
                   shuffle=False)
    for k in range(s.n_classifiers):
        changed = any(not np.array_equal(a, b) for a, b in zip(before[k], node_weights(clf.model_, k)))
        assert changed == (s.classifier_nodes[k][-1] in ("root", "red")), s.classifier_nodes[k]
    assert np.isfinite(clf.model_.evaluate(X, TAX.encode(y), verbose=0, return_dict=True)["loss"])


def test_unknown_labels_are_listed_in_one_error():
    X, y = synthetic(10)
    y = y.astype(object)
    y[:3] = ["purple_star", "orange", "purple_star"]
    with pytest.raises(ClassMismatchError, match="2 label.*orange, purple_star"):
        TreeClassifier(TAX, **SMALL).fit(X, y)


def test_level_weights_and_coarse_to_fine_schedule():
    X, y = synthetic(64, seed=6)
    # level 1 (the colour nodes) weighted 0: only the root learns
    clf = TreeClassifier(TAX, epochs=1, level_loss_weights=[1.0, 0.0], weight_decay=0.0, **SMALL)
    clf.fit(X[:2], y[:2], verbose=0)
    n_nodes = clf.structure_.n_classifiers
    before = [node_weights(clf.model_, k) for k in range(n_nodes)]
    clf.model_.fit(X, TAX.encode(y), epochs=1, verbose=0, batch_size=16)
    after = [node_weights(clf.model_, k) for k in range(n_nodes)]
    assert any(not np.array_equal(a, b) for a, b in zip(before[0], after[0]))  # the root
    assert all(np.array_equal(a, b) for k in range(1, n_nodes) for a, b in zip(before[k], after[k]))
    sched = LevelWeightSchedule.coarse_to_fine(2, 3)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.level_weights.numpy().tolist())

    TreeClassifier(TAX, epochs=3, **SMALL).fit(X, y, verbose=0, callbacks=[sched, Spy()])
    assert seen == [pytest.approx(sched.weights_at(e)) for e in range(3)]
    assert seen[0] != seen[-1] and seen[-1] == [1.0, 1.0]
    with pytest.raises(ModelError, match="2 levels"):
        TreeClassifier(TAX, level_loss_weights=[1.0, 1.0, 1.0], **SMALL).fit(X, y)


def test_trunk_callable_block_summary_and_from_confusion(test_set):
    X, y = synthetic(96, seed=8)
    trunk_in = keras.Input((SIZE, SIZE, 3))
    trunk_out = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="shared")(
        keras.layers.Rescaling(1 / 255.0)(trunk_in))
    trunk = keras.Model(trunk_in, trunk_out, name="my_trunk")
    clf = TreeClassifier(TAX, trunk=trunk, node_block=lambda x: keras.layers.Conv2D(4, 3)(x), epochs=1,
                         **{**SMALL, "block_filters": ()}).fit(X, y, verbose=0)
    assert clf.model_.stem is trunk
    assert all(b.input_shape[1:] == (SIZE, SIZE, 8) for b in clf.model_.branches)
    text = clf.summary()
    assert "4 classifier nodes" in text and "root/green" in text and "level 2: 9 nodes, 9 classes" in text
    assert np.allclose(clf.predict_proba(X[:5]).sum(axis=1), 1, atol=1e-5)
    # error-based hierarchy: classes confused with each other end up under one node
    cm = np.eye(4) * 50
    cm[0, 1] = cm[1, 0] = 20
    cm[2, 3] = cm[3, 2] = 20
    fc = TreeClassifier.from_confusion(cm, classes=["a", "b", "c", "d"], beta=0.05, epochs=3)
    assert fc.epochs == 3 and fc.taxonomy.n_classes == 4
    assert fc.taxonomy.lca("a", "b") != fc.taxonomy.root and fc.taxonomy.lca("a", "c") == fc.taxonomy.root
    with pytest.warns(DeprecationWarning, match="labels= is deprecated"):  # the old names still work
        with pytest.warns(DeprecationWarning, match="levels= is deprecated"):
            old = TreeClassifier.from_confusion(cm, labels=["a", "b", "c", "d"], levels="all", epochs=3)
    assert old.taxonomy == TreeClassifier.from_confusion(cm, ["a", "b", "c", "d"], cluster_levels="all").taxonomy
    assert old.epochs == 3 and old.taxonomy.classes == ("a", "b", "c", "d")


def test_bad_parameters():
    X, y = synthetic(8)
    with pytest.raises(ModelError, match="trunk"):
        TreeClassifier(TAX, trunk="vgg99", **SMALL).fit(X, y)
    with pytest.raises(ModelError, match="routing"):
        TreeClassifier(TAX, routing="magic", **SMALL).fit(X, y)
    with pytest.raises(ModelError, match="node_block"):
        TreeClassifier(TAX, node_block="resnet_block", epochs=1, **SMALL).fit(X, y, verbose=0)


def test_sample_and_class_weights_weight_the_node_losses(trained):
    m, s = trained.model_, trained.structure_
    red = s.cls_index[("root", "red")]
    X, y = synthetic(12, seed=9, classes=["red_square", "green_bar"])
    yi = TAX.encode(y)
    base, _, nodes = m.tree_loss(X, yi)
    doubled, _, _ = m.tree_loss(X, yi, sample_weight=np.full(len(y), 2.0, "float32"))
    assert float(doubled) == pytest.approx(float(base), rel=1e-5)  # normalised by the total weight
    no_red = (y != "red_square").astype("float32")
    _, _, nodes0 = m.tree_loss(X, yi, sample_weight=no_red)
    assert float(nodes0[red]) == 0.0 and float(nodes[red]) > 0
    clf = TreeClassifier(TAX, epochs=1, **SMALL).fit(X, y, verbose=0, class_weight="balanced")
    assert np.isfinite(clf.history_["loss"][0])


def test_named_trunk_saves_and_loads_in_a_fresh_process(tmp_path, repo_root):
    import subprocess
    import sys

    X, y = synthetic(64, seed=10)
    clf = TreeClassifier(TAX, trunk="small_cnn", epochs=1, **SMALL).fit(X, y, verbose=0)
    assert clf.model_.stem.name == "small_cnn_backbone"
    path = clf.save(tmp_path / "trunk.taxoclass")
    np.save(tmp_path / "X.npy", X[:8])
    code = ("import sys, numpy as np; from taxoclass.models import load_model; "
            "m = load_model(sys.argv[1]); np.save(sys.argv[2], m.predict_proba(np.load(sys.argv[3])))")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "p.npy"), str(tmp_path / "X.npy")],
                   check=True, cwd=repo_root, capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), clf.predict_proba(X[:8]))
